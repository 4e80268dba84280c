/* The libvirt connection: open, liveness check, reconnect with backoff,
 * and one "lost" and one "recovered" line per outage. */
#pragma once

#include "affinity_cache.h"
#include "complain.h"
#include "topology.h"
#include "virt_autoptr.h"

/* What a host said once about its memory stats, so later readings ask
 * no more than they must. */
typedef struct {
    int nparams;          /* virNodeGetMemoryStats' field count; 0: not
                             asked yet (fixed per host, so asked once) */
    gboolean unsupported; /* it said NO_SUPPORT: NUMA cells' sum instead */
} NodeMemProbe;

typedef struct {
    char *uri;
    gboolean readonly;
    virConnectPtr conn;
    guint generation;          /* bumps on every successful (re)connect */
    gboolean bulk_unsupported; /* virConnectGetAllDomainStats said NO_SUPPORT */
    NodeMemProbe memprobe;
    gboolean cpumap_unsupported; /* virNodeGetCPUMap said NO_SUPPORT */
    /* Domain definitions read once per run of a guest (collect.c): uuid
     * -> DefinitionEntry, for the generation below; forgotten on a
     * reconnect, on conn_forget_definitions, and for guests gone. */
    GHashTable *definitions;
    guint definitions_generation;
    guint64 collects; /* snapshots taken, to find guests gone */
    /* The host's CPU topology, read once per generation (collect.c);
     * NULL with topology_problem set when the capabilities did not give
     * it. */
    gboolean topology_read;
    guint topology_generation;
    Topology *topology;
    char *topology_problem;
    /* vCPU affinity kept between snapshots (collect.c), listening to
     * the connection of affinity_generation, and the groups of CPUs the
     * caller places vCPUs by (conn_place_by). */
    AffinityCache *affinity;
    guint affinity_generation;
    gint64 next_attempt_us; /* reconnect backoff: no attempt before this */
    gint64 backoff_us;
    gint64 max_backoff_us; /* daemons cap it at one interval, so a
                              restarted libvirtd is found within one tick */
    Complaint outage;
    char *last_error; /* message of the last failure, for callers */
} Conn;

Conn *conn_new(const char *uri, gboolean readonly);
void conn_free(Conn *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Conn, conn_free)

/* Returns a live connection, reconnecting if needed and allowed by the
 * backoff; NULL when libvirt cannot be reached (error set). */
virConnectPtr conn_get(Conn *c, GError **error);
/* Drops a connection that died, logging "lost" once per outage; TRUE
 * when it was dead.  Callers use it after a failed call. */
gboolean conn_check_lost(Conn *c);
/* Forgets the connection, e.g. after a call failed because it died. */
void conn_drop(Conn *c);

/* Forgets the domain definitions read so far, so the next snapshot reads
 * them again (SIGHUP: an operator's change is taken at once). */
void conn_forget_definitions(Conn *c);

/* A guest's vCPU affinity changed by the caller's hand (why says how):
 * the next snapshot reads it again. */
void conn_forget_affinity(Conn *c, const char *uuid, const char *why);
/* The caller places vCPUs by the groups fn names (NULL: one CPU each), so
 * a guest pinned to them has its affinity kept between snapshots. */
void conn_place_by(Conn *c, AffinityGroupFunc fn, gconstpointer data);

/* Opens once with no retry, for --once and tools. */
gboolean conn_open_now(Conn *c, GError **error);

/* The message of libvirt's last error in this thread, or a fallback. */
const char *conn_last_error_message(void);
/* libvirt's last error code (virErrorNumber), VIR_ERR_OK when none. */
int conn_last_error_code(void);
/* TRUE for errors that mean the domain went away under us. */
gboolean conn_error_is_vanished_domain(int code);
/* TRUE for errors that mean the connection itself is gone. */
gboolean conn_error_is_connection_lost(int code);

#define CONN_ERROR (conn_error_quark())
GQuark conn_error_quark(void);
typedef enum {
    CONN_ERROR_UNREACHABLE,
    CONN_ERROR_BACKOFF,
    CONN_ERROR_CALL,
} ConnError;
