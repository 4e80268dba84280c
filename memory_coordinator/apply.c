#include "apply.h"

/* Fresh unused memory, balloon size and stats timestamp, straight from
 * the guest. */
static gboolean read_fresh(virDomainPtr dom, guint64 *unused_kib,
                           guint64 *actual_kib, gint64 *last_update)
{
    virDomainMemoryStatStruct stats[VIR_DOMAIN_MEMORY_STAT_NR];
    gboolean have_unused = FALSE;
    int n;
    int i;

    *last_update = 0;
    n = virDomainMemoryStats(dom, stats, VIR_DOMAIN_MEMORY_STAT_NR, 0);
    for (i = 0; i < n; i++) {
        if (stats[i].tag == VIR_DOMAIN_MEMORY_STAT_UNUSED) {
            *unused_kib = stats[i].val;
            have_unused = TRUE;
        } else if (stats[i].tag == VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON) {
            *actual_kib = stats[i].val;
        } else if (stats[i].tag == VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE) {
            *last_update = (gint64)stats[i].val;
        }
    }
    return have_unused;
}

/* Why a shrink must not happen now, or NULL when it may. */
static char *shrink_veto(virDomainPtr dom, const BalloonAction *a,
                         const MemConfig *cfg)
{
    guint64 unused = 0;
    guint64 actual = 0;
    gint64 last = 0;
    gint64 now_s = g_get_real_time() / G_USEC_PER_SEC;
    guint64 cut = a->old_kib - a->new_kib;
    guint64 keep = cfg->min_unused_mib * 1024;
    guint64 pending;

    if (!read_fresh(dom, &unused, &actual, &last))
        return g_strdup("stats unavailable on re-check");
    if (last <= 0 || now_s - last > (gint64)cfg->stale_after_s)
        return g_strdup_printf("stats are %" G_GINT64_FORMAT " s old",
                               last > 0 ? now_s - last : -1);
    /* A balloon still inflating to the last target takes that much of
     * the unused memory too. */
    pending = actual > a->old_kib ? actual - a->old_kib : 0;
    if (unused < cut + keep + pending)
        return g_strdup_printf("unused fell to %" G_GUINT64_FORMAT
                               " MiB, too little for a %" G_GUINT64_FORMAT
                               " MiB shrink (%" G_GUINT64_FORMAT
                               " MiB still on its way)",
                               unused / 1024, cut / 1024, pending / 1024);
    return NULL;
}

/* How often the guest reports its balloon stats.  A guest that refuses
 * (no balloon driver) is not a failed tick: it is never ballooned, and
 * the policy says so once. */
static void set_stats_period(DaemonCtx *ctx, const StatsPeriodAction *a,
                             MemStatsPeriods *periods)
{
    g_autoptr(virDomain) dom = NULL;
    gboolean vanished;

    mem_stats_periods_note_applied(periods, a);
    dom = daemon_lookup_domain(ctx, &a->base, &vanished);
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
    if (a->new_kib < a->old_kib && (veto = shrink_veto(dom, a, cfg))) {
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
