#include "apply.h"

#include "bounds.h"
#include "shrink_check.h"

/* The guest's balloon stats as of now, or FALSE when they cannot be read. */
static gboolean read_fresh(virDomainPtr dom, BalloonStats *b)
{
    virDomainMemoryStatStruct stats[VIR_DOMAIN_MEMORY_STAT_NR];
    int n;

    *b = (BalloonStats){0};
    n = virDomainMemoryStats(dom, stats, VIR_DOMAIN_MEMORY_STAT_NR, 0);
    if (n < 0)
        return FALSE;
    balloon_stats_from_memory_stats(b, stats, n);
    return TRUE;
}

/* Why a shrink must not happen now, or NULL when it may. */
static char *shrink_veto(virDomainPtr dom, const BalloonAction *a,
                         const MemConfig *cfg, const MemPolicyState *policy)
{
    BalloonStats fresh;
    gboolean have = read_fresh(dom, &fresh);
    ShrinkCheck check = {
        .fresh = have ? &fresh : NULL,
        .now_s = g_get_real_time() / G_USEC_PER_SEC,
        .reserve_kib = mem_policy_kernel_reserve_kib(policy, a->base.uuid),
        .min_unused_kib = mem_mib_to_kib(cfg->min_unused_mib),
        .stale_after_s = cfg->stale_after_s,
    };

    return mem_shrink_verdict(a, &check);
}

/* How often the guest reports its balloon stats.  A guest that refuses
 * (no balloon driver) is not a failed tick: it is never ballooned, and
 * the policy says so once. */
static void set_stats_period(DaemonCtx *ctx, const StatsPeriodAction *a,
                             MemStatsPeriods *periods)
{
    g_autoptr(virDomain) dom = NULL;
    gboolean vanished;

    dom = daemon_lookup_domain(ctx, &a->base, &vanished);
    /* Planned again next tick: tried only once its job has ended. */
    if (dom && daemon_guest_in_job(&a->base, dom))
        return;
    mem_stats_periods_note_applied(periods, a);
    if (!dom)
        return;
    if (virDomainSetMemoryStatsPeriod(dom, a->period_s,
                                      VIR_DOMAIN_AFFECT_LIVE) < 0)
        g_debug("cannot set stats period of %s: %s", a->base.name,
                conn_last_error_message());
    else
        daemon_log_action(ctx, &a->base, TRUE, NULL);
}

static gboolean set_balloon(DaemonCtx *ctx, const MemConfig *cfg,
                            const Snapshot *snap, const BalloonAction *a,
                            MemPolicyState *policy)
{
    g_autoptr(virDomain) dom = NULL;
    g_autofree char *veto = NULL;
    gboolean vanished;

    /* Not set unless told otherwise below. */
    mem_policy_note_applied(policy, a, snap->mono_us, FALSE);
    dom = daemon_lookup_domain(ctx, &a->base, &vanished);
    if (!dom) {
        if (vanished)
            return TRUE;
        daemon_log_action(ctx, &a->base, FALSE, conn_last_error_message());
        return FALSE;
    }
    if (daemon_guest_in_job(&a->base, dom))
        return TRUE;
    if (a->new_kib < a->old_kib && (veto = shrink_veto(dom, a, cfg, policy))) {
        g_message("skipped shrinking %s: %s", a->base.name, veto);
        return TRUE;
    }
    if (virDomainSetMemoryFlags(dom, a->new_kib, VIR_DOMAIN_AFFECT_LIVE) < 0) {
        if (conn_error_is_vanished_domain(conn_last_error_code()))
            return TRUE;
        daemon_log_action(ctx, &a->base, FALSE, conn_last_error_message());
        return FALSE;
    }
    mem_policy_note_applied(policy, a, snap->mono_us, TRUE);
    daemon_log_action(ctx, &a->base, TRUE, NULL);
    return TRUE;
}

guint mem_apply(DaemonCtx *ctx, const MemConfig *cfg, const Snapshot *snap,
                const Plan *plan, MemPolicyState *policy,
                MemStatsPeriods *periods)
{
    guint failed = 0;
    guint i;

    for (i = 0; i < plan_len(plan); i++) {
        const Action *a = plan_get(plan, i);

        if (stats_period_action_of(a))
            set_stats_period(ctx, stats_period_action_of(a), periods);
        else if (balloon_action_of(a) &&
                 !set_balloon(ctx, cfg, snap, balloon_action_of(a), policy))
            failed++;
    }
    return failed;
}
