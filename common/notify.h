/* The service manager's notify protocol (sd_notify(3), through
 * libsystemd): under Type=notify a daemon says when it is ready, what it
 * is doing, that its loop is alive, and when it reloads or stops.
 *
 * Without NOTIFY_SOCKET in the environment every call does nothing, so
 * a daemon started by hand behaves as before. */
#pragma once

#include <glib.h>

#include "complain.h"

typedef struct {
    gboolean active;     /* NOTIFY_SOCKET is set */
    guint64 watchdog_us; /* WATCHDOG_USEC meant for this process; 0: none */
    /* Sends can fail from two threads (STOPPING=1 comes from the quit
     * guard's), and a failure repeats every tick: logged rate-limited. */
    GMutex lock;
    Complaint trouble;
} Notifier;

/* Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID. */
void notifier_init(Notifier *n);
void notifier_clear(Notifier *n);

/* The daemon pings once a tick, so a timeout must leave room for a tick
 * that starts on time and takes up to one interval itself, as systemd
 * asks of a daemon that pings at half its timeout: twice the interval. */
guint64 notify_watchdog_min_us(double interval_s);

/* FALSE, with a message that says what to set, when a watchdog timeout
 * (0: none) is shorter than the interval needs. */
gboolean notify_watchdog_fits(guint64 watchdog_us, double interval_s,
                              GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* READY=1 with a STATUS= line. */
void notify_ready(Notifier *n, const char *status);
/* STATUS= alone: one line; line breaks in it become blanks. */
void notify_status(Notifier *n, const char *status);
/* WATCHDOG=1; nothing when no watchdog is asked for. */
void notify_watchdog(Notifier *n);
void notify_reloading(Notifier *n);
void notify_stopping(Notifier *n);

#define NOTIFY_ERROR (notify_error_quark())
GQuark notify_error_quark(void);
typedef enum {
    NOTIFY_ERROR_WATCHDOG, /* the watchdog timeout is too short */
} NotifyError;
