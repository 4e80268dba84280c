/* Config loading and the command line, as tables of inputs and outcomes,
 * through each daemon's own keys and options. */
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "../../memory_coordinator/mem_config.h"
#include "../../memory_coordinator/ops.h"
#include "../../vcpu_scheduler/ops.h"
#include "../../vcpu_scheduler/vcpu_config.h"
#include "cli.h"
#include "config.h"

#define MEM (&memory_coordinator_ops.cli)
#define VCPU (&vcpu_scheduler_ops.cli)

typedef struct {
    const char *name;
    const CliSpec *daemon; /* whose keys: MEM or VCPU */
    const char *text;
    gboolean ok;
    const char *needle; /* expected in the error message */
} ConfigCase;

static const ConfigCase config_cases[] = {
    {.name = "empty", .daemon = MEM, .text = "", .ok = TRUE},
    {.name = "comment-only", .daemon = MEM, .text = "# nothing\n", .ok = TRUE},
    {.name = "interval",
     .daemon = VCPU,
     .text = "[daemon]\ninterval=1.5\n",
     .ok = TRUE},
    {.name = "policy-idle-tax",
     .daemon = MEM,
     .text = "[memory]\npolicy=idle-tax\n",
     .ok = TRUE},
    {.name = "shares",
     .daemon = MEM,
     .text = "[memory]\nshares=aos_vm1=2000;aos_vm2=500\n",
     .ok = TRUE},
    {.name = "threshold",
     .daemon = VCPU,
     .text = "[vcpu]\nsd_threshold=3\n",
     .ok = TRUE},
    {.name = "migration",
     .daemon = VCPU,
     .text = "[migration]\nmode=advise\npeers=test:///default\n",
     .ok = TRUE},
    {.name = "execute-peer-with-uuid",
     .daemon = MEM,
     .text = "[migration]\nmode=execute\npeers=qemu+tls://b/system="
             "4C4C4544-0042-4a10-8051-b2c04f4e3232;qemu+ssh://c/system?"
             "keyfile=/k=4c4c4544-0042-4a10-8051-b2c04f4e3233\n",
     .ok = TRUE},
    {.name = "execute-plain-tcp",
     .daemon = MEM,
     .text = "[migration]\nmode=execute\npeers=qemu+tls://a/system="
             "4c4c4544-0042-4a10-8051-b2c04f4e3231;QEMU+TCP://b/system="
             "4c4c4544-0042-4a10-8051-b2c04f4e3232\n",
     .needle = "[migration] peers: 'QEMU+TCP://b/system="
               "4c4c4544-0042-4a10-8051-b2c04f4e3232' is reached over plain "
               "TCP"},
    {.name = "execute-plain-tcp-allowed",
     .daemon = VCPU,
     .text = "[migration]\nmode=execute\nallow_insecure=true\npeers=qemu+tcp:"
             "//b/system=4c4c4544-0042-4a10-8051-b2c04f4e3232\n",
     .ok = TRUE},
    {.name = "advise-plain-tcp",
     .daemon = VCPU,
     .text = "[migration]\nmode=advise\npeers=qemu+tcp://b/system\n",
     .ok = TRUE},
    {.name = "execute-peer-without-uuid",
     .daemon = MEM,
     .text = "[migration]\nmode=execute\npeers=qemu+tls://b/system="
             "4c4c4544-0042-4a10-8051-b2c04f4e3232;test:///default\n",
     .needle = "[migration] peers: 'test:///default' names no host UUID, "
               "which mode=execute needs"},
    {.name = "peer-no-verify",
     .daemon = VCPU,
     .text = "[migration]\nmode=advise\npeers=qemu+tls://b/system?"
             "no_verify=1\n",
     .needle = "no_verify turns off the check of the peer's certificate"},
    {.name = "peer-listed-twice",
     .daemon = VCPU,
     .text = "[migration]\nmode=advise\npeers=qemu+tcp://b/system;"
             "qemu+tcp://b/system=4c4c4544-0042-4a10-8051-b2c04f4e3232\n",
     .needle = "is listed twice"},
    {.name = "peer-not-a-uri",
     .daemon = VCPU,
     .text = "[migration]\nmode=advise\npeers=qemu+tcp://b:port/system\n",
     .needle = "not a URI"},
    {.name = "not-keyfile",
     .daemon = MEM,
     .text = "this is not a key file\n",
     .needle = "cfg"},
    {.name = "unknown-group",
     .daemon = MEM,
     .text = "[nonsense]\nx=1\n",
     .needle = "unknown group [nonsense]"},
    /* A daemon knows its own group, not another daemon's. */
    {.name = "vcpu-group-in-memory",
     .daemon = MEM,
     .text = "[vcpu]\nsd_threshold=3\n",
     .needle = "unknown group [vcpu]"},
    {.name = "memory-group-in-vcpu",
     .daemon = VCPU,
     .text = "[memory]\nhost_reserve_mib=300\n",
     .needle = "unknown group [memory]"},
    {.name = "unknown-key",
     .daemon = VCPU,
     .text = "[daemon]\nintervall=2\n",
     .needle = "unknown key 'intervall' in [daemon]"},
    {.name = "interval-text",
     .daemon = MEM,
     .text = "[daemon]\ninterval=fast\n",
     .needle = "[daemon] interval"},
    {.name = "interval-zero",
     .daemon = MEM,
     .text = "[daemon]\ninterval=0\n",
     .needle = "out of range"},
    {.name = "interval-negative",
     .daemon = VCPU,
     .text = "[daemon]\ninterval=-1\n",
     .needle = "out of range"},
    {.name = "interval-nan",
     .daemon = MEM,
     .text = "[daemon]\ninterval=nan\n",
     .needle = "[daemon] interval"},
    {.name = "reserve-negative",
     .daemon = MEM,
     .text = "[memory]\nhost_reserve_mib=-5\n",
     .needle = "not a whole number"},
    {.name = "floor-too-small",
     .daemon = MEM,
     .text = "[memory]\nguest_floor_mib=1\n",
     .needle = "out of range"},
    {.name = "bad-policy",
     .daemon = MEM,
     .text = "[memory]\npolicy=greedy\n",
     .needle = "expected course or idle-tax"},
    {.name = "bad-mode",
     .daemon = MEM,
     .text = "[migration]\nmode=sometimes\n",
     .needle = "expected off, advise or execute"},
    {.name = "mode-without-peers",
     .daemon = VCPU,
     .text = "[migration]\nmode=advise\n",
     .needle = "needs at least one peer"},
    {.name = "bad-shares",
     .daemon = MEM,
     .text = "[memory]\nshares=aos_vm1\n",
     .needle = "not name=N"},
    {.name = "budget-below-floor",
     .daemon = MEM,
     .text = "[memory]\nguest_budget_mib=100\n",
     .needle = "below guest_floor_mib"},
    {.name = "bool-garbage",
     .daemon = MEM,
     .text = "[daemon]\nverbose=perhaps\n",
     .needle = "[daemon] verbose"},
    {.name = "empty-uri",
     .daemon = VCPU,
     .text = "[daemon]\nuri=\n",
     .needle = "must not be empty"},
    {.name = "tax-rate-1",
     .daemon = MEM,
     .text = "[memory]\ntax_rate=1\n",
     .needle = "out of range"},
    {.name = "interval-hex",
     .daemon = MEM,
     .text = "[daemon]\ninterval=0x10\n",
     .needle = "[daemon] interval"},
    {.name = "threshold-hex",
     .daemon = VCPU,
     .text = "[vcpu]\nsd_threshold=0x5\n",
     .needle = "[vcpu] sd_threshold"},
    {.name = "interval-inf",
     .daemon = VCPU,
     .text = "[daemon]\ninterval=inf\n",
     .needle = "[daemon] interval"},
};

