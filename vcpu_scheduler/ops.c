#include "ops.h"

#include "apply.h"
#include "migration_hook.h"
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

static gboolean check_host(const Snapshot *snap, gconstpointer cfg,
                           gboolean first, GError **error)
{
    return vcpu_check_host(snap, cfg, first, error);
}

static gboolean places_by(gconstpointer st, const guint8 *map, gsize maplen)
{
    return vcpu_policy_places_by(st, map, maplen);
}

static void report(const Snapshot *snap, gpointer st)
{
    const double *util = NULL;
    guint n = 0;
    g_autoptr(GString) line = g_string_new(NULL);
    g_autoptr(GPtrArray) problems = vcpu_policy_take_new_problems(st);
    guint k = 0;
    guint c;

    for (c = 0; c < problems->len; c++)
        g_message("%s", (const char *)g_ptr_array_index(problems, c));
    if (snap->topology_read && snap->topology) {
        g_autofree char *topo = topology_describe(snap->topology);

        g_message("host topology: %s", topo);
    } else if (snap->topology_read) {
        /* Nothing decided yet depends on it: the balance is per pCPU. */
        g_message("host topology unknown: %s", snap->topology_problem);
    }
    if (!vcpu_policy_last_util(st, &util, &n))
        return;
    for (k = 0; k < n; k++) {
        g_autofree char *label = vcpu_policy_slot_label(st, k);

        g_string_append_printf(line, " %s:%.1f%%", label, util[k]);
    }
    g_debug("pCPU utilisation%s (sd %.2f)", line->str, util_stddev(util, n));
}

/* Utilisation as a ratio, as Prometheus names it; the sd likewise in
 * ratio units, a hundredth of the percentage points the log shows. */
static void figures(const Snapshot *snap, const Plan *plan, gconstpointer cfg,
                    gpointer st, Metrics *m, GString *status)
{
    const VcpuConfig *c = cfg;
    const double *util = NULL;
    guint n = 0;
    guint k;
    double sd;

    if (!vcpu_policy_last_util(st, &util, &n)) {
        g_string_append(status, "measuring (utilisation needs two samples)");
        return;
    }
    sd = util_stddev(util, n);
    g_string_append_printf(status, "pCPU sd %.1f, %s (threshold %g)", sd,
                           sd <= c->sd_threshold ? "balanced" : "unbalanced",
                           c->sd_threshold);
    if (!m)
        return;
    for (k = 0; k < n; k++) {
        g_autofree char *id = vcpu_policy_slot_label(st, k);

        /* "pcpu" is one CPU, or the group vCPUs are pinned to ("0,32"). */
        metrics_add(m, METRIC_GAUGE, "pcpu_utilisation_ratio",
                    "Share of its capacity the pCPU (or group of CPUs) "
                    "spent running guests' vCPUs, per place a vCPU is "
                    "pinned to.",
                    util[k] / 100.0, "pcpu", id, NULL);
    }
    metrics_add(m, METRIC_GAUGE, "pcpu_utilisation_stddev_ratio",
                "Population standard deviation of the online pCPUs' "
                "utilisation ratios.",
                sd / 100.0, NULL);
    metrics_add(m, METRIC_GAUGE, "sd_threshold_ratio",
                "The pCPUs count as balanced at or below this standard "
                "deviation ([vcpu] sd_threshold, as a ratio).",
                c->sd_threshold / 100.0, NULL);
}

const DaemonOps vcpu_scheduler_ops = {
    .cli =
        {
            .prog = "vcpu_scheduler",
            .summary = "Balances pCPU utilisation of libvirt guests by "
                       "repinning their vCPUs.",
            .options = vcpu_cli_options,
            .more_options = migration_cli_options,
            .config = &vcpu_config_schema,
        },
    .hook = MIGRATION_HOOK(VcpuConfig, migration),
    .collect_what =
        COLLECT_VCPU | COLLECT_AFFINITY | COLLECT_DEFINITION | COLLECT_TOPOLOGY,
    .check_host = check_host,
    .places_by = places_by,
    .state_new = state_new,
    .state_free = state_free,
    .decide = decide,
    .apply = apply,
    .report = report,
    .figures = figures,
};
