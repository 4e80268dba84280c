#include "ops.h"

#include "apply.h"
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

const DaemonOps memory_coordinator_ops = {
    .cli =
        {
            .prog = "memory_coordinator",
            .summary = "Moves memory between libvirt guests by setting "
                       "their balloon targets.",
            .options = mem_cli_options,
            .config = &mem_config_schema,
        },
    .collect_what = COLLECT_BALLOON | COLLECT_NODE_MEMORY,
    .state_new = state_new,
    .state_free = state_free,
    .decide = decide,
    .apply = apply,
};
