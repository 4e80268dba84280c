/* Capabilities and domain XML readers on fixture files, the TSC rule on
 * those facts, and pinning the frequency into a destination XML. */
#include <string.h>

#include <glib.h>

#include "hostcaps.h"
#include "tsc.h"
#include "xml_autoptr.h"
#include "test_fixture.h"

#define OK -1 /* expected error code meaning "no error" */

/* The tree's root: G_TEST_SRCDIR if set, else two levels above this
 * program (build/tests/test_hostcaps). */
static gboolean caps_from_fixture(const char *name, HostFacts *f,
                                  GError **error)
{
    g_autofree char *xml = read_fixture("caps", name);

    return hostcaps_parse(xml, f, error);
}

static gboolean clock_from_fixture(const char *name, GuestClock *gc,
                                   GError **error)
{
    g_autofree char *xml = read_fixture("domains", name);

    return hostcaps_parse_domain_clock(xml, gc, error);
}

/* ---- capabilities ------------------------------------------------------- */

static void test_caps_fixtures(void)
{
    static const struct {
        const char *file;
        int code;
        gboolean tsc_known;
        guint64 tsc_hz;
        gboolean scaling;
        const char *uuid;
        guint ncpus;
        const char *error_part;
    } cases[] = {
        {"host-2596120000-noscale.xml", OK, TRUE, 2596120000, FALSE,
         "6b1c1e8a-3f0d-4d5e-9a7c-2e41f0b3c901", 2, NULL},
        {"peer-2596700000-noscale.xml", OK, TRUE, 2596700000, FALSE,
         "0f4e2c77-91aa-4b6e-8d2f-5c3a1e9b7d40", 2, NULL},
        {"peer-2597000000-noscale.xml", OK, TRUE, 2597000000, FALSE,
         "a3d95b10-6c2e-4f81-b7e4-08c1f2d6e953", 2, NULL},
        {"peer-2100000000-scale.xml", OK, TRUE, 2100000000, TRUE,
         "d2b7e5f0-1a4c-4c39-8e6b-7f90a2c4e118", 8, NULL},
        /* counter without frequency, no NUMA cells: CPU topology 2*4*2 */
        {"counter-no-frequency.xml", OK, FALSE, 0, FALSE,
         "5e8f0c2a-7b3d-4e19-a6c4-91d2f3b0e7a5", 16, NULL},
        /* libvirt's test:///default: no counter, no uuid, 2 cells of 8 */
        {"test-driver.xml", OK, FALSE, 0, FALSE, "", 16, NULL},
        {"malformed.xml", HOSTCAPS_ERROR_PARSE, FALSE, 0, FALSE, NULL, 0,
         "malformed"},
        {"bad-frequency.xml", HOSTCAPS_ERROR_INVALID, FALSE, 0, FALSE, NULL, 0,
         "'2.6GHz'"},
        {"bad-scaling.xml", HOSTCAPS_ERROR_INVALID, FALSE, 0, FALSE, NULL, 0,
         "'maybe'"},
        {"not-capabilities.xml", HOSTCAPS_ERROR_INVALID, FALSE, 0, FALSE, NULL,
         0, "root <domain>"},
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        HostFacts f = {.ncpus = 999, .tsc_hz = 999};
        gboolean ok;

        g_test_message("fixture %s", cases[i].file);
        ok = caps_from_fixture(cases[i].file, &f, &err);
        if (cases[i].code != OK) {
            g_assert_false(ok);
            g_assert_error(err, HOSTCAPS_ERROR, cases[i].code);
            g_test_message("error: %s", err->message);
            g_assert_nonnull(strstr(err->message, cases[i].error_part));
            g_assert_cmpuint(f.ncpus, ==, 999);
            continue;
        }
        g_assert_no_error(err);
        g_assert_true(ok);
        g_assert_cmpint(f.tsc_known, ==, cases[i].tsc_known);
        g_assert_cmpuint(f.tsc_hz, ==, cases[i].tsc_hz);
        g_assert_cmpint(f.tsc_scaling, ==, cases[i].scaling);
        g_assert_cmpstr(f.host_uuid, ==, cases[i].uuid);
        g_assert_cmpuint(f.ncpus, ==, cases[i].ncpus);
    }
}

