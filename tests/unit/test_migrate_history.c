/* A guest's migration history in its domain metadata: reading it, writing
 * it back, and the wait it imposes (migration/migrate_history.h). */
#include <string.h>

#include "migrate.h"
#include "migrate_history.h"

#define A "11111111-1111-4111-8111-111111111111"
#define B "22222222-2222-4222-8222-222222222222"
#define C "33333333-3333-4333-8333-333333333333"
#define NOW 1796000000 /* 2026-11-30 */

typedef struct {
    gint64 ago_s;
    const char *from, *to;
    MigrateHopResult result;
    double job_s;
} HopSpec;

typedef struct {
    const char *name;
    HopSpec hops[12];
    guint base_s;
    const char *to; /* the peer asked about, NULL: any */
    gint64 wait_s;
    const char *why; /* words the reason holds, NULL when none */
} WaitCase;

#define DONE MIGRATE_HOP_DONE
#define FAILED MIGRATE_HOP_FAILED
#define STARTED MIGRATE_HOP_STARTED

static const WaitCase wait_cases[] = {
    {"never migrated", {{0}}, 300, B, 0, NULL},
    {"just arrived: waits out the base",
     {{100, B, A, DONE, 12}},
     300,
     C,
     200,
     "migrated 1 time in the last 24 h"},
    {"a long job sets the wait",
     {{500, B, A, DONE, 1000}},
     300,
     C,
     500,
     "waits 1000 s"},
    {"wait over, another peer", {{400, B, A, DONE, 12}}, 300, C, 0, NULL},
    {"wait over, but not back where it came from",
     {{400, B, A, DONE, 12}},
     300,
     B,
     200,
     "is not sent back there"},
    {"not back, even long after... until twice the wait",
     {{601, B, A, DONE, 12}},
     300,
     B,
     0,
     NULL},
    {"two hops in a day double the wait",
     {{5000, A, B, DONE, 10}, {500, B, A, DONE, 10}},
     300,
     C,
     100,
     "migrated 2 times"},
    {"three hops: four times",
     {{9000, A, B, DONE, 10}, {5000, B, A, DONE, 10}, {1000, A, B, DONE, 10}},
     300,
     C,
     200,
     "migrated 3 times"},
    {"a job whose end was not recorded counts",
     {{100, B, A, STARTED, 0}},
     300,
     C,
     200,
     "migrated 1 time"},
    {"a failed job does not", {{100, A, B, FAILED, 3}}, 300, C, 0, NULL},
    {"older than a day does not", {{90000, B, A, DONE, 10}}, 300, B, 0, NULL},
    {"capped at a day",
     {{3600, A, B, DONE, 10},
      {3500, B, A, DONE, 10},
      {3400, A, B, DONE, 10},
      {3300, B, A, DONE, 10},
      {3200, A, B, DONE, 10},
      {3100, B, A, DONE, 10},
      {3000, A, B, DONE, 10},
      {2900, B, A, DONE, 10},
      {2800, A, B, DONE, 10},
      {2700, B, A, DONE, 10}},
     300,
     C,
     86400 - 2700,
     "migrated 10 times"},
    {"the newest hop counts, whatever the order",
     {{100, B, A, DONE, 10}, {5000, A, B, DONE, 10}},
     300,
     C,
     500,
     "the last 100 s ago"},
};

static GArray *hops_of(const HopSpec *spec)
{
    GArray *hops = g_array_new(FALSE, TRUE, sizeof(MigrateHop));
    guint i;

    for (i = 0; i < 12 && spec[i].from; i++) {
        MigrateHop h = {.time_s = NOW - spec[i].ago_s,
                        .result = spec[i].result,
                        .job_s = spec[i].job_s};

        g_strlcpy(h.from, spec[i].from, sizeof(h.from));
        g_strlcpy(h.to, spec[i].to, sizeof(h.to));
        g_array_append_val(hops, h);
    }
    return hops;
}

