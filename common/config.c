#include "config.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "cpuset.h"

GQuark config_error_quark(void)
{
    return g_quark_from_static_string("aos-config-error-quark");
}

#define DK(k, t, f, lo, hi) CONFIG_KEY("daemon", k, t, DaemonConfig, f, lo, hi)

/* The keys of every daemon.  A key no table lists is an error, so a
 * misspelt setting is reported instead of silently ignored. */
static const ConfigKey daemon_keys[] = {
    DK("uri", CONFIG_STRING, uri, 0, 0),
    DK("interval", CONFIG_DOUBLE, interval_s, 0.05, 86400),
    DK("decision_log", CONFIG_STRING, decision_log, 0, 0),
    DK("metrics_file", CONFIG_STRING, metrics_file, 0, 0),
    DK("verbose", CONFIG_BOOL, verbose, 0, 0),
    {NULL},
};

static void daemon_defaults(DaemonConfig *d)
{
    *d = (DaemonConfig){
        .uri = g_strdup("qemu:///system"),
        .interval_s = 2.0,
    };
}

const ConfigSchema daemon_config_schema = {
    .size = sizeof(DaemonConfig),
};

static gboolean daemon_validate(const DaemonConfig *d, GError **error)
{
    if (d->interval_s < 0.05 || d->interval_s > 86400 ||
        !isfinite(d->interval_s)) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                    "interval %g s is out of range (0.05 to 86400)",
                    d->interval_s);
        return FALSE;
    }
    return TRUE;
}

/* ---- Walking the tables ------------------------------------------------ */

/* base: where the struct the key's offset is in starts, within the
 * daemon's struct (0 but for a part's keys). */
typedef void (*KeyFunc)(const ConfigKey *k, gsize base, gpointer data);

/* Calls fn for every key of the schema: [daemon]'s, the parts', then the
 * daemon's own. */
static void each_key(const ConfigSchema *s, KeyFunc fn, gpointer data)
{
    const ConfigPartAt *p;
    const ConfigKey *k;

    for (k = daemon_keys; k->group; k++)
        fn(k, 0, data);
    for (p = s->parts; p && p->part; p++) {
        for (k = p->part->keys; k && k->group; k++)
            fn(k, p->offset, data);
    }
    for (k = s->keys; k && k->group; k++)
        fn(k, 0, data);
}

static void clear_field(const ConfigKey *k, gsize base, gpointer cfg)
{
    gpointer *field = (gpointer *)((char *)cfg + base + k->offset);

    if (k->type == CONFIG_STRING)
        g_clear_pointer(field, g_free);
    else if (k->type == CONFIG_STRLIST)
        g_clear_pointer(field, g_strfreev);
    else if (k->type == CONFIG_CPULIST)
        cpu_list_clear((CpuList *)field);
}

static void dup_field(const ConfigKey *k, gsize base, gpointer cfg)
{
    gpointer *field = (gpointer *)((char *)cfg + base + k->offset);

    if (k->type == CONFIG_STRING)
        *field = g_strdup(*field);
    else if (k->type == CONFIG_STRLIST)
        *field = g_strdupv(*field);
    else if (k->type == CONFIG_CPULIST) {
        /* The struct was copied shallowly: copy what it points to. */
        CpuList shallow = *(CpuList *)field;

        cpu_list_copy((CpuList *)field, &shallow);
    }
}

void config_init(const ConfigSchema *s, gpointer cfg)
{
    const ConfigPartAt *p;

    memset(cfg, 0, s->size);
    daemon_defaults(cfg);
    for (p = s->parts; p && p->part; p++) {
        if (p->part->defaults)
            p->part->defaults((char *)cfg + p->offset);
    }
    if (s->defaults)
        s->defaults(cfg);
}

void config_clear(const ConfigSchema *s, gpointer cfg)
{
    each_key(s, clear_field, cfg);
}

void config_copy(const ConfigSchema *s, gpointer dst, gconstpointer src)
{
    memcpy(dst, src, s->size);
    each_key(s, dup_field, dst);
}

typedef struct {
    gconstpointer a;
    gconstpointer b;
    gboolean differ;
} Comparison;

static gboolean strv_equal(char **a, char **b)
{
    if (!a || !b)
        return a == b;
    return g_strv_equal((const char *const *)a, (const char *const *)b);
}

static void compare_field(const ConfigKey *k, gsize base, gpointer data)
{
    Comparison *c = data;
    const char *fa = (const char *)c->a + base + k->offset;
    const char *fb = (const char *)c->b + base + k->offset;

    switch (k->type) {
    case CONFIG_STRING:
        c->differ |= g_strcmp0(*(char *const *)fa, *(char *const *)fb) != 0;
        break;
    case CONFIG_STRLIST:
        c->differ |= !strv_equal(*(char **const *)fa, *(char **const *)fb);
        break;
    case CONFIG_CPULIST:
        c->differ |= !cpu_list_equal((const CpuList *)fa, (const CpuList *)fb);
        break;
    case CONFIG_DOUBLE:
        c->differ |= *(const double *)fa != *(const double *)fb;
        break;
    case CONFIG_UINT64:
        c->differ |= *(const guint64 *)fa != *(const guint64 *)fb;
        break;
    case CONFIG_UINT:
        c->differ |= *(const guint *)fa != *(const guint *)fb;
        break;
    case CONFIG_BOOL:
    case CONFIG_ENUM:
        c->differ |= *(const int *)fa != *(const int *)fb;
        break;
    }
}

