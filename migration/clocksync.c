#include "clocksync.h"

#include <errno.h>
#include <string.h>
#include <sys/timex.h>

GQuark clocksync_error_quark(void)
{
    return g_quark_from_static_string("aos-clocksync-error-quark");
}

gboolean clocksync_is_synchronised(int state, int status)
{
    return state != TIME_ERROR && !(status & STA_UNSYNC);
}

const char *clocksync_state_name(int state)
{
    switch (state) {
    case TIME_OK:
        return "TIME_OK";
    case TIME_INS:
        return "TIME_INS";
    case TIME_DEL:
        return "TIME_DEL";
    case TIME_OOP:
        return "TIME_OOP";
    case TIME_WAIT:
        return "TIME_WAIT";
    case TIME_ERROR:
        return "TIME_ERROR";
    }
    return "unknown";
}

gboolean clocksync_read(ClockSync *out, GError **error)
{
    struct timex tx;
    int state;

    /* modes = 0 only reads, so no privilege is needed and nothing changes. */
    memset(&tx, 0, sizeof(tx));
    state = ntp_adjtime(&tx);
    if (state < 0) {
        int saved = errno;

        g_set_error(error, CLOCKSYNC_ERROR, CLOCKSYNC_ERROR_READ,
                    "ntp_adjtime failed: %s", g_strerror(saved));
        return FALSE;
    }

    out->state = state;
    out->status = tx.status;
    out->synchronised = clocksync_is_synchronised(state, tx.status);
    out->maxerror_us = tx.maxerror;
    out->esterror_us = tx.esterror;
    return TRUE;
}

gboolean clocksync_may_migrate(const ClockSync *cs, gboolean allow_unsynced,
                               char **reason)
{
    g_autofree char *why = NULL;
    gboolean ok;

    if (!cs) {
        ok = allow_unsynced;
        if (ok)
            why = g_strdup("local clock state unknown (ntp_adjtime could not "
                           "be read); allowed by allow_unsynced_clock");
        else
            why = g_strdup("local clock state unknown (ntp_adjtime could not "
                           "be read), so the migration delta from wall clocks "
                           "cannot be trusted, and allow_unsynced_clock is "
                           "off");
    } else if (clocksync_is_synchronised(cs->state, cs->status)) {
        ok = TRUE;
        why = g_strdup_printf("local clock synchronised (%s, max error %ld us, "
                              "estimated error %ld us)",
                              clocksync_state_name(cs->state), cs->maxerror_us,
                              cs->esterror_us);
    } else if (allow_unsynced) {
        ok = TRUE;
        why = g_strdup_printf(
            "local clock not synchronised (%s, STA_UNSYNC %s, max error %ld "
            "us); allowed by allow_unsynced_clock",
            clocksync_state_name(cs->state),
            (cs->status & STA_UNSYNC) ? "set" : "clear", cs->maxerror_us);
    } else {
        ok = FALSE;
        why = g_strdup_printf(
            "local clock not synchronised (%s, STA_UNSYNC %s, max error %ld "
            "us), so the guest's TSC and boot time could be moved by that "
            "error, and allow_unsynced_clock is off",
            clocksync_state_name(cs->state),
            (cs->status & STA_UNSYNC) ? "set" : "clear", cs->maxerror_us);
    }

    if (reason)
        *reason = g_steal_pointer(&why);
    return ok;
}
