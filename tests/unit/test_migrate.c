/* Migration requests: the triggers the policies raise, the counting of
 * ticks, cooldowns and retry pauses, the choice of guest and peer (TSC
 * rule on capabilities fixtures, free memory, load), the clock-sync
 * refusal, and the time-data snapshot. */
#include <string.h>
#include <sys/timex.h>

#include <glib.h>

#include "migrate.h"
#include "test_mem_util.h"
#include "test_vcpu_util.h"
#include "test_fixture.h"

#define SEC G_USEC_PER_SEC
#define SOURCE_CAPS "host-2596120000-noscale.xml"
#define NONE_EXPECTED NULL

static void caps_fixture(const char *name, HostFacts *f)
{
    g_autofree char *xml = read_fixture("caps", name);
    g_autoptr(GError) err = NULL;

    g_assert_true(hostcaps_parse(xml, f, &err));
    g_assert_no_error(err);
}

static void clock_fixture(const char *name, GuestClock *gc)
{
    g_autofree char *xml = read_fixture("domains", name);
    g_autoptr(GError) err = NULL;

    g_assert_true(hostcaps_parse_domain_clock(xml, gc, &err));
    g_assert_no_error(err);
}

/* [daemon] and [migration], as a daemon's config holds them. */
typedef struct {
    DaemonConfig daemon;
    MigrationConfig migration;
} MigCfg;

static const ConfigPartAt mig_parts[] = {
    {&migration_config_part, offsetof(MigCfg, migration)},
    {NULL},
};

static const ConfigSchema mig_schema = {
    .size = sizeof(MigCfg),
    .parts = mig_parts,
};

static void mig_config(MigCfg *dc, MigrationMode mode)
{
    MigrationConfig *cfg = &dc->migration;

    config_init(&mig_schema, dc);
    cfg->migration_mode = mode;
    cfg->trigger_ticks = 3;
    cfg->cooldown_s = 60;
    cfg->host_reserve_mib = 200;
    cfg->allow_unsynced_clock = TRUE;
}

/* A synchronised clock, as ntp_adjtime reports it on a disciplined host. */
static const ClockSync synced = {
    .state = TIME_OK,
    .status = STA_PLL,
    .synchronised = TRUE,
    .maxerror_us = 1000,
    .esterror_us = 10,
};
/* What this machine reports: the kernel was never disciplined. */
static const ClockSync unsynced = {
    .state = TIME_ERROR,
    .status = STA_UNSYNC,
    .synchronised = FALSE,
    .maxerror_us = 16000000,
    .esterror_us = 16000000,
};

static gboolean has_refusal(const MigrateDecision *d, const char *needle)
{
    guint i;

    for (i = 0; i < d->refusals->len; i++) {
        if (strstr(g_ptr_array_index(d->refusals, i), needle))
            return TRUE;
    }
    return FALSE;
}

static void dump_refusals(const MigrateDecision *d)
{
    guint i;

    g_test_message("reason: %s", d->reason ? d->reason : "(none)");
    for (i = 0; i < d->refusals->len; i++)
        g_test_message("refusal: %s",
                       (const char *)g_ptr_array_index(d->refusals, i));
}

/* ---- trigger counting --------------------------------------------------- */

/* One tick of a sequence: the plan's signal and what the caller did. */
typedef struct {
    guint64 deficit_mib;
    gboolean overloaded;
    gboolean expect; /* migrate_observe says "attempt now" */
    enum {
        DO_NOTHING,
        DO_REQUEST,
        DO_REQUEST_FLIGHT,
        DO_DONE,
        DO_FRUITLESS
    } then;
} TickStep;

typedef struct {
    const char *what;
    MigrationMode mode;
    guint trigger_ticks;
    double tick_s;
    TickStep steps[12];
    guint nsteps;
} TriggerCase;

static const TriggerCase trigger_cases[] = {
    {"fires after K ticks, then counts again",
     MIGRATION_ADVISE,
     3,
     1,
     {{100, 0, FALSE, DO_NOTHING},
      {100, 0, FALSE, DO_NOTHING},
      {100, 0, TRUE, DO_REQUEST},
      {100, 0, FALSE, DO_NOTHING},
      {100, 0, FALSE, DO_NOTHING},
      {100, 0, TRUE, DO_NOTHING}},
     6},
    {"an interruption restarts the count",
     MIGRATION_ADVISE,
     3,
     1,
     {{100, 0, FALSE, DO_NOTHING},
      {100, 0, FALSE, DO_NOTHING},
      {0, 0, FALSE, DO_NOTHING},
      {100, 0, FALSE, DO_NOTHING},
      {100, 0, FALSE, DO_NOTHING},
      {100, 0, TRUE, DO_NOTHING}},
     6},
    {"K = 1 fires on the first tick",
     MIGRATION_EXECUTE,
     1,
     1,
     {{1, 0, TRUE, DO_NOTHING}},
     1},
    {"off never fires",
     MIGRATION_OFF,
     1,
     1,
     {{100, 0, FALSE, DO_NOTHING}, {100, 1, FALSE, DO_NOTHING}},
     2},
    {"cpu overload counts like a deficit",
     MIGRATION_ADVISE,
     2,
     1,
     {{0, 1, FALSE, DO_NOTHING},
      {0, 1, TRUE, DO_NOTHING},
      {0, 0, FALSE, DO_NOTHING}},
     3},
    {"one in flight: nothing until it is done",
     MIGRATION_EXECUTE,
     1,
     1,
     {{100, 0, TRUE, DO_REQUEST_FLIGHT},
      {100, 0, FALSE, DO_NOTHING},
      {100, 0, FALSE, DO_DONE},
      {100, 0, TRUE, DO_NOTHING}},
     4},
    /* 30 s pause after the first fruitless attempt, at 10 s per tick. */
    {"a fruitless attempt pauses the next",
     MIGRATION_EXECUTE,
     1,
     10,
     {{100, 0, TRUE, DO_FRUITLESS},
      {100, 0, FALSE, DO_NOTHING},
      {100, 0, FALSE, DO_NOTHING},
      {100, 0, TRUE, DO_FRUITLESS},
      {100, 0, FALSE, DO_NOTHING},
      {100, 0, FALSE, DO_NOTHING},
      {100, 0, FALSE, DO_NOTHING},
      {100, 0, FALSE, DO_NOTHING},
      {100, 0, FALSE, DO_NOTHING},
      {100, 0, TRUE, DO_NOTHING}},
     10},
    {"a pause outlives a gap in the signal",
     MIGRATION_EXECUTE,
     1,
     10,
     {{100, 0, TRUE, DO_FRUITLESS},
      {0, 0, FALSE, DO_NOTHING},
      {100, 0, FALSE, DO_NOTHING},
      {100, 0, TRUE, DO_NOTHING}},
     4},
};