gboolean config_equal(const ConfigSchema *s, gconstpointer a, gconstpointer b)
{
    const DaemonConfig *da = a;
    const DaemonConfig *db = b;
    Comparison c = {a, b, FALSE};

    each_key(s, compare_field, &c);
    return !c.differ && da->once == db->once && da->dry_run == db->dry_run;
}

typedef struct {
    const char *group;
    const char *key;
    guint found;
} KeyQuery;

static void match_key(const ConfigKey *k, gsize base, gpointer data)
{
    KeyQuery *q = data;

    if (strcmp(k->group, q->group) == 0 &&
        (!q->key || strcmp(k->key, q->key) == 0))
        q->found++;
}

gboolean config_has_key(const ConfigSchema *s, const char *group,
                        const char *key)
{
    KeyQuery q = {group, key, 0};

    each_key(s, match_key, &q);
    return q.found > 0;
}

/* ---- Values ------------------------------------------------------------- */

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

static gboolean range_error(const char *origin, const ConfigKey *k, double v,
                            GError **error)
{
    g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                "%s: [%s] %s = %g is out of range (%g to %g)", origin, k->group,
                k->key, v, k->min, k->max);
    return FALSE;
}

static gboolean load_number(const ConfigKey *k, const char *raw,
                            const char *origin, char *field, GError **error)
{
    guint64 u;
    double v;

    if (k->type == CONFIG_DOUBLE) {
        if (!config_parse_decimal(raw, &v)) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                        "%s: [%s] %s = '%s' is not a decimal number", origin,
                        k->group, k->key, raw);
            return FALSE;
        }
        if (!isfinite(v) || v < k->min || v > k->max)
            return range_error(origin, k, v, error);
        *(double *)field = v;
        return TRUE;
    }
    if (!g_ascii_string_to_unsigned(raw, 10, 0, G_MAXUINT64, &u, NULL)) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                    "%s: [%s] %s = '%s' is not a whole number", origin,
                    k->group, k->key, raw);
        return FALSE;
    }
    if ((double)u < k->min || (double)u > k->max)
        return range_error(origin, k, (double)u, error);
    if (k->type == CONFIG_UINT)
        *(guint *)field = (guint)u;
    else
        *(guint64 *)field = u;
    return TRUE;
}

static gboolean load_enum(const ConfigKey *k, const char *raw,
                          const char *origin, char *field, GError **error)
{
    gint i;

    for (i = 0; k->names[i]; i++) {
        if (strcmp(raw, k->names[i]) == 0) {
            *(int *)field = i;
            return TRUE;
        }
    }
    g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                "%s: [%s] %s = '%s': expected %s", origin, k->group, k->key,
                raw, k->expected);
    return FALSE;
}

static gboolean load_strlist(GKeyFile *kf, const ConfigKey *k,
                             const char *origin, char *field, GError **error)
{
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) v =
        g_key_file_get_string_list(kf, k->group, k->key, NULL, &err);
    guint i;

    if (!v) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE, "%s: [%s] %s: %s",
                    origin, k->group, k->key, err->message);
        return FALSE;
    }
    for (i = 0; v[i]; i++) {
        g_strstrip(v[i]);
        if (k->entry_ok && !k->entry_ok(v[i])) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                        "%s: [%s] %s: entry '%s' is not %s", origin, k->group,
                        k->key, v[i], k->expected);
            return FALSE;
        }
    }
    g_strfreev(*(char ***)field);
    *(char ***)field = g_steal_pointer(&v);
    return TRUE;
}

/* Reads one key into the struct at base; the value's own parser errors
 * are rewrapped so every message names origin, group and key. */
