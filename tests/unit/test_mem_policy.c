/* Table-driven tests of the memory policies, one tick or a few at a time.
 * Every table runs under both policies unless a row says otherwise. */
#include <string.h>

#include "test_mem_util.h"

#define HOST_MIB 24576
#define HOST_FREE_MIB 20000

static Plan *decide_once(const Snapshot *snap, const MemConfig *cfg)
{
    g_autoptr(MemPolicyState) st = mem_policy_state_new();

    return mem_policy_decide(snap, cfg, st);
}

/* ---- guests that must be left alone --------------------------------- */

typedef enum {
    SPOIL_NONE, /* control: a healthy guest, must be acted on */
    SPOIL_NO_STATS,
    SPOIL_NO_UNUSED,
    SPOIL_NO_ACTUAL,
    SPOIL_NO_STAMP,
    SPOIL_OLD_STAMP,
    SPOIL_FUTURE_STAMP,
    SPOIL_PAUSED,
    SPOIL_SHUTOFF,
    SPOIL_CRASHED,
    SPOIL_INFLATING, /* balloon still above an older, lower target */
} Spoil;

typedef struct {
    const char *name;
    Spoil spoil;
    gboolean may_shrink; /* expected: a guest with excess is shrunk */
    gboolean may_grow;   /* expected: a guest short of headroom is grown */
} UntouchedCase;

static const UntouchedCase untouched_cases[] = {
    {"control", SPOIL_NONE, TRUE, TRUE},
    {"no balloon stats", SPOIL_NO_STATS, FALSE, FALSE},
    {"no unused", SPOIL_NO_UNUSED, FALSE, FALSE},
    {"no actual", SPOIL_NO_ACTUAL, FALSE, FALSE},
    {"stale: no stamp", SPOIL_NO_STAMP, FALSE, FALSE},
    {"stale: old stamp", SPOIL_OLD_STAMP, FALSE, FALSE},
    {"stale: stamp far ahead", SPOIL_FUTURE_STAMP, FALSE, FALSE},
    {"paused", SPOIL_PAUSED, FALSE, FALSE},
    {"shut off", SPOIL_SHUTOFF, FALSE, FALSE},
    {"crashed", SPOIL_CRASHED, FALSE, FALSE},
    {"inflating", SPOIL_INFLATING, FALSE, TRUE},
};

static void spoil(DomainSample *d, const MemConfig *cfg, Spoil how)
{
    switch (how) {
    case SPOIL_NONE:
        break;
    case SPOIL_NO_STATS:
        d->has_balloon_stats = FALSE;
        break;
    case SPOIL_NO_UNUSED:
        d->balloon.present &= ~BALLOON_HAS_UNUSED;
        break;
    case SPOIL_NO_ACTUAL:
        d->balloon.present &= ~BALLOON_HAS_ACTUAL;
        break;
    case SPOIL_NO_STAMP:
        d->balloon.present &= ~BALLOON_HAS_LAST_UPDATE;
        break;
    case SPOIL_OLD_STAMP:
        d->balloon.last_update -= cfg->stale_after_s + 1;
        break;
    case SPOIL_FUTURE_STAMP:
        d->balloon.last_update += cfg->stale_after_s + 1;
        break;
    case SPOIL_PAUSED:
        d->state = VIR_DOMAIN_PAUSED;
        break;
    case SPOIL_SHUTOFF:
        d->state = VIR_DOMAIN_SHUTOFF;
        break;
    case SPOIL_CRASHED:
        d->state = VIR_DOMAIN_CRASHED;
        break;
    case SPOIL_INFLATING:
        /* The target was lowered by 100 MiB; the balloon has not got there
         * and the guest still sees (and reports) its old size. */
        d->balloon.actual_kib = d->balloon.available_kib =
            d->cur_kib + 100 * TM_MIB;
        d->balloon.unused_kib += 100 * TM_MIB;
        break;
    }
}

static void test_untouched(gconstpointer data)
{
    const UntouchedCase *c = data;
    guint p;

    for (p = 0; p < 2; p++) {
        MemConfig cfg;
        g_autoptr(Snapshot) snap = tm_snapshot(10, HOST_MIB, HOST_FREE_MIB);
        g_autoptr(Plan) plan = NULL;
        DomainSample *fat;
        DomainSample *thin;
        const BalloonAction *a;

        tm_config(&cfg, (MemPolicyKind)p);
        /* fat has 900 MiB it does not use; thin has 20 MiB unused. */
        fat = tm_guest(snap, "fat", 1024, 2048, 124);
        thin = tm_guest(snap, "thin", 520, 2048, 500);
        spoil(fat, &cfg, c->spoil);
        spoil(thin, &cfg, c->spoil);
        plan = decide_once(snap, &cfg);

        a = tm_action_for(plan, "fat");
        g_assert_cmpint(a != NULL, ==, c->may_shrink);
        if (a)
            g_assert_cmpuint(a->new_kib, <, a->old_kib);
        a = tm_action_for(plan, "thin");
        g_assert_cmpint(a != NULL, ==, c->may_grow);
        if (a)
            g_assert_cmpuint(a->new_kib, >, a->old_kib);
        config_clear(&mem_config_schema, &cfg);
    }
}

/* ---- guests without balloon stats are reported once ------------------ */

