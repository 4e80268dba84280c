/* The vCPU policy against a simulated host, tick by tick: the course's
 * seven scenarios and a few harder ones, each run with many noise seeds.
 *
 * The host model: each pCPU shares its time max-min fairly among the vCPUs
 * placed on it.  A vCPU pinned to one pCPU runs there; the others are
 * spread by a "kernel" that puts the largest on the least loaded pCPU, and
 * report as their last pCPU a wrong one now and then, as a point sample
 * does.  What a vCPU waits depends on the wait model:
 *   - work-then-idle (the burner): a vCPU that wanted d and got r < d
 *     waits 100 - 100 r / d percent;
 *   - always runnable: it waits 100 - r percent, the worst case for a
 *     planner that reads demand from time + delay. */
#include "test_vcpu_util.h"

#define SIM_MAXV 16
#define SIM_SEEDS 40
#define SIM_BASE_NS 3000000000ULL
#define SIM_T0_US 9000000
#define SIM_WALL_US 1000000
#define SIM_IDLE 0.7 /* what an idle TCG guest costs, percent */
#define SIM_WRONG_LAST                                                         \
    0.3 /* how often an unpinned vCPU's last pCPU is wrong                     \
         */

typedef enum {
    WAIT_WORK_IDLE,
    WAIT_ALWAYS,
} WaitModel;

typedef struct {
    const char *name;
    guint np;
    guint nv;
    guint per_dom; /* vCPUs to a guest; 0 means 1 */
    gint pin[SIM_MAXV];
    double load[SIM_MAXV];  /* demand once the load starts */
    double load2[SIM_MAXV]; /* demand after the switch */
    guint start;            /* first tick of the load; idle before */
    guint switch_at;        /* 0: no switch */
    guint ticks;
    double noise; /* +- percentage points on every demand, every tick */
    WaitModel wait;
    gboolean fail_first; /* the first pin attempt of the run fails */

    gboolean unreachable; /* sd <= threshold cannot be reached */
    guint within;         /* ticks from a load change to balance */
    guint max_pins;       /* pin changes over the whole run */
    guint settle;         /* ticks from a load change to its last pin
                           * change; 0 means 1 */
} SimCase;

typedef struct {
    guint to_balance[2]; /* per phase; G_MAXUINT when never balanced */
    guint last_pin[2];   /* per phase, ticks from its start; 0 for none */
    guint pins;
    guint pins_after_balance;
    double final_sd;
} SimResult;

/* Where pCPUs are not saturated, noise alone can read sd > 5 for a few
 * ticks of a balanced placement; those rows allow more ticks to the first
 * balanced reading, while still asking for every pin change on the first
 * tick that sees a load change and none after. */
#define ALL4                                                                   \
    {                                                                          \
        TV_ALL, TV_ALL, TV_ALL, TV_ALL                                         \
    }
#define R 30 /* ticks in a course run */

