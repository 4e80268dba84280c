#include "cli.h"

#include <math.h>
#include <string.h>

G_DEFINE_QUARK(aos - cli - error - quark, cli_error)

void cli_result_clear(CliResult *r)
{
    g_clear_pointer(&r->config_path, g_free);
    g_clear_pointer(&r->overlay, g_free);
}

gboolean cli_parse_interval(const char *s, double *out, GError **error)
{
    double v;

    if (!s || !*s) {
        g_set_error(error, CLI_ERROR, EXIT_USAGE, "the interval is empty");
        return FALSE;
    }
    if (!config_parse_decimal(s, &v) || !isfinite(v)) {
        g_set_error(error, CLI_ERROR, EXIT_USAGE,
                    "interval '%s' is not a number of seconds", s);
        return FALSE;
    }
    if (v <= 0) {
        g_set_error(error, CLI_ERROR, EXIT_USAGE,
                    "interval '%s' must be greater than zero", s);
        return FALSE;
    }
    if (v < 0.05 || v > 86400) {
        g_set_error(error, CLI_ERROR, EXIT_USAGE,
                    "interval '%s' is out of range (0.05 to 86400 seconds)", s);
        return FALSE;
    }
    *out = v;
    return TRUE;
}

/* Appends "key=value" to the overlay text of a group, escaping the value
 * as GKeyFile wants it. */
static void overlay_add(GString *ov, const char *group, const char *key,
                        const char *value)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autofree char *text = NULL;

    g_key_file_set_string(kf, group, key, value);
    text = g_key_file_to_data(kf, NULL, NULL);
    g_string_append(ov, text);
}

/* The entry of entries[] that arg names ("--name", "--name=v" or "-c"),
 * or NULL. */
static const GOptionEntry *find_entry(const GOptionEntry *const *entries,
                                      const char *arg)
{
    guint i;
    guint k;

    for (i = 0; entries[i]; i++) {
        for (k = 0; entries[i][k].long_name; k++) {
            const GOptionEntry *e = &entries[i][k];
            gsize n = strlen(e->long_name);

            if (arg[1] == '-' && strncmp(arg + 2, e->long_name, n) == 0 &&
                (arg[2 + n] == '\0' || arg[2 + n] == '='))
                return e;
            if (arg[1] != '-' && e->short_name && arg[1] == e->short_name &&
                arg[2] == '\0')
                return e;
        }
    }
    return NULL;
}

/* GLib reads "-1" as an unknown option -1; a user who typed a negative
 * interval should hear about the interval.  The value of an option that
 * takes one ("--budget-mib -5") is that option's, and is checked as such
 * later. */
static gboolean check_negative_interval(const GOptionEntry *const *entries,
                                        int argc, char **argv, GError **error)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const GOptionEntry *e;

        if (strcmp(arg, "--") == 0)
            return TRUE;
        if (arg[0] != '-')
            continue;
        if (g_ascii_isdigit(arg[1]) || (arg[1] == '.' && g_ascii_isdigit(arg[2]))) {
            g_set_error(error, CLI_ERROR, EXIT_USAGE,
                        "interval '%s' must be greater than zero", arg);
            return FALSE;
        }
        e = find_entry(entries, arg);
        if (e && e->arg != G_OPTION_ARG_NONE && !strchr(arg, '='))
            i++;
    }
    return TRUE;
}

typedef struct {
    char *uri;
    char *config;
    char *interval;
    char *decision_log;
    char *policy;
    char *budget;
    char *reserve;
    char *threshold;
    char *migration;
    char **peers;
    char **rest;
    gboolean once;
    gboolean dry_run;
    gboolean verbose;
    gboolean version;
} RawOptions;

static void raw_clear(RawOptions *o)
{
    g_free(o->uri);
    g_free(o->config);
    g_free(o->interval);
    g_free(o->decision_log);
    g_free(o->policy);
    g_free(o->budget);
    g_free(o->reserve);
    g_free(o->threshold);
    g_free(o->migration);
    g_strfreev(o->peers);
    g_strfreev(o->rest);
}