static void test_wait_case(gconstpointer data)
{
    const WaitCase *c = data;
    g_autoptr(GArray) hops = hops_of(c->hops);
    g_autofree char *why = NULL;
    gint64 wait = migrate_history_wait_s(hops, NOW, c->base_s, c->to, &why);

    g_test_message("wait %" G_GINT64_FORMAT " s: %s", wait, why ? why : "-");
    g_assert_cmpint(wait, ==, c->wait_s);
    if (c->why) {
        g_assert_nonnull(why);
        g_assert_nonnull(strstr(why, c->why));
    } else {
        g_assert_null(why);
    }
}

/* What libvirt's virDomainGetXMLDesc shows after virDomainSetMetadata. */
static char *domain_with(const char *element)
{
    return g_strdup_printf(
        "<domain type='kvm'><name>g</name><metadata>"
        "<aos:guest xmlns:aos='urn:x-aos:guest:1' vcpu_scheduler='off'/>%s"
        "</metadata></domain>",
        element);
}

/* Written, read back through a domain's XML, unchanged.  libvirt puts
 * the element in its namespace; a default namespace on it is the same. */
static void test_round_trip(void)
{
    static const HopSpec spec[] = {{5000, A, B, DONE, 12.5},
                                   {100, B, A, STARTED, 0},
                                   {50, A, C, FAILED, 3},
                                   {0}};
    g_autoptr(GArray) hops = hops_of(spec);
    g_autofree char *element = migrate_history_element(hops);
    g_autofree char *in_ns = NULL;
    g_autofree char *xml = NULL;
    g_autoptr(GArray) back = NULL;
    g_autoptr(GError) err = NULL;
    guint i;

    g_assert_true(g_str_has_prefix(element, "<migrations>"));
    in_ns = g_strdup_printf("<migrations xmlns='" MIGRATE_HISTORY_NS "'>%s",
                            element + strlen("<migrations>"));
    xml = domain_with(in_ns);
    back = migrate_history_from_domain_xml(xml, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(back->len, ==, hops->len);
    for (i = 0; i < hops->len; i++) {
        const MigrateHop *a = &g_array_index(hops, MigrateHop, i);
        const MigrateHop *b = &g_array_index(back, MigrateHop, i);

        g_assert_cmpint(a->time_s, ==, b->time_s);
        g_assert_cmpstr(a->from, ==, b->from);
        g_assert_cmpstr(a->to, ==, b->to);
        g_assert_cmpint(a->result, ==, b->result);
        g_assert_cmpfloat_with_epsilon(a->job_s, b->job_s, 0.05);
    }
}

typedef struct {
    const char *name;
    const char *metadata; /* inside <metadata> */
    gint hops;            /* -1: refused */
} ReadCase;

static const ReadCase read_cases[] = {
    {"none", "", 0},
    {"another namespace's migrations",
     "<x:migrations xmlns:x='urn:other'><x:migration "
     "time='2026-12-01T00:00:00Z'"
     " from='" A "' to='" B "'/></x:migrations>",
     0},
    {"one hop",
     "<m:migrations xmlns:m='" MIGRATE_HISTORY_NS "'><m:migration "
     "time='2026-12-01T00:00:00Z' from='" A "' to='" B "' result='done' "
     "job_s='4.0'/></m:migrations>",
     1},
    {"unknown result reads as started",
     "<m:migrations xmlns:m='" MIGRATE_HISTORY_NS "'><m:migration "
     "time='2026-12-01T00:00:00Z' from='" A "' to='" B "' result='maybe'/>"
     "</m:migrations>",
     1},
    {"no time: refused",
     "<m:migrations xmlns:m='" MIGRATE_HISTORY_NS "'><m:migration from='" A
     "' to='" B "'/></m:migrations>",
     -1},
    {"a bad UUID: refused",
     "<m:migrations xmlns:m='" MIGRATE_HISTORY_NS "'><m:migration "
     "time='2026-12-01T00:00:00Z' from='here' to='" B "'/></m:migrations>",
     -1},
    {"a time that is not ISO 8601: refused",
     "<m:migrations xmlns:m='" MIGRATE_HISTORY_NS "'><m:migration "
     "time='yesterday' from='" A "' to='" B "'/></m:migrations>",
     -1},
};

static void test_read_case(gconstpointer data)
{
    const ReadCase *c = data;
    g_autofree char *xml = domain_with(c->metadata);
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) hops = migrate_history_from_domain_xml(xml, &err);

    if (c->hops < 0) {
        g_assert_null(hops);
        g_assert_nonnull(err);
        g_test_message("%s", err->message);
        return;
    }
    g_assert_no_error(err);
    g_assert_cmpuint(hops->len, ==, (guint)c->hops);
}

