/* The vCPU policy on hand-built snapshots: one decision per table row,
 * scripted runs of several ticks, a randomized property check and a large
 * host. */
#include <stdio.h>

#include "test_vcpu_util.h"

#define MAXV 40
#define BASE_NS 7000000000ULL
#define T0_US 5000000
#define WALL_US 1000000

static guint64 pct_ns(double pct, gint64 wall_us)
{
    return (guint64)llround(pct / 100.0 * (double)wall_us * 1000.0);
}

/* ------------------------------------------------------------------ */
/* One decision: two snapshots one second apart. */

typedef struct {
    guint dom;
    gint pin;
    gint last;
    double ran;    /* percent of one pCPU over the interval */
    double waited; /* percent spent waiting on a run queue */
} RateSpec;

typedef struct {
    const char *name;
    guint np;
    guint nv;
    RateSpec v[MAXV];
    guint repeat;  /* when set, v[0] stands for this many vCPUs */
    guint per_dom; /* ...this many to a guest */
    gboolean no_delay;
    guint actions;
    double sd_before;
    double sd_after;
    const char *summary; /* expected start of the summary */
} DecideCase;

#define PIN(d, p, r, w)                                                        \
    {                                                                          \
        (d), (p), (p), (r), (w)                                                \
    }
#define ANY(d, last, r, w)                                                     \
    {                                                                          \
        (d), TV_ALL, (last), (r), (w)                                          \
    }

