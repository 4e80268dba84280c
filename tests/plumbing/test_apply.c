/* The daemons' apply steps and their tick driver against libvirt's
 * in-process test driver: pins and balloon targets are really set (read
 * back on a connection of the test's own; test:///default connections of
 * one process share one host), failures are counted and logged, and
 * SIGHUP's reload takes new settings or keeps the old ones. */
#include <glib/gstdio.h>
#include <string.h>

#include "../../memory_coordinator/apply.h"
#include "../../memory_coordinator/ops.h"
#include "../../vcpu_scheduler/apply.h"
#include "../../vcpu_scheduler/ops.h"
#include "collect.h"
#include "daemon.h"

#define URI "test:///default"

/* A scratch directory for config files and decision logs. */
typedef struct {
    char *dir;
} Scratch;

static void scratch_setup(Scratch *s, gconstpointer data)
{
    s->dir = g_dir_make_tmp("aos-apply-XXXXXX", NULL);
    g_assert_nonnull(s->dir);
}

static void scratch_teardown(Scratch *s, gconstpointer data)
{
    g_autoptr(GDir) d = g_dir_open(s->dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(s->dir, name, NULL);
        g_remove(path);
    }
    g_rmdir(s->dir);
    g_free(s->dir);
}

static char *scratch_path(const Scratch *s, const char *name)
{
    return g_build_filename(s->dir, name, NULL);
}

/* A context as the daemon builds it from its command line. */
static DaemonCtx *ctx_new(const DaemonOps *ops, const char *const *args)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GError) err = NULL;
    DaemonCtx *ctx;
    int rc = -1;

    g_ptr_array_add(argv, (gpointer)ops->cli.prog);
    for (; *args; args++)
        g_ptr_array_add(argv, (gpointer)*args);
    g_ptr_array_add(argv, NULL);
    ctx = daemon_ctx_new(ops, (int)argv->len - 1, (char **)argv->pdata, &rc,
                         &err);
    g_assert_no_error(err);
    g_assert_cmpint(rc, ==, EXIT_OK);
    g_assert_nonnull(ctx);
    return ctx;
}

/* A snapshot and a connection of the test's own, to build plans from and
 * to read results back with. */
static Snapshot *own_snapshot(Conn **conn_out, guint what)
{
    g_autoptr(Conn) conn = conn_new(URI, FALSE);
    g_autoptr(GError) err = NULL;
    Snapshot *snap;

    g_assert_true(conn_open_now(conn, &err));
    snap = snapshot_collect(conn, what, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(snap->domains->len, >=, 1);
    *conn_out = g_steal_pointer(&conn);
    return snap;
}

static virDomainPtr lookup(Conn *conn, const char *uuid)
{
    virDomainPtr dom = virDomainLookupByUUIDString(conn->conn, uuid);

    g_assert_nonnull(dom);
    return dom;
}

/* The decision log's lines, parsed. */
static GPtrArray *read_log(const char *path)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    GPtrArray *out = g_ptr_array_new_with_free_func(g_object_unref);
    guint i;

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return out;
    lines = g_strsplit(text, "\n", -1);
    for (i = 0; lines[i]; i++) {
        JsonParser *p;

        if (!*lines[i])
            continue;
        p = json_parser_new();
        g_assert_true(json_parser_load_from_data(p, lines[i], -1, NULL));
        g_ptr_array_add(out, p);
    }
    return out;
}

static JsonObject *log_line(GPtrArray *lines, guint i)
{
    return json_node_get_object(
        json_parser_get_root(g_ptr_array_index(lines, i)));
}

static guint pinned_to(Conn *conn, const char *uuid, guint vcpu, gsize maplen,
                       guint npcpus)
{
    g_autoptr(virDomain) dom = lookup(conn, uuid);
    g_autofree unsigned char *maps = g_malloc0(maplen * (vcpu + 8));
    int n = virDomainGetVcpuPinInfo(dom, (int)vcpu + 8, maps, (int)maplen,
                                    VIR_DOMAIN_AFFECT_LIVE);

    g_assert_cmpint(n, >, (int)vcpu);
    return cpumap_single(VIR_GET_CPUMAP(maps, maplen, vcpu), maplen, npcpus);
}