static const SimCase sim_cases[] = {
    {.name = "course 1: all on pCPU 0, spinning",
     .np = 2,
     .nv = 4,
     .pin = {0, 0, 0, 0},
     .load = {100, 100, 100, 100},
     .start = 3,
     .ticks = R,
     .noise = 5,
     .wait = WAIT_WORK_IDLE,
     .within = 2,
     .max_pins = 2},
    {.name = "course 1: all on pCPU 0, 70% burners",
     .np = 2,
     .nv = 4,
     .pin = {0, 0, 0, 0},
     .load = {70, 70, 70, 70},
     .start = 3,
     .ticks = R,
     .noise = 5,
     .wait = WAIT_WORK_IDLE,
     .within = 2,
     .max_pins = 2},
    {.name = "course 1: 70%, always-runnable waits",
     .np = 2,
     .nv = 4,
     .pin = {0, 0, 0, 0},
     .load = {70, 70, 70, 70},
     .start = 3,
     .ticks = R,
     .noise = 5,
     .wait = WAIT_ALWAYS,
     .within = 2,
     .max_pins = 2},
    {.name = "course 1: first pin fails, retried",
     .np = 2,
     .nv = 4,
     .pin = {0, 0, 0, 0},
     .load = {100, 100, 100, 100},
     .start = 3,
     .ticks = R,
     .noise = 5,
     .wait = WAIT_WORK_IDLE,
     .fail_first = TRUE,
     .within = 3,
     .max_pins = 2,
     .settle = 2},
    {.name = "course 2: half on each pCPU, 70%",
     .np = 2,
     .nv = 4,
     .pin = {0, 0, 1, 1},
     .load = {70, 70, 70, 70},
     .start = 3,
     .ticks = R,
     .noise = 5,
     .wait = WAIT_WORK_IDLE,
     .within = 1,
     .max_pins = 0},
    {.name = "course 2: half on each pCPU, 47%",
     .np = 2,
     .nv = 4,
     .pin = {0, 0, 1, 1},
     .load = {47, 47, 47, 47},
     .start = 3,
     .ticks = R,
     .noise = 5,
     .wait = WAIT_WORK_IDLE,
     .within = 6,
     .max_pins = 0},
    {.name = "course 3: balanced pinning, spinning",
     .np = 2,
     .nv = 4,
     .pin = {0, 1, 0, 1},
     .load = {100, 100, 100, 100},
     .start = 3,
     .ticks = R,
     .noise = 5,
     .wait = WAIT_WORK_IDLE,
     .within = 1,
     .max_pins = 0},
    {.name = "course 3: balanced pinning, 47%",
     .np = 2,
     .nv = 4,
     .pin = {0, 1, 0, 1},
     .load = {47, 47, 47, 47},
     .start = 3,
     .ticks = R,
     .noise = 5,
     .wait = WAIT_WORK_IDLE,
     .within = 6,
     .max_pins = 0},
    {.name = "course 4: affinity to all, spinning",
     .np = 2,
     .nv = 4,
     .pin = ALL4,
     .load = {100, 100, 100, 100},
     .start = 3,
     .ticks = R,
     .noise = 5,
     .wait = WAIT_WORK_IDLE,
     .within = 2,
     .max_pins = 4},
    {.name = "course 4: affinity to all, 47%",
     .np = 2,
     .nv = 4,
     .pin = ALL4,
     .load = {47, 47, 47, 47},
     .start = 3,
     .ticks = R,
     .noise = 5,
     .wait = WAIT_WORK_IDLE,
     .within = 6,
     .max_pins = 4},
    {.name = "course 5: affinity to all, 2 spinning + 2 light",
     .np = 2,
     .nv = 4,
     .pin = ALL4,
     .load = {100, 100, 14, 14},
     .start = 3,
     .ticks = R,
     .noise = 5,
     .wait = WAIT_WORK_IDLE,
     .within = 2,
     .max_pins = 4},
    {.name = "course 5: affinity to all, 2 at 70% + 2 light",
     .np = 2,
     .nv = 4,
     .pin = ALL4,
     .load = {70, 70, 14, 14},
     .start = 3,
     .ticks = R,
     .noise = 5,
     .wait = WAIT_WORK_IDLE,
     .within = 6,
     .max_pins = 4},
    {.name = "course 5: always-runnable waits",
     .np = 2,
     .nv = 4,
     .pin = ALL4,
     .load = {70, 70, 14, 14},
     .start = 3,
     .ticks = R,
     .noise = 5,
     .wait = WAIT_ALWAYS,
     .within = 6,
     .max_pins = 4},
    {.name = "course 6: balanced pinning, no load",
     .np = 2,
     .nv = 4,
     .pin = {0, 1, 0, 1},
     .load = {SIM_IDLE, SIM_IDLE, SIM_IDLE, SIM_IDLE},
     .start = 3,
     .ticks = R,
     .noise = 0,
     .wait = WAIT_WORK_IDLE,
     .within = 1,
     .max_pins = 0},
    {.name = "course 7: light, then vm0 and vm1 spin",
     .np = 2,
     .nv = 4,
     .pin = ALL4,
     .load = {14, 14, 14, 14},
     .load2 = {100, 100, 14, 14},
     .start = 3,
     .switch_at = 14,
     .ticks = R,
     .noise = 5,
     .wait = WAIT_WORK_IDLE,
     .within = 6,
     .max_pins = 6},
    {.name = "course 7: light, then vm0 and vm2 at 70%",
     .np = 2,
     .nv = 4,
     .pin = ALL4,
     .load = {14, 14, 14, 14},
     .load2 = {70, 14, 70, 14},
     .start = 3,
     .switch_at = 14,
     .ticks = R,
     .noise = 5,
     .wait = WAIT_WORK_IDLE,
     .within = 6,
     .max_pins = 6},
    /* Worst case for demand readings: a 70% vCPU that falls short by a
     * little reads as 100%, so "heavy + 2 light" against "heavy" cannot
     * be told from an even split.  What must hold is that it settles. */
    {.name = "course 7: always-runnable waits, settles",
     .np = 2,
     .nv = 4,
     .pin = ALL4,
     .load = {14, 14, 14, 14},
     .load2 = {70, 70, 14, 14},
     .start = 3,
     .switch_at = 14,
     .ticks = R,
     .noise = 5,
     .wait = WAIT_ALWAYS,
     .unreachable = TRUE,
     .within = 0,
     .max_pins = 10},
    {.name = "course 7 pinned: heavy pair lands on one pCPU",
     .np = 2,
     .nv = 4,
     .pin = {0, 1, 0, 1},
     .load = {14, 14, 14, 14},
     .load2 = {100, 14, 100, 14},
     .start = 3,
     .switch_at = 14,
     .ticks = R,
     .noise = 5,
     .wait = WAIT_WORK_IDLE,
     .within = 3,
     .max_pins = 2},
    {.name = "noisy: 47% loads, +-8 points",
     .np = 2,
     .nv = 4,
     .pin = {0, 1, 0, 1},
     .load = {47, 47, 47, 47},
     .start = 3,
     .ticks = 60,
     .noise = 8,
     .wait = WAIT_WORK_IDLE,
     .within = 8,
     .max_pins = 0},
    {.name = "8 pCPUs, 16 spinning guests on pCPU 0",
     .np = 8,
     .nv = 16,
     .pin = {0},
     .load = {100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100,
              100, 100, 100},
     .start = 3,
     .ticks = R,
     .noise = 5,
     .wait = WAIT_WORK_IDLE,
     .within = 2,
     .max_pins = 14},
    {.name = "4 pCPUs, 4 guests of 2 vCPUs, affinity to all",
     .np = 4,
     .nv = 8,
     .per_dom = 2,
     .pin = {TV_ALL, TV_ALL, TV_ALL, TV_ALL, TV_ALL, TV_ALL, TV_ALL, TV_ALL},
     .load = {100, 100, 40, 40, 60, 60, 20, 80},
     .start = 3,
     .ticks = R,
     .noise = 5,
     .wait = WAIT_WORK_IDLE,
     .within = 2,
     .max_pins = 8},
    {.name = "fewer vCPUs than pCPUs: 2 spinning on pCPU 0 of 4",
     .np = 4,
     .nv = 2,
     .pin = {0, 0},
     .load = {100, 100},
     .start = 3,
     .ticks = R,
     .noise = 5,
     .wait = WAIT_WORK_IDLE,
     .unreachable = TRUE,
     .within = 0,
     .max_pins = 1},
    {.name = "three 60% burners on 2 pCPUs: balance out of reach",
     .np = 2,
     .nv = 3,
     .pin = {0, 0, 1},
     .load = {60, 60, 60},
     .start = 3,
     .ticks = R,
     .noise = 5,
     .wait = WAIT_WORK_IDLE,
     .unreachable = TRUE,
     .within = 0,
     .max_pins = 0},
    {.name = "three 60% always-runnable: few tries, then hold",
     .np = 2,
     .nv = 3,
     .pin = {0, 0, 1},
     .load = {60, 60, 60},
     .start = 3,
     .ticks = R,
     .noise = 5,
     .wait = WAIT_ALWAYS,
     .unreachable = TRUE,
     .within = 0,
     .max_pins = 3},
};

