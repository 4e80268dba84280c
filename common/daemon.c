#include "daemon.h"

#include <errno.h>
#include <glib-unix.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define PACKAGE_VERSION "0.1.0"

static char *action_describe(const Action *a)
{
    switch (a->kind) {
    case ACTION_PIN_VCPU:
        if (a->from_pcpu < 0)
            return g_strdup_printf("pin %s vcpu %u: any -> %u", a->name,
                                   a->vcpu, a->to_pcpu);
        return g_strdup_printf("pin %s vcpu %u: %d -> %u", a->name, a->vcpu,
                               a->from_pcpu, a->to_pcpu);
    case ACTION_SET_MEMORY:
        return g_strdup_printf("balloon %s: %" G_GUINT64_FORMAT
                               " -> %" G_GUINT64_FORMAT " MiB [%s]",
                               a->name, a->old_kib / 1024, a->new_kib / 1024,
                               a->rule ? a->rule : "-");
    case ACTION_MIGRATE:
        return g_strdup_printf("migrate %s -> %s", a->name,
                               a->peer_uri ? a->peer_uri : "?");
    }
    return g_strdup("?");
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
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *text = NULL;
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *stamp = g_date_time_format_iso8601(now);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "time");
    json_builder_add_string_value(b, stamp);
    json_builder_set_member_name(b, "daemon");
    json_builder_add_string_value(b, ctx->ops->log_domain);
    json_builder_set_member_name(b, "domain");
    json_builder_add_string_value(b, a->name);
    json_builder_set_member_name(b, "uuid");
    json_builder_add_string_value(b, a->uuid);
    json_builder_set_member_name(b, "action");
    switch (a->kind) {
    case ACTION_PIN_VCPU:
        json_builder_add_string_value(b, "pin");
        json_builder_set_member_name(b, "vcpu");
        json_builder_add_int_value(b, a->vcpu);
        json_builder_set_member_name(b, "from");
        json_builder_add_int_value(b, a->from_pcpu);
        json_builder_set_member_name(b, "to");
        json_builder_add_int_value(b, a->to_pcpu);
        break;
    case ACTION_SET_MEMORY:
        json_builder_add_string_value(b, "balloon");
        json_builder_set_member_name(b, "old_kib");
        json_builder_add_int_value(b, (gint64)a->old_kib);
        json_builder_set_member_name(b, "new_kib");
        json_builder_add_int_value(b, (gint64)a->new_kib);
        json_builder_set_member_name(b, "rule");
        json_builder_add_string_value(b, a->rule);
        break;
    case ACTION_MIGRATE:
        json_builder_add_string_value(b, "migrate");
        json_builder_set_member_name(b, "peer");
        json_builder_add_string_value(b, a->peer_uri);
        break;
    }
    json_builder_set_member_name(b, "reason");
    json_builder_add_string_value(b, a->reason);
    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, ok);
    if (error_text) {
        json_builder_set_member_name(b, "error");
        json_builder_add_string_value(b, error_text);
    }
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    text = json_generator_to_data(gen, NULL);
    fprintf(ctx->decision_log, "%s\n", text);
    fflush(ctx->decision_log);
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
    if (ctx->ops->observe)
        ctx->ops->observe(ctx, snap, ctx->state);
    plan = ctx->ops->decide(snap, &ctx->cfg, ctx->state);
    if (ctx->ops->report)
        ctx->ops->report(snap, ctx->state);
    g_debug("tick %" G_GUINT64_FORMAT ": %u domains, %u libvirt calls, %s",
            ctx->ticks, snap->domains->len, snap->rpc_calls,
            plan->summary ? plan->summary : "");
    if (!act)
        return TRUE;
    if (ctx->cfg.dry_run) {
        daemon_print_plan(plan);
        return TRUE;
    }
    /* A quit signal during the snapshot: exit before acting on it. */
    if (ctx->guard && quit_guard_requested(ctx->guard))
        return TRUE;
    /* Before apply, so that no action reaches a guest under migration. */
    migrator_tick(ctx->migrator, ctx->conn, &ctx->cfg, snap, plan);
    if (plan_len(plan) == 0)
        return TRUE;
    failed = ctx->ops->apply(ctx, snap, plan, ctx->state);
    if (failed) {
        g_set_error(error, CONN_ERROR, CONN_ERROR_CALL,
                    "%u of %u actions failed", failed, plan_len(plan));
        return FALSE;
    }
    return TRUE;
}

static gboolean run_tick(DaemonCtx *ctx, gboolean act, GError **error)
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

    if (run_tick(ctx, TRUE, &err)) {
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
    if (ctx->timer_id)
        g_source_remove(ctx->timer_id);
    ctx->timer_id =
        g_timeout_add((guint)(ctx->cfg.interval_s * 1000), on_timer, ctx);
}

