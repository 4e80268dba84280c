/* The vCPU balancing policy: a pure function from (snapshot, config,
 * remembered state) to a plan of repins.
 *
 * No I/O, no libvirt calls, no clocks: time comes from the snapshot, and
 * the reasons for a decision go into the plan, not a log. */
#pragma once

#include <glib.h>

#include "actions.h"
#include "assign.h"
#include "snapshot.h"
#include "vcpu_config.h"

/* What the policy remembers between ticks: each vCPU's previous counters,
 * its smoothed demand, when it was last repinned, and the pCPU
 * utilisation measured by the last decision. */
typedef struct VcpuPolicyState VcpuPolicyState;

VcpuPolicyState *vcpu_policy_state_new(void);
void vcpu_policy_state_free(VcpuPolicyState *st);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VcpuPolicyState, vcpu_policy_state_free)

/* Decides on one snapshot.  A vCPU seen for the first time (or whose
 * counters went backwards) is only recorded, since utilisation needs two
 * samples.  Always returns a plan of pins, maybe empty, with its summary
 * and its sd (vcpu_plan_sd) filled; every pCPU above [migration]
 * overload_util is a CPU shortage. */
Plan *vcpu_policy_decide(const Snapshot *snap, const VcpuConfig *cfg,
                         VcpuPolicyState *st) G_GNUC_WARN_UNUSED_RESULT;

/* The sd of pCPU utilisation a plan of vcpu_policy_decide() starts from,
 * and the sd it predicts once applied. */
typedef struct {
    double sd_before;
    double sd_after;
} VcpuPlanSd;

const VcpuPlanSd *vcpu_plan_sd(const Plan *plan);

/* Utilisation in percent of capacity measured by the last decision, per
 * slot (slots.h: the online pCPUs that are not excluded at cpu
 * granularity, in the order of their ids, or their groups); *n is how
 * many.  FALSE while no vCPU has had two samples. */
gboolean vcpu_policy_last_util(const VcpuPolicyState *st, const double **util,
                               guint *n);
/* Slot k of the last decision as a cpuset ("3", "0,32"), NULL past the
 * last. */
/* Whether map is one of the last tick's slots of more than one CPU: a
 * vCPU pinned to it has all it needs in its affinity (see AffinityCache).
 * FALSE before the first tick and at cpu granularity. */
gboolean vcpu_policy_places_by(const VcpuPolicyState *st, const guint8 *map,
                               gsize maplen);
char *vcpu_policy_slot_label(const VcpuPolicyState *st,
                             guint k) G_GNUC_WARN_UNUSED_RESULT;

/* Tells the state a pin action was applied (ok) or failed.  An applied
 * pin starts the vCPU's dwell and restarts its demand estimate; a failed
 * one changes nothing, so the next tick plans it again. */
void vcpu_policy_note_applied(VcpuPolicyState *st, const PinAction *a,
                              gboolean ok);

/* Guests whose definition could not be read into rules since the last
 * call ("name: why"), each told once; the caller logs and frees them. */
GPtrArray *vcpu_policy_take_new_problems(VcpuPolicyState *st);

/* Checks [vcpu] against the host the snapshot shows: every CPU
 * exclude_cpus names exists, some online CPU is left, and on the first
 * snapshot, the topology gives what granularity needs (one lost on a
 * reconnect later falls back to cpu in the policy, told once).  Pure. */
gboolean vcpu_check_host(const Snapshot *snap, const VcpuConfig *cfg,
                         gboolean first, GError **error);

/* Number of vCPUs the state remembers, for tests of forgetting. */
guint vcpu_policy_tracked_vcpus(const VcpuPolicyState *st);