static void test_trigger_table(void)
{
    guint c;
    guint i;

    for (c = 0; c < G_N_ELEMENTS(trigger_cases); c++) {
        const TriggerCase *tc = &trigger_cases[c];
        g_autoptr(MigrateState) st = migrate_state_new();
        MigCfg cfg;

        mig_config(&cfg, tc->mode);
        cfg.migration.trigger_ticks = tc->trigger_ticks;
        g_test_message("case: %s", tc->what);
        for (i = 0; i < tc->nsteps; i++) {
            const TickStep *s = &tc->steps[i];
            g_autoptr(Snapshot) snap = tm_snapshot(i * tc->tick_s, 8192, 8000);
            g_autoptr(Plan) plan = plan_new();
            MigrateTrigger trig = {0};
            gboolean fired;

            tm_guest(snap, "a", 512, 2048, 100);
            if (s->deficit_mib)
                plan_set_shortfall(plan, PLAN_SHORT_MEMORY,
                                   (double)(s->deficit_mib * TM_MIB));
            else if (s->overloaded)
                plan_set_shortfall(plan, PLAN_SHORT_CPU, 20);
            fired = migrate_observe(st, snap, plan, &cfg.migration, &trig);
            g_test_message("  tick %u: fired %d", i, fired);
            g_assert_cmpint(fired, ==, s->expect);
            if (fired) {
                g_assert_cmpint(trig.kind, ==,
                                s->deficit_mib ? MIGRATE_TRIGGER_MEMORY
                                               : MIGRATE_TRIGGER_CPU);
                g_assert_cmpuint(trig.ticks, >=, tc->trigger_ticks);
            }
            switch (s->then) {
            case DO_NOTHING:
                break;
            case DO_REQUEST:
            case DO_REQUEST_FLIGHT:
                migrate_note_request(st, "uuid-a", s->then == DO_REQUEST_FLIGHT,
                                     &cfg.migration, snap->mono_us);
                break;
            case DO_DONE:
                migrate_note_done(st, &cfg.migration, snap->mono_us);
                break;
            case DO_FRUITLESS:
                migrate_note_fruitless(st, snap->mono_us);
                break;
            }
        }
        config_clear(&mig_schema, &cfg);
    }
}

static void test_backoff(void)
{
    static const struct {
        guint failures;
        gint64 seconds;
    } cases[] = {{0, 30},  {1, 30},  {2, 60},  {3, 120},   {4, 240},
                 {5, 480}, {6, 960}, {7, 960}, {1000, 960}};
    guint i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++)
        g_assert_cmpint(migrate_backoff_us(cases[i].failures), ==,
                        cases[i].seconds * SEC);
}

/* ---- candidates, cooldown, in flight ------------------------------------ */

static void test_candidates(void)
{
    g_autoptr(MigrateState) st = migrate_state_new();
    g_autoptr(Snapshot) s0 = tm_snapshot(0, 8192, 8000);
    g_autoptr(Snapshot) s1 = tm_snapshot(2, 8192, 8000);
    g_autoptr(GPtrArray) mem = NULL;
    g_autoptr(GPtrArray) cpu = NULL;
    MigrateTrigger tm = {.kind = MIGRATE_TRIGGER_MEMORY, .deficit = 1};
    MigrateTrigger tc = {.kind = MIGRATE_TRIGGER_CPU, .deficit = 1};
    MigrateTrigger unused;
    DomainSample *d;
    MigCfg cfg;

    mig_config(&cfg, MIGRATION_ADVISE);
    /* a: 512 MiB using 100; b: balloon still inflating from 600 to 400;
     * c: shut off, never a candidate. */
    tm_guest(s0, "a", 512, 2048, 100)->vcpus[0].time_ns = 0;
    d = tm_guest(s0, "b", 400, 2048, 300);
    d->balloon.actual_kib = 600 * TM_MIB;
    d->balloon.unused_kib = 200 * TM_MIB;
    tm_guest(s0, "c", 512, 2048, 100)->state = VIR_DOMAIN_SHUTOFF;
    g_assert_false(migrate_observe(st, s0, NULL, &cfg.migration, &unused));

    tm_guest(s1, "a", 512, 2048, 100)->vcpus[0].time_ns = 1500000000;
    d = tm_guest(s1, "b", 400, 2048, 300);
    d->balloon.actual_kib = 600 * TM_MIB;
    d->balloon.unused_kib = 200 * TM_MIB;
    tm_guest(s1, "c", 512, 2048, 100)->state = VIR_DOMAIN_SHUTOFF;
    g_assert_false(migrate_observe(st, s1, NULL, &cfg.migration, &unused));

    mem = migrate_candidates(st, s1, &tm, s1->mono_us);
    g_assert_cmpuint(mem->len, ==, 2);
    {
        const MigrateGuest *a = g_ptr_array_index(mem, 0);
        const MigrateGuest *b = g_ptr_array_index(mem, 1);

        g_assert_cmpstr(a->name, ==, "a");
        g_assert_cmpuint(a->held_kib, ==, 512 * TM_MIB);
        g_assert_cmpuint(a->cost_kib, ==, 100 * TM_MIB);
        g_assert_cmpfloat(a->relief, ==, 512.0 * TM_MIB);
        /* 1.5 s of vCPU time in 2 s. */
        g_assert_cmpfloat_with_epsilon(a->cpu_pct, 75.0, 1e-9);
        g_assert_null(a->skip);
        /* What b holds is its balloon's actual size until it shrinks;
         * and until it has, b does not move. */
        g_assert_cmpuint(b->held_kib, ==, 600 * TM_MIB);
        g_assert_cmpuint(b->cost_kib, ==, 400 * TM_MIB);
        g_assert_true(b->settling);
        g_assert_cmpstr(b->skip, ==,
                        "its balloon is still moving (actual 600 MiB, target "
                        "400 MiB)");
        g_assert_false(a->settling);
    }
    cpu = migrate_candidates(st, s1, &tc, s1->mono_us);
    g_assert_cmpfloat_with_epsilon(
        ((const MigrateGuest *)g_ptr_array_index(cpu, 0))->relief, 75.0, 1e-9);
    g_assert_cmpfloat(((const MigrateGuest *)g_ptr_array_index(cpu, 1))->relief,
                      ==, 0);
    config_clear(&mig_schema, &cfg);
}

