/* The stats period the memory coordinator sets on its guests, and the
 * plan of stats-period actions: pure, so tables test them. */
#include "../../memory_coordinator/stats_period.h"
#include "test_mem_util.h"

#define HOST_MIB 24576
#define HOST_FREE_MIB 20000

typedef struct {
    double interval_s;
    guint stale_after_s;
    int period_s; /* expected */
} PeriodCase;

static const PeriodCase period_cases[] = {
    {.interval_s = 2, .stale_after_s = 10, .period_s = 2},
    {.interval_s = 1, .stale_after_s = 10, .period_s = 1},
    {.interval_s = 0.5, .stale_after_s = 10, .period_s = 1},
    {.interval_s = 2.9, .stale_after_s = 10, .period_s = 2},
    /* A long interval must not make every guest's stats stale: they
     * still come at least twice within stale_after_s. */
    {.interval_s = 30, .stale_after_s = 10, .period_s = 5},
    {.interval_s = 600, .stale_after_s = 60, .period_s = 30},
    {.interval_s = 600, .stale_after_s = 3600, .period_s = 600},
    {.interval_s = 5, .stale_after_s = 1, .period_s = 1},
    {.interval_s = 5, .stale_after_s = 3, .period_s = 1},
};

static void test_period_table(void)
{
    guint i;

    for (i = 0; i < G_N_ELEMENTS(period_cases); i++) {
        const PeriodCase *c = &period_cases[i];
        MemConfig cfg;

        config_init(&mem_config_schema, &cfg);
        cfg.daemon.interval_s = c->interval_s;
        cfg.stale_after_s = c->stale_after_s;
        g_test_message("interval %g s, stale after %u s: period %d s",
                       c->interval_s, c->stale_after_s,
                       mem_stats_period_s(&cfg));
        g_assert_cmpint(mem_stats_period_s(&cfg), ==, c->period_s);
        config_clear(&mem_config_schema, &cfg);
    }
}

/* Stats as old as the period allows are fresh, so a guest short of
 * unused memory is grown whatever the interval. */
static void test_period_keeps_stats_fresh(void)
{
    guint i;
    guint p;

    for (i = 0; i < G_N_ELEMENTS(period_cases); i++) {
        const PeriodCase *c = &period_cases[i];

        if (c->stale_after_s < 2)
            continue; /* no period of whole seconds can promise it */
        for (p = 0; p < 2; p++) {
            g_autoptr(MemPolicyState) st = mem_policy_state_new();
            g_autoptr(Snapshot) snap =
                tm_snapshot(100, HOST_MIB, HOST_FREE_MIB);
            g_autoptr(Plan) plan = NULL;
            const BalloonAction *a;
            DomainSample *d;
            MemConfig cfg;

            tm_config(&cfg, (MemPolicyKind)p);
            cfg.daemon.interval_s = c->interval_s;
            cfg.stale_after_s = c->stale_after_s;
            d = tm_guest(snap, "thin", 520, 2048, 500);
            /* The last report came a whole period (and a moment for the
             * report to travel) before the snapshot. */
            d->balloon.last_update -= mem_stats_period_s(&cfg);
            plan = mem_policy_decide(snap, &cfg, st);
            a = tm_action_for(plan, "thin");
            g_test_message("interval %g s, stale after %u s: %s", c->interval_s,
                           c->stale_after_s, plan->summary);
            g_assert_nonnull(a);
            g_assert_cmpuint(a->new_kib, >, a->old_kib);
            config_clear(&mem_config_schema, &cfg);
        }
    }
}

/* Each guest gets its period once; a guest that went away and came back
 * (a new QEMU) gets it again; a plan that was not applied is planned
 * again. */
static void test_period_plan(void)
{
    static const struct {
        const char *guests; /* in the snapshot, one letter each */
        gboolean applied;   /* apply ran the plan */
        const char *planned;
    } ticks[] = {
        {.guests = "ab", .applied = FALSE, .planned = "ab"},
        {.guests = "ab", .applied = TRUE, .planned = "ab"},
        {.guests = "abc", .applied = TRUE, .planned = "c"},
        {.guests = "ac", .applied = TRUE, .planned = ""},
        {.guests = "abc", .applied = TRUE, .planned = "b"},
        {.guests = "abc", .applied = TRUE, .planned = ""},
    };
    g_autoptr(MemStatsPeriods) sp = mem_stats_periods_new();
    MemConfig cfg;
    guint t;
    guint i;

    tm_config(&cfg, MEM_POLICY_COURSE);
    for (t = 0; t < G_N_ELEMENTS(ticks); t++) {
        g_autoptr(Snapshot) snap = tm_snapshot(t, HOST_MIB, HOST_FREE_MIB);
        g_autoptr(Plan) plan = plan_new();
        g_autoptr(GString) planned = g_string_new(NULL);

        for (i = 0; ticks[t].guests[i]; i++) {
            char name[2] = {ticks[t].guests[i], '\0'};

            tm_guest(snap, name, 512, 2048, 100);
        }
        mem_stats_periods_plan(sp, snap, &cfg, plan);
        for (i = 0; i < plan_len(plan); i++) {
            const StatsPeriodAction *a =
                stats_period_action_of(plan_get(plan, i));

            g_assert_nonnull(a);
            g_assert_cmpint(a->period_s, ==, mem_stats_period_s(&cfg));
            g_assert_nonnull(a->base.reason);
            g_string_append(planned, a->base.name);
            if (ticks[t].applied)
                mem_stats_periods_note_applied(sp, a);
        }
        g_test_message("tick %u: %s planned", t, planned->str);
        g_assert_cmpstr(planned->str, ==, ticks[t].planned);
    }
    config_clear(&mem_config_schema, &cfg);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/mem/stats-period/table", test_period_table);
    g_test_add_func("/mem/stats-period/keeps stats fresh",
                    test_period_keeps_stats_fresh);
    g_test_add_func("/mem/stats-period/plan", test_period_plan);
    return g_test_run();
}
