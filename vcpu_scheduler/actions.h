/* The vCPU scheduler's one action: pin a vCPU to a pCPU. */
#pragma once

#include "plan.h"

typedef struct {
    Action base;
    guint vcpu;
    gint from_pcpu; /* -1 when it had affinity to several */
    guint to_pcpu;
} PinAction;

extern const ActionType pin_action;

/* Appends a pin of a vCPU of the domain, from "any" until set. */
PinAction *pin_action_add(Plan *plan, const char *uuid, const char *name);

/* The action as a pin, or NULL when it is another kind. */
const PinAction *pin_action_of(const Action *a);
