/* The course policy: every guest sits between its need (lo: min_unused
 * plus headroom for its consumption rate) and lo + release_slack (hi).
 * Below lo it grows to hi at once; above hi it gives the excess back in
 * steps of at most max_release.  When the room is short of what growers
 * need, guests with the most memory above their own need give first, and
 * never below it.  Reclaimable cache is not need, so a guest holding cache
 * has excess and gives first; a guest whose working set is being squeezed
 * out (major faults, swap-in) never gives, and what ended its squeeze is
 * released only after a while (policy_priv.h, MEM_SQUEEZE_*). */
#include "policy_priv.h"

/* Most excess first: the lowest key donates. */
static double excess_key(const MemTick *t, const MemGuest *g,
                         guint64 planned_kib)
{
    return -(double)mem_kib_sub(planned_kib, g->lo_kib);
}

static void release_excess(MemTick *t, MemGuest *g)
{
    guint64 cur = g->bg.cur_kib;
    guint64 top = MAX(g->hi_kib, g->keep_kib);
    guint64 excess;
    guint64 step;

    if (!g->bg.may_shrink || g->grower || cur <= top)
        return;
    excess = cur - top;
    step = MIN(excess, t->bounds.max_release_kib);
    if (step < t->bounds.min_step_kib)
        return;
    mem_tick_propose_shrink(
        t, g, cur - step, "release-excess",
        g_strdup_printf("%.0f MiB above need + slack, gives %.0f MiB",
                        kib_to_mib(excess), kib_to_mib(step)));
}

void mem_course_plan(MemTick *t)
{
    guint i;

    for (i = 0; i < t->guests->len; i++)
        release_excess(t, &g_array_index(t->guests, MemGuest, i));
    mem_tick_reclaim(t, mem_tick_shortfall(t), excess_key, "reclaim-pressure");
    mem_tick_plan_growth(t);
}
