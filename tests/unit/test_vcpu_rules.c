/* Where the vCPU policy may place a vCPU: CPU lists, the rules of a
 * guest's definition, [vcpu] exclude_cpus, and the balancer's allowed
 * sets (tables, and a property check over random boards). */
#include <stdio.h>

#include "cpuset.h"
#include "test_fixture.h"
#include "test_vcpu_util.h"
#include "../../vcpu_scheduler/domain_rules.h"

#define T0_US 5000000
#define WALL_US 1000000

/* ------------------------------------------------------------------ */
/* CPU lists. */

typedef struct {
    const char *text;
    const char *ids; /* expected, as "a b c"; NULL for an error */
} CpusetCase;

static const CpusetCase cpuset_cases[] = {
    {"0", "0"},
    {"0,64", "0 64"},
    {"0-3", "0 1 2 3"},
    {"0-3,^2", "0 1 3"},
    {"^2,0-3", "0 1 2 3"}, /* taken out before it was put in: put in wins */
    {" 1 , 3 ", "1 3"},
    {"3,1,3", "1 3"},
    {"0-7,^0-6", "7"},
    {"65535", "65535"},
    {"", NULL},
    {"0-3,^0-3", NULL},
    {"^1", NULL},
    {"a", NULL},
    {"1-", NULL},
    {"3-1", NULL},
    {"1,,2", NULL},
    {"1;2", NULL},
    {"65536", NULL},
    {"0-99999999", NULL},
    {"-1", NULL},
    {"1 2", NULL},
};

static char *ids_text(const GArray *ids)
{
    GString *s = g_string_new(NULL);
    guint i;

    for (i = 0; ids && i < ids->len; i++)
        g_string_append_printf(s, "%s%u", i ? " " : "",
                               g_array_index(ids, guint, i));
    return g_string_free(s, FALSE);
}

static void test_cpuset_table(void)
{
    guint i;

    for (i = 0; i < G_N_ELEMENTS(cpuset_cases); i++) {
        const CpusetCase *c = &cpuset_cases[i];
        g_autoptr(GError) err = NULL;
        g_autoptr(GArray) ids = cpuset_parse(c->text, &err);
        g_autofree char *got = ids_text(ids);

        g_test_message("'%s' -> '%s' %s", c->text, got,
                       err ? err->message : "");
        if (!c->ids) {
            g_assert_null(ids);
            g_assert_nonnull(err);
            g_assert_nonnull(strstr(err->message, c->text));
            continue;
        }
        g_assert_no_error(err);
        g_assert_cmpstr(got, ==, c->ids);
        g_assert_true(cpuset_has(ids, g_array_index(ids, guint, 0)));
        g_assert_false(cpuset_has(ids, CPUSET_MAX_ID + 1));
    }
}

/* ------------------------------------------------------------------ */
/* The rules of a definition. */

#define OPT_OUT                                                                \
    "<metadata><aos:guest xmlns:aos='urn:x-aos:guest:1' "                      \
    "vcpu_scheduler='off'/></metadata>"

typedef struct {
    const char *name;
    const char *xml;
    gboolean persistent;
    const char *allowed[3]; /* per vCPU 0..2: ids, NULL for no limit */
    gboolean opted_out;
    gboolean problem;
} RulesCase;

