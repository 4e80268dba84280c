/* tick_bench: what one tick of each daemon costs on a libvirt URI.
 *
 * A tick here is what a daemon does before it acts: snapshot_collect()
 * with the daemon's collect flags, then its pure policy.  Both paths of
 * the snapshot are measured in the same run, interleaved tick by tick on
 * two connections: the bulk path (one virConnectGetAllDomainStats call,
 * per-domain calls only where it cannot help) and the per-domain path
 * (the fallback for drivers without bulk stats).
 *
 * Per tick and path it records wall time, CPU time of this process
 * (getrusage: all threads), CPU time of a server process (--server-pid,
 * e.g. libvirtd), the libvirt calls the snapshot made and the domains it
 * held; at the end, the process's RSS.  It prints JSON on stdout and a
 * short table on stderr.  It reports what it measured; it never fails a
 * run for being slow.
 *
 *   tick_bench --uri qemu:///system --server-pid $(pidof libvirtd)
 *   tick_bench --domains 1000 --xml-dir build/bench [--via-libvirtd]
 *
 * Exit status (aos-exit-status(7)): 0 measured, 1 a tick failed, 2 bad
 * command line, 4 libvirt unreachable. */
#include <errno.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "../memory_coordinator/ops.h"
#include "../vcpu_scheduler/ops.h"
#include "collect.h"
#include "exit_codes.h"
#include "json_out.h"

/* The daemons measured, each as it runs: its collect flags, its state
 * and its decide step. */
static const DaemonOps *const daemons[] = {
    &vcpu_scheduler_ops,
    &memory_coordinator_ops,
};
#define N_DAEMONS G_N_ELEMENTS(daemons)

/* One daemon on one snapshot path. */
typedef struct {
    const DaemonOps *ops;
    gconstpointer cfg; /* the daemon's config, not owned */
    Conn *conn;        /* not owned */
    gboolean per_domain;
    gpointer state;
    GArray *wall_us;   /* gint64 per measured tick */
    gint64 collect_us; /* sums over measured ticks */
    gint64 decide_us;
    gint64 cpu_us;
    gint64 server_ns; /* CPU time of --server-pid */
    guint64 rpc_calls;
    guint rpc_min;
    guint rpc_max;
    guint domains;
    gboolean bulk_used;
    guint actions;       /* in the last plan */
    gint64 load_base_us; /* first snapshot's time, with --load */
} Run;

typedef struct {
    gint64 vm_rss_kib;
    gint64 vm_hwm_kib;
    gint64 rss_anon_kib;
    gint64 rss_file_kib;
    gint64 pss_kib; /* shared library pages counted by their share */
} MemUse;

static gint64 status_field(const char *text, const char *key)
{
    const char *p = strstr(text, key);

    if (!p)
        return -1;
    return g_ascii_strtoll(p + strlen(key), NULL, 10);
}

static MemUse read_mem_use(void)
{
    g_autofree char *text = NULL;
    g_autofree char *rollup = NULL;
    MemUse m = {-1, -1, -1, -1, -1};

    if (g_file_get_contents("/proc/self/smaps_rollup", &rollup, NULL, NULL))
        m.pss_kib = status_field(rollup, "\nPss:");
    if (!g_file_get_contents("/proc/self/status", &text, NULL, NULL))
        return m;
    m.vm_rss_kib = status_field(text, "\nVmRSS:");
    m.vm_hwm_kib = status_field(text, "\nVmHWM:");
    m.rss_anon_kib = status_field(text, "\nRssAnon:");
    m.rss_file_kib = status_field(text, "\nRssFile:");
    return m;
}

static gint64 cpu_now_us(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return 0;
    return (gint64)ru.ru_utime.tv_sec * G_USEC_PER_SEC + ru.ru_utime.tv_usec +
           (gint64)ru.ru_stime.tv_sec * G_USEC_PER_SEC + ru.ru_stime.tv_usec;
}

/* CPU time of a process in ns: the sum over its threads of the first
 * field of /proc/PID/task/TID/schedstat (ns on a CPU), which is finer
 * than the 10 ms clock ticks of /proc/PID/stat.  -1 when unreadable. */
