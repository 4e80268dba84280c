#include "actions.h"

#include "json_out.h"

static char *pin_describe(const Action *a)
{
    const PinAction *p = (const PinAction *)a;

    if (p->from_pcpu < 0)
        return g_strdup_printf("pin %s vcpu %u: any -> %u", a->name, p->vcpu,
                               p->to_pcpu);
    return g_strdup_printf("pin %s vcpu %u: %d -> %u", a->name, p->vcpu,
                           p->from_pcpu, p->to_pcpu);
}

static void pin_to_json(const Action *a, JsonBuilder *b)
{
    const PinAction *p = (const PinAction *)a;

    json_add_int(b, "vcpu", p->vcpu);
    json_add_int(b, "from", p->from_pcpu);
    json_add_int(b, "to", p->to_pcpu);
}

const ActionType pin_action = {
    .name = "pin",
    .size = sizeof(PinAction),
    .describe = pin_describe,
    .to_json = pin_to_json,
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
