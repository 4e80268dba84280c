/* Time-data maths, frequency multipliers, number parsing and the peer
 * compatibility rule: pure functions of tsc.c, as tables.  The clock-sync
 * decision is in test_clocksync.c, the tsc_calc tool in test_tsc_calc.c. */
#include <math.h>
#include <string.h>

#include <glib.h>

#include "test_tsc_figures.h"
#include "tsc.h"

#define OK -1           /* expected error code meaning "no error" */
#define UNTOUCHED 12345 /* what an output holds before a failing call */

/* The one check of every 64-bit result: on success (code OK) the value
 * wanted and no error; on failure the error code asked for, and the
 * output left as it was. */
static void check_result(const char *what, gboolean ok, const GError *err,
                         guint64 v, guint64 want, int code)
{
    g_test_message("case %s", what);
    if (code == OK) {
        g_assert_no_error(err);
        g_assert_true(ok);
        g_assert_cmpuint(v, ==, want);
    } else {
        g_assert_false(ok);
        g_assert_error(err, TSC_ERROR, code);
        g_assert_cmpuint(v, ==, UNTOUCHED);
    }
}

/* ---- published figures -------------------------------------------------- */

static void test_published_steps(void)
{
    g_autoptr(GError) err = NULL;
    guint64 v = 0;

    g_assert_true(
        tsc_guest_uptime_ns(PUB_SRC_HRTIME, PUB_SRC_BOOT_HRTIME, &v, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(v, ==, PUB_UPTIME);

    g_assert_true(tsc_ticks_for_ns(PUB_DELTA_NS, PUB_GUEST_HZ, &v, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(v, ==, PUB_TSC_DELTA);

    g_assert_true(tsc_advance(PUB_GUEST_TSC, PUB_TSC_DELTA, &v, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(v, ==, PUB_NEW_TSC);

    g_assert_true(tsc_new_boot_hrtime(PUB_DST_HRTIME, PUB_UPTIME, PUB_DELTA_NS,
                                      &v, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(v, ==, PUB_NEW_BOOT);
}

static void test_published_combined(void)
{
    const TscTimeData src = {
        .guest_hz = PUB_GUEST_HZ,
        .guest_tsc = PUB_GUEST_TSC,
        .hrtime_ns = PUB_SRC_HRTIME,
        .boot_hrtime_ns = PUB_SRC_BOOT_HRTIME,
    };
    g_autoptr(GError) err = NULL;
    TscTimeAdjust adj = {0};
    guint64 wall = G_GUINT64_CONSTANT(1700000000000000000);

    g_assert_true(tsc_adjust_time_data(
        &src, PUB_DST_HRTIME,
        tsc_migration_delta_ns(wall, wall + PUB_DELTA_NS, NULL), &adj, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(adj.uptime_ns, ==, PUB_UPTIME);
    g_assert_cmpuint(adj.tsc_delta, ==, PUB_TSC_DELTA);
    g_assert_cmpuint(adj.guest_tsc, ==, PUB_NEW_TSC);
    g_assert_cmpuint(adj.boot_hrtime_ns, ==, PUB_NEW_BOOT);
}

/* Each failing step leaves the output untouched and names its error. */
static void test_adjust_errors(void)
{
    static const struct {
        const char *name;
        TscTimeData src;
        guint64 dst_hrtime;
        guint64 delta;
        TscError code;
    } cases[] = {
        {"boot after hrtime",
         {PUB_GUEST_HZ, PUB_GUEST_TSC, 10, 11},
         1000,
         1,
         TSC_ERROR_UNDERFLOW},
        {"zero guest hz",
         {0, PUB_GUEST_TSC, 10, 5},
         1000,
         1,
         TSC_ERROR_INVALID},
        {"tsc wraps",
         {PUB_GUEST_HZ, G_MAXUINT64 - 10, 10, 5},
         1000,
         TSC_NS_PER_SEC,
         TSC_ERROR_OVERFLOW},
        {"destination booted after the guest",
         {PUB_GUEST_HZ, 0, 500, 100},
         399,
         1,
         TSC_ERROR_UNDERFLOW},
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        TscTimeAdjust adj = {.guest_tsc = 42};

        g_test_message("case %s", cases[i].name);
        g_assert_false(tsc_adjust_time_data(&cases[i].src, cases[i].dst_hrtime,
                                            cases[i].delta, &adj, &err));
        g_assert_error(err, TSC_ERROR, (gint)cases[i].code);
        g_assert_cmpuint(adj.guest_tsc, ==, 42);
    }
}

/* ---- single steps ------------------------------------------------------- */

static void test_migration_delta(void)
{
    static const struct {
        guint64 src, dst, want;
        gboolean clamped;
    } cases[] = {
        {1000, 108582, 107582, FALSE},
        {5, 5, 0, FALSE},
        {108582, 1000, 0, TRUE},
        {G_MAXUINT64, 0, 0, TRUE},
        {0, G_MAXUINT64, G_MAXUINT64, FALSE},
        {G_MAXUINT64 - 1, G_MAXUINT64, 1, FALSE},
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        gboolean clamped = !cases[i].clamped;

        g_test_message("case %zu", i);
        g_assert_cmpuint(
            tsc_migration_delta_ns(cases[i].src, cases[i].dst, &clamped), ==,
            cases[i].want);
        g_assert_cmpint(clamped, ==, cases[i].clamped);
        g_assert_cmpuint(
            tsc_migration_delta_ns(cases[i].src, cases[i].dst, NULL), ==,
            cases[i].want);
    }
}

static void test_uptime(void)
{
    static const struct {
        guint64 hrtime, boot, want;
        int code;
    } cases[] = {
        {PUB_SRC_HRTIME, PUB_SRC_BOOT_HRTIME, PUB_UPTIME, OK},
        {7, 7, 0, OK},
        {G_MAXUINT64, 0, G_MAXUINT64, OK},
        {6, 7, 0, TSC_ERROR_UNDERFLOW},
        {0, G_MAXUINT64, 0, TSC_ERROR_UNDERFLOW},
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        g_autofree char *what = g_strdup_printf("%zu", i);
        guint64 v = UNTOUCHED;
        gboolean ok =
            tsc_guest_uptime_ns(cases[i].hrtime, cases[i].boot, &v, &err);

        check_result(what, ok, err, v, cases[i].want, cases[i].code);
    }
}

static void test_new_boot_hrtime(void)
{
    static const struct {
        guint64 dst, uptime, delta, want;
        int code;
    } cases[] = {
        {PUB_DST_HRTIME, PUB_UPTIME, PUB_DELTA_NS, PUB_NEW_BOOT, OK},
        {100, 60, 40, 0, OK},
        {100, 60, 41, 0, TSC_ERROR_UNDERFLOW},
        {100, 101, 0, 0, TSC_ERROR_UNDERFLOW},
        {G_MAXUINT64, G_MAXUINT64, 1, 0, TSC_ERROR_OVERFLOW},
        {G_MAXUINT64, G_MAXUINT64 - 1, 1, 0, OK},
        {1000, 0, 0, 1000, OK},
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        g_autofree char *what = g_strdup_printf("%zu", i);
        guint64 v = UNTOUCHED;
        gboolean ok = tsc_new_boot_hrtime(cases[i].dst, cases[i].uptime,
                                          cases[i].delta, &v, &err);

        check_result(what, ok, err, v, cases[i].want, cases[i].code);
    }
}

static void test_ticks(void)
{
    static const struct {
        guint64 delta_ns, hz, want;
        int code;
    } cases[] = {
        {PUB_DELTA_NS, PUB_GUEST_HZ, PUB_TSC_DELTA, OK},
        {0, PUB_GUEST_HZ, 0, OK},
        {TSC_NS_PER_SEC, PUB_GUEST_HZ, PUB_GUEST_HZ, OK},
        /* truncated: 1 ns at 2.65 GHz is 2.65 ticks */
        {1, PUB_GUEST_HZ, 2, OK},
        {1, 999999999, 0, OK},
        /* one hour at 5 GHz: the product exceeds 64 bits, the result not */
        {G_GUINT64_CONSTANT(3600000000000), G_GUINT64_CONSTANT(5000000000),
         G_GUINT64_CONSTANT(18000000000000), OK},
        /* the largest product whose quotient still fits */
        {G_MAXUINT64, TSC_NS_PER_SEC, G_MAXUINT64, OK},
        {G_MAXUINT64, TSC_NS_PER_SEC + 1, 0, TSC_ERROR_OVERFLOW},
        {G_MAXUINT64, G_MAXUINT64, 0, TSC_ERROR_OVERFLOW},
        {PUB_DELTA_NS, 0, 0, TSC_ERROR_INVALID},
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        g_autofree char *what = g_strdup_printf("%zu", i);
        guint64 v = UNTOUCHED;
        gboolean ok =
            tsc_ticks_for_ns(cases[i].delta_ns, cases[i].hz, &v, &err);

        check_result(what, ok, err, v, cases[i].want, cases[i].code);
    }
}

static void test_advance(void)
{
    static const struct {
        guint64 tsc, ticks, want;
        int code;
    } cases[] = {
        {PUB_GUEST_TSC, PUB_TSC_DELTA, PUB_NEW_TSC, OK},
        {0, 0, 0, OK},
        {G_MAXUINT64 - 5, 5, G_MAXUINT64, OK},
        {G_MAXUINT64 - 5, 6, 0, TSC_ERROR_OVERFLOW},
        {G_MAXUINT64, G_MAXUINT64, 0, TSC_ERROR_OVERFLOW},
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        g_autofree char *what = g_strdup_printf("%zu", i);
        guint64 v = UNTOUCHED;
        gboolean ok = tsc_advance(cases[i].tsc, cases[i].ticks, &v, &err);

        check_result(what, ok, err, v, cases[i].want, cases[i].code);
    }
}

/* ---- multipliers -------------------------------------------------------- */

static void test_multiplier(void)
{
    static const struct {
        const char *name;
        guint64 guest, host;
        TscMultFormat fmt;
        guint64 want;
        int code;
    } cases[] = {
        {"amd 1.0", TEST_HOST_HZ, TEST_HOST_HZ, TSC_MULT_AMD,
         G_GUINT64_CONSTANT(1) << 32, OK},
        {"intel 1.0", TEST_HOST_HZ, TEST_HOST_HZ, TSC_MULT_INTEL,
         G_GUINT64_CONSTANT(1) << 48, OK},
        {"amd 2.0", 2000000000, 1000000000, TSC_MULT_AMD,
         G_GUINT64_CONSTANT(2) << 32, OK},
        {"amd 0.5", 1000000000, 2000000000, TSC_MULT_AMD,
         G_GUINT64_CONSTANT(1) << 31, OK},
        {"intel 0.5", 1000000000, 2000000000, TSC_MULT_INTEL,
         G_GUINT64_CONSTANT(1) << 47, OK},
        /* published guest onto the test host, truncated */
        {"amd published", PUB_GUEST_HZ, TEST_HOST_HZ, TSC_MULT_AMD,
         PUB_AMD_MULT, OK},
        {"intel published", PUB_GUEST_HZ, TEST_HOST_HZ, TSC_MULT_INTEL,
         PUB_INTEL_MULT, OK},
        {"amd 255.5 fits", 511, 2, TSC_MULT_AMD,
         (G_GUINT64_CONSTANT(511) << 32) / 2, OK},
        {"amd 256 too large", 256, 1, TSC_MULT_AMD, 0, TSC_ERROR_RANGE},
        {"amd just under 256", G_GUINT64_CONSTANT(256) * 1000000000 - 1,
         1000000000, TSC_MULT_AMD, G_GUINT64_CONSTANT(1099511627771), OK},
        {"intel 256 fits", 256, 1, TSC_MULT_INTEL,
         G_GUINT64_CONSTANT(256) << 48, OK},
        {"intel 65535 fits", 65535, 1, TSC_MULT_INTEL,
         G_GUINT64_CONSTANT(65535) << 48, OK},
        {"intel 65536 too large", 65536, 1, TSC_MULT_INTEL, 0, TSC_ERROR_RANGE},
        {"intel max guest", G_MAXUINT64, 1, TSC_MULT_INTEL, 0, TSC_ERROR_RANGE},
        {"amd below 2^-32 is zero", 1, G_GUINT64_CONSTANT(1) << 33,
         TSC_MULT_AMD, 0, TSC_ERROR_RANGE},
        {"amd exactly 2^-32", 1, G_GUINT64_CONSTANT(1) << 32, TSC_MULT_AMD, 1,
         OK},
        {"intel 2^-40 fits", 1, G_GUINT64_CONSTANT(1) << 40, TSC_MULT_INTEL,
         256, OK},
        {"intel below 2^-48 is zero", 1, G_GUINT64_CONSTANT(1) << 49,
         TSC_MULT_INTEL, 0, TSC_ERROR_RANGE},
        {"zero guest", 0, TEST_HOST_HZ, TSC_MULT_AMD, 0, TSC_ERROR_RANGE},
        {"zero host", TEST_HOST_HZ, 0, TSC_MULT_INTEL, 0, TSC_ERROR_INVALID},
        {"max over max", G_MAXUINT64, G_MAXUINT64, TSC_MULT_INTEL,
         G_GUINT64_CONSTANT(1) << 48, OK},
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        guint64 v = UNTOUCHED;
        gboolean ok = tsc_freq_multiplier(cases[i].guest, cases[i].host,
                                          cases[i].fmt, &v, &err);

        check_result(cases[i].name, ok, err, v, cases[i].want, cases[i].code);
    }
}

static void test_multiplier_format(void)
{
    g_assert_cmpuint(tsc_mult_int_bits(TSC_MULT_AMD), ==, 8);
    g_assert_cmpuint(tsc_mult_frac_bits(TSC_MULT_AMD), ==, 32);
    g_assert_cmpuint(tsc_mult_int_bits(TSC_MULT_INTEL), ==, 16);
    g_assert_cmpuint(tsc_mult_frac_bits(TSC_MULT_INTEL), ==, 48);
    g_assert_cmpfloat(
        tsc_multiplier_ratio(G_GUINT64_CONSTANT(1) << 32, TSC_MULT_AMD), ==,
        1.0);
    g_assert_cmpfloat(
        tsc_multiplier_ratio(G_GUINT64_CONSTANT(3) << 47, TSC_MULT_INTEL), ==,
        1.5);
    g_assert_cmpfloat_with_epsilon(
        tsc_multiplier_ratio(PUB_AMD_MULT, TSC_MULT_AMD),
        (double)PUB_GUEST_HZ / (double)TEST_HOST_HZ, 1e-9);
}

/* ---- number parsing ----------------------------------------------------- */

static void test_parse_u64(void)
{
    static const struct {
        const char *text;
        gboolean hex;
        guint64 want;
        int code;
    } cases[] = {
        {"0", FALSE, 0, OK},
        {"2649958945", FALSE, PUB_GUEST_HZ, OK},
        {"010", FALSE, 10, OK}, /* decimal, never octal */
        {"010", TRUE, 10, OK},
        {"18446744073709551615", FALSE, G_MAXUINT64, OK},
        {"18446744073709551616", FALSE, 0, TSC_ERROR_OVERFLOW},
        {"99999999999999999999999", TRUE, 0, TSC_ERROR_OVERFLOW},
        {"0x9df32a21", TRUE, PUB_GUEST_HZ, OK},
        {"0X9DF32A21", TRUE, PUB_GUEST_HZ, OK},
        {"0xffffffffffffffff", TRUE, G_MAXUINT64, OK},
        {"0x10000000000000000", TRUE, 0, TSC_ERROR_OVERFLOW},
        {"0x10", FALSE, 0, TSC_ERROR_INVALID},
        {"0x", TRUE, 0, TSC_ERROR_INVALID},
        {"0x-1", TRUE, 0, TSC_ERROR_INVALID},
        {"0x 1", TRUE, 0, TSC_ERROR_INVALID},
        {"-1", TRUE, 0, TSC_ERROR_INVALID},
        {"+1", FALSE, 0, TSC_ERROR_INVALID},
        {" 1", FALSE, 0, TSC_ERROR_INVALID},
        {"1 ", FALSE, 0, TSC_ERROR_INVALID},
        {"12a", FALSE, 0, TSC_ERROR_INVALID},
        {"2.6e9", FALSE, 0, TSC_ERROR_INVALID},
        {"abc", TRUE, 0, TSC_ERROR_INVALID},
        {"", TRUE, 0, TSC_ERROR_INVALID},
        {NULL, TRUE, 0, TSC_ERROR_INVALID},
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        g_autofree char *what = g_strdup_printf(
            "'%s' hex=%d", cases[i].text ? cases[i].text : "", cases[i].hex);
        guint64 v = UNTOUCHED;
        gboolean ok = tsc_parse_u64(cases[i].text, cases[i].hex, &v, &err);

        check_result(what, ok, err, v, cases[i].want, cases[i].code);
        /* An error quotes the text it refuses. */
        if (!ok && cases[i].text && *cases[i].text)
            g_assert_nonnull(strstr(err->message, cases[i].text));
    }
}

/* ---- tolerance and compatibility ---------------------------------------- */

static void test_tolerance_range(void)
{
    static const struct {
        guint64 ref;
        double ppm;
        gboolean ok;
        guint64 min, max;
    } cases[] = {
        /* the range libvirt printed on the test host */
        {TEST_HOST_HZ, 250, TRUE, 2595470970, 2596769030},
        {TEST_HOST_HZ, 0, TRUE, TEST_HOST_HZ, TEST_HOST_HZ},
        {1000000, 0.5, TRUE, 1000000, 1000000},
        {1000000, 1.5, TRUE, 999999, 1000001},
        {1000, 1e6, TRUE, 0, 2000},
        {G_MAXUINT64, 1, TRUE, G_MAXUINT64 - 18446744073709, G_MAXUINT64},
        {TEST_HOST_HZ, -1, FALSE, 0, 0},
        {TEST_HOST_HZ, 1e6 + 1, FALSE, 0, 0},
        {TEST_HOST_HZ, NAN, FALSE, 0, 0},
        {TEST_HOST_HZ, INFINITY, FALSE, 0, 0},
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        guint64 min = 1;
        guint64 max = 1;

        g_test_message("case %zu", i);
        g_assert_cmpint(
            tsc_tolerance_range(cases[i].ref, cases[i].ppm, &min, &max), ==,
            cases[i].ok);
        if (cases[i].ok) {
            g_assert_cmpuint(min, ==, cases[i].min);
            g_assert_cmpuint(max, ==, cases[i].max);
        }
    }
}

/* A case names only what differs from an implicit-frequency guest on a
 * known, non-scaling source, checked against a known, non-scaling peer at
 * 250 ppm.  Frequencies of 0 mean "unknown". */
typedef struct {
    const char *name;
    guint64 guest_hz; /* explicit frequency, 0 for none */
    gboolean invtsc;
    gboolean no_source; /* no source facts at all */
    guint64 src_hz;
    guint64 peer_hz;
    gboolean peer_scales;
    gboolean peer_zero_counter; /* counter present, frequency 0 */
    double tol;                 /* 0 means the default */
    gboolean tol_given;         /* tol is meant even when it is 0 */
    gboolean allow_unknown;
    TscVerdict verdict;
    guint64 want_hz; /* the guest frequency the rule settles on */
    gboolean needs_pin;
    const char *reason;   /* exact text, when given */
    const char *parts[4]; /* substrings of the reason */
} CompatCase;

static const CompatCase compat_cases[] = {
    {.name = "same host frequency",
     .src_hz = TEST_HOST_HZ,
     .peer_hz = TEST_HOST_HZ,
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .want_hz = TEST_HOST_HZ,
     .reason = "guest TSC 2596120000 Hz is 0.0 ppm from peer's 2596120000 Hz "
               "(limit 250 ppm)"},
    {.name = "libvirt's refusal on the test host",
     .guest_hz = 2599000000,
     .src_hz = TEST_HOST_HZ,
     .peer_hz = TEST_HOST_HZ,
     .verdict = TSC_VERDICT_REFUSED_DISTANCE,
     .want_hz = 2599000000,
     .reason = "guest TSC 2599000000 Hz is 1109.3 ppm from peer's 2596120000 "
               "Hz (limit 250 ppm, range [2595470970, 2596769030] Hz) and "
               "the peer cannot scale"},
    {.name = "+150 ppm explicit",
     .guest_hz = 2596509418,
     .src_hz = TEST_HOST_HZ,
     .peer_hz = TEST_HOST_HZ,
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .want_hz = 2596509418,
     .parts = {"2596509418 Hz", "150.0 ppm", "2596120000 Hz"}},
    {.name = "upper edge of libvirt's range",
     .guest_hz = 2596769030,
     .peer_hz = TEST_HOST_HZ,
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .want_hz = 2596769030},
    {.name = "one above the upper edge",
     .guest_hz = 2596769031,
     .peer_hz = TEST_HOST_HZ,
     .verdict = TSC_VERDICT_REFUSED_DISTANCE,
     .want_hz = 2596769031,
     .parts = {"2596769031 Hz", "2596120000 Hz", "250.0 ppm", "cannot scale"}},
    {.name = "lower edge of libvirt's range",
     .guest_hz = 2595470970,
     .peer_hz = TEST_HOST_HZ,
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .want_hz = 2595470970},
    {.name = "one below the lower edge",
     .guest_hz = 2595470969,
     .peer_hz = TEST_HOST_HZ,
     .verdict = TSC_VERDICT_REFUSED_DISTANCE,
     .want_hz = 2595470969,
     .parts = {"2595470969 Hz", "2596120000 Hz",
               "(limit 250 ppm, range [2595470970, 2596769030] Hz)"}},
    {.name = "tighter tolerance",
     .guest_hz = 2596509418,
     .peer_hz = TEST_HOST_HZ,
     .tol = 100,
     .verdict = TSC_VERDICT_REFUSED_DISTANCE,
     .want_hz = 2596509418,
     .parts = {"150.0 ppm",
               "(limit 100 ppm, range [2595860388, 2596379612] Hz)"}},
    {.name = "zero tolerance, exact match",
     .guest_hz = TEST_HOST_HZ,
     .peer_hz = TEST_HOST_HZ,
     .tol = 0,
     .tol_given = TRUE,
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .want_hz = TEST_HOST_HZ,
     .parts = {"(limit 0 ppm)"}},
    {.name = "explicit beats the source's",
     .guest_hz = 2596509418,
     .src_hz = 3000000000,
     .peer_hz = TEST_HOST_HZ,
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .want_hz = 2596509418},
    {.name = "implicit from a far source",
     .src_hz = 3000000000,
     .peer_hz = TEST_HOST_HZ,
     .verdict = TSC_VERDICT_REFUSED_DISTANCE,
     .want_hz = 3000000000,
     .parts = {"3000000000 Hz", "2596120000 Hz", "155570.6 ppm"}},
    {.name = "peer scales, 1.24x",
     .src_hz = TEST_HOST_HZ,
     .peer_hz = 2100000000,
     .peer_scales = TRUE,
     .verdict = TSC_VERDICT_SCALING,
     .want_hz = TEST_HOST_HZ,
     .parts = {"2596120000 Hz", "2100000000 Hz", "236247.6 ppm",
               "factor of 1.236247619, within 15x"}},
    {.name = "peer scales, exactly 15x up",
     .guest_hz = 1500000000,
     .peer_hz = 100000000,
     .peer_scales = TRUE,
     .verdict = TSC_VERDICT_SCALING,
     .want_hz = 1500000000,
     .parts = {"factor of 15.000000000, within 15x"}},
    {.name = "peer scales, just over 15x up",
     .guest_hz = 1500000001,
     .peer_hz = 100000000,
     .peer_scales = TRUE,
     .verdict = TSC_VERDICT_REFUSED_RATIO,
     .want_hz = 1500000001,
     .parts = {"1500000001 Hz", "100000000 Hz", "factor of 15.000000010",
               "beyond the 15x"}},
    {.name = "peer scales, exactly 15x down",
     .guest_hz = 140000000,
     .peer_hz = 2100000000,
     .peer_scales = TRUE,
     .verdict = TSC_VERDICT_SCALING,
     .want_hz = 140000000,
     .parts = {"factor of 15.000000000, within 15x"}},
    {.name = "peer scales, just under 1/15",
     .guest_hz = 139999999,
     .peer_hz = 2100000000,
     .peer_scales = TRUE,
     .verdict = TSC_VERDICT_REFUSED_RATIO,
     .want_hz = 139999999,
     .parts = {"139999999 Hz", "2100000000 Hz", "933333.3 ppm",
               "factor of 15.000000107, beyond the 15x"}},
    {.name = "peer scales but is close anyway",
     .guest_hz = 2596509418,
     .peer_hz = TEST_HOST_HZ,
     .peer_scales = TRUE,
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .want_hz = 2596509418},
    {.name = "unknown peer refused",
     .src_hz = TEST_HOST_HZ,
     .verdict = TSC_VERDICT_REFUSED_UNKNOWN_PEER,
     .want_hz = TEST_HOST_HZ,
     .reason = "guest TSC 2596120000 Hz, but the peer reports no TSC "
               "frequency so the ppm distance is unknown, and "
               "allow_unknown_tsc is off"},
    {.name = "unknown peer allowed",
     .src_hz = TEST_HOST_HZ,
     .allow_unknown = TRUE,
     .verdict = TSC_VERDICT_UNKNOWN_ALLOWED,
     .want_hz = TEST_HOST_HZ,
     .parts = {"2596120000 Hz", "allowed by allow_unknown_tsc"}},
    {.name = "peer counter without frequency",
     .src_hz = TEST_HOST_HZ,
     .peer_zero_counter = TRUE,
     .verdict = TSC_VERDICT_REFUSED_UNKNOWN_PEER,
     .want_hz = TEST_HOST_HZ,
     .parts = {"no TSC frequency"}},
    {.name = "unknown guest refused",
     .peer_hz = TEST_HOST_HZ,
     .verdict = TSC_VERDICT_REFUSED_UNKNOWN_GUEST,
     .parts = {"guest TSC frequency unknown", "2596120000 Hz", "is off"}},
    {.name = "no source facts",
     .no_source = TRUE,
     .peer_hz = TEST_HOST_HZ,
     .verdict = TSC_VERDICT_REFUSED_UNKNOWN_GUEST,
     .parts = {"guest TSC frequency unknown"}},
    {.name = "unknown guest allowed",
     .peer_hz = TEST_HOST_HZ,
     .allow_unknown = TRUE,
     .verdict = TSC_VERDICT_UNKNOWN_ALLOWED,
     .parts = {"guest TSC frequency unknown", "2596120000 Hz",
               "allowed by allow_unknown_tsc"}},
    {.name = "both unknown, allowed",
     .allow_unknown = TRUE,
     .verdict = TSC_VERDICT_UNKNOWN_ALLOWED,
     .parts = {"peer's unknown too"}},
    {.name = "both unknown, refused",
     .verdict = TSC_VERDICT_REFUSED_UNKNOWN_GUEST,
     .parts = {"peer's unknown too", "is off"}},
    {.name = "invtsc, implicit: pin the source's",
     .invtsc = TRUE,
     .src_hz = TEST_HOST_HZ,
     .peer_hz = 2596700000,
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .want_hz = TEST_HOST_HZ,
     .needs_pin = TRUE,
     .parts = {"223.4 ppm", "must pin 2596120000 Hz"}},
    {.name = "invtsc, explicit: nothing to pin",
     .guest_hz = TEST_HOST_HZ,
     .invtsc = TRUE,
     .peer_hz = TEST_HOST_HZ,
     .verdict = TSC_VERDICT_WITHIN_TOLERANCE,
     .want_hz = TEST_HOST_HZ},
    {.name = "invtsc, nothing known to pin",
     .invtsc = TRUE,
     .peer_hz = TEST_HOST_HZ,
     .allow_unknown = TRUE,
     .verdict = TSC_VERDICT_REFUSED_CANNOT_PIN,
     .needs_pin = TRUE,
     .parts = {"invtsc", "2596120000 Hz", "ppm distance is unknown"}},
    {.name = "invtsc, nothing known anywhere",
     .invtsc = TRUE,
     .allow_unknown = TRUE,
     .verdict = TSC_VERDICT_REFUSED_CANNOT_PIN,
     .needs_pin = TRUE,
     .parts = {"invtsc", "peer's TSC frequency is unknown too"}},
    {.name = "invtsc, unknown peer allowed",
     .invtsc = TRUE,
     .src_hz = TEST_HOST_HZ,
     .allow_unknown = TRUE,
     .verdict = TSC_VERDICT_UNKNOWN_ALLOWED,
     .want_hz = TEST_HOST_HZ,
     .needs_pin = TRUE,
     .parts = {"allowed by allow_unknown_tsc", "must pin 2596120000 Hz"}},
    {.name = "invtsc, refused stays refused",
     .invtsc = TRUE,
     .src_hz = TEST_HOST_HZ,
     .peer_hz = 2597000000,
     .verdict = TSC_VERDICT_REFUSED_DISTANCE,
     .want_hz = TEST_HOST_HZ,
     .needs_pin = TRUE,
     .reason = "guest TSC 2596120000 Hz is 338.9 ppm from peer's 2597000000 "
               "Hz (limit 250 ppm, range [2596350750, 2597649250] Hz) and "
               "the peer cannot scale"},
    {.name = "negative tolerance",
     .src_hz = TEST_HOST_HZ,
     .peer_hz = TEST_HOST_HZ,
     .tol = -1,
     .verdict = TSC_VERDICT_REFUSED_BAD_TOLERANCE,
     .want_hz = TEST_HOST_HZ,
     .parts = {"-1 ppm"}},
    {.name = "NaN tolerance",
     .src_hz = TEST_HOST_HZ,
     .peer_hz = TEST_HOST_HZ,
     .tol = NAN,
     .allow_unknown = TRUE,
     .verdict = TSC_VERDICT_REFUSED_BAD_TOLERANCE,
     .want_hz = TEST_HOST_HZ,
     .parts = {"nan ppm"}},
};

static void run_compat_case(const CompatCase *tc)
{
    GuestClock guest = {
        .has_tsc_timer = tc->guest_hz != 0,
        .has_tsc_freq = tc->guest_hz != 0,
        .tsc_hz = tc->guest_hz,
        .invtsc = tc->invtsc,
    };
    HostFacts source = {.tsc_known = tc->src_hz != 0, .tsc_hz = tc->src_hz};
    HostFacts peer = {
        .tsc_known = tc->peer_hz != 0 || tc->peer_zero_counter,
        .tsc_hz = tc->peer_hz,
        .tsc_scaling = tc->peer_scales,
    };
    double tol =
        tc->tol != 0 || tc->tol_given ? tc->tol : TSC_DEFAULT_TOLERANCE_PPM;
    g_auto(TscCompat) c = {0};
    gsize p;

    g_test_message("case %s", tc->name);
    tsc_check_peer(&guest, tc->no_source ? NULL : &source, &peer, tol,
                   tc->allow_unknown, &c);
    g_test_message("reason: %s", c.reason);
    g_assert_cmpstr(tsc_verdict_name(c.verdict), ==,
                    tsc_verdict_name(tc->verdict));
    g_assert_cmpint(c.compatible, ==,
                    tc->verdict == TSC_VERDICT_WITHIN_TOLERANCE ||
                        tc->verdict == TSC_VERDICT_SCALING ||
                        tc->verdict == TSC_VERDICT_UNKNOWN_ALLOWED);
    g_assert_cmpuint(c.guest_hz, ==, tc->want_hz);
    g_assert_cmpint(c.guest_hz_known, ==, tc->want_hz != 0);
    g_assert_cmpint(c.guest_hz_explicit, ==, tc->guest_hz != 0);
    g_assert_cmpint(c.needs_pin, ==, tc->needs_pin);
    g_assert_cmpuint(c.pin_hz, ==, tc->needs_pin ? tc->want_hz : 0);
    if (c.guest_hz_known && c.peer_hz_known)
        g_assert_cmpfloat_with_epsilon(
            c.ppm, tsc_ppm_distance(c.guest_hz, c.peer_hz), 1e-9);
    else
        g_assert_cmpfloat(c.ppm, <, 0);
    g_assert_nonnull(c.reason);
    if (tc->reason)
        g_assert_cmpstr(c.reason, ==, tc->reason);
    for (p = 0; p < G_N_ELEMENTS(tc->parts) && tc->parts[p]; p++) {
        if (!strstr(c.reason, tc->parts[p]))
            g_error("case %s: reason '%s' lacks '%s'", tc->name, c.reason,
                    tc->parts[p]);
    }

    /* A refusal between two known frequencies names both and the
     * distance. */
    if (!c.compatible && c.guest_hz_known && c.peer_hz_known &&
        c.verdict != TSC_VERDICT_REFUSED_BAD_TOLERANCE) {
        g_autofree char *g =
            g_strdup_printf("guest TSC %" G_GUINT64_FORMAT " Hz", c.guest_hz);
        g_autofree char *pe =
            g_strdup_printf("peer's %" G_GUINT64_FORMAT " Hz", c.peer_hz);
        g_autofree char *d = g_strdup_printf("%.1f ppm", c.ppm);

        g_assert_nonnull(strstr(c.reason, g));
        g_assert_nonnull(strstr(c.reason, pe));
        g_assert_nonnull(strstr(c.reason, d));
    }
}

static void test_compat(void)
{
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(compat_cases); i++)
        run_compat_case(&compat_cases[i]);
}

static void test_compat_clear(void)
{
    const GuestClock guest = {0};
    const HostFacts host = {.tsc_known = TRUE, .tsc_hz = TEST_HOST_HZ};
    TscCompat c = {0};

    tsc_check_peer(&guest, &host, &host, TSC_DEFAULT_TOLERANCE_PPM, FALSE, &c);
    g_assert_nonnull(c.reason);
    tsc_compat_clear(&c);
    g_assert_null(c.reason);
    tsc_compat_clear(&c);
    tsc_compat_clear(NULL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/tsc/published/steps", test_published_steps);
    g_test_add_func("/tsc/published/combined", test_published_combined);
    g_test_add_func("/tsc/adjust/errors", test_adjust_errors);
    g_test_add_func("/tsc/migration-delta", test_migration_delta);
    g_test_add_func("/tsc/uptime", test_uptime);
    g_test_add_func("/tsc/new-boot-hrtime", test_new_boot_hrtime);
    g_test_add_func("/tsc/ticks", test_ticks);
    g_test_add_func("/tsc/advance", test_advance);
    g_test_add_func("/tsc/multiplier/values", test_multiplier);
    g_test_add_func("/tsc/multiplier/format", test_multiplier_format);
    g_test_add_func("/tsc/parse-u64", test_parse_u64);
    g_test_add_func("/tsc/tolerance-range", test_tolerance_range);
    g_test_add_func("/tsc/compat/table", test_compat);
    g_test_add_func("/tsc/compat/clear", test_compat_clear);

    return g_test_run();
}