static void test_vcpu_pins(Scratch *s, gconstpointer data)
{
    g_autofree char *log = scratch_path(s, "decisions.jsonl");
    const char *args[] = {"1", "--uri", URI, "--decision-log", log, NULL};
    g_autoptr(DaemonCtx) ctx = ctx_new(&vcpu_scheduler_ops, args);
    g_autoptr(Conn) conn = NULL;
    g_autoptr(Snapshot) snap = own_snapshot(&conn, COLLECT_VCPU);
    g_autoptr(Plan) plan = plan_new();
    g_autoptr(GPtrArray) lines = NULL;
    g_autoptr(GError) err = NULL;
    const DomainSample *d = g_ptr_array_index(snap->domains, 0);
    gsize maplen = snapshot_maplen(snap);
    PinAction *good[2];
    PinAction *bad;
    PinAction *gone;
    guint failed;
    guint i;

    /* The tick driver connects on its first tick. */
    g_assert_true(daemon_tick(ctx, FALSE, &err));
    for (i = 0; i < 2; i++) {
        good[i] = pin_action_add(plan, d->uuid, d->name);
        good[i]->vcpu = i;
        good[i]->to_pcpu = i == 0 ? 4 : 2;
        action_set_reason(&good[i]->base, "test pin %u", i);
    }
    bad = pin_action_add(plan, d->uuid, d->name);
    bad->vcpu = 9;
    bad->to_pcpu = 2;
    action_set_reason(&bad->base, "no such vCPU");
    gone = pin_action_add(plan, "00000000-0000-4000-8000-0000000000aa", "gone");
    gone->to_pcpu = 2;
    action_set_reason(&gone->base, "a guest that went away");

    /* Every line it logs, in order. */
    g_test_expect_message("vcpu_scheduler", G_LOG_LEVEL_MESSAGE,
                          "rebalancing: *");
    g_test_expect_message("aos", G_LOG_LEVEL_MESSAGE,
                          "pin test vcpu 0: any -> 4: test pin 0");
    g_test_expect_message("aos", G_LOG_LEVEL_MESSAGE,
                          "pin test vcpu 1: any -> 2: test pin 1");
    g_test_expect_message("aos", G_LOG_LEVEL_WARNING,
                          "pin test vcpu 9: any -> 2 failed: *");
    failed = vcpu_scheduler_ops.apply(ctx, daemon_ctx_config(ctx), snap, plan,
                                      daemon_ctx_state(ctx));
    g_test_assert_expected_messages();
    /* The pin to a vCPU the guest lacks fails; the vanished guest is no
     * failure. */
    g_assert_cmpuint(failed, ==, 1);
    g_assert_cmpuint(daemon_ctx_actions_failed(ctx), ==, 1);
    g_assert_cmpint(pinned_to(conn, d->uuid, 0, maplen, snap->node.npcpus), ==,
                    4);
    g_assert_cmpint(pinned_to(conn, d->uuid, 1, maplen, snap->node.npcpus), ==,
                    2);

    lines = read_log(log);
    g_assert_cmpuint(lines->len, ==, 3);
    for (i = 0; i < 3; i++) {
        JsonObject *o = log_line(lines, i);

        g_assert_cmpstr(json_object_get_string_member(o, "daemon"), ==,
                        "vcpu_scheduler");
        g_assert_cmpstr(json_object_get_string_member(o, "action"), ==, "pin");
        g_assert_cmpstr(json_object_get_string_member(o, "uuid"), ==, d->uuid);
        g_assert_cmpint(json_object_get_boolean_member(o, "ok"), ==, i < 2);
        g_assert_cmpint(json_object_get_int_member(o, "to"), ==,
                        i == 0 ? 4 : 2);
        g_assert_true(json_object_has_member(o, "reason"));
    }
    g_assert_true(json_object_has_member(log_line(lines, 2), "error"));
}

/* A pin to a group of CPUs (granularity core, cache or node) sets every
 * CPU of the group, and the decision log names them. */
static void test_vcpu_group_pin(Scratch *s, gconstpointer data)
{
    g_autofree char *log = scratch_path(s, "decisions.jsonl");
    const char *args[] = {"1", "--uri", URI, "--decision-log", log, NULL};
    g_autoptr(DaemonCtx) ctx = ctx_new(&vcpu_scheduler_ops, args);
    g_autoptr(Conn) conn = NULL;
    g_autoptr(Snapshot) snap = own_snapshot(&conn, COLLECT_VCPU);
    g_autoptr(Plan) plan = plan_new();
    g_autoptr(GPtrArray) lines = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) group = g_array_new(FALSE, FALSE, sizeof(guint));
    const DomainSample *d = g_ptr_array_index(snap->domains, 0);
    gsize maplen = snapshot_maplen(snap);
    g_autoptr(virDomain) dom = NULL;
    g_autofree unsigned char *maps = NULL;
    const guint cpus[] = {2, 4};
    PinAction *a;
    guint c;

    g_assert_true(daemon_tick(ctx, FALSE, &err));
    g_array_append_vals(group, cpus, 2);
    a = pin_action_add(plan, d->uuid, d->name);
    a->vcpu = 1;
    pin_action_set_group(a, group, "2,4");
    action_set_reason(&a->base, "test group pin");
    g_test_expect_message("vcpu_scheduler", G_LOG_LEVEL_MESSAGE,
                          "rebalancing: *");
    g_test_expect_message("aos", G_LOG_LEVEL_MESSAGE,
                          "pin test vcpu 1: any -> cpus 2,4: test group pin");
    g_assert_cmpuint(vcpu_scheduler_ops.apply(ctx, daemon_ctx_config(ctx), snap,
                                              plan, daemon_ctx_state(ctx)),
                     ==, 0);
    g_test_assert_expected_messages();

    dom = lookup(conn, d->uuid);
    maps = g_malloc0(maplen * 8);
    g_assert_cmpint(virDomainGetVcpuPinInfo(dom, 8, maps, (int)maplen,
                                            VIR_DOMAIN_AFFECT_LIVE),
                    >, 1);
    for (c = 0; c < snap->node.npcpus; c++)
        g_assert_cmpint(cpumap_has(VIR_GET_CPUMAP(maps, maplen, 1), maplen, c),
                        ==, c == 2 || c == 4);
    lines = read_log(log);
    g_assert_cmpuint(lines->len, ==, 1);
    g_assert_cmpstr(
        json_object_get_string_member(log_line(lines, 0), "to_cpus"), ==,
        "2,4");
    g_assert_cmpint(json_object_get_int_member(log_line(lines, 0), "to"), ==,
                    2);
}

