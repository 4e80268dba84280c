/* The command line both daemons share: the course's positional
 * `<interval>` plus options.  Options become a config overlay, so the
 * command line is validated by the same rules as the config file and
 * overrides it. */
#pragma once

#include "config.h"

/* Exit codes, documented in the man pages' EXIT STATUS. */
enum {
    EXIT_OK = 0,
    EXIT_RUNTIME = 1, /* --once: an action failed or the tick could not run */
    EXIT_USAGE = 2,   /* bad command line */
    EXIT_CONFIG = 3,  /* unreadable or invalid config file */
    EXIT_LIBVIRT = 4, /* --once or --dry-run: libvirt could not be reached */
};

typedef struct {
    const char *prog;    /* program name for messages */
    const char *summary; /* --help text above the options */
    gboolean memory;     /* offer the memory coordinator's options */
    gboolean vcpu;       /* offer the vCPU scheduler's options */
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

/* Parses argv.  On error returns FALSE with a one-line message and sets
 * *exit_code to EXIT_USAGE.  --help prints and exits through GLib. */
gboolean cli_parse(const CliSpec *spec, int argc, char **argv, CliResult *out,
                   GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* defaults -> config file -> command-line overlay -> validation.
 * Returns EXIT_OK or EXIT_CONFIG/EXIT_USAGE with error set. */
int cli_build_config(const CliResult *r, Config *cfg, GError **error);

/* Strict positional interval: a finite number of seconds > 0. */
gboolean cli_parse_interval(const char *s, double *out, GError **error);

#define CLI_ERROR (cli_error_quark())
GQuark cli_error_quark(void);