static gint64 proc_cpu_ns(gint pid)
{
    g_autofree char *dir_path = NULL;
    g_autoptr(GDir) dir = NULL;
    const char *tid;
    gint64 sum = 0;

    if (pid <= 0)
        return -1;
    dir_path = g_strdup_printf("/proc/%d/task", pid);
    dir = g_dir_open(dir_path, 0, NULL);
    if (!dir)
        return -1;
    while ((tid = g_dir_read_name(dir))) {
        g_autofree char *path =
            g_build_filename(dir_path, tid, "schedstat", NULL);
        g_autofree char *text = NULL;
        if (g_file_get_contents(path, &text, NULL, NULL))
            sum += g_ascii_strtoll(text, NULL, 10);
    }
    return sum;
}

/* A stable weight in [1, 1000] for a guest's vCPU or memory pattern. */
static guint weight_of(const DomainSample *d, guint salt)
{
    return (g_str_hash(d->uuid) ^ (salt * 2654435761u)) % 1000 + 1;
}

/* --load: libvirt's test driver reports idle, identical guests, on which
 * both policies have nothing to do.  This rewrites the snapshot as a busy
 * host: vCPUs get uneven demand adding up to 80 % of the pCPUs (each at
 * most one pCPU), a quarter of the guests run short of unused memory and
 * another quarter sit on idle memory.  The policies then plan as they
 * would on a loaded host; nothing is applied, so every tick plans again. */
static void apply_load(Snapshot *snap, gint64 base_us)
{
    double elapsed_ns = (double)(snap->mono_us - base_us) * 1000.0;
    double total = 0;
    double demand = 0.8 * snapshot_online_count(snap);
    guint i;
    guint v;

    for (i = 0; i < snap->domains->len; i++) {
        const DomainSample *d = g_ptr_array_index(snap->domains, i);
        for (v = 0; v < d->nvcpus; v++)
            total += weight_of(d, v + 1);
    }
    for (i = 0; i < snap->domains->len; i++) {
        DomainSample *d = g_ptr_array_index(snap->domains, i);
        guint64 actual = d->balloon.actual_kib;
        for (v = 0; v < d->nvcpus; v++) {
            double share = MIN(1.0, weight_of(d, v + 1) / total * demand);
            d->vcpus[v].time_ns += (guint64)(elapsed_ns * share);
        }
        if (!d->has_balloon_stats)
            continue;
        d->balloon.last_update = snap->wall_us / G_USEC_PER_SEC;
        d->balloon.present |= BALLOON_HAS_LAST_UPDATE;
        switch (weight_of(d, 0) % 4) {
        case 0:
            d->balloon.unused_kib = 60 * 1024;
            break;
        case 1:
            if (actual > 160 * 1024)
                d->balloon.unused_kib = actual - 160 * 1024;
            break;
        default:
            break;
        }
    }
}

static gboolean run_tick(Run *r, gboolean measured, gboolean load,
                         gint server_pid, GError **error)
{
    g_autoptr(Snapshot) snap = NULL;
    g_autoptr(Plan) plan = NULL;
    gint64 cpu0 = cpu_now_us();
    gint64 srv0 = proc_cpu_ns(server_pid);
    gint64 t0 = g_get_monotonic_time();
    gint64 t1;
    gint64 t2;
    gint64 wall;

    snap = snapshot_collect(r->conn, r->ops->collect_what, error);
    if (!snap)
        return FALSE;
    if (load) {
        if (r->load_base_us == 0)
            r->load_base_us = snap->mono_us;
        apply_load(snap, r->load_base_us);
    }
    t1 = g_get_monotonic_time();
    plan = r->ops->decide(snap, r->cfg, r->state);
    t2 = g_get_monotonic_time();
    if (!measured)
        return TRUE;
    wall = t2 - t0;
    g_array_append_val(r->wall_us, wall);
    r->collect_us += t1 - t0;
    r->decide_us += t2 - t1;
    r->cpu_us += cpu_now_us() - cpu0;
    if (srv0 >= 0)
        r->server_ns += proc_cpu_ns(server_pid) - srv0;
    r->rpc_calls += snap->rpc_calls;
    r->rpc_min = r->wall_us->len == 1 ? snap->rpc_calls
                                      : MIN(r->rpc_min, snap->rpc_calls);
    r->rpc_max = MAX(r->rpc_max, snap->rpc_calls);
    r->domains = snap->domains->len;
    r->bulk_used = snap->bulk;
    r->actions = plan_len(plan);
    return TRUE;
}

