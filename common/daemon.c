#include "daemon.h"

#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "json_out.h"
#include "migrate_exec.h"
#include "quit_guard.h"

#define PACKAGE_VERSION "0.1.0"

GQuark daemon_error_quark(void)
{
    return g_quark_from_static_string("aos-daemon-error-quark");
}

struct DaemonCtx {
    const DaemonOps *ops;
    gpointer cfg; /* the daemon's config struct; starts with a DaemonConfig */
    CliResult cli;
    Conn *conn;
    gpointer state;
    guint state_generation; /* connection generation the state belongs to */
    GMainLoop *loop;
    QuitGuard *guard; /* SIGINT/SIGTERM, also mid-tick */
    guint timer_id;
    guint64 ticks;
    guint64 actions_applied;
    guint64 actions_failed;
    FILE *decision_log;
    Migrator *migrator;     /* migration requests ([migration]) */
    Complaint tick_trouble; /* non-connection tick failures, rate-limited */
};

static const DaemonConfig *dcfg(const DaemonCtx *ctx)
{
    return ctx->cfg;
}

static const char *prog(const DaemonCtx *ctx)
{
    return ctx->ops->cli.prog;
}

void daemon_print_plan(const Plan *plan)
{
    guint i;

    printf("plan: %s\n", plan->summary ? plan->summary : "(no summary)");
    for (i = 0; i < plan_len(plan); i++) {
        const Action *a = plan_get(plan, i);
        g_autofree char *what = action_describe(a);
        printf("  %s (%s)\n", what, a->reason ? a->reason : "");
    }
    fflush(stdout);
}

static void write_decision_json(DaemonCtx *ctx, const Action *a, gboolean ok,
                                const char *error_text)
{
    g_autoptr(JsonBuilder) b = json_line_begin();

    json_add_str(b, "daemon", prog(ctx));
    json_add_str(b, "domain", a->name);
    json_add_str(b, "uuid", a->uuid);
    json_add_str(b, "action", a->type->name);
    if (a->type->to_json)
        a->type->to_json(a, b);
    json_add_str(b, "reason", a->reason);
    json_add_bool(b, "ok", ok);
    if (error_text)
        json_add_str(b, "error", error_text);
    json_line_write(b, ctx->decision_log);
}

void daemon_log_action(DaemonCtx *ctx, const Action *a, gboolean ok,
                       const char *error_text)
{
    g_autofree char *what = action_describe(a);

    if (ok) {
        ctx->actions_applied++;
        g_message("%s: %s", what, a->reason ? a->reason : "");
    } else {
        ctx->actions_failed++;
        g_warning("%s failed: %s (%s)", what, error_text ? error_text : "?",
                  a->reason ? a->reason : "");
    }
    if (ctx->decision_log)
        write_decision_json(ctx, a, ok, error_text);
}

virDomainPtr daemon_lookup_domain(DaemonCtx *ctx, const Action *a,
                                  gboolean *vanished)
{
    virDomainPtr dom;

    *vanished = FALSE;
    if (!ctx->conn->conn)
        return NULL;
    dom = virDomainLookupByUUIDString(ctx->conn->conn, a->uuid);
    if (!dom && conn_error_is_vanished_domain(conn_last_error_code())) {
        g_debug("%s vanished before its action; dropped", a->name);
        *vanished = TRUE;
    }
    return dom;
}

gconstpointer daemon_ctx_config(const DaemonCtx *ctx)
{
    return ctx->cfg;
}

gpointer daemon_ctx_state(const DaemonCtx *ctx)
{
    return ctx->state;
}

guint64 daemon_ctx_actions_failed(const DaemonCtx *ctx)
{
    return ctx->actions_failed;
}

/* Shared code logs under the "aos" domain; the daemon's own name is what
 * an operator filters the journal by, so every record carries it. */