static void test_config_table(void)
{
    guint i;

    for (i = 0; i < G_N_ELEMENTS(config_cases); i++) {
        const ConfigCase *c = &config_cases[i];
        const ConfigSchema *s = c->daemon->config;
        g_autofree char *cfg = g_malloc0(s->size);
        g_autofree char *before = g_malloc0(s->size);
        const DaemonConfig *d = (const DaemonConfig *)cfg;
        g_autoptr(GError) err = NULL;
        gboolean ok;

        config_init(s, cfg);
        config_init(s, before);
        ok = config_load_data(s, cfg, c->text, strlen(c->text), "cfg", &err);
        g_test_message("case %s: %s", c->name, err ? err->message : "ok");
        g_assert_cmpint(ok, ==, c->ok);
        if (!ok) {
            g_assert_nonnull(err);
            g_assert_nonnull(strstr(err->message, c->needle));
            /* A bad file changes nothing. */
            g_assert_cmpfloat(d->interval_s, ==, 2.0);
            g_assert_cmpstr(d->uri, ==, ((DaemonConfig *)before)->uri);
            if (c->daemon == MEM)
                g_assert_cmpint(((MemConfig *)cfg)->mem_policy, ==,
                                MEM_POLICY_COURSE);
        }
        config_clear(s, cfg);
        config_clear(s, before);
    }
}

