#include "actions.h"

#include "json_out.h"

static char *balloon_describe(const Action *a)
{
    const BalloonAction *b = (const BalloonAction *)a;

    return g_strdup_printf(
        "balloon %s: %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT " MiB [%s]",
        a->name, b->old_kib / 1024, b->new_kib / 1024, b->rule ? b->rule : "-");
}

static void balloon_to_json(const Action *a, JsonBuilder *j)
{
    const BalloonAction *b = (const BalloonAction *)a;

    json_add_u64(j, "old_kib", b->old_kib);
    json_add_u64(j, "new_kib", b->new_kib);
    json_add_str(j, "rule", b->rule);
}

const ActionType balloon_action = {
    .name = "balloon",
    .size = sizeof(BalloonAction),
    .describe = balloon_describe,
    .to_json = balloon_to_json,
};

static char *stats_period_describe(const Action *a)
{
    return g_strdup_printf("stats period of %s set to %d s", a->name,
                           ((const StatsPeriodAction *)a)->period_s);
}

static void stats_period_to_json(const Action *a, JsonBuilder *j)
{
    json_add_int(j, "period_s", ((const StatsPeriodAction *)a)->period_s);
}

const ActionType stats_period_action = {
    .name = "stats-period",
    .size = sizeof(StatsPeriodAction),
    .describe = stats_period_describe,
    .to_json = stats_period_to_json,
};

BalloonAction *balloon_action_add(Plan *plan, const char *uuid,
                                  const char *name)
{
    return (BalloonAction *)plan_add(plan, &balloon_action, uuid, name);
}

StatsPeriodAction *stats_period_action_add(Plan *plan, const char *uuid,
                                           const char *name, int period_s)
{
    StatsPeriodAction *p =
        (StatsPeriodAction *)plan_add(plan, &stats_period_action, uuid, name);

    p->period_s = period_s;
    return p;
}

const BalloonAction *balloon_action_of(const Action *a)
{
    return a && a->type == &balloon_action ? (const BalloonAction *)a : NULL;
}

const StatsPeriodAction *stats_period_action_of(const Action *a)
{
    return a && a->type == &stats_period_action ? (const StatsPeriodAction *)a
                                                : NULL;
}