/* Variations too small to deserve a fixture file each. */
static void test_caps_inline(void)
{
    static const struct {
        const char *name;
        const char *xml;
        int code;
        gboolean tsc_known;
        guint64 tsc_hz;
        gboolean scaling;
        guint ncpus;
    } cases[] = {
        {"zero frequency is unknown",
         "<capabilities><host><cpu><counter name='tsc' frequency='0' "
         "scaling='yes'/></cpu></host></capabilities>",
         OK, FALSE, 0, TRUE, 0},
        {"scaling absent means no",
         "<capabilities><host><cpu><counter name='tsc' frequency='1000'/>"
         "</cpu></host></capabilities>",
         OK, TRUE, 1000, FALSE, 0},
        {"another counter is not the TSC",
         "<capabilities><host><cpu><counter name='hpet' "
         "frequency='14318180'/></cpu></host></capabilities>",
         OK, FALSE, 0, FALSE, 0},
        {"counter outside host/cpu is ignored",
         "<capabilities><guest><cpu><counter name='tsc' frequency='1000'/>"
         "</cpu></guest><host/></capabilities>",
         OK, FALSE, 0, FALSE, 0},
        {"largest frequency",
         "<capabilities><host><cpu><counter name='tsc' "
         "frequency='18446744073709551615'/></cpu></host></capabilities>",
         OK, TRUE, G_MAXUINT64, FALSE, 0},
        {"frequency beyond 64 bits",
         "<capabilities><host><cpu><counter name='tsc' "
         "frequency='18446744073709551616'/></cpu></host></capabilities>",
         HOSTCAPS_ERROR_INVALID, FALSE, 0, FALSE, 0},
        {"negative frequency",
         "<capabilities><host><cpu><counter name='tsc' frequency='-1'/>"
         "</cpu></host></capabilities>",
         HOSTCAPS_ERROR_INVALID, FALSE, 0, FALSE, 0},
        {"hex frequency is not what libvirt writes",
         "<capabilities><host><cpu><counter name='tsc' frequency='0x10'/>"
         "</cpu></host></capabilities>",
         HOSTCAPS_ERROR_INVALID, FALSE, 0, FALSE, 0},
        {"topology without dies",
         "<capabilities><host><cpu><topology sockets='2' cores='3' "
         "threads='2'/></cpu></host></capabilities>",
         OK, FALSE, 0, FALSE, 12},
        {"incomplete topology is unknown",
         "<capabilities><host><cpu><topology sockets='2'/></cpu></host>"
         "</capabilities>",
         OK, FALSE, 0, FALSE, 0},
        {"cells win over topology",
         "<capabilities><host><cpu><topology sockets='1' cores='64' "
         "threads='2'/></cpu><topology><cells num='1'><cell id='0'>"
         "<cpus num='3'/></cell></cells></topology></host></capabilities>",
         OK, FALSE, 0, FALSE, 3},
        {"cell cpus without num",
         "<capabilities><host><topology><cells num='1'><cell id='0'><cpus/>"
         "</cell></cells></topology></host></capabilities>",
         HOSTCAPS_ERROR_INVALID, FALSE, 0, FALSE, 0},
        {"cell cpus overflow",
         "<capabilities><host><topology><cells num='2'>"
         "<cell id='0'><cpus num='4294967295'/></cell>"
         "<cell id='1'><cpus num='1'/></cell></cells></topology></host>"
         "</capabilities>",
         HOSTCAPS_ERROR_INVALID, FALSE, 0, FALSE, 0},
        {"bad uuid",
         "<capabilities><host><uuid>not-a-uuid</uuid></host></capabilities>",
         HOSTCAPS_ERROR_INVALID, FALSE, 0, FALSE, 0},
        {"empty text", "", HOSTCAPS_ERROR_PARSE, FALSE, 0, FALSE, 0},
        {"no XML", NULL, HOSTCAPS_ERROR_PARSE, FALSE, 0, FALSE, 0},
        /* left unexpanded, so the uuid is empty rather than fetched */
        {"external entity is not fetched",
         "<!DOCTYPE capabilities [<!ENTITY x SYSTEM 'http://127.0.0.1:1/x'>]>"
         "<capabilities><host><uuid>&x;</uuid></host></capabilities>",
         HOSTCAPS_ERROR_INVALID, FALSE, 0, FALSE, 0},
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        HostFacts f = {0};
        gboolean ok;

        g_test_message("case %s", cases[i].name);
        ok = hostcaps_parse(cases[i].xml, &f, &err);
        if (cases[i].code != OK) {
            g_assert_false(ok);
            g_assert_error(err, HOSTCAPS_ERROR, cases[i].code);
            continue;
        }
        g_assert_no_error(err);
        g_assert_true(ok);
        g_assert_cmpint(f.tsc_known, ==, cases[i].tsc_known);
        g_assert_cmpuint(f.tsc_hz, ==, cases[i].tsc_hz);
        g_assert_cmpint(f.tsc_scaling, ==, cases[i].scaling);
        g_assert_cmpuint(f.ncpus, ==, cases[i].ncpus);
    }
}