static const RulesCase rules_cases[] = {
    {"no limits", "<domain><vcpu>2</vcpu></domain>", TRUE, {NULL, NULL, NULL}},
    {"cpuset for all",
     "<domain><vcpu cpuset='1-2'>2</vcpu></domain>",
     TRUE,
     {"1 2", "1 2", "1 2"}},
    {"vcpupin overrides cpuset",
     "<domain><vcpu cpuset='0-3'>3</vcpu><cputune>"
     "<vcpupin vcpu='1' cpuset='3'/></cputune></domain>",
     TRUE,
     {"0 1 2 3", "3", "0 1 2 3"}},
    {"vcpupin alone",
     "<domain><vcpu>2</vcpu><cputune><vcpupin vcpu='0' cpuset='0,^0,5'/>"
     "</cputune></domain>",
     TRUE,
     {"5", NULL, NULL}},
    /* A transient guest's <vcpupin> also holds the daemon's own pins. */
    {"transient: vcpupin not read",
     "<domain><vcpu cpuset='0-1'>2</vcpu><cputune>"
     "<vcpupin vcpu='1' cpuset='1'/></cputune></domain>",
     FALSE,
     {"0 1", "0 1", "0 1"}},
    {"opted out",
     "<domain>" OPT_OUT "<vcpu>1</vcpu></domain>",
     TRUE,
     {NULL, NULL, NULL},
     TRUE},
    {"opt-out element in another namespace is not ours",
     "<domain><metadata><x:guest xmlns:x='urn:other' vcpu_scheduler='off'/>"
     "</metadata></domain>",
     TRUE,
     {NULL, NULL, NULL}},
    {"opt-out element saying on",
     "<domain><metadata><aos:guest xmlns:aos='urn:x-aos:guest:1' "
     "vcpu_scheduler='on'/></metadata></domain>",
     TRUE,
     {NULL, NULL, NULL}},
    {"bad cpuset",
     "<domain><vcpu cpuset='0-'>1</vcpu></domain>",
     TRUE,
     {NULL, NULL, NULL},
     FALSE,
     TRUE},
    {"bad vcpupin number",
     "<domain><cputune><vcpupin vcpu='x' cpuset='1'/></cputune></domain>",
     TRUE,
     {NULL, NULL, NULL},
     FALSE,
     TRUE},
    {"not XML", "<domain", TRUE, {NULL, NULL, NULL}, FALSE, TRUE},
    {"no XML", NULL, TRUE, {NULL, NULL, NULL}, FALSE, TRUE},
};

static void test_rules_table(void)
{
    guint i;
    guint k;

    for (i = 0; i < G_N_ELEMENTS(rules_cases); i++) {
        const RulesCase *c = &rules_cases[i];
        g_autoptr(DomainRules) r = domain_rules_from_xml(c->xml, c->persistent);

        g_test_message("%s: problem %s", c->name,
                       r->problem ? r->problem : "none");
        g_assert_cmpint(r->opted_out, ==, c->opted_out);
        g_assert_cmpint(r->problem != NULL, ==, c->problem);
        if (c->problem)
            continue;
        for (k = 0; k < 3; k++) {
            const GArray *ids = domain_rules_allowed(r, k);
            g_autofree char *got = ids ? ids_text(ids) : NULL;

            g_assert_cmpstr(got, ==, c->allowed[k]);
        }
    }
}

/* ------------------------------------------------------------------ */
/* The balancer with allowed sets: random boards. */

static gboolean map_has(const guint8 *map, guint p)
{
    return (map[p / 8] >> (p % 8)) & 1;
}