static void test_config_values(void)
{
    static const char text[] = "[daemon]\ninterval=1.5\nuri=test:///default\n"
                               "[memory]\npolicy=idle-tax\n"
                               "shares=aos_vm1=2000;aos_vm2=500\n"
                               "host_reserve_mib=300\n"
                               "[migration]\noverload_util=80\n";
    MemConfig cfg;
    MemConfig copy;
    g_autoptr(GError) err = NULL;

    config_init(&mem_config_schema, &cfg);
    g_assert_true(config_load_data(&mem_config_schema, &cfg, text,
                                   sizeof(text) - 1, "cfg", &err));
    g_assert_no_error(err);
    g_assert_cmpfloat(cfg.daemon.interval_s, ==, 1.5);
    g_assert_cmpstr(cfg.daemon.uri, ==, "test:///default");
    g_assert_cmpint(cfg.mem_policy, ==, MEM_POLICY_IDLE_TAX);
    g_assert_cmpuint(cfg.host_reserve_mib, ==, 300);
    /* The same key is the reserve a migration peer must keep. */
    g_assert_cmpuint(cfg.migration.host_reserve_mib, ==, 300);
    g_assert_cmpfloat(cfg.migration.overload_util, ==, 80);
    g_assert_cmpuint(mem_config_shares_for(&cfg, "aos_vm1"), ==, 2000);
    g_assert_cmpuint(mem_config_shares_for(&cfg, "aos_vm2"), ==, 500);
    g_assert_cmpuint(mem_config_shares_for(&cfg, "aos_vm"), ==,
                     MEM_DEFAULT_SHARES);

    /* A copy owns its strings: clearing the original leaves it whole. */
    config_copy(&mem_config_schema, &copy, &cfg);
    config_clear(&mem_config_schema, &cfg);
    g_assert_cmpstr(copy.daemon.uri, ==, "test:///default");
    g_assert_cmpstr(copy.shares[1], ==, "aos_vm2=500");
    config_clear(&mem_config_schema, &copy);
}

/* A CPU list is parsed once, when read: the config holds its ids, a copy
 * owns them, and two spellings of one set are the same setting. */
