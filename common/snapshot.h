/* One tick's facts about the host and its guests, copied out of libvirt.
 *
 * Everything after the snapshot (policies, plans) works on these plain
 * structs only, so it can be tested without a hypervisor. */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>

#include "topology.h"

/* Which balloon fields a guest reported; a field that is absent is 0. */
typedef enum {
    BALLOON_HAS_ACTUAL = 1 << 0,
    BALLOON_HAS_UNUSED = 1 << 1,
    BALLOON_HAS_AVAILABLE = 1 << 2,
    BALLOON_HAS_USABLE = 1 << 3,
    BALLOON_HAS_LAST_UPDATE = 1 << 4,
    BALLOON_HAS_RSS = 1 << 5,
    BALLOON_HAS_MAJOR_FAULT = 1 << 6,
    BALLOON_HAS_MINOR_FAULT = 1 << 7,
    BALLOON_HAS_DISK_CACHES = 1 << 8,
    BALLOON_HAS_SWAP_IN = 1 << 9,
    BALLOON_HAS_SWAP_OUT = 1 << 10,
} BalloonField;

/* Sizes in KiB, as libvirt reports them; in MiB for people. */
double kib_to_mib(guint64 kib);

/* Sizes in KiB, as libvirt reports them. */
typedef struct {
    guint32 present; /* BalloonField bits */
    guint64 actual_kib;
    guint64 unused_kib;
    guint64 available_kib;
    guint64 usable_kib;
    guint64 rss_kib;
    guint64 disk_caches_kib;
    guint64 major_fault;
    guint64 minor_fault;
    guint64 swap_in_kib;
    guint64 swap_out_kib;
    gint64 last_update; /* guest's stats timestamp, seconds since the epoch */
} BalloonStats;

/* Fills b from what virDomainMemoryStats returned (n entries), marking
 * each figure present; tags it does not keep are skipped. */
void balloon_stats_from_memory_stats(BalloonStats *b,
                                     const virDomainMemoryStatStruct *stats,
                                     int n);
/* Takes one "balloon.<name>" figure of the bulk stats; FALSE for a name
 * it does not keep. */
gboolean balloon_stats_take_param(BalloonStats *b, const char *field,
                                  guint64 value);

typedef struct {
    guint number;
    gint state;       /* virVcpuState */
    guint64 time_ns;  /* cumulative CPU time */
    guint64 delay_ns; /* cumulative time spent waiting on a host run queue */
    gboolean has_delay;
    gint last_pcpu; /* pCPU it last ran on, -1 when unknown */
    guint8 *cpumap; /* affinity, VIR_CPU_MAPLEN(node.npcpus) bytes */
} VcpuSample;

typedef struct {
    char uuid[VIR_UUID_STRING_BUFLEN];
    char *name;
    gint state;      /* virDomainState */
    guint64 max_kib; /* maximum memory */
    guint64 cur_kib; /* current balloon target */
    gboolean has_balloon_stats;
    BalloonStats balloon;
    guint nvcpus;
    VcpuSample *vcpus;
    gint id; /* libvirt's domain id: a new one for every run of the guest */
    /* With COLLECT_DEFINITION: the guest's persistent XML definition (its
     * live one when transient), a GRefString shared across snapshots
     * while the guest runs, so its identity says "unchanged"; NULL when
     * it could not be read this tick. */
    char *definition;
    gboolean persistent;
} DomainSample;

typedef struct {
    /* The highest CPU id + 1, so every CPU has its bit in a cpumap; not
     * the number online, which on a host with offline CPUs (or CPUs
     * numbered sparsely) is smaller and would hide the high ones. */
    guint npcpus;
    /* The CPUs online, VIR_CPU_MAPLEN(npcpus) bytes; NULL when every CPU
     * below npcpus is online. */
    guint8 *online;
    guint64 total_kib;
    /* Whole-host free memory from virNodeGetMemoryStats (all cells).  The
     * reserve trusts this figure: guests here are not bound to a NUMA node,
     * so the kernel may satisfy them from any cell, and only running out
     * of the whole host's memory freezes it.  virNodeGetFreeMemory sums
     * cells and is kept for the log only. */
    guint64 free_kib;
    guint64 cells_free_kib;
} NodeSample;

typedef struct {
    gint64 mono_us; /* g_get_monotonic_time() when taken */
    gint64 wall_us; /* g_get_real_time() when taken */
    gboolean
        bulk; /* TRUE when one virConnectGetAllDomainStats call filled it */
    guint rpc_calls;      /* libvirt calls spent taking it */
    guint affinity_kept;  /* guests whose affinity was not read again */
    gboolean definitions; /* COLLECT_DEFINITION was asked: a live guest
                             without one could not be read */
    /* With COLLECT_TOPOLOGY: the connection's topology (a reference), or
     * NULL with topology_problem saying why; topology_read when this
     * snapshot read it (a new connection), so it is told once. */
    Topology *topology;
    char *topology_problem;
    gboolean topology_read;
    NodeSample node;
    GPtrArray *domains; /* DomainSample*, owned */
} Snapshot;

Snapshot *snapshot_new(void);
void snapshot_free(Snapshot *snap);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Snapshot, snapshot_free)

/* Appends a domain with nvcpus zeroed vCPUs whose cpumaps are sized for
 * the snapshot's node.npcpus (set that first).  Returns it for filling. */
DomainSample *snapshot_add_domain(Snapshot *snap, const char *uuid,
                                  const char *name, guint nvcpus);

const DomainSample *snapshot_find(const Snapshot *snap, const char *uuid);

/* Running (or blocked in the guest): the only states in which a guest's
 * balloon moves and its vCPUs run. */
gboolean domain_sample_live(const DomainSample *d);

gsize snapshot_maplen(const Snapshot *snap);

/* Whether cpu exists and is online; and how many are. */
gboolean snapshot_cpu_online(const Snapshot *snap, guint cpu);
guint snapshot_online_count(const Snapshot *snap);

/* Affinity helpers over a cpumap of snapshot_maplen() bytes. */
gboolean cpumap_has(const guint8 *map, gsize maplen, guint cpu);
void cpumap_set(guint8 *map, gsize maplen, guint cpu);
guint cpumap_count(const guint8 *map, gsize maplen, guint npcpus);
/* The only pCPU in the map, or -1 when it allows zero or several. */
gint cpumap_single(const guint8 *map, gsize maplen, guint npcpus);