static int cmp_gint64(gconstpointer a, gconstpointer b)
{
    gint64 x = *(const gint64 *)a;
    gint64 y = *(const gint64 *)b;

    return (x > y) - (x < y);
}

typedef struct {
    double wall_ms; /* mean */
    double wall_ms_median;
    double wall_ms_max;
    double collect_ms;
    double decide_ms;
    double cpu_ms;
    double server_cpu_ms; /* < 0 when not measured */
    double rpc;           /* mean calls per tick */
} RunStats;

static RunStats run_stats(const Run *r, gint server_pid)
{
    RunStats s = {0};
    g_autoptr(GArray) sorted = NULL;
    guint n = r->wall_us->len;
    gint64 sum = 0;
    guint i;

    s.server_cpu_ms = -1;
    if (n == 0)
        return s;
    sorted = g_array_copy(r->wall_us);
    g_array_sort(sorted, cmp_gint64);
    for (i = 0; i < n; i++)
        sum += g_array_index(sorted, gint64, i);
    s.wall_ms = sum / 1000.0 / n;
    s.wall_ms_median = (n % 2 ? g_array_index(sorted, gint64, n / 2)
                              : (g_array_index(sorted, gint64, n / 2 - 1) +
                                 g_array_index(sorted, gint64, n / 2)) /
                                    2.0) /
                       1000.0;
    s.wall_ms_max = g_array_index(sorted, gint64, n - 1) / 1000.0;
    s.collect_ms = r->collect_us / 1000.0 / n;
    s.decide_ms = r->decide_us / 1000.0 / n;
    s.cpu_ms = r->cpu_us / 1000.0 / n;
    if (server_pid > 0)
        s.server_cpu_ms = r->server_ns / 1e6 / n;
    s.rpc = (double)r->rpc_calls / n;
    return s;
}

static void add_mem(JsonBuilder *b, const char *name, const MemUse *m)
{
    json_builder_set_member_name(b, name);
    json_builder_begin_object(b);
    json_add_int(b, "vm_rss_kib", m->vm_rss_kib);
    json_add_int(b, "vm_hwm_kib", m->vm_hwm_kib);
    json_add_int(b, "rss_anon_kib", m->rss_anon_kib);
    json_add_int(b, "rss_file_kib", m->rss_file_kib);
    json_add_int(b, "pss_kib", m->pss_kib);
    json_builder_end_object(b);
}

static void add_run(JsonBuilder *b, const Run *r, const RunStats *s)
{
    json_builder_begin_object(b);
    json_add_bool(b, "bulk_used", r->bulk_used);
    json_add_int(b, "domains", r->domains);
    json_add_int(b, "ticks", r->wall_us->len);
    json_add_double(b, "wall_ms", s->wall_ms);
    json_add_double(b, "wall_ms_median", s->wall_ms_median);
    json_add_double(b, "wall_ms_max", s->wall_ms_max);
    json_add_double(b, "collect_ms", s->collect_ms);
    json_add_double(b, "decide_ms", s->decide_ms);
    json_add_double(b, "cpu_ms", s->cpu_ms);
    if (s->server_cpu_ms >= 0)
        json_add_double(b, "server_cpu_ms", s->server_cpu_ms);
    else
        json_add_null(b, "server_cpu_ms");
    json_add_double(b, "rpc_calls", s->rpc);
    json_add_int(b, "rpc_calls_min", r->rpc_min);
    json_add_int(b, "rpc_calls_max", r->rpc_max);
    json_add_int(b, "plan_actions", r->actions);
    json_builder_end_object(b);
}

static double ratio(double per_domain, double bulk)
{
    return bulk > 0 ? per_domain / bulk : 0;
}

/* A libvirt test-driver node of n running domains shaped like the real
 * guests: 1 vCPU, 512 MiB of 2048 MiB. */
static gboolean write_node_xml(const char *path, guint n, GError **error)
{
    g_autoptr(GString) xml = g_string_new("<node>\n");
    guint i;

    for (i = 0; i < n; i++)
        g_string_append_printf(
            xml,
            "<domain type='test'><name>bench%u</name>"
            "<memory unit='MiB'>2048</memory>"
            "<currentMemory unit='MiB'>512</currentMemory>"
            "<vcpu>1</vcpu><os><type>hvm</type></os>"
            "<devices><memballoon model='virtio'/></devices></domain>\n",
            i);
    g_string_append(xml, "</node>\n");
    return g_file_set_contents(path, xml->str, (gssize)xml->len, error);
}

