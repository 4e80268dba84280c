/* The metrics file as Prometheus reads it: every file here is parsed by
 * the prometheus_client parser (lib/prom_parse.py, Debian's
 * python3-prometheus-client), and each value is checked against the
 * snapshot, plan and state of the tick that wrote it.
 *
 *   figures     both daemons' own gauges, from hand-made snapshots whose
 *               utilisation and consumption are known, through the very
 *               hooks the tick driver calls;
 *   ticks       whole ticks against libvirt's test:///default driver: the
 *               counters and gauges of the tick driver and the daemons'
 *               gauges against a snapshot of the test's own connection;
 *   unwritable  a metrics file whose directory goes away: one warning,
 *               the ticks go on, and the file is written again once it
 *               can be. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "../../memory_coordinator/ops.h"
#include "../../vcpu_scheduler/ops.h"
#include "../unit/test_mem_util.h"
#include "../unit/test_vcpu_util.h"
#include "collect.h"
#include "daemon.h"
#include "metrics.h"

#define URI "test:///default"

typedef struct {
    char *dir;
} Scratch;

static void scratch_setup(Scratch *s, gconstpointer data)
{
    s->dir = g_dir_make_tmp("aos-metrics-XXXXXX", NULL);
    g_assert_nonnull(s->dir);
}

static void remove_tree(const char *path)
{
    g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(path, name, NULL);

        if (g_file_test(p, G_FILE_TEST_IS_DIR))
            remove_tree(p);
        else
            g_remove(p);
    }
    g_rmdir(path);
}

static void scratch_teardown(Scratch *s, gconstpointer data)
{
    remove_tree(s->dir);
    g_free(s->dir);
}

/* ---- Reading the file back ------------------------------------------ */

/* Beside this file: tests run from the top of the tree, as make and
 * tests/check.sh run them. */
static char *parser_path(void)
{
    g_autofree char *here = g_path_get_dirname(__FILE__);
    char *path = g_build_filename(here, "lib", "prom_parse.py", NULL);

    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR))
        g_error("no %s: run the test from the top of the tree", path);
    return path;
}

/* The samples of the file, as the parser saw them; the test fails when
 * the parser refuses the file. */
static JsonArray *parse_file(const char *path, JsonParser **keep)
{
    g_autofree char *parser = parser_path();
    const char *argv[] = {"/usr/bin/python3", parser, path, NULL};
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GError) error = NULL;
    int status = 0;
    JsonParser *p = json_parser_new();

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL,
                               NULL, &out, &err, &status, &error));
    g_assert_no_error(error);
    if (!g_spawn_check_wait_status(status, NULL))
        g_error("the Prometheus parser refused %s: %s", path, err);
    g_assert_true(json_parser_load_from_data(p, out, -1, &error));
    g_assert_no_error(error);
    *keep = p;
    return json_node_get_array(json_parser_get_root(p));
}

/* The value of the one sample called name whose label (if given) has
 * that value; the test fails when there is none or more than one. */
static double sample(JsonArray *a, const char *name, const char *label,
                     const char *value)
{
    guint i;
    guint found = 0;
    double v = NAN;

    for (i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        JsonObject *labels = json_object_get_object_member(o, "labels");

        if (g_strcmp0(json_object_get_string_member(o, "name"), name) != 0)
            continue;
        if (label && g_strcmp0(json_object_get_string_member_with_default(
                                   labels, label, NULL),
                               value) != 0)
            continue;
        found++;
        v = json_object_get_double_member(o, "value");
    }
    if (found != 1)
        g_error("%u samples %s{%s=\"%s\"}, expected 1", found, name,
                label ? label : "", value ? value : "");
    return v;
}

static guint count_samples(JsonArray *a, const char *name)
{
    guint i;
    guint n = 0;

    for (i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);

        n += g_strcmp0(json_object_get_string_member(o, "name"), name) == 0;
    }
    return n;
}

static const char *family_type(JsonArray *a, const char *name)
{
    guint i;

    for (i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);

        if (g_strcmp0(json_object_get_string_member(o, "name"), name) == 0)
            return json_object_get_string_member(o, "type");
    }
    return NULL;
}