static gboolean open_decision_log(DaemonCtx *ctx, GError **error)
{
    if (ctx->decision_log) {
        fclose(ctx->decision_log);
        ctx->decision_log = NULL;
    }
    if (!ctx->cfg.decision_log)
        return TRUE;
    ctx->decision_log = fopen(ctx->cfg.decision_log, "a");
    if (!ctx->decision_log) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "cannot open decision log %s: %s", ctx->cfg.decision_log,
                    g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

/* SIGHUP: re-read the config file; a broken one keeps the old settings. */
static gboolean on_reload(gpointer data)
{
    DaemonCtx *ctx = data;
    g_autoptr(GError) err = NULL;
    Config fresh = {0};
    int rc;

    rc = cli_build_config(&ctx->cli, &fresh, &err);
    if (rc != EXIT_OK) {
        g_warning("reload: keeping the previous settings: %s", err->message);
        return G_SOURCE_CONTINUE;
    }
    if (g_strcmp0(fresh.uri, ctx->cfg.uri) != 0) {
        g_autoptr(Conn) old = ctx->conn;
        ctx->conn = conn_new(fresh.uri, fresh.dry_run);
        (void)old;
    }
    config_clear(&ctx->cfg);
    ctx->cfg = fresh;
    ctx->conn->max_backoff_us = (gint64)(ctx->cfg.interval_s * G_USEC_PER_SEC);
    if (!open_decision_log(ctx, &err))
        g_warning("reload: %s", err->message);
    restart_timer(ctx);
    g_message("reloaded settings (interval %.3g s)", ctx->cfg.interval_s);
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
    gulong wait_us = (gulong)(ctx->cfg.interval_s * G_USEC_PER_SEC);

    if (!conn_open_now(ctx->conn, &err)) {
        g_printerr("%s: %s\n", ctx->ops->cli.prog, err->message);
        return EXIT_LIBVIRT;
    }
    ctx->guard = quit_guard_new(NULL, 700, EXIT_RUNTIME);
    /* Utilisation and consumption rates need two samples. */
    if (!run_tick(ctx, FALSE, &err)) {
        g_printerr("%s: %s\n", ctx->ops->cli.prog, err->message);
        return EXIT_RUNTIME;
    }
    g_usleep(wait_us);
    if (!run_tick(ctx, TRUE, &err)) {
        g_printerr("%s: %s\n", ctx->ops->cli.prog, err->message);
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

static int run_daemon(DaemonCtx *ctx)
{
    g_autoptr(GError) err = NULL;

    if (ctx->cfg.dry_run && !conn_open_now(ctx->conn, &err)) {
        g_printerr("%s: %s\n", ctx->ops->cli.prog, err->message);
        return EXIT_LIBVIRT;
    }
    ctx->loop = g_main_loop_new(NULL, FALSE);
    ctx->guard = quit_guard_new(ctx->loop, 700, EXIT_OK);
    g_unix_signal_add(SIGHUP, on_reload, ctx);
    g_message("started: uri %s, interval %.3g s%s", ctx->cfg.uri,
              ctx->cfg.interval_s, ctx->cfg.dry_run ? ", dry run" : "");
    on_timer(ctx);
    restart_timer(ctx);
    g_main_loop_run(ctx->loop);
    g_clear_pointer(&ctx->guard, quit_guard_free);
    g_main_loop_unref(ctx->loop);
    g_message("stopped after %" G_GUINT64_FORMAT " ticks, %" G_GUINT64_FORMAT
              " actions applied, %" G_GUINT64_FORMAT " failed",
              ctx->ticks, ctx->actions_applied, ctx->actions_failed);
    return EXIT_OK;
}

int daemon_main(const DaemonOps *ops, int argc, char **argv)
{
    DaemonCtx ctx = {0};
    g_autoptr(GError) err = NULL;
    int rc;

    ctx.ops = ops;
    /* A write to libvirtd's socket after libvirtd died must fail with
     * EPIPE, not kill the daemon: measured here, SIGKILL of libvirtd took
     * both daemons down with SIGPIPE until this was ignored. */
    signal(SIGPIPE, SIG_IGN);
    g_log_set_writer_func(log_writer, (gpointer)ops->log_domain, NULL);
    if (!cli_parse(&ops->cli, argc, argv, &ctx.cli, &err)) {
        g_printerr("%s: %s\n", ops->cli.prog, err->message);
        g_printerr("Try '%s --help' for more information.\n", ops->cli.prog);
        return EXIT_USAGE;
    }
    if (ctx.cli.version) {
        printf("%s %s\n", ops->cli.prog, PACKAGE_VERSION);
        cli_result_clear(&ctx.cli);
        return EXIT_OK;
    }
    rc = cli_build_config(&ctx.cli, &ctx.cfg, &err);
    if (rc != EXIT_OK) {
        g_printerr("%s: %s\n", ops->cli.prog, err->message);
        cli_result_clear(&ctx.cli);
        return rc;
    }
    if (ctx.cfg.verbose)
        g_log_set_debug_enabled(TRUE);
    if (!open_decision_log(&ctx, &err)) {
        g_printerr("%s: %s\n", ops->cli.prog, err->message);
        rc = EXIT_CONFIG;
        goto cleanup;
    }
    ctx.conn = conn_new(ctx.cfg.uri, ctx.cfg.dry_run);
    ctx.conn->max_backoff_us = (gint64)(ctx.cfg.interval_s * G_USEC_PER_SEC);
    ctx.state = ops->state_new();
    ctx.migrator = migrator_new(ops->log_domain, log_migration, &ctx);

    rc = ctx.cfg.once ? run_once(&ctx) : run_daemon(&ctx);
    if (rc == EXIT_OK && ctx.cfg.once && ctx.actions_failed)
        rc = EXIT_RUNTIME;

cleanup:
    /* First, as it may wait for a migration in flight and log it. */
    migrator_free(ctx.migrator);
    if (ctx.state)
        ops->state_free(ctx.state);
    conn_free(ctx.conn);
    if (ctx.decision_log)
        fclose(ctx.decision_log);
    config_clear(&ctx.cfg);
    cli_result_clear(&ctx.cli);
    return rc;
}
