/* tsc_calc, the operator's tool for the migration time-data maths, run as
 * a program: the published figures in decimal, hexadecimal and from wall
 * clocks, every bad input and its exit status, the help. */
#include <string.h>
#include <sys/wait.h>

#include <glib.h>

#include "test_fixture.h"
#include "test_tsc_figures.h"
#include "tsc.h"

/* The tree's root: G_TEST_SRCDIR if set, else two levels above this
 * program (build/tests/test_tsc). */
static char *tsc_calc_path(void)
{
    g_autofree char *root = NULL;

    if (g_getenv("TSC_CALC"))
        return g_strdup(g_getenv("TSC_CALC"));
    root = tree_root();
    return g_build_filename(root, "tools", "tsc_calc", NULL);
}

static int run_tsc_calc(const char *const *args, char **out, char **err)
{
    g_autofree char *prog = tsc_calc_path();
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    int status = -1;

    if (!g_file_test(prog, G_FILE_TEST_IS_EXECUTABLE))
        g_error("%s is not built; run 'make tools/tsc_calc' (or 'make') "
                "before the unit tests",
                prog);
    g_ptr_array_add(argv, prog);
    for (; *args; args++)
        g_ptr_array_add(argv, (gpointer)*args);
    g_ptr_array_add(argv, NULL);

    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL,
                               G_SPAWN_DEFAULT, NULL, NULL, out, err, &status,
                               &error));
    g_assert_no_error(error);
    g_assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* The value printed on the line starting with name, or FALSE. */
static gboolean output_value(const char *out, const char *name, guint64 *v)
{
    g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
    gsize i;

    for (i = 0; lines[i]; i++) {
        g_auto(GStrv) fields = g_strsplit_set(lines[i], " ", -1);
        gsize f;

        if (!fields[0] || !g_str_equal(fields[0], name))
            continue;
        for (f = 1; fields[f] && !*fields[f]; f++)
            ;
        if (!fields[f])
            return FALSE;
        return tsc_parse_u64(fields[f], FALSE, v, NULL);
    }
    return FALSE;
}

static void check_published_output(const char *out)
{
    static const struct {
        const char *name;
        guint64 want;
    } lines[] = {
        {"guest_hz", PUB_GUEST_HZ},
        {"migration_delta_ns", PUB_DELTA_NS},
        {"guest_uptime_ns", PUB_UPTIME},
        {"tsc_delta", PUB_TSC_DELTA},
        {"guest_tsc", PUB_GUEST_TSC},
        {"new_guest_tsc", PUB_NEW_TSC},
        {"new_boot_hrtime", PUB_NEW_BOOT},
        {"amd_multiplier_8_32", PUB_AMD_MULT},
        {"intel_multiplier_16_48", PUB_INTEL_MULT},
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(lines); i++) {
        guint64 v = 0;

        if (!output_value(out, lines[i].name, &v))
            g_error("tsc_calc output lacks %s:\n%s", lines[i].name, out);
        g_assert_cmpuint(v, ==, lines[i].want);
    }
    g_assert_nonnull(strstr(out, "new_guest_tsc          2330632882546 "
                                 "(0x21ea48b8972)\n"));
}

static void test_calc_published(void)
{
    static const char *const dec[] = {
        "--guest-hz=2649958945",       "--guest-tsc=2330632597459",
        "--src-hrtime=18028032305249", "--src-boot-hrtime=17148534696948",
        "--dst-hrtime=18018796793122", "--delta-ns=107582",
        "--host-hz=2596120000",        NULL,
    };
    static const char *const hex[] = {
        "--guest-hz=0x9df32a21",       "--guest-tsc=0x21EA4872FD3",
        "--src-hrtime=0x10657a762861", "--src-boot-hrtime=0xf98b451abf4",
        "--dst-hrtime=0x106353fb6d22", "--delta-ns=0x1a43e",
        "--host-hz=0x9abda5c0",        NULL,
    };
    /* the same delta from two wall clocks */
    static const char *const wall[] = {
        "--guest-hz=2649958945",
        "--guest-tsc=2330632597459",
        "--src-hrtime=18028032305249",
        "--src-boot-hrtime=17148534696948",
        "--dst-hrtime=18018796793122",
        "--src-wall-ns=1700000000000000000",
        "--dst-wall-ns=1700000000000107582",
        "--host-hz=2596120000",
        NULL,
    };
    const char *const *runs[] = {dec, hex, wall};
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(runs); i++) {
        g_autofree char *out = NULL;
        g_autofree char *err = NULL;

        g_test_message("run %zu", i);
        g_assert_cmpint(run_tsc_calc(runs[i], &out, &err), ==, 0);
        g_test_message("%s", out);
        g_assert_cmpstr(err, ==, "");
        check_published_output(out);
    }
}