typedef struct {
    char *uri;
    gint ticks;
    gint pause_ms;
    gint server_pid;
    gint domains;
    char *xml_dir;
    gboolean via_libvirtd;
    gboolean load;
    char *policy;
    char *label;
} Options;

static void options_clear(Options *o)
{
    g_free(o->uri);
    g_free(o->xml_dir);
    g_free(o->policy);
    g_free(o->label);
}

static gboolean parse_options(Options *o, int argc, char **argv, GError **error)
{
    GOptionEntry entries[] = {
        {"uri", 'c', 0, G_OPTION_ARG_STRING, &o->uri,
         "libvirt URI (default qemu:///system)", "URI"},
        {"ticks", 'n', 0, G_OPTION_ARG_INT, &o->ticks,
         "measured ticks per daemon and path (default 10)", "N"},
        {"pause-ms", 0, 0, G_OPTION_ARG_INT, &o->pause_ms,
         "pause between ticks, so counters move (default 200)", "MS"},
        {"server-pid", 0, 0, G_OPTION_ARG_INT, &o->server_pid,
         "also measure this process's CPU time (e.g. libvirtd)", "PID"},
        {"domains", 0, 0, G_OPTION_ARG_INT, &o->domains,
         "generate a test:/// node of N domains and measure it", "N"},
        {"xml-dir", 0, 0, G_OPTION_ARG_FILENAME, &o->xml_dir,
         "where --domains writes node-N.xml (default build/bench)", "DIR"},
        {"via-libvirtd", 0, 0, G_OPTION_ARG_NONE, &o->via_libvirtd,
         "with --domains: open it through libvirtd (test+unix://)", NULL},
        {"load", 0, 0, G_OPTION_ARG_NONE, &o->load,
         "rewrite each snapshot as a busy host (for libvirt's test driver, "
         "whose guests are idle and identical)",
         NULL},
        {"policy", 0, 0, G_OPTION_ARG_STRING, &o->policy,
         "memory policy: course (default) or idle-tax", "NAME"},
        {"label", 0, 0, G_OPTION_ARG_STRING, &o->label,
         "a name for this measurement in the JSON", "TEXT"},
        {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
    g_autofree char *exits = exit_codes_help();

    o->ticks = 10;
    o->pause_ms = 200;
    g_option_context_set_summary(ctx, "Measures one tick (snapshot and "
                                      "policy) of each daemon, bulk and "
                                      "per-domain paths, and prints JSON.");
    g_option_context_set_description(ctx, exits);
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, error))
        return FALSE;
    if (argc > 1) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    "unexpected argument '%s'", argv[1]);
        return FALSE;
    }
    if (o->ticks < 1 || o->pause_ms < 0 || o->domains < 0) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--ticks must be >= 1, --pause-ms and --domains >= 0");
        return FALSE;
    }
    if (o->domains > 0 && o->uri) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    "--domains and --uri exclude each other");
        return FALSE;
    }
    return TRUE;
}

/* With --domains: writes the node file and points o->uri at it. */
static gboolean prepare_uri(Options *o, GError **error)
{
    g_autofree char *dir = NULL;
    g_autofree char *name = NULL;
    g_autofree char *path = NULL;

    if (o->domains == 0) {
        if (!o->uri)
            o->uri = g_strdup("qemu:///system");
        return TRUE;
    }
    dir =
        g_canonicalize_filename(o->xml_dir ? o->xml_dir : "build/bench", NULL);
    if (g_mkdir_with_parents(dir, 0755) < 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                    "cannot create %s: %s", dir, g_strerror(errno));
        return FALSE;
    }
    name = g_strdup_printf("node-%d.xml", o->domains);
    path = g_build_filename(dir, name, NULL);
    if (!write_node_xml(path, (guint)o->domains, error))
        return FALSE;
    o->uri = g_strdup_printf("%s://%s", o->via_libvirtd ? "test+unix" : "test",
                             path);
    return TRUE;
}