typedef struct {
    gboolean has_stats;
    gint state;
    const char *expect; /* name reported after this tick, or NULL */
} ReportStep;

static const ReportStep report_steps[] = {
    {FALSE, VIR_DOMAIN_RUNNING, "quiet"}, {FALSE, VIR_DOMAIN_RUNNING, NULL},
    {FALSE, VIR_DOMAIN_RUNNING, NULL},    {TRUE, VIR_DOMAIN_RUNNING, NULL},
    {FALSE, VIR_DOMAIN_RUNNING, "quiet"}, {FALSE, VIR_DOMAIN_PAUSED, NULL},
};

static void test_unballooned_reported_once(void)
{
    g_autoptr(MemPolicyState) st = mem_policy_state_new();
    MemConfig cfg;
    guint i;

    tm_config(&cfg, MEM_POLICY_COURSE);
    for (i = 0; i < G_N_ELEMENTS(report_steps); i++) {
        g_autoptr(Snapshot) snap = tm_snapshot(i, HOST_MIB, HOST_FREE_MIB);
        g_autoptr(Plan) plan = NULL;
        g_autofree char *name = NULL;
        DomainSample *d = tm_guest(snap, "quiet", 1024, 2048, 100);
        DomainSample *paused = tm_guest(snap, "asleep", 1024, 2048, 100);

        d->has_balloon_stats = report_steps[i].has_stats;
        d->state = report_steps[i].state;
        paused->has_balloon_stats = FALSE;
        paused->state = VIR_DOMAIN_PAUSED;
        plan = mem_policy_decide(snap, &cfg, st);
        g_assert_null(tm_action_for(plan, "asleep"));
        if (!report_steps[i].has_stats)
            g_assert_null(tm_action_for(plan, "quiet"));

        g_assert_cmpint(mem_policy_take_new_unballooned(st, &name), ==,
                        report_steps[i].expect != NULL);
        g_assert_cmpstr(name, ==, report_steps[i].expect);
        g_clear_pointer(&name, g_free);
        g_assert_false(mem_policy_take_new_unballooned(st, &name));
        g_assert_null(name);
    }
    config_clear(&mem_config_schema, &cfg);
}

/* ---- a small world where balloons reach their targets at once ------- */

typedef struct {
    const char *name;
    guint64 cur_kib;
    guint64 max_kib;
    double used_mib;
    double rate_mib_s; /* used grows this fast */
    guint shares;
} World;

/* One tick of up to 8 guests at time t: returns the plan, applies it. */
static Plan *world_tick(World *w, guint n, double t, const MemConfig *cfg,
                        MemPolicyState *st, guint64 free_mib)
{
    g_autoptr(Snapshot) snap = tm_snapshot(t, HOST_MIB, free_mib);
    Plan *plan;
    guint i;

    for (i = 0; i < n; i++) {
        DomainSample *d = tm_guest(snap, w[i].name, 0, 0, 0);
        guint64 used = (guint64)(w[i].used_mib * TM_MIB);

        d->cur_kib = w[i].cur_kib;
        d->max_kib = w[i].max_kib;
        d->balloon.actual_kib = w[i].cur_kib;
        d->balloon.available_kib = w[i].cur_kib;
        d->balloon.unused_kib = mem_kib_sub(w[i].cur_kib, used);
    }
    plan = mem_policy_decide(snap, cfg, st);
    for (i = 0; i < n; i++)
        w[i].cur_kib =
            tm_target_after(plan, g_ptr_array_index(snap->domains, i));
    return plan;
}

static void world_advance(World *w, guint n, double dt)
{
    guint i;

    for (i = 0; i < n; i++)
        w[i].used_mib += w[i].rate_mib_s * dt;
}

/* ---- releases are gradual ------------------------------------------- */

typedef struct {
    const char *name;
    guint64 cur_mib;
    guint64 used_mib;
    guint64 max_release_mib;
} ReleaseCase;

static const ReleaseCase release_cases[] = {
    {"300 over", 700, 100, 64},     {"1.8 GiB over", 2048, 100, 64},
    {"just over", 400, 100, 64},    {"big steps allowed", 2048, 100, 512},
    {"heavy user", 2048, 1500, 64},
};

static void test_release_gradual(gconstpointer data)
{
    const ReleaseCase *c = data;
    guint p;

    for (p = 0; p < 2; p++) {
        g_autoptr(MemPolicyState) st = mem_policy_state_new();
        World w = {
            "g", c->cur_mib * TM_MIB, 4096 * TM_MIB, (double)c->used_mib, 0,
            1000};
        guint64 min_unused;
        guint64 first_excess = 0;
        guint releases = 0;
        guint quiet = 0;
        MemConfig cfg;
        guint tick;

        tm_config(&cfg, (MemPolicyKind)p);
        cfg.max_release_mib = c->max_release_mib;
        min_unused = (c->used_mib + cfg.min_unused_mib) * TM_MIB;
        for (tick = 0; tick < 200; tick++) {
            guint64 before = w.cur_kib;
            g_autoptr(Plan) plan =
                world_tick(&w, 1, tick, &cfg, st, HOST_FREE_MIB);

            /* Done when quiet for three ticks: near its need, idle-tax
             * waits for a report that shows its last step. */
            if (!plan_len(plan)) {
                if (++quiet == 3)
                    break;
                continue;
            }
            quiet = 0;
            g_assert_cmpuint(w.cur_kib, <, before);
            g_assert_cmpuint(before - w.cur_kib, <=,
                             cfg.max_release_mib * TM_MIB);
            g_assert_cmpuint(w.cur_kib, >=, min_unused);
            g_assert_cmpuint(w.cur_kib, >=, cfg.guest_floor_mib * TM_MIB);
            /* Never most of the excess at once while there is plenty. */
            if (!releases)
                first_excess = before - min_unused;
            if (!releases && first_excess > 2 * cfg.max_release_mib * TM_MIB)
                g_assert_cmpuint(before - w.cur_kib, <, first_excess / 2);
            releases++;
        }
        g_assert_cmpuint(tick, <, 200);
        /* It did give back, and stopped well above what it uses. */
        if (c->cur_mib * TM_MIB > min_unused + 200 * TM_MIB)
            g_assert_cmpuint(releases, >, 0);
        g_assert_cmpuint(w.cur_kib, <, min_unused + 200 * TM_MIB);
        config_clear(&mem_config_schema, &cfg);
    }
}

