/* The re-check before a shrink (memory_coordinator/shrink_check.h): fresh
 * stats in, verdict out. */
#include "test_mem_util.h"

#include "../../memory_coordinator/shrink_check.h"

#define NOW_S TM_WALL0_S
#define FULL                                                                   \
    (BALLOON_HAS_ACTUAL | BALLOON_HAS_UNUSED | BALLOON_HAS_USABLE |            \
     BALLOON_HAS_DISK_CACHES | BALLOON_HAS_LAST_UPDATE)

typedef struct {
    const char *name;
    gboolean unreadable; /* the stats call failed */
    guint32 present;
    guint64 actual_mib;
    guint64 unused_mib;
    guint64 usable_mib;
    guint64 caches_mib;
    gint64 age_s; /* now - last_update */
    guint64 reserve_mib;
    guint64 old_mib;
    guint64 new_mib;
    const char *veto; /* a word of the reason, NULL when it may go ahead */
} VerdictCase;

static const VerdictCase verdict_cases[] = {
    {.name = "plenty free",
     .present = FULL,
     .actual_mib = 1024,
     .unused_mib = 600,
     .usable_mib = 540,
     .old_mib = 1024,
     .new_mib = 960},
    /* 40 MiB free but 500 MiB of cache: the balloon takes cache. */
    {.name = "free memory is cache",
     .present = FULL,
     .actual_mib = 1024,
     .unused_mib = 40,
     .usable_mib = 476,
     .caches_mib = 560,
     .reserve_mib = 64,
     .old_mib = 1024,
     .new_mib = 960},
    {.name = "cache not reported: free memory alone",
     .present = FULL & ~BALLOON_HAS_DISK_CACHES,
     .actual_mib = 1024,
     .unused_mib = 40,
     .usable_mib = 476,
     .caches_mib = 560,
     .old_mib = 1024,
     .new_mib = 960,
     .veto = "fell"},
    /* usable above unused is cache only as far as disk_caches shows. */
    {.name = "usable beyond the cache",
     .present = FULL,
     .actual_mib = 1024,
     .unused_mib = 40,
     .usable_mib = 476,
     .caches_mib = 100,
     .old_mib = 1024,
     .new_mib = 960,
     .veto = "fell"},
    /* cut 64 + min_unused 100 = 164 > 150 */
    {.name = "just too little",
     .present = FULL,
     .actual_mib = 1024,
     .unused_mib = 150,
     .usable_mib = 86,
     .old_mib = 1024,
     .new_mib = 960,
     .veto = "fell"},
    {.name = "just enough",
     .present = FULL,
     .actual_mib = 1024,
     .unused_mib = 164,
     .usable_mib = 100,
     .old_mib = 1024,
     .new_mib = 960},
    /* The balloon is still 100 MiB above the last target: that much of
     * the free memory is spoken for. */
    {.name = "earlier shrink still on its way",
     .present = FULL,
     .actual_mib = 1124,
     .unused_mib = 220,
     .usable_mib = 160,
     .old_mib = 1024,
     .new_mib = 960,
     .veto = "on its way"},
    {.name = "stats unreadable",
     .unreadable = TRUE,
     .old_mib = 1024,
     .new_mib = 960,
     .veto = "unavailable"},
    {.name = "no unused",
     .present = FULL & ~BALLOON_HAS_UNUSED,
     .actual_mib = 1024,
     .old_mib = 1024,
     .new_mib = 960,
     .veto = "unavailable"},
    {.name = "no stamp",
     .present = FULL & ~BALLOON_HAS_LAST_UPDATE,
     .actual_mib = 1024,
     .unused_mib = 600,
     .old_mib = 1024,
     .new_mib = 960,
     .veto = "time stamp"},
    {.name = "stale",
     .present = FULL,
     .actual_mib = 1024,
     .unused_mib = 600,
     .age_s = 11,
     .old_mib = 1024,
     .new_mib = 960,
     .veto = "old"},
    {.name = "stamped in the future",
     .present = FULL,
     .actual_mib = 1024,
     .unused_mib = 600,
     .age_s = -11,
     .old_mib = 1024,
     .new_mib = 960,
     .veto = "old"},
    {.name = "as old as allowed",
     .present = FULL,
     .actual_mib = 1024,
     .unused_mib = 600,
     .age_s = 10,
     .old_mib = 1024,
     .new_mib = 960},
};

static void test_verdict(gconstpointer data)
{
    const VerdictCase *c = data;
    BalloonStats b = {
        .present = c->present,
        .actual_kib = c->actual_mib * TM_MIB,
        .unused_kib = c->unused_mib * TM_MIB,
        .usable_kib = c->usable_mib * TM_MIB,
        .disk_caches_kib = c->caches_mib * TM_MIB,
        .last_update = NOW_S - c->age_s,
    };
    BalloonAction a = {.base = {.type = &balloon_action},
                       .old_kib = c->old_mib * TM_MIB,
                       .new_kib = c->new_mib * TM_MIB};
    ShrinkCheck check = {.fresh = c->unreadable ? NULL : &b,
                         .now_s = NOW_S,
                         .reserve_kib = c->reserve_mib * TM_MIB,
                         .min_unused_kib = 100 * TM_MIB,
                         .stale_after_s = 10};
    g_autofree char *veto = mem_shrink_verdict(&a, &check);

    if (!c->veto) {
        g_assert_null(veto);
        return;
    }
    g_assert_nonnull(veto);
    g_assert_nonnull(strstr(veto, c->veto));
}

int main(int argc, char **argv)
{
    guint i;

    g_test_init(&argc, &argv, NULL);
    for (i = 0; i < G_N_ELEMENTS(verdict_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/mem/shrink-check/%s", verdict_cases[i].name);
        g_test_add_data_func(path, &verdict_cases[i], test_verdict);
    }
    return g_test_run();
}
