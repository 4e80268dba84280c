/* Slots at each granularity on the topology fixtures (tests/fixtures/caps),
 * the SMT capacity model, and the assignment parting busy threads of one
 * core. */
#include <string.h>

#include "../../vcpu_scheduler/actions.h"
#include "../../vcpu_scheduler/assign.h"
#include "../../vcpu_scheduler/policy.h"
#include "../../vcpu_scheduler/slots.h"
#include "../sim/topo_sim.h"
#include "cpuset.h"
#include "test_fixture.h"

typedef struct {
    const char *file; /* NULL: no topology */
    guint npcpus;     /* the snapshot's, 0: the topology's */
    const char *offline;
    const char *exclude;
    Granularity asked;
    Granularity grain; /* in use */
    gboolean fallback;
    guint n, nnodes, ncores;
    const char *first_label; /* of slot 0 */
    double first_capacity;
    const char *last_label;
} SlotCase;

static const SlotCase slot_cases[] = {
    /* The test host's kind: auto is cpu on a small host. */
    {"host-2596120000-noscale.xml", 0, NULL, NULL, GRAIN_AUTO, GRAIN_CPU, FALSE,
     2, 1, 0, "0", 100, "1"},
    /* 64 CPUs: auto is core; a core is its two threads, 1.15 of one. */
    {"topo-2s64t-smt.xml", 0, NULL, NULL, GRAIN_AUTO, GRAIN_CORE, FALSE, 32, 2,
     0, "0,32", 115, "31,63"},
    /* cpu on an SMT host: every thread a slot, 32 shared cores. */
    {"topo-2s64t-smt.xml", 0, NULL, NULL, GRAIN_CPU, GRAIN_CPU, FALSE, 64, 2,
     32, "0", 100, "63"},
    /* An excluded thread leaves its sibling a core of one. */
    {"topo-2s64t-smt.xml", 0, NULL, "0", GRAIN_CPU, GRAIN_CPU, FALSE, 63, 2, 31,
     "1", 100, "63"},
    {"topo-2s64t-smt.xml", 0, NULL, "0", GRAIN_CORE, GRAIN_CORE, FALSE, 32, 2,
     0, "1,33", 115, "32"},
    /* The lone thread of a core whose sibling is excluded: one thread. */
    {"topo-2s64t-smt.xml", 0, NULL, "0-31", GRAIN_CORE, GRAIN_CORE, FALSE, 32,
     2, 0, "32", 100, "63"},
    /* The L3 of a socket: 16 cores of 2 threads. */
    {"topo-2s64t-smt.xml", 0, NULL, NULL, GRAIN_CACHE, GRAIN_CACHE, FALSE, 2, 2,
     0, "0-15,32-47", 1840, "16-31,48-63"},
    {"topo-2s64t-smt.xml", 0, NULL, NULL, GRAIN_NODE, GRAIN_NODE, FALSE, 2, 2,
     0, "0-15,32-47", 1840, "16-31,48-63"},
    /* No cache banks: cache falls back to cpu. */
    {"topo-4node.xml", 0, NULL, NULL, GRAIN_CACHE, GRAIN_CPU, TRUE, 32, 4, 0,
     "0", 100, "31"},
    {"topo-4node.xml", 0, NULL, "0-7", GRAIN_NODE, GRAIN_NODE, FALSE, 3, 3, 0,
     "8-15", 800, "24-31"},
    /* Offline CPUs 3 and 5 are in no slot; cores 0,4 and 2,6 keep two
     * threads, 1 and 7 are left with one. */
    {"topo-offline.xml", 0, "3,5", NULL, GRAIN_CORE, GRAIN_CORE, FALSE, 4, 1, 0,
     "0,4", 115, "7"},
    {"topo-offline.xml", 0, "3,5", NULL, GRAIN_CPU, GRAIN_CPU, FALSE, 6, 1, 2,
     "0", 100, "7"},
    /* No topology: auto and cpu need none; core falls back. */
    {NULL, 4, NULL, NULL, GRAIN_AUTO, GRAIN_CPU, FALSE, 4, 0, 0, "0", 100, "3"},
    {NULL, 16, NULL, NULL, GRAIN_AUTO, GRAIN_CPU, TRUE, 16, 0, 0, "0", 100,
     "15"},
    {NULL, 4, NULL, NULL, GRAIN_NODE, GRAIN_CPU, TRUE, 4, 0, 0, "0", 100, "3"},
};

