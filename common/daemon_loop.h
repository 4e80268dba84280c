/* The daemons' main loop, on a GMainContext of its own.
 *
 * libvirt's default event implementation is built on GLib and iterates
 * GLib's global default context from the thread event_loop.c gives it.
 * A source attached there (g_timeout_add, g_unix_signal_add) can be
 * dispatched by that thread as well as by the main thread: a tick would
 * then run on libvirt's event thread, beside the main thread, and after
 * the main loop ended it could run on a context already freed.  The
 * daemons' timer and signals therefore live in a context that only the
 * thread running this loop iterates. */
#pragma once

#include <glib.h>

/* A loop on a new context, made the calling thread's default so that
 * anything created later on that thread (GLib's own helpers included)
 * attaches to it rather than to libvirt's context. */
GMainLoop *daemon_loop_new(void);
/* Ends what daemon_loop_new began; the loop must have returned. */
void daemon_loop_free(GMainLoop *loop);
/* fn(data) every interval_ms on the loop's context; the source is the
 * caller's to destroy (g_source_destroy, then g_source_unref). */
GSource *daemon_loop_add_timeout(GMainLoop *loop, guint interval_ms,
                                 GSourceFunc fn, gpointer data);
/* fn(data) on the loop's context each time signum arrives. */
void daemon_loop_add_signal(GMainLoop *loop, int signum, GSourceFunc fn,
                            gpointer data);