typedef struct {
    guint np;
    guint nv;
    TvVcpu v[SIM_MAXV];
    GRand *rand;
} Host;

static double noisy(Host *h, double d, double noise)
{
    if (d <= SIM_IDLE)
        return g_rand_double_range(h->rand, 0.2, 1.5);
    return CLAMP(d + g_rand_double_range(h->rand, -noise, noise), 1, 100);
}

/* Where each vCPU runs this interval: pinned ones on their pCPU, the
 * others largest first on the least loaded pCPU. */
static void place(const Host *h, const double *d, gint *run)
{
    double sum[SIM_MAXV] = {0};
    guint order[SIM_MAXV];
    guint nfree = 0;
    guint i;
    guint j;

    for (i = 0; i < h->nv; i++) {
        run[i] = tv_pinned(&h->v[i], h->np);
        if (run[i] >= 0)
            sum[run[i]] += d[i];
        else
            order[nfree++] = i;
    }
    for (i = 1; i < nfree; i++) {
        for (j = i; j > 0 && d[order[j]] > d[order[j - 1]]; j--) {
            guint t = order[j];

            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    }
    for (i = 0; i < nfree; i++) {
        guint best = 0;
        guint p;

        for (p = 1; p < h->np; p++) {
            if (sum[p] < sum[best])
                best = p;
        }
        run[order[i]] = (gint)best;
        sum[best] += d[order[i]];
    }
}

/* Max-min fair shares of one pCPU among the vCPUs on it. */
static void share(const Host *h, const double *d, const gint *run, guint p,
                  double *got)
{
    guint idx[SIM_MAXV];
    guint k = 0;
    double left = 100;
    guint i;
    guint j;

    for (i = 0; i < h->nv; i++) {
        if (run[i] == (gint)p)
            idx[k++] = i;
    }
    for (i = 1; i < k; i++) {
        for (j = i; j > 0 && d[idx[j]] < d[idx[j - 1]]; j--) {
            guint t = idx[j];

            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    }
    for (i = 0; i < k; i++) {
        double fair = left / (k - i);

        got[idx[i]] = MIN(d[idx[i]], fair);
        left -= got[idx[i]];
    }
}

static void run_interval(Host *h, const double *want, double noise,
                         WaitModel wait)
{
    double d[SIM_MAXV];
    double got[SIM_MAXV] = {0};
    gint run[SIM_MAXV];
    guint i;
    guint p;

    for (i = 0; i < h->nv; i++)
        d[i] = noisy(h, want[i], noise);
    place(h, d, run);
    for (p = 0; p < h->np; p++)
        share(h, d, run, p, got);
    for (i = 0; i < h->nv; i++) {
        double waited;

        if (got[i] < d[i] - 1e-9)
            waited =
                wait == WAIT_ALWAYS ? 100 - got[i] : 100 - 100 * got[i] / d[i];
        else
            waited = 0.05 * got[i];
        h->v[i].time_ns += (guint64)(got[i] / 100 * SIM_WALL_US * 1000);
        h->v[i].delay_ns += (guint64)(waited / 100 * SIM_WALL_US * 1000);
        h->v[i].last = run[i];
        if (tv_pinned(&h->v[i], h->np) < 0 &&
            g_rand_double(h->rand) < SIM_WRONG_LAST)
            h->v[i].last = g_rand_int_range(h->rand, 0, (gint)h->np);
    }
}

static guint apply(Host *h, VcpuPolicyState *st, const Plan *plan,
                   gboolean *fail_next)
{
    guint pins = 0;
    guint i;

    for (i = 0; i < plan_len(plan); i++) {
        const PinAction *a = tv_pin(plan, i);
        gint k = tv_find(h->v, h->nv, a);

        g_assert_cmpint(k, >=, 0);
        if (*fail_next) {
            *fail_next = FALSE;
            vcpu_policy_note_applied(st, a, FALSE);
            continue;
        }
        h->v[k].pin = (gint)a->to_pcpu;
        vcpu_policy_note_applied(st, a, TRUE);
        pins++;
    }
    return pins;
}

/* VCPU_SIM_TRACE=1 prints every decision with its reasons. */
static void trace(guint seed, guint t, const Plan *plan)
{
    guint i;

    g_printerr("seed %u t %u: %s\n", seed, t, plan->summary);
    for (i = 0; i < plan_len(plan); i++)
        g_printerr("   %s vCPU %u: %s\n", tv_pin(plan, i)->base.name,
                   tv_pin(plan, i)->vcpu, tv_pin(plan, i)->base.reason);
}

static void simulate(const SimCase *tc, guint32 seed, SimResult *res)
{
    g_autoptr(VcpuPolicyState) st = vcpu_policy_state_new();
    Host h = {.np = tc->np, .nv = tc->nv};
    gboolean fail_next = tc->fail_first;
    gboolean balanced[2] = {FALSE, FALSE};
    VcpuConfig cfg;
    guint t;
    guint i;

    tv_config(&cfg);
    h.rand = g_rand_new_with_seed(seed);
    memset(res, 0, sizeof(*res));
    res->to_balance[0] = res->to_balance[1] = G_MAXUINT;
    for (i = 0; i < tc->nv; i++) {
        h.v[i].dom = i / MAX(tc->per_dom, 1);
        h.v[i].pin = tc->pin[i];
        h.v[i].last = (gint)(i % tc->np);
        h.v[i].time_ns = SIM_BASE_NS + i;
        h.v[i].delay_ns = SIM_BASE_NS / 3;
    }

    for (t = 0; t <= tc->ticks; t++) {
        g_autoptr(Snapshot) snap =
            tv_snapshot(h.np, h.v, h.nv, SIM_T0_US + (gint64)t * SIM_WALL_US);
        g_autoptr(Plan) plan = vcpu_policy_decide(snap, &cfg, st);
        guint phase = tc->switch_at && t > tc->switch_at ? 1 : 0;
        guint since = phase ? tc->switch_at : tc->start;
        const double *util = NULL;
        double want[SIM_MAXV];
        guint nutil = 0;
        guint pins;

        tv_check_plan(plan, h.np, h.v, h.nv);
        if (g_getenv("VCPU_SIM_TRACE"))
            trace(seed, t, plan);
        pins = apply(&h, st, plan, &fail_next);
        res->pins += pins;
        if (pins && t > since)
            res->last_pin[phase] = t - since;
        if (t > tc->start && vcpu_policy_last_util(st, &util, &nutil)) {
            double sd = util_stddev(util, nutil);

            res->final_sd = sd;
            /* A tick's measurement covers the interval before it, so the
             * first one of a phase is since + 1. */
            if (balanced[phase])
                res->pins_after_balance += pins;
            else if (sd <= cfg.sd_threshold) {
                balanced[phase] = TRUE;
                res->to_balance[phase] = t - since;
            }
        }

        for (i = 0; i < h.nv; i++) {
            if (t < tc->start)
                want[i] = SIM_IDLE;
            else if (tc->switch_at && t >= tc->switch_at)
                want[i] = tc->load2[i];
            else
                want[i] = tc->load[i];
        }
        run_interval(&h, want, tc->noise, tc->wait);
    }
    g_rand_free(h.rand);
    config_clear(&vcpu_config_schema, &cfg);
}

/* A failed expectation: reported at once, and counted; the case fails
 * once all its seeds ran, so every failing seed is seen. */
static void fail(const SimCase *tc, guint seed, const char *what,
                 guint *failures)
{
    g_printerr("%s: seed %u: %s\n", tc->name, seed, what);
    (*failures)++;
}

static void test_sim_case(gconstpointer data)
{
    const SimCase *tc = data;
    guint nphases = tc->switch_at ? 2 : 1;
    guint worst_balance = 0;
    guint worst_pins = 0;
    guint worst_after = 0;
    guint failures = 0;
    guint seed;
    guint ph;

    for (seed = 1; seed <= SIM_SEEDS; seed++) {
        SimResult res;

        simulate(tc, seed, &res);
        worst_pins = MAX(worst_pins, res.pins);
        worst_after = MAX(worst_after, res.pins_after_balance);
        for (ph = 0; ph < nphases; ph++)
            worst_balance = MAX(worst_balance, res.to_balance[ph]);
        if (res.pins > tc->max_pins) {
            g_autofree char *m = g_strdup_printf(
                "%u pin changes, at most %u expected", res.pins, tc->max_pins);
            fail(tc, seed, m, &failures);
        }
        if (tc->unreachable)
            continue;
        for (ph = 0; ph < nphases; ph++) {
            if (res.to_balance[ph] > tc->within) {
                g_autofree char *m = g_strdup_printf(
                    "phase %u balanced after %u ticks, expected within %u", ph,
                    res.to_balance[ph], tc->within);
                fail(tc, seed, m, &failures);
            }
            if (res.last_pin[ph] > MAX(tc->settle, 1)) {
                g_autofree char *m = g_strdup_printf(
                    "phase %u pin changes until its tick %u, expected by %u",
                    ph, res.last_pin[ph], MAX(tc->settle, 1));
                fail(tc, seed, m, &failures);
            }
        }
        if (res.pins_after_balance != 0) {
            g_autofree char *m = g_strdup_printf("%u pin changes after balance",
                                                 res.pins_after_balance);
            fail(tc, seed, m, &failures);
        }
    }
    g_test_message("worst of %u seeds: %u ticks to balance, %u pin changes, "
                   "%u after balance",
                   SIM_SEEDS, worst_balance, worst_pins, worst_after);
    if (failures)
        g_test_fail_printf("%u failed expectations over %u seeds", failures,
                           SIM_SEEDS);
}

int main(int argc, char **argv)
{
    guint i;

    g_test_init(&argc, &argv, NULL);
    for (i = 0; i < G_N_ELEMENTS(sim_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/vcpu/sim/%s", sim_cases[i].name);
        g_test_add_data_func(path, &sim_cases[i], test_sim_case);
    }
    return g_test_run();
}