static Snapshot *fixture_snapshot(const SlotCase *c)
{
    Snapshot *snap = snapshot_new();
    g_autoptr(GArray) off = NULL;
    gsize maplen;
    guint i;

    if (c->file) {
        g_autofree char *xml = read_fixture("caps", c->file);
        g_autoptr(GError) err = NULL;

        snap->topology = topology_from_capabilities(xml, &err);
        g_assert_no_error(err);
    }
    snap->node.npcpus = c->npcpus ? c->npcpus : snap->topology->ncpus;
    if (c->offline) {
        g_autoptr(GError) err = NULL;

        off = cpuset_parse(c->offline, &err);
        g_assert_no_error(err);
        maplen = snapshot_maplen(snap);
        snap->node.online = g_malloc0(maplen);
        for (i = 0; i < snap->node.npcpus; i++)
            if (!cpuset_has(off, i))
                cpumap_set(snap->node.online, maplen, i);
    }
    return snap;
}

static void test_slot_case(gconstpointer data)
{
    const SlotCase *c = data;
    g_autoptr(Snapshot) snap = fixture_snapshot(c);
    g_autoptr(GArray) excluded = NULL;
    g_autoptr(Slots) s = NULL;
    g_autofree char *first = NULL;
    g_autofree char *last = NULL;
    guint cpu;
    guint k;

    if (c->exclude) {
        g_autoptr(GError) err = NULL;

        excluded = cpuset_parse(c->exclude, &err);
        g_assert_no_error(err);
    }
    s = slots_build(snap, excluded, c->asked);
    g_assert_cmpint(s->grain, ==, c->grain);
    g_assert_cmpint(s->fallback != NULL, ==, c->fallback);
    g_assert_cmpuint(s->n, ==, c->n);
    g_assert_cmpuint(s->nnodes, ==, c->nnodes);
    g_assert_cmpuint(s->ncores, ==, c->ncores);
    first = slots_label(s, 0);
    last = slots_label(s, s->n - 1);
    g_assert_cmpstr(first, ==, c->first_label);
    g_assert_cmpstr(last, ==, c->last_label);
    g_assert_cmpfloat_with_epsilon(s->slot[0].capacity, c->first_capacity,
                                   1e-9);
    /* Every usable CPU in exactly the slot that lists it. */
    for (cpu = 0; cpu < snap->node.npcpus; cpu++) {
        gboolean usable =
            snapshot_cpu_online(snap, cpu) && !cpuset_has(excluded, cpu);
        gint at = s->slot_of[cpu];

        g_assert_cmpint(at >= 0, ==, usable);
        if (at >= 0)
            g_assert_true(cpuset_has(s->slot[at].cpus, cpu));
    }
    for (k = 0; k < s->n; k++) {
        gsize maplen = snapshot_maplen(snap);
        g_autofree guint8 *map = g_malloc0(maplen);
        guint i;

        for (i = 0; i < s->slot[k].cpus->len; i++)
            cpumap_set(map, maplen, g_array_index(s->slot[k].cpus, guint, i));
        g_assert_cmpint(slots_match(s, map, maplen), ==, (gint)k);
        /* One CPU more or less is no slot (unless a slot is one CPU). */
        if (s->slot[k].cpus->len > 1) {
            map[0] ^= 1;
            g_assert_cmpint(slots_match(s, map, maplen), !=, (gint)k);
        }
    }
}

typedef struct {
    guint threads;
    double capacity;
} SmtCase;

static const SmtCase smt_cases[] = {
    {0, 0}, {1, 100}, {2, 115}, {4, 145}, {8, 205},
};

static void test_smt_case(gconstpointer data)
{
    const SmtCase *c = data;

    g_assert_cmpfloat_with_epsilon(smt_core_capacity(c->threads), c->capacity,
                                   1e-9);
}

/* Four threads on two cores (0,1 and 2,3), as cpu granularity sees an SMT
 * host: busy vCPUs on the threads of one core are parted. */
