/* The vCPU policy on random hosts with a topology (tests/sim/topo_sim.h):
 * NUMA nodes, cores of one or two threads, cache banks or none, offline
 * and excluded CPUs, every granularity, guests with rules of their own.
 * Each host runs a few ticks; every plan is checked here from the
 * topology, independently of the policy's slots:
 *   - a pin goes to online, not excluded CPUs only, within its guest's
 *     <vcpu cpuset> and <vcpupin>, and never for a guest that opted out
 *     or a vCPU whose definition allows one CPU;
 *   - its CPUs are one whole group of the granularity in use (one CPU, all
 *     usable threads of a core, of a cache bank, or of a node) and lie in
 *     one node;
 *   - a guest without rules that fits in any node (a CPU per vCPU, a core
 *     per 100 % of demand), on a host asked for at most 90 % of its CPUs,
 *     has its pinned vCPUs in one node.
 * AOS_TOPO_FUZZ_HOSTS sets how many hosts (10,000 by default) and
 * AOS_TOPO_FUZZ_SEED the first seed. */
#include <string.h>

#include "../../vcpu_scheduler/actions.h"
#include "../../vcpu_scheduler/policy.h"
#include "../../vcpu_scheduler/slots.h"
#include "../sim/topo_sim.h"
#include "cpuset.h"

#define TICKS 6
#define WALL_US 1000000

typedef struct {
    gboolean opted_out;
    gboolean rules; /* has a cpuset or vcpupin */
    GArray *cpuset; /* NULL: any */
    gint pin0;      /* vCPU 0's one CPU, -1 when none */
    guint nv;
} GuestRules;

typedef struct {
    guint hosts;
    guint hosts_with_pins;
    guint plans_with_pins;
    guint pins;
    guint one_node_checked;
    guint grouped_pins; /* to more than one CPU */
} Totals;

/* The group key of CPU c at granularity g, from the topology alone. */
static gint64 key_of(const Topology *t, Granularity g, guint c)
{
    const TopoCpu *tc = &t->cpus[c];

    switch (g) {
    case GRAIN_CORE:
        return tc->core;
    case GRAIN_CACHE:
        return tc->cache;
    case GRAIN_NODE:
        return tc->node;
    default:
        return c;
    }
}

static GArray *random_subset(GRand *r, guint n, guint want)
{
    GArray *ids = g_array_new(FALSE, FALSE, sizeof(guint));
    guint c;

    for (c = 0; c < n; c++)
        if ((guint)g_rand_int_range(r, 0, (gint)n) < want)
            g_array_append_val(ids, c);
    return ids;
}

static char *cpuset_text(const GArray *ids)
{
    GString *s = g_string_new(NULL);
    guint i;

    for (i = 0; i < ids->len; i++)
        g_string_append_printf(s, "%s%u", i ? "," : "",
                               g_array_index(ids, guint, i));
    return g_string_free(s, FALSE);
}

/* A guest's definition and what it allows, drawn at random. */
static char *random_rules(GRand *r, guint ncpus, guint nv, GuestRules *gr)
{
    gint pick = g_rand_int_range(r, 0, 100);

    memset(gr, 0, sizeof(*gr));
    gr->pin0 = -1;
    gr->nv = nv;
    if (pick < 60)
        return NULL;
    if (pick < 80) {
        g_autofree char *text = NULL;

        gr->cpuset = random_subset(r, ncpus, MAX(1, ncpus / 2));
        if (gr->cpuset->len == 0) {
            guint c = 0;

            g_array_append_val(gr->cpuset, c);
        }
        gr->rules = TRUE;
        text = cpuset_text(gr->cpuset);
        return g_strdup_printf("<domain><vcpu cpuset='%s'>%u</vcpu></domain>",
                               text, nv);
    }
    if (pick < 92) {
        gr->pin0 = g_rand_int_range(r, 0, (gint)ncpus);
        gr->rules = TRUE;
        return g_strdup_printf("<domain><vcpu>%u</vcpu><cputune><vcpupin "
                               "vcpu='0' cpuset='%d'/></cputune></domain>",
                               nv, gr->pin0);
    }
    gr->opted_out = TRUE;
    return g_strdup("<domain><metadata><aos:guest "
                    "xmlns:aos='urn:x-aos:guest:1' vcpu_scheduler='off'/>"
                    "</metadata></domain>");
}

