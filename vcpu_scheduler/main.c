/* vcpu_scheduler: keeps pCPU utilisation balanced by repinning vCPUs. */
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

static Plan *decide(const Snapshot *snap, const Config *cfg, gpointer st)
{
    return vcpu_policy_decide(snap, cfg, st);
}

static guint apply(DaemonCtx *ctx, const Snapshot *snap, const Plan *plan,
                   gpointer st)
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

int main(int argc, char **argv)
{
    static const DaemonOps ops = {
        .log_domain = "vcpu_scheduler",
        .cli = {.prog = "vcpu_scheduler",
                .summary = "Balances pCPU utilisation of libvirt guests by "
                           "repinning their vCPUs.",
                .vcpu = TRUE},
        .collect_what = COLLECT_VCPU | COLLECT_AFFINITY,
        .state_new = state_new,
        .state_free = state_free,
        .decide = decide,
        .apply = apply,
        .report = report,
    };

    return daemon_main(&ops, argc, argv);
}
