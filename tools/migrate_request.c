/* migrate_request: one migration request for a named guest, made by an
 * operator rather than by a daemon's trigger, with the daemons' own checks
 * (TSC rule, free memory and load read live from the peers, local clock)
 * and their own execution (live peer-to-peer migration, TSC frequency
 * pinned for invtsc guests, job followed, downtime recorded, TSC advance
 * predicted).  The JSON lines go where a daemon's would. */
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

#include <stddef.h>

#include "cli.h"
#include "conn.h"
#include "exit_codes.h"
#include "migrate_exec.h"

/* What a daemon's file holds for a request: [daemon] and [migration]. */
typedef struct {
    DaemonConfig daemon;
    MigrationConfig migration;
} RequestConfig;

/* A daemon's file is read for what it shares with every daemon; its own
 * groups are skipped, but for the memory coordinator's reserve, which a
 * peer must keep free too. */
static const ConfigKey request_keys[] = {
    CONFIG_KEY("memory", "host_reserve_mib", CONFIG_UINT64, RequestConfig,
               migration.host_reserve_mib, 0, 1 << 24),
    {NULL},
};

static const ConfigPartAt request_parts[] = {
    {&migration_config_part, offsetof(RequestConfig, migration)},
    {NULL},
};

static const ConfigSchema request_schema = {
    .size = sizeof(RequestConfig),
    .keys = request_keys,
    .parts = request_parts,
    .skip_unknown = TRUE,
};

typedef struct {
    char *uri;
    char **peers;
    char *guest;
    char *mode;
    char *config;
    char *log;
    gboolean allow_unsynced;
    gboolean allow_unknown;
    gboolean allow_insecure;
    double tolerance;
    gboolean verbose;
} Options;

/* Defaults, then the config file, then the options.  Returns the exit
 * status for a failure (EXIT_CONFIG for the file, else EXIT_USAGE), or
 * EXIT_OK. */
static int build_config(const Options *o, RequestConfig *cfg, GError **error)
{
    MigrationConfig *mig = &cfg->migration;

    config_init(&request_schema, cfg);
    if (o->config && !config_load_file(&request_schema, cfg, o->config, error))
        return EXIT_CONFIG;
    if (o->uri) {
        g_free(cfg->daemon.uri);
        cfg->daemon.uri = g_strdup(o->uri);
    }
    if (o->peers) {
        g_strfreev(mig->peers);
        mig->peers = g_strdupv(o->peers);
    }
    if (g_strcmp0(o->mode, "advise") == 0 ||
        (!o->mode && mig->migration_mode == MIGRATION_OFF))
        mig->migration_mode = MIGRATION_ADVISE;
    else if (g_strcmp0(o->mode, "execute") == 0)
        mig->migration_mode = MIGRATION_EXECUTE;
    else if (o->mode) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                    "--mode '%s': expected advise or execute", o->mode);
        return EXIT_USAGE;
    }
    if (o->log) {
        g_free(mig->advise_log);
        mig->advise_log = g_strdup(o->log);
    }
    if (o->allow_unsynced)
        mig->allow_unsynced_clock = TRUE;
    if (o->allow_unknown)
        mig->allow_unknown_tsc = TRUE;
    if (o->allow_insecure)
        mig->allow_insecure = TRUE;
    if (o->tolerance > 0)
        mig->tsc_tolerance_ppm = o->tolerance;
    return config_validate(&request_schema, cfg, error) ? EXIT_OK : EXIT_USAGE;
}

int main(int argc, char **argv)
{
    Options o = {0};
    GOptionEntry entries[] = {
        {"uri", 'c', 0, G_OPTION_ARG_STRING, &o.uri,
         "libvirt URI of the source (default qemu:///system)", "URI"},
        {"guest", 'g', 0, G_OPTION_ARG_STRING, &o.guest,
         "name of the guest to move (required)", "NAME"},
        {"peer", 'p', 0, G_OPTION_ARG_STRING_ARRAY, &o.peers,
         "libvirt URI of a peer, =UUID its host UUID (repeatable; execute "
         "mode needs the UUID; default: the config's)",
         "URI[=UUID]"},
        {"mode", 'm', 0, G_OPTION_ARG_STRING, &o.mode,
         "advise (default) or execute", "MODE"},
        {"config", 'f', 0, G_OPTION_ARG_FILENAME, &o.config,
         "a daemon's config file, for its [migration] settings", "FILE"},
        {"log", 'l', 0, G_OPTION_ARG_FILENAME, &o.log,
         "append the JSON lines here (default: advise_log, else stdout)",
         "FILE"},
        {"allow-unsynced-clock", 0, 0, G_OPTION_ARG_NONE, &o.allow_unsynced,
         "execute even when this host's clock is not synchronised", NULL},
        {"allow-unknown-tsc", 0, 0, G_OPTION_ARG_NONE, &o.allow_unknown,
         "accept peers or guests whose TSC frequency is unknown", NULL},
        {"allow-insecure", 0, 0, G_OPTION_ARG_NONE, &o.allow_insecure,
         "execute without TLS, also to a qemu+tcp peer", NULL},
        {"tolerance-ppm", 0, 0, G_OPTION_ARG_DOUBLE, &o.tolerance,
         "TSC tolerance in ppm (default 250)", "PPM"},
        {"verbose", 'v', 0, G_OPTION_ARG_NONE, &o.verbose,
         "debug messages, e.g. the job's progress", NULL},
        {NULL}};
    g_autoptr(GOptionContext) octx = g_option_context_new(NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(Conn) conn = NULL;
    g_autoptr(Migrator) m = NULL;
    g_autoptr(QuitGuard) guard = NULL;
    RequestConfig cfg = {0};
    g_autofree char *exits = exit_codes_help();
    int rc = EXIT_OK;

    g_option_context_set_summary(
        octx, "Requests the migration of one guest to a peer host, with the "
              "daemons' TSC, memory, load and clock checks.");
    g_option_context_set_description(octx, exits);
    g_option_context_add_main_entries(octx, entries, NULL);
    if (!g_option_context_parse(octx, &argc, &argv, &err) || argc > 1 ||
        !o.guest) {
        g_printerr("migrate_request: %s\n",
                   err ? err->message
                       : (argc > 1 ? "unexpected argument"
                                   : "--guest is "
                                     "required"));
        cli_entries_free(entries);
        return EXIT_USAGE;
    }
    if (o.verbose)
        g_log_set_debug_enabled(TRUE);
    rc = build_config(&o, &cfg, &err);
    if (rc != EXIT_OK) {
        g_printerr("migrate_request: %s\n", err->message);
        goto cleanup;
    }
    conn = conn_new(cfg.daemon.uri, FALSE);
    if (!conn_open_now(conn, &err)) {
        g_printerr("migrate_request: %s\n", err->message);
        rc = EXIT_LIBVIRT;
        goto cleanup;
    }
    /* SIGINT or SIGTERM during the migration aborts it (migrator), rather
     * than leave libvirt running it with nobody watching. */
    guard = quit_guard_new_polled();
    m = migrator_new("migrate_request", NULL, NULL);
    if (!migrator_request_named(m, conn, &cfg.migration, o.guest, guard,
                                &err)) {
        g_printerr("migrate_request: %s\n", err->message);
        /* The snapshot it decides on is libvirt's too. */
        rc = err->domain == CONN_ERROR ? EXIT_LIBVIRT : EXIT_RUNTIME;
    }

cleanup:
    g_clear_pointer(&m, migrator_free);
    g_clear_pointer(&guard, quit_guard_free);
    config_clear(&request_schema, &cfg);
    cli_entries_free(entries);
    return rc;
}