static const DecideCase decide_cases[] = {
    {.name = "idle host: no changes even when uneven",
     .np = 2,
     .nv = 4,
     .v = {PIN(0, 0, 2, 0), PIN(1, 0, 2, 0), PIN(2, 0, 2, 0), PIN(3, 0, 2, 0)},
     .actions = 0,
     .sd_before = 4,
     .sd_after = 4,
     .summary = "idle"},
    {.name = "low mean but demand waits: not idle",
     .np = 16,
     .nv = 3,
     .v = {PIN(0, 0, 100.0 / 3, 200.0 / 3), PIN(1, 0, 100.0 / 3, 200.0 / 3),
           PIN(2, 0, 100.0 / 3, 200.0 / 3)},
     .actions = 2,
     .sd_before = 24.2061,
     .sd_after = 39.0312,
     .summary =
         "repin 2 vCPUs sd 24.2 -> 39.0, frees waiting demand worth 2.00"},
    {.name = "512 pCPUs: sd reads balanced, but demand waits",
     .np = 512,
     .nv = 2,
     .v = {PIN(0, 0, 50, 50), PIN(1, 0, 50, 50)},
     .actions = 1,
     .sd_before = 4.4151,
     .sd_after = 6.2377,
     .summary = "repin 1 vCPU sd 4.4 -> 6.2, frees waiting demand worth 1.00"},
    {.name = "course 3: balanced pinning, busy",
     .np = 2,
     .nv = 4,
     .v = {PIN(0, 0, 50, 50), PIN(1, 1, 50, 50), PIN(2, 0, 50, 50),
           PIN(3, 1, 50, 50)},
     .actions = 0,
     .sd_before = 0,
     .sd_after = 0,
     .summary = "balanced sd=0.0"},
    {.name = "course 6: balanced pinning, no load",
     .np = 2,
     .nv = 4,
     .v = {PIN(0, 0, 0.5, 0), PIN(1, 1, 0.5, 0), PIN(2, 0, 0.5, 0),
           PIN(3, 1, 0.5, 0)},
     .actions = 0,
     .sd_before = 0,
     .sd_after = 0,
     .summary = "idle"},
    {.name = "course 2: half on each pCPU, equal light load",
     .np = 2,
     .nv = 4,
     .v = {PIN(0, 0, 30, 0), PIN(1, 0, 30, 0), PIN(2, 1, 30, 0),
           PIN(3, 1, 30, 0)},
     .actions = 0,
     .sd_before = 0,
     .sd_after = 0,
     .summary = "balanced sd=0.0"},
    {.name = "course 1: all on pCPU 0, each ran a quarter",
     .np = 2,
     .nv = 4,
     .v = {PIN(0, 0, 25, 75), PIN(1, 0, 25, 75), PIN(2, 0, 25, 75),
           PIN(3, 0, 25, 75)},
     .actions = 2,
     .sd_before = 50,
     .sd_after = 0,
     .summary = "repin 2 vCPUs sd 50.0 -> 0.0"},
    {.name = "course 1 without delay stats",
     .np = 2,
     .nv = 4,
     .v = {PIN(0, 0, 25, 0), PIN(1, 0, 25, 0), PIN(2, 0, 25, 0),
           PIN(3, 0, 25, 0)},
     .no_delay = TRUE,
     .actions = 2,
     .sd_before = 50,
     .sd_after = 0,
     .summary = "repin 2 vCPUs sd 50.0 -> 0.0"},
    {.name = "demand: busy pair shares pCPU 0, one move",
     .np = 2,
     .nv = 4,
     .v = {PIN(0, 0, 50, 50), PIN(1, 0, 50, 50), PIN(2, 1, 10, 0),
           PIN(3, 1, 10, 0)},
     .actions = 1,
     .sd_before = 40,
     .sd_after = 0,
     .summary = "repin 1 vCPU sd 40.0 -> 0.0"},
    {.name = "same from time alone takes two moves",
     .np = 2,
     .nv = 4,
     .v = {PIN(0, 0, 50, 0), PIN(1, 0, 50, 0), PIN(2, 1, 10, 0),
           PIN(3, 1, 10, 0)},
     .no_delay = TRUE,
     .actions = 2,
     .sd_before = 40,
     .sd_after = 0,
     .summary = "repin 2 vCPUs sd 40.0 -> 0.0"},
    {.name = "course 4: affinity to all, all counted on pCPU 0",
     .np = 2,
     .nv = 4,
     .v = {ANY(0, 0, 50, 50), ANY(1, 0, 50, 50), ANY(2, 0, 50, 50),
           ANY(3, 0, 50, 50)},
     .actions = 4,
     .sd_before = 100,
     .sd_after = 0,
     .summary = "repin 4 vCPUs sd 100.0 -> 0.0"},
    {.name = "course 5: affinity to all, heavy pair counted on pCPU 0",
     .np = 2,
     .nv = 4,
     .v = {ANY(0, 0, 100, 0), ANY(1, 0, 100, 0), ANY(2, 1, 14, 0),
           ANY(3, 1, 14, 0)},
     .actions = 4,
     .sd_before = 86,
     .sd_after = 0,
     .summary = "repin 4 vCPUs sd 86.0 -> 0.0"},
    {.name = "course 5 measured balanced: pinned where they are",
     .np = 2,
     .nv = 4,
     .v = {ANY(0, 0, 100, 0), ANY(1, 1, 100, 0), ANY(2, 0, 14, 0),
           ANY(3, 1, 14, 0)},
     .actions = 4,
     .sd_before = 0,
     .sd_after = 0,
     .summary = "balanced sd=0.0, pin 4 unpinned vCPUs"},
    {.name = "course 7 light phase: pinned where they are",
     .np = 2,
     .nv = 4,
     .v = {ANY(0, 0, 14, 0), ANY(1, 1, 14, 0), ANY(2, 0, 14, 0),
           ANY(3, 1, 14, 0)},
     .actions = 4,
     .sd_before = 0,
     .sd_after = 0,
     .summary = "balanced sd=0.0, pin 4 unpinned vCPUs"},
    {.name = "course 7 after the switch: both heavy on pCPU 0",
     .np = 2,
     .nv = 4,
     .v = {PIN(0, 0, 50, 50), PIN(1, 1, 14, 0), PIN(2, 0, 50, 50),
           PIN(3, 1, 14, 0)},
     .actions = 1,
     .sd_before = 36,
     .sd_after = 0,
     .summary = "repin 1 vCPU sd 36.0 -> 0.0"},
    {.name = "16 pCPUs: 32 busy vCPUs on pCPU 0",
     .np = 16,
     .nv = 1,
     .v = {PIN(0, 0, 3.125, 96.875)},
     .repeat = 32,
     .per_dom = 1,
     .actions = 30,
     .sd_before = 24.2061,
     .sd_after = 0,
     .summary = "repin 30 vCPUs sd 24.2 -> 0.0"},
    {.name = "4 guests of 4 vCPUs, all on pCPU 0 of 4",
     .np = 4,
     .nv = 1,
     .v = {PIN(0, 0, 6.25, 93.75)},
     .repeat = 16,
     .per_dom = 4,
     .actions = 12,
     .sd_before = 43.3013,
     .sd_after = 0,
     .summary = "repin 12 vCPUs sd 43.3 -> 0.0"},
    {.name = "fewer vCPUs than pCPUs: 2 busy on one of 8",
     .np = 8,
     .nv = 2,
     .v = {PIN(0, 0, 50, 50), PIN(1, 0, 50, 50)},
     .actions = 1,
     .sd_before = 33.0719,
     .sd_after = 43.3013,
     .summary = "repin 1 vCPU sd 33.1 -> 43.3, frees"},
    {.name = "fewer vCPUs than pCPUs, already spread",
     .np = 8,
     .nv = 2,
     .v = {PIN(0, 0, 100, 0), PIN(1, 1, 100, 0)},
     .actions = 0,
     .sd_before = 43.3013,
     .sd_after = 43.3013,
     .summary = "unbalanced sd=43.3, no better assignment"},
    {.name = "one pCPU",
     .np = 1,
     .nv = 3,
     .v = {PIN(0, 0, 33, 10), PIN(1, 0, 33, 10), PIN(2, 0, 33, 10)},
     .actions = 0,
     .sd_before = 0,
     .sd_after = 0,
     .summary = "balanced sd=0.0"},
    {.name = "three 60% work-then-idle vCPUs on 2 pCPUs: best already",
     .np = 2,
     .nv = 3,
     .v = {PIN(0, 0, 50, 100.0 / 6), PIN(1, 0, 50, 100.0 / 6),
           PIN(2, 1, 60, 0)},
     .actions = 0,
     .sd_before = 20,
     .sd_after = 20,
     .summary = "unbalanced sd=20.0, no better assignment"},
    {.name = "always-runnable pair on pCPU 0 reads as two busy vCPUs",
     .np = 2,
     .nv = 3,
     .v = {PIN(0, 0, 50, 50), PIN(1, 0, 50, 50), PIN(2, 1, 60, 0)},
     .actions = 1,
     .sd_before = 20,
     .sd_after = 0,
     .summary = "repin 1 vCPU sd 20.0 -> 0.0"},
    {.name = "empty affinity, pCPU unknown: placed and pinned",
     .np = 2,
     .nv = 3,
     .v = {{0, TV_NONE, -1, 50, 0}, PIN(1, 0, 50, 50), PIN(2, 0, 50, 50)},
     .actions = 2,
     .sd_before = 50,
     .sd_after = 0,
     .summary = "repin 2 vCPUs sd 50.0 -> 0.0"},
    {.name = "small imbalance waits a tick",
     .np = 2,
     .nv = 4,
     .v = {PIN(0, 0, 45, 0), PIN(1, 0, 40, 0), PIN(2, 1, 40, 0),
           PIN(3, 1, 30, 0)},
     .actions = 0,
     .sd_before = 7.5,
     .sd_after = 7.5,
     .summary = "unbalanced sd=7.5, confirming"},
    {.name = "several vCPUs of one guest, mixed pins",
     .np = 3,
     .nv = 6,
     .v = {PIN(0, 0, 100.0 / 3, 200.0 / 3), PIN(0, 0, 100.0 / 3, 200.0 / 3),
           PIN(0, 0, 100.0 / 3, 200.0 / 3), PIN(1, 1, 20, 0), ANY(1, 1, 20, 0),
           PIN(2, 2, 5, 0)},
     .actions = 3,
     .sd_before = 39.2286,
     .sd_after = 0,
     .summary = "repin 3 vCPUs sd 39.2 -> 0.0"},
};

