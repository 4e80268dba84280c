/* The last look before a shrink: whether it still fits the guest, judged
 * from stats fetched just before it would be applied.  A tick's plan is
 * made from a snapshot up to an interval old, and a guest may have started
 * a program since; taking memory it now needs is the one mistake a balloon
 * cannot undo in time.  Pure: apply fetches the stats and calls it. */
#pragma once

#include <glib.h>

#include "actions.h"
#include "snapshot.h"

typedef struct {
    const BalloonStats *fresh; /* NULL when they could not be read */
    gint64 now_s;              /* wall clock, seconds since the epoch */
    guint64 reserve_kib;       /* the guest kernel's reserves, as learnt */
    guint64 min_unused_kib;    /* what the guest keeps after the shrink */
    guint stale_after_s;
} ShrinkCheck;

/* NULL when the shrink from a->old_kib to a->new_kib may go ahead, else
 * why not, in words for the log (the caller's to g_free).  It may go ahead
 * when the stats are fresh and the guest's free memory, its reclaimable
 * cache counted (guest_report.h), still covers the cut, min_unused and
 * any earlier shrink the balloon has not finished. */
char *mem_shrink_verdict(const BalloonAction *a,
                         const ShrinkCheck *c) G_GNUC_WARN_UNUSED_RESULT;
