/* Page cache is not demand: table tests of how both memory policies read
 * a guest's cache, its major faults and swap-in, and what they do when a
 * guest does not report them. */
#include "test_mem_util.h"

#define HOST_MIB 24576
#define HOST_FREE_MIB 20000
/* The test guests' kernel keeps this much free before it drops cache, and
 * reports MemAvailable this much below free + cache (its reserves). */
#define KERNEL_FREE_MIB 40
#define RESERVE_MIB 64

typedef enum {
    EXPECT_NONE,
    EXPECT_SHRINK,
    EXPECT_GROW,
    EXPECT_NOT_GROWN, /* none or shrink: the policies differ in which */
} Expect;

static const char *expect_name(Expect e)
{
    return e == EXPECT_GROW ? "grow" : e == EXPECT_SHRINK ? "shrink" : "none";
}

static gboolean as_expected(Expect got, Expect want)
{
    if (want == EXPECT_NOT_GROWN)
        return got != EXPECT_GROW;
    return got == want;
}

/* A guest's report: programs hold programs_mib, cache fills what they
 * leave down to the kernel's free minimum, at most cache_mib. */
typedef struct {
    guint64 cur_mib;
    guint64 programs_mib;
    guint64 cache_mib;
    guint64 major_fault; /* cumulative */
    guint64 swap_in_kib; /* cumulative */
    guint32 drop;        /* BalloonField bits the guest does not report */
} Report;

static DomainSample *add_guest(Snapshot *snap, const Report *r)
{
    DomainSample *d = tm_guest(snap, "g", r->cur_mib, 2048, r->programs_mib);
    guint64 room = d->balloon.unused_kib;
    guint64 cache =
        MIN(r->cache_mib * TM_MIB, mem_kib_sub(room, KERNEL_FREE_MIB * TM_MIB));

    d->balloon.unused_kib -= cache;
    d->balloon.disk_caches_kib = cache;
    d->balloon.usable_kib =
        mem_kib_sub(d->balloon.unused_kib + cache, RESERVE_MIB * TM_MIB);
    d->balloon.major_fault = r->major_fault;
    d->balloon.swap_in_kib = r->swap_in_kib;
    d->balloon.present |=
        BALLOON_HAS_DISK_CACHES | BALLOON_HAS_MAJOR_FAULT | BALLOON_HAS_SWAP_IN;
    d->balloon.present &= ~r->drop;
    return d;
}

static Expect what_happened(const Plan *plan, guint64 *new_kib)
{
    const BalloonAction *a = tm_action_for(plan, "g");

    if (!a)
        return EXPECT_NONE;
    *new_kib = a->new_kib;
    return a->new_kib > a->old_kib ? EXPECT_GROW : EXPECT_SHRINK;
}

/* ---- one report: cache against need ------------------------------------ */

typedef struct {
    const char *name;
    Report report;
    Expect expect;
    gboolean reported_blind; /* the log names the guest once */
} OneReportCase;

static const OneReportCase one_report_cases[] = {
    /* 42 MiB free, 320 MiB cache: the cache is the guest's to give. */
    {.name = "cache fills free memory",
     .report = {.cur_mib = 512, .programs_mib = 150, .cache_mib = 320},
     .expect = EXPECT_SHRINK},
    {.name = "no usable: cache counts as used",
     .report = {.cur_mib = 512,
                .programs_mib = 150,
                .cache_mib = 320,
                .drop = BALLOON_HAS_USABLE},
     .expect = EXPECT_GROW,
     .reported_blind = TRUE},
    {.name = "no disk_caches: cache counts as used",
     .report = {.cur_mib = 512,
                .programs_mib = 150,
                .cache_mib = 320,
                .drop = BALLOON_HAS_DISK_CACHES},
     .expect = EXPECT_GROW,
     .reported_blind = TRUE},
    {.name = "neither: cache counts as used",
     .report = {.cur_mib = 512,
                .programs_mib = 150,
                .cache_mib = 320,
                .drop = BALLOON_HAS_USABLE | BALLOON_HAS_DISK_CACHES},
     .expect = EXPECT_GROW,
     .reported_blind = TRUE},
    /* MemAvailable below MemFree: no cache to speak of, the guest is
     * judged by its free memory. */
    {.name = "usable below unused, plenty free",
     .report = {.cur_mib = 512, .programs_mib = 100},
     .expect = EXPECT_SHRINK},
    {.name = "little cache, programs short",
     .report = {.cur_mib = 512, .programs_mib = 420, .cache_mib = 60},
     .expect = EXPECT_GROW},
};

