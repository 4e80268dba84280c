/* The host topology read from capabilities XML: fixtures of hosts this
 * machine is not (tests/fixtures/caps/README), and broken documents. */
#include <string.h>

#include "test_fixture.h"
#include "topology.h"

typedef struct {
    const char *file;
    guint ncpus, nnodes, nsockets, ncores, ncaches, cache_level, nundescribed;
    const char *describe;
} TopoCase;

static const TopoCase topo_cases[] = {
    {"topo-2s64t-smt.xml", 64, 2, 2, 32, 2, 3, 0,
     "2 NUMA nodes, 2 sockets, 32 cores, 64 CPUs (2 SMT threads a core), "
     "2 L3 caches"},
    {"topo-4node.xml", 32, 4, 4, 32, 0, 0, 0,
     "4 NUMA nodes, 4 sockets, 32 cores, 32 CPUs"},
    {"topo-offline.xml", 8, 1, 1, 4, 1, 3, 2,
     "1 NUMA node, 1 socket, 4 cores, 6 CPUs (2 SMT threads a core), 1 L3 "
     "cache, 2 CPUs without topology (offline)"},
    {"test-driver.xml", 16, 2, 2, 16, 0, 0, 0,
     "2 NUMA nodes, 2 sockets, 16 cores, 16 CPUs"},
    /* The test host's own kind. */
    {"host-2596120000-noscale.xml", 2, 1, 1, 2, 1, 3, 0,
     "1 NUMA node, 1 socket, 2 cores, 2 CPUs, 1 L3 cache"},
};

static void test_fixtures(gconstpointer data)
{
    const TopoCase *c = data;
    g_autofree char *xml = read_fixture("caps", c->file);
    g_autoptr(GError) err = NULL;
    g_autoptr(Topology) t = topology_from_capabilities(xml, &err);
    g_autofree char *line = NULL;

    g_assert_no_error(err);
    g_assert_cmpuint(t->ncpus, ==, c->ncpus);
    g_assert_cmpuint(t->nnodes, ==, c->nnodes);
    g_assert_cmpuint(t->nsockets, ==, c->nsockets);
    g_assert_cmpuint(t->ncores, ==, c->ncores);
    g_assert_cmpuint(t->ncaches, ==, c->ncaches);
    g_assert_cmpuint(t->cache_level, ==, c->cache_level);
    g_assert_cmpuint(t->nundescribed, ==, c->nundescribed);
    line = topology_describe(t);
    g_assert_cmpstr(line, ==, c->describe);
}

/* Which CPUs share a core, a cache and a node, CPU by CPU. */
typedef struct {
    const char *file;
    guint a, b;
    gboolean same_core, same_cache, same_node;
} PairCase;

static const PairCase pair_cases[] = {
    /* Linux numbers the second threads after all first ones. */
    {"topo-2s64t-smt.xml", 0, 32, TRUE, TRUE, TRUE},
    {"topo-2s64t-smt.xml", 0, 1, FALSE, TRUE, TRUE},
    {"topo-2s64t-smt.xml", 15, 47, TRUE, TRUE, TRUE},
    {"topo-2s64t-smt.xml", 15, 16, FALSE, FALSE, FALSE},
    {"topo-2s64t-smt.xml", 31, 63, TRUE, TRUE, TRUE},
    {"topo-4node.xml", 7, 8, FALSE, TRUE, FALSE},
    {"topo-4node.xml", 0, 7, FALSE, TRUE, TRUE},
    /* CPU 1's sibling 5 is offline: its core has one thread now. */
    {"topo-offline.xml", 0, 4, TRUE, TRUE, TRUE},
    {"topo-offline.xml", 1, 2, FALSE, TRUE, TRUE},
};

static void test_pairs(void)
{
    guint i;

    for (i = 0; i < G_N_ELEMENTS(pair_cases); i++) {
        const PairCase *c = &pair_cases[i];
        g_autofree char *xml = read_fixture("caps", c->file);
        g_autoptr(Topology) t = topology_from_capabilities(xml, NULL);
        const TopoCpu *a;
        const TopoCpu *b;

        g_test_message("%s: CPUs %u and %u", c->file, c->a, c->b);
        g_assert_nonnull(t);
        a = &t->cpus[c->a];
        b = &t->cpus[c->b];
        g_assert_true(a->described && b->described);
        g_assert_cmpint(a->core == b->core, ==, c->same_core);
        g_assert_cmpint(a->cache == b->cache, ==, c->same_cache);
        g_assert_cmpint(a->node == b->node, ==, c->same_node);
    }
}

