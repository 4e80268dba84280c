#include "guest_report.h"

#include "bounds.h"

gboolean mem_report_cache_aware(const BalloonStats *b)
{
    const guint32 want =
        BALLOON_HAS_UNUSED | BALLOON_HAS_USABLE | BALLOON_HAS_DISK_CACHES;

    return (b->present & want) == want;
}

guint64 mem_report_reserve_kib(const BalloonStats *b)
{
    if (!mem_report_cache_aware(b))
        return 0;
    return MIN(mem_kib_sub(b->unused_kib, b->usable_kib), MEM_KIB_CAP);
}

guint64 mem_report_reclaimable_kib(const BalloonStats *b, guint64 reserve_kib)
{
    guint64 usable;

    if (!mem_report_cache_aware(b))
        return 0;
    usable = mem_kib_add(MIN(b->usable_kib, MEM_KIB_CAP),
                         MIN(reserve_kib, MEM_KIB_CAP));
    return MIN(mem_kib_sub(usable, b->unused_kib),
               MIN(b->disk_caches_kib, MEM_KIB_CAP));
}

guint64 mem_report_free_kib(const BalloonStats *b, guint64 reserve_kib)
{
    return mem_kib_add(MIN(b->unused_kib, MEM_KIB_CAP),
                       mem_report_reclaimable_kib(b, reserve_kib));
}

static gboolean went_back(const BalloonStats *before, const BalloonStats *now,
                          guint32 bit, guint64 was, guint64 is)
{
    return (before->present & bit) && (now->present & bit) && is < was;
}

gboolean mem_report_counters_reset(const BalloonStats *before,
                                   const BalloonStats *now)
{
    return went_back(before, now, BALLOON_HAS_MAJOR_FAULT, before->major_fault,
                     now->major_fault) ||
           went_back(before, now, BALLOON_HAS_MINOR_FAULT, before->minor_fault,
                     now->minor_fault) ||
           went_back(before, now, BALLOON_HAS_SWAP_IN, before->swap_in_kib,
                     now->swap_in_kib) ||
           went_back(before, now, BALLOON_HAS_SWAP_OUT, before->swap_out_kib,
                     now->swap_out_kib);
}