static void test_one_report(gconstpointer data)
{
    const OneReportCase *c = data;
    guint p;

    for (p = 0; p < 2; p++) {
        g_autoptr(MemPolicyState) st = mem_policy_state_new();
        g_autoptr(Snapshot) snap = tm_snapshot(10, HOST_MIB, HOST_FREE_MIB);
        g_autoptr(Plan) plan = NULL;
        g_autofree char *name = NULL;
        guint64 new_kib = 0;
        MemConfig cfg;

        tm_config(&cfg, (MemPolicyKind)p);
        add_guest(snap, &c->report);
        plan = mem_policy_decide(snap, &cfg, st);
        g_assert_cmpstr(expect_name(what_happened(plan, &new_kib)), ==,
                        expect_name(c->expect));
        /* A shrink into cache still leaves the programs min_unused. */
        if (c->expect == EXPECT_SHRINK)
            g_assert_cmpuint(new_kib, >=,
                             (c->report.programs_mib + cfg.min_unused_mib) *
                                 TM_MIB);
        g_assert_cmpint(mem_policy_take_new_cache_blind(st, &name), ==,
                        c->reported_blind);
        g_assert_cmpstr(name, ==, c->reported_blind ? "g" : NULL);
        config_clear(&mem_config_schema, &cfg);
    }
}

/* ---- reports over time: faults, swap-in, restarts ---------------------- */

#define SEQ_MAX 8

typedef struct {
    double at_tick;       /* the tick of the report, SEQ_TICK_S apart */
    guint64 programs_mib; /* what the programs hold */
    guint64 faults_per_s; /* major faults since the last report, per s */
    guint64 swapin_kib_s; /* swap-in since the last report, per s */
    gboolean restarted;   /* counters start again from 0 */
    Expect expect;
} SeqStep;

typedef struct {
    const char *name;
    guint64 cur_mib;
    guint64 cache_mib;       /* cache the guest keeps, at most */
    gboolean no_first_cache; /* the first report shows no cache yet */
    SeqStep steps[SEQ_MAX];
} SeqCase;