static const char *skip_of(MigrateState *st, const Snapshot *snap,
                           const char *name, gint64 now_us, char **out)
{
    MigrateTrigger t = {.kind = MIGRATE_TRIGGER_MEMORY};
    g_autoptr(GPtrArray) c = migrate_candidates(st, snap, &t, now_us);
    guint i;

    *out = NULL;
    for (i = 0; i < c->len; i++) {
        MigrateGuest *g = g_ptr_array_index(c, i);

        if (g_strcmp0(g->name, name) == 0)
            *out = g_strdup(g->skip);
    }
    return *out;
}

static void test_cooldown(void)
{
    g_autoptr(MigrateState) st = migrate_state_new();
    g_autoptr(Snapshot) snap = tm_snapshot(0, 8192, 8000);
    gint64 t0 = snap->mono_us;
    MigCfg cfg;
    char *skip = NULL;

    mig_config(&cfg, MIGRATION_EXECUTE);
    tm_guest(snap, "a", 512, 2048, 100);
    tm_guest(snap, "b", 512, 2048, 100);

    migrate_note_request(st, "uuid-a", TRUE, &cfg.migration, t0);
    g_assert_cmpstr(migrate_in_flight(st), ==, "uuid-a");
    g_assert_nonnull(strstr(skip_of(st, snap, "a", t0, &skip), "in flight"));
    g_free(skip);
    g_assert_null(skip_of(st, snap, "b", t0, &skip));

    /* Done 100 s later: the 60 s cooldown starts again from there. */
    migrate_note_done(st, &cfg.migration, t0 + 100 * SEC);
    g_assert_null(migrate_in_flight(st));
    g_assert_cmpfloat(migrate_cooldown_left_s(st, "uuid-a", t0 + 130 * SEC), ==,
                      30.0);
    g_assert_nonnull(strstr(skip_of(st, snap, "a", t0 + 130 * SEC, &skip),
                            "cooling down, 30 s left"));
    g_free(skip);
    g_assert_null(skip_of(st, snap, "a", t0 + 160 * SEC, &skip));

    /* Advise mode: a cooldown, but nothing in flight. */
    migrate_note_request(st, "uuid-b", FALSE, &cfg.migration, t0);
    g_assert_null(migrate_in_flight(st));
    g_assert_cmpfloat(migrate_cooldown_left_s(st, "uuid-b", t0 + 10 * SEC), ==,
                      50.0);
    config_clear(&mig_schema, &cfg);
}

/* A balloon within MIGRATE_SETTLE_KIB of its target has settled. */
static void test_settling(void)
{
    static const struct {
        gint64 actual_mib;
        gboolean has_stats;
        gboolean settling;
    } cases[] = {
        {512, TRUE, FALSE},   {528, TRUE, FALSE}, {496, TRUE, FALSE},
        {529, TRUE, TRUE},    {495, TRUE, TRUE},  {2048, TRUE, TRUE},
        {2048, FALSE, FALSE}, /* no stats: nothing says it moves */
    };
    guint i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(MigrateState) st = migrate_state_new();
        g_autoptr(Snapshot) snap = tm_snapshot(0, 8192, 8000);
        g_autoptr(GPtrArray) c = NULL;
        MigrateTrigger t = {.kind = MIGRATE_TRIGGER_MEMORY};
        DomainSample *d = tm_guest(snap, "a", 512, 2048, 100);

        d->balloon.actual_kib = (guint64)cases[i].actual_mib * TM_MIB;
        d->has_balloon_stats = cases[i].has_stats;
        c = migrate_candidates(st, snap, &t, snap->mono_us);
        g_assert_cmpint(
            ((const MigrateGuest *)g_ptr_array_index(c, 0))->settling, ==,
            cases[i].settling);
    }
}

/* ---- choice of guest ---------------------------------------------------- */

typedef struct {
    const char *name;
    guint64 held_mib;
    guint64 cost_mib;
    double cpu_pct;
    gboolean skip;
    gboolean clock_unknown;
    gboolean settling; /* skipped until its balloon settles */
} TGuest;

typedef struct {
    const char *what;
    MigrateTriggerKind kind;
    double deficit; /* MiB, or percent of a pCPU */
    TGuest guests[5];
    const char *expect; /* NONE_EXPECTED: no guest */
    const char *reason_has;
    gboolean retry_soon;
} GuestCase;

static const GuestCase guest_cases[] = {
    {"the cheapest guest that clears the deficit",
     MIGRATE_TRIGGER_MEMORY,
     300,
     {{"big", 1024, 900},
      {"cheap", 512, 80},
      {"small", 256, 20},
      {"costly", 512, 400}},
     "cheap",
     "clears the 300 MiB deficit at the least cost"},
    {"equal cost: the smaller relief disturbs less",
     MIGRATE_TRIGGER_MEMORY,
     300,
     {{"b", 1024, 100}, {"a", 512, 100}, {"c", 512, 100}},
     "a",
     NULL},
    {"none clears it: the one that covers most",
     MIGRATE_TRIGGER_MEMORY,
     4000,
     {{"a", 512, 10}, {"b", 1024, 900}, {"c", 768, 10}},
     "b",
     "clears the 4000 MiB deficit alone; b covers the most"},
    {"cooling down and unknown clocks are not considered",
     MIGRATE_TRIGGER_MEMORY,
     300,
     {{"a", 512, 10, 0, TRUE}, {"b", 512, 20, 0, FALSE, TRUE}, {"c", 512, 30}},
     "c",
     NULL},
    {"nobody may move",
     MIGRATE_TRIGGER_MEMORY,
     300,
     {{"a", 512, 10, 0, TRUE}},
     NONE_EXPECTED,
     "no guest may move now"},
    {"a settled guest moves while another's balloon moves",
     MIGRATE_TRIGGER_MEMORY,
     300,
     {{"a", 512, 10, 0, TRUE, FALSE, TRUE}, {"b", 512, 90}},
     "b",
     NULL},
    {"only balloons still moving: again next tick",
     MIGRATE_TRIGGER_MEMORY,
     300,
     {{"a", 512, 10, 0, TRUE, FALSE, TRUE}, {"b", 512, 10, 0, TRUE}},
     NONE_EXPECTED,
     "until its balloon settles",
     TRUE},
    {"cpu: the cheapest guest whose load clears the overload",
     MIGRATE_TRIGGER_CPU,
     40,
     {{"hot", 2048, 1500, 95}, {"warm", 512, 100, 45}, {"idle", 256, 10, 1}},
     "warm",
     "clears the 40% overload"},
    {"cpu: none clears it, the busiest",
     MIGRATE_TRIGGER_CPU,
     150,
     {{"hot", 2048, 1500, 95}, {"warm", 512, 100, 45}},
     "hot",
     NULL},
    {"manual: the named guest",
     MIGRATE_TRIGGER_MANUAL,
     0,
     {{"only", 512, 100}},
     "only",
     "was named by an operator"},
};

