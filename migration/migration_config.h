/* The [migration] settings: requests to live-migrate a guest to a peer
 * host.  Both daemons make them, so each daemon's config struct holds a
 * MigrationConfig and lists migration_config_part among its schema's parts
 * (config.h); the --migration and --peer options come with it. */
#pragma once

#include <glib.h>

#include "cli.h"
#include "config.h"

typedef enum {
    MIGRATION_OFF = 0,
    MIGRATION_ADVISE = 1,
    MIGRATION_EXECUTE = 2,
} MigrationMode;

typedef struct {
    MigrationMode migration_mode;
    char **peers;         /* libvirt URIs, NULL-terminated */
    guint trigger_ticks;  /* K ticks of shortage before asking */
    guint cooldown_s;     /* per-guest wait between requests */
    double overload_util; /* every pCPU above this is overload */
    gboolean allow_unknown_tsc;
    gboolean allow_unsynced_clock;
    /* Execute over plain TCP: no VIR_MIGRATE_TLS, and qemu+tcp peers. */
    gboolean allow_insecure;
    double tsc_tolerance_ppm; /* 250 */
    char *advise_log;         /* JSON lines of advise requests; NULL = stdout */
    /* Free memory a peer must keep after taking a guest.  Not a key of
     * [migration]: it is the reserve of [memory] host_reserve_mib where a
     * schema reads that key into it (see mem_config.c), else the
     * default. */
    guint64 host_reserve_mib;
    /* Migrations under way at once: leaving this host (whoever started
     * them), and arriving at one peer (from any host); libvirt's job lists
     * say how many there are (domain_jobs.h). */
    guint max_outbound;
    guint max_inbound;
    /* The throughput a migration gets between hosts, MiB/s, until one
     * here measures it: with a guest's dirty rate it says whether a live
     * migration of it would converge (converge.h). */
    double bandwidth_mib_s;
} MigrationConfig;

const char *migration_mode_name(MigrationMode m);

/* The [migration] keys, their defaults and their checks, for a schema's
 * parts: {&migration_config_part, offsetof(DaemonsConfig, migration)}. */
extern const ConfigPart migration_config_part;

/* --migration and --peer (repeatable), for a CliSpec's more_options. */
extern const CliOption migration_cli_options[];