/* ---- headroom follows the consumption rate --------------------------- */

typedef struct {
    const char *name;
    double rate_mib_s;
    double interval_s;
} RateCase;

static const RateCase rate_cases[] = {
    {"idle", 0, 1},
    {"slow", 5, 1},
    {"25 MiB per s", 25, 1},
    {"60 MiB per s", 60, 1},
    {"150 MiB per s", 150, 1},
    {"25 MiB per s, 2 s ticks", 25, 2},
    {"60 MiB per s, 5 s ticks", 60, 5},
};

static void test_headroom_follows_rate(gconstpointer data)
{
    const RateCase *c = data;
    guint p;

    for (p = 0; p < 2; p++) {
        g_autoptr(MemPolicyState) st = mem_policy_state_new();
        World w = {"g", 512 * TM_MIB, 65536 * TM_MIB, 300, c->rate_mib_s, 1000};
        MemConfig cfg;
        guint tick;

        tm_config(&cfg, (MemPolicyKind)p);
        cfg.daemon.interval_s = c->interval_s;
        for (tick = 0; tick < 12; tick++) {
            g_autoptr(Plan) plan = world_tick(&w, 1, tick * c->interval_s, &cfg,
                                              st, HOST_FREE_MIB);
            double headroom = (double)w.cur_kib / TM_MIB - w.used_mib;

            /* Whatever the rate, the guest keeps min_unused now... */
            g_assert_cmpfloat(headroom, >=, (double)cfg.min_unused_mib);
            /* ...and, once the rate has been seen for a few ticks, enough
             * to keep min_unused through the next interval and the
             * balloon's response after it. */
            if (tick >= 4)
                g_assert_cmpfloat(headroom, >=,
                                  (double)cfg.min_unused_mib +
                                      0.95 * c->rate_mib_s *
                                          (c->interval_s + cfg.horizon_s));
            world_advance(&w, 1, c->interval_s);
        }
        /* An idle guest is not handed headroom it has no use for. */
        if (c->rate_mib_s == 0)
            g_assert_cmpfloat((double)w.cur_kib / TM_MIB, <=,
                              w.used_mib + cfg.min_unused_mib +
                                  cfg.release_slack_mib + 64 +
                                  cfg.min_step_mib);
        config_clear(&mem_config_schema, &cfg);
    }
}

/* ---- budget and reserve ----------------------------------------------- */

typedef struct {
    const char *name;
    guint64 budget_mib; /* 0: from the host */
    guint64 free_mib;
    /* guests: a grower short of headroom and a donor with spare memory */
    guint64 grower_cur_mib;
    guint64 donor_cur_mib; /* 0: no donor */
    gboolean expect_growth;
    gboolean expect_donor_gives;
} BudgetCase;

/* Grower: uses 900 MiB.  Donor: uses 100 MiB. */
static const BudgetCase budget_cases[] = {
    {"plenty", 0, HOST_FREE_MIB, 950, 0, TRUE, FALSE},
    {"host free at the reserve", 0, 200, 950, 0, FALSE, FALSE},
    {"host free below the reserve", 0, 150, 950, 800, FALSE, TRUE},
    {"host free a bit above the reserve", 0, 260, 950, 0, TRUE, FALSE},
    {"budget headroom at the reserve", 1150, HOST_FREE_MIB, 950, 0, FALSE,
     FALSE},
    {"budget short, donor gives", 2000, HOST_FREE_MIB, 950, 900, TRUE, TRUE},
    {"budget short, no donor", 1250, HOST_FREE_MIB, 950, 0, TRUE, FALSE},
    {"over budget, donor gives", 1000, HOST_FREE_MIB, 950, 900, FALSE, TRUE},
};