gboolean cli_parse(const CliSpec *spec, int argc, char **argv, CliResult *out,
                   GError **error)
{
    RawOptions o = {0};
    GOptionEntry common[] = {
        {"uri", 'c', 0, G_OPTION_ARG_STRING, &o.uri,
         "libvirt URI (default qemu:///system)", "URI"},
        {"config", 'f', 0, G_OPTION_ARG_FILENAME, &o.config,
         "read settings from this GKeyFile", "FILE"},
        {"interval", 'i', 0, G_OPTION_ARG_STRING, &o.interval,
         "seconds between ticks (same as the positional argument)", "SECONDS"},
        {"once", 'o', 0, G_OPTION_ARG_NONE, &o.once,
         "take two samples one interval apart, act once, and exit", NULL},
        {"dry-run", 'n', 0, G_OPTION_ARG_NONE, &o.dry_run,
         "connect read-only and print the plan instead of applying it", NULL},
        {"decision-log", 'l', 0, G_OPTION_ARG_FILENAME, &o.decision_log,
         "append one JSON line per action to FILE", "FILE"},
        {"migration", 0, 0, G_OPTION_ARG_STRING, &o.migration,
         "migration requests: off, advise or execute", "MODE"},
        {"peer", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.peers,
         "libvirt URI of a migration peer (repeatable)", "URI"},
        {"verbose", 'v', 0, G_OPTION_ARG_NONE, &o.verbose, "log debug messages",
         NULL},
        {"version", 'V', 0, G_OPTION_ARG_NONE, &o.version,
         "print the version and exit", NULL},
        {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.rest, NULL,
         NULL},
        {NULL}};
    GOptionEntry memory[] = {
        {"policy", 'p', 0, G_OPTION_ARG_STRING, &o.policy,
         "balloon policy: course or idle-tax", "NAME"},
        {"budget-mib", 'b', 0, G_OPTION_ARG_STRING, &o.budget,
         "total MiB all guests may hold (0: from the host)", "MIB"},
        {"reserve-mib", 'r', 0, G_OPTION_ARG_STRING, &o.reserve,
         "MiB the host always keeps free", "MIB"},
        {NULL}};
    GOptionEntry vcpu[] = {
        {"threshold", 't', 0, G_OPTION_ARG_STRING, &o.threshold,
         "balanced when the sd of pCPU utilisation is at most this", "PCT"},
        {NULL}};
    const GOptionEntry *const all_entries[] = {common, memory, vcpu, NULL};
    g_autoptr(GOptionContext) ctx = g_option_context_new("<interval>");
    g_autoptr(GString) ov = g_string_new(NULL);
    g_auto(GStrv) args = NULL;
    gboolean ok = FALSE;
    double interval = 0;

    g_option_context_set_summary(ctx, spec->summary);
    g_option_context_set_description(
        ctx, "Exit status: 0 success, 1 runtime failure with --once, 2 bad "
             "command line, 3 bad config file, 4 libvirt unreachable with "
             "--once or --dry-run.");
    g_option_context_add_main_entries(ctx, common, NULL);
    if (spec->memory)
        g_option_context_add_main_entries(ctx, memory, NULL);
    if (spec->vcpu)
        g_option_context_add_main_entries(ctx, vcpu, NULL);
    g_option_context_set_strict_posix(ctx, FALSE);

    if (!check_negative_interval(all_entries, argc, argv, error))
        goto out;
    args = g_new0(char *, argc + 1);
    for (int i = 0; i < argc; i++)
        args[i] = g_strdup(argv[i]);
    if (!g_option_context_parse_strv(ctx, &args, error))
        goto out;

    if (o.rest && o.rest[0] && o.rest[1]) {
        g_set_error(error, CLI_ERROR, EXIT_USAGE,
                    "expected one interval argument, got %u arguments",
                    g_strv_length(o.rest));
        goto out;
    }
    if (o.rest && o.rest[0] && o.interval) {
        g_set_error(error, CLI_ERROR, EXIT_USAGE,
                    "give the interval either as an argument or with "
                    "--interval, not both");
        goto out;
    }
    if (o.rest && o.rest[0] && !o.interval)
        o.interval = g_strdup(o.rest[0]);
    if (o.interval) {
        g_autofree char *txt = NULL;
        if (!cli_parse_interval(o.interval, &interval, error))
            goto out;
        txt = g_strdup_printf("%.17g", interval);
        overlay_add(ov, "daemon", "interval", txt);
    } else if (!o.config && !o.version) {
        g_set_error(error, CLI_ERROR, EXIT_USAGE,
                    "missing interval: usage: %s <interval-seconds> "
                    "[options]",
                    spec->prog);
        goto out;
    }
    if (o.uri)
        overlay_add(ov, "daemon", "uri", o.uri);
    if (o.decision_log)
        overlay_add(ov, "daemon", "decision_log", o.decision_log);
    if (o.policy)
        overlay_add(ov, "memory", "policy", o.policy);
    if (o.budget)
        overlay_add(ov, "memory", "guest_budget_mib", o.budget);
    if (o.reserve)
        overlay_add(ov, "memory", "host_reserve_mib", o.reserve);
    if (o.threshold)
        overlay_add(ov, "vcpu", "sd_threshold", o.threshold);
    if (o.migration)
        overlay_add(ov, "migration", "mode", o.migration);
    if (o.peers) {
        g_autofree char *joined = g_strjoinv(";", o.peers);
        overlay_add(ov, "migration", "peers", joined);
    }

    out->config_path = g_strdup(o.config);
    out->overlay = g_string_free(g_steal_pointer(&ov), FALSE);
    out->once = o.once;
    out->dry_run = o.dry_run;
    out->verbose = o.verbose;
    out->version = o.version;
    ok = TRUE;
out:
    if (!ok && error && *error && (*error)->domain != CLI_ERROR) {
        GError *e = *error;
        *error = g_error_new(CLI_ERROR, EXIT_USAGE, "%s", e->message);
        g_error_free(e);
    }
    raw_clear(&o);
    return ok;
}

int cli_build_config(const CliResult *r, Config *cfg, GError **error)
{
    Config tmp;

    config_defaults(&tmp);
    if (r->config_path && !config_load_file(&tmp, r->config_path, error)) {
        config_clear(&tmp);
        return EXIT_CONFIG;
    }
    if (r->overlay && *r->overlay &&
        !config_load_data(&tmp, r->overlay, strlen(r->overlay), "command line",
                          error)) {
        config_clear(&tmp);
        return EXIT_USAGE;
    }
    tmp.once = r->once;
    tmp.dry_run = r->dry_run;
    tmp.verbose = tmp.verbose || r->verbose;
    config_clear(cfg);
    *cfg = tmp;
    return EXIT_OK;
}
