#include "vcpu_config.h"

#include <stddef.h>

#include "cpuset.h"

G_STATIC_ASSERT(offsetof(VcpuConfig, daemon) == 0);

#define VK(k, f, lo, hi)                                                       \
    CONFIG_KEY("vcpu", k, CONFIG_DOUBLE, VcpuConfig, f, lo, hi)

static const ConfigKey vcpu_keys[] = {
    VK("sd_threshold", sd_threshold, 0.1, 100),
    VK("sd_hysteresis", sd_hysteresis, 0, 100),
    CONFIG_KEY("vcpu", "dwell_ticks", CONFIG_UINT, VcpuConfig, dwell_ticks, 0,
               10000),
    VK("idle_util", idle_util, 0, 100),
    CONFIG_KEY("vcpu", "exclude_cpus", CONFIG_STRING, VcpuConfig, exclude_cpus,
               0, 0),
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

/* The syntax here; whether the host has the CPUs is checked against
 * the first snapshot (vcpu_check_host), since a config is read before
 * any connection. */
static gboolean vcpu_validate(gconstpointer data, GError **error)
{
    const VcpuConfig *cfg = data;
    g_autoptr(GArray) ids = NULL;
    g_autoptr(GError) err = NULL;

    if (!cfg->exclude_cpus || !*cfg->exclude_cpus)
        return TRUE;
    ids = cpuset_parse(cfg->exclude_cpus, &err);
    if (!ids) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                    "[vcpu] exclude_cpus: %s", err->message);
        return FALSE;
    }
    return TRUE;
}

const ConfigSchema vcpu_config_schema = {
    .size = sizeof(VcpuConfig),
    .keys = vcpu_keys,
    .defaults = vcpu_defaults,
    .validate = vcpu_validate,
};

const CliOption vcpu_cli_options[] = {
    {"threshold", 't', "vcpu", "sd_threshold",
     "balanced when the sd of pCPU utilisation is at most this", "PCT"},
    {"exclude-cpus", 'x', "vcpu", "exclude_cpus",
     "CPUs no vCPU is placed on, e.g. 0,64 or 0-1", "LIST"},
    {NULL},
};