static void test_config_cpulist(void)
{
    static const char text[] = "[vcpu]\nexclude_cpus = 0-3,^2\n";
    static const char same[] = "[vcpu]\nexclude_cpus=0,1,3\n";
    static const char other[] = "[vcpu]\nexclude_cpus=0,1\n";
    static const char bad[] = "[vcpu]\nexclude_cpus=1-\n";
    static const char cleared[] = "[vcpu]\nexclude_cpus=\n";
    static const char blank[] = "[vcpu]\nexclude_cpus= \t \n";
    static const guint want[] = {0, 1, 3};
    VcpuConfig cfg;
    VcpuConfig copy;
    VcpuConfig b;
    VcpuConfig none;
    g_autoptr(GError) err = NULL;

    config_init(&vcpu_config_schema, &cfg);
    config_init(&vcpu_config_schema, &none);
    g_assert_null(cfg.exclude_cpus.ids);
    g_assert_true(config_load_data(&vcpu_config_schema, &cfg, text,
                                   sizeof(text) - 1, "cfg", &err));
    g_assert_no_error(err);
    g_assert_cmpstr(cfg.exclude_cpus.text, ==, "0-3,^2");
    g_assert_cmpmem(cfg.exclude_cpus.ids->data,
                    cfg.exclude_cpus.ids->len * sizeof(guint), want,
                    sizeof(want));
    g_assert_false(config_equal(&vcpu_config_schema, &cfg, &none));

    config_copy(&vcpu_config_schema, &copy, &cfg);
    config_clear(&vcpu_config_schema, &cfg);
    g_assert_null(cfg.exclude_cpus.ids);
    g_assert_cmpstr(copy.exclude_cpus.text, ==, "0-3,^2");
    g_assert_cmpuint(copy.exclude_cpus.ids->len, ==, 3);

    config_init(&vcpu_config_schema, &b);
    g_assert_true(config_load_data(&vcpu_config_schema, &b, same,
                                   sizeof(same) - 1, "b", NULL));
    g_assert_true(config_equal(&vcpu_config_schema, &copy, &b));
    g_assert_true(config_load_data(&vcpu_config_schema, &b, other,
                                   sizeof(other) - 1, "b", NULL));
    g_assert_false(config_equal(&vcpu_config_schema, &copy, &b));

    /* A bad list leaves what was there. */
    g_assert_false(config_load_data(&vcpu_config_schema, &b, bad,
                                    sizeof(bad) - 1, "bad", &err));
    g_assert_error(err, CONFIG_ERROR, CONFIG_ERROR_VALUE);
    g_assert_nonnull(strstr(err->message, "bad: [vcpu] exclude_cpus: "));
    g_assert_cmpstr(b.exclude_cpus.text, ==, "0,1");

    /* "exclude_cpus=" with nothing, or blanks, clears the list. */
    g_assert_true(config_load_data(&vcpu_config_schema, &b, cleared,
                                   sizeof(cleared) - 1, "b", NULL));
    g_assert_null(b.exclude_cpus.ids);
    g_assert_true(config_equal(&vcpu_config_schema, &b, &none));
    g_assert_true(config_load_data(&vcpu_config_schema, &b, other,
                                   sizeof(other) - 1, "b", NULL));
    g_assert_true(config_load_data(&vcpu_config_schema, &b, blank,
                                   sizeof(blank) - 1, "b", NULL));
    g_assert_null(b.exclude_cpus.ids);
    config_clear(&vcpu_config_schema, &b);
    config_clear(&vcpu_config_schema, &copy);
    config_clear(&vcpu_config_schema, &none);
}

typedef struct {
    const char *name;
    const CliSpec *daemon; /* whose options: MEM or VCPU */
    const char *argv[6];
    int exit_code;      /* of cli_parse + cli_build_config */
    double interval;    /* when exit_code is 0 */
    const char *needle; /* in the error message */
} CliCase;

