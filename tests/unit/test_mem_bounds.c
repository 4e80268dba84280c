/* The safety clamp, case by case.  Expected targets are named by the limit
 * that must bind, and computed from the row's own inputs. */
#include "test_mem_util.h"

#define MIB TM_MIB

typedef enum {
    WANT_PROPOSED,
    WANT_CUR,
    WANT_FLOOR,
    WANT_USED_PLUS_MIN_UNUSED,
    WANT_CUR_MINUS_RELEASE,
    WANT_MAX,
    WANT_CUR_PLUS_ROOM,
} Want;

typedef struct {
    const char *name;
    guint64 cur_mib;
    guint64 max_mib;
    guint64 used_mib;
    gboolean may_grow;
    gboolean may_shrink;
    gint64 room_mib; /* growth room in both pools */
    guint64 proposed_mib;
    Want want;
    MemClamp why;
} ClampCase;

/* Config for every row: floor 200, min_unused 100, max_release 64,
 * min_step 8 (the defaults). */
static const ClampCase clamp_cases[] = {
    {"shrink within limits", 1000, 2048, 100, TRUE, TRUE, 0, 950, WANT_PROPOSED,
     MEM_CLAMP_NONE},
    {"shrink cut to max_release", 1000, 2048, 100, TRUE, TRUE, 0, 300,
     WANT_CUR_MINUS_RELEASE, MEM_CLAMP_RELEASE_STEP},
    {"shrink stops at used + min_unused", 480, 2048, 330, TRUE, TRUE, 0, 340,
     WANT_USED_PLUS_MIN_UNUSED, MEM_CLAMP_MIN_UNUSED},
    {"shrink stops at the floor", 240, 2048, 20, TRUE, TRUE, 0, 100, WANT_FLOOR,
     MEM_CLAMP_FLOOR},
    {"shrink to zero", 240, 2048, 20, TRUE, TRUE, 0, 0, WANT_FLOOR,
     MEM_CLAMP_FLOOR},
    {"already below floor: no shrink", 150, 2048, 20, TRUE, TRUE, 0, 100,
     WANT_CUR, MEM_CLAMP_FLOOR},
    {"using more than it has: no shrink", 500, 2048, 700, TRUE, TRUE, 0, 300,
     WANT_CUR, MEM_CLAMP_MIN_UNUSED},
    {"may not shrink", 1000, 2048, 100, TRUE, FALSE, 0, 900, WANT_CUR,
     MEM_CLAMP_FROZEN},
    {"shrink below min_step", 1000, 2048, 100, TRUE, TRUE, 0, 995, WANT_CUR,
     MEM_CLAMP_MIN_STEP},
    {"max below current: shrink still bounded", 3000, 2048, 100, TRUE, TRUE, 0,
     2048, WANT_CUR_MINUS_RELEASE, MEM_CLAMP_RELEASE_STEP},
    {"grow within room", 500, 2048, 450, TRUE, TRUE, 1000, 700, WANT_PROPOSED,
     MEM_CLAMP_NONE},
    {"grow cut to max", 1900, 2048, 1850, TRUE, TRUE, 1000, 2200, WANT_MAX,
     MEM_CLAMP_MAX},
    {"grow cut to room", 500, 2048, 450, TRUE, TRUE, 100, 900,
     WANT_CUR_PLUS_ROOM, MEM_CLAMP_ROOM},
    {"no room", 500, 2048, 450, TRUE, TRUE, 0, 900, WANT_CUR, MEM_CLAMP_ROOM},
    {"negative room", 500, 2048, 450, TRUE, TRUE, -300, 900, WANT_CUR,
     MEM_CLAMP_ROOM},
    {"room below min_step", 500, 2048, 450, TRUE, TRUE, 5, 900, WANT_CUR,
     MEM_CLAMP_MIN_STEP},
    {"may not grow", 500, 2048, 450, FALSE, FALSE, 1000, 900, WANT_CUR,
     MEM_CLAMP_FROZEN},
    {"max below current: no growth", 3000, 2048, 2900, TRUE, TRUE, 1000, 3500,
     WANT_CUR, MEM_CLAMP_MAX},
    {"unchanged", 700, 2048, 100, TRUE, TRUE, 1000, 700, WANT_CUR,
     MEM_CLAMP_NONE},
};

