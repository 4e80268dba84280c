/* The vCPU affinity kept between snapshots (common/affinity_cache.c),
 * watching libvirt's in-process test driver.  That driver raises
 * lifecycle events but no tunable event on a pin, so the tunable path is
 * shown on the real guests (tests/integration/test_affinity_events.py);
 * here its effect, affinity_cache_forget, is driven directly. */
#include <string.h>

#include "affinity_cache.h"
#include "conn.h"
#include "event_loop.h"

#define MAPLEN 1 /* the test driver's 8 CPUs */
#define T0 (1000 * G_USEC_PER_SEC)

typedef enum {
    CHANGE_NONE,
    CHANGE_FORGET,
    CHANGE_NEW_ID,
    CHANGE_MORE_VCPUS,
    CHANGE_UNWATCH,
    CHANGE_NOT_PLACED, /* the caller no longer places by the group */
} Change;

typedef struct {
    const char *name;
    gint pins[3];        /* per vCPU: its pCPU, or -1 for CPUs 0, 2 and 4 */
    guint nvcpus;        /* as first read */
    Change change;       /* after the read was kept, or during it */
    gboolean during;     /* the change comes between take and keep */
    gint64 later_us;     /* the second take, after T0 */
    gboolean kept;       /* the second take serves the kept copy */
    const char *why;     /* pattern of the reason given, NULL: none */
    gboolean placed;     /* the caller places by CPUs 0, 2 and 4 */
} KeepCase;

static const KeepCase keep_cases[] = {
    {"unchanged", {0, 2}, 2, CHANGE_NONE, FALSE, G_USEC_PER_SEC, TRUE, NULL},
    {"just under the least age", {0, 2}, 2, CHANGE_NONE, FALSE,
     AFFINITY_MAX_AGE_US - 1, TRUE, NULL},
    {"past the greatest age", {0, 2}, 2, CHANGE_NONE, FALSE,
     AFFINITY_MAX_AGE_US * 3 / 2, FALSE, "kept for 90 s"},
    /* The pCPU it last ran on changes by itself: read every tick. */
    {"a vCPU free on several CPUs", {0, -1}, 2, CHANGE_NONE, FALSE,
     G_USEC_PER_SEC, FALSE, NULL},
    {"pinned since", {0, 2}, 2, CHANGE_FORGET, FALSE, G_USEC_PER_SEC, FALSE,
     "pinned by this test"},
    {"pinned while being read", {0, 2}, 2, CHANGE_FORGET, TRUE,
     G_USEC_PER_SEC, FALSE, NULL},
    {"runs again under a new id", {0, 2}, 2, CHANGE_NEW_ID, FALSE,
     G_USEC_PER_SEC, FALSE, "*new id"},
    {"a vCPU was added", {0, 2, 4}, 2, CHANGE_MORE_VCPUS, FALSE,
     G_USEC_PER_SEC, FALSE, "*vCPU*count changed"},
    {"events no longer heard", {0, 2}, 2, CHANGE_UNWATCH, FALSE,
     G_USEC_PER_SEC, FALSE, NULL},
    /* A group the caller places by is where the vCPU's time went. */
    {"a vCPU pinned to a group placed by", {0, -1}, 2, CHANGE_NONE, FALSE,
     G_USEC_PER_SEC, TRUE, NULL, TRUE},
    {"every vCPU in a group placed by", {-1, -1}, 2, CHANGE_NONE, FALSE,
     G_USEC_PER_SEC, TRUE, NULL, TRUE},
    {"a group no longer placed by", {0, -1}, 2, CHANGE_NOT_PLACED, FALSE,
     G_USEC_PER_SEC, FALSE, "*no longer one placed by", TRUE},
    {"a group placed by, then pinned", {-1, -1}, 2, CHANGE_FORGET, FALSE,
     G_USEC_PER_SEC, FALSE, "pinned by this test", TRUE},
};

/* The caller's groups in the table: CPUs 0, 2 and 4, while *placing. */
static gboolean places_by_024(gconstpointer placing, const guint8 *map,
                              gsize maplen)
{
    return *(const gboolean *)placing && maplen == MAPLEN && map[0] == 0x15;
}

