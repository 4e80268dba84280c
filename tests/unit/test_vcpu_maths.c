/* Tables for the arithmetic under the vCPU policy: the demand estimate,
 * the smoothed load, and the assignment search (given loads and pins, how
 * many pin changes it makes and what it predicts). */
#include <math.h>

#include "../../vcpu_scheduler/assign.h"
#include "../../vcpu_scheduler/estimate.h"

#define MAX_ITEMS 40

typedef struct {
    double load;
    gint pinned; /* -1: free */
    gint hint;
    gboolean frozen;
} ItemSpec;

typedef struct {
    const char *name;
    guint np;
    guint n;
    ItemSpec items[MAX_ITEMS];
    guint moves;  /* expected pin changes (free items all count) */
    double sd;    /* expected predicted sd after */
    double unmet; /* expected predicted demand above capacity after */
} AssignCase;

#define BUSY_ON(p)                                                             \
    {                                                                          \
        100, (p), (p), FALSE                                                   \
    }

static const AssignCase assign_cases[] = {
    {"4 busy on pCPU 0 of 2 go 2+2",
     2,
     4,
     {BUSY_ON(0), BUSY_ON(0), BUSY_ON(0), BUSY_ON(0)},
     2,
     0,
     200},
    {"2+2 busy stays",
     2,
     4,
     {BUSY_ON(0), BUSY_ON(1), BUSY_ON(0), BUSY_ON(1)},
     0,
     0,
     200},
    {"2 heavy stacked, 2 light: one heavy moves",
     2,
     4,
     {BUSY_ON(0), BUSY_ON(0), {10, 1, 1, FALSE}, {10, 1, 1, FALSE}},
     1,
     0,
     20},
    {"5 x 30 on one pCPU: 3+2 is the best",
     2,
     5,
     {{30, 0, 0, FALSE},
      {30, 0, 0, FALSE},
      {30, 0, 0, FALSE},
      {30, 0, 0, FALSE},
      {30, 0, 0, FALSE}},
     2,
     15,
     0},
    {"swap needed: no single move helps",
     2,
     4,
     {{50, 0, 0, FALSE},
      {45, 0, 0, FALSE},
      {30, 1, 1, FALSE},
      {25, 1, 1, FALSE}},
     2,
     0,
     0},
    {"free vCPUs all placed",
     2,
     4,
     {{50, -1, 0, FALSE},
      {50, -1, 0, FALSE},
      {50, -1, 0, FALSE},
      {50, -1, 0, FALSE}},
     4,
     0,
     0},
    {"free vCPU joins the lighter pCPU",
     2,
     3,
     {{60, 0, 0, FALSE}, {20, 1, 1, FALSE}, {40, -1, 0, FALSE}},
     1,
     0,
     0},
    {"two of four frozen: the others move",
     2,
     4,
     {{100, 0, 0, TRUE}, {100, 0, 0, TRUE}, BUSY_ON(0), BUSY_ON(0)},
     2,
     0,
     200},
    {"three of four frozen: one moves",
     2,
     4,
     {{100, 0, 0, TRUE}, {100, 0, 0, TRUE}, {100, 0, 0, TRUE}, BUSY_ON(0)},
     1,
     0,
     200},
    {"2 busy on one of 8 pCPUs: spread though sd rises",
     8,
     2,
     {BUSY_ON(0), BUSY_ON(0)},
     1,
     43.30127,
     0},
    {"2 busy spread over 8 stay",
     8,
     2,
     {BUSY_ON(3), BUSY_ON(5)},
     0,
     43.30127,
     0},
    {"idle vCPUs never move",
     2,
     3,
     {{0, 0, 0, FALSE}, {0, 0, 0, FALSE}, {0, 0, 0, FALSE}},
     0,
     0,
     0},
    {"one pCPU",
     1,
     3,
     {BUSY_ON(0), {20, -1, -1, FALSE}, {20, -1, 3, FALSE}},
     2,
     0,
     40},
    {"pin to a pCPU that no longer exists counts as free",
     2,
     2,
     {{80, 5, 5, FALSE}, {80, 0, 0, FALSE}},
     1,
     0,
     0},
    {"nothing to place", 4, 0, {{0}}, 0, 0, 0},
    {"12 pCPUs, 24 busy on pCPU 0",
     12,
     24,
     {BUSY_ON(0), BUSY_ON(0), BUSY_ON(0), BUSY_ON(0), BUSY_ON(0), BUSY_ON(0),
      BUSY_ON(0), BUSY_ON(0), BUSY_ON(0), BUSY_ON(0), BUSY_ON(0), BUSY_ON(0),
      BUSY_ON(0), BUSY_ON(0), BUSY_ON(0), BUSY_ON(0), BUSY_ON(0), BUSY_ON(0),
      BUSY_ON(0), BUSY_ON(0), BUSY_ON(0), BUSY_ON(0), BUSY_ON(0), BUSY_ON(0)},
     22,
     0,
     1200},
    {"mixed loads on 3 pCPUs",
     3,
     6,
     {{90, 0, 0, FALSE},
      {60, 0, 0, FALSE},
      {30, 0, 0, FALSE},
      {30, 1, 1, FALSE},
      {60, 1, 1, FALSE},
      {0, 2, 2, FALSE}},
     1,
     0,
     0},
};

