#include "daemon_loop.h"

#include <glib-unix.h>

GMainLoop *daemon_loop_new(void)
{
    GMainContext *context = g_main_context_new();
    GMainLoop *loop = g_main_loop_new(context, FALSE);

    g_main_context_push_thread_default(context);
    g_main_context_unref(context);
    return loop;
}

void daemon_loop_free(GMainLoop *loop)
{
    if (!loop)
        return;
    g_main_context_pop_thread_default(g_main_loop_get_context(loop));
    g_main_loop_unref(loop);
}

static GSource *attach(GMainLoop *loop, GSource *s, GSourceFunc fn,
                       gpointer data)
{
    g_source_set_callback(s, fn, data, NULL);
    g_source_attach(s, g_main_loop_get_context(loop));
    return s;
}

GSource *daemon_loop_add_timeout(GMainLoop *loop, guint interval_ms,
                                 GSourceFunc fn, gpointer data)
{
    return attach(loop, g_timeout_source_new(interval_ms), fn, data);
}

void daemon_loop_add_signal(GMainLoop *loop, int signum, GSourceFunc fn,
                            gpointer data)
{
    g_source_unref(attach(loop, g_unix_signal_source_new(signum), fn, data));
}