static void test_assign_allowed_property(void)
{
    g_autoptr(GRand) rand = g_rand_new_with_seed(20261204);
    guint cases = g_test_slow() ? 100000 : 10000;
    guint c;

    for (c = 0; c < cases; c++) {
        guint np = (guint)g_rand_int_range(rand, 1, 65);
        guint n = (guint)g_rand_int_range(rand, 0, 120);
        g_autofree AssignItem *it = g_new0(AssignItem, n ? n : 1);
        g_autofree gint *was = g_new0(gint, n ? n : 1);
        g_autoptr(GPtrArray) maps = g_ptr_array_new_with_free_func(g_free);
        guint moves;
        guint counted = 0;
        guint i;
        guint p;

        for (i = 0; i < n; i++) {
            gint kind = g_rand_int_range(rand, 0, 4);

            it[i].load = g_rand_double_range(rand, 0, 100);
            it[i].hint = g_rand_int_range(rand, -1, (gint)np);
            it[i].pinned =
                g_rand_boolean(rand) ? g_rand_int_range(rand, 0, (gint)np) : -1;
            it[i].frozen =
                it[i].pinned >= 0 && g_rand_int_range(rand, 0, 8) == 0;
            it[i].fixed = kind == 0;
            if (kind == 1) {
                guint8 *map = g_malloc0(np / 8 + 1);
                guint any = 0;

                for (p = 0; p < np; p++) {
                    if (g_rand_int_range(rand, 0, 4) == 0) {
                        map[p / 8] |= (guint8)(1u << (p % 8));
                        any++;
                    }
                }
                if (!any)
                    map[0] |= 1;
                g_ptr_array_add(maps, map);
                it[i].allowed = map;
                /* One pinned outside what it allows is given as free. */
                if (it[i].pinned >= 0 && !map_has(map, (guint)it[i].pinned)) {
                    it[i].hint = it[i].pinned;
                    it[i].pinned = -1;
                    it[i].frozen = FALSE;
                }
            }
            was[i] = it[i].pinned >= 0 ? it[i].pinned : it[i].hint;
        }
        moves = assign_balance(it, n, np, 2.5);
        for (i = 0; i < n; i++) {
            if (it[i].fixed) {
                /* Never placed: stays where it was, or out of the board. */
                g_assert_cmpint(it[i].target, ==, was[i] >= 0 ? was[i] : -1);
                continue;
            }
            g_assert_cmpint(it[i].target, >=, 0);
            g_assert_cmpint(it[i].target, <, (gint)np);
            if (it[i].allowed)
                g_assert_true(map_has(it[i].allowed, (guint)it[i].target));
            if (it[i].frozen)
                g_assert_cmpint(it[i].target, ==, it[i].pinned);
            counted += it[i].pinned < 0 || it[i].target != it[i].pinned;
        }
        g_assert_cmpuint(moves, ==, counted);
    }
}

/* An item that may go only to a pCPU other than the least loaded one
 * still relieves the busiest. */
static void test_assign_allowed_elsewhere(void)
{
    /* pCPU 0: two busy items; pCPU 1 idle but forbidden to both; pCPU 2
     * holds a light one. */
    guint8 not1 = 0x05;
    AssignItem it[] = {
        {.load = 60, .pinned = 0, .hint = 0, .allowed = &not1},
        {.load = 60, .pinned = 0, .hint = 0, .allowed = &not1},
        {.load = 20, .pinned = 2, .hint = 2, .allowed = NULL},
    };
    guint moves = assign_balance(it, G_N_ELEMENTS(it), 3, 2.5);

    g_assert_cmpuint(moves, >=, 1);
    g_assert_true(it[0].target == 2 || it[1].target == 2);
    g_assert_cmpint(it[0].target, !=, 1);
    g_assert_cmpint(it[1].target, !=, 1);
}

/* ------------------------------------------------------------------ */
/* The policy with definitions and exclude_cpus: two ticks, then every
 * action is checked against what the guest allows. */

typedef struct {
    guint dom;
    gint pin;   /* TV_ALL or a pCPU */
    double ran; /* percent of one pCPU */
} RuleVcpu;

typedef struct {
    const char *name;
    guint np;
    const char *exclude; /* [vcpu] exclude_cpus, or NULL */
    const char *xml[4];  /* each guest's definition; NULL: none read */
    gboolean transient[4];
    RuleVcpu v[8];
    guint nv;
    /* Per vCPU: the pCPUs it may be put on ("" for none: it must not
     * move), and whether some action must name it. */
    const char *may[8];
    gboolean must_move[8];
} PolicyRulesCase;

#define XML(body) "<domain>" body "</domain>"
#define CPUSET(s) "<vcpu cpuset='" s "'>1</vcpu>"