/* Expands a case into vCPUs and their per-interval shares. */
static guint expand_case(const DecideCase *tc, TvVcpu **v, double **ran,
                         double **waited)
{
    guint n = tc->repeat ? tc->repeat : tc->nv;
    guint i;

    *v = g_new0(TvVcpu, n);
    *ran = g_new0(double, n);
    *waited = g_new0(double, n);
    for (i = 0; i < n; i++) {
        const RateSpec *r = tc->repeat ? &tc->v[0] : &tc->v[i];

        (*v)[i].dom = tc->repeat ? i / MAX(tc->per_dom, 1) : r->dom;
        (*v)[i].pin = r->pin;
        (*v)[i].last = r->last;
        (*v)[i].time_ns = BASE_NS + 1000 * (guint64)i;
        (*v)[i].delay_ns = BASE_NS / 2;
        (*v)[i].no_delay = tc->no_delay;
        (*ran)[i] = r->ran;
        (*waited)[i] = r->waited;
    }
    return n;
}

static void advance(TvVcpu *v, guint n, const double *ran, const double *waited,
                    gint64 wall_us)
{
    guint i;

    for (i = 0; i < n; i++) {
        v[i].time_ns += pct_ns(ran[i], wall_us);
        if (!v[i].no_delay)
            v[i].delay_ns += pct_ns(waited[i], wall_us);
    }
}

static void check_measured(const VcpuPolicyState *st, guint np, const TvVcpu *v,
                           guint n, const double *ran)
{
    g_autofree double *expect = g_new0(double, np ? np : 1);
    const double *util = NULL;
    guint nutil = 0;
    guint i;

    for (i = 0; i < n; i++) {
        gint at = tv_pinned(&v[i], np) >= 0 ? tv_pinned(&v[i], np) : v[i].last;

        if (at >= 0 && (guint)at < np)
            expect[at] += ran[i];
    }
    g_assert_true(vcpu_policy_last_util(st, &util, &nutil));
    g_assert_cmpuint(nutil, ==, np);
    for (i = 0; i < np; i++)
        g_assert_cmpfloat_with_epsilon(util[i], expect[i], 1e-6);
}

static void test_decide_case(gconstpointer data)
{
    const DecideCase *tc = data;
    g_autoptr(VcpuPolicyState) st = vcpu_policy_state_new();
    g_autoptr(Snapshot) s0 = NULL;
    g_autoptr(Snapshot) s1 = NULL;
    g_autoptr(Plan) p0 = NULL;
    g_autoptr(Plan) p1 = NULL;
    g_autofree TvVcpu *v = NULL;
    g_autofree double *ran = NULL;
    g_autofree double *waited = NULL;
    g_autofree double *demand = NULL;
    const double *util = NULL;
    VcpuConfig cfg;
    guint nutil = 0;
    guint n;
    guint i;

    tv_config(&cfg);
    n = expand_case(tc, &v, &ran, &waited);

    s0 = tv_snapshot(tc->np, v, n, T0_US);
    p0 = vcpu_policy_decide(s0, &cfg, st);
    g_assert_cmpuint(plan_len(p0), ==, 0);
    g_assert_cmpstr(p0->summary, ==, "warming up");
    g_assert_false(vcpu_policy_last_util(st, &util, &nutil));

    advance(v, n, ran, waited, WALL_US);
    s1 = tv_snapshot(tc->np, v, n, T0_US + WALL_US);
    p1 = vcpu_policy_decide(s1, &cfg, st);

    tv_check_plan(p1, tc->np, v, n);
    check_measured(st, tc->np, v, n, ran);
    if (!g_str_has_prefix(p1->summary, tc->summary))
        g_error("summary \"%s\", expected it to start with \"%s\"", p1->summary,
                tc->summary);
    g_assert_cmpuint(plan_len(p1), ==, tc->actions);
    g_assert_cmpfloat_with_epsilon(vcpu_plan_sd(p1)->sd_before, tc->sd_before,
                                   1e-3);
    g_assert_cmpfloat_with_epsilon(vcpu_plan_sd(p1)->sd_after, tc->sd_after,
                                   1e-3);

    /* The prediction, worked out again here from each vCPU's demand. */
    if (plan_len(p1) > 0) {
        double sd;
        double unmet;

        demand = g_new0(double, n);
        for (i = 0; i < n; i++)
            demand[i] = tc->no_delay ? ran[i] : tv_demand(ran[i], waited[i]);
        tv_predict(p1, v, n, tc->np, demand, &sd, &unmet);
        /* Relative: the two sums add the same loads in other orders. */
        g_assert_cmpfloat_with_epsilon(vcpu_plan_sd(p1)->sd_after, sd,
                                       1e-6 * MAX(1.0, sd));
    }
    config_clear(&vcpu_config_schema, &cfg);
}

/* ------------------------------------------------------------------ */
/* Scripted runs: the same host over several ticks. */

enum {
    STEP_APPLY = 1 << 0,   /* apply the plan, each pin succeeding */
    STEP_FAIL = 1 << 1,    /* apply the plan, each pin failing */
    STEP_RESTART = 1 << 2, /* guest 0 restarts: its counters start over */
    STEP_DROP_1 = 1 << 3,  /* guest 1 is gone from this snapshot */
};

typedef struct {
    guint flags;
    double ran[4];
    double waited[4];
    gint actions;        /* expected, -1 when not checked */
    const char *summary; /* expected start, NULL when not checked */
    gint tracked;        /* expected vCPUs remembered, -1 when not checked */
} Step;

typedef struct {
    const char *name;
    guint dwell;
    guint nv;
    TvVcpu v[4];
    guint nsteps;
    Step steps[16];
} Script;

#define P0                                                                     \
    {                                                                          \
        0, 0, 0, BASE_NS, 0, FALSE                                             \
    }
#define BUSY4                                                                  \
    {25, 25, 25, 25},                                                          \
    {                                                                          \
        75, 75, 75, 75                                                         \
    }

