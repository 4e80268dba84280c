/* Whether the local clock is synchronised (the kernel's NTP state), and
 * whether that allows a migration to be executed. */
#include <string.h>
#include <sys/timex.h>

#include <glib.h>

#include "clocksync.h"

typedef struct {
    const char *name;
    gboolean unreadable; /* ntp_adjtime failed: no state at all */
    ClockSync cs;
    gboolean allow;
    gboolean want;
    const char *parts[3];
} SyncCase;

static const SyncCase sync_cases[] = {
    {.name = "synchronised",
     .cs = {.state = TIME_OK,
            .status = STA_PLL,
            .maxerror_us = 12000,
            .esterror_us = 300},
     .want = TRUE,
     .parts = {"synchronised", "max error 12000 us", "TIME_OK"}},
    {.name = "leap second pending is still synchronised",
     .cs = {.state = TIME_INS,
            .status = STA_PLL | STA_INS,
            .maxerror_us = 5000},
     .want = TRUE,
     .parts = {"TIME_INS"}},
    {.name = "unsync flag",
     .cs = {.state = TIME_OK, .status = STA_UNSYNC, .maxerror_us = 16000000},
     .want = FALSE,
     .parts = {"not synchronised", "STA_UNSYNC set",
               "allow_unsynced_clock is off"}},
    {.name = "kernel says TIME_ERROR",
     .cs = {.state = TIME_ERROR, .status = 0, .maxerror_us = 16000000},
     .want = FALSE,
     .parts = {"TIME_ERROR", "STA_UNSYNC clear", "16000000 us"}},
    {.name = "both",
     .cs = {.state = TIME_ERROR, .status = STA_UNSYNC, .maxerror_us = 16000000},
     .want = FALSE,
     .parts = {"TIME_ERROR", "STA_UNSYNC set"}},
    {.name = "unsynchronised but allowed",
     .cs = {.state = TIME_ERROR, .status = STA_UNSYNC, .maxerror_us = 16000000},
     .allow = TRUE,
     .want = TRUE,
     .parts = {"not synchronised", "allowed by allow_unsynced_clock"}},
    /* the decision derives sync from state and status, not the cache */
    {.name = "stale synchronised flag ignored",
     .cs = {.state = TIME_ERROR, .status = STA_UNSYNC, .synchronised = TRUE},
     .want = FALSE,
     .parts = {"not synchronised"}},
    {.name = "unreadable",
     .unreadable = TRUE,
     .want = FALSE,
     .parts = {"unknown", "allow_unsynced_clock is off"}},
    {.name = "unreadable but allowed",
     .unreadable = TRUE,
     .allow = TRUE,
     .want = TRUE,
     .parts = {"unknown", "allowed by allow_unsynced_clock"}},
    {.name = "synchronised, allow flag irrelevant",
     .cs = {.state = TIME_OK, .maxerror_us = 1, .esterror_us = 1},
     .allow = TRUE,
     .want = TRUE,
     .parts = {"synchronised"}},
};

static void test_clocksync_decision(void)
{
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(sync_cases); i++) {
        const SyncCase *tc = &sync_cases[i];
        const ClockSync *cs = tc->unreadable ? NULL : &tc->cs;
        g_autofree char *reason = NULL;
        gsize p;

        g_test_message("case %s", tc->name);
        g_assert_cmpint(clocksync_may_migrate(cs, tc->allow, &reason), ==,
                        tc->want);
        g_assert_nonnull(reason);
        g_test_message("reason: %s", reason);
        for (p = 0; p < G_N_ELEMENTS(tc->parts) && tc->parts[p]; p++) {
            if (!strstr(reason, tc->parts[p]))
                g_error("case %s: reason '%s' lacks '%s'", tc->name, reason,
                        tc->parts[p]);
        }
        /* the verdict does not depend on asking for a reason */
        g_assert_cmpint(clocksync_may_migrate(cs, tc->allow, NULL), ==,
                        tc->want);
    }
}

static void test_clocksync_read(void)
{
    g_autoptr(GError) err = NULL;
    ClockSync cs = {.state = -7, .maxerror_us = -7};

    g_assert_true(clocksync_read(&cs, &err));
    g_assert_no_error(err);
    g_test_message("state %s status 0x%x maxerror %ld us esterror %ld us",
                   clocksync_state_name(cs.state), cs.status, cs.maxerror_us,
                   cs.esterror_us);
    g_assert_cmpint(cs.state, >=, TIME_OK);
    g_assert_cmpint(cs.state, <=, TIME_ERROR);
    g_assert_cmpstr(clocksync_state_name(cs.state), !=, "unknown");
    g_assert_cmpint(cs.maxerror_us, >=, 0);
    g_assert_cmpint(cs.esterror_us, >=, 0);
    g_assert_cmpint(cs.synchronised, ==,
                    clocksync_is_synchronised(cs.state, cs.status));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/clocksync/decision", test_clocksync_decision);
    g_test_add_func("/clocksync/read", test_clocksync_read);
    return g_test_run();
}
