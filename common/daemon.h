/* The tick driver both daemons share: command line, config, connection,
 * GMainLoop with signals, and one tick function used by daemon mode and
 * --once alike.  A daemon supplies only its collect flags, its policy and
 * its apply step. */
#pragma once

#include <stdio.h>

#include "cli.h"
#include "collect.h"
#include "migrate_exec.h"
#include "plan.h"
#include "quit_guard.h"

typedef struct DaemonCtx DaemonCtx;

typedef struct {
    const char *log_domain;
    CliSpec cli;
    guint collect_what; /* CollectWhat flags */
    gpointer (*state_new)(void);
    void (*state_free)(gpointer state);
    /* Called on every fresh snapshot before deciding, e.g. to set the
     * stats period of guests seen for the first time.  May use conn. */
    void (*observe)(DaemonCtx *ctx, const Snapshot *snap, gpointer state);
    Plan *(*decide)(const Snapshot *snap, const Config *cfg, gpointer state);
    /* Carries the plan out; returns the number of actions that failed. */
    guint (*apply)(DaemonCtx *ctx, const Snapshot *snap, const Plan *plan,
                   gpointer state);
    /* One debug line per tick on what was measured (optional). */
    void (*report)(const Snapshot *snap, gpointer state);
} DaemonOps;

struct DaemonCtx {
    const DaemonOps *ops;
    Config cfg;
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
    int exit_code;
};

/* main() of a daemon. */
int daemon_main(const DaemonOps *ops, int argc, char **argv);

/* Writes one applied (or failed) action to the log and the decision log. */
void daemon_log_action(DaemonCtx *ctx, const Action *a, gboolean ok,
                       const char *error_text);
/* Prints a plan to stdout, for --dry-run. */
void daemon_print_plan(const Plan *plan);
