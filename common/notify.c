#include "notify.h"

#include <math.h>
#include <string.h>
#include <systemd/sd-daemon.h>

GQuark notify_error_quark(void)
{
    return g_quark_from_static_string("aos-notify-error-quark");
}

void notifier_init(Notifier *n)
{
    uint64_t usec = 0;

    memset(n, 0, sizeof(*n));
    g_mutex_init(&n->lock);
    n->active = g_getenv("NOTIFY_SOCKET") != NULL;
    /* A watchdog nobody listens to cannot fire, so without the socket
     * WATCHDOG_USEC is ignored as well. */
    if (n->active && sd_watchdog_enabled(0, &usec) > 0)
        n->watchdog_us = usec;
}

void notifier_clear(Notifier *n)
{
    g_mutex_clear(&n->lock);
}

guint64 notify_watchdog_min_us(double interval_s)
{
    return (guint64)ceil(2.0 * interval_s * G_USEC_PER_SEC);
}

gboolean notify_watchdog_fits(guint64 watchdog_us, double interval_s,
                              GError **error)
{
    guint64 need = notify_watchdog_min_us(interval_s);

    if (watchdog_us == 0 || watchdog_us >= need)
        return TRUE;
    g_set_error(error, NOTIFY_ERROR, NOTIFY_ERROR_WATCHDOG,
                "the service manager's watchdog timeout of %.3g s "
                "(WatchdogSec=) is shorter than twice the interval of %.3g s: "
                "the daemon pings once a tick, so set WatchdogSec=%.3g or "
                "more in a drop-in (systemctl edit), or a shorter interval",
                (double)watchdog_us / G_USEC_PER_SEC, interval_s,
                ceil((double)need / G_USEC_PER_SEC));
    return FALSE;
}

static void notify_send(Notifier *n, const char *state)
{
    int r;

    if (!n->active)
        return;
    r = sd_notify(0, state);
    g_mutex_lock(&n->lock);
    if (r > 0) {
        if (complaint_release(&n->trouble))
            g_message("notifications reach the service manager again");
    } else if (complaint_should_log(&n->trouble, g_get_monotonic_time())) {
        /* r == 0 would mean no socket, which active ruled out. */
        g_warning("cannot notify the service manager (%.40s): %s", state,
                  r < 0 ? g_strerror(-r) : "NOTIFY_SOCKET vanished");
    }
    g_mutex_unlock(&n->lock);
}

/* STATUS= ends at a line break; the protocol has no escape for one. */
static char *one_line(const char *status)
{
    char *s = g_strdup(status ? status : "");

    g_strdelimit(s, "\r\n", ' ');
    return s;
}

void notify_ready(Notifier *n, const char *status)
{
    g_autofree char *line = one_line(status);
    g_autofree char *msg = g_strdup_printf("READY=1\nSTATUS=%s", line);

    notify_send(n, msg);
}

void notify_status(Notifier *n, const char *status)
{
    g_autofree char *line = one_line(status);
    g_autofree char *msg = g_strdup_printf("STATUS=%s", line);

    notify_send(n, msg);
}

void notify_watchdog(Notifier *n)
{
    if (n->watchdog_us)
        notify_send(n, "WATCHDOG=1");
}

void notify_reloading(Notifier *n)
{
    notify_send(n, "RELOADING=1");
}

void notify_stopping(Notifier *n)
{
    notify_send(n, "STOPPING=1");
}
