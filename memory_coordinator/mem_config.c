#include "mem_config.h"

#include <stddef.h>
#include <string.h>

G_STATIC_ASSERT(offsetof(MemConfig, daemon) == 0);

static const char *const mem_policy_names[] = {"course", "idle-tax", NULL};

static gboolean shares_entry_ok(const char *entry)
{
    const char *eq = strchr(entry, '=');
    guint64 v;

    if (!eq || eq == entry)
        return FALSE;
    return g_ascii_string_to_unsigned(eq + 1, 10, 1, 1000000, &v, NULL);
}

#define MK(k, t, f, lo, hi) CONFIG_KEY("memory", k, t, MemConfig, f, lo, hi)

static const ConfigKey mem_keys[] = {
    {.group = "memory",
     .key = "policy",
     .type = CONFIG_ENUM,
     .offset = offsetof(MemConfig, mem_policy),
     .names = mem_policy_names,
     .expected = "course or idle-tax"},
    MK("guest_floor_mib", CONFIG_UINT64, guest_floor_mib, 16, 1 << 24),
    MK("min_unused_mib", CONFIG_UINT64, min_unused_mib, 0, 1 << 24),
    MK("host_reserve_mib", CONFIG_UINT64, host_reserve_mib, 0, 1 << 24),
    /* The reserve this host keeps is also what a migration peer must
     * keep free after taking a guest. */
    MK("host_reserve_mib", CONFIG_UINT64, migration.host_reserve_mib, 0,
       1 << 24),
    MK("guest_budget_mib", CONFIG_UINT64, guest_budget_mib, 0, 1 << 30),
    MK("max_release_mib", CONFIG_UINT64, max_release_mib, 1, 1 << 24),
    MK("release_slack_mib", CONFIG_UINT64, release_slack_mib, 0, 1 << 24),
    MK("min_step_mib", CONFIG_UINT64, min_step_mib, 0, 1 << 20),
    MK("horizon_s", CONFIG_DOUBLE, horizon_s, 0, 600),
    MK("tax_rate", CONFIG_DOUBLE, tax_rate, 0, 0.99),
    MK("active_rise", CONFIG_DOUBLE, active_rise, 0.01, 1),
    MK("active_decay", CONFIG_DOUBLE, active_decay, 0.001, 1),
    MK("stale_after_s", CONFIG_UINT, stale_after_s, 1, 3600),
    {.group = "memory",
     .key = "shares",
     .type = CONFIG_STRLIST,
     .offset = offsetof(MemConfig, shares),
     .expected = "name=N with N from 1 to 1000000",
     .entry_ok = shares_entry_ok},
    {NULL},
};

static void mem_defaults(gpointer data)
{
    MemConfig *cfg = data;

    cfg->mem_policy = MEM_POLICY_COURSE;
    cfg->guest_floor_mib = 200;
    cfg->min_unused_mib = 100;
    cfg->host_reserve_mib = cfg->migration.host_reserve_mib;
    cfg->guest_budget_mib = 0;
    cfg->max_release_mib = 64;
    cfg->release_slack_mib = 50;
    cfg->min_step_mib = 8;
    cfg->horizon_s = 1.5;
    cfg->tax_rate = 0.75;
    cfg->active_rise = 0.7;
    cfg->active_decay = 0.05;
    cfg->stale_after_s = 10;
}

static gboolean mem_validate(gconstpointer data, GError **error)
{
    const MemConfig *cfg = data;

    if (cfg->guest_budget_mib != 0 &&
        cfg->guest_budget_mib < cfg->guest_floor_mib) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                    "guest_budget_mib %" G_GUINT64_FORMAT
                    " is below guest_floor_mib %" G_GUINT64_FORMAT,
                    cfg->guest_budget_mib, cfg->guest_floor_mib);
        return FALSE;
    }
    return TRUE;
}

static const ConfigPartAt mem_parts[] = {
    {&migration_config_part, offsetof(MemConfig, migration)},
    {NULL},
};

const ConfigSchema mem_config_schema = {
    .size = sizeof(MemConfig),
    .keys = mem_keys,
    .parts = mem_parts,
    .defaults = mem_defaults,
    .validate = mem_validate,
};

const CliOption mem_cli_options[] = {
    {"policy", 'p', "memory", "policy", "balloon policy: course or idle-tax",
     "NAME"},
    {"budget-mib", 'b', "memory", "guest_budget_mib",
     "total MiB all guests may hold (0: from the host)", "MIB"},
    {"reserve-mib", 'r', "memory", "host_reserve_mib",
     "MiB the host always keeps free", "MIB"},
    {NULL},
};

guint mem_config_shares_for(const MemConfig *cfg, const char *domain_name)
{
    gsize len = domain_name ? strlen(domain_name) : 0;
    guint i;

    for (i = 0; cfg->shares && cfg->shares[i]; i++) {
        const char *e = cfg->shares[i];
        if (len && strncmp(e, domain_name, len) == 0 && e[len] == '=')
            return (guint)g_ascii_strtoull(e + len + 1, NULL, 10);
    }
    return MEM_DEFAULT_SHARES;
}

const char *mem_policy_name(MemPolicyKind k)
{
    return (guint)k < G_N_ELEMENTS(mem_policy_names) - 1 ? mem_policy_names[k]
                                                         : "?";
}
