/* Pure pieces of common/: cpumaps, rate-limited complaints, plans,
 * balloon figures, the exit status table. */
#include <math.h>
#include <signal.h>
#include <unistd.h>
#include <string.h>

#include "cli.h"
#include "clocksync.h"
#include "complain.h"
#include "conn.h"
#include "cpuset.h"
#include "daemon.h"
#include "exit_codes.h"
#include "hostcaps.h"
#include "migrate_exec.h"
#include "tsc.h"
#include "xml_read.h"
#include "peer_entry.h"
#include "plan.h"
#include "quit_guard.h"
#include "snapshot.h"

typedef struct {
    guint npcpus;
    guint set[4];
    guint nset;
    guint count;
    gint single;
} CpumapCase;

static const CpumapCase cpumap_cases[] = {
    {2, {0}, 0, 0, -1},   {2, {1}, 1, 1, 1},       {2, {0, 1}, 2, 2, -1},
    {9, {8}, 1, 1, 8},    {16, {3, 15}, 2, 2, -1}, {1024, {1023}, 1, 1, 1023},
    {1024, {0}, 1, 1, 0}, {8, {7}, 1, 1, 7},
};

static void test_cpumap_table(void)
{
    guint i;
    guint j;

    for (i = 0; i < G_N_ELEMENTS(cpumap_cases); i++) {
        const CpumapCase *c = &cpumap_cases[i];
        gsize maplen = VIR_CPU_MAPLEN(c->npcpus);
        g_autofree guint8 *map = g_malloc0(maplen);

        for (j = 0; j < c->nset; j++)
            cpumap_set(map, maplen, c->set[j]);
        /* Out-of-range bits are ignored, not written past the map. */
        cpumap_set(map, maplen, (guint)maplen * 8 + 5);
        g_assert_cmpuint(cpumap_count(map, maplen, c->npcpus), ==, c->count);
        g_assert_cmpint(cpumap_single(map, maplen, c->npcpus), ==, c->single);
        g_assert_false(cpumap_has(map, maplen, (guint)maplen * 8));
        g_assert_false(cpumap_has(NULL, maplen, 0));
    }
}

static void test_snapshot_domains(void)
{
    g_autoptr(Snapshot) s = snapshot_new();
    DomainSample *d;

    s->node.npcpus = 12;
    d = snapshot_add_domain(s, "u-1", "one", 3);
    g_assert_cmpuint(d->nvcpus, ==, 3);
    g_assert_cmpint(d->vcpus[2].last_pcpu, ==, -1);
    g_assert_cmpuint(d->vcpus[2].number, ==, 2);
    cpumap_set(d->vcpus[2].cpumap, snapshot_maplen(s), 11);
    g_assert_true(cpumap_has(d->vcpus[2].cpumap, snapshot_maplen(s), 11));
    snapshot_add_domain(s, "u-2", NULL, 0);
    g_assert_true(snapshot_find(s, "u-1") == d);
    g_assert_cmpstr(snapshot_find(s, "u-2")->name, ==, "u-2");
    g_assert_null(snapshot_find(s, "u-3"));
}

/* One line when a condition starts, repeats only after growing pauses,
 * one "recovered" when it ends. */
static void test_complaint_rate(void)
{
    Complaint c = {0};
    gint64 t = 1000;
    guint logged = 0;
    guint i;

    for (i = 0; i < 600; i++, t += G_USEC_PER_SEC)
        logged += complaint_should_log(&c, t);
    /* 600 s of one complaint a second: the first, then pauses of 10, 20,
     * 40, ... s: the first and 5 repeats (at 10, 30, 70, 150 and 310 s;
     * the next would be at 630 s). */
    g_assert_cmpuint(logged, ==, 6);
    g_assert_true(complaint_release(&c));
    g_assert_false(complaint_release(&c));
    g_assert_true(complaint_should_log(&c, t));
}

/* An action of a daemon of the test's own, with a field that owns
 * memory, as a daemon defines one. */
typedef struct {
    Action base;
    char *note;
} NoteAction;

static char *note_describe(const Action *a)
{
    return g_strdup_printf("note %s: %s", a->name,
                           ((const NoteAction *)a)->note);
}

static void note_clear(Action *a)
{
    g_free(((NoteAction *)a)->note);
}

static const ActionType note_action = {
    .name = "note",
    .size = sizeof(NoteAction),
    .describe = note_describe,
    .clear = note_clear,
};

static void test_plan(void)
{
    g_autoptr(Plan) p = plan_new();
    NoteAction *a = (NoteAction *)plan_add(p, &note_action, "u", "vm");
    g_autofree char *what = NULL;

    a->note = g_strdup("kept");
    action_set_reason(&a->base, "unused %d MiB", 42);
    action_set_reason(&a->base, "unused %d MiB", 43);
    g_assert_cmpstr(a->base.reason, ==, "unused 43 MiB");
    g_assert_true(a->base.type == &note_action);
    g_assert_cmpstr(a->base.uuid, ==, "u");
    g_assert_cmpuint(plan_len(p), ==, 1);
    g_assert_true(plan_get(p, 0) == &a->base);
    what = action_describe(plan_get(p, 0));
    g_assert_cmpstr(what, ==, "note vm: kept");
    plan_add(p, &note_action, "w", "other");
    plan_remove(p, 0);
    g_assert_cmpuint(plan_len(p), ==, 1);
    g_assert_cmpstr(plan_get(p, 0)->name, ==, "other");
}