static guint64 current_kib(Conn *conn, const char *uuid)
{
    g_autoptr(virDomain) dom = lookup(conn, uuid);
    virDomainInfo info;

    g_assert_cmpint(virDomainGetInfo(dom, &info), ==, 0);
    return info.memory;
}

static void test_memory_targets(Scratch *s, gconstpointer data)
{
    g_autofree char *log = scratch_path(s, "decisions.jsonl");
    const char *args[] = {"1", "--uri", URI, "--decision-log", log, NULL};
    g_autoptr(DaemonCtx) ctx = ctx_new(&memory_coordinator_ops, args);
    g_autoptr(Conn) conn = NULL;
    g_autoptr(Snapshot) snap = own_snapshot(&conn, COLLECT_BALLOON);
    g_autoptr(Plan) plan = plan_new();
    g_autoptr(Plan) again = NULL;
    g_autoptr(GPtrArray) lines = NULL;
    g_autoptr(GError) err = NULL;
    const DomainSample *d = g_ptr_array_index(snap->domains, 0);
    guint64 before = current_kib(conn, d->uuid);
    guint64 grown = before + 64 * 1024;
    BalloonAction *grow;
    BalloonAction *shrink;
    guint failed;
    guint i;

    g_assert_true(daemon_tick(ctx, FALSE, &err));
    g_assert_cmpuint(grown, <=, d->max_kib);
    stats_period_action_add(plan, d->uuid, d->name, 3);
    grow = balloon_action_add(plan, d->uuid, d->name);
    grow->old_kib = before;
    grow->new_kib = grown;
    grow->rule = "test-grow";
    action_set_reason(&grow->base, "test growth");
    /* The test driver stamps its stats in 1989: stale, so apply's
     * re-check must refuse the shrink. */
    shrink = balloon_action_add(plan, d->uuid, d->name);
    shrink->old_kib = grown;
    shrink->new_kib = grown - 32 * 1024;
    shrink->rule = "test-shrink";
    action_set_reason(&shrink->base, "test shrink");

    g_test_expect_message("aos", G_LOG_LEVEL_MESSAGE,
                          "stats period of test set to 3 s: *");
    g_test_expect_message("aos", G_LOG_LEVEL_MESSAGE,
                          "balloon test: * MiB [test-grow]: test growth");
    g_test_expect_message("memory_coordinator", G_LOG_LEVEL_MESSAGE,
                          "skipped shrinking test: stats are * s old");
    failed = memory_coordinator_ops.apply(ctx, daemon_ctx_config(ctx), snap,
                                          plan, daemon_ctx_state(ctx));
    g_test_assert_expected_messages();
    g_assert_cmpuint(failed, ==, 0);
    g_assert_cmpuint(current_kib(conn, d->uuid), ==, grown);

    /* The period and the growth were done, the shrink not, and the
     * decision log says so. */
    lines = read_log(log);
    g_assert_cmpuint(lines->len, ==, 2);
    g_assert_cmpstr(json_object_get_string_member(log_line(lines, 0), "action"),
                    ==, "stats-period");
    g_assert_cmpint(json_object_get_int_member(log_line(lines, 0), "period_s"),
                    ==, 3);
    g_assert_cmpstr(json_object_get_string_member(log_line(lines, 1), "action"),
                    ==, "balloon");
    g_assert_cmpint(json_object_get_int_member(log_line(lines, 1), "new_kib"),
                    ==, (gint64)grown);
    g_assert_cmpstr(json_object_get_string_member(log_line(lines, 1), "rule"),
                    ==, "test-grow");

    /* The period was set: the next plan does not ask for it again. */
    again = memory_coordinator_ops.decide(snap, daemon_ctx_config(ctx),
                                          daemon_ctx_state(ctx));
    for (i = 0; i < plan_len(again); i++)
        g_assert_null(stats_period_action_of(plan_get(again, i)));

    /* Back to where it was, for the other tests: the host is shared. */
    g_assert_cmpint(virDomainSetMemoryFlags(lookup(conn, d->uuid), before,
                                            VIR_DOMAIN_AFFECT_LIVE),
                    ==, 0);
}