static gboolean usable(const SimHost *h, const GArray *excluded, guint c)
{
    return (!h->online || cpumap_has(h->online, h->maplen, c)) &&
           !cpuset_has(excluded, c);
}

static void fail_host(guint32 seed, const char *what, const char *detail)
{
    g_test_message("seed %u: %s: %s", seed, what, detail);
    g_test_fail();
}

/* The pin's CPUs, checked against the rules and the topology. */
static gboolean check_pin(const SimHost *h, const PinAction *a,
                          const GuestRules *gr, const GArray *excluded,
                          Granularity g, guint32 seed)
{
    g_autoptr(GArray) to = a->to_cpus
                               ? g_array_copy(a->to_cpus)
                               : g_array_new(FALSE, FALSE, sizeof(guint));
    g_autofree char *what =
        g_strdup_printf("%s vcpu %u", a->base.name, a->vcpu);
    gint64 key;
    gint node;
    guint want = 0;
    guint i;
    guint c;

    if (!a->to_cpus)
        g_array_append_val(to, a->to_pcpu);
    if (gr->opted_out || (a->vcpu == 0 && gr->pin0 >= 0)) {
        fail_host(seed, what, "moved against its guest's definition");
        return FALSE;
    }
    key = key_of(h->topo, g, g_array_index(to, guint, 0));
    node = h->topo->cpus[g_array_index(to, guint, 0)].node;
    for (i = 0; i < to->len; i++) {
        c = g_array_index(to, guint, i);
        if (c >= h->npcpus || !usable(h, excluded, c)) {
            fail_host(seed, what, "pinned to an offline or excluded CPU");
            return FALSE;
        }
        if (gr->cpuset && !cpuset_has(gr->cpuset, c)) {
            fail_host(seed, what, "pinned outside its <vcpu cpuset>");
            return FALSE;
        }
        if (key_of(h->topo, g, c) != key || h->topo->cpus[c].node != node) {
            fail_host(seed, what, "pinned across groups or nodes");
            return FALSE;
        }
    }
    for (c = 0; c < h->npcpus; c++)
        want += usable(h, excluded, c) && h->topo->cpus[c].described &&
                key_of(h->topo, g, c) == key;
    if (want != to->len) {
        fail_host(seed, what, "pinned to part of a group");
        return FALSE;
    }
    return TRUE;
}

/* Whether the vCPU's affinity is a pin of ours: not every usable CPU. */
static gboolean pinned_by_plan(const SimHost *h, const SimVcpu *v,
                               const GArray *excluded)
{
    guint c;

    for (c = 0; c < h->npcpus; c++)
        if (usable(h, excluded, c) && !cpumap_has(v->affinity, h->maplen, c))
            return TRUE;
    return FALSE;
}