static void test_plan_shortfall(void)
{
    static const struct {
        PlanShortage what;
        double amount;
        PlanShortage expect;
        double expect_amount;
    } cases[] = {
        {PLAN_SHORT_MEMORY, 4096, PLAN_SHORT_MEMORY, 4096},
        {PLAN_SHORT_CPU, 12.5, PLAN_SHORT_CPU, 12.5},
        {PLAN_SHORT_MEMORY, 0, PLAN_SHORT_NONE, 0},
        {PLAN_SHORT_CPU, -3, PLAN_SHORT_NONE, 0},
        {PLAN_SHORT_CPU, NAN, PLAN_SHORT_NONE, 0},
        {PLAN_SHORT_NONE, 7, PLAN_SHORT_NONE, 0},
    };
    guint i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(Plan) p = plan_new();

        plan_set_shortfall(p, PLAN_SHORT_CPU, 99);
        plan_set_shortfall(p, cases[i].what, cases[i].amount);
        g_assert_cmpint(p->short_of, ==, cases[i].expect);
        g_assert_cmpfloat(p->shortfall, ==, cases[i].expect_amount);
    }
}

/* One parser for both ways libvirt reports balloon figures. */
static void test_balloon_figures(void)
{
    const virDomainMemoryStatStruct stats[] = {
        {VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON, 524288},
        {VIR_DOMAIN_MEMORY_STAT_UNUSED, 102400},
        {VIR_DOMAIN_MEMORY_STAT_AVAILABLE, 500000},
        {VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE, 1700000000},
        {VIR_DOMAIN_MEMORY_STAT_RSS, 300000},
        {VIR_DOMAIN_MEMORY_STAT_SWAP_IN, 0},
    };
    BalloonStats a = {0};
    BalloonStats b = {0};

    balloon_stats_from_memory_stats(&a, stats, G_N_ELEMENTS(stats));
    g_assert_cmpuint(a.actual_kib, ==, 524288);
    g_assert_cmpuint(a.unused_kib, ==, 102400);
    g_assert_cmpuint(a.available_kib, ==, 500000);
    g_assert_cmpint(a.last_update, ==, 1700000000);
    g_assert_cmpuint(a.rss_kib, ==, 300000);
    g_assert_cmpuint(a.present, ==,
                     BALLOON_HAS_ACTUAL | BALLOON_HAS_UNUSED |
                         BALLOON_HAS_AVAILABLE | BALLOON_HAS_LAST_UPDATE |
                         BALLOON_HAS_RSS | BALLOON_HAS_SWAP_IN);

    g_assert_true(balloon_stats_take_param(&b, "balloon.current", 524288));
    g_assert_true(balloon_stats_take_param(&b, "balloon.unused", 102400));
    g_assert_true(balloon_stats_take_param(&b, "balloon.available", 500000));
    g_assert_true(
        balloon_stats_take_param(&b, "balloon.last-update", 1700000000));
    g_assert_true(balloon_stats_take_param(&b, "balloon.rss", 300000));
    g_assert_true(balloon_stats_take_param(&b, "balloon.swap_in", 0));
    g_assert_false(balloon_stats_take_param(&b, "balloon.maximum", 1));
    g_assert_false(balloon_stats_take_param(&b, "vcpu.0.time", 1));
    g_assert_cmpmem(&a, sizeof(a), &b, sizeof(b));
}

/* Every program's --help lists the one table, code by code. */
static void test_exit_codes(void)
{
    g_autofree char *help = exit_codes_help();
    guint i;

    g_assert_cmpuint(exit_codes_count, ==, 5);
    for (i = 0; i < exit_codes_count; i++) {
        g_autofree char *item = g_strdup_printf(" %d %s", exit_codes[i].code,
                                                exit_codes[i].meaning);

        g_assert_cmpint(exit_codes[i].code, ==, (int)i);
        g_assert_nonnull(strstr(help, item));
    }
    g_assert_nonnull(strstr(help, "aos-exit-status(7)"));
}