static void test_assign_case(gconstpointer data)
{
    const AssignCase *tc = data;
    AssignItem items[MAX_ITEMS];
    AssignPrediction pred;
    guint moves;
    guint counted = 0;
    guint i;

    for (i = 0; i < tc->n; i++) {
        items[i] = (AssignItem){
            .load = tc->items[i].load,
            .pinned = tc->items[i].pinned,
            .hint = tc->items[i].hint,
            .frozen = tc->items[i].frozen,
            .target = -7,
        };
    }
    moves = assign_balance(items, tc->n, tc->np, 2.5);
    assign_predict(items, tc->n, tc->np, TRUE, &pred);

    for (i = 0; i < tc->n; i++) {
        g_assert_cmpint(items[i].target, >=, 0);
        g_assert_cmpint(items[i].target, <, (gint)tc->np);
        if (items[i].frozen)
            g_assert_cmpint(items[i].target, ==, items[i].pinned);
        if (items[i].pinned < 0 || items[i].target != items[i].pinned)
            counted++;
    }
    g_assert_cmpuint(moves, ==, counted);
    g_assert_cmpuint(moves, ==, tc->moves);
    g_assert_cmpfloat_with_epsilon(pred.sd, tc->sd, 1e-3);
    g_assert_cmpfloat_with_epsilon(pred.unmet, tc->unmet, 1e-6);
}

typedef struct {
    const char *name;
    guint n;
    double v[8];
    double sd;
} SdCase;

static const SdCase sd_cases[] = {
    {"empty", 0, {0}, 0},
    {"one value", 1, {42}, 0},
    {"full and idle", 2, {100, 0}, 50},
    {"equal", 3, {70, 70, 70}, 0},
    {"population, not sample", 8, {2, 4, 4, 4, 5, 5, 7, 9}, 2},
    {"four steps", 4, {1, 2, 3, 4}, 1.118034},
};

static void test_sd_case(gconstpointer data)
{
    const SdCase *tc = data;

    g_assert_cmpfloat_with_epsilon(util_stddev(tc->v, tc->n), tc->sd, 1e-6);
}

typedef struct {
    const char *name;
    guint np;
    guint n;
    ItemSpec items[4];
    double sd_now;
    double unmet_now;
} PredictCase;

static const PredictCase predict_cases[] = {
    {"capped at 100", 2, 3, {BUSY_ON(0), BUSY_ON(0), BUSY_ON(0)}, 50, 200},
    {"free counted where it last ran",
     2,
     2,
     {{40, -1, 1, FALSE}, {40, 0, 0, FALSE}},
     0,
     0},
    {"free with no known pCPU left out",
     2,
     2,
     {{40, -1, -1, FALSE}, {40, 0, 0, FALSE}},
     20,
     0},
};

static void test_predict_case(gconstpointer data)
{
    const PredictCase *tc = data;
    AssignItem items[4];
    AssignPrediction pred;
    guint i;

    for (i = 0; i < tc->n; i++)
        items[i] = (AssignItem){.load = tc->items[i].load,
                                .pinned = tc->items[i].pinned,
                                .hint = tc->items[i].hint,
                                .target = -1};
    assign_predict(items, tc->n, tc->np, FALSE, &pred);
    g_assert_cmpfloat_with_epsilon(pred.sd, tc->sd_now, 1e-6);
    g_assert_cmpfloat_with_epsilon(pred.unmet, tc->unmet_now, 1e-6);
}

typedef struct {
    const char *name;
    double ran;
    double waited;
    double demand;
} DemandCase;

