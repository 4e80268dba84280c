#include "bounds.h"

/* Pools stay inside this so no sequence of charges can overflow. */
#define POOL_LIMIT (G_GINT64_CONSTANT(1) << 62)

guint64 mem_kib_add(guint64 a, guint64 b)
{
    return a > G_MAXUINT64 - b ? G_MAXUINT64 : a + b;
}

guint64 mem_kib_sub(guint64 a, guint64 b)
{
    return a > b ? a - b : 0;
}

guint64 mem_mib_to_kib(guint64 mib)
{
    return mib >= MEM_KIB_CAP / 1024 ? MEM_KIB_CAP : mib * 1024;
}

static guint64 cap_kib(guint64 kib)
{
    return MIN(kib, MEM_KIB_CAP);
}

static gint64 pool_clamp(gint64 v)
{
    return CLAMP(v, -POOL_LIMIT, POOL_LIMIT);
}

guint64 mem_domain_held_kib(const DomainSample *d)
{
    return mem_domain_held_at_kib(d, d->cur_kib);
}

guint64 mem_domain_held_at_kib(const DomainSample *d, guint64 target_kib)
{
    guint64 held = target_kib;

    if (d->state == VIR_DOMAIN_SHUTOFF)
        return 0;
    /* A balloon still inflating towards a lower target holds its old size
     * until it gets there. */
    if (d->has_balloon_stats && (d->balloon.present & BALLOON_HAS_ACTUAL))
        held = MAX(held, d->balloon.actual_kib);
    return held;
}

void mem_bounds_init(MemBounds *b, const Snapshot *snap, const MemConfig *cfg)
{
    mem_bounds_init_at(b, snap, cfg, NULL);
}

void mem_bounds_init_at(MemBounds *b, const Snapshot *snap,
                        const MemConfig *cfg, const guint64 *target_kib)
{
    guint64 held = 0;
    guint i;

    *b = (MemBounds){0};
    b->floor_kib = mem_mib_to_kib(cfg->guest_floor_mib);
    b->min_unused_kib = mem_mib_to_kib(cfg->min_unused_mib);
    b->max_release_kib = mem_mib_to_kib(cfg->max_release_mib);
    b->min_step_kib = mem_mib_to_kib(cfg->min_step_mib);
    b->reserve_kib = mem_mib_to_kib(cfg->host_reserve_mib);
    if (cfg->guest_budget_mib)
        b->budget_kib = mem_mib_to_kib(cfg->guest_budget_mib);
    else
        b->budget_kib =
            mem_kib_sub(cap_kib(snap->node.total_kib), b->reserve_kib);

    for (i = 0; snap->domains && i < snap->domains->len; i++) {
        const DomainSample *d = g_ptr_array_index(snap->domains, i);

        held = mem_kib_add(
            held,
            mem_domain_held_at_kib(d, target_kib ? target_kib[i] : d->cur_kib));
    }
    b->held_kib = MIN(held, (guint64)POOL_LIMIT);
    b->free_kib = cap_kib(snap->node.free_kib);

    /* The budget is treated like a host of its own: growth stops once its
     * headroom is down to the reserve, as it does on the real host. */
    b->budget_left_kib = pool_clamp(
        (gint64)b->budget_kib - (gint64)b->held_kib - (gint64)b->reserve_kib);
    b->free_left_kib = (gint64)b->free_kib - (gint64)b->reserve_kib;
}

gint64 mem_bounds_room(const MemBounds *b)
{
    return MIN(b->budget_left_kib, b->free_left_kib);
}

gint64 mem_bounds_room_after(const MemBounds *b, guint64 release_kib)
{
    gint64 budget =
        pool_clamp(b->budget_left_kib + (gint64)cap_kib(release_kib));

    return MIN(budget, b->free_left_kib);
}

