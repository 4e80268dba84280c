#include "quit_guard.h"

#include <glib-unix.h>
#include <signal.h>
#include <unistd.h>

struct QuitGuard {
    GMainLoop *loop;       /* the daemon's loop, or NULL */
    GMainContext *context; /* the guard thread's own context */
    GMainLoop *guard_loop;
    GThread *thread;
    GMutex lock;
    GCond idle; /* signalled when a tick ends */
    gboolean in_tick;
    gboolean requested;
    guint grace_ms;
    int exit_status; /* without a loop: the run was cut short */
    gboolean polled; /* only records the request */
    GFunc on_quit;   /* set before the loop runs, read on the guard thread */
    gpointer on_quit_data;
};

static gboolean quit_main_loop(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

static gboolean on_signal(gpointer data)
{
    QuitGuard *g = data;
    gint64 deadline;

    g_mutex_lock(&g->lock);
    if (g->polled) {
        g_message("signal received, stopping");
        g->requested = TRUE;
        g_mutex_unlock(&g->lock);
        return G_SOURCE_CONTINUE;
    }
    if (g->loop)
        g_message("signal received, exiting");
    else
        g_message("signal received: the run is interrupted before it "
                  "finished, exiting with status %d",
                  g->exit_status);
    g->requested = TRUE;
    if (g->on_quit)
        g->on_quit(g->on_quit_data, NULL);
    if (g->loop)
        g_main_context_invoke(g_main_loop_get_context(g->loop), quit_main_loop,
                              g->loop);
    else if (!g->in_tick)
        _exit(g->exit_status);
    deadline = g_get_monotonic_time() + (gint64)g->grace_ms * 1000;
    while (g->in_tick) {
        if (!g_cond_wait_until(&g->idle, &g->lock, deadline)) {
            g_warning("signal received during a tick still running after "
                      "%u ms; exiting without finishing it",
                      g->grace_ms);
            _exit(g->loop ? 0 : g->exit_status);
        }
    }
    g_mutex_unlock(&g->lock);
    if (!g->loop)
        _exit(g->exit_status);
    return G_SOURCE_CONTINUE;
}

static gpointer guard_thread(gpointer data)
{
    QuitGuard *g = data;

    g_main_context_push_thread_default(g->context);
    g_main_loop_run(g->guard_loop);
    g_main_context_pop_thread_default(g->context);
    return NULL;
}

static void watch(QuitGuard *g, int signum)
{
    GSource *s = g_unix_signal_source_new(signum);

    g_source_set_callback(s, on_signal, g, NULL);
    g_source_attach(s, g->context);
    g_source_unref(s);
}

/* polled is set before the signals are watched: a signal arriving
 * between the two would otherwise take the exiting path. */
static QuitGuard *guard_new(GMainLoop *loop, guint grace_ms, int exit_status,
                            gboolean polled)
{
    QuitGuard *g = g_new0(QuitGuard, 1);

    g->exit_status = exit_status;
    g->loop = loop ? g_main_loop_ref(loop) : NULL;
    g->grace_ms = grace_ms;
    g->polled = polled;
    g_mutex_init(&g->lock);
    g_cond_init(&g->idle);
    g->context = g_main_context_new();
    g->guard_loop = g_main_loop_new(g->context, FALSE);
    watch(g, SIGINT);
    watch(g, SIGTERM);
    g->thread = g_thread_new("quit-guard", guard_thread, g);
    return g;
}

QuitGuard *quit_guard_new(GMainLoop *loop, guint grace_ms, int exit_status)
{
    return guard_new(loop, grace_ms, exit_status, FALSE);
}

QuitGuard *quit_guard_new_polled(void)
{
    return guard_new(NULL, 0, 0, TRUE);
}

void quit_guard_on_quit(QuitGuard *g, GFunc fn, gpointer data)
{
    g_mutex_lock(&g->lock);
    g->on_quit = fn;
    g->on_quit_data = data;
    g_mutex_unlock(&g->lock);
}

static gboolean stop_guard_loop(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

void quit_guard_free(QuitGuard *g)
{
    if (!g)
        return;
    g_main_context_invoke(g->context, stop_guard_loop, g->guard_loop);
    g_thread_join(g->thread);
    g_main_loop_unref(g->guard_loop);
    g_main_context_unref(g->context);
    if (g->loop)
        g_main_loop_unref(g->loop);
    g_cond_clear(&g->idle);
    g_mutex_clear(&g->lock);
    g_free(g);
}

void quit_guard_tick_begin(QuitGuard *g)
{
    g_mutex_lock(&g->lock);
    g->in_tick = TRUE;
    g_mutex_unlock(&g->lock);
}

void quit_guard_tick_end(QuitGuard *g)
{
    g_mutex_lock(&g->lock);
    g->in_tick = FALSE;
    g_cond_broadcast(&g->idle);
    g_mutex_unlock(&g->lock);
}

gboolean quit_guard_requested(QuitGuard *g)
{
    gboolean r;

    g_mutex_lock(&g->lock);
    r = g->requested;
    g_mutex_unlock(&g->lock);
    return r;
}
