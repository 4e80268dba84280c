/* Rate-limited complaints: a condition that repeats every tick is logged
 * once, then again only after growing pauses, and its end is logged once. */
#pragma once

#include <glib.h>

typedef struct {
    gboolean active;  /* the condition is ongoing */
    gint64 next_us;   /* monotonic time of the next allowed repeat */
    gint64 pause_us;  /* current pause between repeats */
    guint suppressed; /* repeats not logged since the last line */
} Complaint;

/* Returns TRUE when this occurrence should be logged now. */
gboolean complaint_should_log(Complaint *c, gint64 now_us);
/* Returns TRUE when the condition was active, i.e. a "recovered" line is due.
 */
gboolean complaint_release(Complaint *c);
