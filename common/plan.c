#include "plan.h"

#include <math.h>

static void action_free(gpointer data)
{
    Action *a = data;

    if (!a)
        return;
    if (a->type->clear)
        a->type->clear(a);
    g_free(a->name);
    g_free(a->reason);
    g_free(a);
}

Plan *plan_new(void)
{
    Plan *plan = g_new0(Plan, 1);

    plan->actions = g_ptr_array_new_with_free_func(action_free);
    return plan;
}

void plan_free(Plan *plan)
{
    if (!plan)
        return;
    g_ptr_array_unref(plan->actions);
    g_free(plan->summary);
    if (plan->detail_free)
        plan->detail_free(plan->detail);
    g_free(plan);
}

Action *plan_add(Plan *plan, const ActionType *type, const char *uuid,
                 const char *name)
{
    Action *a = g_malloc0(MAX(type->size, sizeof(Action)));

    a->type = type;
    g_strlcpy(a->uuid, uuid ? uuid : "", sizeof(a->uuid));
    a->name = g_strdup(name);
    g_ptr_array_add(plan->actions, a);
    return a;
}

void action_set_reason(Action *a, const char *fmt, ...)
{
    va_list ap;

    g_free(a->reason);
    va_start(ap, fmt);
    a->reason = g_strdup_vprintf(fmt, ap);
    va_end(ap);
}

guint plan_len(const Plan *plan)
{
    return plan->actions->len;
}

Action *plan_get(const Plan *plan, guint i)
{
    return g_ptr_array_index(plan->actions, i);
}

void plan_remove(Plan *plan, guint i)
{
    g_ptr_array_remove_index(plan->actions, i);
}

void plan_set_shortfall(Plan *plan, PlanShortage what, double amount)
{
    gboolean some = what != PLAN_SHORT_NONE && isfinite(amount) && amount > 0;

    plan->short_of = some ? what : PLAN_SHORT_NONE;
    plan->shortfall = some ? amount : 0;
}

char *action_describe(const Action *a)
{
    return a->type->describe(a);
}
