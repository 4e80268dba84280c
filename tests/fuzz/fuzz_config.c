/* libFuzzer target for the two ways settings reach a daemon.
 *
 * Every input is used twice:
 *   1. as the text of a config file, through config_load_data();
 *   2. as a command line, one argument per line, through cli_parse(), and
 *      then the overlay it built through config_load_data() again.
 *
 * Besides "no crash, no leak, no undefined behaviour", the target checks
 * the promises config.h and cli.h make, and aborts when one breaks:
 *   - a failed load names its origin and leaves the config untouched;
 *   - a successful load leaves a config that passes config_validate();
 *   - cli_parse() fails only with a CLI_ERROR/EXIT_USAGE error;
 *   - the overlay cli_parse() writes is always a well-formed key file
 *     holding only keys the config reader knows;
 *   - cli_build_config() either succeeds with the flags of the command
 *     line, or fails with EXIT_USAGE and an error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"

#define ORIGIN "fuzz-input"
/* More arguments than any real command line; keeps each run short. */
#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void broken(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_config: property broken: %s: %s\n", what,
            detail ? detail : "(none)");
    abort();
}

static gboolean strv_equal(char **a, char **b)
{
    if (!a || !b)
        return a == b;
    return g_strv_equal((const char *const *)a, (const char *const *)b);
}

/* Field by field, so struct padding never makes two equal configs differ. */
static gboolean config_equal(const Config *a, const Config *b)
{
    return g_strcmp0(a->uri, b->uri) == 0 && a->interval_s == b->interval_s &&
           a->once == b->once && a->dry_run == b->dry_run &&
           a->verbose == b->verbose &&
           g_strcmp0(a->decision_log, b->decision_log) == 0 &&
           a->sd_threshold == b->sd_threshold &&
           a->sd_hysteresis == b->sd_hysteresis &&
           a->dwell_ticks == b->dwell_ticks && a->idle_util == b->idle_util &&
           a->mem_policy == b->mem_policy &&
           a->guest_floor_mib == b->guest_floor_mib &&
           a->min_unused_mib == b->min_unused_mib &&
           a->host_reserve_mib == b->host_reserve_mib &&
           a->guest_budget_mib == b->guest_budget_mib &&
           a->max_release_mib == b->max_release_mib &&
           a->release_slack_mib == b->release_slack_mib &&
           a->min_step_mib == b->min_step_mib && a->horizon_s == b->horizon_s &&
           a->tax_rate == b->tax_rate && a->active_rise == b->active_rise &&
           a->active_decay == b->active_decay &&
           strv_equal(a->shares, b->shares) &&
           a->stale_after_s == b->stale_after_s &&
           a->migration_mode == b->migration_mode &&
           strv_equal(a->peers, b->peers) &&
           a->trigger_ticks == b->trigger_ticks &&
           a->cooldown_s == b->cooldown_s &&
           a->overload_util == b->overload_util &&
           a->allow_unknown_tsc == b->allow_unknown_tsc &&
           a->allow_unsynced_clock == b->allow_unsynced_clock &&
           a->tsc_tolerance_ppm == b->tsc_tolerance_ppm &&
           g_strcmp0(a->advise_log, b->advise_log) == 0;
}

/* Loads text over the defaults and checks the outcome either way.
 * Returns the GError of a failed load (NULL on success). */
static GError *load_checked(const char *text)
{
    Config cfg;
    Config before;
    GError *err = NULL;

    config_defaults(&cfg);
    config_copy(&before, &cfg);
    if (config_load_data(&cfg, text, strlen(text), ORIGIN, &err)) {
        g_autoptr(GError) verr = NULL;

        if (err)
            broken("load succeeded but set an error", err->message);
        if (!config_validate(&cfg, &verr))
            broken("loaded config fails validation", verr->message);
    } else {
        if (!err)
            broken("load failed without an error", text);
        if (err->domain != CONFIG_ERROR)
            broken("load error outside CONFIG_ERROR", err->message);
        if (!g_str_has_prefix(err->message, ORIGIN ": "))
            broken("load error does not name its origin", err->message);
        if (!config_equal(&cfg, &before))
            broken("failed load changed the config", err->message);
    }
    config_clear(&cfg);
    config_clear(&before);
    return err;
}