/* The exposition of one hook call, written and read back. */
static JsonArray *figures_file(const Scratch *s, const DaemonOps *ops,
                               const Snapshot *snap, const Plan *plan,
                               gconstpointer cfg, gpointer state,
                               GString *status, JsonParser **keep)
{
    g_autoptr(Metrics) m = metrics_new(ops->cli.prog);
    g_autofree char *text = NULL;
    g_autofree char *path = g_build_filename(s->dir, "figures.prom", NULL);
    g_autoptr(GError) err = NULL;

    ops->figures(snap, plan, cfg, state, m, status);
    text = metrics_text(m);
    g_test_message("%s", text);
    g_assert_true(metrics_write_file(path, text, &err));
    g_assert_no_error(err);
    return parse_file(path, keep);
}

/* ---- The daemons' own figures ---------------------------------------- */

/* pCPU 1 of 3 offline; pCPU 0 runs vm0 and vm2, pCPU 2 runs vm1. */
static void test_vcpu_figures(Scratch *s, gconstpointer data)
{
    const DaemonOps *ops = &vcpu_scheduler_ops;
    const double share[] = {0.6, 0.2, 0.1}; /* of one pCPU, per vCPU */
    const gint pin[] = {0, 2, 0};
    VcpuConfig cfg;
    gpointer st = ops->state_new();
    g_autoptr(GString) status = g_string_new(NULL);
    g_autoptr(JsonParser) keep = NULL;
    g_autoptr(Plan) p0 = NULL;
    g_autoptr(Plan) p1 = NULL;
    g_autoptr(Snapshot) s0 = NULL;
    g_autoptr(Snapshot) s1 = NULL;
    const double *util = NULL;
    guint nutil = 0;
    double want[3] = {0};
    double parsed[2];
    double mean;
    double var = 0;
    JsonArray *a;
    guint k;
    guint i;

    tv_config(&cfg);
    for (k = 0; k < 2; k++) {
        TvVcpu v[3];
        Snapshot *snap;

        for (i = 0; i < 3; i++)
            v[i] = (TvVcpu){.dom = i,
                            .pin = pin[i],
                            .last = pin[i],
                            .time_ns =
                                (guint64)(k * share[i] * 1e9) + 1000000000ULL};
        snap = tv_snapshot(3, v, 3, (gint64)(k + 1) * G_USEC_PER_SEC);
        snap->node.online = g_malloc0(snapshot_maplen(snap));
        cpumap_set(snap->node.online, snapshot_maplen(snap), 0);
        cpumap_set(snap->node.online, snapshot_maplen(snap), 2);
        if (k == 0)
            s0 = snap;
        else
            s1 = snap;
    }
    p0 = ops->decide(s0, &cfg, st);
    p1 = ops->decide(s1, &cfg, st);
    for (i = 0; i < 3; i++)
        want[pin[i]] += share[i];

    a = figures_file(s, ops, s1, p1, &cfg, st, status, &keep);
    g_assert_true(vcpu_policy_last_util(st, &util, &nutil));
    g_assert_cmpuint(nutil, ==, 2);
    g_assert_cmpstr(family_type(a, "vcpu_scheduler_pcpu_utilisation_ratio"), ==,
                    "gauge");
    /* One sample per online pCPU, none for the offline one; each the
     * share of the interval its vCPUs ran in the snapshots. */
    g_assert_cmpuint(count_samples(a, "vcpu_scheduler_pcpu_utilisation_ratio"),
                     ==, 2);
    parsed[0] = sample(a, "vcpu_scheduler_pcpu_utilisation_ratio", "pcpu", "0");
    parsed[1] = sample(a, "vcpu_scheduler_pcpu_utilisation_ratio", "pcpu", "2");
    g_assert_cmpfloat_with_epsilon(parsed[0], want[0], 1e-9);
    g_assert_cmpfloat_with_epsilon(parsed[1], want[2], 1e-9);
    g_assert_cmpfloat(parsed[0], ==, util[0] / 100.0);
    g_assert_cmpfloat(parsed[1], ==, util[1] / 100.0);
    /* The sd is the population sd of the very ratios in the file. */
    mean = (parsed[0] + parsed[1]) / 2;
    for (i = 0; i < 2; i++)
        var += (parsed[i] - mean) * (parsed[i] - mean) / 2;
    g_assert_cmpfloat_with_epsilon(
        sample(a, "vcpu_scheduler_pcpu_utilisation_stddev_ratio", NULL, NULL),
        sqrt(var), 1e-12);
    g_assert_cmpfloat(
        sample(a, "vcpu_scheduler_sd_threshold_ratio", NULL, NULL), ==,
        cfg.sd_threshold / 100.0);
    g_assert_nonnull(strstr(status->str, "pCPU sd 25.0, unbalanced"));
    config_clear(&vcpu_config_schema, &cfg);
    ops->state_free(st);
}

