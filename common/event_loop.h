/* libvirt's default event loop, run on a thread of its own.
 *
 * Domain events (a vCPU pin changed, a guest started) reach a client only
 * through an event loop registered before its connections open.  The
 * daemons' GMainLoop cannot host libvirt's implementation without a
 * bridge of our own, so libvirt's runs beside it; its callbacks then run
 * on that thread and must only hand facts over under a lock. */
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