/* The highest of the three lower limits of a shrink, and which it was. */
static guint64 shrink_limit(const MemBounds *b, const MemBoundsGuest *g,
                            MemClamp *which)
{
    guint64 cur = cap_kib(g->cur_kib);
    guint64 by_use = mem_kib_add(cap_kib(g->used_kib), b->min_unused_kib);
    guint64 by_step = mem_kib_sub(cur, b->max_release_kib);
    guint64 limit = b->floor_kib;

    *which = MEM_CLAMP_FLOOR;
    if (by_use > limit) {
        limit = by_use;
        *which = MEM_CLAMP_MIN_UNUSED;
    }
    if (by_step > limit) {
        limit = by_step;
        *which = MEM_CLAMP_RELEASE_STEP;
    }
    return limit;
}

guint64 mem_bounds_shrink_limit(const MemBounds *b, const MemBoundsGuest *g)
{
    MemClamp which;

    return shrink_limit(b, g, &which);
}

static guint64 clamp_shrink(const MemBounds *b, const MemBoundsGuest *g,
                            guint64 proposed, MemClamp *why)
{
    MemClamp which;
    guint64 limit = shrink_limit(b, g, &which);

    if (proposed >= limit)
        return proposed;
    *why = which;
    /* A guest already at or below its limit is not shrunk at all; the
     * clamp never turns a shrink into a growth. */
    return MIN(limit, g->cur_kib);
}

static guint64 clamp_grow(const MemBounds *b, const MemBoundsGuest *g,
                          guint64 proposed, MemClamp *why)
{
    guint64 top = cap_kib(g->max_kib);
    gint64 room = mem_bounds_room(b);

    if (proposed > top) {
        proposed = top;
        *why = MEM_CLAMP_MAX;
    }
    if (proposed <= g->cur_kib)
        return g->cur_kib;
    if (room <= 0) {
        *why = MEM_CLAMP_ROOM;
        return g->cur_kib;
    }
    if (proposed - g->cur_kib > (guint64)room) {
        *why = MEM_CLAMP_ROOM;
        return g->cur_kib + (guint64)room;
    }
    return proposed;
}

guint64 mem_bounds_clamp(MemBounds *b, const MemBoundsGuest *g,
                         guint64 proposed_kib, MemClamp *why)
{
    MemClamp c = MEM_CLAMP_NONE;
    guint64 cur = g->cur_kib;
    guint64 target = cur;
    guint64 delta;

    proposed_kib = cap_kib(proposed_kib);
    if (cur > MEM_KIB_CAP) {
        /* Nothing sane can be said about such a guest. */
        c = proposed_kib == cur ? MEM_CLAMP_NONE : MEM_CLAMP_FROZEN;
    } else if (proposed_kib < cur) {
        if (g->may_shrink)
            target = clamp_shrink(b, g, proposed_kib, &c);
        else
            c = MEM_CLAMP_FROZEN;
    } else if (proposed_kib > cur) {
        if (g->may_grow)
            target = clamp_grow(b, g, proposed_kib, &c);
        else
            c = MEM_CLAMP_FROZEN;
    }

    delta = target > cur ? target - cur : cur - target;
    if (delta && delta < b->min_step_kib) {
        target = cur;
        c = MEM_CLAMP_MIN_STEP;
    }
    if (target > cur) {
        b->budget_left_kib = pool_clamp(b->budget_left_kib - (gint64)delta);
        b->free_left_kib = pool_clamp(b->free_left_kib - (gint64)delta);
    } else if (target < cur) {
        b->budget_left_kib = pool_clamp(b->budget_left_kib + (gint64)delta);
    }
    if (why)
        *why = c;
    return target;
}

const char *mem_clamp_rule(MemClamp c)
{
    switch (c) {
    case MEM_CLAMP_NONE:
        return NULL;
    case MEM_CLAMP_FROZEN:
        return "clamp-frozen";
    case MEM_CLAMP_FLOOR:
        return "clamp-floor";
    case MEM_CLAMP_MIN_UNUSED:
        return "clamp-min-unused";
    case MEM_CLAMP_RELEASE_STEP:
        return "clamp-release-step";
    case MEM_CLAMP_MAX:
        return "clamp-max";
    case MEM_CLAMP_ROOM:
        return "clamp-room";
    case MEM_CLAMP_MIN_STEP:
        return "clamp-min-step";
    }
    return "clamp-unknown";
}
