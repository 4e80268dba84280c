/* A simulated host with a CPU topology, for the vCPU policy at scale: the
 * property test (tests/unit/test_vcpu_topo_fuzz.c) and the simulator
 * bench (tests/sim/topo_bench.c).
 *
 * The model, per interval:
 *   - the host kernel keeps each vCPU (largest demand first) on the CPU it
 *     ran on while that CPU, within its affinity, has room for it, and
 *     else moves it to the CPU of its affinity with the least demand so
 *     far, among equals the one whose core has least: what Linux's
 *     wake-up and idle balancing aim for (stay cache-hot, then an idle
 *     core, then an idle thread), done perfectly every interval;
 *   - each CPU shares its time max-min fairly among the vCPUs on it;
 *   - the threads of one core together do no more work than
 *     smt_core_capacity() of the threads that ran (slots.c), so each
 *     vCPU's work is its run time scaled down to that;
 *   - a vCPU waits for the demand it did not get (a burner that works and
 *     then idles waits 100 - 100 r / d percent).
 * The policy sees what a real host shows it: run time and wait time per
 * vCPU, the CPU it last ran on, and its affinity. */
#pragma once

#include <glib.h>

#include "plan.h"
#include "snapshot.h"

/* A host of nodes x cores x threads with Linux's numbering (thread t of
 * core c of node n is CPU t * nodes * cores + n * cores + c), an L3 bank
 * per node when caches, and the CPUs in offline listed by id alone. */
typedef struct {
    guint nodes;
    guint cores; /* per node */
    guint threads;
    gboolean caches;
} SimShape;

char *sim_caps_xml(const SimShape *shape,
                   const GArray *offline) G_GNUC_WARN_UNUSED_RESULT;

typedef struct {
    guint guest;
    guint number;
    double demand; /* percent of one thread */
    guint8 *affinity;
    gint last;
    guint64 time_ns;
    guint64 delay_ns;
    double ran;  /* this interval, percent of a thread */
    double work; /* this interval, percent of a thread's work */
} SimVcpu;

typedef struct {
    char *name;
    char uuid[VIR_UUID_STRING_BUFLEN];
    char *definition; /* GRefString, NULL for none */
    guint first, n;   /* its vCPUs in SimHost.vcpus */
} SimGuest;

typedef struct {
    Topology *topo;
    guint npcpus;
    gsize maplen;
    guint8 *online; /* NULL: all */
    GArray *guests; /* SimGuest */
    GArray *vcpus;  /* SimVcpu */
    gint64 mono_us;
    double noise; /* +- this much on every demand, every interval */
    GRand *rand;
} SimHost;

/* A host from capabilities XML; CPUs in offline are offline. */
SimHost *sim_host_new(const char *caps_xml, const GArray *offline,
                      guint32 seed) G_GNUC_WARN_UNUSED_RESULT;
void sim_host_free(SimHost *h);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SimHost, sim_host_free)

/* A guest of n vCPUs with these demands, free to run on every CPU; the
 * definition (domain XML, or NULL) is what the policy reads its rules
 * from. */
void sim_add_guest(SimHost *h, guint n, const double *demand,
                   const char *definition);

/* One interval of wall_us: places, shares and counts as the model says. */
void sim_run(SimHost *h, gint64 wall_us);

/* What libvirt would show now; with definitions when any guest has one. */
Snapshot *sim_snapshot(const SimHost *h) G_GNUC_WARN_UNUSED_RESULT;

/* Sets the affinity of every pinned vCPU; returns how many changed. */
guint sim_apply(SimHost *h, const Plan *plan);

/* Facts of the last interval. */
typedef struct {
    double cpu_sd;      /* sd of online CPUs' utilisation */
    guint busy_pairs;   /* cores with two or more threads running >= 50 % */
    guint split_guests; /* guests whose vCPUs ran on more than one node */
    double demand;      /* summed over vCPUs, percent */
    double work;        /* summed over vCPUs, percent */
} SimFacts;

void sim_facts(const SimHost *h, SimFacts *out);