static MigratePeer *make_peer(const char *uri, const char *caps,
                              const char *uuid, guint64 free_mib, guint vcpus,
                              guint ncpus)
{
    MigratePeer *p = g_new0(MigratePeer, 1);

    p->uri = g_strdup(uri);
    if (!caps) {
        p->error = g_strdup("unable to connect to server at "
                            "'127.0.0.1:1': Connection refused");
        return p;
    }
    p->reachable = TRUE;
    if (g_str_equal(caps, "unreadable")) {
        p->error = g_strdup("this function is not supported");
    } else {
        caps_fixture(caps, &p->facts);
        p->facts_ok = TRUE;
    }
    if (uuid)
        g_strlcpy(p->facts.host_uuid, uuid, sizeof(p->facts.host_uuid));
    p->free_kib = free_mib * TM_MIB;
    p->vcpus = vcpus;
    p->ncpus = ncpus ? ncpus : p->facts.ncpus;
    return p;
}

static GPtrArray *peer_list(void)
{
    return g_ptr_array_new_with_free_func((GDestroyNotify)migrate_peer_free);
}

static MigrateGuest *make_guest(const TGuest *tg, MigrateTriggerKind kind,
                                const char *domain_fixture)
{
    MigrateGuest *g = g_new0(MigrateGuest, 1);

    g_snprintf(g->uuid, sizeof(g->uuid), "uuid-%s", tg->name);
    g->name = g_strdup(tg->name);
    g->held_kib = tg->held_mib * TM_MIB;
    g->cost_kib = tg->cost_mib * TM_MIB;
    g->cpu_pct = tg->cpu_pct;
    g->relief = kind == MIGRATE_TRIGGER_MEMORY ? (double)g->held_kib
                : kind == MIGRATE_TRIGGER_CPU  ? tg->cpu_pct
                                               : 0;
    if (tg->settling)
        g->skip = g_strdup("its balloon is still moving");
    else if (tg->skip)
        g->skip = g_strdup("cooling down, 10 s left");
    g->settling = tg->settling;
    if (!tg->clock_unknown) {
        clock_fixture(domain_fixture, &g->clock);
        g->clock_known = TRUE;
    }
    return g;
}

static void test_guest_table(void)
{
    HostFacts source = {0};
    guint c;
    guint i;

    caps_fixture(SOURCE_CAPS, &source);
    for (c = 0; c < G_N_ELEMENTS(guest_cases); c++) {
        const GuestCase *gc = &guest_cases[c];
        g_autoptr(GPtrArray) guests =
            g_ptr_array_new_with_free_func((GDestroyNotify)migrate_guest_free);
        g_autoptr(GPtrArray) peers = peer_list();
        g_auto(MigrateDecision) d = {0};
        MigrateTrigger trig = {.kind = gc->kind, .ticks = 3};
        MigCfg cfg;

        mig_config(&cfg, MIGRATION_EXECUTE);
        trig.deficit = gc->kind == MIGRATE_TRIGGER_MEMORY ? gc->deficit * TM_MIB
                                                          : gc->deficit;
        for (i = 0; i < G_N_ELEMENTS(gc->guests) && gc->guests[i].name; i++)
            g_ptr_array_add(guests,
                            make_guest(&gc->guests[i], gc->kind, "plain.xml"));
        g_ptr_array_add(peers, make_peer("qemu+tcp://peer/system",
                                         "peer-2596700000-noscale.xml", NULL,
                                         16384, 0, 0));
        g_test_message("case: %s", gc->what);
        migrate_decide(&trig, guests, peers, &source, &synced, &cfg.migration,
                       &d);
        dump_refusals(&d);
        if (gc->expect) {
            g_assert_true(d.ok);
            g_assert_cmpstr(d.guest->name, ==, gc->expect);
            g_assert_cmpstr(d.peer->uri, ==, "qemu+tcp://peer/system");
        } else {
            g_assert_false(d.ok);
            g_assert_null(d.guest);
        }
        if (gc->reason_has)
            g_assert_nonnull(strstr(d.reason, gc->reason_has));
        g_assert_cmpint(d.retry_soon, ==, gc->retry_soon);
        config_clear(&mig_schema, &cfg);
    }
}

/* A guest's history refuses the peer it just came from, however much
 * better that peer looks, and lets it go to another. */
static void test_history_refuses_origin(void)
{
    static const char *const origin = "aaaaaaaa-0000-4000-8000-000000000001";
    static const char *const other = "bbbbbbbb-0000-4000-8000-000000000002";
    const TGuest tg = {"roamer", 512, 100};
    HostFacts source = {0};
    g_autoptr(GPtrArray) guests =
        g_ptr_array_new_with_free_func((GDestroyNotify)migrate_guest_free);
    g_autoptr(GPtrArray) peers = peer_list();
    g_auto(MigrateDecision) d = {0};
    MigrateTrigger trig = {.kind = MIGRATE_TRIGGER_MEMORY, .ticks = 3};
    MigrateGuest *g;
    MigrateHop hop = {
        .time_s = 1796000000 - 400, .result = MIGRATE_HOP_DONE, .job_s = 10};
    MigCfg cfg;

    caps_fixture(SOURCE_CAPS, &source);
    mig_config(&cfg, MIGRATION_EXECUTE);
    cfg.migration.cooldown_s = 300;
    trig.deficit = 300 * TM_MIB;
    g = make_guest(&tg, trig.kind, "plain.xml");
    g->history = g_array_new(FALSE, TRUE, sizeof(MigrateHop));
    g_strlcpy(hop.from, origin, sizeof(hop.from));
    g_strlcpy(hop.to, source.host_uuid, sizeof(hop.to));
    g_array_append_val(g->history, hop);
    g->history_now_s = 1796000000;
    g_ptr_array_add(guests, g);
    /* The origin is idle with much free memory: it would win. */
    g_ptr_array_add(peers, make_peer("qemu+tcp://origin/system",
                                     "peer-2596700000-noscale.xml", origin,
                                     65536, 0, 0));
    g_ptr_array_add(peers, make_peer("qemu+tcp://other/system",
                                     "peer-2596700000-noscale.xml", other, 4096,
                                     8, 0));
    migrate_decide(&trig, guests, peers, &source, &synced, &cfg.migration, &d);
    dump_refusals(&d);
    g_assert_true(d.ok);
    g_assert_cmpstr(d.peer->uri, ==, "qemu+tcp://other/system");
    g_assert_cmpuint(d.refusals->len, ==, 1);
    g_assert_nonnull(strstr(g_ptr_array_index(d.refusals, 0),
                            "roamer -> qemu+tcp://origin/system refused: it "
                            "came from host"));
    /* An operator who names the guest may send it back: the better
     * peer wins. */
    migrate_decision_clear(&d);
    trig.kind = MIGRATE_TRIGGER_MANUAL;
    migrate_decide(&trig, guests, peers, &source, &synced, &cfg.migration, &d);
    g_assert_true(d.ok);
    g_assert_cmpstr(d.peer->uri, ==, "qemu+tcp://origin/system");
    /* Within its wait it goes nowhere. */
    g->history_now_s = hop.time_s + 100;
    g_assert_false(migrate_guest_history_allows(g, &cfg.migration));
    g_assert_nonnull(strstr(g->skip, "200 s more"));
    config_clear(&mig_schema, &cfg);
}

