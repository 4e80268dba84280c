/* The command line every daemon shares: the course's positional
 * `<interval>` plus options.  Options become a config overlay, so the
 * command line is validated by the same rules as the config file and
 * overrides it.  A daemon adds options of its own, each setting one key
 * of its config. */
#pragma once

#include "config.h"
#include "exit_codes.h"

/* One option of a daemon's own: its value is written to group/key. */
typedef struct {
    const char *long_name;
    char short_name;
    const char *group;
    const char *key;
    const char *description;
    const char *arg_description;
    /* May be given more than once: the values join, ';'-separated, into
     * one list value (a CONFIG_STRLIST key). */
    gboolean repeatable;
} CliOption;

typedef struct {
    const char *prog;              /* program name for messages */
    const char *summary;           /* --help text above the options */
    const CliOption *options;      /* the daemon's own, ended by a NULL
                                      long_name; may be NULL */
    const CliOption *more_options; /* a part's (config.h), idem */
    const ConfigSchema *config;    /* what the config file and options fill */
} CliSpec;

typedef struct {
    char *config_path; /* --config, or NULL */
    char *overlay;     /* GKeyFile text built from the options */
    gboolean once;
    gboolean dry_run;
    gboolean verbose;
    gboolean version;
} CliResult;

void cli_result_clear(CliResult *r);

/* Parses argv into *out.  On error returns FALSE with a one-line message
 * (CLI_ERROR); the caller exits with EXIT_USAGE.  --help prints and exits
 * through GLib. */
gboolean cli_parse(const CliSpec *spec, int argc, char **argv, CliResult *out,
                   GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* defaults -> config file -> command-line overlay -> validation, into
 * cfg, a struct of spec->config (initialised or not: it is replaced only
 * on success).  Returns EXIT_OK, or EXIT_CONFIG (the file) or EXIT_USAGE
 * (the options) with error set. */
int cli_build_config(const CliSpec *spec, const CliResult *r, gpointer cfg,
                     GError **error);

/* Frees the strings GLib stored for entries' string, file name and string
 * array options, and sets them to NULL: a program's options need no
 * clearing function of their own. */
void cli_entries_free(const GOptionEntry *entries);

/* Strict positional interval: a decimal number of seconds > 0. */
gboolean cli_parse_interval(const char *s, double *out, GError **error);

#define CLI_ERROR (cli_error_quark())
GQuark cli_error_quark(void);
typedef enum {
    CLI_ERROR_INTERVAL,  /* the interval is missing or not a valid one */
    CLI_ERROR_ARGUMENTS, /* wrong number or combination of arguments */
    CLI_ERROR_OPTION,    /* an unknown option or a bad option value */
} CliError;
