/* Config loading and the command line, as tables of inputs and outcomes. */
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"

typedef struct {
    const char *name;
    const char *text;
    gboolean ok;
    const char *needle; /* expected in the error message, or a check key */
} ConfigCase;

static const ConfigCase config_cases[] = {
    {"empty", "", TRUE, NULL},
    {"comment-only", "# nothing\n", TRUE, NULL},
    {"interval", "[daemon]\ninterval=1.5\n", TRUE, NULL},
    {"policy-idle-tax", "[memory]\npolicy=idle-tax\n", TRUE, NULL},
    {"shares", "[memory]\nshares=aos_vm1=2000;aos_vm2=500\n", TRUE, NULL},
    {"not-keyfile", "this is not a key file\n", FALSE, "cfg"},
    {"unknown-group", "[nonsense]\nx=1\n", FALSE, "unknown group [nonsense]"},
    {"unknown-key", "[daemon]\nintervall=2\n", FALSE,
     "unknown key 'intervall' in [daemon]"},
    {"interval-text", "[daemon]\ninterval=fast\n", FALSE, "[daemon] interval"},
    {"interval-zero", "[daemon]\ninterval=0\n", FALSE, "out of range"},
    {"interval-negative", "[daemon]\ninterval=-1\n", FALSE, "out of range"},
    {"interval-nan", "[daemon]\ninterval=nan\n", FALSE, "[daemon] interval"},
    {"reserve-negative", "[memory]\nhost_reserve_mib=-5\n", FALSE,
     "not a whole number"},
    {"floor-too-small", "[memory]\nguest_floor_mib=1\n", FALSE, "out of range"},
    {"bad-policy", "[memory]\npolicy=greedy\n", FALSE,
     "expected course or idle-tax"},
    {"bad-mode", "[migration]\nmode=sometimes\n", FALSE,
     "expected off, advise or execute"},
    {"mode-without-peers", "[migration]\nmode=advise\n", FALSE,
     "needs at least one peer"},
    {"bad-shares", "[memory]\nshares=aos_vm1\n", FALSE, "not name=N"},
    {"budget-below-floor", "[memory]\nguest_budget_mib=100\n", FALSE,
     "below guest_floor_mib"},
    {"bool-garbage", "[daemon]\nverbose=perhaps\n", FALSE, "[daemon] verbose"},
    {"empty-uri", "[daemon]\nuri=\n", FALSE, "must not be empty"},
    {"tax-rate-1", "[memory]\ntax_rate=1\n", FALSE, "out of range"},
    {"interval-hex", "[daemon]\ninterval=0x10\n", FALSE,
     "[daemon] interval"},
    {"threshold-hex", "[vcpu]\nsd_threshold=0x5\n", FALSE,
     "[vcpu] sd_threshold"},
    {"interval-inf", "[daemon]\ninterval=inf\n", FALSE, "[daemon] interval"},
};

static void test_config_table(void)
{
    guint i;

    for (i = 0; i < G_N_ELEMENTS(config_cases); i++) {
        const ConfigCase *c = &config_cases[i];
        Config cfg;
        g_autoptr(GError) err = NULL;
        gboolean ok;

        config_defaults(&cfg);
        ok = config_load_data(&cfg, c->text, strlen(c->text), "cfg", &err);
        g_test_message("case %s: %s", c->name, err ? err->message : "ok");
        g_assert_cmpint(ok, ==, c->ok);
        if (!ok) {
            g_assert_nonnull(err);
            g_assert_nonnull(strstr(err->message, c->needle));
            /* A bad file changes nothing. */
            g_assert_cmpfloat(cfg.interval_s, ==, 2.0);
            g_assert_cmpint(cfg.mem_policy, ==, MEM_POLICY_COURSE);
        }
        config_clear(&cfg);
    }
}

static void test_config_values(void)
{
    Config cfg;
    g_autoptr(GError) err = NULL;
    static const char text[] = "[daemon]\ninterval=1.5\nuri=test:///default\n"
                               "[memory]\npolicy=idle-tax\n"
                               "shares=aos_vm1=2000;aos_vm2=500\n"
                               "host_reserve_mib=300\n";

    config_defaults(&cfg);
    g_assert_true(
        config_load_data(&cfg, text, sizeof(text) - 1, "cfg", &err));
    g_assert_no_error(err);
    g_assert_cmpfloat(cfg.interval_s, ==, 1.5);
    g_assert_cmpstr(cfg.uri, ==, "test:///default");
    g_assert_cmpint(cfg.mem_policy, ==, MEM_POLICY_IDLE_TAX);
    g_assert_cmpuint(cfg.host_reserve_mib, ==, 300);
    g_assert_cmpuint(config_shares_for(&cfg, "aos_vm1"), ==, 2000);
    g_assert_cmpuint(config_shares_for(&cfg, "aos_vm2"), ==, 500);
    g_assert_cmpuint(config_shares_for(&cfg, "aos_vm"), ==,
                     CONFIG_DEFAULT_SHARES);
    config_clear(&cfg);
}

