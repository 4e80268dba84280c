/* The memory coordinator's settings: [daemon] as every daemon has it,
 * [migration] (migration_config.h), and its own [memory] group. */
#pragma once

#include "cli.h"
#include "config.h"
#include "migration_config.h"

typedef enum {
    MEM_POLICY_COURSE = 0,
    MEM_POLICY_IDLE_TAX = 1,
} MemPolicyKind;

typedef struct {
    DaemonConfig daemon; /* first, as every daemon's config */
    MigrationConfig migration;

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
} MemConfig;

extern const ConfigSchema mem_config_schema;
/* Its own command-line options. */
extern const CliOption mem_cli_options[];

/* Idle-tax shares of a guest: its "name=N" entry, else the default. */
guint mem_config_shares_for(const MemConfig *cfg, const char *domain_name);
#define MEM_DEFAULT_SHARES 1000

const char *mem_policy_name(MemPolicyKind k);
