#include "shrink_check.h"

#include "bounds.h"
#include "guest_report.h"

char *mem_shrink_verdict(const BalloonAction *a, const ShrinkCheck *c)
{
    const BalloonStats *b = c->fresh;
    guint64 cut = mem_kib_sub(a->old_kib, a->new_kib);
    guint64 free_kib;
    guint64 pending = 0;
    gint64 age;

    if (!b || !(b->present & BALLOON_HAS_UNUSED))
        return g_strdup("stats unavailable on re-check");
    if (!(b->present & BALLOON_HAS_LAST_UPDATE) || b->last_update <= 0 ||
        b->last_update > G_MAXINT64 / 2 || c->now_s < G_MININT64 / 2)
        return g_strdup("stats carry no time stamp");
    age = c->now_s - b->last_update;
    if (age > (gint64)c->stale_after_s || -age > (gint64)c->stale_after_s)
        return g_strdup_printf("stats are %" G_GINT64_FORMAT " s old", age);
    /* A balloon still inflating to the last target takes that much of
     * the free memory too. */
    if (b->present & BALLOON_HAS_ACTUAL)
        pending = mem_kib_sub(b->actual_kib, a->old_kib);
    free_kib = mem_report_free_kib(b, c->reserve_kib);
    if (free_kib < mem_kib_add(mem_kib_add(cut, c->min_unused_kib), pending))
        return g_strdup_printf(
            "free memory fell to %" G_GUINT64_FORMAT " MiB (%" G_GUINT64_FORMAT
            " MiB of it cache), too little for a %" G_GUINT64_FORMAT
            " MiB shrink (%" G_GUINT64_FORMAT " MiB still on its way)",
            free_kib / 1024,
            mem_report_reclaimable_kib(b, c->reserve_kib) / 1024, cut / 1024,
            pending / 1024);
    return NULL;
}
