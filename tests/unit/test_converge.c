/* Whether a pre-copy migration converges, and its cost (converge.h). */
#include <string.h>

#include "converge.h"

typedef struct {
    const char *what;
    ConvergeInput in;
    gboolean known;
    gboolean converges;
    guint passes;
    double total_mib; /* when it converges */
    double time_s;
    const char *reason_has;
} ConvergeCase;

static const ConvergeCase cases[] = {
    {"an idle guest: one pass, then a pause",
     {120, 0, 40, 600},
     TRUE,
     TRUE,
     2,
     120,
     3,
     "about 120 MiB in 2 passes"},
    {"a quarter of the bandwidth: each pass a quarter of the last",
     {120, 10, 40, 600},
     TRUE,
     TRUE,
     3,
     157.5,
     3.9375,
     "dirties 10.0 MiB/s against 40.0 MiB/s"},
    {"nothing touched: a single pass",
     {0, 5, 40, 600},
     TRUE,
     TRUE,
     1,
     0,
     0,
     NULL},
    {"as fast as the link: never",
     {120, 40, 40, 600},
     TRUE,
     FALSE,
     0,
     0,
     0,
     "as fast as or faster than the 40.0 MiB/s"},
    {"just below the link: too many passes",
     {2048, 39.9, 40, 600},
     TRUE,
     FALSE,
     30,
     0,
     0,
     "after 30 passes"},
    {"converging, but longer than the job may run",
     {30000, 1, 40, 600},
     TRUE,
     FALSE,
     0,
     0,
     0,
     "would take 769 s, longer than the 600 s a migration may run"},
    {"unknown dirty rate: not refused, not known",
     {120, -1, 40, 600},
     FALSE,
     FALSE,
     0,
     0,
     0,
     "dirty rate is unknown"},
};

static void test_table(void)
{
    guint i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        const ConvergeCase *c = &cases[i];
        g_auto(ConvergeEstimate) e = {0};

        converge_estimate(&c->in, &e);
        g_test_message("%s: %s", c->what, e.reason);
        g_assert_cmpint(e.known, ==, c->known);
        g_assert_cmpint(e.converges, ==, c->converges);
        g_assert_nonnull(e.reason);
        if (c->reason_has)
            g_assert_nonnull(strstr(e.reason, c->reason_has));
        if (c->passes)
            g_assert_cmpuint(e.passes, ==, c->passes);
        if (c->converges) {
            g_assert_cmpfloat_with_epsilon(e.total_mib, c->total_mib, 1e-9);
            g_assert_cmpfloat_with_epsilon(e.time_s, c->time_s, 1e-9);
        }
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/converge/table", test_table);
    return g_test_run();
}
