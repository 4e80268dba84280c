#include "apply.h"

#include "apply_util.h"
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
    collect_balloon_from_memory_stats(stats, n, b);
    return TRUE;
}

/* Why a shrink must not happen now, or NULL when it may. */
static char *shrink_veto(virDomainPtr dom, const Action *a, const Config *cfg,
                         const MemPolicyState *policy)
{
    BalloonStats fresh;
    gboolean have = read_fresh(dom, &fresh);
    ShrinkCheck check = {
        .fresh = have ? &fresh : NULL,
        .now_s = g_get_real_time() / G_USEC_PER_SEC,
        .reserve_kib = mem_policy_kernel_reserve_kib(policy, a->uuid),
        .min_unused_kib = mem_mib_to_kib(cfg->min_unused_mib),
        .stale_after_s = cfg->stale_after_s,
    };

    return mem_shrink_verdict(a, &check);
}

guint mem_apply(DaemonCtx *ctx, const Snapshot *snap, const Plan *plan,
                MemPolicyState *policy)
{
    guint failed = 0;
    guint i;

    for (i = 0; i < plan_len(plan); i++) {
        const Action *a = plan_get(plan, i);
        g_autoptr(virDomain) dom = NULL;
        g_autofree char *veto = NULL;
        gboolean vanished;

        if (a->kind != ACTION_SET_MEMORY)
            continue;
        /* Not set unless told otherwise below. */
        mem_policy_note_applied(policy, a, snap->mono_us, FALSE);
        dom = apply_lookup_domain(ctx->conn, a, &vanished);
        if (!dom) {
            if (!vanished) {
                daemon_log_action(ctx, a, FALSE, conn_last_error_message());
                failed++;
            }
            continue;
        }
        if (a->new_kib < a->old_kib &&
            (veto = shrink_veto(dom, a, &ctx->cfg, policy))) {
            g_message("skipped shrinking %s: %s", a->name, veto);
            continue;
        }
        if (virDomainSetMemoryFlags(dom, a->new_kib, VIR_DOMAIN_AFFECT_LIVE) <
            0) {
            if (conn_error_is_vanished_domain(conn_last_error_code()))
                continue;
            daemon_log_action(ctx, a, FALSE, conn_last_error_message());
            failed++;
            continue;
        }
        mem_policy_note_applied(policy, a, snap->mono_us, TRUE);
        daemon_log_action(ctx, a, TRUE, NULL);
    }
    return failed;
}
