#include "actions.h"

#include "json_out.h"

static char *pin_describe(const Action *a)
{
    const PinAction *p = (const PinAction *)a;
    g_autofree char *to = p->to_label ? g_strdup_printf("cpus %s", p->to_label)
                                      : g_strdup_printf("%u", p->to_pcpu);

    if (p->from_pcpu < 0)
        return g_strdup_printf("pin %s vcpu %u: any -> %s", a->name, p->vcpu,
                               to);
    return g_strdup_printf("pin %s vcpu %u: %d -> %s", a->name, p->vcpu,
                           p->from_pcpu, to);
}

static void pin_to_json(const Action *a, JsonBuilder *b)
{
    const PinAction *p = (const PinAction *)a;

    json_add_int(b, "vcpu", p->vcpu);
    json_add_int(b, "from", p->from_pcpu);
    json_add_int(b, "to", p->to_pcpu);
    if (p->to_label)
        json_add_str(b, "to_cpus", p->to_label);
}

static void pin_clear(Action *a)
{
    PinAction *p = (PinAction *)a;

    if (p->to_cpus)
        g_array_unref(p->to_cpus);
    g_free(p->to_label);
}

void pin_action_set_group(PinAction *p, const GArray *cpus, const char *label)
{
    if (p->to_cpus)
        g_array_unref(p->to_cpus);
    g_free(p->to_label);
    p->to_cpus = g_array_copy((GArray *)cpus);
    p->to_label = g_strdup(label);
    p->to_pcpu = g_array_index(cpus, guint, 0);
}

const ActionType pin_action = {
    .name = "pin",
    .size = sizeof(PinAction),
    .describe = pin_describe,
    .to_json = pin_to_json,
    .clear = pin_clear,
};

PinAction *pin_action_add(Plan *plan, const char *uuid, const char *name)
{
    PinAction *p = (PinAction *)plan_add(plan, &pin_action, uuid, name);

    p->from_pcpu = -1;
    return p;
}

const PinAction *pin_action_of(const Action *a)
{
    return a && a->type == &pin_action ? (const PinAction *)a : NULL;
}