typedef struct {
    const char *name;
    const char *args[4];
    int status;
    const char *stderr_part; /* NULL: stderr must be empty */
    const char *stdout_part; /* NULL: stdout must be empty */
} CalcCase;

static const CalcCase calc_cases[] = {
    {.name = "negative",
     .args = {"--guest-hz=-5"},
     .status = 2,
     .stderr_part = "--guest-hz: '-5'"},
    {.name = "garbage",
     .args = {"--delta-ns=12ms"},
     .status = 2,
     .stderr_part = "--delta-ns: '12ms'"},
    {.name = "too large",
     .args = {"--guest-hz=0x10000000000000000"},
     .status = 2,
     .stderr_part = "does not fit in 64 bits"},
    {.name = "unknown option",
     .args = {"--guest-mhz=2600"},
     .status = 2,
     .stderr_part = "guest-mhz"},
    {.name = "stray argument",
     .args = {"--guest-hz=1", "extra"},
     .status = 2,
     .stderr_part = "'extra'"},
    {.name = "nothing asked",
     .status = 2,
     .stderr_part = "nothing to calculate"},
    {.name = "delta twice",
     .args = {"--delta-ns=1", "--src-wall-ns=1", "--dst-wall-ns=2"},
     .status = 2,
     .stderr_part = "not both"},
    {.name = "half a wall pair",
     .args = {"--src-wall-ns=1"},
     .status = 2,
     .stderr_part = "go together"},
    {.name = "half an hrtime pair",
     .args = {"--src-hrtime=1"},
     .status = 2,
     .stderr_part = "go together"},
    {.name = "host without guest",
     .args = {"--host-hz=1"},
     .status = 2,
     .stderr_part = "--host-hz needs --guest-hz"},
    {.name = "underflowing uptime",
     .args = {"--src-hrtime=100", "--src-boot-hrtime=200"},
     .status = 1,
     .stdout_part = "guest_uptime_ns        error: source boot_hrtime 200 ns "
                    "is after source hrtime 100 ns"},
    {.name = "multiplier out of range",
     .args = {"--guest-hz=256000", "--host-hz=1000"},
     .status = 1,
     .stdout_part = "amd_multiplier_8_32    error:"},
    {.name = "clamped wall clocks",
     .args = {"--src-wall-ns=2000", "--dst-wall-ns=1000"},
     .status = 0,
     .stdout_part = "migration_delta_ns     0 (0x0)"},
    {.name = "tsc overflow",
     .args = {"--guest-hz=1000000000", "--guest-tsc=0xffffffffffffffff",
              "--delta-ns=1"},
     .status = 1,
     .stdout_part = "new_guest_tsc          error:"},
};

static void test_calc_errors(void)
{
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(calc_cases); i++) {
        const CalcCase *tc = &calc_cases[i];
        const char *argv[G_N_ELEMENTS(tc->args) + 1] = {NULL};
        g_autofree char *out = NULL;
        g_autofree char *err = NULL;

        memcpy(argv, tc->args, sizeof(tc->args));
        g_test_message("case %s", tc->name);
        g_assert_cmpint(run_tsc_calc(argv, &out, &err), ==, tc->status);
        g_test_message("stdout: %s\nstderr: %s", out, err);
        if (tc->stderr_part)
            g_assert_nonnull(strstr(err, tc->stderr_part));
        else
            g_assert_cmpstr(err, ==, "");
        if (tc->stdout_part)
            g_assert_nonnull(strstr(out, tc->stdout_part));
        else
            g_assert_cmpstr(out, ==, "");
    }
}

static void test_calc_help(void)
{
    static const char *const args[] = {"--help", NULL};
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    g_assert_cmpint(run_tsc_calc(args, &out, &err), ==, 0);
    g_assert_nonnull(strstr(out, "Exit status:"));
    g_assert_nonnull(strstr(out, "0x prefix"));
    g_assert_nonnull(strstr(out, "--src-boot-hrtime"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tsc_calc/published", test_calc_published);
    g_test_add_func("/tsc_calc/errors", test_calc_errors);
    g_test_add_func("/tsc_calc/help", test_calc_help);
    return g_test_run();
}
