/* Snapshot collection against libvirt's in-process test driver: checks
 * the plumbing (bulk call, per-domain fallback, node facts, RPC counts),
 * not behaviour, since the test driver's numbers are synthetic. */
#include <glib/gstdio.h>
#include <string.h>

#include "collect.h"

typedef struct {
    const char *name;
    gboolean force_per_domain;
    gboolean expect_bulk;
} CollectCase;

static const CollectCase cases[] = {
    /* The test driver answers the bulk call with the STATE group only,
     * so the VCPU and BALLOON figures come from per-domain calls. */
    {"bulk-then-complete", FALSE, TRUE},
    {"per-domain", TRUE, FALSE},
};

static void test_collect_table(void)
{
    guint i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        const CollectCase *c = &cases[i];
        g_autoptr(Conn) conn = conn_new("test:///default", TRUE);
        g_autoptr(GError) err = NULL;
        g_autoptr(Snapshot) snap = NULL;
        const DomainSample *d;

        g_test_message("case %s", c->name);
        g_assert_true(conn_open_now(conn, &err));
        conn->bulk_unsupported = c->force_per_domain;
        snap = snapshot_collect(conn,
                                COLLECT_VCPU | COLLECT_AFFINITY |
                                    COLLECT_BALLOON | COLLECT_NODE_MEMORY,
                                &err);
        g_assert_no_error(err);
        g_assert_nonnull(snap);
        g_assert_cmpint(snap->bulk, ==, c->expect_bulk);
        /* The test driver's nodeinfo counts 16 CPUs, but its CPU map
         * (fixed, whatever the node) has 8, of which 0, 2 and 4 are
         * online: the map is what pins and affinities are made of. */
        g_assert_cmpuint(snap->node.npcpus, ==, 8);
        g_assert_cmpuint(snapshot_online_count(snap), ==, 3);
        g_assert_cmpuint(snap->node.free_kib, >, 0);
        g_assert_cmpuint(snap->domains->len, ==, 1);
        d = g_ptr_array_index(snap->domains, 0);
        g_assert_cmpstr(d->name, ==, "test");
        g_assert_cmpuint(d->nvcpus, ==, 2);
        g_assert_true(d->has_balloon_stats);
        g_assert_cmpuint(d->balloon.actual_kib, ==, d->cur_kib);
        g_assert_cmpuint(d->max_kib, >=, d->cur_kib);
        g_assert_cmpuint(d->vcpus[0].time_ns, >, 0);
        g_assert_cmpuint(
            cpumap_count(d->vcpus[0].cpumap, snapshot_maplen(snap), 8), ==, 8);
        g_assert_cmpuint(snap->rpc_calls, >=, 3);
    }
}