typedef struct {
    const char *name;
    const char *argv[6];
    int exit_code;      /* of cli_parse + cli_build_config */
    double interval;    /* when exit_code is 0 */
    const char *needle; /* in the error message */
} CliCase;

static const CliCase cli_cases[] = {
    {"course-form", {"prog", "2"}, EXIT_OK, 2.0, NULL},
    {"fraction", {"prog", "0.5"}, EXIT_OK, 0.5, NULL},
    {"option-form", {"prog", "--interval", "3"}, EXIT_OK, 3.0, NULL},
    {"once-dry", {"prog", "1", "--once", "--dry-run"}, EXIT_OK, 1.0, NULL},
    {"missing", {"prog"}, EXIT_USAGE, 0, "missing interval"},
    {"text", {"prog", "abc"}, EXIT_USAGE, 0, "not a number"},
    {"zero", {"prog", "0"}, EXIT_USAGE, 0, "greater than zero"},
    {"negative", {"prog", "--", "-2"}, EXIT_USAGE, 0, "greater than zero"},
    {"trailing", {"prog", "2s"}, EXIT_USAGE, 0, "not a number"},
    {"inf", {"prog", "inf"}, EXIT_USAGE, 0, "not a number"},
    {"two", {"prog", "1", "2"}, EXIT_USAGE, 0, "one interval"},
    {"both", {"prog", "1", "--interval", "2"}, EXIT_USAGE, 0, "not both"},
    {"unknown-option",
     {"prog", "1", "--frobnicate"},
     EXIT_USAGE,
     0,
     "frobnicate"},
    {"bad-policy",
     {"prog", "1", "--policy", "x"},
     EXIT_USAGE,
     0,
     "course or idle-tax"},
    {"bad-budget",
     {"prog", "1", "--budget-mib", "lots"},
     EXIT_USAGE,
     0,
     "whole number"},
    {"missing-config",
     {"prog", "1", "--config", "/nonexistent/x.conf"},
     EXIT_CONFIG,
     0,
     "/nonexistent/x.conf"},
    {"tiny", {"prog", "0.001"}, EXIT_USAGE, 0, "out of range"},
    /* strtod reads hexadecimal and skips leading blanks; a number of
     * seconds is written in decimal, as typed. */
    {"hex", {"prog", "0x10"}, EXIT_USAGE, 0, "not a number"},
    {"leading-blank", {"prog", " 1"}, EXIT_USAGE, 0, "not a number"},
    {"trailing-blank", {"prog", "1 "}, EXIT_USAGE, 0, "not a number"},
    {"hex-option", {"prog", "--interval", "0x1p1"}, EXIT_USAGE, 0,
     "not a number"},
    {"exponent", {"prog", "2e0"}, EXIT_OK, 2.0, NULL},
    /* A negative option value is that option's problem, not the
     * interval's. */
    {"negative-budget",
     {"prog", "1", "--budget-mib", "-5"},
     EXIT_USAGE,
     0,
     "[memory] guest_budget_mib"},
    {"negative-budget-eq",
     {"prog", "1", "--budget-mib=-5"},
     EXIT_USAGE,
     0,
     "[memory] guest_budget_mib"},
    {"negative-threshold",
     {"prog", "--threshold", "-1", "1"},
     EXIT_USAGE,
     0,
     "[vcpu] sd_threshold"},
    {"negative-after-value",
     {"prog", "--threshold", "3", "-4"},
     EXIT_USAGE,
     0,
     "interval '-4' must be greater than zero"},
};