static guint64 want_kib(const ClampCase *c, const MemBounds *b)
{
    switch (c->want) {
    case WANT_PROPOSED:
        return c->proposed_mib * MIB;
    case WANT_CUR:
        return c->cur_mib * MIB;
    case WANT_FLOOR:
        return b->floor_kib;
    case WANT_USED_PLUS_MIN_UNUSED:
        return c->used_mib * MIB + b->min_unused_kib;
    case WANT_CUR_MINUS_RELEASE:
        return c->cur_mib * MIB - b->max_release_kib;
    case WANT_MAX:
        return c->max_mib * MIB;
    case WANT_CUR_PLUS_ROOM:
        return (guint64)((gint64)c->cur_mib + c->room_mib) * MIB;
    }
    g_assert_not_reached();
}

static void test_clamp(gconstpointer data)
{
    const ClampCase *c = data;
    g_autoptr(Snapshot) snap = tm_snapshot(1, 24576, 20000);
    MemBoundsGuest g = {c->cur_mib * MIB, c->max_mib * MIB, c->used_mib * MIB,
                        c->may_grow, c->may_shrink};
    MemBounds b;
    MemBounds before;
    MemClamp why = MEM_CLAMP_NONE;
    guint64 got;
    MemConfig cfg;

    tm_config(&cfg, MEM_POLICY_COURSE);
    mem_bounds_init(&b, snap, &cfg);
    b.budget_left_kib = c->room_mib * (gint64)MIB;
    b.free_left_kib = c->room_mib * (gint64)MIB + 1;
    before = b;

    got = mem_bounds_clamp(&b, &g, c->proposed_mib * MIB, &why);
    g_assert_cmpuint(got, ==, want_kib(c, &b));
    g_assert_cmpint(why, ==, c->why);
    g_assert_true((why == MEM_CLAMP_NONE) == (mem_clamp_rule(why) == NULL));

    /* Growth is charged to both pools; a shrink credits the budget only,
     * since host memory comes back only once the balloon inflates. */
    if (got > g.cur_kib) {
        g_assert_cmpint(b.budget_left_kib, ==,
                        before.budget_left_kib - (gint64)(got - g.cur_kib));
        g_assert_cmpint(b.free_left_kib, ==,
                        before.free_left_kib - (gint64)(got - g.cur_kib));
    } else {
        g_assert_cmpint(b.budget_left_kib, ==,
                        before.budget_left_kib + (gint64)(g.cur_kib - got));
        g_assert_cmpint(b.free_left_kib, ==, before.free_left_kib);
    }
    config_clear(&mem_config_schema, &cfg);
}

/* ---- pools from the snapshot ------------------------------------------ */

typedef struct {
    const char *name;
    guint64 budget_mib; /* 0: from the host */
    guint64 total_mib;
    guint64 free_mib;
} PoolCase;

static const PoolCase pool_cases[] = {
    {"budget from host", 0, 24576, 20000},
    {"configured budget", 3000, 24576, 20000},
    {"tiny host", 0, 100, 50},
    {"budget below holdings", 1000, 24576, 20000},
};

