#include "stats_period.h"

#include <math.h>

struct MemStatsPeriods {
    GHashTable *set; /* UUIDs whose period was set */
};

MemStatsPeriods *mem_stats_periods_new(void)
{
    MemStatsPeriods *sp = g_new0(MemStatsPeriods, 1);

    sp->set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    return sp;
}

void mem_stats_periods_free(MemStatsPeriods *sp)
{
    if (!sp)
        return;
    g_hash_table_unref(sp->set);
    g_free(sp);
}

int mem_stats_period_s(const MemConfig *cfg)
{
    /* No longer than one interval, so every tick sees a new report; and
     * at most half of stale_after_s, so that the newest report is never
     * stale when a tick reads it, however long the interval: a guest whose
     * stats are stale is never grown. */
    double period =
        MIN(floor(cfg->daemon.interval_s), floor(cfg->stale_after_s / 2.0));

    return (int)MAX(1.0, period);
}

static gboolean not_in_snapshot(gpointer key, gpointer value, gpointer data)
{
    return snapshot_find(data, key) == NULL;
}

void mem_stats_periods_plan(MemStatsPeriods *sp, const Snapshot *snap,
                            const MemConfig *cfg, Plan *plan)
{
    int period = mem_stats_period_s(cfg);
    guint i;

    g_hash_table_foreach_remove(sp->set, not_in_snapshot, (gpointer)snap);
    for (i = 0; i < snap->domains->len; i++) {
        const DomainSample *d = g_ptr_array_index(snap->domains, i);
        StatsPeriodAction *a;

        if (g_hash_table_contains(sp->set, d->uuid))
            continue;
        a = stats_period_action_add(plan, d->uuid, d->name, period);
        action_set_reason(&a->base,
                          "first seen; stats every %d s keep them fresh "
                          "for each tick",
                          period);
    }
}

void mem_stats_periods_note_applied(MemStatsPeriods *sp,
                                    const StatsPeriodAction *a)
{
    g_hash_table_add(sp->set, g_strdup(a->base.uuid));
}