/* Guest a consumes 10 MiB/s; guest b sits on much unused memory, so the
 * policy shrinks it, and the target set is what the file shows. */
static void test_memory_figures(Scratch *s, gconstpointer data)
{
    const DaemonOps *ops = &memory_coordinator_ops;
    MemConfig cfg;
    gpointer st = ops->state_new();
    MemPolicyState *policy = mem_daemon_policy_state(st);
    g_autoptr(GString) status = g_string_new(NULL);
    g_autoptr(JsonParser) keep = NULL;
    g_autoptr(Snapshot) last = NULL;
    g_autoptr(Plan) plan = NULL;
    const BalloonAction *shrink = NULL;
    MemGuestFigures fa;
    MemGuestFigures fb;
    JsonArray *a;
    guint t;
    guint i;

    tm_config(&cfg, MEM_POLICY_COURSE);
    for (t = 0; t < 3; t++) {
        g_autoptr(Snapshot) snap = tm_snapshot(t, 16384, 12000);

        tm_guest(snap, "a", 1024, 2048, 300 + 10 * t);
        tm_guest(snap, "b", 1024, 2048, 100);
        g_clear_pointer(&plan, plan_free);
        plan = ops->decide(snap, &cfg, st);
        g_clear_pointer(&last, snapshot_free);
        last = g_steal_pointer(&snap);
    }
    for (i = 0; i < plan_len(plan); i++) {
        const BalloonAction *b = balloon_action_of(plan_get(plan, i));

        if (b && g_strcmp0(b->base.name, "b") == 0)
            shrink = b;
    }
    g_assert_nonnull(shrink);
    g_assert_cmpuint(shrink->new_kib, <, shrink->old_kib);
    /* As apply reports a target it set. */
    mem_policy_note_applied(policy, shrink, last->mono_us, TRUE);

    a = figures_file(s, ops, last, plan, &cfg, st, status, &keep);
    g_assert_true(mem_policy_guest_figures(policy, "uuid-a", &fa));
    g_assert_true(mem_policy_guest_figures(policy, "uuid-b", &fb));
    for (i = 0; i < last->domains->len; i++) {
        const DomainSample *d = g_ptr_array_index(last->domains, i);

        g_assert_cmpfloat(sample(a, "memory_coordinator_balloon_actual_bytes",
                                 "domain", d->name),
                          ==, (double)d->balloon.actual_kib * 1024);
        g_assert_cmpfloat(
            sample(a, "memory_coordinator_unused_bytes", "uuid", d->uuid), ==,
            (double)d->balloon.unused_kib * 1024);
        g_assert_cmpfloat(
            sample(a, "memory_coordinator_memory_max_bytes", "domain", d->name),
            ==, (double)d->max_kib * 1024);
    }
    /* a: no target set, so its size; b: the target just set. */
    g_assert_cmpfloat(
        sample(a, "memory_coordinator_balloon_target_bytes", "domain", "a"), ==,
        1024.0 * 1024 * 1024);
    g_assert_cmpfloat(
        sample(a, "memory_coordinator_balloon_target_bytes", "domain", "b"), ==,
        (double)shrink->new_kib * 1024);
    /* a's rate: what the policy holds, below the 10 MiB/s it really grows
     * (smoothing approaches it from below) and well above nothing. */
    g_assert_cmpfloat(sample(a,
                             "memory_coordinator_consumption_rate_bytes_per_"
                             "second",
                             "domain", "a"),
                      ==, fa.rate_kib_s * 1024);
    g_assert_cmpfloat(fa.rate_kib_s, >, 5 * 1024);
    g_assert_cmpfloat(fa.rate_kib_s, <=, 10 * 1024);
    g_assert_cmpfloat(sample(a,
                             "memory_coordinator_consumption_rate_bytes_per_"
                             "second",
                             "domain", "b"),
                      ==, 0);
    g_assert_cmpfloat(
        sample(a, "memory_coordinator_host_free_bytes", NULL, NULL), ==,
        12000.0 * 1024 * 1024);
    g_assert_nonnull(strstr(status->str, "host free 12000 MiB"));
    config_clear(&mem_config_schema, &cfg);
    ops->state_free(st);
}

