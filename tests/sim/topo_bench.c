/* topo_bench: the vCPU policy at each granularity on simulated hosts
 * (topo_sim.h) built from the topology fixtures, against the host kernel
 * alone (nothing pinned), and its decide time at 256 CPUs and 2,000
 * vCPUs.  Prints markdown tables; it reports what it measured and never
 * fails for a figure.
 *
 *   topo_bench [--seeds N] [--ticks N] [--fixtures DIR]
 *
 * Workload: guests of 1-8 vCPUs, each vCPU idle (1 %), light (15 %),
 * medium (40 %, 70 %) or busy (100 %), +-5 points of noise every tick,
 * filled to half or to 85 % of the host's CPUs; every 60 ticks a fifth
 * of the guests change what they run.  Each row is the mean over seeds
 * of the mean over ticks after the first 10; "settled" moves are those
 * made more than 15 ticks after a change, per hour. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../vcpu_scheduler/policy.h"
#include "../../vcpu_scheduler/slots.h"
#include "cpuset.h"
#include "topo_sim.h"

#define WALL_US 1000000
#define WARMUP 10
#define CHANGE_EVERY 60
/* Moves this many ticks after a change of load are not reactions to it. */
#define SETTLE 15

static const double kinds[] = {1, 15, 40, 70, 100};

typedef struct {
    const char *name;
    const char *file;
    const char *offline;
} BenchHost;

static const BenchHost hosts[] = {
    {"2 sockets x 16 cores x 2 threads (topo-2s64t-smt)", "topo-2s64t-smt.xml",
     NULL},
    {"4 nodes x 8 cores (topo-4node)", "topo-4node.xml", NULL},
    {"4 cores x 2 threads, 2 offline (topo-offline)", "topo-offline.xml",
     "3,5"},
};

typedef struct {
    double sd;
    double busy_pairs;
    double split;
    double moves_per_hour;
    double settled_moves; /* more than SETTLE ticks after a change */
    double work_pct;      /* work done, percent of demand */
    guint samples;
} Row;

static void fill_guests(SimHost *h, GRand *r, double fill)
{
    guint usable = 0;
    double total = 0;
    guint c;

    for (c = 0; c < h->npcpus; c++)
        usable += !h->online || cpumap_has(h->online, h->maplen, c);
    while (total < fill * 100.0 * usable) {
        guint nv = (guint)g_rand_int_range(r, 1, 9);
        double d[8];
        guint k;

        for (k = 0; k < nv; k++) {
            d[k] = kinds[g_rand_int_range(r, 0, G_N_ELEMENTS(kinds))];
            total += d[k];
        }
        sim_add_guest(h, nv, d, NULL);
    }
}

static void change_some(SimHost *h, GRand *r)
{
    guint g;
    guint k;

    for (g = 0; g < h->guests->len; g++) {
        const SimGuest *sg = &g_array_index(h->guests, SimGuest, g);

        if (g_rand_int_range(r, 0, 5) != 0)
            continue;
        for (k = 0; k < sg->n; k++)
            g_array_index(h->vcpus, SimVcpu, sg->first + k).demand =
                kinds[g_rand_int_range(r, 0, G_N_ELEMENTS(kinds))];
    }
}

static GArray *parse_ids(const char *text)
{
    return text ? cpuset_parse(text, NULL) : NULL;
}

/* One run: grain < 0 is the kernel alone. */
static void run(const char *caps, const char *offline_text, gint grain,
                double fill, guint32 seed, guint ticks, Row *row)
{
    g_autoptr(GArray) offline = parse_ids(offline_text);
    g_autoptr(SimHost) h = sim_host_new(caps, offline, seed);
    g_autoptr(VcpuPolicyState) st = vcpu_policy_state_new();
    g_autoptr(GRand) r = g_rand_new_with_seed(seed);
    VcpuConfig cfg;
    guint moves = 0;
    guint t;

    config_init(&vcpu_config_schema, &cfg);
    if (grain >= 0)
        cfg.granularity = (Granularity)grain;
    h->noise = 5;
    fill_guests(h, r, fill);
    for (t = 0; t < ticks; t++) {
        SimFacts f;

        if (t > 0 && t % CHANGE_EVERY == 0)
            change_some(h, r);
        sim_run(h, WALL_US);
        if (t >= WARMUP) {
            sim_facts(h, &f);
            row->sd += f.cpu_sd;
            row->busy_pairs += f.busy_pairs;
            row->split += f.split_guests;
            row->work_pct += f.demand > 0 ? 100.0 * f.work / f.demand : 100;
            row->samples++;
        }
        if (grain >= 0) {
            g_autoptr(Snapshot) snap = sim_snapshot(h);
            g_autoptr(Plan) plan = vcpu_policy_decide(snap, &cfg, st);
            guint changed = sim_apply(h, plan);

            if (t >= WARMUP)
                moves += changed;
            if (t >= WARMUP && t % CHANGE_EVERY > SETTLE) {
                row->settled_moves += changed;
                if (changed && g_getenv("TOPO_BENCH_TRACE"))
                    fprintf(stderr, "grain %d seed %u tick %u: %s\n", grain,
                            seed, t, plan->summary);
            }
        }
    }
    row->moves_per_hour +=
        (double)moves * 3600.0 / ((double)(ticks - WARMUP) * WALL_US / 1e6);
    config_clear(&vcpu_config_schema, &cfg);
}

