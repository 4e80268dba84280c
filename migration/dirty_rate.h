/* Guests' dirty rates, measured by QEMU for a migration's estimate
 * (converge.h): virDomainStartDirtyRateCalc starts a one-second
 * measurement that runs in QEMU and returns at once; the result is read on
 * a later tick from the domain's dirtyrate stats.  So no tick waits for
 * it, and a guest is measured at most once a DIRTY_RATE_FRESH_S. */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>

/* A measurement is used this long. */
#define DIRTY_RATE_FRESH_S 60
/* The length of a measurement. */
#define DIRTY_RATE_CALC_S 1
/* A measurement not done after this long is given up. */
#define DIRTY_RATE_GIVE_UP_S 10

typedef enum {
    DIRTY_RATE_KNOWN,
    DIRTY_RATE_MEASURING, /* ask again on a later tick */
    DIRTY_RATE_UNKNOWN,   /* it cannot be measured (why says so) */
} DirtyRateState;

typedef struct DirtyRates DirtyRates;

DirtyRates *dirty_rates_new(void);
void dirty_rates_free(DirtyRates *dr);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DirtyRates, dirty_rates_free)

/* The dirty rate of dom (MiB/s), measured within DIRTY_RATE_FRESH_S of
 * now_us, or a measurement started or still running.  UNKNOWN sets *why
 * (to be freed), and is not tried again for DIRTY_RATE_FRESH_S. */
DirtyRateState dirty_rates_get(DirtyRates *dr, virDomainPtr dom, gint64 now_us,
                               double *mib_s, char **why);