static void test_pools(gconstpointer data)
{
    const PoolCase *c = data;
    g_autoptr(Snapshot) snap = tm_snapshot(1, c->total_mib, c->free_mib);
    DomainSample *inflating;
    DomainSample *off;
    MemBounds b;
    guint64 budget;
    guint64 held;
    MemConfig cfg;

    tm_config(&cfg, MEM_POLICY_COURSE);
    cfg.guest_budget_mib = c->budget_mib;
    tm_guest(snap, "a", 1000, 2048, 100);
    /* Its target is 600, its balloon still at 900: it holds 900. */
    inflating = tm_guest(snap, "b", 600, 2048, 100);
    inflating->balloon.actual_kib = 900 * MIB;
    /* A shut-off guest holds nothing, whatever its target says. */
    off = tm_guest(snap, "c", 700, 2048, 100);
    off->state = VIR_DOMAIN_SHUTOFF;
    mem_bounds_init(&b, snap, &cfg);

    held = (1000 + 900) * MIB;
    budget = c->budget_mib
                 ? c->budget_mib * MIB
                 : mem_kib_sub(c->total_mib * MIB, cfg.host_reserve_mib * MIB);
    g_assert_cmpuint(b.held_kib, ==, held);
    g_assert_cmpuint(b.budget_kib, ==, budget);
    g_assert_cmpint(b.budget_left_kib, ==,
                    (gint64)budget - (gint64)held -
                        (gint64)(cfg.host_reserve_mib * MIB));
    g_assert_cmpint(b.free_left_kib, ==,
                    (gint64)(c->free_mib * MIB) -
                        (gint64)(cfg.host_reserve_mib * MIB));
    g_assert_cmpint(mem_bounds_room(&b), ==,
                    MIN(b.budget_left_kib, b.free_left_kib));
    g_assert_cmpint(mem_bounds_room_after(&b, 64 * MIB), ==,
                    MIN(b.budget_left_kib + 64 * (gint64)MIB, b.free_left_kib));
    config_clear(&mem_config_schema, &cfg);
}

/* Shrinks fund growth on the budget side within one tick; the host side
 * does not move until next tick. */
static void test_shrink_funds_growth(void)
{
    g_autoptr(Snapshot) snap = tm_snapshot(1, 24576, 20000);
    MemBoundsGuest donor = {1000 * MIB, 2048 * MIB, 100 * MIB, TRUE, TRUE};
    MemBoundsGuest taker = {500 * MIB, 2048 * MIB, 480 * MIB, TRUE, TRUE};
    MemBounds b;
    MemConfig cfg;

    tm_config(&cfg, MEM_POLICY_COURSE);
    mem_bounds_init(&b, snap, &cfg);
    b.budget_left_kib = 0;
    g_assert_cmpuint(mem_bounds_clamp(&b, &taker, 600 * MIB, NULL), ==,
                     taker.cur_kib);
    g_assert_cmpuint(mem_bounds_clamp(&b, &donor, 900 * MIB, NULL), ==,
                     (1000 - 64) * MIB);
    g_assert_cmpuint(mem_bounds_clamp(&b, &taker, 600 * MIB, NULL), ==,
                     (500 + 64) * MIB);
    g_assert_cmpint(mem_bounds_room(&b), ==, 0);

    /* With the host side at zero, the same release does not help. */
    mem_bounds_init(&b, snap, &cfg);
    b.free_left_kib = 0;
    g_assert_cmpuint(mem_bounds_clamp(&b, &donor, 900 * MIB, NULL), ==,
                     (1000 - 64) * MIB);
    g_assert_cmpuint(mem_bounds_clamp(&b, &taker, 600 * MIB, NULL), ==,
                     taker.cur_kib);
    config_clear(&mem_config_schema, &cfg);
}

static void test_kib_arith(void)
{
    g_assert_cmpuint(mem_kib_add(G_MAXUINT64 - 1, 5), ==, G_MAXUINT64);
    g_assert_cmpuint(mem_kib_add(3, 4), ==, 7);
    g_assert_cmpuint(mem_kib_sub(3, 4), ==, 0);
    g_assert_cmpuint(mem_kib_sub(4, 3), ==, 1);
    g_assert_cmpuint(mem_mib_to_kib(2), ==, 2048);
    g_assert_cmpuint(mem_mib_to_kib(G_MAXUINT64), ==, MEM_KIB_CAP);
}

int main(int argc, char **argv)
{
    guint i;

    g_test_init(&argc, &argv, NULL);
    for (i = 0; i < G_N_ELEMENTS(clamp_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/mem/bounds/clamp/%s", clamp_cases[i].name);
        g_test_add_data_func(path, &clamp_cases[i], test_clamp);
    }
    for (i = 0; i < G_N_ELEMENTS(pool_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/mem/bounds/pools/%s", pool_cases[i].name);
        g_test_add_data_func(path, &pool_cases[i], test_pools);
    }
    g_test_add_func("/mem/bounds/shrink-funds-growth",
                    test_shrink_funds_growth);
    g_test_add_func("/mem/bounds/kib-arith", test_kib_arith);
    return g_test_run();
}