typedef struct {
    const char *name;
    double load[4];
    gint pinned[4];
    guint moves;
    /* after: number of cores with two items of load >= 50 */
    guint busy_pairs;
} SmtAssignCase;

static const SmtAssignCase smt_assign_cases[] = {
    {"two busy on one core", {100, 100, 0, 0}, {0, 1, -1, -1}, 1, 0},
    {"two busy on two cores", {100, 100, 0, 0}, {0, 2, -1, -1}, 0, 0},
    {"four busy: no room", {100, 100, 100, 100}, {0, 1, 2, 3}, 0, 2},
    {"light pair stays", {30, 30, 0, 0}, {0, 1, -1, -1}, 0, 0},
    {"free busy pair lands apart", {100, 100, 0, 0}, {-1, -1, -1, -1}, 2, 0},
};

static void test_smt_assign_case(gconstpointer data)
{
    const SmtAssignCase *c = data;
    static const double cap[] = {100, 100, 100, 100};
    static const gint core[] = {0, 0, 1, 1};
    static const double core_cap[] = {115, 115};
    AssignHost h = {.n = 4,
                    .capacity = cap,
                    .core = core,
                    .ncores = 2,
                    .core_capacity = core_cap};
    AssignItem items[4];
    guint n = 0;
    guint per_core[2] = {0, 0};
    guint pairs = 0;
    guint i;

    for (i = 0; i < 4; i++) {
        if (c->load[i] <= 0)
            continue;
        items[n++] = (AssignItem){.load = c->load[i],
                                  .pinned = c->pinned[i],
                                  .hint = c->pinned[i] >= 0 ? c->pinned[i] : 0,
                                  .target = -1};
    }
    g_assert_cmpuint(assign_balance_on(items, n, &h, 2.5), ==, c->moves);
    for (i = 0; i < n; i++) {
        g_assert_cmpint(items[i].target, >=, 0);
        if (items[i].load >= 50)
            per_core[core[items[i].target]]++;
    }
    for (i = 0; i < 2; i++)
        pairs += per_core[i] >= 2;
    g_assert_cmpuint(pairs, ==, c->busy_pairs);
}

/* ---- The policy on fixture hosts (tests/sim/topo_sim.h) ---------------- */

/* Runs the policy on h for ticks intervals, applying every plan; returns
 * the problems it told. */
static GPtrArray *run_policy(SimHost *h, Granularity g, guint ticks)
{
    g_autoptr(VcpuPolicyState) st = vcpu_policy_state_new();
    GPtrArray *told = g_ptr_array_new_with_free_func(g_free);
    VcpuConfig cfg;
    guint t;

    config_init(&vcpu_config_schema, &cfg);
    cfg.granularity = g;
    for (t = 0; t < ticks; t++) {
        g_autoptr(Snapshot) snap = NULL;
        g_autoptr(Plan) plan = NULL;
        g_autoptr(GPtrArray) problems = NULL;

        sim_run(h, 1000000);
        snap = sim_snapshot(h);
        plan = vcpu_policy_decide(snap, &cfg, st);
        g_test_message("tick %u: %s", t, plan->summary);
        sim_apply(h, plan);
        problems = vcpu_policy_take_new_problems(st);
        while (problems->len)
            g_ptr_array_add(told, g_ptr_array_steal_index(problems, 0));
    }
    config_clear(&vcpu_config_schema, &cfg);
    return told;
}

static SimHost *fixture_host(const char *file)
{
    g_autofree char *xml = read_fixture("caps", file);

    return sim_host_new(xml, NULL, 1);
}

/* Which pins the policy says it places by, so that the affinity of a vCPU
 * pinned to one needs no read (common/affinity_cache.h). */
typedef struct {
    Granularity grain;
    guint ticks; /* decisions before asking */
    const char *cpus;
    gboolean want;
} PlacesByCase;

