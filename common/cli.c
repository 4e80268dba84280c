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
    /* The values of repeatable options so far, by option, in order. */
    GHashTable *lists; /* const CliOption * -> GPtrArray of char * */
} OptionSink;

static const CliOption *find_option(const CliOption *table, const char *name)
{
    const CliOption *o;

    for (o = table; o && o->long_name; o++) {
        if ((g_str_has_prefix(name, "--") &&
             strcmp(name + 2, o->long_name) == 0) ||
            (name[1] == o->short_name && name[2] == '\0'))
            return o;
    }
    return NULL;
}

static gboolean on_daemon_option(const char *option_name, const char *value,
                                 gpointer data, GError **error)
{
    OptionSink *sink = data;
    const CliOption *o = find_option(sink->spec->options, option_name);
    GPtrArray *values;

    if (!o)
        o = find_option(sink->spec->more_options, option_name);
    if (!o) {
        g_set_error(error, CLI_ERROR, CLI_ERROR_OPTION, "unknown option %s",
                    option_name);
        return FALSE;
    }
    if (!o->repeatable) {
        overlay_add(sink->overlay, o->group, o->key, value);
        return TRUE;
    }
    values = g_hash_table_lookup(sink->lists, o);
    if (!values) {
        values = g_ptr_array_new_with_free_func(g_free);
        g_hash_table_insert(sink->lists, (gpointer)o, values);
    }
    g_ptr_array_add(values, g_strdup(value));
    return TRUE;
}

/* The repeatable options' values, each option's as one list value. */
static void add_lists(OptionSink *sink)
{
    const CliOption *const tables[] = {sink->spec->options,
                                       sink->spec->more_options};
    const CliOption *o;
    guint t;

    /* In table order, so the overlay does not depend on hashing. */
    for (t = 0; t < G_N_ELEMENTS(tables); t++) {
        for (o = tables[t]; o && o->long_name; o++) {
            GPtrArray *values = g_hash_table_lookup(sink->lists, o);
            g_autofree char *joined = NULL;

            if (!values)
                continue;
            g_ptr_array_add(values, NULL);
            joined = g_strjoinv(";", (char **)values->pdata);
            overlay_add(sink->overlay, o->group, o->key, joined);
        }
    }
}

static void add_entries(GArray *entries, const CliOption *table)
{
    const CliOption *o;

    for (o = table; o && o->long_name; o++) {
        GOptionEntry e = {o->long_name,
                          o->short_name,
                          0,
                          G_OPTION_ARG_CALLBACK,
                          (gpointer)on_daemon_option,
                          o->description,
                          o->arg_description};

        g_array_append_val(entries, e);
    }
}

/* The daemon's options and its parts' as GOptionEntry callbacks that
 * write their keys; ended by a zeroed entry. */
static GOptionEntry *daemon_entries(const CliSpec *spec)
{
    GArray *entries = g_array_new(TRUE, TRUE, sizeof(GOptionEntry));

    add_entries(entries, spec->options);
    add_entries(entries, spec->more_options);
    return (GOptionEntry *)g_array_free(entries, FALSE);
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
    g_autoptr(GHashTable) lists = g_hash_table_new_full(
        NULL, NULL, NULL, (GDestroyNotify)g_ptr_array_unref);
    OptionSink sink = {spec, ov, lists};
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
    add_lists(&sink);

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