/* ---- choice of peer ----------------------------------------------------- */

typedef struct {
    const char *uri;
    const char *caps; /* fixture; NULL unreachable; "unreadable" */
    const char *uuid; /* overrides the fixture's host UUID */
    guint64 free_mib;
    guint vcpus;
    guint ncpus;          /* 0: from the capabilities */
    const char *expected; /* the host UUID its entry names, or NULL */
    guint inbound;        /* guests arriving there now ("web1", ...) */
} TPeer;

typedef struct {
    const char *what;
    const char *domain; /* guest's domain XML fixture */
    gboolean allow_unknown;
    TPeer peers[4];
    const char *expect; /* chosen peer's URI; NONE_EXPECTED: none */
    TscVerdict verdict; /* when chosen */
    const char *refusals[4];
    gboolean needs_pin;
    guint64 pin_hz;
    guint max_inbound; /* 0: the default */
} PeerCase;

#define NEAR "peer-2596700000-noscale.xml" /* 223.4 ppm from the source */
#define FAR "peer-2597000000-noscale.xml"  /* 338.9 ppm */
#define SCALE "peer-2100000000-scale.xml"  /* 2.1 GHz, scaling */
#define NOTSC "test-driver.xml"            /* libvirt's test:///default */
#define SAME_UUID "6b1c1e8a-3f0d-4d5e-9a7c-2e41f0b3c901" /* the source's */

static const PeerCase peer_cases[] = {
    {.what = "an unreachable peer is skipped with its reason",
     .domain = "plain.xml",
     .peers = {{"qemu+tcp://127.0.0.1:1/system", NULL},
               {"qemu+tcp://near/system", NEAR, NULL, 8192}},
     .expect = "qemu+tcp://near/system",
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .refusals =
         {"peer qemu+tcp://127.0.0.1:1/system skipped: unable to connect",
          "Connection refused"}},
    {.what = "only an unreachable peer: nothing",
     .domain = "plain.xml",
     .peers = {{"qemu+tcp://127.0.0.1:1/system", NULL}},
     .expect = NONE_EXPECTED,
     .verdict = 0,
     .refusals = {"Connection refused"}},
    {.what = "no TSC frequency (test:///default) is refused with the reason",
     .domain = "plain.xml",
     .peers = {{"test:///default", NOTSC, NULL, 8192, 0, 16}},
     .expect = NONE_EXPECTED,
     .verdict = 0,
     .refusals = {"aos -> test:///default refused: guest TSC 2596120000 Hz, "
                  "but the peer "
                  "reports no TSC frequency",
                  "allow_unknown_tsc is off"}},
    {.what = "no TSC frequency, allowed by config",
     .domain = "plain.xml",
     .allow_unknown = TRUE,
     .peers = {{"test:///default", NOTSC, NULL, 8192, 0, 16}},
     .expect = "test:///default",
     .verdict = TSC_VERDICT_UNKNOWN_ALLOWED},
    {.what =
         "338.9 ppm away without scaling: refused naming both and the distance",
     .domain = "plain.xml",
     .peers = {{"qemu+tcp://far/system", FAR, NULL, 8192}},
     .expect = NONE_EXPECTED,
     .verdict = 0,
     .refusals =
         {"guest TSC 2596120000 Hz is 338.9 ppm from peer's 2597000000 Hz",
          "the peer cannot scale"}},
    {.what = "the far peer refused, the near one taken",
     .domain = "plain.xml",
     .peers = {{"qemu+tcp://far/system", FAR, NULL, 8192},
               {"qemu+tcp://near/system", NEAR, NULL, 8192}},
     .expect = "qemu+tcp://near/system",
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .refusals = {"338.9 ppm"}},
    {.what = "a scaling peer 19% slower",
     .domain = "plain.xml",
     .peers = {{"qemu+tcp://amd/system", SCALE, NULL, 8192}},
     .expect = "qemu+tcp://amd/system",
     .verdict = TSC_VERDICT_SCALING},
    {.what = "explicit +150 ppm guest on a host of the source's kind",
     .domain = "tsc-plus150ppm.xml",
     .peers = {{"qemu+tcp://twin/system", SOURCE_CAPS,
                "11111111-2222-4333-8444-555555555555", 8192}},
     .expect = "qemu+tcp://twin/system",
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE},
    {.what = "explicit 2599000000 guest: 1109 ppm from every peer here",
     .domain = "tsc-2599000000.xml",
     .peers = {{"qemu+tcp://near/system", NEAR, NULL, 8192}},
     .expect = NONE_EXPECTED,
     .verdict = 0,
     .refusals = {"guest TSC 2599000000 Hz is"}},
    {.what = "the source itself is not a peer",
     .domain = "plain.xml",
     .peers = {{"qemu:///system", SOURCE_CAPS, SAME_UUID, 8192}},
     .expect = NONE_EXPECTED,
     .verdict = 0,
     .refusals = {"it is this host (host UUID " SAME_UUID ")"}},
    {.what = "capabilities that cannot be read",
     .domain = "plain.xml",
     .peers = {{"qemu+tcp://odd/system", "unreadable", NULL, 8192}},
     .expect = NONE_EXPECTED,
     .verdict = 0,
     .refusals = {"its capabilities could not be read"}},
    {.what = "too little free memory for 512 MiB plus the 200 MiB reserve",
     .domain = "plain.xml",
     .peers = {{"qemu+tcp://full/system", NEAR, NULL, 700},
               {"qemu+tcp://roomy/system", NEAR,
                "22222222-2222-4333-8444-555555555555", 712}},
     .expect = "qemu+tcp://roomy/system",
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .refusals =
         {"the peer has 700 MiB free, the guest needs 512 MiB plus the 200 MiB "
          "reserve"}},
    {.what = "the lowest load wins",
     .domain = "plain.xml",
     .peers = {{"qemu+tcp://busy/system", NEAR, NULL, 16384, 4, 2},
               {"qemu+tcp://calm/system", NEAR, NULL, 8192, 1, 2},
               {"qemu+tcp://calmer/system", SCALE, NULL, 4096, 1, 8}},
     .expect = "qemu+tcp://calmer/system",
     .verdict = TSC_VERDICT_SCALING},
    {.what = "equal load: the most free memory",
     .domain = "plain.xml",
     .peers = {{"qemu+tcp://a/system", NEAR, NULL, 4096, 1, 2},
               {"qemu+tcp://b/system", NEAR, NULL, 8192, 1, 2}},
     .expect = "qemu+tcp://b/system",
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE},
    {.what = "all equal: config order",
     .domain = "plain.xml",
     .peers = {{"qemu+tcp://a/system", NEAR, NULL, 8192, 1, 2},
               {"qemu+tcp://b/system", NEAR, NULL, 8192, 1, 2}},
     .expect = "qemu+tcp://a/system",
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE},
    {.what = "invtsc without a frequency: the source's is pinned",
     .domain = "invtsc.xml",
     .peers = {{"qemu+tcp://near/system", NEAR, NULL, 8192}},
     .expect = "qemu+tcp://near/system",
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .refusals = {NULL},
     .needs_pin = TRUE,
     .pin_hz = 2596120000},
    {.what = "a peer showing another host UUID than its entry names is "
             "refused; one showing it (in any case) is taken",
     .domain = "plain.xml",
     .peers = {{"qemu+tcp://moved/system", NEAR,
                "33333333-2222-4333-8444-555555555555", 16384, 0, 0,
                "44444444-2222-4333-8444-555555555555"},
               {"qemu+tcp://meant/system", NEAR,
                "55555555-2222-4333-8444-555555555555", 8192, 0, 0,
                "55555555-2222-4333-8444-555555555555"}},
     .expect = "qemu+tcp://meant/system",
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .refusals = {"peer qemu+tcp://moved/system refused: its capabilities "
                  "show host UUID 33333333-2222-4333-8444-555555555555, not "
                  "the 44444444-2222-4333-8444-555555555555 its entry names"}},
    {.what = "a peer already receiving a guest is refused at max_inbound 1, "
             "though its load is lower",
     .domain = "plain.xml",
     .peers = {{"qemu+tcp://busy/system", NEAR, NULL, 16384, 0, 8, NULL, 1},
               {"qemu+tcp://calm/system", NEAR,
                "66666666-2222-4333-8444-555555555555", 8192, 2, 8}},
     .expect = "qemu+tcp://calm/system",
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .refusals = {"peer qemu+tcp://busy/system refused: it is receiving 1 "
                  "guest by migration (web1), and max_inbound is 1"}},
    {.what = "max_inbound 2: the same peer takes a second guest",
     .domain = "plain.xml",
     .peers = {{"qemu+tcp://busy/system", NEAR, NULL, 16384, 0, 8, NULL, 1},
               {"qemu+tcp://calm/system", NEAR,
                "66666666-2222-4333-8444-555555555555", 8192, 2, 8}},
     .expect = "qemu+tcp://busy/system",
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .max_inbound = 2},
    {.what = "two arriving, max_inbound 2: refused",
     .domain = "plain.xml",
     .peers = {{"qemu+tcp://busy/system", NEAR, NULL, 16384, 0, 8, NULL, 2}},
     .expect = NONE_EXPECTED,
     .verdict = 0,
     .refusals = {"it is receiving 2 guests by migration (web1, web2), and "
                  "max_inbound is 2"},
     .max_inbound = 2},
    {.what = "invtsc with its own frequency: nothing to pin",
     .domain = "invtsc-pinned.xml",
     .peers = {{"qemu+tcp://twin/system", SOURCE_CAPS,
                "11111111-2222-4333-8444-555555555555", 8192}},
     .expect = "qemu+tcp://twin/system",
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .refusals = {NULL}},
};