/* Every error domain is named as GLib names them, after its module. */
static void test_error_domains(void)
{
    static const struct {
        GQuark (*quark)(void);
        const char *name;
    } domains[] = {
        {config_error_quark, "aos-config-error-quark"},
        {cli_error_quark, "aos-cli-error-quark"},
        {conn_error_quark, "aos-conn-error-quark"},
        {daemon_error_quark, "aos-daemon-error-quark"},
        {migrate_error_quark, "aos-migrate-error-quark"},
        {clocksync_error_quark, "aos-clocksync-error-quark"},
        {hostcaps_error_quark, "aos-hostcaps-error-quark"},
        {tsc_error_quark, "aos-tsc-error-quark"},
        {cpuset_error_quark, "aos-cpuset-error-quark"},
        {xml_read_error_quark, "aos-xml-read-error-quark"},
        {topology_error_quark, "aos-topology-error-quark"},
    };
    guint i;

    for (i = 0; i < G_N_ELEMENTS(domains); i++)
        g_assert_cmpstr(g_quark_to_string(domains[i].quark()), ==,
                        domains[i].name);
}

/* A polled guard records SIGTERM and leaves the process running, so
 * that migrate_request can abort its migration before it exits. */
static void test_quit_guard_polled(void)
{
    g_autoptr(QuitGuard) g = quit_guard_new_polled();
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    g_assert_false(quit_guard_requested(g));
    g_assert_cmpint(kill(getpid(), SIGTERM), ==, 0);
    while (!quit_guard_requested(g) && g_get_monotonic_time() < deadline)
        g_usleep(10 * 1000);
    g_assert_true(quit_guard_requested(g));
}

/* [migration] peers entries: where the URI ends and the UUID begins. */
static void test_peer_entries(void)
{
    static const struct {
        const char *entry;
        const char *uri;   /* NULL: refused */
        const char *uuid;  /* NULL: none named */
        const char *why;   /* in the refusal */
        gboolean in_clear; /* reached over plain TCP */
    } rows[] = {
        {"qemu+tcp://b/system", "qemu+tcp://b/system", NULL, NULL, TRUE},
        {"qemu+tcp://b/system=4C4C4544-0042-4A10-8051-B2C04F4E3232",
         "qemu+tcp://b/system", "4c4c4544-0042-4a10-8051-b2c04f4e3232", NULL,
         TRUE},
        {"QEMU+TCP://b/system", "QEMU+TCP://b/system", NULL, NULL, TRUE},
        {"qemu://b/system", "qemu://b/system", NULL, NULL, FALSE},
        {"qemu+tls://b:16514/system?pkipath=/p",
         "qemu+tls://b:16514/system?pkipath=/p", NULL, NULL, FALSE},
        {"qemu+tcpx://b/system", "qemu+tcpx://b/system", NULL, NULL, FALSE},
        /* a query's own '=' is the URI's, not a UUID */
        {"qemu+ssh://b/system?keyfile=/root/k",
         "qemu+ssh://b/system?keyfile="
         "/root/k",
         NULL, NULL},
        {"qemu+ssh://b/system?keyfile=/k=4c4c4544-0042-4a10-8051-b2c04f4e3232",
         "qemu+ssh://b/system?keyfile=/k",
         "4c4c4544-0042-4a10-8051-b2c04f4e3232", NULL},
        /* not a UUID: all of it is the URI */
        {"qemu+tcp://b/system=4c4c4544", "qemu+tcp://b/system=4c4c4544", NULL,
         NULL, TRUE},
        {" test:///default ", "test:///default", NULL, NULL},
        {"qemu+tls://b/system?no_verify=1", NULL, NULL, "no_verify"},
        {"qemu+tls://b/system?pkipath=/p&NO_VERIFY=0", NULL, NULL, "no_verify"},
        {"=4c4c4544-0042-4a10-8051-b2c04f4e3232", NULL, NULL, "no URI"},
        {"qemu+tcp://b:port/system", NULL, NULL, "not a URI"},
    };
    guint i;

    for (i = 0; i < G_N_ELEMENTS(rows); i++) {
        g_autofree char *uri = NULL;
        g_autofree char *uuid = NULL;
        g_autofree char *why = peer_entry_parse(rows[i].entry, &uri, &uuid);

        g_test_message("%s -> %s / %s / %s", rows[i].entry, uri, uuid, why);
        g_assert_cmpstr(uri, ==, rows[i].uri);
        g_assert_cmpstr(uuid, ==, rows[i].uuid);
        if (rows[i].why)
            g_assert_nonnull(why && strstr(why, rows[i].why));
        else
            g_assert_null(why);
        if (uri)
            g_assert_cmpint(peer_uri_in_clear(uri), ==, rows[i].in_clear);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/common/quit-guard-polled", test_quit_guard_polled);
    g_test_add_func("/common/peer-entries", test_peer_entries);
    g_test_add_func("/common/cpumap", test_cpumap_table);
    g_test_add_func("/common/snapshot", test_snapshot_domains);
    g_test_add_func("/common/complaint", test_complaint_rate);
    g_test_add_func("/common/plan", test_plan);
    g_test_add_func("/common/plan-shortfall", test_plan_shortfall);
    g_test_add_func("/common/balloon-figures", test_balloon_figures);
    g_test_add_func("/common/exit-codes", test_exit_codes);
    g_test_add_func("/common/error-domains", test_error_domains);
    return g_test_run();
}