static const Script scripts[] = {
    {"a failed pin is planned again",
     3,
     4,
     {{0, 0, 0, BASE_NS, 0, FALSE},
      {1, 0, 0, BASE_NS, 0, FALSE},
      {2, 0, 0, BASE_NS, 0, FALSE},
      {3, 0, 0, BASE_NS, 0, FALSE}},
     3,
     {{0, {0}, {0}, 0, "warming up", 4},
      {STEP_FAIL, BUSY4, 2, "repin 2", -1},
      {STEP_APPLY, BUSY4, 2, "repin 2", -1}}},
    {"a small imbalance is acted on when seen on five ticks",
     3,
     4,
     {{0, 0, 0, BASE_NS, 0, FALSE},
      {1, 0, 0, BASE_NS, 0, FALSE},
      {2, 1, 1, BASE_NS, 0, FALSE},
      {3, 1, 1, BASE_NS, 0, FALSE}},
     7,
     {{0, {0}, {0}, 0, "warming up", -1},
      {STEP_APPLY,
       {45, 40, 40, 30},
       {0},
       0,
       "unbalanced sd=7.5, confirming (1",
       -1},
      {STEP_APPLY,
       {45, 40, 40, 30},
       {0},
       0,
       "unbalanced sd=7.5, confirming (2",
       -1},
      {STEP_APPLY,
       {45, 40, 40, 30},
       {0},
       0,
       "unbalanced sd=7.5, confirming (3",
       -1},
      {STEP_APPLY,
       {45, 40, 40, 30},
       {0},
       0,
       "unbalanced sd=7.5, confirming (4",
       -1},
      {STEP_APPLY, {45, 40, 40, 30}, {0}, 2, "repin 2 vCPUs sd 7.5 -> 2.5", -1},
      {STEP_APPLY, {45, 40, 40, 30}, {0}, 0, "balanced sd=2.5", -1}}},
    {"noise about balance never repins",
     3,
     4,
     {{0, 0, 0, BASE_NS, 0, FALSE},
      {1, 0, 0, BASE_NS, 0, FALSE},
      {2, 1, 1, BASE_NS, 0, FALSE},
      {3, 1, 1, BASE_NS, 0, FALSE}},
     10,
     {{0, {0}, {0}, 0, "warming up", -1},
      {STEP_APPLY, {45, 45, 45, 45}, {0}, 0, "balanced sd=0.0", -1},
      {STEP_APPLY, {49, 46, 40, 42}, {0}, 0, "unbalanced sd=6.5, conf", -1},
      {STEP_APPLY, {42, 42, 47, 49}, {0}, 0, "unbalanced sd=6.0, conf", -1},
      {STEP_APPLY, {47, 49, 42, 42}, {0}, 0, "unbalanced sd=6.0, conf", -1},
      {STEP_APPLY, {40, 42, 49, 46}, {0}, 0, "unbalanced sd=6.5, conf", -1},
      /* Unbalanced five ticks running and more, but each time the other
       * way: past the confirmation, the smoothed loads call it noise. */
      {STEP_APPLY, {48, 49, 42, 43}, {0}, 0, "unbalanced sd=6.0, ", -1},
      {STEP_APPLY, {42, 43, 49, 48}, {0}, 0, "unbalanced sd=6.0, ", -1},
      {STEP_APPLY, {49, 48, 43, 42}, {0}, 0, "unbalanced sd=6.0, ", -1},
      {STEP_APPLY, {45, 44, 45, 43}, {0}, 0, "balanced", -1}}},
    {"a restarted guest is counted from its next sample",
     3,
     2,
     {{0, 0, 0, BASE_NS, 0, FALSE}, {1, 1, 1, BASE_NS, 0, FALSE}},
     4,
     {{0, {0}, {0}, 0, "warming up", 2},
      {STEP_APPLY, {40, 40}, {0}, 0, "balanced sd=0.0", 2},
      {STEP_APPLY | STEP_RESTART, {40, 40}, {0}, 0, "unbalanced sd=20.0", 2},
      {STEP_APPLY, {40, 40}, {0}, 0, "balanced sd=0.0", 2}}},
    {"a vanished guest is forgotten",
     3,
     2,
     {{0, 0, 0, BASE_NS, 0, FALSE}, {1, 1, 1, BASE_NS, 0, FALSE}},
     4,
     {{0, {0}, {0}, 0, "warming up", 2},
      {STEP_APPLY, {40, 40}, {0}, 0, "balanced sd=0.0", 2},
      {STEP_APPLY | STEP_DROP_1, {40, 40}, {0}, 0, "unbalanced sd=20.0", 1},
      {STEP_APPLY, {40, 40}, {0}, 0, "unbalanced sd=20.0", 2}}},
    {"a plan that did not help holds",
     3,
     3,
     {{0, 0, 0, BASE_NS, 0, FALSE},
      {1, 0, 0, BASE_NS, 0, FALSE},
      {2, 1, 1, BASE_NS, 0, FALSE}},
     15,
     {{0, {0}, {0}, 0, "warming up", -1},
      {STEP_APPLY, {50, 50, 60}, {50, 50, 0}, 1, "repin 1", -1},
      /* The mover shares pCPU 1 now; the stayer runs alone. */
      {STEP_APPLY, {0}, {0}, 0, "unbalanced sd=20.0, holding", -1},
      {STEP_APPLY, {0}, {0}, 0, "unbalanced sd=20.0, holding", -1},
      {STEP_APPLY, {0}, {0}, 0, "unbalanced sd=20.0, holding", -1},
      {STEP_APPLY, {0}, {0}, 0, "unbalanced sd=20.0, holding", -1},
      {STEP_APPLY, {0}, {0}, 0, "unbalanced sd=20.0, holding", -1},
      {STEP_APPLY, {0}, {0}, 0, "unbalanced sd=20.0, holding", -1},
      {STEP_APPLY, {0}, {0}, 0, "unbalanced sd=20.0, holding", -1},
      {STEP_APPLY, {0}, {0}, 0, "unbalanced sd=20.0, holding", -1},
      {STEP_APPLY, {0}, {0}, 0, "unbalanced sd=20.0, holding", -1},
      {STEP_APPLY, {0}, {0}, 0, "unbalanced sd=20.0, holding", -1},
      /* Ten ticks on, one more try, and the hold starts over. */
      {STEP_APPLY, {0}, {0}, 1, "repin 1", -1},
      {STEP_APPLY, {0}, {0}, 0, "unbalanced sd=20.0, holding", -1},
      {STEP_APPLY, {0}, {0}, 0, "unbalanced sd=20.0, holding", -1}}},
};

