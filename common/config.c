#include "config.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

G_DEFINE_QUARK(aos - config - error - quark, config_error)

typedef enum {
    KEY_STRING,
    KEY_DOUBLE,
    KEY_UINT64,
    KEY_UINT,
    KEY_BOOL,
    KEY_MEM_POLICY,
    KEY_MIGRATION_MODE,
    KEY_STRLIST,
} KeyType;

typedef struct {
    const char *group;
    const char *key;
    KeyType type;
    size_t offset;
    double min; /* numeric keys: inclusive range */
    double max;
} KeySpec;

#define K(g, k, t, f, lo, hi)                                                  \
    {                                                                          \
        g, k, t, offsetof(Config, f), lo, hi                                   \
    }

/* Every key a config file may hold.  A key not listed here is an error, so
 * a misspelt setting is reported instead of silently ignored. */
static const KeySpec key_specs[] = {
    K("daemon", "uri", KEY_STRING, uri, 0, 0),
    K("daemon", "interval", KEY_DOUBLE, interval_s, 0.05, 86400),
    K("daemon", "decision_log", KEY_STRING, decision_log, 0, 0),
    K("daemon", "verbose", KEY_BOOL, verbose, 0, 0),

    K("vcpu", "sd_threshold", KEY_DOUBLE, sd_threshold, 0.1, 100),
    K("vcpu", "sd_hysteresis", KEY_DOUBLE, sd_hysteresis, 0, 100),
    K("vcpu", "dwell_ticks", KEY_UINT, dwell_ticks, 0, 10000),
    K("vcpu", "idle_util", KEY_DOUBLE, idle_util, 0, 100),

    K("memory", "policy", KEY_MEM_POLICY, mem_policy, 0, 0),
    K("memory", "guest_floor_mib", KEY_UINT64, guest_floor_mib, 16, 1 << 24),
    K("memory", "min_unused_mib", KEY_UINT64, min_unused_mib, 0, 1 << 24),
    K("memory", "host_reserve_mib", KEY_UINT64, host_reserve_mib, 0, 1 << 24),
    K("memory", "guest_budget_mib", KEY_UINT64, guest_budget_mib, 0, 1 << 30),
    K("memory", "max_release_mib", KEY_UINT64, max_release_mib, 1, 1 << 24),
    K("memory", "release_slack_mib", KEY_UINT64, release_slack_mib, 0, 1 << 24),
    K("memory", "min_step_mib", KEY_UINT64, min_step_mib, 0, 1 << 20),
    K("memory", "horizon_s", KEY_DOUBLE, horizon_s, 0, 600),
    K("memory", "tax_rate", KEY_DOUBLE, tax_rate, 0, 0.99),
    K("memory", "active_rise", KEY_DOUBLE, active_rise, 0.01, 1),
    K("memory", "active_decay", KEY_DOUBLE, active_decay, 0.001, 1),
    K("memory", "stale_after_s", KEY_UINT, stale_after_s, 1, 3600),
    K("memory", "shares", KEY_STRLIST, shares, 0, 0),

    K("migration", "mode", KEY_MIGRATION_MODE, migration_mode, 0, 0),
    K("migration", "peers", KEY_STRLIST, peers, 0, 0),
    K("migration", "trigger_ticks", KEY_UINT, trigger_ticks, 1, 10000),
    K("migration", "cooldown_s", KEY_UINT, cooldown_s, 0, 86400),
    K("migration", "overload_util", KEY_DOUBLE, overload_util, 1, 100),
    K("migration", "allow_unknown_tsc", KEY_BOOL, allow_unknown_tsc, 0, 0),
    K("migration", "allow_unsynced_clock", KEY_BOOL, allow_unsynced_clock, 0,
      0),
    K("migration", "tsc_tolerance_ppm", KEY_DOUBLE, tsc_tolerance_ppm, 1,
      100000),
    K("migration", "advise_log", KEY_STRING, advise_log, 0, 0),
};