/* ---- domains ------------------------------------------------------------ */

static void test_domain_fixtures(void)
{
    static const struct {
        const char *file;
        int code;
        gboolean has_timer;
        gboolean has_freq;
        guint64 hz;
        const char *mode;
        gboolean invtsc;
        const char *error_part;
    } cases[] = {
        {"plain.xml", OK, FALSE, FALSE, 0, NULL, FALSE, NULL},
        {"tsc-plus150ppm.xml", OK, TRUE, TRUE, 2596509418, "native", FALSE,
         NULL},
        {"tsc-2599000000.xml", OK, TRUE, TRUE, 2599000000, NULL, FALSE, NULL},
        {"tsc-100mhz.xml", OK, TRUE, TRUE, 100000000, NULL, FALSE, NULL},
        {"tsc-timer-no-frequency.xml", OK, TRUE, FALSE, 0, "emulate", FALSE,
         NULL},
        {"invtsc.xml", OK, FALSE, FALSE, 0, NULL, TRUE, NULL},
        /* a feature without policy defaults to require */
        {"invtsc-no-clock.xml", OK, FALSE, FALSE, 0, NULL, TRUE, NULL},
        {"invtsc-pinned.xml", OK, TRUE, TRUE, 2596120000, "auto", TRUE, NULL},
        {"invtsc-optional.xml", OK, FALSE, FALSE, 0, NULL, FALSE, NULL},
        {"bad-frequency.xml", HOSTCAPS_ERROR_INVALID, FALSE, FALSE, 0, NULL,
         FALSE, "'-2596120000'"},
        {"malformed.xml", HOSTCAPS_ERROR_PARSE, FALSE, FALSE, 0, NULL, FALSE,
         "malformed"},
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        g_auto(GuestClock) gc = {0};
        gboolean ok;

        g_test_message("fixture %s", cases[i].file);
        ok = clock_from_fixture(cases[i].file, &gc, &err);
        if (cases[i].code != OK) {
            g_assert_false(ok);
            g_assert_error(err, HOSTCAPS_ERROR, cases[i].code);
            g_test_message("error: %s", err->message);
            g_assert_nonnull(strstr(err->message, cases[i].error_part));
            g_assert_null(gc.tsc_mode);
            continue;
        }
        g_assert_no_error(err);
        g_assert_true(ok);
        g_assert_cmpint(gc.has_tsc_timer, ==, cases[i].has_timer);
        g_assert_cmpint(gc.has_tsc_freq, ==, cases[i].has_freq);
        g_assert_cmpuint(gc.tsc_hz, ==, cases[i].hz);
        g_assert_cmpstr(gc.tsc_mode, ==, cases[i].mode);
        g_assert_cmpint(gc.invtsc, ==, cases[i].invtsc);
    }
}

