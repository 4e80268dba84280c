/* SIGINT and SIGTERM, watched from a thread of their own.
 *
 * The main loop only sees a signal between ticks; a tick blocked in a
 * libvirt call (a hung libvirtd) would delay the exit indefinitely.  The
 * guard asks the loop to quit, stops a tick from starting new actions,
 * and, if the tick is still running after the grace time, exits at once:
 * every libvirt action is atomic on its own, so a plan cut short leaves
 * guests in a state the next run simply re-plans from. */
#pragma once

#include <glib.h>

typedef struct QuitGuard QuitGuard;

/* loop may be NULL (--once): a signal outside a tick then exits at once,
 * and a signal at any time exits with exit_status, since a run cut short
 * has not done what it was asked.  With a loop, a stop by signal is the
 * normal end of a daemon: the loop returns, or after the grace time the
 * process exits with 0. */
QuitGuard *quit_guard_new(GMainLoop *loop, guint grace_ms, int exit_status);
/* Calls fn(data) on the guard's thread as soon as a quit signal arrives,
 * before the tick in progress ends: a tick blocked in libvirt may never
 * end, and the service manager should hear of the stop at once. */
void quit_guard_on_quit(QuitGuard *g, GFunc fn, gpointer data);
/* A guard that only records the signal, for a caller that polls
 * quit_guard_requested() and winds down on its own (migrate_request
 * aborting its migration); it never exits the process. */
QuitGuard *quit_guard_new_polled(void);
void quit_guard_free(QuitGuard *g);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QuitGuard, quit_guard_free)

void quit_guard_tick_begin(QuitGuard *g);
void quit_guard_tick_end(QuitGuard *g);
/* TRUE once a quit signal arrived; a tick checks it before acting. */
gboolean quit_guard_requested(QuitGuard *g);
