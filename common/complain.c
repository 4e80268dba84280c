#include "complain.h"

#define COMPLAINT_FIRST_PAUSE_US ((gint64)10 * G_USEC_PER_SEC)
#define COMPLAINT_MAX_PAUSE_US ((gint64)3600 * G_USEC_PER_SEC)

gboolean complaint_should_log(Complaint *c, gint64 now_us)
{
    if (!c->active) {
        c->active = TRUE;
        c->pause_us = COMPLAINT_FIRST_PAUSE_US;
        c->next_us = now_us + c->pause_us;
        c->suppressed = 0;
        return TRUE;
    }
    if (now_us < c->next_us) {
        c->suppressed++;
        return FALSE;
    }
    c->pause_us = MIN(c->pause_us * 2, COMPLAINT_MAX_PAUSE_US);
    c->next_us = now_us + c->pause_us;
    c->suppressed = 0;
    return TRUE;
}

gboolean complaint_release(Complaint *c)
{
    gboolean was = c->active;

    c->active = FALSE;
    c->suppressed = 0;
    return was;
}