/* A node file of the test driver whose one guest has the given UUID. */
static char *write_node(const Scratch *s, const char *name, const char *uuid)
{
    g_autofree char *path = scratch_path(s, name);
    g_autofree char *xml = g_strdup_printf(
        "<node><domain type='test'><name>test</name><uuid>%s</uuid>"
        "<memory unit='MiB'>2048</memory>"
        "<currentMemory unit='MiB'>512</currentMemory>"
        "<vcpu>2</vcpu><os><type>hvm</type></os></domain></node>\n",
        uuid);

    g_assert_true(g_file_set_contents(path, xml, -1, NULL));
    return g_strdup_printf("test://%s", path);
}

static void write_config(const char *path, const char *uri, double interval,
                         const char *extra)
{
    g_autofree char *text = g_strdup_printf("[daemon]\nuri=%s\ninterval=%g\n%s",
                                            uri, interval, extra ? extra : "");

    g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

/* SIGHUP with a new URI: what was learnt on the old connection describes
 * another host, even where the guests' UUIDs are the same, and must not
 * be carried over. */
static void test_reload(Scratch *s, gconstpointer data)
{
    g_autofree char *conf = scratch_path(s, "vcpu.conf");
    const char *args[] = {"--config", conf, NULL};
    g_autoptr(DaemonCtx) ctx = NULL;
    g_autoptr(Conn) conn = NULL;
    g_autoptr(Snapshot) snap = own_snapshot(&conn, COLLECT_VCPU);
    g_autoptr(GError) err = NULL;
    const DomainSample *d = g_ptr_array_index(snap->domains, 0);
    g_autofree char *uri_a = write_node(s, "a.xml", d->uuid);
    g_autofree char *uri_b = write_node(s, "b.xml", d->uuid);
    const double *util = NULL;
    guint n = 0;

    write_config(conf, uri_a, 1, NULL);
    ctx = ctx_new(&vcpu_scheduler_ops, args);
    g_assert_true(daemon_tick(ctx, FALSE, &err));
    g_assert_false(vcpu_policy_last_util(daemon_ctx_state(ctx), &util, &n));
    g_assert_true(daemon_tick(ctx, FALSE, &err));
    g_assert_true(vcpu_policy_last_util(daemon_ctx_state(ctx), &util, &n));

    /* A broken file keeps the old settings. */
    write_config(conf, uri_b, 0.5, "[vcpu]\nsd_threshold=lots\n");
    g_test_expect_message("aos", G_LOG_LEVEL_WARNING,
                          "reload: keeping the previous settings: *");
    g_assert_false(daemon_reload(ctx));
    g_test_assert_expected_messages();
    g_assert_cmpstr(((const DaemonConfig *)daemon_ctx_config(ctx))->uri, ==,
                    uri_a);

    write_config(conf, uri_b, 0.5, "[vcpu]\nsd_threshold=3\n");
    g_assert_true(daemon_reload(ctx));
    g_assert_cmpstr(((const DaemonConfig *)daemon_ctx_config(ctx))->uri, ==,
                    uri_b);
    g_assert_cmpfloat(
        ((const VcpuConfig *)daemon_ctx_config(ctx))->daemon.interval_s, ==,
        0.5);
    g_assert_cmpfloat(
        ((const VcpuConfig *)daemon_ctx_config(ctx))->sd_threshold, ==, 3);
    /* The first tick on the new host has nothing earlier to compare. */
    g_assert_true(daemon_tick(ctx, FALSE, &err));
    g_assert_no_error(err);
    g_assert_false(vcpu_policy_last_util(daemon_ctx_state(ctx), &util, &n));
    g_assert_true(daemon_tick(ctx, FALSE, &err));
    g_assert_true(vcpu_policy_last_util(daemon_ctx_state(ctx), &util, &n));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/apply/vcpu/pins", Scratch, NULL, scratch_setup, test_vcpu_pins,
               scratch_teardown);
    g_test_add("/apply/vcpu/group-pin", Scratch, NULL, scratch_setup,
               test_vcpu_group_pin, scratch_teardown);
    g_test_add("/apply/memory/targets", Scratch, NULL, scratch_setup,
               test_memory_targets, scratch_teardown);
    g_test_add("/daemon/reload", Scratch, NULL, scratch_setup, test_reload,
               scratch_teardown);
    return g_test_run();
}