static void print_row(const Run *r, const RunStats *s)
{
    g_printerr("  %-18s %-10s %5u dom  %8.2f ms wall (median %.2f)  "
               "%8.2f ms cpu  %6.0f calls\n",
               r->ops->cli.prog, r->per_domain ? "per-domain" : "bulk",
               r->domains, s->wall_ms, s->wall_ms_median, s->cpu_ms, s->rpc);
}

typedef struct {
    Options opt;
    gpointer cfg[N_DAEMONS]; /* each daemon's config */
    Conn *conn_bulk;
    Conn *conn_per;
    Run runs[2 * N_DAEMONS];
    MemUse at_start;
    MemUse at_connect;
    MemUse at_end;
    gint64 started;
    double elapsed_s;
} Bench;

static void bench_clear(Bench *bench)
{
    guint i;

    for (i = 0; i < G_N_ELEMENTS(bench->runs); i++) {
        Run *r = &bench->runs[i];
        if (r->state)
            r->ops->state_free(r->state);
        if (r->wall_us)
            g_array_unref(r->wall_us);
    }
    g_clear_pointer(&bench->conn_bulk, conn_free);
    g_clear_pointer(&bench->conn_per, conn_free);
    for (i = 0; i < N_DAEMONS; i++) {
        if (bench->cfg[i])
            config_clear(daemons[i]->cli.config, bench->cfg[i]);
        g_free(bench->cfg[i]);
    }
    options_clear(&bench->opt);
}

/* Two connections, so that the bulk path keeps its own view of what the
 * driver supports; one run per daemon and path. */
static gboolean bench_open(Bench *bench, GError **error)
{
    guint d;
    guint i;

    bench->conn_bulk = conn_new(bench->opt.uri, TRUE);
    bench->conn_per = conn_new(bench->opt.uri, TRUE);
    if (!conn_open_now(bench->conn_bulk, error) ||
        !conn_open_now(bench->conn_per, error))
        return FALSE;
    bench->conn_per->bulk_unsupported = TRUE;
    bench->at_connect = read_mem_use();
    for (d = 0; d < N_DAEMONS; d++) {
        for (i = 0; i < 2; i++) {
            Run *r = &bench->runs[2 * d + i];
            r->ops = daemons[d];
            r->cfg = bench->cfg[d];
            r->per_domain = i == 1;
            r->conn = r->per_domain ? bench->conn_per : bench->conn_bulk;
            r->state = r->ops->state_new();
            r->wall_us = g_array_new(FALSE, FALSE, sizeof(gint64));
        }
    }
    return TRUE;
}

/* Interleaves the runs tick by tick, so that both paths see the same
 * host.  Tick 0 warms up: the policies only record their first sample. */
static gboolean bench_measure(Bench *bench, GError **error)
{
    const Options *o = &bench->opt;
    gint t;
    guint i;

    g_printerr("tick_bench: %s: 1 warm-up + %d measured ticks per daemon "
               "and path\n",
               o->uri, o->ticks);
    bench->started = g_get_monotonic_time();
    for (t = 0; t <= o->ticks; t++) {
        for (i = 0; i < G_N_ELEMENTS(bench->runs); i++) {
            Run *r = &bench->runs[i];
            if (!run_tick(r, t > 0, o->load, o->server_pid, error)) {
                g_prefix_error(error, "%s (%s path): ", r->ops->cli.prog,
                               r->per_domain ? "per-domain" : "bulk");
                return FALSE;
            }
        }
        bench->elapsed_s =
            (g_get_monotonic_time() - bench->started) / (double)G_USEC_PER_SEC;
        /* Slow runs (thousands of domains through libvirtd) show they
         * are alive. */
        if (bench->elapsed_s > 2)
            g_printerr("tick_bench: tick %d of %d done after %.1f s\n", t,
                       o->ticks, bench->elapsed_s);
        if (o->pause_ms > 0 && t < o->ticks)
            g_usleep((gulong)o->pause_ms * 1000);
    }
    bench->at_end = read_mem_use();
    return TRUE;
}