/* In the hold script, loads follow the placement: two always-runnable
 * 60% guests on one pCPU read 50/50 each, one alone reads 60/0. */
static void shared_loads(const TvVcpu *v, guint n, double *ran, double *waited)
{
    guint per[4] = {0};
    guint i;

    for (i = 0; i < n; i++)
        per[v[i].pin]++;
    for (i = 0; i < n; i++) {
        ran[i] = per[v[i].pin] > 1 ? 50 : 60;
        waited[i] = per[v[i].pin] > 1 ? 50 : 0;
    }
}

static void apply_plan(VcpuPolicyState *st, const Plan *plan, TvVcpu *v,
                       guint n, gboolean ok)
{
    guint i;

    for (i = 0; i < plan_len(plan); i++) {
        const PinAction *a = tv_pin(plan, i);
        gint k = tv_find(v, n, a);

        g_assert_cmpint(k, >=, 0);
        if (ok)
            v[k].pin = v[k].last = (gint)a->to_pcpu;
        vcpu_policy_note_applied(st, a, ok);
    }
}

static void test_script(gconstpointer data)
{
    const Script *sc = data;
    g_autoptr(VcpuPolicyState) st = vcpu_policy_state_new();
    TvVcpu v[4];
    gboolean holding = g_str_has_prefix(sc->name, "a plan that did not");
    VcpuConfig cfg;
    guint s;

    tv_config(&cfg);
    cfg.dwell_ticks = sc->dwell;
    memcpy(v, sc->v, sizeof(v));
    for (s = 0; s < sc->nsteps; s++) {
        const Step *step = &sc->steps[s];
        g_autoptr(Snapshot) snap = NULL;
        g_autoptr(Plan) plan = NULL;
        double ran[4];
        double waited[4];
        guint n = sc->nv;

        memcpy(ran, step->ran, sizeof(ran));
        memcpy(waited, step->waited, sizeof(waited));
        if (holding && s >= 2)
            shared_loads(v, sc->nv, ran, waited);
        if (s > 0)
            advance(v, sc->nv, ran, waited, WALL_US);
        if (step->flags & STEP_RESTART)
            v[0].time_ns = v[0].delay_ns = 1000;
        /* Guest 1 is last in these scripts, so leaving it out is a
         * shorter array. */
        if (step->flags & STEP_DROP_1)
            n = 1;
        snap = tv_snapshot(2, v, n, T0_US + (gint64)s * WALL_US);
        plan = vcpu_policy_decide(snap, &cfg, st);
        tv_check_plan(plan, 2, v, n);
        if (step->summary && !g_str_has_prefix(plan->summary, step->summary))
            g_error("step %u: summary \"%s\", expected \"%s...\"", s,
                    plan->summary, step->summary);
        if (step->actions >= 0)
            g_assert_cmpuint(plan_len(plan), ==, (guint)step->actions);
        if (step->tracked >= 0)
            g_assert_cmpuint(vcpu_policy_tracked_vcpus(st), ==,
                             (guint)step->tracked);
        if (step->flags & (STEP_APPLY | STEP_FAIL))
            apply_plan(st, plan, v, n, !(step->flags & STEP_FAIL));
    }
    config_clear(&vcpu_config_schema, &cfg);
}

/* Dwell: the vCPUs a plan moved stay put for dwell_ticks ticks, even when
 * a small imbalance could be fixed by moving them. */
typedef struct {
    const char *name;
    guint dwell;
    gint actions[8]; /* at ticks 2..9 */
} DwellCase;

/* The imbalance starts at tick 2 and is confirmed on its fifth tick. */
static const DwellCase dwell_cases[] = {
    {"dwell 7: movers wait until tick 8", 7, {0, 0, 0, 0, 0, 0, 2, 0}},
    {"dwell 0: fixed as soon as confirmed", 0, {0, 0, 0, 0, 2, 0, 0, 0}},
};

static void test_dwell(gconstpointer data)
{
    const DwellCase *tc = data;
    g_autoptr(VcpuPolicyState) st = vcpu_policy_state_new();
    TvVcpu v[4];
    double ran[4] = {25, 25, 25, 25};
    double waited[4] = {75, 75, 75, 75};
    gboolean moved[4] = {FALSE};
    VcpuConfig cfg;
    guint t;
    guint i;

    tv_config(&cfg);
    cfg.dwell_ticks = tc->dwell;
    for (i = 0; i < 4; i++)
        v[i] = (TvVcpu){i, 0, 0, BASE_NS, 0, FALSE};
    for (t = 0; t <= 9; t++) {
        g_autoptr(Snapshot) snap = NULL;
        g_autoptr(Plan) plan = NULL;

        if (t > 0)
            advance(v, 4, ran, waited, WALL_US);
        snap = tv_snapshot(2, v, 4, T0_US + (gint64)t * WALL_US);
        plan = vcpu_policy_decide(snap, &cfg, st);
        tv_check_plan(plan, 2, v, 4);
        if (t == 1) {
            g_assert_cmpuint(plan_len(plan), ==, 2);
            for (i = 0; i < plan_len(plan); i++)
                moved[tv_find(v, 4, tv_pin(plan, i))] = TRUE;
        } else if (t >= 2) {
            if (plan_len(plan) != (guint)tc->actions[t - 2])
                g_error("tick %u: \"%s\", expected %d pin changes", t,
                        plan->summary, tc->actions[t - 2]);
        }
        apply_plan(st, plan, v, 4, TRUE);
        /* From tick 2 on: the movers carry 40 each, the others 30, so
         * pCPU 1 has 80 against 60 (sd 10, not yet gross) and only a swap
         * with a mover evens it out. */
        if (t == 1) {
            for (i = 0; i < 4; i++) {
                ran[i] = moved[i] ? 40 : 30;
                waited[i] = 0;
            }
        }
    }
    config_clear(&vcpu_config_schema, &cfg);
}

/* ------------------------------------------------------------------ */
/* Randomized: whatever the host, plans keep the invariants. */

