#include "event_loop.h"

#include <libvirt/libvirt.h>

#include "conn.h"

/* libvirt keeps one event implementation per process; this mirrors that
 * fact rather than pretending it belongs to a context. */
static gsize started;
static gboolean running;

static gpointer run(gpointer unused)
{
    for (;;) {
        /* A failed iteration (poll interrupted in an odd way) is retried;
         * the pause keeps a persistent failure from spinning a CPU. */
        if (virEventRunDefaultImpl() < 0) {
            g_debug("libvirt event loop: %s", conn_last_error_message());
            g_usleep(G_USEC_PER_SEC / 10);
        }
    }
    return NULL;
}

gboolean event_loop_start(GError **error)
{
    if (g_once_init_enter(&started)) {
        if (virEventRegisterDefaultImpl() == 0) {
            /* Never joined: it ends with the process. */
            g_thread_unref(g_thread_new("libvirt-events", run, NULL));
            running = TRUE;
        }
        g_once_init_leave(&started, 1);
    }
    if (!running)
        g_set_error(error, CONN_ERROR, CONN_ERROR_CALL,
                    "cannot start libvirt's event loop: %s",
                    conn_last_error_message());
    return running;
}

gboolean event_loop_running(void)
{
    return running;
}