static const SeqCase seq_cases[] = {
    /* Control: a guest full of cache gives it back a step a tick. */
    {.name = "quiet cache is released",
     .cur_mib = 1024,
     .cache_mib = 2048,
     .steps = {{.at_tick = 1, .programs_mib = 150, .expect = EXPECT_SHRINK},
               {.at_tick = 2, .programs_mib = 150, .expect = EXPECT_SHRINK},
               {.at_tick = 3, .programs_mib = 150, .expect = EXPECT_SHRINK}}},
    /* One report of faults stops shrinks; a burst does not grow it. */
    {.name = "fault burst: held, not grown",
     .cur_mib = 1024,
     .cache_mib = 2048,
     .steps = {{.at_tick = 1, .programs_mib = 150, .expect = EXPECT_SHRINK},
               {.at_tick = 2,
                .programs_mib = 150,
                .faults_per_s = 400,
                .expect = EXPECT_NONE},
               {.at_tick = 3, .programs_mib = 150, .expect = EXPECT_SHRINK}}},
    {.name = "sustained faults: grown by steps, then held",
     .cur_mib = 1024,
     .cache_mib = 2048,
     .steps = {{.at_tick = 1, .programs_mib = 150, .expect = EXPECT_SHRINK},
               {.at_tick = 2,
                .programs_mib = 150,
                .faults_per_s = 400,
                .expect = EXPECT_NONE},
               {.at_tick = 3,
                .programs_mib = 150,
                .faults_per_s = 400,
                .expect = EXPECT_GROW},
               {.at_tick = 4,
                .programs_mib = 150,
                .faults_per_s = 60,
                .expect = EXPECT_GROW},
               {.at_tick = 5, .programs_mib = 150, .expect = EXPECT_NONE},
               {.at_tick = 60, .programs_mib = 150, .expect = EXPECT_NONE},
               /* The hold is over: the next release probes again. */
               {.at_tick = 130, .programs_mib = 150, .expect = EXPECT_SHRINK}}},
    {.name = "sustained swap-in: grown",
     .cur_mib = 1024,
     .cache_mib = 2048,
     .steps = {{.at_tick = 1, .programs_mib = 150, .expect = EXPECT_SHRINK},
               {.at_tick = 2,
                .programs_mib = 150,
                .swapin_kib_s = 1024,
                .expect = EXPECT_NONE},
               {.at_tick = 3,
                .programs_mib = 150,
                .swapin_kib_s = 1024,
                .expect = EXPECT_GROW}}},
    /* Faults with free memory to spare are first reads, not evictions:
     * more memory would not stop them.  Not shrunk, not grown. */
    {.name = "faults with memory to spare: not grown",
     .cur_mib = 1024,
     .cache_mib = 0,
     .steps = {{.at_tick = 1, .programs_mib = 150, .expect = EXPECT_SHRINK},
               {.at_tick = 2,
                .programs_mib = 150,
                .faults_per_s = 400,
                .expect = EXPECT_NONE},
               {.at_tick = 3,
                .programs_mib = 150,
                .faults_per_s = 400,
                .expect = EXPECT_NONE},
               {.at_tick = 4,
                .programs_mib = 150,
                .faults_per_s = 400,
                .expect = EXPECT_NONE}}},
    {.name = "faults below the line: released",
     .cur_mib = 1024,
     .cache_mib = 2048,
     .steps = {{.at_tick = 1, .programs_mib = 150, .expect = EXPECT_SHRINK},
               {.at_tick = 2,
                .programs_mib = 150,
                .faults_per_s = 40,
                .expect = EXPECT_SHRINK},
               {.at_tick = 3,
                .programs_mib = 150,
                .faults_per_s = 40,
                .expect = EXPECT_SHRINK}}},
    /* A consumer's rate is known after a report: it is topped up for
     * it... */
    {.name = "consumer: rate remembered",
     .cur_mib = 400,
     .steps = {{.at_tick = 1, .programs_mib = 100, .expect = EXPECT_SHRINK},
               {.at_tick = 2, .programs_mib = 160, .expect = EXPECT_GROW},
               {.at_tick = 3, .programs_mib = 220, .expect = EXPECT_GROW},
               {.at_tick = 4, .programs_mib = 280, .expect = EXPECT_GROW}}},
    /* ...but not when its counters went backwards: the guest started
     * again, and nothing learnt before says anything about it now, so its
     * first report after the restart shows no rate yet. */
    {.name = "guest restarted: rate forgotten",
     .cur_mib = 400,
     .steps = {{.at_tick = 1, .programs_mib = 100, .expect = EXPECT_SHRINK},
               {.at_tick = 2,
                .programs_mib = 160,
                .faults_per_s = 10,
                .expect = EXPECT_GROW},
               {.at_tick = 3,
                .programs_mib = 220,
                .faults_per_s = 10,
                .expect = EXPECT_GROW},
               {.at_tick = 4,
                .programs_mib = 280,
                .restarted = TRUE,
                .expect = EXPECT_NOT_GROWN}}},
    /* Cache appearing after a report without it is no consumption: the
     * kernel's reserves, learnt from the first report, are added back. */
    {.name = "cache appears: no rate read",
     .cur_mib = 400,
     .cache_mib = 2048,
     .no_first_cache = TRUE,
     .steps = {{.at_tick = 1, .programs_mib = 100, .expect = EXPECT_SHRINK},
               {.at_tick = 2, .programs_mib = 100, .expect = EXPECT_SHRINK}}},
};

#define SEQ_TICK_S 2.0