/* A random vCPU's affinity, from kind (0..9): pinned to one pCPU 6 times
 * in 10, allowed on every pCPU 3 times, and an empty map once; a host
 * without pCPUs has nothing to pin to. */
static gint random_pin(GRand *rand, gint kind, guint np)
{
    if (kind < 6 && np > 0)
        return g_rand_int_range(rand, 0, (gint)np);
    return kind < 9 ? TV_ALL : TV_NONE;
}

/* Every action of the plan pins a vCPU that could run anywhere. */
static gboolean only_claims(const Plan *plan)
{
    guint i;

    for (i = 0; i < plan_len(plan); i++)
        if (tv_pin(plan, i)->from_pcpu != -1)
            return FALSE;
    return plan_len(plan) > 0;
}

static void test_random_property(void)
{
    g_autoptr(GRand) rand = g_rand_new_with_seed(20240611);
    VcpuConfig cfg;
    guint round;
    guint nonempty = 0;
    /* make fuzz raises the count through the environment. */
    const char *env = g_getenv("VCPU_FUZZ_CASES");
    guint rounds = env ? (guint)g_ascii_strtoull(env, NULL, 10) : 400;

    tv_config(&cfg);
    for (round = 0; round < MAX(rounds, 1u); round++) {
        g_autoptr(VcpuPolicyState) st = vcpu_policy_state_new();
        g_autoptr(Snapshot) s0 = NULL;
        g_autoptr(Snapshot) s1 = NULL;
        g_autoptr(Plan) p0 = NULL;
        g_autoptr(Plan) p1 = NULL;
        guint np = (guint)g_rand_int_range(rand, 1, 41);
        guint ndom = (guint)g_rand_int_range(rand, 1, 25);
        g_autoptr(GArray) va = g_array_new(FALSE, TRUE, sizeof(TvVcpu));
        g_autofree double *ran = NULL;
        g_autofree double *waited = NULL;
        g_autofree double *demand = NULL;
        TvVcpu *v;
        double sd;
        double unmet_before;
        double unmet_after;
        guint d;
        guint i;
        guint n;

        for (d = 0; d < ndom; d++) {
            guint k = (guint)g_rand_int_range(rand, 1, 5);

            while (k--) {
                TvVcpu x = {.dom = d, .time_ns = BASE_NS, .delay_ns = 0};
                gint kind = g_rand_int_range(rand, 0, 10);

                x.last = g_rand_int_range(rand, -1, (gint)np + 1);
                x.pin = random_pin(rand, kind, np);
                g_array_append_val(va, x);
            }
        }
        v = (TvVcpu *)va->data;
        n = va->len;
        ran = g_new0(double, n);
        waited = g_new0(double, n);
        demand = g_new0(double, n);
        for (i = 0; i < n; i++) {
            ran[i] = g_rand_double_range(rand, 0, 100);
            waited[i] = g_rand_double_range(rand, 0, 100 - ran[i]);
            demand[i] = tv_demand(ran[i], waited[i]);
        }

        s0 = tv_snapshot(np, v, n, T0_US);
        p0 = vcpu_policy_decide(s0, &cfg, st);
        g_assert_cmpuint(plan_len(p0), ==, 0);
        advance(v, n, ran, waited, WALL_US);
        s1 = tv_snapshot(np, v, n, T0_US + WALL_US);
        p1 = vcpu_policy_decide(s1, &cfg, st);

        tv_check_plan(p1, np, v, n);
        check_measured(st, np, v, n, ran);
        if (plan_len(p1) == 0)
            continue;
        nonempty++;
        tv_predict(p1, v, n, np, demand, &sd, &unmet_after);
        /* Relative: the two sums add the same loads in other orders. */
        g_assert_cmpfloat_with_epsilon(vcpu_plan_sd(p1)->sd_after, sd,
                                       1e-6 * MAX(1.0, sd));
        /* Demand above capacity before the plan, where vCPUs are now. */
        {
            g_autoptr(Plan) none = plan_new();

            tv_predict(none, v, n, np, demand, &sd, &unmet_before);
        }
        if (vcpu_plan_sd(p1)->sd_before <= cfg.sd_threshold) {
            /* Balanced: only unpinned vCPUs are pinned, and it stays so. */
            for (i = 0; i < plan_len(p1); i++)
                g_assert_cmpint(tv_pin(p1, i)->from_pcpu, ==, -1);
            g_assert_cmpfloat(vcpu_plan_sd(p1)->sd_after, <=, cfg.sd_threshold);
        } else if (vcpu_plan_sd(p1)->sd_after >
                       vcpu_plan_sd(p1)->sd_before - cfg.sd_hysteresis &&
                   !(only_claims(p1) && vcpu_plan_sd(p1)->sd_after <=
                                            vcpu_plan_sd(p1)->sd_before)) {
            /* sd may only rise when waiting demand gets to run.  (Pinning
             * vCPUs that could run anywhere is due on the first balancing,
             * so a plan of such claims alone may gain less than the
             * hysteresis, as long as it loses nothing.) */
            if (!strstr(p1->summary, "frees"))
                g_error("round %u (%u pCPUs, %u vCPUs): \"%s\", sd %.2f -> "
                        "%.2f, %u actions",
                        round, np, n, p1->summary, vcpu_plan_sd(p1)->sd_before,
                        vcpu_plan_sd(p1)->sd_after, plan_len(p1));
            g_assert_cmpfloat(unmet_before - unmet_after, >=, 25 - 1e-6);
        }
        /* Any plan pins every unpinned vCPU. */
        {
            guint unpinned = 0;
            guint pins = 0;

            for (i = 0; i < n; i++)
                unpinned += tv_pinned(&v[i], np) < 0;
            for (i = 0; i < plan_len(p1); i++)
                pins += tv_pin(p1, i)->from_pcpu == -1;
            g_assert_cmpuint(pins, ==, unpinned);
        }
    }
    /* The property must have been exercised, not skipped. */
    g_assert_cmpuint(nonempty, >, 100);
    config_clear(&vcpu_config_schema, &cfg);
}