static void test_offline_cpus(void)
{
    g_autofree char *xml = read_fixture("caps", "topo-offline.xml");
    g_autoptr(Topology) t = topology_from_capabilities(xml, NULL);
    guint i;

    g_assert_nonnull(t);
    for (i = 0; i < t->ncpus; i++) {
        gboolean offline = i == 3 || i == 5;

        g_assert_cmpint(t->cpus[i].described, ==, !offline);
        g_assert_cmpint(t->cpus[i].node, ==, 0);
        if (offline) {
            g_assert_cmpint(t->cpus[i].core, ==, TOPO_NONE);
            g_assert_cmpuint(t->cpus[i].threads, ==, 0);
        }
    }
    g_assert_cmpuint(t->cpus[1].threads, ==, 1);
    g_assert_cmpuint(t->cpus[0].threads, ==, 2);
}

/* Documents that are not a topology, each refused with its reason. */
typedef struct {
    const char *name;
    const char *file; /* a fixture, or NULL for text */
    const char *text;
    TopologyError code;
    const char *needle;
} BadCase;

#define CELL(cpus)                                                             \
    "<capabilities><host><topology><cells num='1'><cell id='0'><cpus>" cpus    \
    "</cpus></cell></cells></topology></host></capabilities>"

static const BadCase bad_cases[] = {
    {"malformed", "malformed.xml", NULL, TOPOLOGY_ERROR_XML, "malformed"},
    {"a domain", "not-capabilities.xml", NULL, TOPOLOGY_ERROR_XML,
     "expected <capabilities>"},
    {"no cells", "counter-no-frequency.xml", NULL, TOPOLOGY_ERROR_MISSING,
     "no CPUs"},
    {"empty", NULL, "", TOPOLOGY_ERROR_XML, "capabilities XML is empty"},
    {"CPU twice", NULL,
     CELL("<cpu id='0' socket_id='0' core_id='0' siblings='0'/>"
          "<cpu id='0' socket_id='0' core_id='0' siblings='0'/>"),
     TOPOLOGY_ERROR_INVALID, "CPU 0 twice"},
    {"not its own sibling", NULL,
     CELL("<cpu id='1' socket_id='0' core_id='0' siblings='0'/>"),
     TOPOLOGY_ERROR_INVALID, "without itself"},
    {"siblings not a list", NULL,
     CELL("<cpu id='1' socket_id='0' core_id='0' siblings='one'/>"),
     TOPOLOGY_ERROR_INVALID, "siblings 'one'"},
    {"id not a number", NULL,
     CELL("<cpu id='x' socket_id='0' core_id='0' siblings='0'/>"),
     TOPOLOGY_ERROR_INVALID, "<cpu id='x'>"},
    {"id too large", NULL,
     CELL("<cpu id='70000' socket_id='0' core_id='0' siblings='70000'/>"),
     TOPOLOGY_ERROR_INVALID, "<cpu id='70000'>"},
    {"negative socket", NULL,
     CELL("<cpu id='0' socket_id='-1' core_id='0' siblings='0'/>"),
     TOPOLOGY_ERROR_INVALID, "socket_id='-1'"},
    {"CPU in two caches", NULL,
     "<capabilities><host><topology><cells num='1'><cell id='0'><cpus>"
     "<cpu id='0' socket_id='0' core_id='0' siblings='0'/></cpus></cell>"
     "</cells></topology><cache><bank id='0' level='3' cpus='0'/>"
     "<bank id='1' level='3' cpus='0'/></cache></host></capabilities>",
     TOPOLOGY_ERROR_INVALID, "two L3 cache banks"},
};

static void test_bad(gconstpointer data)
{
    const BadCase *c = data;
    g_autofree char *xml =
        c->file ? read_fixture("caps", c->file) : g_strdup(c->text);
    g_autoptr(GError) err = NULL;
    g_autoptr(Topology) t = topology_from_capabilities(xml, &err);

    g_assert_null(t);
    g_assert_error(err, TOPOLOGY_ERROR, (gint)c->code);
    g_test_message("%s", err->message);
    g_assert_nonnull(strstr(err->message, c->needle));
}

int main(int argc, char **argv)
{
    guint i;

    g_test_init(&argc, &argv, NULL);
    for (i = 0; i < G_N_ELEMENTS(topo_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/topology/fixture/%s", topo_cases[i].file);

        g_test_add_data_func(path, &topo_cases[i], test_fixtures);
    }
    for (i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/topology/bad/%s", bad_cases[i].name);

        g_test_add_data_func(path, &bad_cases[i], test_bad);
    }
    g_test_add_func("/topology/pairs", test_pairs);
    g_test_add_func("/topology/offline", test_offline_cpus);
    return g_test_run();
}