static void test_budget(gconstpointer data)
{
    const BudgetCase *c = data;
    guint p;

    for (p = 0; p < 2; p++) {
        g_autoptr(Snapshot) snap = tm_snapshot(5, HOST_MIB, c->free_mib);
        g_autoptr(Plan) plan = NULL;
        MemBounds b;
        DomainSample *donor = NULL;
        DomainSample *grower;
        gint64 grow = 0;
        gint64 shrink = 0;
        guint64 sum_after = 0;
        MemConfig cfg;
        guint i;

        tm_config(&cfg, (MemPolicyKind)p);
        cfg.guest_budget_mib = c->budget_mib;
        grower = tm_guest(snap, "grower", c->grower_cur_mib, 4096, 900);
        if (c->donor_cur_mib)
            donor = tm_guest(snap, "donor", c->donor_cur_mib, 4096, 100);
        mem_bounds_init(&b, snap, &cfg);
        plan = decide_once(snap, &cfg);

        for (i = 0; i < plan_len(plan); i++) {
            const BalloonAction *a = tm_balloon(plan, i);

            if (a->new_kib > a->old_kib)
                grow += (gint64)(a->new_kib - a->old_kib);
            else
                shrink += (gint64)(a->old_kib - a->new_kib);
        }
        for (i = 0; i < snap->domains->len; i++)
            sum_after +=
                tm_target_after(plan, g_ptr_array_index(snap->domains, i));

        g_assert_cmpint(grow > 0, ==, c->expect_growth);
        if (grow) {
            /* Growth never eats into the host's reserve, nor past the
             * budget less the reserve. */
            g_assert_cmpint(grow, <=,
                            (gint64)(c->free_mib - cfg.host_reserve_mib) *
                                (gint64)TM_MIB);
            g_assert_cmpuint(sum_after + cfg.host_reserve_mib * TM_MIB, <=,
                             b.budget_kib);
        }
        if (donor) {
            guint64 after = tm_target_after(plan, donor);

            g_assert_cmpint(after < donor->cur_kib, ==, c->expect_donor_gives);
            /* Never starved to feed the other. */
            g_assert_cmpuint(after, >=, (100 + cfg.min_unused_mib) * TM_MIB);
        }
        g_assert_cmpuint(tm_target_after(plan, grower), >=, grower->cur_kib);
        config_clear(&mem_config_schema, &cfg);
    }
}

/* ---- who gives first under pressure ----------------------------------- */

typedef struct {
    const char *name;
    MemPolicyKind policy;
    double tax_rate;
    /* three donors: target, used, shares */
    guint64 cur_mib[3];
    guint64 used_mib[3];
    guint shares[3];
    guint expect; /* the donor that must give */
} OrderCase;

static const OrderCase order_cases[] = {
    {"idle-tax: fewest shares",
     MEM_POLICY_IDLE_TAX,
     0.75,
     {1200, 1200, 1200},
     {500, 500, 500},
     {1000, 500, 2000},
     1},
    {"idle-tax: most pages",
     MEM_POLICY_IDLE_TAX,
     0.75,
     {1000, 1400, 1200},
     {400, 560, 480},
     {1000, 1000, 1000},
     1},
    {"idle-tax: most idle",
     MEM_POLICY_IDLE_TAX,
     0.75,
     {1200, 1200, 1200},
     {900, 300, 600},
     {1000, 1000, 1000},
     1},
    /* Without the tax, pages alone count and the busy big guest gives;
     * with it, the idle smaller one does. */
    {"idle-tax: no tax, big busy gives",
     MEM_POLICY_IDLE_TAX,
     0.0,
     {1400, 1000, 1000},
     {1200, 100, 800},
     {1000, 1000, 1000},
     0},
    {"idle-tax: tax, small idle gives",
     MEM_POLICY_IDLE_TAX,
     0.75,
     {1400, 1000, 1000},
     {1200, 100, 800},
     {1000, 1000, 1000},
     1},
    /* course gives back everything above need + slack anyway; pressure
     * then digs into the slack, biggest first. */
    {"course: most excess",
     MEM_POLICY_COURSE,
     0.75,
     {500, 500, 500},
     {345, 300, 340},
     {1000, 1000, 1000},
     1},
};

static void test_pressure_order(gconstpointer data)
{
    const OrderCase *c = data;
    g_autoptr(Snapshot) snap = tm_snapshot(5, HOST_MIB, HOST_FREE_MIB);
    g_autoptr(Plan) plan = NULL;
    g_autoptr(GPtrArray) shares = g_ptr_array_new_with_free_func(g_free);
    DomainSample *donors[3];
    guint64 sum = 0;
    MemConfig cfg;
    guint i;

    tm_config(&cfg, c->policy);
    cfg.tax_rate = c->tax_rate;
    for (i = 0; i < 3; i++) {
        g_autofree char *name = g_strdup_printf("donor%u", i);

        donors[i] = tm_guest(snap, name, c->cur_mib[i], 4096, c->used_mib[i]);
        g_ptr_array_add(shares, g_strdup_printf("%s=%u", name, c->shares[i]));
        sum += c->cur_mib[i];
    }
    g_ptr_array_add(shares, NULL);
    cfg.shares = g_strdupv((char **)shares->pdata);
    /* A grower 30 MiB short of its need, and a budget with no room. */
    tm_guest(snap, "grower", 1000, 4096, 880);
    cfg.guest_budget_mib = sum + 1000 + cfg.host_reserve_mib;
    plan = decide_once(snap, &cfg);

    for (i = 0; i < 3; i++) {
        const BalloonAction *a = tm_action_for(plan, donors[i]->name);
        gboolean pressed = a && g_strcmp0(a->rule, "reclaim-pressure") == 0;

        g_assert_cmpint(pressed, ==, i == c->expect);
    }
    g_assert_nonnull(tm_action_for(plan, "grower"));
    config_clear(&mem_config_schema, &cfg);
}

