/* Every setting of both daemons, in one struct.
 *
 * Defaults come from config_defaults(); a GKeyFile may override them, and
 * the command line overrides the file.  Policies receive it as const. */
#pragma once

#include <glib.h>

typedef enum {
    MEM_POLICY_COURSE = 0,
    MEM_POLICY_IDLE_TAX = 1,
} MemPolicyKind;

typedef enum {
    MIGRATION_OFF = 0,
    MIGRATION_ADVISE = 1,
    MIGRATION_EXECUTE = 2,
} MigrationMode;

typedef struct {
    /* [daemon] */
    char *uri;          /* libvirt connection URI */
    double interval_s;  /* seconds between ticks */
    gboolean once;      /* one decision, then exit */
    gboolean dry_run;   /* read-only connection, print the plan only */
    gboolean verbose;   /* debug logging */
    char *decision_log; /* JSON-lines file of actions, NULL for none */

    /* [vcpu] */
    double sd_threshold;  /* balanced when sd of pCPU utilisation <= this */
    double sd_hysteresis; /* a plan must improve sd by at least this much */
    guint dwell_ticks;    /* ticks a repinned vCPU stays put */
    double idle_util;     /* below this mean utilisation the host is idle */

    /* [memory] */
    MemPolicyKind mem_policy;
    guint64 guest_floor_mib;   /* no guest below this (course: 200) */
    guint64 min_unused_mib;    /* every guest keeps this much unused (100) */
    guint64 host_reserve_mib;  /* the host keeps this much free (200) */
    guint64 guest_budget_mib;  /* total all guests may hold; 0 = from host */
    guint64 max_release_mib;   /* largest shrink of one guest in one tick */
    guint64 release_slack_mib; /* unused above min_unused + this is excess */
    guint64 min_step_mib;      /* smaller changes are not applied */
    double horizon_s; /* time growth headroom must cover, beyond one interval */
    double tax_rate;  /* idle-memory tax tau, 0..1 (0.75) */
    double active_rise;  /* smoothing weight when activity rises */
    double active_decay; /* smoothing weight when activity falls */
    char **shares;       /* idle-tax shares, "name=N" entries */
    guint stale_after_s; /* stats older than this are stale */

    /* [migration] */
    MigrationMode migration_mode;
    char **peers;         /* libvirt URIs, NULL-terminated */
    guint trigger_ticks;  /* K ticks of deficit/overload before asking */
    guint cooldown_s;     /* per-guest wait between requests */
    double overload_util; /* every pCPU above this is overload */
    gboolean allow_unknown_tsc;
    gboolean allow_unsynced_clock;
    double tsc_tolerance_ppm; /* 250 */
    char *advise_log;         /* JSON lines of advise requests; NULL = stdout */
} Config;

void config_defaults(Config *cfg);
void config_clear(Config *cfg);
void config_copy(Config *dst, const Config *src);

/* Loads path over the values already in cfg.  Unknown groups or keys,
 * values of the wrong type and values out of range are errors that name
 * the file, group and key; on error cfg is left untouched. */
gboolean config_load_file(Config *cfg, const char *path,
                          GError **error) G_GNUC_WARN_UNUSED_RESULT;
/* data holds len bytes; a NUL byte among them is an error. */
gboolean config_load_data(Config *cfg, const char *data, gsize len,
                          const char *origin,
                          GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* Cross-field checks after all sources are merged. */
gboolean config_validate(const Config *cfg,
                         GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* A decimal number as a person writes one: optional sign, digits with an
 * optional fraction and exponent, nothing else (no blanks, hexadecimal,
 * inf or nan).  Overflow gives an infinite value, for the caller's range
 * check to refuse. */
gboolean config_parse_decimal(const char *text,
                              double *out) G_GNUC_WARN_UNUSED_RESULT;

/* Idle-tax shares of a guest: its "name=N" entry, else the default 1000. */
guint config_shares_for(const Config *cfg, const char *domain_name);
#define CONFIG_DEFAULT_SHARES 1000

const char *mem_policy_name(MemPolicyKind k);
gboolean mem_policy_parse(const char *s, MemPolicyKind *out);
const char *migration_mode_name(MigrationMode m);
gboolean migration_mode_parse(const char *s, MigrationMode *out);

#define CONFIG_ERROR (config_error_quark())
GQuark config_error_quark(void);
typedef enum {
    CONFIG_ERROR_PARSE,
    CONFIG_ERROR_UNKNOWN_KEY,
    CONFIG_ERROR_VALUE,
} ConfigError;
