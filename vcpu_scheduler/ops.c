#include "ops.h"

#include "apply.h"
#include "policy.h"

static gpointer state_new(void)
{
    return vcpu_policy_state_new();
}

static void state_free(gpointer st)
{
    vcpu_policy_state_free(st);
}

static Plan *decide(const Snapshot *snap, gconstpointer cfg, gpointer st)
{
    return vcpu_policy_decide(snap, cfg, st);
}

static guint apply(DaemonCtx *ctx, gconstpointer cfg, const Snapshot *snap,
                   const Plan *plan, gpointer st)
{
    return vcpu_apply(ctx, snap, plan, st);
}

static void report(const Snapshot *snap, gpointer st)
{
    const double *util = NULL;
    guint n = 0;
    g_autoptr(GString) line = g_string_new(NULL);
    guint k = 0;
    guint c;

    if (!vcpu_policy_last_util(st, &util, &n))
        return;
    for (c = 0; c < snap->node.npcpus && k < n; c++) {
        if (snapshot_cpu_online(snap, c))
            g_string_append_printf(line, " %u:%.1f%%", c, util[k++]);
    }
    g_debug("pCPU utilisation%s (sd %.2f)", line->str, util_stddev(util, n));
}

const DaemonOps vcpu_scheduler_ops = {
    .cli =
        {
            .prog = "vcpu_scheduler",
            .summary = "Balances pCPU utilisation of libvirt guests by "
                       "repinning their vCPUs.",
            .options = vcpu_cli_options,
            .config = &vcpu_config_schema,
        },
    .collect_what = COLLECT_VCPU | COLLECT_AFFINITY,
    .state_new = state_new,
    .state_free = state_free,
    .decide = decide,
    .apply = apply,
    .report = report,
};