static void test_domain_inline(void)
{
    static const struct {
        const char *name;
        const char *xml;
        int code;
        gboolean invtsc;
        guint64 hz;
    } cases[] = {
        {"invtsc disabled",
         "<domain><cpu><feature policy='disable' name='invtsc'/></cpu>"
         "</domain>",
         OK, FALSE, 0},
        {"invtsc forbidden",
         "<domain><cpu><feature policy='forbid' name='invtsc'/></cpu>"
         "</domain>",
         OK, FALSE, 0},
        {"invtsc forced",
         "<domain><cpu><feature policy='force' name='invtsc'/></cpu>"
         "</domain>",
         OK, TRUE, 0},
        {"another feature",
         "<domain><cpu><feature policy='require' name='tsc-deadline'/></cpu>"
         "</domain>",
         OK, FALSE, 0},
        {"zero frequency is not fixed",
         "<domain><clock offset='utc'><timer name='tsc' frequency='0'/>"
         "</clock></domain>",
         OK, FALSE, 0},
        {"timer of another name",
         "<domain><clock offset='utc'><timer name='kvmclock' present='yes'/>"
         "</clock></domain>",
         OK, FALSE, 0},
        {"frequency with unit",
         "<domain><clock><timer name='tsc' "
         "frequency='2.6GHz'/></clock></domain>",
         HOSTCAPS_ERROR_INVALID, FALSE, 0},
        {"capabilities are not a domain",
         "<capabilities><host/></capabilities>", HOSTCAPS_ERROR_INVALID, FALSE,
         0},
        {"no XML", NULL, HOSTCAPS_ERROR_PARSE, FALSE, 0},
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        g_auto(GuestClock) gc = {0};
        gboolean ok;

        g_test_message("case %s", cases[i].name);
        ok = hostcaps_parse_domain_clock(cases[i].xml, &gc, &err);
        if (cases[i].code != OK) {
            g_assert_false(ok);
            g_assert_error(err, HOSTCAPS_ERROR, cases[i].code);
            continue;
        }
        g_assert_no_error(err);
        g_assert_true(ok);
        g_assert_cmpint(gc.invtsc, ==, cases[i].invtsc);
        g_assert_cmpuint(gc.tsc_hz, ==, cases[i].hz);
        g_assert_cmpint(gc.has_tsc_freq, ==, cases[i].hz != 0);
    }
}

/* ---- the TSC rule on fixtures ------------------------------------------- */

/* Source host, guest and peer all come from fixture files; the tolerance
 * is the default 250 ppm. */
typedef struct {
    const char *name;
    const char *source;
    const char *domain;
    const char *peer;
    gboolean allow_unknown;
    TscVerdict verdict;
    gboolean needs_pin;
    const char *reason;   /* exact text, when given */
    const char *parts[4]; /* substrings of the reason */
} FixtureCompatCase;

#define HOST "host-2596120000-noscale.xml"
#define PEER_NEAR "peer-2596700000-noscale.xml"
#define PEER_FAR "peer-2597000000-noscale.xml"
#define PEER_SCALE "peer-2100000000-scale.xml"
#define TEST_DRIVER "test-driver.xml"