static void test_peer_table(void)
{
    HostFacts source = {0};
    guint c;
    guint i;

    caps_fixture(SOURCE_CAPS, &source);
    for (c = 0; c < G_N_ELEMENTS(peer_cases); c++) {
        const PeerCase *pc = &peer_cases[c];
        const TGuest tg = {"aos", 512, 100};
        g_autoptr(GPtrArray) guests =
            g_ptr_array_new_with_free_func((GDestroyNotify)migrate_guest_free);
        g_autoptr(GPtrArray) peers = peer_list();
        g_auto(MigrateDecision) d = {0};
        MigrateTrigger trig = {.kind = MIGRATE_TRIGGER_MEMORY,
                               .deficit = 100 * TM_MIB,
                               .ticks = 3};
        MigCfg cfg;

        mig_config(&cfg, MIGRATION_EXECUTE);
        cfg.migration.allow_unknown_tsc = pc->allow_unknown;
        if (pc->max_inbound)
            cfg.migration.max_inbound = pc->max_inbound;
        g_ptr_array_add(guests, make_guest(&tg, trig.kind, pc->domain));
        for (i = 0; i < G_N_ELEMENTS(pc->peers) && pc->peers[i].uri; i++) {
            const TPeer *tp = &pc->peers[i];

            MigratePeer *p = make_peer(tp->uri, tp->caps, tp->uuid,
                                       tp->free_mib, tp->vcpus, tp->ncpus);

            p->expected_uuid = g_strdup(tp->expected);
            p->inbound = tp->inbound;
            if (tp->inbound)
                p->inbound_names =
                    g_strdup(tp->inbound == 1 ? "web1" : "web1, web2");
            g_ptr_array_add(peers, p);
        }
        g_test_message("case: %s", pc->what);
        migrate_decide(&trig, guests, peers, &source, &synced, &cfg.migration,
                       &d);
        dump_refusals(&d);
        if (pc->expect) {
            g_assert_true(d.ok);
            g_assert_cmpstr(d.peer->uri, ==, pc->expect);
            g_assert_cmpint(d.tsc.verdict, ==, pc->verdict);
            g_assert_true(d.tsc.compatible);
            g_assert_nonnull(strstr(d.reason, d.tsc.reason));
        } else {
            g_assert_false(d.ok);
            g_assert_null(d.peer);
        }
        for (i = 0; i < G_N_ELEMENTS(pc->refusals) && pc->refusals[i]; i++)
            g_assert_true(has_refusal(&d, pc->refusals[i]));
        g_assert_cmpint(d.tsc.needs_pin, ==, pc->needs_pin);
        g_assert_cmpuint(d.tsc.pin_hz, ==, pc->pin_hz);
        config_clear(&mig_schema, &cfg);
    }
}