static DomainSample *sample(Snapshot *snap, const KeepCase *c, guint nvcpus)
{
    DomainSample *d = snapshot_add_domain(
        snap, "6695eb01-f6a4-8304-79aa-97f2502e193f", "g", nvcpus);
    guint k;

    d->id = 7;
    for (k = 0; k < nvcpus; k++) {
        if (c->pins[k] >= 0) {
            cpumap_set(d->vcpus[k].cpumap, MAPLEN, (guint)c->pins[k]);
        } else {
            cpumap_set(d->vcpus[k].cpumap, MAPLEN, 0);
            cpumap_set(d->vcpus[k].cpumap, MAPLEN, 2);
            cpumap_set(d->vcpus[k].cpumap, MAPLEN, 4);
        }
        d->vcpus[k].last_pcpu = c->pins[k] >= 0 ? c->pins[k] : 4;
    }
    return d;
}

static void change(AffinityCache *cache, DomainSample **d, Snapshot *snap,
                   const KeepCase *c, gboolean *placing)
{
    switch (c->change) {
    case CHANGE_NOT_PLACED:
        *placing = FALSE;
        break;
    case CHANGE_NONE:
        break;
    case CHANGE_FORGET:
        affinity_cache_forget(cache, (*d)->uuid, "pinned by this test");
        break;
    case CHANGE_NEW_ID:
        (*d)->id++;
        break;
    case CHANGE_MORE_VCPUS:
        *d = sample(snap, c, 3);
        break;
    case CHANGE_UNWATCH:
        affinity_cache_unwatch(cache);
        break;
    }
}

static void test_keep_table(void)
{
    g_autoptr(Conn) conn = conn_new("test:///default", TRUE);
    g_autoptr(GError) err = NULL;
    guint i;

    g_assert_true(event_loop_start(&err));
    g_assert_true(conn_open_now(conn, &err));
    for (i = 0; i < G_N_ELEMENTS(keep_cases); i++) {
        const KeepCase *c = &keep_cases[i];
        g_autoptr(AffinityCache) cache = affinity_cache_new();
        g_autoptr(Snapshot) snap = snapshot_new();
        g_autofree char *why = NULL;
        DomainSample *d;
        guint token;
        gboolean kept;
        gboolean placing = c->placed;
        guint k;

        g_test_message("case %s", c->name);
        if (c->placed)
            affinity_cache_set_groups(cache, places_by_024, &placing);
        snap->node.npcpus = 8;
        /* libvirt takes one registration of a callback per connection:
         * each case unwatches at its end. */
        g_assert_true(affinity_cache_watch(cache, conn->conn, &err));
        d = sample(snap, c, c->nvcpus);
        g_assert_false(affinity_cache_take(cache, d, MAPLEN, T0, &token, &why));
        g_assert_null(why);
        if (c->during)
            change(cache, &d, snap, c, &placing);
        affinity_cache_keep(cache, d, MAPLEN, T0, token);
        if (!c->during)
            change(cache, &d, snap, c, &placing);
        /* What the next snapshot would hold before the cache fills it. */
        for (k = 0; k < d->nvcpus; k++) {
            memset(d->vcpus[k].cpumap, 0, MAPLEN);
            d->vcpus[k].last_pcpu = -1;
        }
        kept = affinity_cache_take(cache, d, MAPLEN, T0 + c->later_us, &token,
                                   &why);
        g_assert_cmpint(kept, ==, c->kept);
        if (c->why)
            g_assert_true(why && g_pattern_match_simple(c->why, why));
        else
            g_assert_null(why);
        for (k = 0; kept && k < d->nvcpus; k++) {
            g_assert_cmpint(
                cpumap_single(d->vcpus[k].cpumap, MAPLEN, 8), ==, c->pins[k]);
            g_assert_cmpint(cpumap_count(d->vcpus[k].cpumap, MAPLEN, 8), ==,
                            c->pins[k] >= 0 ? 1 : 3);
            /* In a group, where it last ran is not kept. */
            g_assert_cmpint(d->vcpus[k].last_pcpu, ==, c->pins[k]);
        }
        affinity_cache_unwatch(cache);
    }
}

