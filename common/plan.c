#include "plan.h"

static void action_free(gpointer data)
{
    Action *a = data;

    if (!a)
        return;
    g_free(a->name);
    g_free(a->reason);
    g_free(a->peer_uri);
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
    g_free(plan);
}

Action *plan_add(Plan *plan, ActionKind kind, const char *uuid,
                 const char *name)
{
    Action *a = g_new0(Action, 1);

    a->kind = kind;
    g_strlcpy(a->uuid, uuid ? uuid : "", sizeof(a->uuid));
    a->name = g_strdup(name);
    a->from_pcpu = -1;
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