/* ---- the local clock ---------------------------------------------------- */

typedef struct {
    const char *what;
    MigrationMode mode;
    const ClockSync *clock; /* NULL: ntp_adjtime could not be read */
    gboolean allow_unsynced;
    gboolean expect_ok;
    gboolean expect_clock_ok;
    const char *reason_has;
} ClockCase;

static const ClockCase clock_cases[] = {
    {"execute, synchronised", MIGRATION_EXECUTE, &synced, FALSE, TRUE, TRUE,
     NULL},
    {"execute, unsynchronised: refused", MIGRATION_EXECUTE, &unsynced, FALSE,
     FALSE, FALSE,
     "not executing a migration: local clock not synchronised (TIME_ERROR, "
     "STA_UNSYNC set"},
    {"execute, unsynchronised, allowed", MIGRATION_EXECUTE, &unsynced, TRUE,
     TRUE, TRUE, NULL},
    {"execute, clock unknown: refused", MIGRATION_EXECUTE, NULL, FALSE, FALSE,
     FALSE, "local clock state unknown"},
    {"advise reports the clock but is not refused", MIGRATION_ADVISE, &unsynced,
     FALSE, TRUE, FALSE, NULL},
};

static void test_clock_table(void)
{
    HostFacts source = {0};
    guint c;

    caps_fixture(SOURCE_CAPS, &source);
    for (c = 0; c < G_N_ELEMENTS(clock_cases); c++) {
        const ClockCase *cc = &clock_cases[c];
        const TGuest tg = {"aos", 512, 100};
        g_autoptr(GPtrArray) guests =
            g_ptr_array_new_with_free_func((GDestroyNotify)migrate_guest_free);
        g_autoptr(GPtrArray) peers = peer_list();
        g_auto(MigrateDecision) d = {0};
        MigrateTrigger trig = {.kind = MIGRATE_TRIGGER_MEMORY,
                               .deficit = 100 * TM_MIB,
                               .ticks = 3};
        MigCfg cfg;

        mig_config(&cfg, cc->mode);
        cfg.migration.allow_unsynced_clock = cc->allow_unsynced;
        g_ptr_array_add(guests, make_guest(&tg, trig.kind, "plain.xml"));
        g_ptr_array_add(
            peers, make_peer("qemu+tcp://near/system", NEAR, NULL, 8192, 0, 0));
        g_test_message("case: %s", cc->what);
        migrate_decide(&trig, guests, peers, &source, cc->clock, &cfg.migration,
                       &d);
        dump_refusals(&d);
        g_assert_cmpint(d.ok, ==, cc->expect_ok);
        g_assert_cmpint(d.clock_ok, ==, cc->expect_clock_ok);
        g_assert_nonnull(d.clock_reason);
        if (cc->reason_has)
            g_assert_nonnull(strstr(d.reason, cc->reason_has));
        config_clear(&mig_schema, &cfg);
    }
}

/* ---- time data ---------------------------------------------------------- */

static void test_time_data(void)
{
    /* The published propolis figures: uptime from the two hrtimes, and
     * 107582 ns of blackout at 2649958945 Hz is 285087 ticks. */
    const guint64 hz = G_GUINT64_CONSTANT(2649958945);
    const guint64 hrtime = G_GUINT64_CONSTANT(18028032305249);
    const guint64 boot = G_GUINT64_CONSTANT(17148534696948);
    g_autoptr(GError) err = NULL;
    MigrateTimeData td = {0};
    guint64 ticks = 0;
    guint64 tsc = 0;

    g_assert_true(migrate_time_data(hz, 1, hrtime, boot, &td, &err));
    g_assert_no_error(err);
    g_assert_true(td.known);
    g_assert_cmpuint(td.uptime_ns, ==, G_GUINT64_CONSTANT(879497608301));
    /* 879.497608301 s at 2649958945 Hz, truncated (worked out apart). */
    g_assert_cmpuint(td.td.guest_tsc, ==, G_GUINT64_CONSTANT(2330632554223));
    g_assert_true(migrate_predict_advance(&td, hz, 107582, &ticks, &tsc, &err));
    g_assert_cmpuint(ticks, ==, 285087);
    g_assert_cmpuint(tsc, ==, G_GUINT64_CONSTANT(2330632554223) + 285087);

    /* 53 ms of downtime at this machine's 2445430000 Hz. */
    g_assert_true(migrate_predict_advance(NULL, G_GUINT64_CONSTANT(2445430000),
                                          53000000, &ticks, &tsc, &err));
    g_assert_cmpuint(ticks, ==, G_GUINT64_CONSTANT(129607790));
    g_assert_cmpuint(tsc, ==, 0);

    /* A guest that booted after the snapshot: the readings contradict. */
    g_assert_false(migrate_time_data(hz, 1, boot, hrtime, &td, &err));
    g_assert_error(err, TSC_ERROR, TSC_ERROR_UNDERFLOW);
    g_clear_error(&err);
    g_assert_false(migrate_predict_advance(NULL, 0, 1000, &ticks, &tsc, &err));
    g_assert_error(err, TSC_ERROR, TSC_ERROR_INVALID);
}

/* ---- the policies' signals ---------------------------------------------- */

static void test_memory_deficit(void)
{
    static const struct {
        const char *what;
        guint64 budget_mib;
        gboolean expect_deficit;
    } cases[] = {
        /* Four guests using 100 MiB each need 100 + min_unused 100 +
         * 20 MiB/s onset headroom over 1 s + 1.5 s = 250 MiB each: 1000
         * MiB, plus the 200 MiB the budget keeps in reserve. */
        {"a budget too small for the guests' needs", 1000, TRUE},
        {"a budget that fits after shrinking", 1300, FALSE},
        {"no budget: the host's memory", 0, FALSE},
    };
    guint c;

    for (c = 0; c < G_N_ELEMENTS(cases); c++) {
        g_autoptr(MemPolicyState) st = mem_policy_state_new();
        guint64 deficit = 0;
        MemConfig cfg;
        guint t;

        tm_config(&cfg, MEM_POLICY_COURSE);
        cfg.guest_budget_mib = cases[c].budget_mib;
        /* Several ticks, so the shrinks of each tick are taken. */
        for (t = 0; t < 12; t++) {
            g_autoptr(Snapshot) snap = tm_snapshot(t, 24576, 22000);
            g_autoptr(Plan) plan = NULL;
            const char *names[] = {"a", "b", "c", "d"};
            static guint64 cur[4];
            guint i;

            for (i = 0; i < 4; i++) {
                if (t == 0)
                    cur[i] = 512;
                tm_guest(snap, names[i], cur[i], 2048, 100);
            }
            plan = mem_policy_decide(snap, &cfg, st);
            for (i = 0; i < plan_len(plan); i++) {
                const BalloonAction *a = tm_balloon(plan, i);

                cur[a->base.name[0] - 'a'] = a->new_kib / TM_MIB;
            }
            g_assert_true(plan->short_of == PLAN_SHORT_MEMORY ||
                          plan->short_of == PLAN_SHORT_NONE);
            deficit = (guint64)plan->shortfall;
            g_test_message("%s: tick %u deficit %" G_GUINT64_FORMAT " KiB",
                           cases[c].what, t, deficit);
            /* The signal is there from the first tick, before the gradual
             * shrinks have been applied. */
            if (cases[c].expect_deficit)
                g_assert_cmpuint(deficit, >, 0);
            else
                g_assert_cmpuint(deficit, ==, 0);
        }
        if (cases[c].expect_deficit)
            g_assert_cmpuint(deficit, ==, (1000 + 200 - 1000) * TM_MIB);
        config_clear(&mem_config_schema, &cfg);
    }
}

