/* Balloon policies of the memory coordinator: pure functions from one
 * tick's snapshot, the config and the remembered per-guest history to a
 * plan of balloon targets.  No I/O, no libvirt calls, no clocks: time
 * comes from the snapshot.
 *
 * cfg->mem_policy picks the policy:
 *   course    keeps every guest between its need and need + slack; the
 *             need grows with the guest's measured consumption rate;
 *   idle-tax  the same growth, but idle memory is taxed back to the need
 *             and, under pressure, reclaimed first from the guest with
 *             the lowest shares-per-page ratio (Waldspurger, OSDI 2002).
 * Both send every target through the one clamp in bounds.h. */
#pragma once

#include <glib.h>

#include "actions.h"
#include "mem_config.h"
#include "snapshot.h"

typedef struct MemPolicyState MemPolicyState;

MemPolicyState *mem_policy_state_new(void);
void mem_policy_state_free(MemPolicyState *st);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MemPolicyState, mem_policy_state_free)

/* One tick: updates st from snap and returns the plan (never NULL).
 * Actions are balloon actions only, at most one per guest, shrinks
 * before growths so apply frees memory before handing it out. */
Plan *mem_policy_decide(const Snapshot *snap, const MemConfig *cfg,
                        MemPolicyState *st) G_GNUC_WARN_UNUSED_RESULT;

/* Apply's report on one action of the last plan: ok when the target was
 * set (at the plan's snapshot time mono_us).  Until the balloon gets
 * there, later ticks count from that target, not from the balloon's size
 * libvirt shows; a target that was not set is forgotten. */
void mem_policy_note_applied(MemPolicyState *st, const BalloonAction *a,
                             gint64 mono_us, gboolean ok);

/* Running guests without balloon stats are never ballooned.  Each is
 * reported here once (again only after it had stats in between), so the
 * caller can log it once.  Returns FALSE when none is left; *name_out is
 * the caller's to g_free. */
gboolean mem_policy_take_new_unballooned(MemPolicyState *st, char **name_out);

/* Running guests whose balloon stats lack usable or disk_caches (older
 * guest kernels, other systems): all they hold but their free memory counts
 * as used, since nothing tells their cache from their programs' memory.
 * Reported once each, as above. */
gboolean mem_policy_take_new_cache_blind(MemPolicyState *st, char **name_out);

/* The guest kernel's reserves as learnt from its reports (guest_report.h),
 * for re-checking a shrink against fresh stats; 0 for a guest not known. */
guint64 mem_policy_kernel_reserve_kib(const MemPolicyState *st,
                                      const char *uuid);

/* What the policy holds about one guest, for metrics and status: its
 * smoothed consumption rate (KiB/s, >= 0) and the balloon target last set
 * while the balloon is still on its way there (have_target FALSE once it
 * arrived or was never set: the balloon's size is then its target).
 * FALSE for a guest the state does not know. */
typedef struct {
    double rate_kib_s;
    gboolean have_target;
    guint64 target_kib;
} MemGuestFigures;

gboolean mem_policy_guest_figures(const MemPolicyState *st, const char *uuid,
                                  MemGuestFigures *out);