static const PolicyRulesCase policy_rules_cases[] = {
    {"a guest allowed one CPU is never moved; the others are",
     4,
     NULL,
     {XML(CPUSET("0")), XML(""), XML(""), XML("")},
     {0},
     {{0, 0, 90}, {1, 0, 90}, {2, 0, 90}, {3, 0, 90}},
     4,
     {"", "1 2 3", "1 2 3", "1 2 3"},
     {FALSE}},
    {"guests pinned outside their cpuset are placed inside it",
     4,
     NULL,
     {XML(CPUSET("2-3")), XML(CPUSET("2-3")), XML(CPUSET("2-3")),
      XML(CPUSET("2-3"))},
     {0},
     {{0, 0, 40}, {1, 0, 40}, {2, 0, 40}, {3, 0, 40}},
     4,
     {"2 3", "2 3", "2 3", "2 3"},
     {TRUE, TRUE, TRUE, TRUE}},
    {"an excluded CPU is never a target, and vCPUs on it leave",
     4,
     "0",
     {XML(""), XML(""), XML(""), XML("")},
     {0},
     {{0, 0, 50}, {1, 0, 50}, {2, 1, 50}, {3, 2, 50}},
     4,
     {"1 2 3", "1 2 3", "1 2 3", "1 2 3"},
     {TRUE, TRUE, FALSE, FALSE}},
    {"an opted-out guest is left alone",
     2,
     NULL,
     {XML(OPT_OUT), XML(OPT_OUT), XML(""), XML("")},
     {0},
     {{0, 0, 90}, {1, 0, 90}, {2, 0, 90}, {3, 0, 90}},
     4,
     {"", "", "1", "1"},
     {FALSE}},
    {"vcpupin of one vCPU, cpuset of the other",
     4,
     NULL,
     {XML("<vcpu cpuset='1-2'>2</vcpu><cputune><vcpupin vcpu='1' "
          "cpuset='3'/></cputune>"),
      XML(""), NULL, NULL},
     {0},
     {{0, 0, 90}, {0, 0, 90}, {1, 0, 90}},
     3,
     {"1 2", "", "1 2 3"},
     {TRUE, FALSE, FALSE}},
    {"a transient guest's vcpupin (the daemon's own pins) is no rule",
     2,
     NULL,
     {XML("<vcpu>2</vcpu><cputune><vcpupin vcpu='0' cpuset='0'/>"
          "<vcpupin vcpu='1' cpuset='0'/></cputune>"),
      NULL, NULL, NULL},
     {TRUE},
     {{0, 0, 90}, {0, 0, 90}},
     2,
     {"1", "1"},
     {FALSE}},
    {"rules that do not parse leave the guest where it is",
     2,
     NULL,
     {XML(CPUSET("x")), XML(""), NULL, NULL},
     {0},
     {{0, 0, 90}, {1, 0, 90}},
     2,
     {"", "1"},
     {FALSE, TRUE}},
};

static void fill_definitions(Snapshot *s, const PolicyRulesCase *c)
{
    guint i;

    s->definitions = TRUE;
    for (i = 0; i < s->domains->len; i++) {
        DomainSample *d = g_ptr_array_index(s->domains, i);
        guint k = (guint)g_ascii_strtoull(d->name + 2, NULL, 10);

        if (k < 4 && c->xml[k])
            d->definition = g_ref_string_new(c->xml[k]);
        d->persistent = k < 4 && !c->transient[k];
    }
}