void config_defaults(Config *cfg)
{
    *cfg = (Config){
        .uri = g_strdup("qemu:///system"),
        .interval_s = 2.0,
        .sd_threshold = 5.0,
        .sd_hysteresis = 2.0,
        .dwell_ticks = 3,
        .idle_util = 5.0,
        .mem_policy = MEM_POLICY_COURSE,
        .guest_floor_mib = 200,
        .min_unused_mib = 100,
        .host_reserve_mib = 200,
        .guest_budget_mib = 0,
        .max_release_mib = 64,
        .release_slack_mib = 50,
        .min_step_mib = 8,
        .horizon_s = 1.5,
        .tax_rate = 0.75,
        .active_rise = 0.7,
        .active_decay = 0.05,
        .stale_after_s = 10,
        .migration_mode = MIGRATION_OFF,
        .trigger_ticks = 5,
        .cooldown_s = 300,
        .overload_util = 90.0,
        .tsc_tolerance_ppm = 250.0,
    };
}

void config_clear(Config *cfg)
{
    g_clear_pointer(&cfg->uri, g_free);
    g_clear_pointer(&cfg->decision_log, g_free);
    g_clear_pointer(&cfg->shares, g_strfreev);
    g_clear_pointer(&cfg->peers, g_strfreev);
    g_clear_pointer(&cfg->advise_log, g_free);
}

void config_copy(Config *dst, const Config *src)
{
    *dst = *src;
    dst->uri = g_strdup(src->uri);
    dst->decision_log = g_strdup(src->decision_log);
    dst->shares = g_strdupv(src->shares);
    dst->peers = g_strdupv(src->peers);
    dst->advise_log = g_strdup(src->advise_log);
}

static const char *const mem_policy_names[] = {"course", "idle-tax"};
static const char *const migration_mode_names[] = {"off", "advise", "execute"};

/* Index of s in names, or -1. */
static gint name_index(const char *const *names, guint n, const char *s)
{
    guint i;

    for (i = 0; i < n; i++) {
        if (g_strcmp0(s, names[i]) == 0)
            return (gint)i;
    }
    return -1;
}

const char *mem_policy_name(MemPolicyKind k)
{
    return (guint)k < G_N_ELEMENTS(mem_policy_names) ? mem_policy_names[k]
                                                     : "?";
}

gboolean mem_policy_parse(const char *s, MemPolicyKind *out)
{
    gint i = name_index(mem_policy_names, G_N_ELEMENTS(mem_policy_names), s);

    if (i < 0)
        return FALSE;
    *out = (MemPolicyKind)i;
    return TRUE;
}

const char *migration_mode_name(MigrationMode m)
{
    return (guint)m < G_N_ELEMENTS(migration_mode_names)
               ? migration_mode_names[m]
               : "?";
}

gboolean migration_mode_parse(const char *s, MigrationMode *out)
{
    gint i =
        name_index(migration_mode_names, G_N_ELEMENTS(migration_mode_names), s);

    if (i < 0)
        return FALSE;
    *out = (MigrationMode)i;
    return TRUE;
}

static const KeySpec *find_spec(const char *group, const char *key)
{
    guint i;

    for (i = 0; i < G_N_ELEMENTS(key_specs); i++) {
        if (strcmp(key_specs[i].group, group) == 0 &&
            strcmp(key_specs[i].key, key) == 0)
            return &key_specs[i];
    }
    return NULL;
}

static gboolean group_known(const char *group)
{
    guint i;

    for (i = 0; i < G_N_ELEMENTS(key_specs); i++) {
        if (strcmp(key_specs[i].group, group) == 0)
            return TRUE;
    }
    return FALSE;
}

static gboolean shares_entry_valid(const char *entry)
{
    const char *eq = strchr(entry, '=');
    guint64 v;

    if (!eq || eq == entry)
        return FALSE;
    return g_ascii_string_to_unsigned(eq + 1, 10, 1, 1000000, &v, NULL);
}

