#include "apply.h"

static gboolean pin_one(virDomainPtr dom, const PinAction *a, gsize maplen,
                        char **error_text)
{
    g_autofree unsigned char *map = g_malloc0(maplen);

    if (a->to_cpus) {
        guint i;

        for (i = 0; i < a->to_cpus->len; i++)
            cpumap_set(map, maplen, g_array_index(a->to_cpus, guint, i));
    } else {
        cpumap_set(map, maplen, a->to_pcpu);
    }
    /* The running guest only, as VIR_DOMAIN_AFFECT_LIVE would: QEMU's
     * driver pins live with this call too, and a guest that stopped since
     * the snapshot refuses it instead of having its config changed. */
    if (virDomainPinVcpu(dom, a->vcpu, map, (int)maplen) < 0) {
        *error_text = g_strdup(conn_last_error_message());
        return FALSE;
    }
    return TRUE;
}

guint vcpu_apply(DaemonCtx *ctx, const Snapshot *snap, const Plan *plan,
                 VcpuPolicyState *st)
{
    gsize maplen = snapshot_maplen(snap);
    guint failed = 0;
    guint i;

    g_message("rebalancing: %s", plan->summary ? plan->summary : "");
    for (i = 0; i < plan_len(plan); i++) {
        const PinAction *a = pin_action_of(plan_get(plan, i));
        g_autoptr(virDomain) dom = NULL;
        g_autofree char *error_text = NULL;
        gboolean vanished;
        gboolean ok;

        if (!a)
            continue;
        dom = daemon_lookup_domain(ctx, &a->base, &vanished);
        if (!dom) {
            if (!vanished) {
                daemon_log_action(ctx, &a->base, FALSE,
                                  conn_last_error_message());
                failed++;
            }
            vcpu_policy_note_applied(st, a, FALSE);
            continue;
        }
        if (daemon_guest_in_job(&a->base, dom)) {
            vcpu_policy_note_applied(st, a, FALSE);
            continue;
        }
        ok = pin_one(dom, a, maplen, &error_text);
        /* Failed too: a call whose reply was lost may still have pinned. */
        daemon_forget_affinity(ctx, &a->base);
        if (!ok && conn_error_is_vanished_domain(conn_last_error_code())) {
            vcpu_policy_note_applied(st, a, FALSE);
            continue;
        }
        /* A failed pin is retried by the next tick's plan, which sees the
         * vCPU still where it was. */
        vcpu_policy_note_applied(st, a, ok);
        daemon_log_action(ctx, &a->base, ok, error_text);
        if (!ok)
            failed++;
    }
    return failed;
}
