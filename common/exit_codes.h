/* The exit status of every program of the project, from one table:
 * each --help shows it, and aos-exit-status(7) documents it once. */
#pragma once

#include <glib.h>

enum {
    EXIT_OK = 0,
    EXIT_RUNTIME = 1, /* could not do what was asked */
    EXIT_USAGE = 2,   /* bad command line */
    EXIT_CONFIG = 3,  /* unreadable or invalid config file, unusable settings */
    EXIT_LIBVIRT = 4, /* libvirt could not be reached */
};

typedef struct {
    int code;
    const char *meaning; /* a few words, as --help shows them */
} ExitCode;

/* Every code above, in order. */
extern const ExitCode exit_codes[];
extern const guint exit_codes_count;

/* "Exit status: 0 ...; 1 ...; ..." for a --help description. */
char *exit_codes_help(void) G_GNUC_WARN_UNUSED_RESULT;