static GLogWriterOutput log_writer(GLogLevelFlags level,
                                   const GLogField *fields, gsize n_fields,
                                   gpointer user_data)
{
    const char *domain = user_data;
    g_autofree GLogField *copy = g_memdup2(fields, sizeof(*fields) * n_fields);
    gsize i;

    for (i = 0; i < n_fields; i++) {
        if (g_strcmp0(copy[i].key, "GLIB_DOMAIN") == 0) {
            copy[i].value = domain;
            copy[i].length = -1;
        }
    }
    return g_log_writer_default(level, copy, n_fields, NULL);
}

static void reset_state(DaemonCtx *ctx)
{
    if (ctx->state)
        ctx->ops->state_free(ctx->state);
    ctx->state = ctx->ops->state_new();
    ctx->state_generation = ctx->conn->generation;
}

/* One tick: snapshot, decide, and (when act) apply or print.  The very
 * same function runs under the main loop and for --once. */
static gboolean tick_body(DaemonCtx *ctx, gboolean act, GError **error)
{
    g_autoptr(Snapshot) snap = NULL;
    g_autoptr(Plan) plan = NULL;
    guint failed;

    snap = snapshot_collect(ctx->conn, ctx->ops->collect_what, error);
    if (!snap)
        return FALSE;
    /* State learnt before a reconnect describes a libvirtd (and maybe
     * guests) that no longer exist; start over rather than act on it. */
    if (ctx->conn->generation != ctx->state_generation) {
        if (ctx->ticks > 0)
            g_message("connection renewed: discarding earlier samples");
        reset_state(ctx);
    }
    ctx->ticks++;
    plan = ctx->ops->decide(snap, ctx->cfg, ctx->state);
    if (ctx->ops->report)
        ctx->ops->report(snap, ctx->state);
    g_debug("tick %" G_GUINT64_FORMAT ": %u domains, %u libvirt calls, %s",
            ctx->ticks, snap->domains->len, snap->rpc_calls,
            plan->summary ? plan->summary : "");
    if (!act)
        return TRUE;
    if (dcfg(ctx)->dry_run) {
        daemon_print_plan(plan);
        return TRUE;
    }
    /* A quit signal during the snapshot: exit before acting on it. */
    if (ctx->guard && quit_guard_requested(ctx->guard))
        return TRUE;
    /* Before apply, so that no action reaches a guest under migration. */
    migrator_tick(ctx->migrator, ctx->conn, &dcfg(ctx)->migration, snap, plan);
    if (plan_len(plan) == 0)
        return TRUE;
    failed = ctx->ops->apply(ctx, ctx->cfg, snap, plan, ctx->state);
    if (failed) {
        g_set_error(error, DAEMON_ERROR, DAEMON_ERROR_ACTIONS,
                    "%u of %u actions failed", failed, plan_len(plan));
        return FALSE;
    }
    return TRUE;
}

gboolean daemon_tick(DaemonCtx *ctx, gboolean act, GError **error)
{
    gboolean ok;

    if (ctx->guard)
        quit_guard_tick_begin(ctx->guard);
    ok = tick_body(ctx, act, error);
    if (ctx->guard)
        quit_guard_tick_end(ctx->guard);
    return ok;
}

static gboolean on_timer(gpointer data)
{
    DaemonCtx *ctx = data;
    g_autoptr(GError) err = NULL;

    if (daemon_tick(ctx, TRUE, &err)) {
        if (complaint_release(&ctx->tick_trouble))
            g_message("ticks succeed again");
        return G_SOURCE_CONTINUE;
    }
    /* A connection that died is reported once per outage by the Conn;
     * only other failures are reported here, rate-limited. */
    if (conn_check_lost(ctx->conn) || ctx->conn->outage.active)
        return G_SOURCE_CONTINUE;
    if (complaint_should_log(&ctx->tick_trouble, g_get_monotonic_time()))
        g_warning("tick failed: %s", err ? err->message : "?");
    return G_SOURCE_CONTINUE;
}