/* The element keeps the newest hops only. */
static void test_keeps_newest(void)
{
    g_autoptr(GArray) hops = g_array_new(FALSE, TRUE, sizeof(MigrateHop));
    g_autofree char *element = NULL;
    guint n = 0;
    const char *p;
    guint i;

    for (i = 0; i < MIGRATE_HISTORY_KEEP + 5; i++) {
        MigrateHop h = {.time_s = NOW - 1000 + i, .result = DONE};

        g_strlcpy(h.from, A, sizeof(h.from));
        g_strlcpy(h.to, B, sizeof(h.to));
        g_array_append_val(hops, h);
    }
    element = migrate_history_element(hops);
    for (p = element; (p = strstr(p, "<migration ")); p++)
        n++;
    g_assert_cmpuint(n, ==, MIGRATE_HISTORY_KEEP);
    /* The oldest dropped: the first kept is hop 5 (NOW - 995 s). */
    {
        g_autoptr(GDateTime) t0 = g_date_time_new_from_unix_utc(NOW - 1000);
        g_autoptr(GDateTime) t5 = g_date_time_new_from_unix_utc(NOW - 995);
        g_autofree char *s0 = g_date_time_format(t0, "%H:%M:%SZ");
        g_autofree char *s5 = g_date_time_format(t5, "%H:%M:%SZ");

        g_assert_null(strstr(element, s0));
        g_assert_nonnull(strstr(element, s5));
    }
}

/* The rule as the decision applies it: the guest skipped while it waits,
 * and the peer it came from refused afterwards. */
static void test_guest_allows(void)
{
    static const HopSpec spec[] = {{100, B, A, DONE, 12}, {0}};
    MigrationConfig cfg = {.cooldown_s = 300};
    MigrateGuest g = {.name = "g", .history_now_s = NOW};

    g.history = hops_of(spec);
    g_assert_false(migrate_guest_history_allows(&g, &cfg));
    g_assert_nonnull(strstr(g.skip, "200 s more"));
    g_clear_pointer(&g.skip, g_free);
    g.history_now_s = NOW + 300;
    g_assert_true(migrate_guest_history_allows(&g, &cfg));
    g_assert_null(g.skip);
    g_array_unref(g.history);
}

int main(int argc, char **argv)
{
    guint i;

    g_test_init(&argc, &argv, NULL);
    for (i = 0; i < G_N_ELEMENTS(wait_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/migrate-history/wait/%s", wait_cases[i].name);

        g_test_add_data_func(path, &wait_cases[i], test_wait_case);
    }
    for (i = 0; i < G_N_ELEMENTS(read_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/migrate-history/read/%s", read_cases[i].name);

        g_test_add_data_func(path, &read_cases[i], test_read_case);
    }
    g_test_add_func("/migrate-history/round-trip", test_round_trip);
    g_test_add_func("/migrate-history/keeps-newest", test_keeps_newest);
    g_test_add_func("/migrate-history/guest-allows", test_guest_allows);
    return g_test_run();
}