static const CliCase cli_cases[] = {
    {.name = "course-form",
     .daemon = MEM,
     .argv = {"prog", "2"},
     .exit_code = EXIT_OK,
     .interval = 2.0},
    {.name = "fraction",
     .daemon = VCPU,
     .argv = {"prog", "0.5"},
     .exit_code = EXIT_OK,
     .interval = 0.5},
    {.name = "option-form",
     .daemon = MEM,
     .argv = {"prog", "--interval", "3"},
     .exit_code = EXIT_OK,
     .interval = 3.0},
    {.name = "once-dry",
     .daemon = VCPU,
     .argv = {"prog", "1", "--once", "--dry-run"},
     .exit_code = EXIT_OK,
     .interval = 1.0},
    {.name = "missing",
     .daemon = MEM,
     .argv = {"prog"},
     .exit_code = EXIT_USAGE,
     .needle = "missing interval"},
    {.name = "text",
     .daemon = VCPU,
     .argv = {"prog", "abc"},
     .exit_code = EXIT_USAGE,
     .needle = "not a number"},
    {.name = "zero",
     .daemon = MEM,
     .argv = {"prog", "0"},
     .exit_code = EXIT_USAGE,
     .needle = "greater than zero"},
    {.name = "negative",
     .daemon = VCPU,
     .argv = {"prog", "--", "-2"},
     .exit_code = EXIT_USAGE,
     .needle = "greater than zero"},
    {.name = "trailing",
     .daemon = MEM,
     .argv = {"prog", "2s"},
     .exit_code = EXIT_USAGE,
     .needle = "not a number"},
    {.name = "inf",
     .daemon = VCPU,
     .argv = {"prog", "inf"},
     .exit_code = EXIT_USAGE,
     .needle = "not a number"},
    {.name = "two",
     .daemon = MEM,
     .argv = {"prog", "1", "2"},
     .exit_code = EXIT_USAGE,
     .needle = "one interval"},
    {.name = "both",
     .daemon = VCPU,
     .argv = {"prog", "1", "--interval", "2"},
     .exit_code = EXIT_USAGE,
     .needle = "not both"},
    {.name = "unknown-option",
     .daemon = MEM,
     .argv = {"prog", "1", "--frobnicate"},
     .exit_code = EXIT_USAGE,
     .needle = "frobnicate"},
    /* A daemon offers its own options, not another's. */
    {.name = "memory-option-in-vcpu",
     .daemon = VCPU,
     .argv = {"prog", "1", "--policy", "course"},
     .exit_code = EXIT_USAGE,
     .needle = "Unknown option --policy"},
    {.name = "vcpu-option-in-memory",
     .daemon = MEM,
     .argv = {"prog", "1", "--threshold", "4"},
     .exit_code = EXIT_USAGE,
     .needle = "Unknown option --threshold"},
    {.name = "bad-policy",
     .daemon = MEM,
     .argv = {"prog", "1", "--policy", "x"},
     .exit_code = EXIT_USAGE,
     .needle = "course or idle-tax"},
    {.name = "bad-budget",
     .daemon = MEM,
     .argv = {"prog", "1", "--budget-mib", "lots"},
     .exit_code = EXIT_USAGE,
     .needle = "whole number"},
    {.name = "bad-threshold",
     .daemon = VCPU,
     .argv = {"prog", "1", "-t", "much"},
     .exit_code = EXIT_USAGE,
     .needle = "[vcpu] sd_threshold"},
    {.name = "missing-config",
     .daemon = MEM,
     .argv = {"prog", "1", "--config", "/nonexistent/x.conf"},
     .exit_code = EXIT_CONFIG,
     .needle = "/nonexistent/x.conf"},
    {.name = "tiny",
     .daemon = VCPU,
     .argv = {"prog", "0.001"},
     .exit_code = EXIT_USAGE,
     .needle = "out of range"},
    /* strtod reads hexadecimal and skips leading blanks; a number of
     * seconds is written in decimal, as typed. */
    {.name = "hex",
     .daemon = VCPU,
     .argv = {"prog", "0x10"},
     .exit_code = EXIT_USAGE,
     .needle = "not a number"},
    {.name = "leading-blank",
     .daemon = MEM,
     .argv = {"prog", " 1"},
     .exit_code = EXIT_USAGE,
     .needle = "not a number"},
    {.name = "trailing-blank",
     .daemon = VCPU,
     .argv = {"prog", "1 "},
     .exit_code = EXIT_USAGE,
     .needle = "not a number"},
    {.name = "hex-option",
     .daemon = MEM,
     .argv = {"prog", "--interval", "0x1p1"},
     .exit_code = EXIT_USAGE,
     .needle = "not a number"},
    {.name = "exponent",
     .daemon = VCPU,
     .argv = {"prog", "2e0"},
     .exit_code = EXIT_OK,
     .interval = 2.0},
    /* A negative option value is that option's problem, not the
     * interval's. */
    {.name = "negative-budget",
     .daemon = MEM,
     .argv = {"prog", "1", "--budget-mib", "-5"},
     .exit_code = EXIT_USAGE,
     .needle = "[memory] guest_budget_mib"},
    {.name = "negative-budget-eq",
     .daemon = MEM,
     .argv = {"prog", "1", "--budget-mib=-5"},
     .exit_code = EXIT_USAGE,
     .needle = "[memory] guest_budget_mib"},
    {.name = "negative-reserve-short",
     .daemon = MEM,
     .argv = {"prog", "-r", "-5", "1"},
     .exit_code = EXIT_USAGE,
     .needle = "[memory] host_reserve_mib"},
    {.name = "negative-threshold",
     .daemon = VCPU,
     .argv = {"prog", "--threshold", "-1", "1"},
     .exit_code = EXIT_USAGE,
     .needle = "[vcpu] sd_threshold"},
    {.name = "negative-after-value",
     .daemon = VCPU,
     .argv = {"prog", "--threshold", "3", "-4"},
     .exit_code = EXIT_USAGE,
     .needle = "interval '-4' must be greater than zero"},
};

/* cli_parse and cli_build_config on a NULL-terminated argv, into cfg (a
 * struct of the daemon's schema, initialised here); their exit status. */
static int run_cli(const CliSpec *daemon, const char *const *argv, gpointer cfg,
                   GError **err)
{
    CliResult r = {0};
    int argc = 0;
    int rc;

    while (argv[argc])
        argc++;
    config_init(daemon->config, cfg);
    if (!cli_parse(daemon, argc, (char **)argv, &r, err))
        rc = EXIT_USAGE;
    else
        rc = cli_build_config(daemon, &r, cfg, err);
    cli_result_clear(&r);
    return rc;
}