static const FixtureCompatCase fixture_compat_cases[] = {
    {.name = "same kind of host",
     .source = HOST,
     .domain = "plain.xml",
     .peer = HOST,
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .parts = {"0.0 ppm"}},
    {.name = "peer +223 ppm",
     .source = HOST,
     .domain = "plain.xml",
     .peer = PEER_NEAR,
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .reason = "guest TSC 2596120000 Hz is 223.4 ppm from peer's 2596700000 "
               "Hz (limit 250 ppm)"},
    {.name = "peer +339 ppm refused",
     .source = HOST,
     .domain = "plain.xml",
     .peer = PEER_FAR,
     .verdict = TSC_VERDICT_REFUSED_DISTANCE,
     .reason = "guest TSC 2596120000 Hz is 338.9 ppm from peer's 2597000000 "
               "Hz (limit 250 ppm, range [2596350750, 2597649250] Hz) and "
               "the peer cannot scale"},
    {.name = "explicit +150 ppm to its own host kind",
     .source = HOST,
     .domain = "tsc-plus150ppm.xml",
     .peer = HOST,
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .parts = {"2596509418 Hz", "150.0 ppm"}},
    /* 2596509418 Hz is 73.4 ppm from the near peer: the explicit value
     * counts, not the far source's */
    {.name = "explicit +150 ppm from the far host to the near one",
     .source = PEER_FAR,
     .domain = "tsc-plus150ppm.xml",
     .peer = PEER_NEAR,
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .parts = {"73.4 ppm"}},
    {.name = "the frequency libvirt refused",
     .source = HOST,
     .domain = "tsc-2599000000.xml",
     .peer = HOST,
     .verdict = TSC_VERDICT_REFUSED_DISTANCE,
     .reason = "guest TSC 2599000000 Hz is 1109.3 ppm from peer's 2596120000 "
               "Hz (limit 250 ppm, range [2595470970, 2596769030] Hz) and "
               "the peer cannot scale"},
    {.name = "scaling peer takes 1.24x",
     .source = HOST,
     .domain = "plain.xml",
     .peer = PEER_SCALE,
     .verdict = TSC_VERDICT_SCALING,
     .parts = {"2596120000 Hz", "2100000000 Hz", "236247.6 ppm", "within 15x"}},
    {.name = "scaling peer refuses 1/21",
     .source = HOST,
     .domain = "tsc-100mhz.xml",
     .peer = PEER_SCALE,
     .verdict = TSC_VERDICT_REFUSED_RATIO,
     .parts = {"100000000 Hz", "2100000000 Hz", "952381.0 ppm",
               "factor of 21.000000000, beyond the 15x"}},
    {.name = "a non-scaling peer cannot take the scaling host's guest",
     .source = PEER_SCALE,
     .domain = "plain.xml",
     .peer = HOST,
     .verdict = TSC_VERDICT_REFUSED_DISTANCE,
     .parts = {"2100000000 Hz", "2596120000 Hz", "191100.6 ppm",
               "cannot scale"}},
    {.name = "test driver peer refused",
     .source = HOST,
     .domain = "plain.xml",
     .peer = TEST_DRIVER,
     .verdict = TSC_VERDICT_REFUSED_UNKNOWN_PEER,
     .reason = "guest TSC 2596120000 Hz, but the peer reports no TSC "
               "frequency so the ppm distance is unknown, and "
               "allow_unknown_tsc is off"},
    {.name = "test driver peer allowed by config",
     .source = HOST,
     .domain = "plain.xml",
     .peer = TEST_DRIVER,
     .allow_unknown = TRUE,
     .verdict = TSC_VERDICT_UNKNOWN_ALLOWED,
     .parts = {"allowed by allow_unknown_tsc"}},
    {.name = "counter without frequency refused",
     .source = HOST,
     .domain = "tsc-plus150ppm.xml",
     .peer = "counter-no-frequency.xml",
     .verdict = TSC_VERDICT_REFUSED_UNKNOWN_PEER,
     .parts = {"2596509418 Hz"}},
    {.name = "invtsc guest gets pinned",
     .source = HOST,
     .domain = "invtsc.xml",
     .peer = PEER_NEAR,
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .needs_pin = TRUE,
     .parts = {"223.4 ppm", "must pin 2596120000 Hz"}},
    {.name = "invtsc guest already pinned",
     .source = HOST,
     .domain = "invtsc-pinned.xml",
     .peer = PEER_NEAR,
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .parts = {"223.4 ppm"}},
    {.name = "optional invtsc needs no pin",
     .source = HOST,
     .domain = "invtsc-optional.xml",
     .peer = PEER_NEAR,
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE},
    {.name = "invtsc guest on an unknown source",
     .source = TEST_DRIVER,
     .domain = "invtsc-no-clock.xml",
     .peer = HOST,
     .allow_unknown = TRUE,
     .verdict = TSC_VERDICT_REFUSED_CANNOT_PIN,
     .needs_pin = TRUE,
     .parts = {"invtsc", "2596120000 Hz"}},
    {.name = "guest of an unknown source",
     .source = TEST_DRIVER,
     .domain = "plain.xml",
     .peer = HOST,
     .verdict = TSC_VERDICT_REFUSED_UNKNOWN_GUEST,
     .parts = {"guest TSC frequency unknown", "2596120000 Hz"}},
    {.name = "explicit guest on an unknown source",
     .source = TEST_DRIVER,
     .domain = "tsc-plus150ppm.xml",
     .peer = HOST,
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .parts = {"150.0 ppm"}},
};