/* Before an event loop runs, nothing is kept and every take says read. */
static void test_no_event_loop(void)
{
    g_autoptr(Conn) conn = conn_new("test:///default", TRUE);
    g_autoptr(AffinityCache) cache = affinity_cache_new();
    g_autoptr(GError) err = NULL;
    g_autoptr(Snapshot) snap = snapshot_new();
    g_autofree char *why = NULL;
    DomainSample *d;
    guint token;

    g_assert_false(event_loop_running());
    g_assert_true(conn_open_now(conn, &err));
    g_assert_false(affinity_cache_watch(cache, conn->conn, &err));
    g_assert_nonnull(strstr(err->message, "event loop"));
    snap->node.npcpus = 8;
    d = sample(snap, &keep_cases[0], 2);
    affinity_cache_keep(cache, d, MAPLEN, T0, 0);
    g_assert_false(affinity_cache_take(cache, d, MAPLEN, T0, &token, &why));
    g_assert_cmpuint(affinity_cache_size(cache), ==, 0);
}

/* A cache watching its own connection to the test driver, and one
 * guest of two vCPUs pinned to pCPUs 0 and 2. */
typedef struct {
    Conn *conn;
    AffinityCache *cache;
    Snapshot *snap;
    DomainSample *d;
} Bed;

static void bed_open(Bed *b, gboolean readonly)
{
    g_autoptr(GError) err = NULL;

    g_assert_true(event_loop_start(&err));
    b->conn = conn_new("test:///default", readonly);
    g_assert_true(conn_open_now(b->conn, &err));
    b->cache = affinity_cache_new();
    g_assert_true(affinity_cache_watch(b->cache, b->conn->conn, &err));
    b->snap = snapshot_new();
    b->snap->node.npcpus = 8;
    b->d = sample(b->snap, &keep_cases[0], 2);
}

static void bed_close(Bed *b)
{
    affinity_cache_unwatch(b->cache);
    affinity_cache_unref(b->cache);
    snapshot_free(b->snap);
    conn_free(b->conn);
}

/* The first read of the guest, kept. */
static void read_and_keep(Bed *b)
{
    g_autofree char *why = NULL;
    guint token;

    g_assert_false(
        affinity_cache_take(b->cache, b->d, MAPLEN, T0, &token, &why));
    affinity_cache_keep(b->cache, b->d, MAPLEN, T0, token);
}

/* Guests no longer listed are dropped at the sweep. */
static void test_sweep(void)
{
    Bed b;

    bed_open(&b, TRUE);
    read_and_keep(&b);
    affinity_cache_sweep(b.cache);
    g_assert_cmpuint(affinity_cache_size(b.cache), ==, 1);
    /* A snapshot without the guest. */
    affinity_cache_sweep(b.cache);
    g_assert_cmpuint(affinity_cache_size(b.cache), ==, 0);
    bed_close(&b);
}

/* A guest started again raises a lifecycle event on libvirt's event
 * thread, and its kept affinity is read again. */
static void test_lifecycle_event(void)
{
    g_autoptr(virDomain) dom = NULL;
    g_autofree char *why = NULL;
    guint token;
    gint64 deadline;
    gboolean kept = TRUE;
    Bed b;

    bed_open(&b, FALSE);
    dom = virDomainLookupByName(b.conn->conn, "test");
    g_assert_nonnull(dom);
    g_assert_cmpint(virDomainGetUUIDString(dom, b.d->uuid), ==, 0);
    read_and_keep(&b);
    g_assert_cmpint(virDomainDestroy(dom), ==, 0);
    g_assert_cmpint(virDomainCreate(dom), ==, 0);
    /* The sample keeps its id, as a guest restored under it would. */
    deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (kept && g_get_monotonic_time() < deadline) {
        g_clear_pointer(&why, g_free);
        kept = affinity_cache_take(b.cache, b.d, MAPLEN, T0, &token, &why);
        if (kept)
            g_usleep(10000);
    }
    g_assert_false(kept);
    g_assert_cmpstr(why, ==, "the guest started (lifecycle event)");
    g_clear_pointer(&dom, virDomainFree);
    bed_close(&b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* First: the event loop is process-wide and cannot be stopped. */
    g_test_add_func("/affinity/no-event-loop", test_no_event_loop);
    g_test_add_func("/affinity/keep", test_keep_table);
    g_test_add_func("/affinity/sweep", test_sweep);
    g_test_add_func("/affinity/lifecycle-event", test_lifecycle_event);
    return g_test_run();
}
