/* The pure parts of running as a service: the Prometheus text the
 * metrics writer makes (names, escaping, values, grouping), the atomic
 * rewrite of the file, the watchdog's minimum for an interval, and when
 * a tick counts as late. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon.h"
#include "metrics.h"
#include "notify.h"

typedef struct {
    const char *name;
    gboolean metric_ok;
    gboolean label_ok;
} NameCase;

static const NameCase name_cases[] = {
    {"aos_ticks_total", TRUE, TRUE},
    {"_private", TRUE, TRUE},
    {"job:rate5m", TRUE, FALSE},
    {"__reserved", TRUE, FALSE},
    {"0starts_with_digit", FALSE, FALSE},
    {"has-dash", FALSE, FALSE},
    {"has space", FALSE, FALSE},
    {"ünicode", FALSE, FALSE},
    {"", FALSE, FALSE},
    {"x9", TRUE, TRUE},
};

static void test_names(void)
{
    guint i;

    for (i = 0; i < G_N_ELEMENTS(name_cases); i++) {
        const NameCase *c = &name_cases[i];

        g_test_message("name '%s'", c->name);
        g_assert_cmpint(metrics_name_valid(c->name), ==, c->metric_ok);
        g_assert_cmpint(metrics_label_name_valid(c->name), ==, c->label_ok);
    }
}

typedef struct {
    double value;
    const char *text;
} ValueCase;

static void test_values(void)
{
    const ValueCase cases[] = {
        {0, "0"},
        {1, "1"},
        {-2.5, "-2.5"},
        {0.1, "0.1"},
        {1e-7, "1e-07"},
        {2147483648.0, "2147483648"},
        {1.0 / 3.0, "0.33333333333333331"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
        {NAN, "NaN"},
    };
    guint i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *t = metrics_format_value(cases[i].value);

        g_assert_cmpstr(t, ==, cases[i].text);
        /* Whatever the form, it reads back to the very same double. */
        if (isfinite(cases[i].value))
            g_assert_cmpfloat(g_ascii_strtod(t, NULL), ==, cases[i].value);
    }
}

static void test_escape(void)
{
    const char *cases[][2] = {
        {"plain", "plain"},
        {"a\"b", "a\\\"b"},
        {"back\\slash", "back\\\\slash"},
        {"two\nlines", "two\\nlines"},
        {"\\\"\n", "\\\\\\\"\\n"},
        {"", ""},
    };
    guint i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *e = metrics_escape_label(cases[i][0]);

        g_assert_cmpstr(e, ==, cases[i][1]);
    }
}

/* Samples of one family come out together under one HELP and TYPE, in
 * the order added, even when other families' samples came between. */
static void test_text(void)
{
    g_autoptr(Metrics) m = metrics_new("aos");
    g_autofree char *text = NULL;
    const char *want =
        "# HELP aos_size_bytes Size, with a \\\\ and a\\nline break.\n"
        "# TYPE aos_size_bytes gauge\n"
        "aos_size_bytes{domain=\"vm \\\"1\\\"\",uuid=\"u1\"} 1024\n"
        "aos_size_bytes{domain=\"vm2\",uuid=\"u2\"} 2048\n"
        "# HELP aos_things_total Things done.\n"
        "# TYPE aos_things_total counter\n"
        "aos_things_total 3\n";

    metrics_add(m, METRIC_GAUGE, "size_bytes",
                "Size, with a \\ and a\nline break.", 1024, "domain",
                "vm \"1\"", "uuid", "u1", NULL);
    metrics_add(m, METRIC_COUNTER, "things_total", "Things done.", 3, NULL);
    metrics_add(m, METRIC_GAUGE, "size_bytes", "ignored: the first counts",
                2048, "domain", "vm2", "uuid", "u2", NULL);
    text = metrics_text(m);
    g_assert_cmpstr(text, ==, want);
    g_assert_cmpuint(metrics_count(m), ==, 3);
}

