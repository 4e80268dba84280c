/* The vCPU scheduler's settings: [daemon] as every daemon has it,
 * [migration] (migration_config.h), and its own [vcpu] group. */
#pragma once

#include "cli.h"
#include "config.h"
#include "cpuset.h"
#include "migration_config.h"

/* What a vCPU is pinned to (slots.h).  An int: CONFIG_ENUM sets it. */
typedef enum {
    GRAIN_AUTO = 0, /* cpu on small hosts, core on large (slots.h) */
    GRAIN_CPU = 1,
    GRAIN_CORE = 2,
    GRAIN_CACHE = 3,
    GRAIN_NODE = 4,
} Granularity;

extern const char *const granularity_names[];

typedef struct {
    DaemonConfig daemon; /* first, as every daemon's config */
    MigrationConfig migration;

    /* [vcpu] */
    double sd_threshold;  /* balanced when sd of pCPU utilisation <= this */
    double sd_hysteresis; /* a plan must improve sd by at least this much */
    guint dwell_ticks;    /* ticks a repinned vCPU stays put */
    double idle_util;     /* below this mean utilisation the host is idle */
    /* CPUs kept from the guests (housekeeping, interrupts), libvirt's
     * cpuset syntax ("0,64"); empty for none.  No vCPU is placed on them
     * and they do not count in the balance. */
    CpuList exclude_cpus;
    Granularity granularity;
} VcpuConfig;

extern const ConfigSchema vcpu_config_schema;
/* Its own command-line options. */
extern const CliOption vcpu_cli_options[];