static void test_policy_rules(gconstpointer data)
{
    const PolicyRulesCase *c = data;
    g_autoptr(VcpuPolicyState) st = vcpu_policy_state_new();
    g_autoptr(Snapshot) s0 = NULL;
    g_autoptr(Snapshot) s1 = NULL;
    g_autoptr(Plan) p0 = NULL;
    g_autoptr(Plan) p1 = NULL;
    g_autoptr(GPtrArray) problems = NULL;
    g_autofree gboolean *moved = g_new0(gboolean, c->nv);
    TvVcpu v[8] = {{0}};
    VcpuConfig cfg;
    gboolean bad_xml = FALSE;
    guint i;

    tv_config(&cfg);
    if (c->exclude)
        g_assert_true(cpu_list_set(&cfg.exclude_cpus, c->exclude, NULL));
    for (i = 0; i < c->nv; i++) {
        v[i].dom = c->v[i].dom;
        v[i].pin = c->v[i].pin;
        v[i].last = c->v[i].pin >= 0 ? c->v[i].pin : 0;
        v[i].no_delay = TRUE;
    }
    s0 = tv_snapshot(c->np, v, c->nv, T0_US);
    fill_definitions(s0, c);
    p0 = vcpu_policy_decide(s0, &cfg, st);
    for (i = 0; i < c->nv; i++)
        v[i].time_ns += (guint64)(c->v[i].ran / 100.0 * WALL_US * 1000.0);
    s1 = tv_snapshot(c->np, v, c->nv, T0_US + WALL_US);
    fill_definitions(s1, c);
    p1 = vcpu_policy_decide(s1, &cfg, st);
    g_test_message("%s: %s", c->name, p1->summary);

    for (i = 0; i < plan_len(p1); i++) {
        const PinAction *a = tv_pin(p1, i);
        gint k = tv_find(v, c->nv, a);
        g_autofree char *to = g_strdup_printf("%u", a->to_pcpu);
        g_auto(GStrv) may = NULL;

        g_test_message("  %s vCPU %u: %s", a->base.name, a->vcpu,
                       a->base.reason);
        g_assert_cmpint(k, >=, 0);
        moved[k] = TRUE;
        may = g_strsplit(c->may[k], " ", -1);
        g_assert_true(g_strv_contains((const char *const *)may, to));
    }
    for (i = 0; i < c->nv; i++) {
        if (c->must_move[i])
            g_assert_true(moved[i]);
        if (!*c->may[i])
            g_assert_false(moved[i]);
    }
    /* A definition that does not parse is told once. */
    for (i = 0; i < 4; i++)
        bad_xml |= c->xml[i] && strstr(c->xml[i], "cpuset='x'");
    problems = vcpu_policy_take_new_problems(st);
    g_assert_cmpuint(problems->len, ==, bad_xml ? 1 : 0);
    config_clear(&vcpu_config_schema, &cfg);
}

/* Running guests whose definition could not be read this tick are left
 * where they are; a snapshot without definitions (tools) limits nothing. */
static void test_policy_unread_definition(void)
{
    TvVcpu v[] = {{.dom = 0, .pin = 0, .last = 0, .no_delay = TRUE},
                  {.dom = 1, .pin = 0, .last = 0, .no_delay = TRUE}};
    guint pass;

    for (pass = 0; pass < 2; pass++) {
        g_autoptr(VcpuPolicyState) st = vcpu_policy_state_new();
        g_autoptr(Snapshot) s0 = NULL;
        g_autoptr(Snapshot) s1 = NULL;
        g_autoptr(Plan) p0 = NULL;
        g_autoptr(Plan) p1 = NULL;
        TvVcpu w[2];
        VcpuConfig cfg;

        memcpy(w, v, sizeof(v));
        tv_config(&cfg);
        s0 = tv_snapshot(2, w, 2, T0_US);
        s0->definitions = pass == 0;
        p0 = vcpu_policy_decide(s0, &cfg, st);
        w[0].time_ns += 900000000;
        w[1].time_ns += 900000000;
        s1 = tv_snapshot(2, w, 2, T0_US + WALL_US);
        s1->definitions = pass == 0;
        p1 = vcpu_policy_decide(s1, &cfg, st);
        g_test_message("definitions %s: %s", pass ? "not asked" : "unread",
                       p1->summary);
        g_assert_cmpuint(plan_len(p1), ==, pass == 0 ? 0 : 1);
        config_clear(&vcpu_config_schema, &cfg);
    }
}

/* ------------------------------------------------------------------ */
/* exclude_cpus and granularity against the host. */

typedef struct {
    guint npcpus;
    const char *online; /* NULL: all */
    const char *exclude;
    const char *error; /* expected words, NULL when accepted */
    Granularity grain;
    const char *caps; /* topology fixture, NULL for none */
    gboolean later;   /* not the daemon's first snapshot */
} HostCase;