static void test_cpu_overload(void)
{
    static const struct {
        const char *what;
        double busy_share; /* of each of 2 pCPUs, 0..1 */
        gboolean expect;
        double pct;
    } cases[] = {
        {"both pCPUs at 95%", 0.95, TRUE, 10},
        {"both pCPUs at 85%", 0.85, FALSE, 0},
    };
    guint c;

    for (c = 0; c < G_N_ELEMENTS(cases); c++) {
        g_autoptr(VcpuPolicyState) st = vcpu_policy_state_new();
        guint64 ns = (guint64)(cases[c].busy_share * 1e9);
        TvVcpu v0[] = {{0, 0, 0, 0, 0}, {1, 1, 1, 0, 0}};
        TvVcpu v1[] = {{0, 0, 0, ns, 0}, {1, 1, 1, ns, 0}};
        g_autoptr(Snapshot) s0 = tv_snapshot(2, v0, 2, SEC);
        g_autoptr(Snapshot) s1 = tv_snapshot(2, v1, 2, 2 * SEC);
        g_autoptr(Plan) p0 = NULL;
        g_autoptr(Plan) p1 = NULL;
        VcpuConfig cfg;

        tv_config(&cfg);
        cfg.migration.overload_util = 90;
        p0 = vcpu_policy_decide(s0, &cfg, st);
        g_assert_cmpint(p0->short_of, ==, PLAN_SHORT_NONE);
        p1 = vcpu_policy_decide(s1, &cfg, st);
        g_test_message("%s: short of %d, %.1f%% over", cases[c].what,
                       p1->short_of, p1->shortfall);
        g_assert_cmpint(p1->short_of, ==,
                        cases[c].expect ? PLAN_SHORT_CPU : PLAN_SHORT_NONE);
        g_assert_cmpfloat_with_epsilon(p1->shortfall, cases[c].pct, 1e-6);
        config_clear(&vcpu_config_schema, &cfg);
    }
}

/* ---- after a failed migration ------------------------------------------ */

static void test_settle_table(void)
{
    static const struct {
        const char *name;
        gboolean source_known;
        int state;
        int reason;
        gboolean peer_asked;
        gboolean dest_running;
        MigrateSettle want;
    } rows[] = {
        {"libvirt resumed the source, the peer dropped its copy", TRUE,
         VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_MIGRATION_CANCELED, TRUE, FALSE,
         MIGRATE_SETTLE_NOTHING},
        {"source running, peer unreachable: nothing to guess", TRUE,
         VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_UNPAUSED, FALSE, FALSE,
         MIGRATE_SETTLE_NOTHING},
        {"running on both: the peer's copy is paused", TRUE, VIR_DOMAIN_RUNNING,
         VIR_DOMAIN_RUNNING_MIGRATION_CANCELED, TRUE, TRUE,
         MIGRATE_SETTLE_PAUSE_DEST},
        {"paused by the job, the peer holds none", TRUE, VIR_DOMAIN_PAUSED,
         VIR_DOMAIN_PAUSED_MIGRATION, TRUE, FALSE,
         MIGRATE_SETTLE_RESUME_SOURCE},
        {"paused by the job, the peer runs it: stays paused", TRUE,
         VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_MIGRATION, TRUE, TRUE,
         MIGRATE_SETTLE_HOLD_SOURCE},
        {"paused by the job, the peer not answering: stays paused", TRUE,
         VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_MIGRATION, FALSE, FALSE,
         MIGRATE_SETTLE_HOLD_SOURCE},
        {"paused by the operator: left as it is", TRUE, VIR_DOMAIN_PAUSED,
         VIR_DOMAIN_PAUSED_USER, TRUE, FALSE, MIGRATE_SETTLE_NOTHING},
        {"shut off here: nothing to resume", TRUE, VIR_DOMAIN_SHUTOFF, 0, TRUE,
         FALSE, MIGRATE_SETTLE_NOTHING},
        {"source state unreadable", FALSE, VIR_DOMAIN_NOSTATE, 0, TRUE, TRUE,
         MIGRATE_SETTLE_NOTHING},
    };
    guint i;

    for (i = 0; i < G_N_ELEMENTS(rows); i++) {
        MigrateSettle got = migrate_settle_after_failure(
            rows[i].source_known, rows[i].state, rows[i].reason,
            rows[i].peer_asked, rows[i].dest_running);

        if (got != rows[i].want)
            g_error("%s: got %s, want %s", rows[i].name,
                    migrate_settle_name(got),
                    migrate_settle_name(rows[i].want));
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migrate/trigger/table", test_trigger_table);
    g_test_add_func("/migrate/trigger/backoff", test_backoff);
    g_test_add_func("/migrate/candidates/relief-cost", test_candidates);
    g_test_add_func("/migrate/candidates/cooldown-in-flight", test_cooldown);
    g_test_add_func("/migrate/candidates/settling", test_settling);
    g_test_add_func("/migrate/choice/history-refuses-origin",
                    test_history_refuses_origin);
    g_test_add_func("/migrate/choice/guest", test_guest_table);
    g_test_add_func("/migrate/choice/peer", test_peer_table);
    g_test_add_func("/migrate/choice/clock", test_clock_table);
    g_test_add_func("/migrate/time-data", test_time_data);
    g_test_add_func("/migrate/signal/memory-deficit", test_memory_deficit);
    g_test_add_func("/migrate/signal/cpu-overload", test_cpu_overload);
    g_test_add_func("/migrate/settle-after-failure", test_settle_table);
    return g_test_run();
}
