/* Settings: the [daemon] group every daemon has, and the tables through
 * which each daemon registers the keys of its own groups.
 *
 * A daemon's settings are one struct whose first member is a
 * DaemonConfig; its ConfigSchema lists its own keys with their offsets
 * in that struct.  Defaults come first, then a GKeyFile may override
 * them, and the command line overrides the file.  Policies receive the
 * daemon's struct as const. */
#pragma once

#include <glib.h>
#include <stddef.h>

/* ---- The [daemon] group ------------------------------------------------ */

typedef struct {
    /* [daemon] */
    char *uri;          /* libvirt connection URI */
    double interval_s;  /* seconds between ticks */
    gboolean once;      /* one decision, then exit (command line only) */
    gboolean dry_run;   /* read-only connection, print the plan only (idem) */
    gboolean verbose;   /* debug logging */
    char *decision_log; /* JSON-lines file of actions, NULL for none */
    char *metrics_file; /* Prometheus text file rewritten each tick, or NULL */
} DaemonConfig;

/* ---- Key tables -------------------------------------------------------- */

typedef enum {
    CONFIG_STRING,
    CONFIG_DOUBLE,
    CONFIG_UINT,
    CONFIG_UINT64,
    CONFIG_BOOL,
    CONFIG_ENUM,    /* an int field: the index of the value in names */
    CONFIG_STRLIST, /* ';'-separated, NULL-terminated char ** */
    CONFIG_CPULIST, /* a CpuList (cpuset.h), parsed when read */
} ConfigType;

/* One key of a config file and the field it sets.  A struct that has
 * keys owns no pointer other than its CONFIG_STRING, CONFIG_STRLIST and
 * CONFIG_CPULIST fields: copying and freeing go through the tables. */
typedef struct {
    const char *group;
    const char *key;
    ConfigType type;
    gsize offset; /* of the field in the daemon's whole struct */
    double min;   /* numbers: inclusive range */
    double max;
    const char *const *names; /* CONFIG_ENUM: NULL-terminated */
    /* CONFIG_ENUM: the names in words, for messages ("off, advise or
     * execute"); CONFIG_STRLIST with entry_ok: the form of an entry. */
    const char *expected;
    gboolean (*entry_ok)(const char *entry); /* CONFIG_STRLIST, or NULL */
} ConfigKey;

/* A plain key (number, string, bool or list without a check) of grp,
 * setting field of the struct st, numbers within [lo, hi]. */
#define CONFIG_KEY(grp, name, kind, st, field, lo, hi)                         \
    {                                                                          \
        .group = grp, .key = name, .type = kind,                               \
        .offset = offsetof(st, field), .min = lo, .max = hi                    \
    }

/* Keys kept by a layer of their own (migration/), whose settings are a
 * struct of that layer's which a daemon's struct holds: the keys' offsets
 * are within that struct. */
typedef struct {
    const ConfigKey *keys; /* ended by an entry whose group is NULL */
    void (*defaults)(gpointer part);
    gboolean (*validate)(gconstpointer part, GError **error);
} ConfigPart;

/* A part and where the daemon's struct holds its struct. */
typedef struct {
    const ConfigPart *part; /* NULL ends a list */
    gsize offset;
} ConfigPartAt;

typedef struct {
    /* Size of the whole struct; it starts with a DaemonConfig, whose keys
     * ([daemon]) every schema has. */
    gsize size;
    /* The daemon's own keys, ended by an entry whose group is NULL.  A
     * key listed twice sets both fields. */
    const ConfigKey *keys;
    /* The parts' keys; a part's groups are its own (or NULL). */
    const ConfigPartAt *parts;
    /* Sets the daemon's own fields to their defaults, after the parts'
     * defaults (so a default may follow a part's). */
    void (*defaults)(gpointer cfg);
    /* Checks across the daemon's own fields, after every load. */
    gboolean (*validate)(gconstpointer cfg, GError **error);
    /* Groups and keys of no table are skipped instead of refused, but
     * in [daemon] and the parts' groups: for tools that read a daemon's
     * file for the groups they share. */
    gboolean skip_unknown;
} ConfigSchema;

/* [daemon] alone, for tools and tests. */
extern const ConfigSchema daemon_config_schema;

/* Fills the caller's struct of s->size bytes with defaults. */
void config_init(const ConfigSchema *s, gpointer cfg);
/* Frees what the struct owns (it may then be initialised again). */
void config_clear(const ConfigSchema *s, gpointer cfg);
/* dst gets a deep copy of src; dst holds nothing before. */
void config_copy(const ConfigSchema *s, gpointer dst, gconstpointer src);

/* Loads a file or text over the values already in cfg.  Unknown groups
 * or keys, values of the wrong type and values out of range are errors
 * that name the origin, group and key; on error cfg is left untouched.
 * data holds len bytes; a NUL byte among them is an error. */
gboolean config_load_file(const ConfigSchema *s, gpointer cfg, const char *path,
                          GError **error) G_GNUC_WARN_UNUSED_RESULT;
gboolean config_load_data(const ConfigSchema *s, gpointer cfg, const char *data,
                          gsize len, const char *origin,
                          GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* Whether two configs of the schema hold the same settings. */
gboolean config_equal(const ConfigSchema *s, gconstpointer a, gconstpointer b);

/* Cross-field checks after all sources are merged. */
gboolean config_validate(const ConfigSchema *s, gconstpointer cfg,
                         GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* Whether the schema has group/key. */
gboolean config_has_key(const ConfigSchema *s, const char *group,
                        const char *key);

/* A decimal number as a person writes one: optional sign, digits with an
 * optional fraction and exponent, nothing else (no blanks, hexadecimal,
 * inf or nan).  Overflow gives an infinite value, for the caller's range
 * check to refuse. */
gboolean config_parse_decimal(const char *text,
                              double *out) G_GNUC_WARN_UNUSED_RESULT;

#define CONFIG_ERROR (config_error_quark())
GQuark config_error_quark(void);
typedef enum {
    CONFIG_ERROR_PARSE,
    CONFIG_ERROR_UNKNOWN_KEY,
    CONFIG_ERROR_VALUE,
} ConfigError;