/* A name or label the format forbids is dropped, loudly. */
static void test_bad_names(void)
{
    if (g_test_subprocess()) {
        g_autoptr(Metrics) m = metrics_new("aos");

        metrics_add(m, METRIC_GAUGE, "bad-name", "x", 1, NULL);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*invalid metric name 'aos_bad-name'*");
}

static void test_bad_label(void)
{
    if (g_test_subprocess()) {
        g_autoptr(Metrics) m = metrics_new("aos");

        metrics_add(m, METRIC_GAUGE, "ok", "x", 1, "__name__", "v", NULL);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*invalid label '__name__'*");
}

static void test_kind_clash(void)
{
    if (g_test_subprocess()) {
        g_autoptr(Metrics) m = metrics_new("aos");

        metrics_add(m, METRIC_GAUGE, "x", "x", 1, NULL);
        metrics_add(m, METRIC_COUNTER, "x", "x", 1, NULL);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*both as a gauge and a counter*");
}

/* The file is replaced whole, readable by others whatever the umask,
 * and no scratch file is left beside it. */
static void test_write_file(void)
{
    g_autofree char *dir = g_dir_make_tmp("aos-metrics-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "d.prom", NULL);
    g_autofree char *back = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(GDir) d = NULL;
    struct stat st;
    mode_t old = umask(077);
    guint entries = 0;

    g_assert_true(metrics_check_path(path, &err));
    g_assert_no_error(err);
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    g_assert_true(metrics_write_file(path, "first\n", &err));
    g_assert_true(metrics_write_file(path, "second\n", &err));
    g_assert_no_error(err);
    umask(old);
    g_assert_true(g_file_get_contents(path, &back, NULL, NULL));
    g_assert_cmpstr(back, ==, "second\n");
    g_assert_cmpint(g_stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0644);
    d = g_dir_open(dir, 0, NULL);
    while (g_dir_read_name(d))
        entries++;
    g_assert_cmpuint(entries, ==, 1);
    g_remove(path);
    g_rmdir(dir);
}

static void test_unwritable(void)
{
    g_autofree char *dir = g_dir_make_tmp("aos-metrics-XXXXXX", NULL);
    g_autofree char *missing = g_build_filename(dir, "no", "d.prom", NULL);
    g_autoptr(GError) err = NULL;

    g_assert_false(metrics_check_path(missing, &err));
    g_assert_error(err, G_FILE_ERROR, G_FILE_ERROR_NOENT);
    g_assert_nonnull(strstr(err->message, missing));
    g_clear_error(&err);
    g_assert_false(metrics_write_file(missing, "x\n", &err));
    g_assert_error(err, G_FILE_ERROR, G_FILE_ERROR_NOENT);
    g_clear_error(&err);
    /* A directory where the file should be: the rename could never
     * replace it. */
    g_assert_false(metrics_check_path(dir, &err));
    g_assert_error(err, G_FILE_ERROR, G_FILE_ERROR_ISDIR);
    g_rmdir(dir);
}

typedef struct {
    guint64 watchdog_us;
    double interval_s;
    gboolean fits;
    const char *says; /* in the message when it does not fit */
} WatchdogCase;

static void test_watchdog(void)
{
    const WatchdogCase cases[] = {
        {0, 2, TRUE, NULL},
        {60 * G_USEC_PER_SEC, 2, TRUE, NULL},
        {4 * G_USEC_PER_SEC, 2, TRUE, NULL},
        {4 * G_USEC_PER_SEC - 1, 2, FALSE, "set WatchdogSec=4 or more"},
        {1 * G_USEC_PER_SEC, 2, FALSE,
         "timeout of 1 s (WatchdogSec=) is shorter than twice the interval of "
         "2 s"},
        {60 * G_USEC_PER_SEC, 45, FALSE, "WatchdogSec=90 or more"},
        {500000, 0.2, TRUE, NULL},
        {300000, 0.2, FALSE, "WatchdogSec=1 or more"},
    };
    guint i;

    g_assert_cmpuint(notify_watchdog_min_us(2), ==, 4 * G_USEC_PER_SEC);
    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        const WatchdogCase *c = &cases[i];
        g_autoptr(GError) err = NULL;
        gboolean fits =
            notify_watchdog_fits(c->watchdog_us, c->interval_s, &err);

        g_test_message("watchdog %" G_GUINT64_FORMAT " us, interval %g s",
                       c->watchdog_us, c->interval_s);
        g_assert_cmpint(fits, ==, c->fits);
        if (c->fits) {
            g_assert_no_error(err);
        } else {
            g_assert_error(err, NOTIFY_ERROR, NOTIFY_ERROR_WATCHDOG);
            g_test_message("%s", err->message);
            g_assert_nonnull(strstr(err->message, c->says));
        }
    }
}

typedef struct {
    gint64 prev_us;
    gint64 start_us;
    double interval_s;
    gboolean late;
} LateCase;

static void test_late(void)
{
    const LateCase cases[] = {
        {0, 5000000, 1, FALSE},       /* the first tick */
        {1000000, 2000000, 1, FALSE}, /* on time */
        {1000000, 2500000, 1, FALSE}, /* half an interval: still on time */
        {1000000, 2500001, 1, TRUE},
        {1000000, 9000000, 2, TRUE},
        {1000000, 1000000, 1, FALSE},
        {2000000, 1000000, 1, FALSE}, /* clock order broken: not late */
    };
    guint i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        const LateCase *c = &cases[i];

        g_assert_cmpint(
            daemon_tick_is_late(c->prev_us, c->start_us, c->interval_s), ==,
            c->late);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/metrics/names", test_names);
    g_test_add_func("/metrics/values", test_values);
    g_test_add_func("/metrics/escape", test_escape);
    g_test_add_func("/metrics/text", test_text);
    g_test_add_func("/metrics/bad-name", test_bad_names);
    g_test_add_func("/metrics/bad-label", test_bad_label);
    g_test_add_func("/metrics/kind-clash", test_kind_clash);
    g_test_add_func("/metrics/write-file", test_write_file);
    g_test_add_func("/metrics/unwritable", test_unwritable);
    g_test_add_func("/notify/watchdog-min", test_watchdog);
    g_test_add_func("/daemon/tick-late", test_late);
    return g_test_run();
}