static void run_seq(const SeqCase *c, MemPolicyKind p)
{
    g_autoptr(MemPolicyState) st = mem_policy_state_new();
    guint64 cur = c->cur_mib * TM_MIB;
    guint64 faults = 1000;
    guint64 swapin = 1000;
    double last_t = 0;
    MemConfig cfg;
    guint i;

    tm_config(&cfg, p);
    /* Ticks of the shipped interval, 2 s. */
    cfg.daemon.interval_s = SEQ_TICK_S;
    for (i = 0; i < SEQ_MAX && c->steps[i].at_tick > 0; i++) {
        const SeqStep *s = &c->steps[i];
        guint64 dt = (guint64)(SEQ_TICK_S * (s->at_tick - last_t));
        g_autoptr(Snapshot) snap =
            tm_snapshot(SEQ_TICK_S * s->at_tick, HOST_MIB, HOST_FREE_MIB);
        g_autoptr(Plan) plan = NULL;
        Report r = {0};
        guint64 new_kib = cur;
        Expect got;
        DomainSample *d;

        faults = s->restarted ? 0 : faults + s->faults_per_s * dt;
        swapin = s->restarted ? 0 : swapin + s->swapin_kib_s * dt;
        last_t = s->at_tick;
        r = (Report){.cur_mib = cur / TM_MIB,
                     .programs_mib = s->programs_mib,
                     .cache_mib =
                         i == 0 && c->no_first_cache ? 0 : c->cache_mib,
                     .major_fault = faults,
                     .swap_in_kib = swapin};
        d = add_guest(snap, &r);
        d->cur_kib = d->balloon.actual_kib = d->balloon.available_kib = cur;
        plan = mem_policy_decide(snap, &cfg, st);
        got = what_happened(plan, &new_kib);
        if (!as_expected(got, s->expect)) {
            g_test_message("%s, %s, at %.0f s: %s: %s", c->name,
                           mem_policy_name(p), SEQ_TICK_S * s->at_tick,
                           expect_name(got),
                           plan_len(plan) ? plan_get(plan, 0)->reason : "-");
            g_test_fail();
        }
        /* Growth for a squeeze is as gradual as a release. */
        if (got == EXPECT_GROW &&
            g_str_equal(tm_balloon(plan, 0)->rule, "grow-squeezed"))
            g_assert_cmpuint(new_kib - cur, <=, cfg.max_release_mib * TM_MIB);
        if (got != EXPECT_NONE)
            mem_policy_note_applied(st, tm_balloon(plan, 0), snap->mono_us,
                                    TRUE);
        cur = new_kib;
    }
    config_clear(&mem_config_schema, &cfg);
}

static void test_seq(gconstpointer data)
{
    guint p;

    for (p = 0; p < 2; p++)
        run_seq(data, (MemPolicyKind)p);
}

/* ---- the kernel reserve of a guest that always held cache -------------- */

/* Target set for a cache-full guest on its second tick, beside a guest
 * without cache whose maximum is peer_max_mib. */
static guint64 cache_guest_target(MemPolicyKind p, guint64 peer_max_mib)
{
    g_autoptr(MemPolicyState) st = mem_policy_state_new();
    guint64 target = 0;
    MemConfig cfg;
    guint tick;

    tm_config(&cfg, p);
    /* In one step, so the target shows the floor the guest is given. */
    cfg.max_release_mib = 2048;
    for (tick = 1; tick <= 2; tick++) {
        g_autoptr(Snapshot) snap = tm_snapshot(tick, HOST_MIB, HOST_FREE_MIB);
        g_autoptr(Plan) plan = NULL;
        Report cached = {
            .cur_mib = 512, .programs_mib = 100, .cache_mib = 2048};
        Report bare = {.cur_mib = 512, .programs_mib = 100};
        DomainSample *peer;
        const BalloonAction *a;

        add_guest(snap, &cached);
        peer = add_guest(snap, &bare);
        g_strlcpy(peer->uuid, "uuid-peer", sizeof(peer->uuid));
        g_free(peer->name);
        peer->name = g_strdup("peer");
        peer->max_kib = peer_max_mib * TM_MIB;
        plan = mem_policy_decide(snap, &cfg, st);
        a = tm_action_for(plan, "g");
        target = a ? a->new_kib : cached.cur_mib * TM_MIB;
    }
    config_clear(&mem_config_schema, &cfg);
    return target;
}

/* A guest of the same maximum showed its kernel's reserve: the cache-full
 * guest's reserve counts as free, as a cache-free guest's does, so it gives
 * that much more.  A peer of another size says nothing about it. */
static void test_reserve_from_peer(void)
{
    guint p;

    for (p = 0; p < 2; p++) {
        guint64 same = cache_guest_target((MemPolicyKind)p, 2048);
        guint64 other = cache_guest_target((MemPolicyKind)p, 4096);

        g_test_message("%s: target %.0f MiB beside a peer of its size, %.0f "
                       "beside another",
                       mem_policy_name((MemPolicyKind)p), (double)same / TM_MIB,
                       (double)other / TM_MIB);
        g_assert_cmpuint(same + 8 * TM_MIB, <=, other);
    }
}

int main(int argc, char **argv)
{
    guint i;

    g_test_init(&argc, &argv, NULL);
    for (i = 0; i < G_N_ELEMENTS(one_report_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/mem/cache/one/%s", one_report_cases[i].name);
        g_test_add_data_func(path, &one_report_cases[i], test_one_report);
    }
    for (i = 0; i < G_N_ELEMENTS(seq_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/mem/cache/seq/%s", seq_cases[i].name);
        g_test_add_data_func(path, &seq_cases[i], test_seq);
    }
    g_test_add_func("/mem/cache/reserve-from-peer", test_reserve_from_peer);
    return g_test_run();
}