static void add_daemon(JsonBuilder *b, const Bench *bench, guint d)
{
    const Run *bulk = &bench->runs[2 * d];
    const Run *per = &bench->runs[2 * d + 1];
    gint pid = bench->opt.server_pid;
    RunStats sb = run_stats(bulk, pid);
    RunStats sp = run_stats(per, pid);

    print_row(bulk, &sb);
    print_row(per, &sp);
    json_builder_set_member_name(b, daemons[d]->cli.prog);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "bulk");
    add_run(b, bulk, &sb);
    json_builder_set_member_name(b, "per_domain");
    add_run(b, per, &sp);
    json_builder_set_member_name(b, "per_domain_over_bulk");
    json_builder_begin_object(b);
    json_add_double(b, "wall", ratio(sp.wall_ms, sb.wall_ms));
    json_add_double(b, "cpu", ratio(sp.cpu_ms, sb.cpu_ms));
    json_add_double(b, "rpc_calls", ratio(sp.rpc, sb.rpc));
    if (pid > 0)
        json_add_double(b, "server_cpu",
                        ratio(sp.server_cpu_ms, sb.server_cpu_ms));
    json_builder_end_object(b);
    json_builder_end_object(b);
}

/* The JSON on stdout; the same numbers in short on stderr. */
static JsonBuilder *bench_report(const Bench *bench)
{
    JsonBuilder *b = json_builder_new();
    const Options *o = &bench->opt;
    const MemUse *end = &bench->at_end;
    guint d;

    json_builder_begin_object(b);
    json_add_str(b, "label", o->label ? o->label : o->uri);
    json_add_str(b, "uri", o->uri);
    json_add_int(b, "ticks", o->ticks);
    json_add_int(b, "pause_ms", o->pause_ms);
    json_add_bool(b, "synthetic_load", o->load);
    /* As given; null for the daemon's default. */
    json_add_str(b, "mem_policy", o->policy);
    json_add_double(b, "elapsed_s", bench->elapsed_s);
    add_mem(b, "mem_at_start", &bench->at_start);
    add_mem(b, "mem_after_connect", &bench->at_connect);
    add_mem(b, "mem_at_end", end);
    g_printerr("tick_bench: %s\n", o->uri);
    json_builder_set_member_name(b, "daemons");
    json_builder_begin_object(b);
    for (d = 0; d < N_DAEMONS; d++)
        add_daemon(b, bench, d);
    json_builder_end_object(b);
    json_builder_end_object(b);
    g_printerr("  RSS %" G_GINT64_FORMAT " KiB after connect, %" G_GINT64_FORMAT
               " KiB at end (peak %" G_GINT64_FORMAT
               ", anonymous %" G_GINT64_FORMAT ", PSS %" G_GINT64_FORMAT
               " KiB)\n",
               bench->at_connect.vm_rss_kib, end->vm_rss_kib, end->vm_hwm_kib,
               end->rss_anon_kib, end->pss_kib);
    return b;
}

/* Each daemon's config: its defaults, and --policy for the daemon that
 * has a [memory] policy. */
static gboolean bench_configure(Bench *bench, GError **error)
{
    g_autofree char *overlay = NULL;
    guint d;

    if (bench->opt.policy)
        overlay = g_strdup_printf("[memory]\npolicy=%s\n", bench->opt.policy);
    for (d = 0; d < N_DAEMONS; d++) {
        const ConfigSchema *s = daemons[d]->cli.config;

        bench->cfg[d] = g_malloc0(s->size);
        config_init(s, bench->cfg[d]);
        if (overlay && config_has_key(s, "memory", "policy") &&
            !config_load_data(s, bench->cfg[d], overlay, strlen(overlay),
                              "--policy", error))
            return FALSE;
    }
    return TRUE;
}

int main(int argc, char **argv)
{
    Bench bench = {0};
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonBuilder) report = NULL;
    g_autofree char *text = NULL;
    int rc = EXIT_OK;

    bench.at_start = read_mem_use();
    if (!parse_options(&bench.opt, argc, argv, &err) ||
        !prepare_uri(&bench.opt, &err) || !bench_configure(&bench, &err)) {
        g_printerr("tick_bench: %s\n", err->message);
        rc = EXIT_USAGE;
        goto cleanup;
    }
    if (!bench_open(&bench, &err)) {
        g_printerr("tick_bench: %s\n", err->message);
        rc = EXIT_LIBVIRT;
        goto cleanup;
    }
    if (!bench_measure(&bench, &err)) {
        g_printerr("tick_bench: %s\n", err->message);
        rc = EXIT_RUNTIME;
        goto cleanup;
    }
    report = bench_report(&bench);
    text = json_builder_text(report, TRUE);
    printf("%s\n", text);

cleanup:
    bench_clear(&bench);
    return rc;
}
