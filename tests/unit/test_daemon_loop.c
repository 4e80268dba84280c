/* The daemons' loop runs its sources on its own thread only, and not at
 * all once it has returned, although libvirt's event thread iterates
 * GLib's default context beside it: with the timer on that context, a
 * tick ran on libvirt's thread after the daemon's loop had ended and its
 * state was freed (a use after free at exit, seen by AddressSanitizer in
 * the cpu-7 scenario, and a daemon that did not exit 0 in CI). */
#include <signal.h>
#include <unistd.h>

#include "daemon_loop.h"
#include "event_loop.h"

typedef struct {
    GMainLoop *loop;
    GThread *owner;
    gint want;
    gint seen;    /* atomic: another thread is what the test looks for */
    gint foreign; /* dispatches on a thread other than owner */
} Count;

static void count_one(Count *c)
{
    if (g_thread_self() != c->owner)
        g_atomic_int_inc(&c->foreign);
    if (g_atomic_int_add(&c->seen, 1) + 1 == c->want)
        g_main_loop_quit(c->loop);
}

static gboolean on_tick(gpointer data)
{
    count_one(data);
    return G_SOURCE_CONTINUE;
}

static gboolean on_signal(gpointer data)
{
    count_one(data);
    return G_SOURCE_CONTINUE;
}

static gboolean raise_usr1(gpointer unused)
{
    kill(getpid(), SIGUSR1);
    return G_SOURCE_CONTINUE;
}

typedef enum { BY_TIMEOUT, BY_SIGNAL } Source;

typedef struct {
    const char *name;
    Source source;
    gint dispatches;
} LoopCase;

static const LoopCase loop_cases[] = {
    {"a 1 ms timer", BY_TIMEOUT, 300},
    {"SIGUSR1, raised every 2 ms", BY_SIGNAL, 50},
};

static void test_sources_stay_on_the_loop_thread(void)
{
    g_autoptr(GError) err = NULL;
    guint i;

    /* The process's libvirt event thread, as in the daemons. */
    g_assert_true(event_loop_start(&err));
    for (i = 0; i < G_N_ELEMENTS(loop_cases); i++) {
        const LoopCase *t = &loop_cases[i];
        Count c = {0};
        GSource *timer;
        gint at_return;

        c.loop = daemon_loop_new();
        c.owner = g_thread_self();
        c.want = t->dispatches;
        if (t->source == BY_TIMEOUT) {
            timer = daemon_loop_add_timeout(c.loop, 1, on_tick, &c);
        } else {
            daemon_loop_add_signal(c.loop, SIGUSR1, on_signal, &c);
            timer = daemon_loop_add_timeout(c.loop, 2, raise_usr1, NULL);
        }
        g_main_loop_run(c.loop);
        /* The sources are still attached, as the daemon's timer was when
         * its loop returned and it freed its state: nothing may run them. */
        at_return = g_atomic_int_get(&c.seen);
        g_usleep(100 * 1000);
        g_source_destroy(timer);
        g_source_unref(timer);
        daemon_loop_free(c.loop);
        g_test_message("%s: %d dispatches in the loop, %d after it returned, "
                       "%d on another thread",
                       t->name, at_return,
                       g_atomic_int_get(&c.seen) - at_return,
                       g_atomic_int_get(&c.foreign));
        g_assert_cmpint(at_return, ==, t->dispatches);
        g_assert_cmpint(g_atomic_int_get(&c.seen), ==, at_return);
        g_assert_cmpint(g_atomic_int_get(&c.foreign), ==, 0);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/daemon-loop/sources-stay-on-the-loop-thread",
                    test_sources_stay_on_the_loop_thread);
    return g_test_run();
}
