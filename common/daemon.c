#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "daemon_loop.h"
#include "domain_job.h"
#include "event_loop.h"
#include "json_out.h"
#include "notify.h"
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
    GSource *timer;   /* on loop's context */
    guint64 ticks;
    guint64 actions_applied;
    guint64 actions_failed;
    FILE *decision_log;
    int exit_code;          /* of daemon mode; EXIT_OK unless it had to stop */
    gpointer hook;          /* ops->hook's, or NULL */
    Complaint tick_trouble; /* non-connection tick failures, rate-limited */
    Complaint lateness;     /* ticks more than half an interval late */
    guint64 ticks_late;
    gint64 last_start_us; /* of the last tick; 0 after a timer restart */
    Notifier notifier;
    gboolean ready;         /* READY=1 sent: a tick took a snapshot */
    char *status;           /* the last STATUS= line made */
    char *status_sent;      /* and the last one sent */
    char *last_action;      /* "HH:MM:SS <what>", for STATUS= */
    gboolean metrics_stuck; /* the metrics file could not be written */
};

static const DaemonConfig *dcfg(const DaemonCtx *ctx)
{
    return ctx->cfg;
}

static const char *prog(const DaemonCtx *ctx)
{
    return ctx->ops->cli.prog;
}

static gconstpointer hook_cfg(const DaemonCtx *ctx)
{
    return (const char *)ctx->cfg + ctx->ops->hook.cfg_offset;
}

Conn *daemon_ctx_conn(const DaemonCtx *ctx)
{
    return ctx->conn;
}

const char *daemon_ctx_prog(const DaemonCtx *ctx)
{
    return prog(ctx);
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

/* The last action for STATUS=, stamped with the local time so that the
 * line only changes when something happens. */
static void remember_action(DaemonCtx *ctx, const char *what, gboolean ok)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_local();
    g_autofree char *hms = g_date_time_format(now, "%H:%M:%S");

    g_free(ctx->last_action);
    ctx->last_action =
        g_strdup_printf("%s %s%s", hms, what, ok ? "" : " (failed)");
}