static const PlacesByCase places_by_cases[] = {
    {GRAIN_CORE, 1, "0,32", TRUE},  /* a core's threads */
    {GRAIN_CORE, 1, "0", FALSE},    /* one CPU: kept anyway */
    {GRAIN_CORE, 1, "0-1", FALSE},  /* two cores: no slot */
    {GRAIN_CORE, 1, "0-63", FALSE}, /* free */
    {GRAIN_NODE, 1, "0-15,32-47", TRUE},
    {GRAIN_NODE, 1, "0,32", FALSE}, /* a core, at node granularity */
    {GRAIN_CPU, 1, "0,32", FALSE},  /* cpu granularity places by CPUs */
    {GRAIN_CORE, 0, "0,32", FALSE}, /* nothing decided yet */
};

static void test_places_by_table(void)
{
    guint i;

    for (i = 0; i < G_N_ELEMENTS(places_by_cases); i++) {
        const PlacesByCase *c = &places_by_cases[i];
        g_autoptr(SimHost) h = fixture_host("topo-2s64t-smt.xml");
        g_autoptr(VcpuPolicyState) st = vcpu_policy_state_new();
        g_autoptr(GError) err = NULL;
        g_autoptr(GArray) ids = cpuset_parse(c->cpus, &err);
        g_autofree guint8 *map = g_malloc0(h->maplen);
        const double load[] = {50};
        VcpuConfig cfg;
        guint t;
        guint k;

        g_assert_no_error(err);
        config_init(&vcpu_config_schema, &cfg);
        cfg.granularity = c->grain;
        sim_add_guest(h, 1, load, NULL);
        for (t = 0; t < c->ticks; t++) {
            g_autoptr(Snapshot) snap = NULL;
            g_autoptr(Plan) plan = NULL;

            sim_run(h, 1000000);
            snap = sim_snapshot(h);
            plan = vcpu_policy_decide(snap, &cfg, st);
        }
        for (k = 0; k < ids->len; k++)
            cpumap_set(map, h->maplen, g_array_index(ids, guint, k));
        g_test_message("%s after %u decisions, pinned to %s: %s",
                       granularity_names[c->grain], c->ticks, c->cpus,
                       c->want ? "places by" : "does not");
        g_assert_cmpint(vcpu_policy_places_by(st, map, h->maplen), ==, c->want);
        config_clear(&vcpu_config_schema, &cfg);
    }
}

/* The one CPU vCPU i is pinned to, -1 when it may run on several. */
static gint pinned_cpu(const SimHost *h, guint i)
{
    const SimVcpu *v = &g_array_index(h->vcpus, SimVcpu, i);

    return cpumap_single(v->affinity, h->maplen, h->npcpus);
}

/* cpu granularity on an SMT host: two busy vCPUs pinned to the threads of
 * one core (0 and 32) are parted onto two cores. */
static void test_policy_parts_siblings(void)
{
    g_autoptr(SimHost) h = fixture_host("topo-2s64t-smt.xml");
    const double busy[] = {100};
    g_autoptr(GPtrArray) told = NULL;
    gint a;
    gint b;
    guint i;

    for (i = 0; i < 2; i++) {
        SimVcpu *v;

        sim_add_guest(h, 1, busy, NULL);
        v = &g_array_index(h->vcpus, SimVcpu, i);
        memset(v->affinity, 0, h->maplen);
        cpumap_set(v->affinity, h->maplen, i == 0 ? 0 : 32);
    }
    told = run_policy(h, GRAIN_CPU, 10);
    a = pinned_cpu(h, 0);
    b = pinned_cpu(h, 1);
    g_assert_cmpint(a, >=, 0);
    g_assert_cmpint(b, >=, 0);
    g_assert_cmpint(h->topo->cpus[a].core, !=, h->topo->cpus[b].core);
    /* In one node: both guests fit either. */
    g_assert_cmpuint(told->len, ==, 0);
}

/* core granularity: a free vCPU is pinned to both threads of a core. */
static void test_policy_core_groups(void)
{
    g_autoptr(SimHost) h = fixture_host("topo-2s64t-smt.xml");
    const double load[] = {100, 100, 100, 100};
    g_autoptr(GPtrArray) told = NULL;
    guint i;

    sim_add_guest(h, 4, load, NULL);
    told = run_policy(h, GRAIN_CORE, 4);
    for (i = 0; i < 4; i++) {
        const SimVcpu *v = &g_array_index(h->vcpus, SimVcpu, i);
        guint n = cpumap_count(v->affinity, h->maplen, h->npcpus);
        guint c;

        g_assert_cmpuint(n, ==, 2);
        for (c = 0; c < h->npcpus; c++)
            if (cpumap_has(v->affinity, h->maplen, c))
                g_assert_true(cpumap_has(v->affinity, h->maplen,
                                         c < 32 ? c + 32 : c - 32));
    }
}