gboolean config_parse_decimal(const char *text, double *out)
{
    const char *p = text;
    gboolean digits = FALSE;

    /* strtod alone would take hexadecimal, "inf", "nan" and leading
     * blanks, none of which anyone means by a number in a setting. */
    if (!p)
        return FALSE;
    if (*p == '-' || *p == '+')
        p++;
    while (g_ascii_isdigit(*p)) {
        p++;
        digits = TRUE;
    }
    if (*p == '.') {
        p++;
        while (g_ascii_isdigit(*p)) {
            p++;
            digits = TRUE;
        }
    }
    if (!digits)
        return FALSE;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (!g_ascii_isdigit(*p))
            return FALSE;
        while (g_ascii_isdigit(*p))
            p++;
    }
    if (*p != '\0')
        return FALSE;
    *out = g_ascii_strtod(text, NULL);
    return TRUE;
}

static gboolean range_error(const char *origin, const KeySpec *s, double v,
                            GError **error)
{
    g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                "%s: [%s] %s = %g is out of range (%g to %g)", origin, s->group,
                s->key, v, s->min, s->max);
    return FALSE;
}

/* Reads one key into the struct at base; the value's own parser errors
 * are rewrapped so every message names file, group and key. */
static gboolean load_key(GKeyFile *kf, const KeySpec *s, const char *origin,
                         void *base, GError **error)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *raw = NULL;
    char *field = (char *)base + s->offset;

    raw = g_key_file_get_value(kf, s->group, s->key, NULL);
    switch (s->type) {
    case KEY_STRING: {
        g_autofree char *v = g_key_file_get_string(kf, s->group, s->key, &err);
        if (!v)
            break;
        if (!*v) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                        "%s: [%s] %s must not be empty", origin, s->group,
                        s->key);
            return FALSE;
        }
        g_free(*(char **)field);
        *(char **)field = g_steal_pointer(&v);
        return TRUE;
    }
    case KEY_DOUBLE: {
        double v;
        /* GKeyFile keeps blanks at the end of a line; nobody sees them. */
        g_strstrip(raw);
        if (!config_parse_decimal(raw, &v)) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                        "%s: [%s] %s = '%s' is not a decimal number", origin,
                        s->group, s->key, raw ? raw : "");
            return FALSE;
        }
        if (!isfinite(v) || v < s->min || v > s->max)
            return range_error(origin, s, v, error);
        *(double *)field = v;
        return TRUE;
    }
    case KEY_UINT64:
    case KEY_UINT: {
        guint64 v;
        g_strstrip(raw);
        if (!g_ascii_string_to_unsigned(raw, 10, 0, G_MAXUINT64, &v, NULL)) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                        "%s: [%s] %s = '%s' is not a whole number", origin,
                        s->group, s->key, raw);
            return FALSE;
        }
        if ((double)v < s->min || (double)v > s->max)
            return range_error(origin, s, (double)v, error);
        if (s->type == KEY_UINT)
            *(guint *)field = (guint)v;
        else
            *(guint64 *)field = v;
        return TRUE;
    }
    case KEY_BOOL: {
        gboolean v = g_key_file_get_boolean(kf, s->group, s->key, &err);
        if (err)
            break;
        *(gboolean *)field = v;
        return TRUE;
    }
    case KEY_MEM_POLICY:
        g_strstrip(raw);
        if (!mem_policy_parse(raw, (MemPolicyKind *)field)) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                        "%s: [%s] %s = '%s': expected course or idle-tax",
                        origin, s->group, s->key, raw);
            return FALSE;
        }
        return TRUE;
    case KEY_MIGRATION_MODE:
        g_strstrip(raw);
        if (!migration_mode_parse(raw, (MigrationMode *)field)) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                        "%s: [%s] %s = '%s': expected off, advise or execute",
                        origin, s->group, s->key, raw);
            return FALSE;
        }
        return TRUE;
    case KEY_STRLIST: {
        g_auto(GStrv) v =
            g_key_file_get_string_list(kf, s->group, s->key, NULL, &err);
        guint i;
        if (!v)
            break;
        for (i = 0; v[i]; i++) {
            g_strstrip(v[i]);
            if (offsetof(Config, shares) == s->offset &&
                !shares_entry_valid(v[i])) {
                g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                            "%s: [%s] %s: entry '%s' is not name=N with N "
                            "from 1 to 1000000",
                            origin, s->group, s->key, v[i]);
                return FALSE;
            }
        }
        g_strfreev(*(char ***)field);
        *(char ***)field = g_steal_pointer(&v);
        return TRUE;
    }
    }
    g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                "%s: [%s] %s = '%s': %s", origin, s->group, s->key,
                raw ? raw : "", err ? err->message : "invalid value");
    return FALSE;
}