static const HostCase host_cases[] = {
    {8, NULL, NULL, NULL},
    {8, NULL, "0", NULL},
    {8, NULL, "0-6", NULL},
    {8, NULL, "0,64", "names CPU 64, but this host's CPUs are 0-7"},
    {8, NULL, "0-7", "leaves no online CPU"},
    {8, "0,2", "0,2", "leaves no online CPU"},
    {8, "0,2", "0", NULL},
    {1, NULL, "0", "leaves no online CPU"},
    /* A granularity the topology cannot give: refused at start only; a
     * topology lost later falls back in the policy. */
    {8, NULL, NULL,
     "granularity core is not possible here: the host's "
     "capabilities give no CPU topology",
     GRAIN_CORE, NULL, FALSE},
    {8, NULL, NULL, NULL, GRAIN_CORE, NULL, TRUE},
    {8, NULL, NULL, NULL, GRAIN_AUTO, NULL, FALSE},
    {8, NULL, NULL, NULL, GRAIN_CPU, NULL, FALSE},
    {32, NULL, NULL,
     "granularity cache is not possible here: the host's "
     "capabilities list no cache banks",
     GRAIN_CACHE, "topo-4node.xml", FALSE},
    {32, NULL, NULL, NULL, GRAIN_NODE, "topo-4node.xml", FALSE},
    {64, NULL, NULL, NULL, GRAIN_CACHE, "topo-2s64t-smt.xml", FALSE},
};

static void test_check_host(void)
{
    guint i;

    for (i = 0; i < G_N_ELEMENTS(host_cases); i++) {
        const HostCase *c = &host_cases[i];
        g_autoptr(Snapshot) s = snapshot_new();
        g_autoptr(GError) err = NULL;
        VcpuConfig cfg;
        gboolean ok;

        tv_config(&cfg);
        cfg.granularity = c->grain;
        if (c->caps) {
            g_autofree char *xml = read_fixture("caps", c->caps);

            s->topology = topology_from_capabilities(xml, NULL);
            g_assert_nonnull(s->topology);
        }
        if (c->exclude)
            g_assert_true(cpu_list_set(&cfg.exclude_cpus, c->exclude, NULL));
        s->node.npcpus = c->npcpus;
        if (c->online) {
            g_autoptr(GArray) ids = cpuset_parse(c->online, NULL);
            guint k;

            s->node.online = g_malloc0(snapshot_maplen(s));
            for (k = 0; k < ids->len; k++)
                cpumap_set(s->node.online, snapshot_maplen(s),
                           g_array_index(ids, guint, k));
        }
        ok = vcpu_check_host(s, &cfg, !c->later, &err);
        g_test_message("%u CPUs, exclude %s, granularity %s%s: %s", c->npcpus,
                       c->exclude, granularity_names[c->grain],
                       c->later ? " (later)" : "", err ? err->message : "ok");
        g_assert_cmpint(ok, ==, c->error == NULL);
        if (c->error)
            g_assert_nonnull(strstr(err->message, c->error));
        config_clear(&vcpu_config_schema, &cfg);
    }
}

int main(int argc, char **argv)
{
    guint i;

    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vcpu-rules/cpuset", test_cpuset_table);
    g_test_add_func("/vcpu-rules/definition", test_rules_table);
    g_test_add_func("/vcpu-rules/assign-allowed-property",
                    test_assign_allowed_property);
    g_test_add_func("/vcpu-rules/assign-allowed-elsewhere",
                    test_assign_allowed_elsewhere);
    for (i = 0; i < G_N_ELEMENTS(policy_rules_cases); i++) {
        g_autofree char *path = g_strdup_printf("/vcpu-rules/policy/%u", i);

        g_test_add_data_func(path, &policy_rules_cases[i], test_policy_rules);
    }
    g_test_add_func("/vcpu-rules/policy-unread-definition",
                    test_policy_unread_definition);
    g_test_add_func("/vcpu-rules/check-host", test_check_host);
    return g_test_run();
}
