/* The tick driver every daemon shares: command line, config, connection,
 * GMainLoop with signals, and one tick function used by daemon mode and
 * --once alike.  A daemon supplies its DaemonOps: its options and config
 * keys, its collect flags, its policy and its apply step.
 *
 * One tick: collect a snapshot, decide a plan (pure), then apply it.
 * Only collect and apply talk to libvirt. */
#pragma once

#include <stdio.h>

#include "cli.h"
#include "collect.h"
#include "metrics.h"
#include "plan.h"

typedef struct DaemonCtx DaemonCtx;

/* Work another layer adds to the tick (migration requests, from
 * migration/), kept behind these functions so that this layer knows
 * nothing of it.  cfg is that layer's part of the daemon's config
 * (config.h), at the hook's cfg_offset.  No function may wait on anything
 * but libvirt's local connection: the tick never waits for another host. */
typedef struct {
    gpointer (*start)(DaemonCtx *ctx);
    /* Once per tick that applies, after the policy decided and before the
     * plan is applied: it may take actions out of the plan. */
    void (*before_apply)(gpointer hook, DaemonCtx *ctx, gconstpointer cfg,
                         const Snapshot *snap, Plan *plan);
    /* Its counters for the metrics file (optional). */
    void (*figures)(gpointer hook, Metrics *m);
    /* At the daemon's end, before anything else is freed: may wait a
     * bounded time for work in flight. */
    void (*stop)(gpointer hook);
} DaemonHookFuncs;

typedef struct {
    const DaemonHookFuncs *funcs; /* NULL: none */
    gsize cfg_offset;
} DaemonHook;

typedef struct {
    /* prog is also the log domain; options and config are the daemon's
     * own, registered here. */
    CliSpec cli;
    guint collect_what; /* CollectWhat flags */
    gpointer (*state_new)(void);
    void (*state_free)(gpointer state);
    /* Checks the settings against the host a snapshot shows (optional; no
     * I/O).  Settings the host cannot meet stop a daemon on its first
     * snapshot with exit 3; later (after SIGHUP) the tick is skipped and
     * says why.  first: this is the daemon's first snapshot, when what
     * only the start can refuse is checked too. */
    gboolean (*check_host)(const Snapshot *snap, gconstpointer cfg,
                           gboolean first, GError **error);
    /* Whether map is a group of CPUs the policy places vCPUs by (optional;
     * none: one CPU each).  Read at collect: the affinity of a guest
     * pinned to such groups is kept between snapshots. */
    gboolean (*places_by)(gconstpointer state, const guint8 *map, gsize maplen);
    /* The policy: no I/O.  cfg is the daemon's config struct. */
    Plan *(*decide)(const Snapshot *snap, gconstpointer cfg, gpointer state);
    /* Carries the plan out; returns the number of actions that failed. */
    guint (*apply)(DaemonCtx *ctx, gconstpointer cfg, const Snapshot *snap,
                   const Plan *plan, gpointer state);
    /* One debug line per tick on what was measured (optional). */
    void (*report)(const Snapshot *snap, gpointer state);
    /* The daemon's own figures of a tick that took a snapshot (optional),
     * read after apply from the tick's snapshot, plan and state: its
     * gauges into m (NULL when no metrics file is set) and a few words
     * for the service manager's STATUS= line into status ("pCPU sd 1.2").
     * No I/O. */
    void (*figures)(const Snapshot *snap, const Plan *plan, gconstpointer cfg,
                    gpointer state, Metrics *m, GString *status);
    DaemonHook hook;
} DaemonOps;

/* main() of a daemon. */
int daemon_main(const DaemonOps *ops, int argc, char **argv);

/* ---- For apply steps --------------------------------------------------- */

/* Looks the action's domain up by UUID.  NULL when it vanished (*vanished
 * set, logged at debug level only: guests come and go) or on another
 * error (libvirt's last error says which). */
virDomainPtr daemon_lookup_domain(DaemonCtx *ctx, const Action *a,
                                  gboolean *vanished);

/* Whether a libvirt job (a migration, save, snapshot, ...) runs on dom,
 * the guest of action a: then the action is left for a later tick and the
 * log says why, because libvirt would hold it up to 30 s for the job's
 * state-change lock and the whole apply with it.  One call per action. */
gboolean daemon_guest_in_job(const Action *a, virDomainPtr dom);

/* The action's domain had a vCPU pinned (or tried): the next snapshot
 * reads its affinity again instead of keeping the earlier one. */
void daemon_forget_affinity(DaemonCtx *ctx, const Action *a);

/* Writes one applied (or failed) action to the log and the decision log,
 * and counts it. */
void daemon_log_action(DaemonCtx *ctx, const Action *a, gboolean ok,
                       const char *error_text);

/* ---- A context without a main loop, for tests and tools ---------------- */

/* Parses argv and builds the config and the connection, as daemon_main
 * does, without connecting or running.  NULL with *exit_code and error
 * set when the command line or config is bad; with --version (no error)
 * NULL and EXIT_OK. */
DaemonCtx *daemon_ctx_new(const DaemonOps *ops, int argc, char **argv,
                          int *exit_code, GError **error);
void daemon_ctx_free(DaemonCtx *ctx);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DaemonCtx, daemon_ctx_free)

/* One tick: snapshot, decide, and when act, apply (or print, with
 * --dry-run).  FALSE with error set when the tick could not run or an
 * action failed (DAEMON_ERROR_ACTIONS). */
gboolean daemon_tick(DaemonCtx *ctx, gboolean act, GError **error);

/* What SIGHUP does: re-reads the config; a broken one keeps the old
 * settings.  TRUE when the new settings were taken. */
gboolean daemon_reload(DaemonCtx *ctx);

gconstpointer daemon_ctx_config(const DaemonCtx *ctx);
gpointer daemon_ctx_state(const DaemonCtx *ctx);
/* The daemon's libvirt connection, for a hook. */
Conn *daemon_ctx_conn(const DaemonCtx *ctx);
const char *daemon_ctx_prog(const DaemonCtx *ctx);
guint64 daemon_ctx_actions_failed(const DaemonCtx *ctx);

/* What the tick driver counts, as the metrics file shows it. */
typedef struct {
    guint64 ticks;           /* ticks that took a snapshot */
    guint64 ticks_late;      /* started over half an interval late */
    guint64 actions_applied; /* plan actions and a hook's actions */
    guint64 actions_failed;
    guint64 reconnects; /* libvirt connections after the first */
} DaemonCounters;

void daemon_ctx_counters(const DaemonCtx *ctx, DaemonCounters *out);
/* The last STATUS= line, or NULL before the first tick. */
const char *daemon_ctx_status(const DaemonCtx *ctx);

/* Whether a tick that started at start_us, after one that started at
 * prev_us, is late: more than half an interval after it was due. */
gboolean daemon_tick_is_late(gint64 prev_us, gint64 start_us,
                             double interval_s);

/* Prints a plan to stdout, for --dry-run. */
void daemon_print_plan(const Plan *plan);

#define DAEMON_ERROR (daemon_error_quark())
GQuark daemon_error_quark(void);
typedef enum {
    DAEMON_ERROR_ACTIONS,       /* some of a plan's actions failed */
    DAEMON_ERROR_HOST_SETTINGS, /* settings this host cannot meet */
} DaemonError;