static gboolean load_keyfile(Config *cfg, GKeyFile *kf, const char *origin,
                             GError **error)
{
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    Config tmp;
    guint g;

    /* Work on a copy so a bad file changes nothing. */
    config_copy(&tmp, cfg);
    for (g = 0; groups[g]; g++) {
        g_auto(GStrv) keys = NULL;
        guint k;

        if (!group_known(groups[g])) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_UNKNOWN_KEY,
                        "%s: unknown group [%s]", origin, groups[g]);
            goto fail;
        }
        keys = g_key_file_get_keys(kf, groups[g], NULL, NULL);
        for (k = 0; keys && keys[k]; k++) {
            const KeySpec *s = find_spec(groups[g], keys[k]);
            if (!s) {
                g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_UNKNOWN_KEY,
                            "%s: unknown key '%s' in [%s]", origin, keys[k],
                            groups[g]);
                goto fail;
            }
            if (!load_key(kf, s, origin, &tmp, error))
                goto fail;
        }
    }
    if (!config_validate(&tmp, error)) {
        g_prefix_error(error, "%s: ", origin);
        goto fail;
    }
    config_clear(cfg);
    *cfg = tmp;
    return TRUE;

fail:
    config_clear(&tmp);
    return FALSE;
}

gboolean config_load_data(Config *cfg, const char *data, gsize len,
                          const char *origin, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) err = NULL;
    const char *nul = memchr(data, '\0', len);

    /* GKeyFile would stop reading there, and silently drop the rest. */
    if (nul) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_PARSE,
                    "%s: NUL byte at offset %" G_GSIZE_FORMAT
                    "; a config file is text",
                    origin, (gsize)(nul - data));
        return FALSE;
    }
    if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, &err)) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_PARSE, "%s: %s", origin,
                    err->message);
        return FALSE;
    }
    return load_keyfile(cfg, kf, origin, error);
}

gboolean config_load_file(Config *cfg, const char *path, GError **error)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    g_autoptr(GError) err = NULL;

    if (!g_file_get_contents(path, &data, &len, &err)) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_PARSE,
                    "cannot read config: %s", err->message);
        return FALSE;
    }
    return config_load_data(cfg, data, len, path, error);
}

gboolean config_validate(const Config *cfg, GError **error)
{
    if (cfg->interval_s < 0.05 || cfg->interval_s > 86400 ||
        !isfinite(cfg->interval_s)) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                    "interval %g s is out of range (0.05 to 86400)",
                    cfg->interval_s);
        return FALSE;
    }
    if (cfg->guest_budget_mib != 0 &&
        cfg->guest_budget_mib < cfg->guest_floor_mib) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                    "guest_budget_mib %" G_GUINT64_FORMAT
                    " is below guest_floor_mib %" G_GUINT64_FORMAT,
                    cfg->guest_budget_mib, cfg->guest_floor_mib);
        return FALSE;
    }
    if (cfg->migration_mode != MIGRATION_OFF &&
        (!cfg->peers || !cfg->peers[0])) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                    "migration mode %s needs at least one peer in [migration] "
                    "peers",
                    migration_mode_name(cfg->migration_mode));
        return FALSE;
    }
    return TRUE;
}

guint config_shares_for(const Config *cfg, const char *domain_name)
{
    gsize len = domain_name ? strlen(domain_name) : 0;
    guint i;

    for (i = 0; cfg->shares && cfg->shares[i]; i++) {
        const char *e = cfg->shares[i];
        if (len && strncmp(e, domain_name, len) == 0 && e[len] == '=')
            return (guint)g_ascii_strtoull(e + len + 1, NULL, 10);
    }
    return CONFIG_DEFAULT_SHARES;
}
