/* The vCPU balancing policy: a pure function from (snapshot, config,
 * remembered state) to a plan of repins.
 *
 * No I/O, no libvirt calls, no clocks: time comes from the snapshot, and
 * the reasons for a decision go into the plan, not a log. */
#pragma once

#include <glib.h>

#include "assign.h"
#include "config.h"
#include "plan.h"
#include "snapshot.h"

/* What the policy remembers between ticks: each vCPU's previous counters,
 * its smoothed demand, when it was last repinned, and the pCPU
 * utilisation measured by the last decision. */
typedef struct VcpuPolicyState VcpuPolicyState;

VcpuPolicyState *vcpu_policy_state_new(void);
void vcpu_policy_state_free(VcpuPolicyState *st);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VcpuPolicyState, vcpu_policy_state_free)

/* Decides on one snapshot.  A vCPU seen for the first time (or whose
 * counters went backwards) is only recorded, since utilisation needs two
 * samples.  Always returns a plan, maybe empty, with sd_before, sd_after
 * and summary filled. */
Plan *vcpu_policy_decide(const Snapshot *snap, const Config *cfg,
                         VcpuPolicyState *st) G_GNUC_WARN_UNUSED_RESULT;

/* Per-pCPU utilisation in percent measured by the last decision, of the
 * snapshot's online pCPUs in the order of their ids; *n is how many are
 * online.  FALSE while no vCPU has had two samples. */
gboolean vcpu_policy_last_util(const VcpuPolicyState *st, const double **util,
                               guint *n);

/* Tells the state a pin action was applied (ok) or failed.  An applied
 * pin starts the vCPU's dwell and restarts its demand estimate; a failed
 * one changes nothing, so the next tick plans it again. */
void vcpu_policy_note_applied(VcpuPolicyState *st, const Action *a,
                              gboolean ok);

/* Number of vCPUs the state remembers, for tests of forgetting. */
guint vcpu_policy_tracked_vcpus(const VcpuPolicyState *st);
