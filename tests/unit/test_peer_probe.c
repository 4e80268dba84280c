/* Migration peers are read off the tick: peer_probes_get never waits for
 * a peer, a peer that never answers is reported as such after
 * PEER_PROBE_SILENT_S with one probe left behind, and an unreachable peer
 * is tried again only after its backoff.  The reader is a fake whose
 * "hang" peer blocks until the test lets it go: were get to wait for a
 * probe, these tests would never end. */
#include <string.h>

#include "peer_probe.h"

static GMutex hang_lock;
static GCond hang_cond;
static gboolean hang_released;
static gint64 fake_now; /* under hang_lock: probe threads read it */

static gint64 fake_clock(void)
{
    gint64 t;

    g_mutex_lock(&hang_lock);
    t = fake_now;
    g_mutex_unlock(&hang_lock);
    return t;
}

static void set_clock(gint64 t)
{
    g_mutex_lock(&hang_lock);
    fake_now = t;
    g_mutex_unlock(&hang_lock);
}

static MigratePeer *fake_read(const char *uri)
{
    MigratePeer *p = g_new0(MigratePeer, 1);

    p->uri = g_strdup(uri);
    if (g_str_has_prefix(uri, "hang")) {
        g_mutex_lock(&hang_lock);
        while (!hang_released)
            g_cond_wait(&hang_cond, &hang_lock);
        g_mutex_unlock(&hang_lock);
    }
    if (g_str_has_prefix(uri, "down")) {
        p->error = g_strdup("Connection refused");
        return p;
    }
    p->reachable = TRUE;
    p->facts_ok = TRUE;
    p->free_kib = 4096;
    return p;
}

static void release_hang(void)
{
    g_mutex_lock(&hang_lock);
    hang_released = TRUE;
    g_cond_broadcast(&hang_cond);
    g_mutex_unlock(&hang_lock);
}

/* Until no probe runs (the fake ends at once but for "hang"). */
static guint started(PeerProbes *pp)
{
    guint n;
    guint running;

    peer_probes_counts(pp, &n, &running);
    return n;
}

static void wait_idle(PeerProbes *pp)
{
    guint count;
    guint running;
    guint n;

    for (n = 0;; n++) {
        peer_probes_counts(pp, &count, &running);
        if (running == 0)
            return;
        g_assert_cmpuint(n, <, 5000);
        g_usleep(1000);
    }
}

typedef struct {
    double at_s;      /* the clock, in seconds */
    gboolean idle;    /* wait for running probes to end, then set the clock */
    gboolean release; /* set the clock, let "hang" answer, then wait */
    gboolean pending;
    const char *error; /* a part of the error, or NULL for none */
    guint started;     /* probes started after this step */
} Step;

typedef struct {
    const char *name;
    const char *uri;
    Step steps[6];
} ProbeCase;

#define S(x) ((gint64)((x)*G_USEC_PER_SEC))

static const ProbeCase probe_cases[] = {
    {"a peer that answers: pending first, then its figures, refreshed "
     "after 5 s while the result is still used",
     "ok://a",
     {{0, FALSE, FALSE, TRUE, "being probed", 1},
      {0.1, TRUE, FALSE, FALSE, NULL, 1},
      {3, FALSE, FALSE, FALSE, NULL, 1},
      {6, FALSE, FALSE, FALSE, NULL, 2},
      {-1}}},
    {"a peer that never answers: pending, then not answering after 10 s, "
     "with no second probe; its late answer is used",
     "hang://b",
     {{0, FALSE, FALSE, TRUE, "being probed", 1},
      {5, FALSE, FALSE, TRUE, "being probed (5.0 s so far)", 1},
      {10, FALSE, FALSE, FALSE, "has not answered a probe for 10 s", 1},
      {60, FALSE, FALSE, FALSE, "has not answered a probe for 60 s", 1},
      {61, FALSE, TRUE, FALSE, NULL, 1},
      {-1}}},
    {"an unreachable peer: tried again only after its 30 s backoff",
     "down://c",
     {{0, FALSE, FALSE, TRUE, "being probed", 1},
      {0.1, TRUE, FALSE, FALSE, "unreachable (Connection refused); next try",
       1},
      {20, FALSE, FALSE, FALSE, "unreachable (Connection refused)", 1},
      {31, FALSE, FALSE, TRUE, "being probed", 2},
      {-1}}},
};

static void test_probe_table(void)
{
    guint i;
    guint k;

    for (i = 0; i < G_N_ELEMENTS(probe_cases); i++) {
        const ProbeCase *t = &probe_cases[i];
        g_autoptr(PeerProbes) pp = peer_probes_new(fake_read, fake_clock);

        hang_released = FALSE;
        set_clock(0);
        for (k = 0; t->steps[k].at_s >= 0; k++) {
            const Step *st = &t->steps[k];
            gboolean pending = TRUE;
            MigratePeer *p;

            if (st->release) {
                set_clock(S(st->at_s));
                release_hang();
                wait_idle(pp);
            }
            if (st->idle)
                wait_idle(pp);
            set_clock(S(st->at_s));
            /* Nothing known before the first get, and a peek starts no
             * probe. */
            if (k == 0) {
                g_assert_false(peer_probes_awaiting(pp, t->uri, fake_clock()));
                g_assert_cmpuint(started(pp), ==, 0);
            }
            p = peer_probes_get(pp, t->uri, fake_clock(), &pending);
            g_test_message("%s, at %.1f s: pending %d, error %s", t->name,
                           st->at_s, pending, p->error ? p->error : "none");
            g_assert_cmpstr(p->uri, ==, t->uri);
            g_assert_cmpint(pending, ==, st->pending);
            /* The same answer, where it cannot change in between: no
             * probe under way, or one on "hang" (a fake probe of another
             * peer may end before the peek). */
            if (!st->pending || g_str_has_prefix(t->uri, "hang"))
                g_assert_cmpint(peer_probes_awaiting(pp, t->uri, fake_clock()),
                                ==, st->pending);
            if (st->error) {
                g_assert_nonnull(p->error);
                g_assert_nonnull(strstr(p->error, st->error));
                g_assert_false(p->reachable);
            } else {
                g_assert_null(p->error);
                g_assert_true(p->reachable);
                g_assert_cmpuint(p->free_kib, ==, 4096);
            }
            g_assert_cmpuint(started(pp), ==, st->started);
            migrate_peer_free(p);
        }
        release_hang();
        wait_idle(pp);
    }
}

/* Freeing the probes while one is stuck neither waits for it nor leaves
 * it a freed table to write its answer into. */
static void test_free_with_a_probe_stuck(void)
{
    PeerProbes *pp = peer_probes_new(fake_read, NULL);
    gboolean pending;
    MigratePeer *p;

    hang_released = FALSE;
    p = peer_probes_get(pp, "hang://d", g_get_monotonic_time(), &pending);
    g_assert_true(pending);
    migrate_peer_free(p);
    peer_probes_free(pp);
    release_hang();
    /* The probe's thread ends after its owner let go; AddressSanitizer and
     * valgrind (make valgrind) see a write to freed memory here. */
    g_usleep(50 * 1000);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* The probes warn of unreachable and silent peers, as they should. */
    g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
    g_test_add_func("/peer-probe/table", test_probe_table);
    g_test_add_func("/peer-probe/free-with-a-probe-stuck",
                    test_free_with_a_probe_stuck);
    return g_test_run();
}
