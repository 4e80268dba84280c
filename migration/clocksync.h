/* Whether the local wall clock is synchronised, and whether that allows a
 * migration to be executed.
 *
 * The migration delta comes from two hosts' wall clocks, so the guest's
 * TSC and boot time are only as right as those clocks.  The kernel's NTP
 * state (ntp_adjtime) says whether the local one is disciplined. */
#pragma once

#include <glib.h>

#define CLOCKSYNC_ERROR (clocksync_error_quark())
GQuark clocksync_error_quark(void);
typedef enum {
    CLOCKSYNC_ERROR_READ, /* ntp_adjtime failed */
} ClockSyncError;

typedef struct {
    int state;             /* ntp_adjtime's return: TIME_OK .. TIME_ERROR */
    int status;            /* STA_* bits */
    gboolean synchronised; /* clocksync_is_synchronised(state, status) */
    long maxerror_us;      /* kernel's bound on the clock's error */
    long esterror_us;      /* kernel's estimate of the clock's error */
} ClockSync;

/* Reads the kernel's NTP state without changing it (modes = 0). */
gboolean clocksync_read(ClockSync *out,
                        GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* Synchronised unless the kernel answers TIME_ERROR or sets STA_UNSYNC. */
gboolean clocksync_is_synchronised(int state, int status);

/* "TIME_OK", ... or "unknown". */
const char *clocksync_state_name(int state);

/* May this host execute a migration?  cs is NULL when the state could not
 * be read.  Yes when synchronised; otherwise only when allow_unsynced.
 * *reason (if not NULL) receives one sentence saying why, to free. */
gboolean clocksync_may_migrate(const ClockSync *cs, gboolean allow_unsynced,
                               char **reason);