/* ---- Whole ticks ------------------------------------------------------ */

static DaemonCtx *ctx_new(const DaemonOps *ops, const char *metrics)
{
    const char *argv[] = {ops->cli.prog,    "1",     "--uri", URI,
                          "--metrics-file", metrics, NULL};
    g_autoptr(GError) err = NULL;
    DaemonCtx *ctx;
    int rc = -1;

    ctx = daemon_ctx_new(ops, 6, (char **)argv, &rc, &err);
    g_assert_no_error(err);
    g_assert_cmpint(rc, ==, EXIT_OK);
    return ctx;
}

/* The tick driver's own figures, as its counters hold them. */
static void check_common(JsonArray *a, const char *prog, const DaemonCtx *ctx,
                         const Snapshot *own)
{
    DaemonCounters c;
    guint live = 0;
    guint i;
    struct {
        const char *name;
        guint64 value;
    } counters[5];

    daemon_ctx_counters(ctx, &c);
    counters[0].name = "ticks_total";
    counters[0].value = c.ticks;
    counters[1].name = "ticks_late_total";
    counters[1].value = c.ticks_late;
    counters[2].name = "actions_applied_total";
    counters[2].value = c.actions_applied;
    counters[3].name = "actions_failed_total";
    counters[3].value = c.actions_failed;
    counters[4].name = "libvirt_reconnects_total";
    counters[4].value = c.reconnects;
    for (i = 0; i < G_N_ELEMENTS(counters); i++) {
        g_autofree char *n = g_strdup_printf("%s_%s", prog, counters[i].name);

        g_assert_cmpstr(family_type(a, n), ==, "counter");
        g_assert_cmpfloat(sample(a, n, NULL, NULL), ==,
                          (double)counters[i].value);
    }
    for (i = 0; i < own->domains->len; i++)
        live += domain_sample_live(g_ptr_array_index(own->domains, i));
    {
        g_autofree char *n = g_strdup_printf("%s_guests_running", prog);
        g_autofree char *conn = g_strdup_printf("%s_libvirt_connected", prog);

        g_assert_cmpfloat(sample(a, n, NULL, NULL), ==, (double)live);
        g_assert_cmpfloat(sample(a, conn, NULL, NULL), ==, 1);
    }
}