/* The rho formula against its definition, and the tax direction. */
static void test_rho(void)
{
    static const struct {
        guint shares;
        guint64 mib;
        double f;
        double tau;
    } rows[] = {
        {1000, 1000, 1.0, 0.75}, {1000, 1000, 0.0, 0.75},
        {500, 1000, 0.5, 0.75},  {1000, 2000, 0.5, 0.0},
        {2000, 300, 0.2, 0.5},
    };
    guint i;

    for (i = 0; i < G_N_ELEMENTS(rows); i++) {
        double k = 1.0 / (1.0 - rows[i].tau);
        double want = rows[i].shares / ((double)rows[i].mib *
                                        (rows[i].f + k * (1.0 - rows[i].f)));
        double got = mem_idle_tax_rho(rows[i].shares, rows[i].mib * TM_MIB,
                                      rows[i].f, rows[i].tau);

        g_assert_cmpfloat_with_epsilon(got, want, want * 1e-12);
        /* More idle means a lower ratio once there is a tax. */
        if (rows[i].tau > 0 && rows[i].f > 0)
            g_assert_cmpfloat(mem_idle_tax_rho(rows[i].shares,
                                               rows[i].mib * TM_MIB,
                                               rows[i].f / 2, rows[i].tau),
                              <, got);
    }
    g_assert_true(mem_idle_tax_rho(1000, 0, 0.5, 0.75) > 1e300);
}

/* ---- idle guests: taxed to near their floor ------------------------- */

/* The host sees a grant (actual) before the guest's next report shows it
 * (available, unused).  Measured on the test host, reading used as
 * actual - unused turned every grant into "consumption" and the rate ran
 * away to 500 MiB/s for a 25 MB/s consumer.  Steps: actual, available,
 * unused in MiB, one report per step. */
static void test_grant_between_reports(void)
{
    static const guint64 steps[][3] = {
        {512, 512, 300},   {512, 512, 300},   {1012, 512, 300},
        {1012, 1012, 800}, {1012, 1012, 800},
    };
    guint p;
    guint i;

    for (p = 0; p < 2; p++) {
        g_autoptr(MemPolicyState) st = mem_policy_state_new();
        MemConfig cfg;

        tm_config(&cfg, (MemPolicyKind)p);
        for (i = 0; i < G_N_ELEMENTS(steps); i++) {
            g_autoptr(Snapshot) snap = tm_snapshot(i, HOST_MIB, HOST_FREE_MIB);
            DomainSample *d = tm_guest(snap, "g", 0, 2048, 0);
            g_autoptr(Plan) plan = NULL;
            const BalloonAction *a;

            d->cur_kib = 1012 * TM_MIB;
            d->balloon.actual_kib = steps[i][0] * TM_MIB;
            d->balloon.available_kib = steps[i][1] * TM_MIB;
            d->balloon.unused_kib = steps[i][2] * TM_MIB;
            plan = mem_policy_decide(snap, &cfg, st);
            a = tm_action_for(plan, "g");
            /* 212 MiB used all along: the grants are no consumption, so
             * the guest is never grown and gives its excess back. */
            g_assert_nonnull(a);
            g_test_message("step %u: %s", i, a->base.reason);
            g_assert_cmpuint(a->new_kib, <, a->old_kib);
            g_assert_nonnull(strstr(a->base.reason, "rate 0.0 MiB/s"));
        }
        config_clear(&mem_config_schema, &cfg);
    }
}

static void test_idle_settles(void)
{
    guint64 settled[2];
    guint p;

    for (p = 0; p < 2; p++) {
        g_autoptr(MemPolicyState) st = mem_policy_state_new();
        World w[3] = {{"a", 1024 * TM_MIB, 2048 * TM_MIB, 100, 0, 1000},
                      {"b", 512 * TM_MIB, 2048 * TM_MIB, 150, 0, 1000},
                      {"c", 2048 * TM_MIB, 2048 * TM_MIB, 60, 0, 1000}};
        MemConfig cfg;
        guint tick;
        guint i;

        tm_config(&cfg, (MemPolicyKind)p);
        for (tick = 0; tick < 120; tick++) {
            g_autoptr(Plan) plan =
                world_tick(w, 3, tick, &cfg, st, HOST_FREE_MIB);

            for (i = 0; i < 3; i++)
                g_assert_cmpfloat((double)w[i].cur_kib / TM_MIB, >=,
                                  MAX(w[i].used_mib + cfg.min_unused_mib,
                                      cfg.guest_floor_mib));
        }
        /* Settled: another tick changes nothing. */
        {
            g_autoptr(Plan) plan =
                world_tick(w, 3, tick, &cfg, st, HOST_FREE_MIB);
            g_assert_cmpuint(plan_len(plan), ==, 0);
        }
        settled[p] = 0;
        for (i = 0; i < 3; i++) {
            g_assert_cmpfloat(
                (double)w[i].cur_kib / TM_MIB, <=,
                MAX(w[i].used_mib + cfg.min_unused_mib, cfg.guest_floor_mib) +
                    128);
            settled[p] += w[i].cur_kib;
        }
        config_clear(&mem_config_schema, &cfg);
    }
    /* The tax takes idle memory the course policy leaves as slack. */
    g_assert_cmpuint(settled[MEM_POLICY_IDLE_TAX], <,
                     settled[MEM_POLICY_COURSE]);
}