static void restart_timer(DaemonCtx *ctx)
{
    if (!ctx->loop)
        return;
    if (ctx->timer_id)
        g_source_remove(ctx->timer_id);
    ctx->timer_id =
        g_timeout_add((guint)(dcfg(ctx)->interval_s * 1000), on_timer, ctx);
}

static gboolean open_decision_log(DaemonCtx *ctx, GError **error)
{
    const char *path = dcfg(ctx)->decision_log;

    if (ctx->decision_log) {
        fclose(ctx->decision_log);
        ctx->decision_log = NULL;
    }
    if (!path)
        return TRUE;
    ctx->decision_log = fopen(path, "a");
    if (!ctx->decision_log) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "cannot open decision log %s: %s", path, g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

gboolean daemon_reload(DaemonCtx *ctx)
{
    const ConfigSchema *s = ctx->ops->cli.config;
    g_autoptr(GError) err = NULL;
    g_autofree char *fresh = g_malloc0(s->size);
    const DaemonConfig *now = (const DaemonConfig *)fresh;

    if (cli_build_config(&ctx->ops->cli, &ctx->cli, fresh, &err) != EXIT_OK) {
        g_warning("reload: keeping the previous settings: %s", err->message);
        return FALSE;
    }
    if (g_strcmp0(now->uri, dcfg(ctx)->uri) != 0) {
        g_autoptr(Conn) old = ctx->conn;

        ctx->conn = conn_new(now->uri, now->dry_run);
        /* Generations go on counting from the old connection's, so the
         * first tick on the new one discards what the old one taught:
         * counting from zero again would meet the state's generation. */
        ctx->conn->generation = old->generation;
    }
    config_clear(s, ctx->cfg);
    memcpy(ctx->cfg, fresh, s->size);
    ctx->conn->max_backoff_us = (gint64)(now->interval_s * G_USEC_PER_SEC);
    if (!open_decision_log(ctx, &err))
        g_warning("reload: %s", err->message);
    restart_timer(ctx);
    g_message("reloaded settings (interval %.3g s)", now->interval_s);
    return TRUE;
}

/* SIGHUP */
static gboolean on_reload(gpointer data)
{
    daemon_reload(data);
    return G_SOURCE_CONTINUE;
}

static void log_migration(gpointer data, const Action *a, gboolean ok,
                          const char *error_text)
{
    daemon_log_action(data, a, ok, error_text);
}

static int run_once(DaemonCtx *ctx)
{
    g_autoptr(GError) err = NULL;
    gulong wait_us = (gulong)(dcfg(ctx)->interval_s * G_USEC_PER_SEC);

    if (!conn_open_now(ctx->conn, &err)) {
        g_printerr("%s: %s\n", prog(ctx), err->message);
        return EXIT_LIBVIRT;
    }
    ctx->guard = quit_guard_new(NULL, 700, EXIT_RUNTIME);
    /* Utilisation and consumption rates need two samples. */
    if (!daemon_tick(ctx, FALSE, &err)) {
        g_printerr("%s: %s\n", prog(ctx), err->message);
        return EXIT_RUNTIME;
    }
    g_usleep(wait_us);
    if (!daemon_tick(ctx, TRUE, &err)) {
        g_printerr("%s: %s\n", prog(ctx), err->message);
        return EXIT_RUNTIME;
    }
    return ctx->actions_failed ? EXIT_RUNTIME : EXIT_OK;
}

static int run_daemon(DaemonCtx *ctx)
{
    g_autoptr(GError) err = NULL;

    if (dcfg(ctx)->dry_run && !conn_open_now(ctx->conn, &err)) {
        g_printerr("%s: %s\n", prog(ctx), err->message);
        return EXIT_LIBVIRT;
    }
    ctx->loop = g_main_loop_new(NULL, FALSE);
    ctx->guard = quit_guard_new(ctx->loop, 700, EXIT_OK);
    g_unix_signal_add(SIGHUP, on_reload, ctx);
    g_message("started: uri %s, interval %.3g s%s", dcfg(ctx)->uri,
              dcfg(ctx)->interval_s, dcfg(ctx)->dry_run ? ", dry run" : "");
    on_timer(ctx);
    restart_timer(ctx);
    g_main_loop_run(ctx->loop);
    g_clear_pointer(&ctx->guard, quit_guard_free);
    g_clear_pointer(&ctx->loop, g_main_loop_unref);
    g_message("stopped after %" G_GUINT64_FORMAT " ticks, %" G_GUINT64_FORMAT
              " actions applied, %" G_GUINT64_FORMAT " failed",
              ctx->ticks, ctx->actions_applied, ctx->actions_failed);
    return EXIT_OK;
}

DaemonCtx *daemon_ctx_new(const DaemonOps *ops, int argc, char **argv,
                          int *exit_code, GError **error)
{
    const ConfigSchema *s = ops->cli.config;
    g_autoptr(DaemonCtx) ctx = g_new0(DaemonCtx, 1);

    ctx->ops = ops;
    ctx->cfg = g_malloc0(s->size);
    if (!cli_parse(&ops->cli, argc, argv, &ctx->cli, error)) {
        *exit_code = EXIT_USAGE;
        return NULL;
    }
    if (ctx->cli.version) {
        printf("%s %s\n", ops->cli.prog, PACKAGE_VERSION);
        *exit_code = EXIT_OK;
        return NULL;
    }
    *exit_code = cli_build_config(&ops->cli, &ctx->cli, ctx->cfg, error);
    if (*exit_code != EXIT_OK)
        return NULL;
    if (!open_decision_log(ctx, error)) {
        *exit_code = EXIT_CONFIG;
        return NULL;
    }
    ctx->conn = conn_new(dcfg(ctx)->uri, dcfg(ctx)->dry_run);
    ctx->conn->max_backoff_us =
        (gint64)(dcfg(ctx)->interval_s * G_USEC_PER_SEC);
    ctx->state = ops->state_new();
    ctx->migrator = migrator_new(ops->cli.prog, log_migration, ctx);
    *exit_code = EXIT_OK;
    return g_steal_pointer(&ctx);
}

void daemon_ctx_free(DaemonCtx *ctx)
{
    if (!ctx)
        return;
    /* First, as it may wait for a migration in flight and log it. */
    migrator_free(ctx->migrator);
    if (ctx->state)
        ctx->ops->state_free(ctx->state);
    conn_free(ctx->conn);
    if (ctx->decision_log)
        fclose(ctx->decision_log);
    config_clear(ctx->ops->cli.config, ctx->cfg);
    g_free(ctx->cfg);
    cli_result_clear(&ctx->cli);
    g_free(ctx);
}

int daemon_main(const DaemonOps *ops, int argc, char **argv)
{
    g_autoptr(DaemonCtx) ctx = NULL;
    g_autoptr(GError) err = NULL;
    int rc = EXIT_OK;

    /* A write to libvirtd's socket after libvirtd died must fail with
     * EPIPE, not kill the daemon: measured here, SIGKILL of libvirtd took
     * both daemons down with SIGPIPE until this was ignored. */
    signal(SIGPIPE, SIG_IGN);
    g_log_set_writer_func(log_writer, (gpointer)ops->cli.prog, NULL);
    ctx = daemon_ctx_new(ops, argc, argv, &rc, &err);
    if (!ctx) {
        if (err) {
            g_printerr("%s: %s\n", ops->cli.prog, err->message);
            if (rc == EXIT_USAGE && err->domain == CLI_ERROR)
                g_printerr("Try '%s --help' for more information.\n",
                           ops->cli.prog);
        }
        return rc;
    }
    if (dcfg(ctx)->verbose)
        g_log_set_debug_enabled(TRUE);
    return dcfg(ctx)->once ? run_once(ctx) : run_daemon(ctx);
}
