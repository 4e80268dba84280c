#include "migration_hook.h"

#include "migrate_exec.h"

static void log_migration(gpointer data, const Action *a, gboolean ok,
                          const char *error_text)
{
    daemon_log_action(data, a, ok, error_text);
}

static gpointer hook_start(DaemonCtx *ctx)
{
    return migrator_new(daemon_ctx_prog(ctx), log_migration, ctx);
}

static void hook_before_apply(gpointer hook, DaemonCtx *ctx, gconstpointer cfg,
                              const Snapshot *snap, Plan *plan)
{
    migrator_tick(hook, daemon_ctx_conn(ctx), cfg, snap, plan);
}

static void hook_figures(gpointer hook, Metrics *m)
{
    metrics_add(m, METRIC_COUNTER, "migration_requests_total",
                "Migration requests made (advised, or started in execute "
                "mode).",
                (double)migrator_requests(hook), NULL);
}

static void hook_stop(gpointer hook)
{
    /* Aborts a migration in flight and waits a bounded time for it. */
    migrator_free(hook);
}

const DaemonHookFuncs migration_hook_funcs = {
    .start = hook_start,
    .before_apply = hook_before_apply,
    .figures = hook_figures,
    .stop = hook_stop,
};