static void test_cli_table(void)
{
    guint i;

    for (i = 0; i < G_N_ELEMENTS(cli_cases); i++) {
        const CliCase *c = &cli_cases[i];
        const ConfigSchema *s = c->daemon->config;
        g_autofree char *cfg = g_malloc0(s->size);
        g_autoptr(GError) err = NULL;
        int rc = run_cli(c->daemon, c->argv, cfg, &err);

        g_test_message("case %s: rc %d %s", c->name, rc,
                       err ? err->message : "");
        g_assert_cmpint(rc, ==, c->exit_code);
        if (rc == EXIT_OK)
            g_assert_cmpfloat(((DaemonConfig *)cfg)->interval_s, ==,
                              c->interval);
        else
            g_assert_nonnull(strstr(err->message, c->needle));
        config_clear(s, cfg);
    }
}

/* The [migration] part's options come with both daemons: --peer may be
 * repeated, and its values make one list, in order. */
typedef struct {
    const char *name;
    const CliSpec *daemon;
    const char *argv[10];
    int exit_code;
    const char *peers; /* ';'-joined, when exit_code is 0 */
    MigrationMode mode;
    const char *needle; /* in the error message otherwise */
} PartCase;

static const PartCase part_cases[] = {
    {.name = "two peers, vcpu",
     .daemon = VCPU,
     .argv = {"prog", "1", "--migration", "advise", "--peer", "test:///a",
              "--peer", "test:///b"},
     .peers = "test:///a;test:///b",
     .mode = MIGRATION_ADVISE},
    {.name = "one peer before the mode, memory",
     .daemon = MEM,
     .argv = {"prog", "--peer=test:///b", "--migration=advise", "1"},
     .peers = "test:///b",
     .mode = MIGRATION_ADVISE},
    {.name = "no option: off, no peers",
     .daemon = MEM,
     .argv = {"prog", "1"},
     .peers = "",
     .mode = MIGRATION_OFF},
    {.name = "a peer given twice",
     .daemon = VCPU,
     .argv = {"prog", "1", "--migration", "advise", "--peer", "test:///a",
              "--peer", "test:///a"},
     .exit_code = EXIT_USAGE,
     .needle = "[migration] peers: 'test:///a' is listed twice"},
    {.name = "execute without UUIDs",
     .daemon = MEM,
     .argv = {"prog", "1", "--migration", "execute", "--peer", "test:///a"},
     .exit_code = EXIT_USAGE,
     .needle = "names no host UUID"},
};

static const MigrationConfig *part_of(const CliSpec *daemon, gconstpointer cfg)
{
    return daemon == MEM ? &((const MemConfig *)cfg)->migration
                         : &((const VcpuConfig *)cfg)->migration;
}

static void test_cli_part_options(void)
{
    guint i;

    for (i = 0; i < G_N_ELEMENTS(part_cases); i++) {
        const PartCase *c = &part_cases[i];
        const ConfigSchema *s = c->daemon->config;
        g_autofree char *cfg = g_malloc0(s->size);
        g_autoptr(GError) err = NULL;
        int rc = run_cli(c->daemon, c->argv, cfg, &err);

        g_test_message("case %s: rc %d %s", c->name, rc,
                       err ? err->message : "");
        g_assert_cmpint(rc, ==, c->exit_code);
        if (rc == EXIT_OK) {
            const MigrationConfig *m = part_of(c->daemon, cfg);
            g_autofree char *joined =
                m->peers ? g_strjoinv(";", m->peers) : g_strdup("");

            g_assert_cmpstr(joined, ==, c->peers);
            g_assert_cmpint(m->migration_mode, ==, c->mode);
        } else {
            g_assert_nonnull(strstr(err->message, c->needle));
        }
        config_clear(s, cfg);
    }
}

/* The command line wins over the file, and a daemon's own options set its
 * own keys. */
