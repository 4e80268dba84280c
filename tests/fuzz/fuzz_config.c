/* libFuzzer target for the two ways settings reach a daemon.
 *
 * Every input is used twice, with one daemon's keys and options (the
 * last byte picks which):
 *   1. as the text of a config file, through config_load_data();
 *   2. as a command line, one argument per line, through cli_parse(), and
 *      then the overlay it built through config_load_data() again.
 *
 * Besides "no crash, no leak, no undefined behaviour", the target checks
 * the promises config.h and cli.h make, and aborts when one breaks:
 *   - a failed load names its origin and leaves the config untouched;
 *   - a successful load leaves a config that passes config_validate();
 *   - cli_parse() fails only with a CLI_ERROR error;
 *   - the overlay cli_parse() writes is always a well-formed key file
 *     holding only keys the daemon's config reader knows;
 *   - cli_build_config() either succeeds with the flags of the command
 *     line, or fails with EXIT_USAGE and an error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../memory_coordinator/ops.h"
#include "../../vcpu_scheduler/ops.h"
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

/* Loads text over the defaults and checks the outcome either way.
 * Returns the GError of a failed load (NULL on success). */
static GError *load_checked(const ConfigSchema *s, const char *text, gsize len)
{
    g_autofree char *cfg = g_malloc0(s->size);
    g_autofree char *before = g_malloc0(s->size);
    GError *err = NULL;

    config_init(s, cfg);
    config_copy(s, before, cfg);
    if (config_load_data(s, cfg, text, len, ORIGIN, &err)) {
        g_autoptr(GError) verr = NULL;

        if (err)
            broken("load succeeded but set an error", err->message);
        if (!config_validate(s, cfg, &verr))
            broken("loaded config fails validation", verr->message);
    } else {
        if (!err)
            broken("load failed without an error", text);
        if (err->domain != CONFIG_ERROR)
            broken("load error outside CONFIG_ERROR", err->message);
        if (!g_str_has_prefix(err->message, ORIGIN ": "))
            broken("load error does not name its origin", err->message);
        if (!config_equal(s, cfg, before))
            broken("failed load changed the config", err->message);
    }
    config_clear(s, cfg);
    config_clear(s, before);
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

static void fuzz_cli(const CliSpec *spec, const char *text)
{
    const ConfigSchema *s = spec->config;
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

    if (!cli_parse(spec, (int)argv->len - 1, (char **)argv->pdata, &res,
                   &err)) {
        if (!err)
            broken("cli_parse failed without an error", text);
        if (err->domain != CLI_ERROR)
            broken("cli_parse error is not CLI_ERROR", err->message);
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
        g_autoptr(GError) lerr =
            load_checked(s, res.overlay, strlen(res.overlay));

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
        g_autofree char *cfg = g_malloc0(s->size);
        const DaemonConfig *d = (const DaemonConfig *)cfg;
        int rc;

        config_init(s, cfg);
        rc = cli_build_config(spec, &res, cfg, &berr);
        if (rc == EXIT_OK) {
            if (berr)
                broken("cli_build_config succeeded but set an error",
                       berr->message);
            if (d->once != res.once || d->dry_run != res.dry_run ||
                (res.verbose && !d->verbose))
                broken("cli_build_config lost a flag", text);
        } else if (rc != EXIT_USAGE || !berr) {
            broken("cli_build_config failed without EXIT_USAGE and an error",
                   berr ? berr->message : text);
        }
        config_clear(s, cfg);
    }
    cli_result_clear(&res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The last byte picks the daemon, so both daemons' keys and options
     * are explored without a separate target. */
    const CliSpec *spec = size > 0 && (data[size - 1] & 1)
                              ? &vcpu_scheduler_ops.cli
                              : &memory_coordinator_ops.cli;
    /* A command line holds no NUL; arguments end at the first. */
    g_autofree char *text = g_strndup((const char *)data, size);
    GError *err = load_checked(spec->config, (const char *)data, size);

    g_clear_error(&err);
    fuzz_cli(spec, text);
    return 0;
}
