/* What a policy decided, as a list of actions each carrying its reason.
 * Apply carries a plan out; --dry-run prints it instead.
 *
 * An action is generic: a domain, a reason and its ActionType.  Each
 * daemon defines the types it plans, each with a struct that starts with
 * an Action and holds that action's own fields, and says how one is
 * described and logged. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libvirt/libvirt.h>

typedef struct ActionType ActionType;

typedef struct {
    const ActionType *type;
    char uuid[VIR_UUID_STRING_BUFLEN];
    char *name;
    char *reason; /* why, in words, for the log */
} Action;

struct ActionType {
    const char *name; /* the decision log's "action" member, e.g. "pin" */
    gsize size;       /* of the struct that starts with the Action */
    /* One line on what it does, for the log and --dry-run. */
    char *(*describe)(const Action *a);
    /* Adds its own members to the decision log's JSON object. */
    void (*to_json)(const Action *a, JsonBuilder *b);
    /* Frees what its own fields own; NULL when they own nothing. */
    void (*clear)(Action *a);
};

/* Demand the host cannot meet however its guests are arranged: what a
 * migration request would relieve. */
typedef enum {
    PLAN_SHORT_NONE = 0,
    PLAN_SHORT_MEMORY, /* shortfall in KiB */
    PLAN_SHORT_CPU,    /* shortfall in percent of one pCPU */
} PlanShortage;

typedef struct {
    GPtrArray *actions; /* Action*, owned */
    char *summary;      /* one line on the decision, for the log */
    PlanShortage short_of;
    double shortfall;
    /* The daemon's own facts about the plan, freed with detail_free. */
    gpointer detail;
    GDestroyNotify detail_free;
} Plan;

Plan *plan_new(void);
void plan_free(Plan *plan);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Plan, plan_free)

/* Appends a zeroed action of type->size bytes and returns it. */
Action *plan_add(Plan *plan, const ActionType *type, const char *uuid,
                 const char *name);
void action_set_reason(Action *a, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
guint plan_len(const Plan *plan);
Action *plan_get(const Plan *plan, guint i);
/* Takes the action out of the plan and frees it. */
void plan_remove(Plan *plan, guint i);

/* Records a shortage; an amount that is not positive records none. */
void plan_set_shortfall(Plan *plan, PlanShortage what, double amount);

/* The action's one-line description. */
char *action_describe(const Action *a) G_GNUC_WARN_UNUSED_RESULT;