static void test_cli_table(void)
{
    const CliSpec spec = {
        .prog = "prog", .summary = "s", .memory = TRUE, .vcpu = TRUE};
    guint i;

    for (i = 0; i < G_N_ELEMENTS(cli_cases); i++) {
        const CliCase *c = &cli_cases[i];
        CliResult r = {0};
        Config cfg;
        g_autoptr(GError) err = NULL;
        int argc = 0;
        int rc;

        while (c->argv[argc])
            argc++;
        config_defaults(&cfg);
        if (!cli_parse(&spec, argc, (char **)c->argv, &r, &err))
            rc = EXIT_USAGE;
        else
            rc = cli_build_config(&r, &cfg, &err);
        g_test_message("case %s: rc %d %s", c->name, rc,
                       err ? err->message : "");
        g_assert_cmpint(rc, ==, c->exit_code);
        if (rc == EXIT_OK)
            g_assert_cmpfloat(cfg.interval_s, ==, c->interval);
        else
            g_assert_nonnull(strstr(err->message, c->needle));
        config_clear(&cfg);
        cli_result_clear(&r);
    }
}

/* The command line wins over the file. */
static void test_cli_overrides_file(void)
{
    const CliSpec spec = {.prog = "prog", .summary = "s", .memory = TRUE};
    g_autofree char *path = NULL;
    int fd;
    const char *argv[] = {"prog",     "1",        "--config", NULL,
                          "--policy", "idle-tax", NULL};
    CliResult r = {0};
    Config cfg;
    g_autoptr(GError) err = NULL;

    fd = g_file_open_tmp("cfg-XXXXXX.conf", &path, &err);
    g_assert_no_error(err);
    close(fd);
    g_assert_true(g_file_set_contents(
        path,
        "[daemon]\ninterval=5\n[memory]\npolicy=course\nhost_reserve_mib=400\n",
        -1, &err));
    argv[3] = path;
    config_defaults(&cfg);
    g_assert_true(cli_parse(&spec, 6, (char **)argv, &r, &err));
    g_assert_cmpint(cli_build_config(&r, &cfg, &err), ==, EXIT_OK);
    g_assert_cmpfloat(cfg.interval_s, ==, 1.0);
    g_assert_cmpint(cfg.mem_policy, ==, MEM_POLICY_IDLE_TAX);
    g_assert_cmpuint(cfg.host_reserve_mib, ==, 400);
    g_unlink(path);
    config_clear(&cfg);
    cli_result_clear(&r);
}

/* A file is read whole: a NUL byte must not hide what follows it (here
 * a misspelt key that would otherwise be reported). */
static void test_config_nul_byte(void)
{
    static const char text[] = "[daemon]\ninterval=1\n\0intervall=2\n";
    g_autofree char *path = NULL;
    g_autoptr(GError) err = NULL;
    Config cfg;
    int fd;

    fd = g_file_open_tmp("cfg-XXXXXX.conf", &path, &err);
    g_assert_no_error(err);
    close(fd);
    g_assert_true(g_file_set_contents(path, text, sizeof(text) - 1, &err));
    config_defaults(&cfg);
    g_assert_false(config_load_file(&cfg, path, &err));
    g_assert_nonnull(err);
    g_test_message("%s", err->message);
    g_assert_nonnull(strstr(err->message, path));
    g_assert_nonnull(strstr(err->message, "NUL byte at offset 20"));
    g_assert_cmpfloat(cfg.interval_s, ==, 2.0);
    g_unlink(path);
    config_clear(&cfg);
}

/* The shipped config files load cleanly and keep the documented defaults. */
static void test_shipped_configs(void)
{
    const char *paths[] = {"conf/vcpu-scheduler.conf",
                           "conf/memory-coordinator.conf"};
    guint i;

    for (i = 0; i < G_N_ELEMENTS(paths); i++) {
        Config defaults;
        Config cfg;
        g_autoptr(GError) err = NULL;

        config_defaults(&defaults);
        config_defaults(&cfg);
        g_assert_true(config_load_file(&cfg, paths[i], &err));
        g_assert_no_error(err);
        g_assert_cmpstr(cfg.uri, ==, defaults.uri);
        g_assert_cmpfloat(cfg.sd_threshold, ==, defaults.sd_threshold);
        g_assert_cmpuint(cfg.host_reserve_mib, ==, defaults.host_reserve_mib);
        g_assert_cmpuint(cfg.min_unused_mib, ==, defaults.min_unused_mib);
        g_assert_cmpfloat(cfg.tax_rate, ==, defaults.tax_rate);
        config_clear(&cfg);
        config_clear(&defaults);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/config/table", test_config_table);
    g_test_add_func("/config/values", test_config_values);
    g_test_add_func("/config/shipped", test_shipped_configs);
    g_test_add_func("/config/nul-byte", test_config_nul_byte);
    g_test_add_func("/cli/table", test_cli_table);
    g_test_add_func("/cli/overrides-file", test_cli_overrides_file);
    return g_test_run();
}