static void test_cli_overrides_file(void)
{
    g_autofree char *path = NULL;
    int fd;
    const char *argv[] = {"prog",     "1",        "--config",      NULL,
                          "--policy", "idle-tax", "--reserve-mib", "250",
                          NULL};
    CliResult r = {0};
    MemConfig cfg;
    g_autoptr(GError) err = NULL;

    fd = g_file_open_tmp("cfg-XXXXXX.conf", &path, &err);
    g_assert_no_error(err);
    close(fd);
    g_assert_true(g_file_set_contents(
        path,
        "[daemon]\ninterval=5\n[memory]\npolicy=course\nhost_reserve_mib=400\n"
        "min_unused_mib=120\n",
        -1, &err));
    argv[3] = path;
    config_init(&mem_config_schema, &cfg);
    g_assert_true(cli_parse(MEM, 8, (char **)argv, &r, &err));
    g_assert_cmpint(cli_build_config(MEM, &r, &cfg, &err), ==, EXIT_OK);
    g_assert_cmpfloat(cfg.daemon.interval_s, ==, 1.0);
    g_assert_cmpint(cfg.mem_policy, ==, MEM_POLICY_IDLE_TAX);
    g_assert_cmpuint(cfg.host_reserve_mib, ==, 250);
    g_assert_cmpuint(cfg.migration.host_reserve_mib, ==, 250);
    g_assert_cmpuint(cfg.min_unused_mib, ==, 120);
    g_unlink(path);
    config_clear(&mem_config_schema, &cfg);
    cli_result_clear(&r);
}

/* A file is read whole: a NUL byte must not hide what follows it (here
 * a misspelt key that would otherwise be reported). */
static void test_config_nul_byte(void)
{
    static const char text[] = "[daemon]\ninterval=1\n\0intervall=2\n";
    g_autofree char *path = NULL;
    g_autoptr(GError) err = NULL;
    MemConfig cfg;
    int fd;

    fd = g_file_open_tmp("cfg-XXXXXX.conf", &path, &err);
    g_assert_no_error(err);
    close(fd);
    g_assert_true(g_file_set_contents(path, text, sizeof(text) - 1, &err));
    config_init(&mem_config_schema, &cfg);
    g_assert_false(config_load_file(&mem_config_schema, &cfg, path, &err));
    g_assert_nonnull(err);
    g_test_message("%s", err->message);
    g_assert_nonnull(strstr(err->message, path));
    g_assert_nonnull(strstr(err->message, "NUL byte at offset 20"));
    g_assert_cmpfloat(cfg.daemon.interval_s, ==, 2.0);
    g_unlink(path);
    config_clear(&mem_config_schema, &cfg);
}

/* The shipped config files load cleanly and keep the documented defaults. */
static void test_shipped_configs(void)
{
    VcpuConfig vd;
    VcpuConfig vc;
    MemConfig md;
    MemConfig mc;
    g_autoptr(GError) err = NULL;

    config_init(&vcpu_config_schema, &vd);
    config_init(&vcpu_config_schema, &vc);
    g_assert_true(config_load_file(&vcpu_config_schema, &vc,
                                   "conf/vcpu-scheduler.conf", &err));
    g_assert_no_error(err);
    g_assert_cmpstr(vc.daemon.uri, ==, vd.daemon.uri);
    g_assert_cmpfloat(vc.sd_threshold, ==, vd.sd_threshold);
    g_assert_cmpfloat(vc.migration.overload_util, ==,
                      vd.migration.overload_util);

    config_init(&mem_config_schema, &md);
    config_init(&mem_config_schema, &mc);
    g_assert_true(config_load_file(&mem_config_schema, &mc,
                                   "conf/memory-coordinator.conf", &err));
    g_assert_no_error(err);
    g_assert_cmpstr(mc.daemon.uri, ==, md.daemon.uri);
    g_assert_cmpuint(mc.host_reserve_mib, ==, md.host_reserve_mib);
    g_assert_cmpuint(mc.min_unused_mib, ==, md.min_unused_mib);
    g_assert_cmpfloat(mc.tax_rate, ==, md.tax_rate);

    config_clear(&vcpu_config_schema, &vd);
    config_clear(&vcpu_config_schema, &vc);
    config_clear(&mem_config_schema, &md);
    config_clear(&mem_config_schema, &mc);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/config/table", test_config_table);
    g_test_add_func("/config/values", test_config_values);
    g_test_add_func("/config/shipped", test_shipped_configs);
    g_test_add_func("/config/nul-byte", test_config_nul_byte);
    g_test_add_func("/config/cpulist", test_config_cpulist);
    g_test_add_func("/cli/table", test_cli_table);
    g_test_add_func("/cli/overrides-file", test_cli_overrides_file);
    g_test_add_func("/cli/part-options", test_cli_part_options);
    return g_test_run();
}
