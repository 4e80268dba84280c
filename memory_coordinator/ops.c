#include "ops.h"

#include "apply.h"
#include "migration_hook.h"
#include "policy.h"
#include "stats_period.h"

typedef struct {
    MemPolicyState *policy;
    MemStatsPeriods *periods;
} MemDaemonState;

static gpointer state_new(void)
{
    MemDaemonState *st = g_new0(MemDaemonState, 1);

    st->policy = mem_policy_state_new();
    st->periods = mem_stats_periods_new();
    return st;
}

static void state_free(gpointer data)
{
    MemDaemonState *st = data;

    mem_policy_state_free(st->policy);
    mem_stats_periods_free(st->periods);
    g_free(st);
}

/* The policy's plan, and the stats periods of guests met for the first
 * time: their stats only become fresh once that is set. */
static Plan *decide(const Snapshot *snap, gconstpointer cfg, gpointer data)
{
    MemDaemonState *st = data;
    Plan *plan = mem_policy_decide(snap, cfg, st->policy);
    g_autofree char *name = NULL;

    mem_stats_periods_plan(st->periods, snap, cfg, plan);
    while (mem_policy_take_new_unballooned(st->policy, &name)) {
        g_message("%s reports no balloon stats; it will not be ballooned",
                  name);
        g_clear_pointer(&name, g_free);
    }
    while (mem_policy_take_new_cache_blind(st->policy, &name)) {
        g_message("%s reports no usable memory or disk caches; its page "
                  "cache counts as used memory",
                  name);
        g_clear_pointer(&name, g_free);
    }
    return plan;
}

static guint apply(DaemonCtx *ctx, gconstpointer cfg, const Snapshot *snap,
                   const Plan *plan, gpointer data)
{
    MemDaemonState *st = data;

    return mem_apply(ctx, cfg, snap, plan, st->policy, st->periods);
}

MemPolicyState *mem_daemon_policy_state(gpointer daemon_state)
{
    MemDaemonState *st = daemon_state;

    return st->policy;
}

/* One guest's gauges, in bytes as Prometheus names sizes.  The target is
 * the one last set while the balloon is still on its way, else the size
 * libvirt shows, at which a balloon at rest stands. */
static void guest_metrics(Metrics *m, const DomainSample *d,
                          const MemPolicyState *policy)
{
    MemGuestFigures f;
    gboolean known = mem_policy_guest_figures(policy, d->uuid, &f);
    guint64 target = f.have_target ? f.target_kib : d->cur_kib;

    metrics_add(m, METRIC_GAUGE, "balloon_target_bytes",
                "Balloon target of the guest after the tick: the target last "
                "set while the balloon is on its way, else its size.",
                (double)target * 1024, "domain", d->name, "uuid", d->uuid,
                NULL);
    metrics_add(m, METRIC_GAUGE, "memory_max_bytes",
                "Maximum memory of the guest, the most its balloon can give.",
                (double)d->max_kib * 1024, "domain", d->name, "uuid", d->uuid,
                NULL);
    if (d->has_balloon_stats && (d->balloon.present & BALLOON_HAS_ACTUAL))
        metrics_add(m, METRIC_GAUGE, "balloon_actual_bytes",
                    "Balloon size of the guest in the tick's snapshot.",
                    (double)d->balloon.actual_kib * 1024, "domain", d->name,
                    "uuid", d->uuid, NULL);
    if (d->has_balloon_stats && (d->balloon.present & BALLOON_HAS_UNUSED))
        metrics_add(m, METRIC_GAUGE, "unused_bytes",
                    "Memory the guest reported unused in the tick's snapshot.",
                    (double)d->balloon.unused_kib * 1024, "domain", d->name,
                    "uuid", d->uuid, NULL);
    if (known)
        metrics_add(m, METRIC_GAUGE, "consumption_rate_bytes_per_second",
                    "Smoothed growth of the memory the guest uses, as the "
                    "policy measures it from the guest's reports.",
                    f.rate_kib_s * 1024, "domain", d->name, "uuid", d->uuid,
                    NULL);
}

static void figures(const Snapshot *snap, const Plan *plan, gconstpointer cfg,
                    gpointer data, Metrics *m, GString *status)
{
    const MemConfig *c = cfg;
    MemDaemonState *st = data;
    guint64 held = 0;
    guint i;

    for (i = 0; i < snap->domains->len; i++) {
        const DomainSample *d = g_ptr_array_index(snap->domains, i);

        if (!domain_sample_live(d))
            continue;
        held += d->cur_kib;
        if (m)
            guest_metrics(m, d, st->policy);
    }
    g_string_append_printf(status,
                           "guests hold %.0f MiB, host free %.0f MiB "
                           "(reserve %" G_GUINT64_FORMAT " MiB)",
                           kib_to_mib(held), kib_to_mib(snap->node.free_kib),
                           c->host_reserve_mib);
    if (m)
        metrics_add(m, METRIC_GAUGE, "host_free_bytes",
                    "Free memory of the whole host in the tick's snapshot.",
                    (double)snap->node.free_kib * 1024, NULL);
}

const DaemonOps memory_coordinator_ops = {
    .cli =
        {
            .prog = "memory_coordinator",
            .summary = "Moves memory between libvirt guests by setting "
                       "their balloon targets.",
            .options = mem_cli_options,
            .more_options = migration_cli_options,
            .config = &mem_config_schema,
        },
    .hook = MIGRATION_HOOK(MemConfig, migration),
    .collect_what = COLLECT_BALLOON | COLLECT_NODE_MEMORY,
    .state_new = state_new,
    .state_free = state_free,
    .decide = decide,
    .apply = apply,
    .figures = figures,
};