void daemon_log_action(DaemonCtx *ctx, const Action *a, gboolean ok,
                       const char *error_text)
{
    g_autofree char *what = action_describe(a);

    remember_action(ctx, what, ok);
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

gboolean daemon_guest_in_job(const Action *a, virDomainPtr dom)
{
    DomainJob job;
    g_autofree char *since = NULL;

    /* Unreadable: the action goes ahead and says what failed itself. */
    if (!domain_job_read(dom, &job) || !job.running)
        return FALSE;
    if (job.elapsed_ms)
        since = g_strdup_printf(" for %.0f s", job.elapsed_ms / 1000.0);
    g_message("left %s alone this tick: libvirt runs a job on it (%s%s)",
              a->name, domain_job_operation_name(job.operation),
              since ? since : "");
    return TRUE;
}

void daemon_forget_affinity(DaemonCtx *ctx, const Action *a)
{
    conn_forget_affinity(ctx->conn, a->uuid, "pinned by this daemon");
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

void daemon_ctx_counters(const DaemonCtx *ctx, DaemonCounters *out)
{
    *out = (DaemonCounters){
        .ticks = ctx->ticks,
        .ticks_late = ctx->ticks_late,
        .actions_applied = ctx->actions_applied,
        .actions_failed = ctx->actions_failed,
        .reconnects = ctx->conn->generation ? ctx->conn->generation - 1 : 0,
    };
}

const char *daemon_ctx_status(const DaemonCtx *ctx)
{
    return ctx->status;
}

gboolean daemon_tick_is_late(gint64 prev_us, gint64 start_us, double interval_s)
{
    if (prev_us <= 0 || start_us <= prev_us)
        return FALSE;
    return (double)(start_us - prev_us) > 1.5 * interval_s * G_USEC_PER_SEC;
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

/* A new policy state: the groups the collector asks it about are its. */
static void new_state(DaemonCtx *ctx)
{
    if (ctx->state)
        ctx->ops->state_free(ctx->state);
    ctx->state = ctx->ops->state_new();
    if (ctx->ops->places_by)
        conn_place_by(ctx->conn, ctx->ops->places_by, ctx->state);
}

static void reset_state(DaemonCtx *ctx)
{
    new_state(ctx);
    ctx->state_generation = ctx->conn->generation;
}

/* One tick: snapshot, decide, and (when act) apply or print.  The very
 * same function runs under the main loop and for --once. */
static gboolean tick_body(DaemonCtx *ctx, gboolean act, Snapshot **snap_out,
                          Plan **plan_out, GError **error)
{
    Snapshot *snap;
    Plan *plan;
    guint failed;

    snap = *snap_out =
        snapshot_collect(ctx->conn, ctx->ops->collect_what, error);
    if (!snap)
        return FALSE;
    if (ctx->ops->check_host) {
        g_autoptr(GError) bad = NULL;

        if (!ctx->ops->check_host(snap, ctx->cfg, ctx->ticks == 0, &bad)) {
            g_set_error(error, DAEMON_ERROR, DAEMON_ERROR_HOST_SETTINGS, "%s",
                        bad->message);
            return FALSE;
        }
    }
    /* State learnt before a reconnect describes a libvirtd (and maybe
     * guests) that no longer exist; start over rather than act on it. */
    if (ctx->conn->generation != ctx->state_generation) {
        if (ctx->ticks > 0)
            g_message("connection renewed: discarding earlier samples");
        reset_state(ctx);
    }
    ctx->ticks++;
    plan = *plan_out = ctx->ops->decide(snap, ctx->cfg, ctx->state);
    if (ctx->ops->report)
        ctx->ops->report(snap, ctx->state);
    g_debug("tick %" G_GUINT64_FORMAT
            ": %u domains, %u libvirt calls (affinity kept for %u), %s",
            ctx->ticks, snap->domains->len, snap->rpc_calls,
            snap->affinity_kept, plan->summary ? plan->summary : "");
    if (!act)
        return TRUE;
    if (dcfg(ctx)->dry_run) {
        daemon_print_plan(plan);
        return TRUE;
    }
    /* A quit signal during the snapshot: exit before acting on it. */
    if (ctx->guard && quit_guard_requested(ctx->guard))
        return TRUE;
    /* Before apply, so that the hook can hold back actions on a guest it
     * works on (under migration). */
    if (ctx->hook)
        ctx->ops->hook.funcs->before_apply(ctx->hook, ctx, hook_cfg(ctx), snap,
                                           plan);
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

/* The counters every daemon has, and how this tick went. */
static void add_common_metrics(DaemonCtx *ctx, Metrics *m, const Snapshot *snap)
{
    DaemonCounters c;
    guint live = 0;
    guint i;

    daemon_ctx_counters(ctx, &c);
    metrics_add(m, METRIC_COUNTER, "ticks_total",
                "Ticks that took a snapshot of the guests.", (double)c.ticks,
                NULL);
    metrics_add(m, METRIC_COUNTER, "ticks_late_total",
                "Ticks that started more than half an interval after they "
                "were due, the previous tick having run that long.",
                (double)c.ticks_late, NULL);
    metrics_add(m, METRIC_COUNTER, "actions_applied_total",
                "Actions carried out (plan actions and migrations).",
                (double)c.actions_applied, NULL);
    metrics_add(m, METRIC_COUNTER, "actions_failed_total",
                "Actions that libvirt refused or that failed.",
                (double)c.actions_failed, NULL);
    metrics_add(m, METRIC_COUNTER, "libvirt_reconnects_total",
                "libvirt connections opened after the first one.",
                (double)c.reconnects, NULL);
    if (ctx->hook && ctx->ops->hook.funcs->figures)
        ctx->ops->hook.funcs->figures(ctx->hook, m);
    metrics_add(m, METRIC_GAUGE, "libvirt_connected",
                "1 when the tick had a libvirt connection, else 0.",
                snap ? 1.0 : 0.0, NULL);
    metrics_add(m, METRIC_GAUGE, "interval_seconds", "Seconds between ticks.",
                dcfg(ctx)->interval_s, NULL);
    metrics_add(m, METRIC_GAUGE, "last_tick_timestamp_seconds",
                "When the last tick ended, in seconds since the epoch.",
                (double)g_get_real_time() / G_USEC_PER_SEC, NULL);
    if (!snap)
        return;
    for (i = 0; i < snap->domains->len; i++)
        live += domain_sample_live(g_ptr_array_index(snap->domains, i));
    metrics_add(m, METRIC_GAUGE, "guests_running",
                "Guests running (or blocked) in the tick's snapshot.",
                (double)live, NULL);
}

/* A failure is reported once, not every tick, and the daemon goes on:
 * metrics are a view of it, not its work. */
static void write_metrics(DaemonCtx *ctx, const Metrics *m)
{
    const char *path = dcfg(ctx)->metrics_file;
    g_autofree char *text = metrics_text(m);
    g_autoptr(GError) err = NULL;

    if (!metrics_write_file(path, text, &err)) {
        if (!ctx->metrics_stuck)
            g_warning("%s; the daemon goes on without metrics until the "
                      "file can be written again (reported once)",
                      err->message);
        ctx->metrics_stuck = TRUE;
        return;
    }
    if (ctx->metrics_stuck)
        g_message("metrics file %s written again", path);
    ctx->metrics_stuck = FALSE;
}

static char *status_line(DaemonCtx *ctx, const Snapshot *snap, const char *own,
                         const GError *err)
{
    g_autoptr(GString) s = g_string_new(NULL);
    guint live = 0;
    guint i;

    if (dcfg(ctx)->dry_run)
        g_string_append(s, "dry run; ");
    if (!snap) {
        g_string_append_printf(s, "no snapshot: %s",
                               err ? err->message : "unknown error");
        return g_string_free(g_steal_pointer(&s), FALSE);
    }
    for (i = 0; i < snap->domains->len; i++)
        live += domain_sample_live(g_ptr_array_index(snap->domains, i));
    g_string_append_printf(s, "%u guest%s running", live, live == 1 ? "" : "s");
    if (own && *own)
        g_string_append_printf(s, "; %s", own);
    g_string_append_printf(s, "; last action %s",
                           ctx->last_action ? ctx->last_action : "none yet");
    return g_string_free(g_steal_pointer(&s), FALSE);
}

/* After every tick, whether it took a snapshot or not: the metrics file
 * and the STATUS= line. */
static void publish(DaemonCtx *ctx, const Snapshot *snap, const Plan *plan,
                    const GError *err)
{
    g_autoptr(Metrics) m = NULL;
    g_autoptr(GString) own = g_string_new(NULL);

    if (dcfg(ctx)->metrics_file) {
        m = metrics_new(prog(ctx));
        add_common_metrics(ctx, m, snap);
    }
    if (snap && plan && ctx->ops->figures)
        ctx->ops->figures(snap, plan, ctx->cfg, ctx->state, m, own);
    if (m)
        write_metrics(ctx, m);
    g_free(ctx->status);
    ctx->status = status_line(ctx, snap, own->str, err);
}

gboolean daemon_tick(DaemonCtx *ctx, gboolean act, GError **error)
{
    g_autoptr(Snapshot) snap = NULL;
    g_autoptr(Plan) plan = NULL;
    g_autoptr(GError) err = NULL;
    gint64 start = g_get_monotonic_time();
    gboolean ok;

    if (daemon_tick_is_late(ctx->last_start_us, start, dcfg(ctx)->interval_s)) {
        ctx->ticks_late++;
        /* A host too busy to run the daemon on time is the operator's to
         * know: measurements then span more than one interval. */
        if (complaint_should_log(&ctx->lateness, start))
            g_message("tick %.2f s late (interval %.3g s): the host did not "
                      "run the daemon on time; %" G_GUINT64_FORMAT
                      " late ticks so far",
                      (double)(start - ctx->last_start_us) / G_USEC_PER_SEC -
                          dcfg(ctx)->interval_s,
                      dcfg(ctx)->interval_s, ctx->ticks_late);
    } else if (ctx->last_start_us > 0 && complaint_release(&ctx->lateness)) {
        g_message("ticks on time again");
    }
    ctx->last_start_us = start;
    if (ctx->guard)
        quit_guard_tick_begin(ctx->guard);
    ok = tick_body(ctx, act, &snap, &plan, &err);
    publish(ctx, snap, plan, err);
    if (ctx->guard)
        quit_guard_tick_end(ctx->guard);
    if (!ok)
        g_propagate_error(error, g_steal_pointer(&err));
    return ok;
}

/* What the service manager hears after each tick in daemon mode. */
static void notify_tick(DaemonCtx *ctx)
{
    if (!ctx->ready && ctx->ticks > 0) {
        ctx->ready = TRUE;
        notify_ready(&ctx->notifier, ctx->status);
    } else if (g_strcmp0(ctx->status, ctx->status_sent) != 0) {
        notify_status(&ctx->notifier, ctx->status);
    }
    g_free(ctx->status_sent);
    ctx->status_sent = g_strdup(ctx->status);
    /* Every tick that ends, even one that found libvirt down: the loop
     * is alive and retrying.  A tick stuck in a libvirt call never gets
     * here, which is what the watchdog is for. */
    notify_watchdog(&ctx->notifier);
}

static gboolean on_timer(gpointer data)
{
    DaemonCtx *ctx = data;
    g_autoptr(GError) err = NULL;
    gboolean ok = daemon_tick(ctx, TRUE, &err);

    /* Settings this host cannot meet, found before anything was done:
     * the operator must fix them, and a service restart loop would not. */
    if (!ok && ctx->ticks == 0 &&
        g_error_matches(err, DAEMON_ERROR, DAEMON_ERROR_HOST_SETTINGS)) {
        g_printerr("%s: %s\n", prog(ctx), err->message);
        ctx->exit_code = EXIT_CONFIG;
        g_main_loop_quit(ctx->loop);
        return G_SOURCE_REMOVE;
    }
    notify_tick(ctx);
    if (ok) {
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

static void stop_timer(DaemonCtx *ctx)
{
    if (ctx->timer) {
        g_source_destroy(ctx->timer);
        g_clear_pointer(&ctx->timer, g_source_unref);
    }
}

static void restart_timer(DaemonCtx *ctx)
{
    if (!ctx->loop)
        return;
    stop_timer(ctx);
    /* The next tick comes one new interval from now, which the old
     * interval's spacing must not call late. */
    ctx->last_start_us = 0;
    ctx->timer = daemon_loop_add_timeout(
        ctx->loop, (guint)(dcfg(ctx)->interval_s * 1000), on_timer, ctx);
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

/* What a config file cannot say for itself: whether the metrics file
 * can be written, and whether the service manager's watchdog leaves the
 * interval enough time. */
static gboolean settings_usable(const DaemonCtx *ctx, const DaemonConfig *d,
                                GError **error)
{
    if (d->metrics_file && !metrics_check_path(d->metrics_file, error))
        return FALSE;
    return d->once || notify_watchdog_fits(ctx->notifier.watchdog_us,
                                           d->interval_s, error);
}

gboolean daemon_reload(DaemonCtx *ctx)
{
    const ConfigSchema *s = ctx->ops->cli.config;
    g_autoptr(GError) err = NULL;
    g_autofree char *fresh = g_malloc0(s->size);
    const DaemonConfig *now = (const DaemonConfig *)fresh;

    if (cli_build_config(&ctx->ops->cli, &ctx->cli, fresh, &err) != EXIT_OK ||
        !settings_usable(ctx, now, &err)) {
        g_warning("reload: keeping the previous settings: %s", err->message);
        config_clear(s, fresh);
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
    /* Guests' definitions are read once per run of a guest; an operator
     * who changed one and sends SIGHUP expects it taken now. */
    conn_forget_definitions(ctx->conn);
    ctx->conn->max_backoff_us = (gint64)(now->interval_s * G_USEC_PER_SEC);
    if (!open_decision_log(ctx, &err))
        g_warning("reload: %s", err->message);
    restart_timer(ctx);
    g_message("reloaded settings (interval %.3g s)", now->interval_s);
    return TRUE;
}

/* SIGHUP.  Before the daemon was ever ready, systemd is still waiting
 * for READY=1 and hears of no reload. */
static gboolean on_reload(gpointer data)
{
    DaemonCtx *ctx = data;

    if (ctx->ready)
        notify_reloading(&ctx->notifier);
    daemon_reload(ctx);
    if (ctx->ready)
        notify_ready(&ctx->notifier, ctx->status);
    return G_SOURCE_CONTINUE;
}

/* On the quit guard's thread, as soon as SIGINT or SIGTERM arrives. */
static void on_quit(gpointer data, gpointer unused)
{
    DaemonCtx *ctx = data;

    notify_stopping(&ctx->notifier);
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
        return g_error_matches(err, DAEMON_ERROR, DAEMON_ERROR_HOST_SETTINGS)
                   ? EXIT_CONFIG
                   : EXIT_RUNTIME;
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
    ctx->loop = daemon_loop_new();
    ctx->guard = quit_guard_new(ctx->loop, 700, EXIT_OK);
    quit_guard_on_quit(ctx->guard, on_quit, ctx);
    daemon_loop_add_signal(ctx->loop, SIGHUP, on_reload, ctx);
    g_message("started: uri %s, interval %.3g s%s", dcfg(ctx)->uri,
              dcfg(ctx)->interval_s, dcfg(ctx)->dry_run ? ", dry run" : "");
    on_timer(ctx);
    if (ctx->exit_code == EXIT_OK) {
        restart_timer(ctx);
        g_main_loop_run(ctx->loop);
    }
    g_clear_pointer(&ctx->guard, quit_guard_free);
    stop_timer(ctx);
    g_clear_pointer(&ctx->loop, daemon_loop_free);
    g_message("stopped after %" G_GUINT64_FORMAT " ticks, %" G_GUINT64_FORMAT
              " actions applied, %" G_GUINT64_FORMAT " failed",
              ctx->ticks, ctx->actions_applied, ctx->actions_failed);
    return ctx->exit_code;
}

DaemonCtx *daemon_ctx_new(const DaemonOps *ops, int argc, char **argv,
                          int *exit_code, GError **error)
{
    const ConfigSchema *s = ops->cli.config;
    g_autoptr(DaemonCtx) ctx = g_new0(DaemonCtx, 1);

    ctx->ops = ops;
    notifier_init(&ctx->notifier);
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
    if (!settings_usable(ctx, dcfg(ctx), error) ||
        !open_decision_log(ctx, error)) {
        *exit_code = EXIT_CONFIG;
        return NULL;
    }
    ctx->conn = conn_new(dcfg(ctx)->uri, dcfg(ctx)->dry_run);
    ctx->conn->max_backoff_us =
        (gint64)(dcfg(ctx)->interval_s * G_USEC_PER_SEC);
    new_state(ctx);
    if (ops->hook.funcs)
        ctx->hook = ops->hook.funcs->start(ctx);
    *exit_code = EXIT_OK;
    return g_steal_pointer(&ctx);
}

void daemon_ctx_free(DaemonCtx *ctx)
{
    if (!ctx)
        return;
    /* First, as it may wait for work in flight and log it. */
    if (ctx->hook)
        ctx->ops->hook.funcs->stop(ctx->hook);
    /* The affinity cache asks the state which groups it places by. */
    if (ctx->conn)
        conn_place_by(ctx->conn, NULL, NULL);
    if (ctx->state)
        ctx->ops->state_free(ctx->state);
    conn_free(ctx->conn);
    if (ctx->decision_log)
        fclose(ctx->decision_log);
    config_clear(ctx->ops->cli.config, ctx->cfg);
    g_free(ctx->cfg);
    cli_result_clear(&ctx->cli);
    notifier_clear(&ctx->notifier);
    g_free(ctx->status);
    g_free(ctx->status_sent);
    g_free(ctx->last_action);
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
    /* Before any connection opens, or it would deliver no events. */
    if (!event_loop_start(&err)) {
        g_warning("%s; going on without libvirt's events", err->message);
        g_clear_error(&err);
    }
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