static Snapshot *own_snapshot(guint what)
{
    g_autoptr(Conn) conn = conn_new(URI, FALSE);
    g_autoptr(GError) err = NULL;
    Snapshot *snap;

    g_assert_true(conn_open_now(conn, &err));
    snap = snapshot_collect(conn, what, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(snap->domains->len, >=, 1);
    return snap;
}

static void test_ticks(Scratch *s, gconstpointer data)
{
    g_autofree char *vpath = g_build_filename(s->dir, "vcpu.prom", NULL);
    g_autofree char *mpath = g_build_filename(s->dir, "mem.prom", NULL);
    g_autoptr(DaemonCtx) vctx = ctx_new(&vcpu_scheduler_ops, vpath);
    g_autoptr(DaemonCtx) mctx = ctx_new(&memory_coordinator_ops, mpath);
    g_autoptr(Snapshot) vown = NULL;
    g_autoptr(Snapshot) mown = NULL;
    g_autoptr(JsonParser) kv = NULL;
    g_autoptr(JsonParser) km = NULL;
    g_autoptr(GError) err = NULL;
    DaemonCounters c;
    JsonArray *a;
    guint i;
    guint online = 0;

    for (i = 0; i < 2; i++) {
        g_assert_true(daemon_tick(vctx, TRUE, &err));
        g_assert_true(daemon_tick(mctx, TRUE, &err));
    }
    g_assert_no_error(err);
    vown = own_snapshot(COLLECT_VCPU);
    mown = own_snapshot(COLLECT_BALLOON | COLLECT_NODE_MEMORY);

    a = parse_file(vpath, &kv);
    check_common(a, "vcpu_scheduler", vctx, vown);
    for (i = 0; i < vown->node.npcpus; i++) {
        g_autofree char *id = g_strdup_printf("%u", i);

        if (!snapshot_cpu_online(vown, i))
            continue;
        online++;
        g_assert_cmpfloat(
            sample(a, "vcpu_scheduler_pcpu_utilisation_ratio", "pcpu", id), >=,
            0);
    }
    g_assert_cmpuint(count_samples(a, "vcpu_scheduler_pcpu_utilisation_ratio"),
                     ==, online);

    a = parse_file(mpath, &km);
    check_common(a, "memory_coordinator", mctx, mown);
    /* The stats period set on the guest it met is its one action. */
    daemon_ctx_counters(mctx, &c);
    g_assert_cmpuint(c.actions_applied, ==, 1);
    for (i = 0; i < mown->domains->len; i++) {
        const DomainSample *d = g_ptr_array_index(mown->domains, i);

        if (!domain_sample_live(d))
            continue;
        g_assert_cmpfloat(sample(a, "memory_coordinator_balloon_actual_bytes",
                                 "uuid", d->uuid),
                          ==, (double)d->balloon.actual_kib * 1024);
        g_assert_cmpfloat(
            sample(a, "memory_coordinator_unused_bytes", "uuid", d->uuid), ==,
            (double)d->balloon.unused_kib * 1024);
        g_assert_cmpfloat(sample(a, "memory_coordinator_balloon_target_bytes",
                                 "uuid", d->uuid),
                          ==, (double)d->cur_kib * 1024);
    }
    g_assert_nonnull(strstr(daemon_ctx_status(mctx), "guest"));
    g_assert_nonnull(strstr(daemon_ctx_status(mctx), "last action"));
}

/* ---- A file that stops being writable -------------------------------- */

static void test_unwritable(Scratch *s, gconstpointer data)
{
    g_autofree char *dir = g_build_filename(s->dir, "collector", NULL);
    g_autofree char *away = g_build_filename(s->dir, "away", NULL);
    g_autofree char *path = g_build_filename(dir, "vcpu.prom", NULL);
    g_autofree char *moved = g_build_filename(away, "vcpu.prom", NULL);
    g_autoptr(DaemonCtx) ctx = NULL;
    g_autoptr(JsonParser) keep = NULL;
    g_autoptr(GError) err = NULL;
    DaemonCounters c;
    JsonArray *a;

    g_assert_cmpint(g_mkdir(dir, 0755), ==, 0);
    ctx = ctx_new(&vcpu_scheduler_ops, path);
    g_assert_true(daemon_tick(ctx, TRUE, &err));
    g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));

    /* The directory goes: one warning for three ticks, which go on. */
    g_assert_cmpint(g_rename(dir, away), ==, 0);
    g_test_expect_message("aos", G_LOG_LEVEL_WARNING,
                          "cannot create a file in directory*reported once*");
    g_assert_true(daemon_tick(ctx, TRUE, &err));
    g_test_assert_expected_messages();
    g_assert_true(daemon_tick(ctx, TRUE, &err));
    g_assert_true(daemon_tick(ctx, TRUE, &err));
    g_assert_no_error(err);
    daemon_ctx_counters(ctx, &c);
    g_assert_cmpuint(c.ticks, ==, 4);

    /* Back: written again, said once, with the ticks it missed. */
    g_assert_cmpint(g_rename(away, dir), ==, 0);
    g_test_expect_message("aos", G_LOG_LEVEL_MESSAGE,
                          "metrics file * written again");
    g_assert_true(daemon_tick(ctx, TRUE, &err));
    g_test_assert_expected_messages();
    a = parse_file(path, &keep);
    g_assert_cmpfloat(sample(a, "vcpu_scheduler_ticks_total", NULL, NULL), ==,
                      5);
    g_assert_false(g_file_test(moved, G_FILE_TEST_EXISTS));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/metrics/figures/vcpu", Scratch, NULL, scratch_setup,
               test_vcpu_figures, scratch_teardown);
    g_test_add("/metrics/figures/memory", Scratch, NULL, scratch_setup,
               test_memory_figures, scratch_teardown);
    g_test_add("/metrics/ticks", Scratch, NULL, scratch_setup, test_ticks,
               scratch_teardown);
    g_test_add("/metrics/unwritable-later", Scratch, NULL, scratch_setup,
               test_unwritable, scratch_teardown);
    return g_test_run();
}