/* ---- balloon lag: pending targets are not counted twice -------------- */

static void test_pending_growth_not_doubled(void)
{
    guint p;

    for (p = 0; p < 2; p++) {
        g_autoptr(Snapshot) snap = tm_snapshot(5, HOST_MIB, HOST_FREE_MIB);
        g_autoptr(Plan) plan = NULL;
        MemConfig cfg;
        DomainSample *d;

        tm_config(&cfg, (MemPolicyKind)p);
        /* Raised to 800 MiB last tick; the guest still sees 500 with 50
         * unused, so it uses 450 and 800 already covers its need. */
        d = tm_guest(snap, "g", 800, 2048, 0);
        d->balloon.actual_kib = d->balloon.available_kib = 500 * TM_MIB;
        d->balloon.unused_kib = 50 * TM_MIB;
        plan = decide_once(snap, &cfg);
        g_assert_true(tm_target_after(plan, d) <= d->cur_kib);

        /* Control: the same guest raised to only 460 is short. */
        g_clear_pointer(&plan, plan_free);
        d->cur_kib = 460 * TM_MIB;
        d->balloon.actual_kib = d->balloon.available_kib = 500 * TM_MIB;
        plan = decide_once(snap, &cfg);
        g_assert_nonnull(tm_action_for(plan, "g"));
        config_clear(&mem_config_schema, &cfg);
    }
}

/* ---- changes below min_step are not planned ------------------------- */

static void test_min_step(void)
{
    static const guint64 steps[] = {0, 8, 32, 100};
    guint s;
    guint p;

    for (s = 0; s < G_N_ELEMENTS(steps); s++) {
        for (p = 0; p < 2; p++) {
            g_autoptr(MemPolicyState) st = mem_policy_state_new();
            World w[2] = {{"a", 700 * TM_MIB, 2048 * TM_MIB, 100, 0, 1000},
                          {"b", 300 * TM_MIB, 2048 * TM_MIB, 240, 3, 1000}};
            MemConfig cfg;
            guint tick;

            tm_config(&cfg, (MemPolicyKind)p);
            cfg.min_step_mib = steps[s];
            for (tick = 0; tick < 60; tick++) {
                g_autoptr(Plan) plan =
                    world_tick(w, 2, tick, &cfg, st, HOST_FREE_MIB);
                guint i;

                for (i = 0; i < plan_len(plan); i++) {
                    const BalloonAction *a = tm_balloon(plan, i);
                    guint64 d = a->new_kib > a->old_kib
                                    ? a->new_kib - a->old_kib
                                    : a->old_kib - a->new_kib;

                    g_assert_cmpuint(d, >=, MAX(steps[s] * TM_MIB, 1));
                }
                world_advance(w, 2, 1);
            }
            config_clear(&mem_config_schema, &cfg);
        }
    }
}

/* ---- every action says why ------------------------------------------ */

static void test_reasons(void)
{
    guint p;

    for (p = 0; p < 2; p++) {
        g_autoptr(Snapshot) snap = tm_snapshot(5, HOST_MIB, HOST_FREE_MIB);
        g_autoptr(Plan) plan = NULL;
        MemConfig cfg;
        guint i;

        tm_config(&cfg, (MemPolicyKind)p);
        tm_guest(snap, "fat", 1500, 2048, 100);
        tm_guest(snap, "thin", 400, 2048, 390);
        plan = decide_once(snap, &cfg);
        g_assert_cmpuint(plan_len(plan), ==, 2);
        for (i = 0; i < plan_len(plan); i++) {
            const BalloonAction *a = tm_balloon(plan, i);

            g_assert_true(a->base.type == &balloon_action);
            g_assert_nonnull(a->rule);
            g_assert_nonnull(strstr(a->base.reason, "unused"));
            g_assert_nonnull(strstr(a->base.reason, "rate"));
            g_assert_cmpuint(a->old_kib, ==,
                             snapshot_find(snap, a->base.uuid)->cur_kib);
        }
        /* Shrinks come first, so apply frees before it hands out. */
        g_assert_cmpuint(tm_balloon(plan, 0)->new_kib, <,
                         tm_balloon(plan, 0)->old_kib);
        g_assert_cmpstr(tm_balloon(plan, 1)->rule, ==, "grow-headroom");
        g_assert_true(
            g_str_has_prefix(plan->summary, mem_policy_name(cfg.mem_policy)));
        config_clear(&mem_config_schema, &cfg);
    }
}

/* ---- targets libvirt does not show ------------------------------------ */

/* libvirt shows a running guest's balloon size, not the target last set.
 * Two ticks 1 s apart (or later) with the balloon not yet moved: a target
 * apply reported as set counts, one it did not set does not, and one set
 * too long ago gives way to the size. */
typedef enum {
    SECOND_NOTHING,     /* no action */
    SECOND_FROM_SIZE,   /* the first tick's action again, from the size */
    SECOND_FROM_TARGET, /* a further shrink, on from the first target */
} HeadingSecond;

typedef struct {
    const char *name;
    guint64 size_mib; /* the balloon's size at both ticks */
    guint64 used_mib;
    gboolean applied; /* apply reported the first tick's target as set */
    double second_s;  /* seconds between the ticks */
    HeadingSecond second;
} HeadingCase;

