/* memory_coordinator: moves memory between libvirt guests by ballooning. */
#include "apply.h"
#include "policy.h"

#include <math.h>

typedef struct {
    MemPolicyState *policy;
    GHashTable *seen; /* UUIDs whose stats period we have set */
} MemDaemonState;

static gpointer state_new(void)
{
    MemDaemonState *st = g_new0(MemDaemonState, 1);

    st->policy = mem_policy_state_new();
    st->seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    return st;
}

static void state_free(gpointer data)
{
    MemDaemonState *st = data;

    mem_policy_state_free(st->policy);
    g_hash_table_unref(st->seen);
    g_free(st);
}

/* Balloon stats are only as fresh as the guest's stats period; make it
 * no longer than our interval for every guest we meet. */
static void ensure_stats_period(DaemonCtx *ctx, const DomainSample *d)
{
    g_autoptr(virDomain) dom = NULL;
    int period = (int)MAX(1.0, floor(ctx->cfg.interval_s));

    if (ctx->cfg.dry_run || !ctx->conn->conn)
        return;
    dom = virDomainLookupByUUIDString(ctx->conn->conn, d->uuid);
    if (!dom)
        return;
    if (virDomainSetMemoryStatsPeriod(dom, period, VIR_DOMAIN_AFFECT_LIVE) < 0)
        g_debug("cannot set stats period of %s: %s", d->name,
                conn_last_error_message());
    else
        g_debug("stats period of %s set to %d s", d->name, period);
}

static void observe(DaemonCtx *ctx, const Snapshot *snap, gpointer data)
{
    MemDaemonState *st = data;
    GHashTable *now =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    guint i;

    /* Only guests in this snapshot are remembered: one that stopped and
     * came back is a new QEMU process whose stats period must be set
     * again. */
    for (i = 0; i < snap->domains->len; i++) {
        const DomainSample *d = g_ptr_array_index(snap->domains, i);
        if (!g_hash_table_contains(st->seen, d->uuid))
            ensure_stats_period(ctx, d);
        g_hash_table_add(now, g_strdup(d->uuid));
    }
    g_hash_table_unref(st->seen);
    st->seen = now;
}

static Plan *decide(const Snapshot *snap, const Config *cfg, gpointer data)
{
    MemDaemonState *st = data;
    Plan *plan = mem_policy_decide(snap, cfg, st->policy);
    g_autofree char *name = NULL;

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

static guint apply(DaemonCtx *ctx, const Snapshot *snap, const Plan *plan,
                   gpointer data)
{
    MemDaemonState *st = data;

    return mem_apply(ctx, snap, plan, st->policy);
}

int main(int argc, char **argv)
{
    static const DaemonOps ops = {
        .log_domain = "memory_coordinator",
        .cli = {.prog = "memory_coordinator",
                .summary = "Moves memory between libvirt guests by setting "
                           "their balloon targets.",
                .memory = TRUE},
        .collect_what = COLLECT_BALLOON | COLLECT_NODE_MEMORY,
        .state_new = state_new,
        .state_free = state_free,
        .observe = observe,
        .decide = decide,
        .apply = apply,
    };

    return daemon_main(&ops, argc, argv);
}