/* Randomized extremes: hosts with no pCPUs, one, or 1,024; thousands of
 * guests; counters that stand still, run backwards (a restarted guest),
 * jump by centuries, or sit next to 2^64; last-ran pCPUs that do not
 * exist. Whatever comes in, every plan names existing vCPUs once, pins
 * them to existing pCPUs, and reports finite sds. */
static guint64 odd_counter(GRand *rand, guint64 was)
{
    switch (g_rand_int_range(rand, 0, 6)) {
    case 0:
        return was; /* no progress */
    case 1:
        return was / 3; /* backwards: the guest restarted */
    case 2:
        return was + (G_MAXUINT64 / 4); /* centuries of run time */
    case 3:
        return G_MAXUINT64 - (guint64)g_rand_int(rand); /* next to 2^64 */
    default:
        return was + (guint64)g_rand_int_range(rand, 0, 2000000000);
    }
}

static void test_random_extremes(void)
{
    g_autoptr(GRand) rand = g_rand_new_with_seed(20261204);
    const char *env = g_getenv("VCPU_FUZZ_CASES");
    guint cases = env ? (guint)g_ascii_strtoull(env, NULL, 10) : 400;
    /* Each round is up to 6,000 vCPUs on 1,024 pCPUs, so a fiftieth of
     * the small-host rounds, and never fewer than 12 (three of each
     * kind of host). */
    guint rounds = MAX(cases / 50, 12u);
    guint shapes[4] = {0};
    guint moved[4] = {0};
    VcpuConfig cfg;
    guint round;

    tv_config(&cfg);
    for (round = 0; round < rounds; round++) {
        g_autoptr(VcpuPolicyState) st = vcpu_policy_state_new();
        g_autoptr(GArray) va = g_array_new(FALSE, TRUE, sizeof(TvVcpu));
        guint shape = round % 4;
        guint np;
        guint ndom;
        guint d;
        guint t;
        TvVcpu *v;
        guint n;

        np = shape == 0   ? 0
             : shape == 1 ? 1
             : shape == 2 ? 1024
                          : (guint)g_rand_int_range(rand, 2, 65);
        ndom = (guint)g_rand_int_range(rand, 1, shape == 2 ? 3001 : 2001);
        for (d = 0; d < ndom; d++) {
            guint k = (guint)g_rand_int_range(rand, 1, 3);

            while (k--) {
                TvVcpu x = {.dom = d};
                gint kind = g_rand_int_range(rand, 0, 10);

                x.time_ns = odd_counter(rand, BASE_NS);
                x.delay_ns = odd_counter(rand, BASE_NS / 2);
                x.no_delay = g_rand_int_range(rand, 0, 8) == 0;
                /* Out of range on purpose, up to 8 past the last pCPU. */
                x.last = g_rand_int_range(rand, -1, (gint)np + 8);
                x.pin = random_pin(rand, kind, np);
                g_array_append_val(va, x);
            }
        }
        v = (TvVcpu *)va->data;
        n = va->len;
        for (t = 0; t < 3; t++) {
            g_autoptr(Snapshot) snap =
                tv_snapshot(np, v, n, T0_US + (gint64)t * WALL_US);
            g_autoptr(Plan) plan = vcpu_policy_decide(snap, &cfg, st);
            guint i;

            tv_check_plan(plan, np, v, n);
            if (np == 0)
                g_assert_cmpuint(plan_len(plan), ==, 0);
            moved[shape] += plan_len(plan);
            /* Applied as planned, then the counters move on, oddly. */
            apply_plan(st, plan, v, n, TRUE);
            for (i = 0; i < n; i++) {
                v[i].time_ns = odd_counter(rand, v[i].time_ns);
                v[i].delay_ns = odd_counter(rand, v[i].delay_ns);
            }
        }
        shapes[shape]++;
    }
    /* Every kind of host was drawn, and the hosts with pCPUs to spare
     * got plans to check, not just empty ones. */
    for (round = 0; round < 4; round++)
        g_assert_cmpuint(shapes[round], >=, 3);
    g_test_message("pin changes planned: none %u, one %u, 1024 %u, other %u",
                   moved[0], moved[1], moved[2], moved[3]);
    g_assert_cmpuint(moved[2], >, 0);
    g_assert_cmpuint(moved[3], >, 0);
    config_clear(&vcpu_config_schema, &cfg);
}

/* ------------------------------------------------------------------ */
/* Edges: no pCPUs at all, and a large host. */

static void test_no_pcpus(void)
{
    g_autoptr(VcpuPolicyState) st = vcpu_policy_state_new();
    TvVcpu v[2] = {{0, TV_ALL, 3, BASE_NS, 0, FALSE},
                   {1, TV_ALL, -1, BASE_NS, 0, FALSE}};
    const double *util = NULL;
    guint nutil = 0;
    VcpuConfig cfg;
    guint t;

    tv_config(&cfg);
    for (t = 0; t < 3; t++) {
        g_autoptr(Snapshot) snap = tv_snapshot(0, v, 2, T0_US + t * WALL_US);
        g_autoptr(Plan) plan = vcpu_policy_decide(snap, &cfg, st);

        g_assert_cmpuint(plan_len(plan), ==, 0);
        g_assert_cmpstr(plan->summary, ==, "no pCPUs");
        g_assert_false(vcpu_policy_last_util(st, &util, &nutil));
        v[0].time_ns += 500000000;
    }
    config_clear(&vcpu_config_schema, &cfg);
}

