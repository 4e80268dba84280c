/* The memory coordinator's actions: set a guest's balloon target, and
 * set how often its balloon driver reports its stats. */
#pragma once

#include "plan.h"

typedef struct {
    Action base;
    guint64 old_kib;
    guint64 new_kib;
    const char *rule; /* static name of the rule that fired */
} BalloonAction;

typedef struct {
    Action base;
    int period_s;
} StatsPeriodAction;

extern const ActionType balloon_action;
extern const ActionType stats_period_action;

BalloonAction *balloon_action_add(Plan *plan, const char *uuid,
                                  const char *name);
StatsPeriodAction *stats_period_action_add(Plan *plan, const char *uuid,
                                           const char *name, int period_s);

/* The action as one of these kinds, or NULL when it is another. */
const BalloonAction *balloon_action_of(const Action *a);
const StatsPeriodAction *stats_period_action_of(const Action *a);