static void one_host(guint32 seed, Totals *tot)
{
    g_autoptr(GRand) r = g_rand_new_with_seed(seed);
    SimShape shape = {
        .nodes = (guint)g_rand_int_range(r, 1, 5),
        .cores = (guint)g_rand_int_range(r, 1, 13),
        .threads = (guint)g_rand_int_range(r, 1, 3),
        .caches = g_rand_boolean(r),
    };
    guint ncpus = shape.nodes * shape.cores * shape.threads;
    g_autoptr(GArray) offline = random_subset(r, ncpus, 1);
    g_autoptr(GArray) excluded = random_subset(r, ncpus, 1);
    g_autofree char *caps = NULL;
    g_autoptr(SimHost) h = NULL;
    g_autoptr(VcpuPolicyState) st = vcpu_policy_state_new();
    g_autoptr(GArray) rules = g_array_new(FALSE, TRUE, sizeof(GuestRules));
    g_autofree char *excluded_text = NULL;
    VcpuConfig cfg;
    Granularity g;
    guint usable_cpus = 0;
    guint nguests;
    double total = 0;
    gboolean pinned_here = FALSE;
    guint i;
    guint t;
    guint c;

    /* CPU 0 stays online, as on Linux. */
    if (offline->len && g_array_index(offline, guint, 0) == 0)
        g_array_remove_index(offline, 0);
    caps = sim_caps_xml(&shape, offline);
    h = sim_host_new(caps, offline, seed);
    h->noise = 5;
    config_init(&vcpu_config_schema, &cfg);
    cfg.granularity = (Granularity)g_rand_int_range(r, 0, 5);
    if (excluded->len) {
        excluded_text = cpuset_text(excluded);
        g_assert_true(cpu_list_set(&cfg.exclude_cpus, excluded_text, NULL));
    }
    for (c = 0; c < ncpus; c++)
        usable_cpus += usable(h, excluded, c);
    if (usable_cpus == 0) {
        config_clear(&vcpu_config_schema, &cfg);
        return;
    }
    g = granularity_resolve(cfg.granularity, usable_cpus);
    if (g == GRAIN_CACHE && !shape.caches)
        g = GRAIN_CPU;

    /* From a few guests to more vCPUs than CPUs. */
    nguests = (guint)g_rand_int_range(r, 1, (gint)MAX(2, usable_cpus / 2) + 2);
    for (i = 0; i < nguests; i++) {
        guint nv = (guint)g_rand_int_range(r, 1, 7);
        static const double kinds[] = {1, 15, 40, 70, 100};
        double demand[8];
        GuestRules gr;
        g_autofree char *def = random_rules(r, ncpus, nv, &gr);
        guint k;

        for (k = 0; k < nv; k++) {
            demand[k] = kinds[g_rand_int_range(r, 0, G_N_ELEMENTS(kinds))];
            total += demand[k];
        }
        sim_add_guest(h, nv, demand, def);
        g_array_append_val(rules, gr);
    }

    tot->hosts++;
    for (t = 0; t < TICKS; t++) {
        g_autoptr(Snapshot) snap = NULL;
        g_autoptr(Plan) plan = NULL;

        sim_run(h, WALL_US);
        snap = sim_snapshot(h);
        plan = vcpu_policy_decide(snap, &cfg, st);
        if (g_getenv("AOS_TOPO_FUZZ_TRACE")) {
            g_test_message("seed %u tick %u: %s", seed, t, plan->summary);
            for (i = 0; i < plan_len(plan); i++) {
                g_autofree char *line = action_describe(plan_get(plan, i));

                g_test_message("  %s: %s", line, plan_get(plan, i)->reason);
            }
        }
        for (i = 0; i < plan_len(plan); i++) {
            const PinAction *a = pin_action_of(plan_get(plan, i));
            guint gi;

            g_assert_nonnull(a);
            gi = (guint)g_ascii_strtoull(a->base.name + 1, NULL, 10);
            g_assert_cmpuint(gi, <, rules->len);
            if (!check_pin(h, a, &g_array_index(rules, GuestRules, gi),
                           excluded, g, seed))
                goto out;
            tot->pins++;
            tot->grouped_pins += a->to_cpus != NULL;
        }
        tot->plans_with_pins += plan_len(plan) > 0;
        sim_apply(h, plan);
        pinned_here |= plan_len(plan) > 0;
    }
    tot->hosts_with_pins += pinned_here;

    /* One node per guest that fits one, on a host not asked for more
     * than 90 % of it. */
    {
        g_autofree guint *node_cpus = g_new0(guint, shape.nodes);
        g_autofree guint *node_cores = g_new0(guint, shape.nodes);
        g_autoptr(GHashTable) cores = g_hash_table_new(NULL, NULL);
        guint smallest = G_MAXUINT;
        guint fewest_cores = G_MAXUINT;

        for (c = 0; c < ncpus; c++) {
            const TopoCpu *tc = &h->topo->cpus[c];

            if (!usable(h, excluded, c) || !tc->described)
                continue;
            node_cpus[tc->node]++;
            if (g_hash_table_add(cores, GINT_TO_POINTER(tc->core + 1)))
                node_cores[tc->node]++;
        }
        for (i = 0; i < shape.nodes; i++) {
            smallest = MIN(smallest, node_cpus[i]);
            fewest_cores = MIN(fewest_cores, node_cores[i]);
        }
        if (shape.nodes < 2 || total > 90.0 * smallest * shape.nodes)
            goto out;
        for (i = 0; i < h->guests->len; i++) {
            const SimGuest *sg = &g_array_index(h->guests, SimGuest, i);
            const GuestRules *gr = &g_array_index(rules, GuestRules, i);
            gint node = -1;
            guint k;

            double load = 0;

            for (k = 0; k < sg->n; k++)
                load += g_array_index(h->vcpus, SimVcpu, sg->first + k).demand;
            /* Fits: a CPU for each vCPU, and a core's worth of work for
             * each 100 % of demand, with room for the noise. */
            if (gr->rules || gr->opted_out || sg->n > smallest ||
                load + 10.0 * sg->n > 100.0 * fewest_cores)
                continue;
            for (k = 0; k < sg->n; k++) {
                const SimVcpu *v =
                    &g_array_index(h->vcpus, SimVcpu, sg->first + k);
                gint first = -1;

                if (!pinned_by_plan(h, v, excluded))
                    continue;
                for (c = 0; c < h->npcpus && first < 0; c++)
                    if (cpumap_has(v->affinity, h->maplen, c))
                        first = (gint)c;
                if (node >= 0 && h->topo->cpus[first].node != node) {
                    fail_host(seed, sg->name, "vCPUs pinned in two nodes");
                    goto out;
                }
                node = h->topo->cpus[first].node;
            }
            tot->one_node_checked += node >= 0;
        }
    }
out:
    for (i = 0; i < rules->len; i++)
        if (g_array_index(rules, GuestRules, i).cpuset)
            g_array_unref(g_array_index(rules, GuestRules, i).cpuset);
    config_clear(&vcpu_config_schema, &cfg);
}

