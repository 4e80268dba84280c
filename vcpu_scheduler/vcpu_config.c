#include "vcpu_config.h"

#include <stddef.h>

G_STATIC_ASSERT(offsetof(VcpuConfig, daemon) == 0);

#define VK(k, f, lo, hi)                                                       \
    CONFIG_KEY("vcpu", k, CONFIG_DOUBLE, VcpuConfig, f, lo, hi)

const char *const granularity_names[] = {"auto",  "cpu",  "core",
                                         "cache", "node", NULL};

static const ConfigKey vcpu_keys[] = {
    VK("sd_threshold", sd_threshold, 0.1, 100),
    VK("sd_hysteresis", sd_hysteresis, 0, 100),
    CONFIG_KEY("vcpu", "dwell_ticks", CONFIG_UINT, VcpuConfig, dwell_ticks, 0,
               10000),
    VK("idle_util", idle_util, 0, 100),
    CONFIG_KEY("vcpu", "exclude_cpus", CONFIG_CPULIST, VcpuConfig, exclude_cpus,
               0, 0),
    {.group = "vcpu",
     .key = "granularity",
     .type = CONFIG_ENUM,
     .offset = offsetof(VcpuConfig, granularity),
     .names = granularity_names,
     .expected = "auto, cpu, core, cache or node"},
    {NULL},
};

static void vcpu_defaults(gpointer data)
{
    VcpuConfig *cfg = data;

    cfg->sd_threshold = 5.0;
    cfg->sd_hysteresis = 2.0;
    cfg->dwell_ticks = 3;
    cfg->idle_util = 5.0;
}

static const ConfigPartAt vcpu_parts[] = {
    {&migration_config_part, offsetof(VcpuConfig, migration)},
    {NULL},
};

const ConfigSchema vcpu_config_schema = {
    .size = sizeof(VcpuConfig),
    .keys = vcpu_keys,
    .parts = vcpu_parts,
    .defaults = vcpu_defaults,
};

const CliOption vcpu_cli_options[] = {
    {"threshold", 't', "vcpu", "sd_threshold",
     "balanced when the sd of pCPU utilisation is at most this", "PCT"},
    {"exclude-cpus", 'x', "vcpu", "exclude_cpus",
     "CPUs no vCPU is placed on, e.g. 0,64 or 0-1", "LIST"},
    {"granularity", 'g', "vcpu", "granularity",
     "pin each vCPU to one cpu, or to a core, cache or node", "GRAIN"},
    {NULL},
};