/* GLib prints help and calls exit() for -h, -?, --help and --help-*,
 * which libFuzzer would count as a crash.  Inputs that could ask for help
 * are skipped: any single-dash argument holding 'h' or '?' (short options
 * combine, as in -vh), and any --help... argument.  Everything after a
 * bare "--" is positional and may hold anything. */
static gboolean asks_for_help(char **argv, int argc)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--") == 0)
            return FALSE;
        if (g_str_has_prefix(a, "--help"))
            return TRUE;
        if (a[0] == '-' && a[1] != '-' && (strchr(a, 'h') || strchr(a, '?')))
            return TRUE;
    }
    return FALSE;
}

static void fuzz_cli(const char *text, gboolean memory, gboolean vcpu)
{
    const CliSpec spec = {
        .prog = "fuzz",
        .summary = "fuzzed command line",
        .memory = memory,
        .vcpu = vcpu,
    };
    g_auto(GStrv) lines = g_strsplit(text, "\n", MAX_ARGS);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GError) err = NULL;
    CliResult res = {0};
    guint i;

    g_ptr_array_add(argv, (gpointer) "fuzz");
    for (i = 0; lines[i]; i++)
        g_ptr_array_add(argv, lines[i]);
    g_ptr_array_add(argv, NULL);
    if (asks_for_help((char **)argv->pdata, (int)argv->len - 1))
        return;

    if (!cli_parse(&spec, (int)argv->len - 1, (char **)argv->pdata, &res,
                   &err)) {
        if (!err)
            broken("cli_parse failed without an error", text);
        if (err->domain != CLI_ERROR || err->code != EXIT_USAGE)
            broken("cli_parse error is not CLI_ERROR/EXIT_USAGE", err->message);
        cli_result_clear(&res);
        return;
    }
    if (err)
        broken("cli_parse succeeded but set an error", err->message);
    if (!res.overlay)
        broken("cli_parse succeeded without an overlay", text);

    /* Values may be out of range (--budget-mib lots), but the overlay
     * itself must always be a key file of known keys. */
    {
        g_autoptr(GError) lerr = load_checked(res.overlay);

        if (lerr && (lerr->code == CONFIG_ERROR_PARSE ||
                     lerr->code == CONFIG_ERROR_UNKNOWN_KEY))
            broken("cli overlay is not a key file of known keys",
                   lerr->message);
    }

    /* The whole merge, minus the config file: the fuzzer must not read
     * whatever path it made up. */
    g_clear_pointer(&res.config_path, g_free);
    {
        g_autoptr(GError) berr = NULL;
        Config cfg;
        int rc;

        config_defaults(&cfg);
        rc = cli_build_config(&res, &cfg, &berr);
        if (rc == EXIT_OK) {
            if (berr)
                broken("cli_build_config succeeded but set an error",
                       berr->message);
            if (cfg.once != res.once || cfg.dry_run != res.dry_run ||
                (res.verbose && !cfg.verbose))
                broken("cli_build_config lost a flag", text);
        } else if (rc != EXIT_USAGE || !berr) {
            broken("cli_build_config failed without EXIT_USAGE and an error",
                   berr ? berr->message : text);
        }
        config_clear(&cfg);
    }
    cli_result_clear(&res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The daemons read config files with g_file_get_contents() and parse
     * up to the first NUL, so the fuzzer sees the same. */
    g_autofree char *text = g_strndup((const char *)data, size);
    GError *err = load_checked(text);

    g_clear_error(&err);

    /* The last byte picks which daemon's options exist, so both option
     * sets are explored without a separate target. */
    fuzz_cli(text, size == 0 || (data[size - 1] & 1),
             size == 0 || (data[size - 1] & 2));
    return 0;
}
