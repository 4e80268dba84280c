/* Fills a Snapshot from libvirt: one bulk virConnectGetAllDomainStats call,
 * with per-domain calls only where the bulk call cannot help. */
#pragma once

#include "conn.h"
#include "snapshot.h"

typedef enum {
    COLLECT_VCPU = 1 << 0,     /* per-vCPU time and delay */
    COLLECT_AFFINITY = 1 << 1, /* cpumaps and last pCPU (one call per domain) */
    COLLECT_BALLOON = 1 << 2,  /* balloon stats and memory sizes */
    COLLECT_NODE_MEMORY = 1 << 3, /* host free memory */
    COLLECT_NODE_CELLS = 1 << 4,  /* also the NUMA cells' free memory, which
                                     no policy reads: for tools */
    COLLECT_NODE_CPUS = 1 << 5,   /* which CPUs exist and are online (implied
                                     by COLLECT_VCPU and COLLECT_AFFINITY);
                                     without it npcpus is the online count */
    COLLECT_DEFINITION = 1 << 6,  /* each guest's XML definition, read once
                                     per run of the guest (three calls) */
    COLLECT_TOPOLOGY = 1 << 7,    /* the host's CPU topology, read once per
                                     connection (one call) */
} CollectWhat;

/* The whole host's free memory (virNodeGetMemoryStats over all cells;
 * see NodeSample), or the NUMA cells' sum where the driver has no such
 * stats, and its total memory when total_kib is not NULL and the stats
 * have it (else left as it was).  probe keeps what the host said between
 * calls; rpc_calls, when not NULL, counts the calls made. */
gboolean collect_node_memory(virConnectPtr c, NodeMemProbe *probe,
                             guint64 *free_kib, guint64 *total_kib,
                             guint *rpc_calls,
                             GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* Returns NULL with error set when the connection failed mid-way; the
 * caller must then not act on anything from this tick. */
Snapshot *snapshot_collect(Conn *c, guint what,
                           GError **error) G_GNUC_WARN_UNUSED_RESULT;
