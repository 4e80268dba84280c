#include "cli.h"

#include <math.h>
#include <string.h>

GQuark cli_error_quark(void)
{
    return g_quark_from_static_string("aos-cli-error-quark");
}

void cli_result_clear(CliResult *r)
{
    g_clear_pointer(&r->config_path, g_free);
    g_clear_pointer(&r->overlay, g_free);
}

gboolean cli_parse_interval(const char *s, double *out, GError **error)
{
    double v;

    if (!s || !*s) {
        g_set_error(error, CLI_ERROR, CLI_ERROR_INTERVAL,
                    "the interval is empty");
        return FALSE;
    }
    if (!config_parse_decimal(s, &v) || !isfinite(v)) {
        g_set_error(error, CLI_ERROR, CLI_ERROR_INTERVAL,
                    "interval '%s' is not a number of seconds", s);
        return FALSE;
    }
    if (v <= 0) {
        g_set_error(error, CLI_ERROR, CLI_ERROR_INTERVAL,
                    "interval '%s' must be greater than zero", s);
        return FALSE;
    }
    if (v < 0.05 || v > 86400) {
        g_set_error(error, CLI_ERROR, CLI_ERROR_INTERVAL,
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
        if (g_ascii_isdigit(arg[1]) ||
            (arg[1] == '.' && g_ascii_isdigit(arg[2]))) {
            g_set_error(error, CLI_ERROR, CLI_ERROR_INTERVAL,
                        "interval '%s' must be greater than zero", arg);
            return FALSE;
        }
        e = find_entry(entries, arg);
        if (e && e->arg != G_OPTION_ARG_NONE && !strchr(arg, '='))
            i++;
    }
    return TRUE;
}

/* What the option callbacks write to. */
typedef struct {
    const CliSpec *spec;
    GString *overlay;
} OptionSink;

static gboolean on_daemon_option(const char *option_name, const char *value,
                                 gpointer data, GError **error)
{
    OptionSink *sink = data;
    const CliOption *o;

    for (o = sink->spec->options; o && o->long_name; o++) {
        if ((g_str_has_prefix(option_name, "--") &&
             strcmp(option_name + 2, o->long_name) == 0) ||
            (option_name[1] == o->short_name && option_name[2] == '\0')) {
            overlay_add(sink->overlay, o->group, o->key, value);
            return TRUE;
        }
    }
    g_set_error(error, CLI_ERROR, CLI_ERROR_OPTION, "unknown option %s",
                option_name);
    return FALSE;
}

/* The daemon's options as GOptionEntry callbacks that write its keys. */
static GOptionEntry *daemon_entries(const CliSpec *spec)
{
    guint n = 0;
    guint i;
    GOptionEntry *e;

    while (spec->options && spec->options[n].long_name)
        n++;
    e = g_new0(GOptionEntry, n + 1);
    for (i = 0; i < n; i++) {
        const CliOption *o = &spec->options[i];

        e[i] = (GOptionEntry){o->long_name,
                              o->short_name,
                              0,
                              G_OPTION_ARG_CALLBACK,
                              (gpointer)on_daemon_option,
                              o->description,
                              o->arg_description};
    }
    return e;
}

void cli_entries_free(const GOptionEntry *entries)
{
    const GOptionEntry *e;

    for (e = entries; e->long_name; e++) {
        if (e->arg == G_OPTION_ARG_STRING || e->arg == G_OPTION_ARG_FILENAME)
            g_clear_pointer((char **)e->arg_data, g_free);
        else if (e->arg == G_OPTION_ARG_STRING_ARRAY ||
                 e->arg == G_OPTION_ARG_FILENAME_ARRAY)
            g_clear_pointer((char ***)e->arg_data, g_strfreev);
    }
}

typedef struct {
    char *uri;
    char *config;
    char *interval;
    char *decision_log;
    char *metrics_file;
    char *migration;
    char **peers;
    char **rest;
    gboolean once;
    gboolean dry_run;
    gboolean verbose;
    gboolean version;
} RawOptions;

/* The interval from the argument or --interval, into the overlay. */
static gboolean take_interval(const CliSpec *spec, RawOptions *o, GString *ov,
                              GError **error)
{
    g_autofree char *txt = NULL;
    double interval = 0;

    if (o->rest && o->rest[0] && o->rest[1]) {
        g_set_error(error, CLI_ERROR, CLI_ERROR_ARGUMENTS,
                    "expected one interval argument, got %u arguments",
                    g_strv_length(o->rest));
        return FALSE;
    }
    if (o->rest && o->rest[0] && o->interval) {
        g_set_error(error, CLI_ERROR, CLI_ERROR_ARGUMENTS,
                    "give the interval either as an argument or with "
                    "--interval, not both");
        return FALSE;
    }
    if (o->rest && o->rest[0])
        o->interval = g_strdup(o->rest[0]);
    if (!o->interval) {
        if (o->config || o->version)
            return TRUE;
        g_set_error(error, CLI_ERROR, CLI_ERROR_INTERVAL,
                    "missing interval: usage: %s <interval-seconds> "
                    "[options]",
                    spec->prog);
        return FALSE;
    }
    if (!cli_parse_interval(o->interval, &interval, error))
        return FALSE;
    txt = g_strdup_printf("%.17g", interval);
    overlay_add(ov, "daemon", "interval", txt);
    return TRUE;
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
        {"metrics-file", 0, 0, G_OPTION_ARG_FILENAME, &o.metrics_file,
         "rewrite FILE with Prometheus metrics after every tick", "FILE"},
        {"migration", 0, 0, G_OPTION_ARG_STRING, &o.migration,
         "migration requests: off, advise or execute", "MODE"},
        {"peer", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.peers,
         "libvirt URI of a migration peer, =UUID its host UUID (repeatable; "
         "execute mode needs the UUID)",
         "URI[=UUID]"},
        {"verbose", 'v', 0, G_OPTION_ARG_NONE, &o.verbose, "log debug messages",
         NULL},
        {"version", 'V', 0, G_OPTION_ARG_NONE, &o.version,
         "print the version and exit", NULL},
        {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.rest, NULL,
         NULL},
        {NULL}};
    g_autofree GOptionEntry *own = daemon_entries(spec);
    const GOptionEntry *const all_entries[] = {common, own, NULL};
    g_autoptr(GString) ov = g_string_new(NULL);
    OptionSink sink = {spec, ov};
    g_autoptr(GOptionContext) ctx = g_option_context_new("<interval>");
    GOptionGroup *group = g_option_group_new(NULL, NULL, NULL, &sink, NULL);
    g_autofree char *exits = exit_codes_help();
    g_auto(GStrv) args = NULL;
    gboolean ok = FALSE;

    g_option_context_set_summary(ctx, spec->summary);
    g_option_context_set_description(ctx, exits);
    g_option_group_add_entries(group, common);
    g_option_group_add_entries(group, own);
    g_option_context_set_main_group(ctx, group);
    g_option_context_set_strict_posix(ctx, FALSE);

    if (!check_negative_interval(all_entries, argc, argv, error))
        goto out;
    args = g_new0(char *, argc + 1);
    for (int i = 0; i < argc; i++)
        args[i] = g_strdup(argv[i]);
    if (!g_option_context_parse_strv(ctx, &args, error))
        goto out;
    if (!take_interval(spec, &o, ov, error))
        goto out;
    if (o.uri)
        overlay_add(ov, "daemon", "uri", o.uri);
    if (o.decision_log)
        overlay_add(ov, "daemon", "decision_log", o.decision_log);
    if (o.metrics_file)
        overlay_add(ov, "daemon", "metrics_file", o.metrics_file);
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
        *error = g_error_new(CLI_ERROR, CLI_ERROR_OPTION, "%s", e->message);
        g_error_free(e);
    }
    cli_entries_free(common);
    return ok;
}

int cli_build_config(const CliSpec *spec, const CliResult *r, gpointer cfg,
                     GError **error)
{
    const ConfigSchema *s = spec->config;
    g_autofree char *tmp = g_malloc(s->size);
    DaemonConfig *d = (DaemonConfig *)tmp;
    int rc = EXIT_OK;

    config_init(s, tmp);
    if (r->config_path && !config_load_file(s, tmp, r->config_path, error))
        rc = EXIT_CONFIG;
    else if (r->overlay && *r->overlay &&
             !config_load_data(s, tmp, r->overlay, strlen(r->overlay),
                               "command line", error))
        rc = EXIT_USAGE;
    if (rc != EXIT_OK) {
        config_clear(s, tmp);
        return rc;
    }
    d->once = r->once;
    d->dry_run = r->dry_run;
    d->verbose = d->verbose || r->verbose;
    config_clear(s, cfg);
    memcpy(cfg, tmp, s->size);
    return EXIT_OK;
}
