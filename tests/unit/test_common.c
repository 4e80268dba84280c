/* Pure pieces of common/: cpumaps, rate-limited complaints, plans. */
#include "complain.h"
#include "plan.h"
#include "snapshot.h"

typedef struct {
    guint npcpus;
    guint set[4];
    guint nset;
    guint count;
    gint single;
} CpumapCase;

static const CpumapCase cpumap_cases[] = {
    {2, {0}, 0, 0, -1},   {2, {1}, 1, 1, 1},       {2, {0, 1}, 2, 2, -1},
    {9, {8}, 1, 1, 8},    {16, {3, 15}, 2, 2, -1}, {1024, {1023}, 1, 1, 1023},
    {1024, {0}, 1, 1, 0}, {8, {7}, 1, 1, 7},
};

static void test_cpumap_table(void)
{
    guint i;
    guint j;

    for (i = 0; i < G_N_ELEMENTS(cpumap_cases); i++) {
        const CpumapCase *c = &cpumap_cases[i];
        gsize maplen = VIR_CPU_MAPLEN(c->npcpus);
        g_autofree guint8 *map = g_malloc0(maplen);

        for (j = 0; j < c->nset; j++)
            cpumap_set(map, maplen, c->set[j]);
        /* Out-of-range bits are ignored, not written past the map. */
        cpumap_set(map, maplen, (guint)maplen * 8 + 5);
        g_assert_cmpuint(cpumap_count(map, maplen, c->npcpus), ==, c->count);
        g_assert_cmpint(cpumap_single(map, maplen, c->npcpus), ==, c->single);
        g_assert_false(cpumap_has(map, maplen, (guint)maplen * 8));
        g_assert_false(cpumap_has(NULL, maplen, 0));
    }
}

static void test_snapshot_domains(void)
{
    g_autoptr(Snapshot) s = snapshot_new();
    DomainSample *d;

    s->node.npcpus = 12;
    d = snapshot_add_domain(s, "u-1", "one", 3);
    g_assert_cmpuint(d->nvcpus, ==, 3);
    g_assert_cmpint(d->vcpus[2].last_pcpu, ==, -1);
    g_assert_cmpuint(d->vcpus[2].number, ==, 2);
    cpumap_set(d->vcpus[2].cpumap, snapshot_maplen(s), 11);
    g_assert_true(cpumap_has(d->vcpus[2].cpumap, snapshot_maplen(s), 11));
    snapshot_add_domain(s, "u-2", NULL, 0);
    g_assert_true(snapshot_find(s, "u-1") == d);
    g_assert_cmpstr(snapshot_find(s, "u-2")->name, ==, "u-2");
    g_assert_null(snapshot_find(s, "u-3"));
}

/* One line when a condition starts, repeats only after growing pauses,
 * one "recovered" when it ends. */
static void test_complaint_rate(void)
{
    Complaint c = {0};
    gint64 t = 1000;
    guint logged = 0;
    guint i;

    for (i = 0; i < 600; i++, t += G_USEC_PER_SEC)
        logged += complaint_should_log(&c, t);
    /* 600 s of one complaint a second: the first, then pauses of 10, 20,
     * 40, ... s: the first and 5 repeats (at 10, 30, 70, 150 and 310 s;
     * the next would be at 630 s). */
    g_assert_cmpuint(logged, ==, 6);
    g_assert_true(complaint_release(&c));
    g_assert_false(complaint_release(&c));
    g_assert_true(complaint_should_log(&c, t));
}

static void test_plan(void)
{
    g_autoptr(Plan) p = plan_new();
    Action *a = plan_add(p, ACTION_SET_MEMORY, "u", "vm");

    action_set_reason(a, "unused %d MiB", 42);
    action_set_reason(a, "unused %d MiB", 43);
    g_assert_cmpstr(a->reason, ==, "unused 43 MiB");
    g_assert_cmpint(a->from_pcpu, ==, -1);
    g_assert_cmpuint(plan_len(p), ==, 1);
    g_assert_true(plan_get(p, 0) == a);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/common/cpumap", test_cpumap_table);
    g_test_add_func("/common/snapshot", test_snapshot_domains);
    g_test_add_func("/common/complaint", test_complaint_rate);
    g_test_add_func("/common/plan", test_plan);
    return g_test_run();
}
