/* The vCPU scheduler's one action: pin a vCPU to a pCPU, or to a group
 * of CPUs (a core, cache or node) the host kernel balances it within. */
#pragma once

#include "plan.h"

typedef struct {
    Action base;
    guint vcpu;
    gint from_pcpu;  /* -1 when it had affinity to several */
    guint to_pcpu;   /* the first CPU of to_cpus when that is set */
    GArray *to_cpus; /* guint ids of a group, NULL for to_pcpu alone */
    char *to_label;  /* to_cpus as a cpuset ("0,32"), NULL for to_pcpu */
} PinAction;

extern const ActionType pin_action;

/* Appends a pin of a vCPU of the domain, from "any" until set. */
PinAction *pin_action_add(Plan *plan, const char *uuid, const char *name);

/* Sets the target to a group of CPUs (copied), described as label. */
void pin_action_set_group(PinAction *p, const GArray *cpus, const char *label);

/* The action as a pin, or NULL when it is another kind. */
const PinAction *pin_action_of(const Action *a);