static const HeadingCase heading_cases[] = {
    {"growth on its way is not given twice", 300, 250, TRUE, 1, SECOND_NOTHING},
    {"growth that was not set is planned again", 300, 250, FALSE, 1,
     SECOND_FROM_SIZE},
    {"growth set long ago is planned again", 300, 250, TRUE, 40,
     SECOND_FROM_SIZE},
    {"shrink on its way goes on from its target", 1500, 200, TRUE, 1,
     SECOND_FROM_TARGET},
    {"shrink that was not set is planned again", 1500, 200, FALSE, 1,
     SECOND_FROM_SIZE},
};

static void test_heading(gconstpointer data)
{
    const HeadingCase *tc = data;
    guint p;

    for (p = 0; p < 2; p++) {
        g_autoptr(MemPolicyState) st = mem_policy_state_new();
        g_autoptr(Snapshot) s1 = tm_snapshot(10, HOST_MIB, HOST_FREE_MIB);
        g_autoptr(Snapshot) s2 =
            tm_snapshot(10 + tc->second_s, HOST_MIB, HOST_FREE_MIB);
        g_autoptr(Plan) p1 = NULL;
        g_autoptr(Plan) p2 = NULL;
        MemConfig cfg;

        tm_config(&cfg, (MemPolicyKind)p);
        tm_guest(s1, "g", tc->size_mib, 2048, tc->used_mib);
        tm_guest(s2, "g", tc->size_mib, 2048, tc->used_mib);
        p1 = mem_policy_decide(s1, &cfg, st);
        g_assert_cmpuint(plan_len(p1), ==, 1);
        mem_policy_note_applied(st, tm_balloon(p1, 0), s1->mono_us,
                                tc->applied);
        p2 = mem_policy_decide(s2, &cfg, st);
        g_assert_cmpuint(plan_len(p2), ==, tc->second != SECOND_NOTHING);
        if (tc->second == SECOND_FROM_SIZE) {
            /* From the size libvirt shows, to the same place. */
            g_assert_cmpuint(tm_balloon(p2, 0)->old_kib, ==,
                             tc->size_mib * TM_MIB);
            g_assert_cmpuint(tm_balloon(p2, 0)->new_kib, ==,
                             tm_balloon(p1, 0)->new_kib);
        } else if (tc->second == SECOND_FROM_TARGET) {
            /* One more bounded step down, from where the first one goes. */
            g_assert_cmpuint(tm_balloon(p2, 0)->old_kib, ==,
                             tm_balloon(p1, 0)->new_kib);
            g_assert_cmpuint(tm_balloon(p2, 0)->new_kib, <,
                             tm_balloon(p2, 0)->old_kib);
            g_assert_cmpuint(tm_balloon(p2, 0)->old_kib -
                                 tm_balloon(p2, 0)->new_kib,
                             <=, cfg.max_release_mib * TM_MIB);
        }
        config_clear(&mem_config_schema, &cfg);
    }
}

/* ---- idle-tax counts the steps no report has shown -------------------- */

/* A guest is taxed at 10 s; the next tick comes second_s later with a
 * report stamped report_s after the first tick.  A step made less than a
 * second before a report is not in it: near the need the next step waits
 * for a report that shows it; far above, the tax goes on. */
typedef struct {
    const char *name;
    guint64 cur_mib;
    double second_s;
    gint64 report_s;
    gboolean steps;
} TaxUnseenCase;

static const TaxUnseenCase tax_unseen_cases[] = {
    {"near need, report in the same second", 500, 1, 0, FALSE},
    {"near need, report a second later", 500, 1, 1, FALSE},
    {"near need, report two seconds later", 500, 2, 2, TRUE},
    {"near need, tick late, report old", 500, 5, 1, FALSE},
    {"near need, tick late, report new", 500, 5, 5, TRUE},
    {"far above need, report old", 1500, 1, 0, TRUE},
};

static void test_tax_unseen(gconstpointer data)
{
    const TaxUnseenCase *tc = data;
    g_autoptr(MemPolicyState) st = mem_policy_state_new();
    g_autoptr(Snapshot) s1 = tm_snapshot(10, HOST_MIB, HOST_FREE_MIB);
    g_autoptr(Snapshot) s2 =
        tm_snapshot(10 + tc->second_s, HOST_MIB, HOST_FREE_MIB);
    g_autoptr(Plan) p1 = NULL;
    g_autoptr(Plan) p2 = NULL;
    DomainSample *d;
    MemConfig cfg;

    tm_config(&cfg, MEM_POLICY_IDLE_TAX);
    tm_guest(s1, "g", tc->cur_mib, 2048, 200);
    p1 = mem_policy_decide(s1, &cfg, st);
    g_assert_cmpuint(plan_len(p1), ==, 1);
    g_assert_cmpstr(tm_balloon(p1, 0)->rule, ==, "idle-tax");
    mem_policy_note_applied(st, tm_balloon(p1, 0), s1->mono_us, TRUE);
    /* The report still shows the guest at its first size. */
    d = tm_guest(s2, "g", tc->cur_mib, 2048, 200);
    d->balloon.last_update = s1->wall_us / G_USEC_PER_SEC + tc->report_s;
    p2 = mem_policy_decide(s2, &cfg, st);
    g_assert_cmpuint(plan_len(p2), ==, tc->steps ? 1 : 0);
    if (tc->steps) {
        g_test_message("%s", tm_balloon(p2, 0)->base.reason);
        g_assert_cmpuint(tm_balloon(p2, 0)->new_kib, <,
                         tm_balloon(p1, 0)->new_kib);
    }
    config_clear(&mem_config_schema, &cfg);
}