/* Four nodes: each guest's vCPUs end in one node, whichever granularity. */
static void test_policy_one_node(gconstpointer data)
{
    Granularity g = GPOINTER_TO_INT(data);
    g_autoptr(SimHost) h = fixture_host("topo-4node.xml");
    const double load[] = {70, 70, 70, 70, 70, 70};
    g_autoptr(GPtrArray) told = NULL;
    guint gi;
    guint i;

    for (gi = 0; gi < 5; gi++)
        sim_add_guest(h, 6, load, NULL);
    told = run_policy(h, g, 8);
    for (gi = 0; gi < 5; gi++) {
        const SimGuest *sg = &g_array_index(h->guests, SimGuest, gi);
        gint node = -1;

        for (i = 0; i < sg->n; i++) {
            const SimVcpu *v = &g_array_index(h->vcpus, SimVcpu, sg->first + i);
            guint c;

            /* Pinned within one node. */
            g_assert_cmpuint(cpumap_count(v->affinity, h->maplen, h->npcpus),
                             <=, 8);
            for (c = 0; c < h->npcpus; c++) {
                if (!cpumap_has(v->affinity, h->maplen, c))
                    continue;
                if (node < 0)
                    node = h->topo->cpus[c].node;
                g_assert_cmpint(h->topo->cpus[c].node, ==, node);
            }
        }
    }
}

/* A granularity the topology cannot give: cpu instead, told once. */
static void test_policy_fallback(void)
{
    g_autoptr(SimHost) h = fixture_host("topo-4node.xml");
    const double load[] = {100};
    g_autoptr(GPtrArray) told = NULL;

    sim_add_guest(h, 1, load, NULL);
    told = run_policy(h, GRAIN_CACHE, 5);
    g_assert_cmpuint(told->len, ==, 1);
    g_assert_nonnull(strstr(g_ptr_array_index(told, 0),
                            "granularity cache is not possible: the host's "
                            "capabilities list no cache banks"));
    g_assert_cmpint(pinned_cpu(h, 0), >=, 0);
}

int main(int argc, char **argv)
{
    guint i;

    g_test_init(&argc, &argv, NULL);
    for (i = 0; i < G_N_ELEMENTS(slot_cases); i++) {
        const SlotCase *c = &slot_cases[i];
        g_autofree char *path = g_strdup_printf(
            "/slots/build/%s %s on %u%s%s", c->file ? c->file : "no-topology",
            granularity_names[c->asked], c->npcpus,
            c->exclude ? " exclude " : "", c->exclude ? c->exclude : "");

        g_test_add_data_func(path, c, test_slot_case);
    }
    for (i = 0; i < G_N_ELEMENTS(smt_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/slots/smt-capacity/%u", smt_cases[i].threads);

        g_test_add_data_func(path, &smt_cases[i], test_smt_case);
    }
    for (i = 0; i < G_N_ELEMENTS(smt_assign_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/slots/smt-assign/%s", smt_assign_cases[i].name);

        g_test_add_data_func(path, &smt_assign_cases[i], test_smt_assign_case);
    }
    g_test_add_func("/slots/policy/parts-smt-siblings",
                    test_policy_parts_siblings);
    g_test_add_func("/slots/policy/core-groups", test_policy_core_groups);
    g_test_add_func("/slots/policy/places-by", test_places_by_table);
    for (i = GRAIN_CPU; i <= GRAIN_NODE; i++) {
        g_autofree char *path =
            g_strdup_printf("/slots/policy/one-node/%s", granularity_names[i]);

        g_test_add_data_func(path, GINT_TO_POINTER(i), test_policy_one_node);
    }
    g_test_add_func("/slots/policy/fallback", test_policy_fallback);
    return g_test_run();
}