static void test_random_hosts(void)
{
    const char *n_env = g_getenv("AOS_TOPO_FUZZ_HOSTS");
    const char *seed_env = g_getenv("AOS_TOPO_FUZZ_SEED");
    guint n = n_env ? (guint)g_ascii_strtoull(n_env, NULL, 10) : 10000;
    guint32 first =
        seed_env ? (guint32)g_ascii_strtoull(seed_env, NULL, 10) : 1;
    Totals tot = {0};
    guint i;

    /* Hosts left with no usable CPU are drawn again. */
    for (i = 0; tot.hosts < n && !g_test_failed(); i++)
        one_host(first + i, &tot);
    g_test_message("%u hosts (%u with pins), %u plans with pins, %u pins (%u "
                   "to groups), %u guests checked for one node",
                   tot.hosts, tot.hosts_with_pins, tot.plans_with_pins,
                   tot.pins, tot.grouped_pins, tot.one_node_checked);
    /* A run that pins nothing proves nothing. */
    if (n >= 1000) {
        g_assert_cmpuint(tot.hosts_with_pins, >=, tot.hosts / 4);
        g_assert_cmpuint(tot.grouped_pins, >=, tot.pins / 10);
        g_assert_cmpuint(tot.one_node_checked, >=, 100);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vcpu/topo-fuzz/random-hosts", test_random_hosts);
    return g_test_run();
}