static void test_compat_fixtures(void)
{
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(fixture_compat_cases); i++) {
        const FixtureCompatCase *tc = &fixture_compat_cases[i];
        g_autoptr(GError) err = NULL;
        g_auto(GuestClock) gc = {0};
        g_auto(TscCompat) c = {0};
        HostFacts source = {0};
        HostFacts peer = {0};
        gsize p;

        g_test_message("case %s", tc->name);
        g_assert_true(caps_from_fixture(tc->source, &source, &err));
        g_assert_true(caps_from_fixture(tc->peer, &peer, &err));
        g_assert_true(clock_from_fixture(tc->domain, &gc, &err));
        g_assert_no_error(err);

        tsc_check_peer(&gc, &source, &peer, TSC_DEFAULT_TOLERANCE_PPM,
                       tc->allow_unknown, &c);
        g_test_message("reason: %s", c.reason);
        g_assert_cmpstr(tsc_verdict_name(c.verdict), ==,
                        tsc_verdict_name(tc->verdict));
        g_assert_cmpint(c.compatible, ==,
                        tc->verdict == TSC_VERDICT_WITHIN_TOLERANCE ||
                            tc->verdict == TSC_VERDICT_SCALING ||
                            tc->verdict == TSC_VERDICT_UNKNOWN_ALLOWED);
        g_assert_cmpint(c.needs_pin, ==, tc->needs_pin);
        if (tc->reason)
            g_assert_cmpstr(c.reason, ==, tc->reason);
        for (p = 0; p < G_N_ELEMENTS(tc->parts) && tc->parts[p]; p++) {
            if (!strstr(c.reason, tc->parts[p]))
                g_error("case %s: reason '%s' lacks '%s'", tc->name, c.reason,
                        tc->parts[p]);
        }
    }
}

/* ---- pinning ------------------------------------------------------------ */

static int count_nodes(xmlDoc *doc, const char *expr)
{
    g_autoptr(xmlXPathContext) ctxt = xmlXPathNewContext(doc);
    g_autoptr(xmlXPathObject) obj = NULL;

    g_assert_nonnull(ctxt);
    obj = xmlXPathEvalExpression((const xmlChar *)expr, ctxt);
    g_assert_nonnull(obj);
    g_assert_cmpint(obj->type, ==, XPATH_NODESET);
    return obj->nodesetval ? obj->nodesetval->nodeNr : 0;
}

static void test_pin(void)
{
    static const struct {
        const char *file;
        guint64 hz;
        const char *mode; /* kept from the original timer */
        int other_timers;
        gboolean invtsc;
    } cases[] = {
        {"invtsc.xml", 2596120000, NULL, 3, TRUE},
        {"invtsc-no-clock.xml", 2596120000, NULL, 0, TRUE},
        {"plain.xml", 2596509418, NULL, 0, FALSE},
        /* an existing frequency is replaced, its mode kept */
        {"tsc-plus150ppm.xml", 2596120000, "native", 2, FALSE},
        {"tsc-timer-no-frequency.xml", 1, "emulate", 0, FALSE},
        {"invtsc-pinned.xml", G_MAXUINT64, "auto", 0, TRUE},
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *orig = read_fixture("domains", cases[i].file);
        g_autoptr(GError) err = NULL;
        g_autofree char *pinned = NULL;
        g_autoptr(xmlDoc) doc = NULL;
        g_autoptr(xmlDoc) orig_doc = NULL;
        g_auto(GuestClock) gc = {0};

        g_test_message("fixture %s", cases[i].file);
        pinned = hostcaps_pin_tsc_frequency(orig, cases[i].hz, &err);
        g_assert_no_error(err);
        g_assert_nonnull(pinned);
        g_assert_false(g_str_has_prefix(pinned, "<?xml"));

        g_assert_true(hostcaps_parse_domain_clock(pinned, &gc, &err));
        g_assert_no_error(err);
        g_assert_true(gc.has_tsc_freq);
        g_assert_cmpuint(gc.tsc_hz, ==, cases[i].hz);
        g_assert_cmpstr(gc.tsc_mode, ==, cases[i].mode);
        g_assert_cmpint(gc.invtsc, ==, cases[i].invtsc);

        doc = xmlReadMemory(pinned, (int)strlen(pinned), NULL, NULL,
                            XML_PARSE_NONET);
        orig_doc =
            xmlReadMemory(orig, (int)strlen(orig), NULL, NULL, XML_PARSE_NONET);
        g_assert_nonnull(doc);
        g_assert_nonnull(orig_doc);
        g_assert_cmpint(count_nodes(doc, "/domain/clock"), ==, 1);
        g_assert_cmpint(count_nodes(doc, "/domain/clock[@offset='utc']"), ==,
                        1);
        g_assert_cmpint(count_nodes(doc, "/domain/clock/timer[@name='tsc']"),
                        ==, 1);
        g_assert_cmpint(count_nodes(doc, "/domain/clock/timer[@name!='tsc']"),
                        ==, cases[i].other_timers);
        /* nothing else went missing or appeared */
        g_assert_cmpint(count_nodes(doc, "//*"), ==,
                        count_nodes(orig_doc, "//*") +
                            count_nodes(orig_doc, "/domain[not(clock)]") +
                            count_nodes(orig_doc, "/domain[not(clock/"
                                                  "timer[@name='tsc'])]"));
        g_assert_cmpint(count_nodes(doc, "/domain/name[.='aos_vm1']"), ==, 1);
        g_assert_cmpint(count_nodes(doc, "/domain/devices/memballoon/stats"),
                        ==, 1);
    }
}