static void print_table(const char *title, const char *caps,
                        const char *offline, guint seeds, guint ticks)
{
    static const double fills[] = {0.5, 0.85};
    static const char *const modes[] = {"kernel alone", "cpu", "core", "cache",
                                        "node"};
    guint fi;
    guint m;
    guint s;

    printf("\n### %s\n\n", title);
    printf("| load | placement | sd of CPU util | busy SMT pairs | guests "
           "split across nodes | moves per hour | of them settled | work done "
           "/ demand |\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    for (fi = 0; fi < G_N_ELEMENTS(fills); fi++) {
        for (m = 0; m < G_N_ELEMENTS(modes); m++) {
            Row row = {0};
            double runs = seeds;

            for (s = 0; s < seeds; s++) {
                Row one = {0};

                run(caps, offline, m == 0 ? -1 : (gint)m, fills[fi], s + 1,
                    ticks, &one);
                row.sd += one.sd / one.samples;
                row.busy_pairs += one.busy_pairs / one.samples;
                row.split += one.split / one.samples;
                row.work_pct += one.work_pct / one.samples;
                row.moves_per_hour += one.moves_per_hour;
                row.settled_moves +=
                    one.settled_moves * 3600.0 / ((double)(ticks - WARMUP));
            }
            printf("| %.0f %% | %s | %.1f | %.1f | %.1f | %.0f | %.0f | %.1f "
                   "%% |\n",
                   fills[fi] * 100, modes[m], row.sd / runs,
                   row.busy_pairs / runs, row.split / runs,
                   row.moves_per_hour / runs, row.settled_moves / runs,
                   row.work_pct / runs);
        }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Decide time at 256 CPUs (2 nodes x 64 cores x 2 threads) and 2,000
 * vCPUs, every vCPU free at first. */
static void decide_time(guint ticks)
{
    static const char *const names[] = {"auto (core)", "cpu", "core", "cache",
                                        "node"};
    SimShape shape = {.nodes = 2, .cores = 64, .threads = 2, .caches = TRUE};
    g_autofree char *caps = sim_caps_xml(&shape, NULL);
    guint g;

    printf("\n### Decide time, 256 CPUs (2 nodes x 64 cores x 2 threads), "
           "2,000 vCPUs\n\n");
    printf("| granularity | median ms | max ms | first tick with pins ms |\n");
    printf("|---|---|---|---|\n");
    for (g = 0; g < G_N_ELEMENTS(names); g++) {
        g_autoptr(SimHost) h = sim_host_new(caps, NULL, 7);
        g_autoptr(VcpuPolicyState) st = vcpu_policy_state_new();
        g_autoptr(GRand) r = g_rand_new_with_seed(7);
        g_autofree double *ms = g_new0(double, ticks);
        double first = -1;
        VcpuConfig cfg;
        guint t;

        config_init(&vcpu_config_schema, &cfg);
        cfg.granularity = (Granularity)g;
        h->noise = 5;
        while (h->vcpus->len < 2000) {
            guint nv = MIN(8, 2000 - h->vcpus->len);
            double d[8];
            guint k;

            for (k = 0; k < nv; k++)
                d[k] = kinds[g_rand_int_range(r, 0, G_N_ELEMENTS(kinds))];
            sim_add_guest(h, nv, d, NULL);
        }
        for (t = 0; t < ticks; t++) {
            g_autoptr(Snapshot) snap = NULL;
            g_autoptr(Plan) plan = NULL;
            gint64 t0;

            sim_run(h, WALL_US);
            snap = sim_snapshot(h);
            t0 = g_get_monotonic_time();
            plan = vcpu_policy_decide(snap, &cfg, st);
            ms[t] = (double)(g_get_monotonic_time() - t0) / 1000.0;
            if (first < 0 && plan_len(plan) > 0)
                first = ms[t];
            sim_apply(h, plan);
        }
        qsort(ms, ticks, sizeof(double), cmp_double);
        printf("| %s | %.2f | %.2f | %.2f |\n", names[g], ms[ticks / 2],
               ms[ticks - 1], first);
        config_clear(&vcpu_config_schema, &cfg);
    }
}

int main(int argc, char **argv)
{
    gint seeds = 5;
    gint ticks = 300;
    g_autofree char *dir = NULL;
    GOptionEntry entries[] = {
        {"seeds", 0, 0, G_OPTION_ARG_INT, &seeds, "workloads per row", "N"},
        {"ticks", 0, 0, G_OPTION_ARG_INT, &ticks, "ticks per run", "N"},
        {"fixtures", 0, 0, G_OPTION_ARG_FILENAME, &dir,
         "tests/fixtures/caps of the tree", "DIR"},
        {NULL},
    };
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("- the vCPU policy on simulated hosts");
    g_autoptr(GError) err = NULL;
    guint i;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err) || seeds < 1 ||
        ticks <= WARMUP) {
        fprintf(stderr, "topo_bench: %s\n",
                err ? err->message : "--seeds >= 1, --ticks > 10");
        return 2;
    }
    if (!dir)
        dir = g_strdup("tests/fixtures/caps");
    printf("## vCPU placement on simulated hosts (%d workloads x %d ticks "
           "per row)\n",
           seeds, ticks);
    for (i = 0; i < G_N_ELEMENTS(hosts); i++) {
        g_autofree char *path = g_build_filename(dir, hosts[i].file, NULL);
        g_autofree char *caps = NULL;

        if (!g_file_get_contents(path, &caps, NULL, &err)) {
            fprintf(stderr, "topo_bench: %s\n", err->message);
            return 2;
        }
        print_table(hosts[i].name, caps, hosts[i].offline, (guint)seeds,
                    (guint)ticks);
        fflush(stdout);
    }
    decide_time(60);
    return 0;
}
