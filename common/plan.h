/* What a policy decided, as a list of actions each carrying its reason.
 * Apply carries a plan out; --dry-run prints it instead. */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>

typedef enum {
    ACTION_PIN_VCPU,
    ACTION_SET_MEMORY,
    ACTION_MIGRATE,
} ActionKind;

typedef struct {
    ActionKind kind;
    char uuid[VIR_UUID_STRING_BUFLEN];
    char *name;
    char *reason; /* why, in words, for the log */

    /* ACTION_PIN_VCPU */
    guint vcpu;
    gint from_pcpu; /* -1 when it had affinity to several */
    guint to_pcpu;

    /* ACTION_SET_MEMORY */
    guint64 old_kib;
    guint64 new_kib;
    const char *rule; /* static name of the rule that fired */

    /* ACTION_MIGRATE */
    char *peer_uri;
} Action;

typedef struct {
    GPtrArray *actions; /* Action*, owned */
    double sd_before;   /* vCPU plans: sd of pCPU utilisation now */
    double sd_after;    /* vCPU plans: predicted sd after the plan */
    char *summary;      /* one line on the decision, for the log */

    /* Signals for migration requests (common/migrate.h); 0 when none. */
    guint64 deficit_kib; /* memory plans: what the budget still lacks once
                            every guest has given all it can */
    gboolean overloaded; /* vCPU plans: every pCPU above overload_util */
    double overload_pct; /* vCPU plans: load above overload_util on all
                            pCPUs together, percent of one pCPU */
} Plan;

Plan *plan_new(void);
void plan_free(Plan *plan);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Plan, plan_free)

Action *plan_add(Plan *plan, ActionKind kind, const char *uuid,
                 const char *name);
void action_set_reason(Action *a, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
guint plan_len(const Plan *plan);
Action *plan_get(const Plan *plan, guint i);