static gboolean load_key(GKeyFile *kf, const ConfigKey *k, const char *origin,
                         char *field, GError **error)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *raw = g_key_file_get_value(kf, k->group, k->key, NULL);

    gboolean b;

    /* GKeyFile keeps blanks at the end of a line; nobody sees them. */
    g_strstrip(raw);
    switch (k->type) {
    case CONFIG_STRING: {
        g_autofree char *v = g_key_file_get_string(kf, k->group, k->key, &err);
        if (!v)
            break;
        if (!*v) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                        "%s: [%s] %s must not be empty", origin, k->group,
                        k->key);
            return FALSE;
        }
        g_free(*(char **)field);
        *(char **)field = g_steal_pointer(&v);
        return TRUE;
    }
    case CONFIG_DOUBLE:
    case CONFIG_UINT:
    case CONFIG_UINT64:
        return load_number(k, raw, origin, field, error);
    case CONFIG_BOOL:
        b = g_key_file_get_boolean(kf, k->group, k->key, &err);
        if (err)
            break;
        *(gboolean *)field = b;
        return TRUE;
    case CONFIG_ENUM:
        return load_enum(k, raw, origin, field, error);
    case CONFIG_STRLIST:
        return load_strlist(kf, k, origin, field, error);
    case CONFIG_CPULIST:
        if (!cpu_list_set((CpuList *)field, raw, &err)) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                        "%s: [%s] %s: %s", origin, k->group, k->key,
                        err->message);
            return FALSE;
        }
        return TRUE;
    }
    g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                "%s: [%s] %s = '%s': %s", origin, k->group, k->key, raw,
                err ? err->message : "invalid value");
    return FALSE;
}

typedef struct {
    GKeyFile *kf;
    const char *group;
    const char *key;
    const char *origin;
    gpointer cfg;
    guint found;
    GError *error;
} LoadJob;

static void load_matching(const ConfigKey *k, gsize base, gpointer data)
{
    LoadJob *j = data;

    if (j->error || strcmp(k->group, j->group) != 0 ||
        strcmp(k->key, j->key) != 0)
        return;
    j->found++;
    load_key(j->kf, k, j->origin, (char *)j->cfg + base + k->offset, &j->error);
}

static gboolean table_has_group(const ConfigKey *k, const char *group)
{
    for (; k && k->group; k++) {
        if (strcmp(k->group, group) == 0)
            return TRUE;
    }
    return FALSE;
}

/* Whether group is [daemon] or one of the schema's parts'. */
static gboolean group_is_shared(const ConfigSchema *s, const char *group)
{
    const ConfigPartAt *p;

    if (table_has_group(daemon_keys, group))
        return TRUE;
    for (p = s->parts; p && p->part; p++) {
        if (table_has_group(p->part->keys, group))
            return TRUE;
    }
    return FALSE;
}

/* Loads every key of one group; FALSE with error set on the first bad
 * one. */
static gboolean load_group(const ConfigSchema *s, GKeyFile *kf,
                           const char *group, const char *origin, gpointer cfg,
                           GError **error)
{
    g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);
    /* [daemon] and the parts' groups are whole in every schema that has
     * them: a key missing there is a typo even for a reader that skips
     * other groups' keys. */
    gboolean skip = s->skip_unknown && !group_is_shared(s, group);
    guint i;

    if (!config_has_key(s, group, NULL)) {
        if (s->skip_unknown)
            return TRUE;
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_UNKNOWN_KEY,
                    "%s: unknown group [%s]", origin, group);
        return FALSE;
    }
    for (i = 0; keys && keys[i]; i++) {
        LoadJob j = {kf, group, keys[i], origin, cfg, 0, NULL};

        each_key(s, load_matching, &j);
        if (j.error) {
            g_propagate_error(error, j.error);
            return FALSE;
        }
        if (j.found == 0 && !skip) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_UNKNOWN_KEY,
                        "%s: unknown key '%s' in [%s]", origin, keys[i], group);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean load_keyfile(const ConfigSchema *s, gpointer cfg, GKeyFile *kf,
                             const char *origin, GError **error)
{
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    g_autofree char *tmp = g_malloc(s->size);
    guint g;

    /* Work on a copy so a bad file changes nothing. */
    config_copy(s, tmp, cfg);
    for (g = 0; groups[g]; g++) {
        if (!load_group(s, kf, groups[g], origin, tmp, error))
            goto fail;
    }
    if (!config_validate(s, tmp, error)) {
        g_prefix_error(error, "%s: ", origin);
        goto fail;
    }
    config_clear(s, cfg);
    memcpy(cfg, tmp, s->size);
    return TRUE;

fail:
    config_clear(s, tmp);
    return FALSE;
}

gboolean config_load_data(const ConfigSchema *s, gpointer cfg, const char *data,
                          gsize len, const char *origin, GError **error)
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
    return load_keyfile(s, cfg, kf, origin, error);
}

gboolean config_load_file(const ConfigSchema *s, gpointer cfg, const char *path,
                          GError **error)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    g_autoptr(GError) err = NULL;

    if (!g_file_get_contents(path, &data, &len, &err)) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_PARSE,
                    "cannot read config: %s", err->message);
        return FALSE;
    }
    return config_load_data(s, cfg, data, len, path, error);
}

gboolean config_validate(const ConfigSchema *s, gconstpointer cfg,
                         GError **error)
{
    const ConfigPartAt *p;

    if (!daemon_validate(cfg, error))
        return FALSE;
    for (p = s->parts; p && p->part; p++) {
        if (p->part->validate &&
            !p->part->validate((const char *)cfg + p->offset, error))
            return FALSE;
    }
    return !s->validate || s->validate(cfg, error);
}
