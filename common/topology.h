/* The host's CPU topology as libvirt's capabilities XML gives it: which
 * NUMA cell, socket, die and core each CPU belongs to, which CPUs are SMT
 * siblings of one core, and which share a last-level cache.  Read once per
 * connection (collect.c); pure, so fixtures of other hosts test it. */
#pragma once

#include <glib.h>

#define TOPO_NONE (-1)

typedef struct {
    gboolean described; /* listed with its topology (offline CPUs are not) */
    gint node;          /* NUMA cell id, TOPO_NONE when not listed at all */
    gint socket;
    gint die;
    gint core;     /* dense index of its core (its SMT siblings share it) */
    gint cache;    /* dense index of its last-level cache bank, or TOPO_NONE */
    guint threads; /* SMT siblings on its core, itself included */
} TopoCpu;

typedef struct {
    guint ncpus; /* the highest CPU id listed + 1 */
    TopoCpu *cpus;
    guint nnodes;   /* NUMA cells holding CPUs */
    guint nsockets; /* distinct (node-independent) socket ids */
    guint ncores;
    guint ncaches;      /* banks of cache_level */
    guint cache_level;  /* the highest level of the cache banks, 0: none */
    guint nundescribed; /* CPUs listed without topology (offline) */
} Topology;

#define TOPOLOGY_ERROR (topology_error_quark())
GQuark topology_error_quark(void);
typedef enum {
    TOPOLOGY_ERROR_XML,     /* not capabilities XML */
    TOPOLOGY_ERROR_MISSING, /* no <topology> with CPUs in it */
    TOPOLOGY_ERROR_INVALID, /* an attribute that is not what libvirt writes */
} TopologyError;

/* A new reference; snapshots share the connection's topology. */
Topology *topology_from_capabilities(const char *caps_xml,
                                     GError **error) G_GNUC_WARN_UNUSED_RESULT;
Topology *topology_ref(Topology *t);
void topology_unref(Topology *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Topology, topology_unref)

/* One line for the log: "2 NUMA nodes, 2 sockets, 32 cores, 64 CPUs (2 SMT
 * threads a core), 2 L3 caches". */
char *topology_describe(const Topology *t);
