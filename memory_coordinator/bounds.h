/* The one safety clamp every memory policy goes through.
 *
 * Policies propose balloon targets; the clamp turns any proposal, however
 * wrong, into a target that keeps these promises:
 *   - a guest that may not grow (or shrink) is left where it is;
 *   - a shrink never goes below the guest floor, nor below what the guest
 *     uses plus min_unused, nor further than max_release in one tick;
 *   - a growth never goes above the guest's maximum, and all growth of one
 *     tick fits both the budget headroom and the host's free memory above
 *     the reserve;
 *   - a change smaller than min_step is no change.
 * Shrinks credit the budget pool at once (targets are what the budget
 * counts) but not the host's free memory, which only rises once the
 * balloon has inflated; so submit shrinks before growths. */
#pragma once

#include <glib.h>

#include "mem_config.h"
#include "snapshot.h"

/* No KiB figure is taken above this (1 EiB), so sums of thousands of
 * guests still fit a gint64. */
#define MEM_KIB_CAP (G_GUINT64_CONSTANT(1) << 50)

typedef enum {
    MEM_CLAMP_NONE = 0,
    MEM_CLAMP_FROZEN,       /* the guest may not move this way */
    MEM_CLAMP_FLOOR,        /* shrink stopped at the guest floor */
    MEM_CLAMP_MIN_UNUSED,   /* shrink stopped at used + min_unused */
    MEM_CLAMP_RELEASE_STEP, /* shrink cut to max_release */
    MEM_CLAMP_MAX,          /* growth stopped at the guest's maximum */
    MEM_CLAMP_ROOM,         /* growth cut to budget / host headroom */
    MEM_CLAMP_MIN_STEP,     /* change too small to apply */
} MemClamp;

/* What the clamp must know about one guest. */
typedef struct {
    guint64 cur_kib;  /* current balloon target */
    guint64 max_kib;  /* maximum memory */
    guint64 used_kib; /* actual - unused: what the guest occupies */
    gboolean may_grow;
    gboolean may_shrink;
} MemBoundsGuest;

typedef struct {
    guint64 floor_kib;
    guint64 min_unused_kib;
    guint64 max_release_kib;
    guint64 min_step_kib;
    guint64 reserve_kib;
    guint64 budget_kib;     /* configured, or node total minus reserve */
    guint64 held_kib;       /* what all live guests hold now */
    guint64 free_kib;       /* host free memory at the snapshot */
    gint64 budget_left_kib; /* budget - held - reserve, plus shrinks, minus
                               growth */
    gint64 free_left_kib;   /* free - reserve, minus growth */
} MemBounds;

guint64 mem_kib_add(guint64 a, guint64 b);
guint64 mem_kib_sub(guint64 a, guint64 b); /* saturates at 0 */
guint64 mem_mib_to_kib(guint64 mib);

/* Memory a domain holds on the host: its target, or its balloon's actual
 * size while that is larger.  Shut-off domains hold nothing.  Not capped:
 * an absurd figure must make the budget look fuller, never emptier. */
guint64 mem_domain_held_kib(const DomainSample *d);
/* The same with the target given: the policy knows targets libvirt does
 * not show. */
guint64 mem_domain_held_at_kib(const DomainSample *d, guint64 target_kib);

void mem_bounds_init(MemBounds *b, const Snapshot *snap, const MemConfig *cfg);
/* With each domain's target from target_kib[i] (as snap->domains), where
 * mem_bounds_init takes d->cur_kib. */
void mem_bounds_init_at(MemBounds *b, const Snapshot *snap,
                        const MemConfig *cfg, const guint64 *target_kib);

/* Growth the pools still allow now, negative when the host or the budget
 * is already short. */
gint64 mem_bounds_room(const MemBounds *b);

/* Growth the pools would allow after a further release_kib of shrinks. */
gint64 mem_bounds_room_after(const MemBounds *b, guint64 release_kib);

/* Lowest target a shrink of g may reach this tick. */
guint64 mem_bounds_shrink_limit(const MemBounds *b, const MemBoundsGuest *g);

/* Clamps proposed for guest g, charges the pools, and returns the target
 * to set (g->cur_kib for no change).  *why, when not NULL, says which
 * limit cut the proposal, MEM_CLAMP_NONE when none did. */
guint64 mem_bounds_clamp(MemBounds *b, const MemBoundsGuest *g,
                         guint64 proposed_kib, MemClamp *why);

/* Rule name for the log, e.g. "clamp-floor"; NULL for MEM_CLAMP_NONE. */
const char *mem_clamp_rule(MemClamp c);
