/* libvirt's default event loop, run on a thread of its own.
 *
 * Domain events (a vCPU pin changed, a guest started) reach a client only
 * through an event loop registered before its connections open.  libvirt's
 * implementation iterates GLib's global default context; it runs on its
 * own thread so that a tick blocked in a libvirt call delays no event, and
 * its callbacks then run on that thread and must only hand facts over
 * under a lock.  That thread owns the default context, so the daemons'
 * own sources live on a context of their own (daemon_loop.h). */
#pragma once

#include <glib.h>

/* Registers libvirt's default implementation and starts the thread, once
 * per process (libvirt allows one implementation per process, so this is
 * process-wide state by nature).  Call before opening connections.  FALSE
 * with error set when libvirt refused; the daemons then go on without
 * events. */
gboolean event_loop_start(GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* TRUE once event_loop_start succeeded in this process. */
gboolean event_loop_running(void);