static void test_pin_errors(void)
{
    static const struct {
        const char *name;
        const char *xml;
        guint64 hz;
        int code;
    } cases[] = {
        {"zero hz", "<domain><clock offset='utc'/></domain>", 0,
         HOSTCAPS_ERROR_INVALID},
        {"malformed", "<domain><clock offset='utc'></domain>", 1000,
         HOSTCAPS_ERROR_PARSE},
        {"not a domain", "<capabilities/>", 1000, HOSTCAPS_ERROR_INVALID},
        {"no XML", NULL, 1000, HOSTCAPS_ERROR_PARSE},
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        g_autofree char *out = NULL;

        g_test_message("case %s", cases[i].name);
        out = hostcaps_pin_tsc_frequency(cases[i].xml, cases[i].hz, &err);
        g_assert_null(out);
        g_assert_error(err, HOSTCAPS_ERROR, cases[i].code);
    }
}

/* The pinned copy is what the rule needs: after pinning, the guest no
 * longer needs a pin, and its frequency stays the source's. */
static void test_pin_then_check(void)
{
    g_autofree char *xml = read_fixture("domains", "invtsc.xml");
    g_autoptr(GError) err = NULL;
    g_autofree char *pinned = NULL;
    g_auto(GuestClock) before = {0};
    g_auto(GuestClock) after = {0};
    g_auto(TscCompat) c1 = {0};
    g_auto(TscCompat) c2 = {0};
    HostFacts source = {0};
    HostFacts peer = {0};

    g_assert_true(
        caps_from_fixture("host-2596120000-noscale.xml", &source, &err));
    g_assert_true(
        caps_from_fixture("peer-2596700000-noscale.xml", &peer, &err));
    g_assert_true(hostcaps_parse_domain_clock(xml, &before, &err));
    g_assert_no_error(err);

    tsc_check_peer(&before, &source, &peer, TSC_DEFAULT_TOLERANCE_PPM, FALSE,
                   &c1);
    g_assert_true(c1.compatible);
    g_assert_true(c1.needs_pin);

    pinned = hostcaps_pin_tsc_frequency(xml, c1.pin_hz, &err);
    g_assert_no_error(err);
    g_assert_true(hostcaps_parse_domain_clock(pinned, &after, &err));
    g_assert_no_error(err);

    tsc_check_peer(&after, &source, &peer, TSC_DEFAULT_TOLERANCE_PPM, FALSE,
                   &c2);
    g_assert_true(c2.compatible);
    g_assert_false(c2.needs_pin);
    g_assert_cmpuint(c2.guest_hz, ==, c1.guest_hz);
    g_assert_cmpfloat(c2.ppm, ==, c1.ppm);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/hostcaps/caps/fixtures", test_caps_fixtures);
    g_test_add_func("/hostcaps/caps/inline", test_caps_inline);
    g_test_add_func("/hostcaps/domain/fixtures", test_domain_fixtures);
    g_test_add_func("/hostcaps/domain/inline", test_domain_inline);
    g_test_add_func("/hostcaps/compat/fixtures", test_compat_fixtures);
    g_test_add_func("/hostcaps/pin/fixtures", test_pin);
    g_test_add_func("/hostcaps/pin/errors", test_pin_errors);
    g_test_add_func("/hostcaps/pin/then-check", test_pin_then_check);

    return g_test_run();
}