/* A scale file with many domains goes through the same path. */
static void test_collect_many(void)
{
    g_autofree char *dir = g_dir_make_tmp("aos-scale-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "node.xml", NULL);
    g_autofree char *uri = g_strdup_printf("test://%s", path);
    g_autoptr(GString) xml = g_string_new("<node>\n");
    g_autoptr(Conn) conn = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(Snapshot) snap = NULL;
    guint i;
    const guint n = 200;

    for (i = 0; i < n; i++)
        g_string_append_printf(
            xml,
            "<domain type='test'><name>d%u</name>"
            "<memory unit='MiB'>2048</memory>"
            "<currentMemory unit='MiB'>512</currentMemory>"
            "<vcpu>1</vcpu><os><type>hvm</type></os></domain>\n",
            i);
    g_string_append(xml, "</node>\n");
    g_assert_true(g_file_set_contents(path, xml->str, -1, &err));
    conn = conn_new(uri, TRUE);
    g_assert_true(conn_open_now(conn, &err));
    snap = snapshot_collect(conn, COLLECT_VCPU | COLLECT_BALLOON, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(snap->domains->len, ==, n);
    g_remove(path);
    g_rmdir(dir);
}

/* A host whose CPUs are not all online, or not numbered densely: the
 * node below has CPUs 0-7 present and 3 online, which the test driver's
 * CPU map shows as 0, 2 and 4 (that map is fixed in the driver; the node
 * is written to agree with it). */
static void test_collect_sparse_cpus(void)
{
    g_autofree char *dir = g_dir_make_tmp("aos-cpus-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "node.xml", NULL);
    g_autofree char *uri = g_strdup_printf("test://%s", path);
    static const char xml[] =
        "<node><cpu><mhz>2000</mhz><model>i686</model><active>3</active>"
        "<nodes>1</nodes><sockets>1</sockets><cores>8</cores>"
        "<threads>1</threads></cpu><memory>8388608</memory>"
        "<domain type='test'><name>g</name><memory unit='MiB'>2048</memory>"
        "<currentMemory unit='MiB'>512</currentMemory><vcpu>2</vcpu>"
        "<os><type>hvm</type></os></domain></node>\n";
    g_autoptr(Conn) conn = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(Snapshot) snap = NULL;
    const DomainSample *d;
    guint c;

    g_assert_true(g_file_set_contents(path, xml, -1, &err));
    conn = conn_new(uri, TRUE);
    g_assert_true(conn_open_now(conn, &err));
    snap = snapshot_collect(conn, COLLECT_VCPU | COLLECT_AFFINITY, &err);
    g_assert_no_error(err);
    /* The highest CPU id + 1, not the 3 online CPUs: CPU 4 is online and
     * must be seen. */
    g_assert_cmpuint(snap->node.npcpus, ==, 8);
    g_assert_cmpuint(snapshot_online_count(snap), ==, 3);
    for (c = 0; c < 8; c++)
        g_assert_cmpint(snapshot_cpu_online(snap, c), ==,
                        c == 0 || c == 2 || c == 4);
    g_assert_false(snapshot_cpu_online(snap, 8));
    d = g_ptr_array_index(snap->domains, 0);
    g_assert_cmpuint(cpumap_count(d->vcpus[0].cpumap, snapshot_maplen(snap),
                                  snap->node.npcpus),
                     ==, 8);
    g_remove(path);
    g_rmdir(dir);
}

/* Definitions are read once per run of a guest: the second snapshot
 * shares the first one's string and spends no call on it, and a reload
 * (conn_forget_definitions) reads them again. */
static void test_collect_definitions(void)
{
    g_autofree char *dir = g_dir_make_tmp("aos-defs-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "node.xml", NULL);
    g_autofree char *uri = g_strdup_printf("test://%s", path);
    static const char xml[] =
        "<node><domain type='test'><name>g</name>"
        "<memory unit='MiB'>2048</memory><vcpu cpuset='0-3'>2</vcpu>"
        "<os><type>hvm</type></os></domain></node>\n";
    const guint what = COLLECT_VCPU | COLLECT_AFFINITY | COLLECT_DEFINITION;
    g_autoptr(Conn) conn = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(Snapshot) first = NULL;
    g_autoptr(Snapshot) second = NULL;
    g_autoptr(Snapshot) third = NULL;
    g_autoptr(Snapshot) plain = NULL;
    const DomainSample *d1, *d2, *d3;

    g_assert_true(g_file_set_contents(path, xml, -1, &err));
    conn = conn_new(uri, TRUE);
    g_assert_true(conn_open_now(conn, &err));
    plain = snapshot_collect(conn, what & ~COLLECT_DEFINITION, &err);
    g_assert_no_error(err);
    first = snapshot_collect(conn, what, &err);
    g_assert_no_error(err);
    second = snapshot_collect(conn, what, &err);
    g_assert_no_error(err);
    g_assert_false(plain->definitions);
    g_assert_null(((DomainSample *)g_ptr_array_index(plain->domains, 0))
                      ->definition);
    g_assert_true(first->definitions);
    d1 = g_ptr_array_index(first->domains, 0);
    d2 = g_ptr_array_index(second->domains, 0);
    g_assert_nonnull(d1->definition);
    g_assert_nonnull(strstr(d1->definition, "cpuset='0-3'"));
    g_assert_true(d1->persistent);
    g_assert_true(d1->definition == d2->definition);
    g_assert_cmpuint(first->rpc_calls, >, plain->rpc_calls);
    g_assert_cmpuint(second->rpc_calls, ==, plain->rpc_calls);

    conn_forget_definitions(conn);
    third = snapshot_collect(conn, what, &err);
    g_assert_no_error(err);
    d3 = g_ptr_array_index(third->domains, 0);
    g_assert_true(d3->definition != d1->definition);
    g_assert_cmpstr(d3->definition, ==, d1->definition);
    g_assert_cmpuint(third->rpc_calls, ==, first->rpc_calls);
    g_remove(path);
    g_rmdir(dir);
}

/* The topology is read once per connection, and again after a
 * reconnect; every snapshot holds the connection's. */
static void test_collect_topology(void)
{
    g_autoptr(Conn) conn = conn_new("test:///default", TRUE);
    g_autoptr(GError) err = NULL;
    g_autoptr(Snapshot) first = NULL;
    g_autoptr(Snapshot) second = NULL;
    g_autoptr(Snapshot) third = NULL;
    g_autofree char *line = NULL;

    g_assert_true(conn_open_now(conn, &err));
    first = snapshot_collect(conn, COLLECT_TOPOLOGY, &err);
    g_assert_no_error(err);
    second = snapshot_collect(conn, COLLECT_TOPOLOGY, &err);
    g_assert_no_error(err);
    g_assert_true(first->topology_read);
    g_assert_false(second->topology_read);
    g_assert_nonnull(first->topology);
    g_assert_null(first->topology_problem);
    g_assert_true(first->topology == second->topology);
    g_assert_cmpuint(first->rpc_calls, ==, second->rpc_calls + 1);
    /* The test driver's capabilities: two cells of 8 CPUs. */
    line = topology_describe(first->topology);
    g_assert_cmpstr(line, ==, "2 NUMA nodes, 2 sockets, 16 cores, 16 CPUs");

    conn_drop(conn);
    third = snapshot_collect(conn, COLLECT_TOPOLOGY, &err);
    g_assert_no_error(err);
    g_assert_true(third->topology_read);
    g_assert_true(third->topology != first->topology);
    g_assert_cmpuint(third->topology->ncpus, ==, 16);
}

/* Unreachable URIs fail with the URI in the message. */
static void test_unreachable(void)
{
    g_autoptr(Conn) conn = conn_new("test:///nonexistent/file.xml", TRUE);
    g_autoptr(GError) err = NULL;

    g_assert_false(conn_open_now(conn, &err));
    g_assert_nonnull(strstr(err->message, "test:///nonexistent/file.xml"));
    /* In daemon mode the failure is logged once and retried later. */
    g_test_expect_message("aos", G_LOG_LEVEL_WARNING, "*retrying with backoff");
    g_assert_null(conn_get(conn, NULL));
    g_test_assert_expected_messages();
    g_assert_null(conn_get(conn, NULL));
    g_assert_true(conn->outage.active);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/collect/test-driver", test_collect_table);
    g_test_add_func("/collect/many-domains", test_collect_many);
    g_test_add_func("/collect/sparse-cpus", test_collect_sparse_cpus);
    g_test_add_func("/collect/definitions", test_collect_definitions);
    g_test_add_func("/collect/topology", test_collect_topology);
    g_test_add_func("/collect/unreachable", test_unreachable);
    return g_test_run();
}