static void test_large_host(void)
{
    g_autoptr(VcpuPolicyState) st = vcpu_policy_state_new();
    g_autoptr(Snapshot) s0 = NULL;
    g_autoptr(Snapshot) s1 = NULL;
    g_autoptr(Plan) p0 = NULL;
    g_autoptr(Plan) p1 = NULL;
    const guint np = 1024;
    const guint n = 6000;
    g_autofree TvVcpu *v = g_new0(TvVcpu, n);
    g_autofree double *ran = g_new0(double, n);
    g_autofree double *waited = g_new0(double, n);
    g_autofree gboolean *seen = g_new0(gboolean, n);
    VcpuConfig cfg;
    guint i;

    tv_config(&cfg);
    /* 3000 guests of 2 vCPUs: half crowd the first 8 pCPUs, half are
     * unpinned. */
    for (i = 0; i < n; i++) {
        v[i] = (TvVcpu){.dom = i / 2, .time_ns = BASE_NS};
        v[i].pin = i % 2 ? TV_ALL : (gint)(i % 16) / 2;
        v[i].last = (gint)(i % 8);
        ran[i] = 8 * 100.0 / 3000;
        waited[i] = 100 - ran[i];
    }
    s0 = tv_snapshot(np, v, n, T0_US);
    p0 = vcpu_policy_decide(s0, &cfg, st);
    advance(v, n, ran, waited, WALL_US);
    s1 = tv_snapshot(np, v, n, T0_US + WALL_US);
    p1 = vcpu_policy_decide(s1, &cfg, st);

    g_assert_cmpuint(plan_len(p1), >, 0);
    g_assert_cmpfloat(vcpu_plan_sd(p1)->sd_after, <,
                      vcpu_plan_sd(p1)->sd_before);
    for (i = 0; i < plan_len(p1); i++) {
        const PinAction *a = tv_pin(p1, i);
        guint dom = 0;
        guint k;

        g_assert_cmpint(
            sscanf(a->base.uuid, "6f1c0000-0000-4000-8000-%12x", &dom), ==, 1);
        g_assert_cmpuint(a->vcpu, <, 2);
        k = dom * 2 + a->vcpu;
        g_assert_cmpuint(k, <, n);
        g_assert_false(seen[k]);
        seen[k] = TRUE;
        g_assert_cmpuint(a->to_pcpu, <, np);
        g_assert_cmpint(a->from_pcpu, !=, (gint)a->to_pcpu);
    }
    /* Every unpinned vCPU got pinned. */
    for (i = 1; i < n; i += 2)
        g_assert_true(seen[i]);
    config_clear(&vcpu_config_schema, &cfg);
}

/* A host with CPUs 0-7 of which only 0, 2 and 4 are online (as libvirt's
 * test driver shows one): three spinning vCPUs stacked on CPU 4, and a
 * free one that last ran on offline CPU 7.  Utilisation is measured on
 * the online pCPUs only, CPU 4's load is seen, and no pin targets an
 * offline CPU. */
static void test_offline_pcpus(void)
{
    static const guint online[] = {0, 2, 4};
    TvVcpu v[] = {
        {.dom = 0, .pin = 4, .last = 4},
        {.dom = 1, .pin = 4, .last = 4},
        {.dom = 2, .pin = 4, .last = 4},
        {.dom = 3, .pin = TV_ALL, .last = 7},
    };
    const double ran[] = {100.0 / 3, 100.0 / 3, 100.0 / 3, 0};
    const double waited[] = {200.0 / 3, 200.0 / 3, 200.0 / 3, 0};
    g_autoptr(VcpuPolicyState) st = vcpu_policy_state_new();
    g_autoptr(Snapshot) s0 = NULL;
    g_autoptr(Snapshot) s1 = NULL;
    g_autoptr(Plan) p0 = NULL;
    g_autoptr(Plan) p1 = NULL;
    const double *util = NULL;
    guint nutil = 0;
    VcpuConfig cfg;
    guint i;
    guint k;

    tv_config(&cfg);
    s0 = tv_snapshot(8, v, G_N_ELEMENTS(v), T0_US);
    s0->node.online = g_malloc0(snapshot_maplen(s0));
    for (k = 0; k < G_N_ELEMENTS(online); k++)
        cpumap_set(s0->node.online, snapshot_maplen(s0), online[k]);
    p0 = vcpu_policy_decide(s0, &cfg, st);
    advance(v, G_N_ELEMENTS(v), ran, waited, WALL_US);
    s1 = tv_snapshot(8, v, G_N_ELEMENTS(v), T0_US + WALL_US);
    s1->node.online = g_memdup2(s0->node.online, snapshot_maplen(s0));
    p1 = vcpu_policy_decide(s1, &cfg, st);

    g_assert_true(vcpu_policy_last_util(st, &util, &nutil));
    g_assert_cmpuint(nutil, ==, G_N_ELEMENTS(online));
    g_assert_cmpfloat_with_epsilon(util[0], 0, 1e-6);
    g_assert_cmpfloat_with_epsilon(util[1], 0, 1e-6);
    g_assert_cmpfloat_with_epsilon(util[2], 100, 1e-6);
    g_test_message("%s", p1->summary);
    /* Two of the stacked vCPUs move and the free one is pinned. */
    g_assert_cmpuint(plan_len(p1), ==, 3);
    for (i = 0; i < plan_len(p1); i++) {
        const PinAction *a = tv_pin(p1, i);

        g_test_message("%s: %s", a->base.name, a->base.reason);
        g_assert_true(snapshot_cpu_online(s1, a->to_pcpu));
        g_assert_cmpint(a->from_pcpu, ==,
                        g_str_equal(a->base.name, "vm3") ? -1 : 4);
    }
    config_clear(&vcpu_config_schema, &cfg);
}

int main(int argc, char **argv)
{
    guint i;

    g_test_init(&argc, &argv, NULL);
    for (i = 0; i < G_N_ELEMENTS(decide_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/vcpu/decide/%s", decide_cases[i].name);
        g_test_add_data_func(path, &decide_cases[i], test_decide_case);
    }
    for (i = 0; i < G_N_ELEMENTS(scripts); i++) {
        g_autofree char *path =
            g_strdup_printf("/vcpu/script/%s", scripts[i].name);
        g_test_add_data_func(path, &scripts[i], test_script);
    }
    for (i = 0; i < G_N_ELEMENTS(dwell_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/vcpu/dwell/%s", dwell_cases[i].name);
        g_test_add_data_func(path, &dwell_cases[i], test_dwell);
    }
    g_test_add_func("/vcpu/random/invariants", test_random_property);
    g_test_add_func("/vcpu/random/extreme hosts", test_random_extremes);
    g_test_add_func("/vcpu/edge/no pCPUs", test_no_pcpus);
    g_test_add_func("/vcpu/edge/offline pCPUs", test_offline_pcpus);
    g_test_add_func("/vcpu/edge/1024 pCPUs, 3000 guests", test_large_host);
    return g_test_run();
}