static const DemandCase demand_cases[] = {
    {"nothing", 0, 0, 0},
    {"never waited: what it ran", 50, 0, 50},
    {"spinning, one of four on a pCPU", 25, 75, 100},
    {"spinning, one of two", 50, 50, 100},
    {"70% burner at half speed", 700.0 / 17, 700.0 / 17, 70},
    {"60% burner sharing", 50, 100.0 / 6, 60},
    {"never above ran + waited", 10, 60, 25},
    {"never above one pCPU", 10, 95, 100},
    {"ran beyond the wall clock", 120, 0, 100},
    {"waited the whole interval", 30, 100, 100},
    {"negative noise", -5, 10, 0},
};

static void test_demand_case(gconstpointer data)
{
    const DemandCase *tc = data;
    double d = vcpu_demand(tc->ran, tc->waited);

    g_assert_cmpfloat_with_epsilon(d, tc->demand, 1e-6);
    /* Between what it ran and what it was runnable, whatever the input. */
    g_assert_cmpfloat(d, >=, CLAMP(tc->ran, 0, 100) - 1e-9);
    g_assert_cmpfloat(d, <=, 100);
}

typedef struct {
    const char *name;
    guint n;
    double samples[12];
    gboolean restart_before_last;
    guint steps; /* samples taken whole as a step */
    double lo;   /* the final estimate lies in [lo, hi] */
    double hi;
    double max_sigma; /* and its uncertainty is at most this */
} EstimateCase;

static const EstimateCase estimate_cases[] = {
    {"first sample taken whole", 1, {40}, FALSE, 0, 40, 40, 2.5},
    {"small wobble averaged", 2, {40, 44}, FALSE, 0, 41.2, 41.2, 2.5},
    {"a jump is a new load", 2, {40, 90}, FALSE, 1, 90, 90, 6},
    {"idle, then a light load taken at once",
     5,
     {1, 1, 1, 1, 10},
     FALSE,
     1,
     10,
     10,
     6},
    {"noisy load: wobble learned, no false steps",
     12,
     {50, 57, 44, 56, 45, 55, 46, 54, 43, 57, 45, 55},
     FALSE,
     0,
     46,
     54,
     6},
    {"steady load: estimate firms up",
     12,
     {30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30},
     FALSE,
     0,
     30,
     30,
     0.5},
    {"restart takes the next sample whole",
     3,
     {30, 30, 34},
     TRUE,
     0,
     34,
     34,
     2.5},
};

static void test_estimate_case(gconstpointer data)
{
    const EstimateCase *tc = data;
    LoadEstimate e = {0};
    guint steps = 0;
    guint i;

    for (i = 0; i < tc->n; i++) {
        if (tc->restart_before_last && i == tc->n - 1)
            e.restart = TRUE;
        steps += load_estimate_feed(&e, tc->samples[i]);
    }
    g_assert_true(e.valid);
    g_assert_cmpuint(steps, ==, tc->steps);
    g_assert_cmpfloat(e.value, >=, tc->lo - 1e-9);
    g_assert_cmpfloat(e.value, <=, tc->hi + 1e-9);
    g_assert_cmpfloat(load_estimate_sigma(&e), >, 0);
    g_assert_cmpfloat(load_estimate_sigma(&e), <=, tc->max_sigma);
}

int main(int argc, char **argv)
{
    guint i;

    g_test_init(&argc, &argv, NULL);
    for (i = 0; i < G_N_ELEMENTS(assign_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/vcpu/assign/%s", assign_cases[i].name);
        g_test_add_data_func(path, &assign_cases[i], test_assign_case);
    }
    for (i = 0; i < G_N_ELEMENTS(sd_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/vcpu/stddev/%s", sd_cases[i].name);
        g_test_add_data_func(path, &sd_cases[i], test_sd_case);
    }
    for (i = 0; i < G_N_ELEMENTS(predict_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/vcpu/predict/%s", predict_cases[i].name);
        g_test_add_data_func(path, &predict_cases[i], test_predict_case);
    }
    for (i = 0; i < G_N_ELEMENTS(demand_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/vcpu/demand/%s", demand_cases[i].name);
        g_test_add_data_func(path, &demand_cases[i], test_demand_case);
    }
    for (i = 0; i < G_N_ELEMENTS(estimate_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/vcpu/estimate/%s", estimate_cases[i].name);
        g_test_add_data_func(path, &estimate_cases[i], test_estimate_case);
    }
    return g_test_run();
}