/* ---- reports that reach the host late -------------------------------- */

/* A guest consumes steadily; from LATE_STALL_AT its reports stop coming (the
 * host sees its balloon move, but the guest's own numbers and stamp stay
 * as they were) for stall_s seconds, then come again.  Its memory must
 * not run out meanwhile: before every tick the guest truly keeps
 * min_unused.  A tick that reads an old report must count what the guest
 * took since at its measured rate. */
typedef struct {
    const char *name;
    double rate_mib_s;
    guint stall_s; /* below stale_after_s: the report still counts */
} LateCase;

static const LateCase late_cases[] = {
    {"on time", 30, 0},
    {"2 s late", 30, 2},
    {"4 s late", 30, 4},
    {"6 s late", 30, 6},
    {"8 s late, slow consumer", 10, 8},
    {"idle, 8 s late", 0, 8},
};

/* The guest starts idle at its need, so the balloon stands still and the
 * policy learns how the guest's numbers relate to the host's. */
#define LATE_CONSUME_AT 4
#define LATE_STALL_AT 10

static void test_late_reports(gconstpointer data)
{
    const LateCase *c = data;
    guint p;

    for (p = 0; p < 2; p++) {
        g_autoptr(MemPolicyState) st = mem_policy_state_new();
        MemConfig cfg;
        guint64 cur = 350 * TM_MIB;
        double used = 150;
        double lowest = G_MAXDOUBLE;
        guint64 rep_unused = 0;
        guint64 rep_available = 0;
        gint64 rep_stamp = 0;
        guint tick;

        tm_config(&cfg, (MemPolicyKind)p);
        for (tick = 0; tick < LATE_STALL_AT + c->stall_s + 4; tick++) {
            g_autoptr(Snapshot) snap = tm_snapshot(tick, HOST_MIB, 20000);
            DomainSample *d = tm_guest(snap, "g", 0, 4096, 0);
            g_autoptr(Plan) plan = NULL;
            gboolean stalled =
                tick >= LATE_STALL_AT && tick < LATE_STALL_AT + c->stall_s;

            /* Memory left to the guest just before this tick decides. */
            lowest = MIN(lowest, (double)cur / TM_MIB - used);
            d->cur_kib = d->balloon.actual_kib = cur;
            /* A stalled tick reads the last report, made at the size the
             * guest had then. */
            if (!stalled) {
                rep_unused = mem_kib_sub(cur, (guint64)(used * TM_MIB));
                rep_available = cur;
                rep_stamp = d->balloon.last_update;
            }
            d->balloon.available_kib = rep_available;
            d->balloon.unused_kib = d->balloon.usable_kib = rep_unused;
            d->balloon.last_update = rep_stamp;
            plan = mem_policy_decide(snap, &cfg, st);
            cur = tm_target_after(plan, d);
            if (tick + 1 >= LATE_CONSUME_AT)
                used += c->rate_mib_s;
        }
        g_test_message("%s: lowest unused before a tick %.0f MiB",
                       p ? "idle-tax" : "course", lowest);
        g_assert_cmpfloat(lowest, >=, (double)cfg.min_unused_mib);
        config_clear(&mem_config_schema, &cfg);
    }
}

int main(int argc, char **argv)
{
    guint i;

    g_test_init(&argc, &argv, NULL);
#define ADD_TABLE(prefix, table, fn)                                           \
    for (i = 0; i < G_N_ELEMENTS(table); i++) {                                \
        g_autofree char *path = g_strdup_printf(prefix "/%s", table[i].name);  \
        g_test_add_data_func(path, &table[i], fn);                             \
    }
    ADD_TABLE("/mem/policy/untouched", untouched_cases, test_untouched);
    ADD_TABLE("/mem/policy/release", release_cases, test_release_gradual);
    ADD_TABLE("/mem/policy/headroom", rate_cases, test_headroom_follows_rate);
    ADD_TABLE("/mem/policy/budget", budget_cases, test_budget);
    ADD_TABLE("/mem/policy/pressure-order", order_cases, test_pressure_order);
    ADD_TABLE("/mem/policy/heading", heading_cases, test_heading);
    ADD_TABLE("/mem/policy/tax-unseen", tax_unseen_cases, test_tax_unseen);
    ADD_TABLE("/mem/policy/late-reports", late_cases, test_late_reports);
#undef ADD_TABLE
    g_test_add_func("/mem/policy/unballooned-reported-once",
                    test_unballooned_reported_once);
    g_test_add_func("/mem/policy/rho", test_rho);
    g_test_add_func("/mem/policy/idle-settles-near-floor", test_idle_settles);
    g_test_add_func("/mem/policy/grant-between-reports",
                    test_grant_between_reports);
    g_test_add_func("/mem/policy/pending-growth-not-doubled",
                    test_pending_growth_not_doubled);
    g_test_add_func("/mem/policy/min-step", test_min_step);
    g_test_add_func("/mem/policy/reasons", test_reasons);
    return g_test_run();
}
