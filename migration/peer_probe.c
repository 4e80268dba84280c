#include "peer_probe.h"

#include <libvirt/libvirt.h>
#include <libxml/parser.h>

#include "collect.h"
#include "domain_jobs.h"
#include "conn.h"
#include "hostcaps.h"
#include "virt_autoptr.h"

typedef struct {
    MigratePeer *result; /* the last probe's, or NULL before one ended */
    gint64 result_us;
    gboolean running;
    gint64 started_us;
    guint failures; /* unreachable results in a row */
    gint64 next_us; /* no probe before this (an unreachable peer) */
    gboolean told_silent;
} Entry;

struct PeerProbes {
    gatomicrefcount ref; /* the owner's and one per running probe */
    GMutex lock;
    GHashTable *entries; /* uri -> Entry */
    PeerReadFunc read;
    PeerClockFunc clock;
    guint started;
    guint running;
};

typedef struct {
    PeerProbes *pp;
    char *uri;
} ProbeJob;

static void entry_free(gpointer data)
{
    Entry *e = data;

    migrate_peer_free(e->result);
    g_free(e);
}

PeerProbes *peer_probes_new(PeerReadFunc read, PeerClockFunc clock)
{
    PeerProbes *pp = g_new0(PeerProbes, 1);

    /* Probe threads parse capabilities; libxml2's first use must not be
     * on two threads at once. */
    xmlInitParser();
    g_atomic_ref_count_init(&pp->ref);
    g_mutex_init(&pp->lock);
    pp->entries =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, entry_free);
    pp->read = read ? read : peer_read_libvirt;
    pp->clock = clock ? clock : g_get_monotonic_time;
    return pp;
}

static void unref(PeerProbes *pp)
{
    if (!g_atomic_ref_count_dec(&pp->ref))
        return;
    g_hash_table_unref(pp->entries);
    g_mutex_clear(&pp->lock);
    g_free(pp);
}

void peer_probes_free(PeerProbes *pp)
{
    if (pp)
        unref(pp);
}

static MigratePeer *peer_copy(const MigratePeer *p)
{
    MigratePeer *c = g_new(MigratePeer, 1);

    *c = *p;
    c->uri = g_strdup(p->uri);
    c->expected_uuid = g_strdup(p->expected_uuid);
    c->error = g_strdup(p->error);
    c->inbound_names = g_strdup(p->inbound_names);
    return c;
}

static MigratePeer *error_peer(const char *uri, char *error)
{
    MigratePeer *p = g_new0(MigratePeer, 1);

    p->uri = g_strdup(uri);
    p->error = error;
    return p;
}

/* Stores a probe's result; under the lock. */
static void take_result(PeerProbes *pp, const char *uri, Entry *e,
                        MigratePeer *p, gint64 now_us)
{
    gint64 wait_us;

    if (e->told_silent)
        g_message("migration peer %s answered a probe after %.0f s", uri,
                  (double)(now_us - e->started_us) / G_USEC_PER_SEC);
    e->told_silent = FALSE;
    if (p->reachable) {
        if (e->failures)
            g_message("migration peer %s answers again", uri);
        e->failures = 0;
        e->next_us = 0;
    } else {
        e->failures++;
        wait_us = migrate_backoff_us(e->failures);
        e->next_us = now_us + wait_us;
        g_warning("migration peer %s is unreachable: %s; next try in "
                  "%" G_GINT64_FORMAT " s",
                  uri, p->error ? p->error : "?", wait_us / G_USEC_PER_SEC);
    }
    migrate_peer_free(e->result);
    e->result = p;
    e->result_us = now_us;
}

static gpointer probe_thread(gpointer data)
{
    ProbeJob *j = data;
    MigratePeer *p = j->pp->read(j->uri);
    Entry *e;

    g_mutex_lock(&j->pp->lock);
    e = g_hash_table_lookup(j->pp->entries, j->uri);
    e->running = FALSE;
    j->pp->running--;
    take_result(j->pp, j->uri, e, p, j->pp->clock());
    g_mutex_unlock(&j->pp->lock);
    unref(j->pp);
    g_free(j->uri);
    g_free(j);
    return NULL;
}

/* Under the lock.  The thread is never joined: one stuck in a peer's
 * connection must not hold up whoever frees the probes. */
static void start_probe(PeerProbes *pp, const char *uri, Entry *e,
                        gint64 now_us)
{
    ProbeJob *j = g_new0(ProbeJob, 1);
    g_autoptr(GError) err = NULL;
    GThread *t;

    j->pp = pp;
    j->uri = g_strdup(uri);
    g_atomic_ref_count_inc(&pp->ref);
    e->running = TRUE;
    e->started_us = now_us;
    pp->started++;
    pp->running++;
    g_debug("probing migration peer %s", uri);
    t = g_thread_try_new("peer-probe", probe_thread, j, &err);
    if (t) {
        g_thread_unref(t);
        return;
    }
    e->running = FALSE;
    pp->running--;
    g_atomic_ref_count_dec(&pp->ref);
    g_free(j->uri);
    g_free(j);
    take_result(pp, uri, e,
                error_peer(uri, g_strdup_printf("cannot start a probe: %s",
                                                err->message)),
                now_us);
}

static gboolean result_fresh(const Entry *e, gint64 now_us)
{
    const gint64 max_age_us = (gint64)PEER_PROBE_MAX_AGE_S * G_USEC_PER_SEC;

    return e->result && e->result->reachable &&
           now_us - e->result_us <= max_age_us;
}

/* A probe runs, not yet silent for long, and nothing usable is known. */
static gboolean awaiting(const Entry *e, gint64 now_us)
{
    const gint64 silent_us = (gint64)PEER_PROBE_SILENT_S * G_USEC_PER_SEC;

    return !result_fresh(e, now_us) && e->running &&
           now_us - e->started_us < silent_us;
}

gboolean peer_probes_awaiting(PeerProbes *pp, const char *uri, gint64 now_us)
{
    const Entry *e;
    gboolean yes;

    g_mutex_lock(&pp->lock);
    e = g_hash_table_lookup(pp->entries, uri);
    yes = e && awaiting(e, now_us);
    g_mutex_unlock(&pp->lock);
    return yes;
}

MigratePeer *peer_probes_get(PeerProbes *pp, const char *uri, gint64 now_us,
                             gboolean *pending)
{
    const gint64 refresh_us = (gint64)PEER_PROBE_REFRESH_S * G_USEC_PER_SEC;
    MigratePeer *p;
    Entry *e;

    *pending = FALSE;
    g_mutex_lock(&pp->lock);
    e = g_hash_table_lookup(pp->entries, uri);
    if (!e) {
        e = g_new0(Entry, 1);
        g_hash_table_insert(pp->entries, g_strdup(uri), e);
    }
    if (!e->running && now_us >= e->next_us &&
        (!e->result || now_us - e->result_us >= refresh_us))
        start_probe(pp, uri, e, now_us);

    if (result_fresh(e, now_us)) {
        p = peer_copy(e->result);
    } else if (awaiting(e, now_us)) {
        p = error_peer(uri, g_strdup_printf("being probed (%.1f s so far)",
                                            (double)(now_us - e->started_us) /
                                                G_USEC_PER_SEC));
        *pending = TRUE;
    } else if (e->running) {
        p = error_peer(
            uri,
            g_strdup_printf("has not answered a probe for %.0f s (it "
                            "accepts the connection but does not "
                            "answer, or the route to it is gone)",
                            (double)(now_us - e->started_us) / G_USEC_PER_SEC));
        if (!e->told_silent)
            g_warning("migration peer %s: %s", uri, p->error);
        e->told_silent = TRUE;
    } else {
        /* Unreachable at the last try, and not to be tried yet. */
        p = error_peer(
            uri, g_strdup_printf(
                     "unreachable (%s); next try in %.0f s",
                     e->result && e->result->error ? e->result->error : "?",
                     (double)MAX(e->next_us - now_us, 0) / G_USEC_PER_SEC));
    }
    g_mutex_unlock(&pp->lock);
    return p;
}

void peer_probes_counts(PeerProbes *pp, guint *started, guint *running)
{
    g_mutex_lock(&pp->lock);
    *started = pp->started;
    *running = pp->running;
    g_mutex_unlock(&pp->lock);
}

/* ---- The libvirt reader ----------------------------------------------- */

/* One list of the peer's running guests for two figures: their vCPUs
 * (its load) and those arriving by migration (the inbound cap). */
static void read_guests(virConnectPtr c, MigratePeer *p)
{
    g_auto(DomainJobs) jobs = {0};
    virDomainPtr *doms = NULL;
    int n;
    int i;

    n = virConnectListAllDomains(c, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    for (i = 0; i < n; i++) {
        virDomainInfo info;

        if (virDomainGetInfo(doms[i], &info) == 0)
            p->vcpus += info.nrVirtCpu;
        domain_jobs_add(&jobs, doms[i]);
        virDomainFree(doms[i]);
    }
    free(doms);
    p->inbound = jobs.incoming;
    if (jobs.incoming_names)
        p->inbound_names = g_strdup(jobs.incoming_names->str);
}

MigratePeer *peer_read_libvirt(const char *uri)
{
    MigratePeer *p = g_new0(MigratePeer, 1);
    g_autoptr(virConnect) c = NULL;
    g_autofree char *caps = NULL;
    g_autoptr(GError) err = NULL;
    NodeMemProbe probe = {0};

    p->uri = g_strdup(uri);
    c = virConnectOpen(uri);
    if (!c) {
        p->error = g_strdup(conn_last_error_message());
        return p;
    }
    /* Fails without an event loop (a tool may have none); the probe then
     * simply has no keepalive. */
    virConnectSetKeepAlive(c, PEER_PROBE_KEEPALIVE_S,
                           PEER_PROBE_KEEPALIVE_COUNT);
    p->reachable = TRUE;
    caps = virConnectGetCapabilities(c);
    if (!caps)
        p->error = g_strdup(conn_last_error_message());
    else if (!hostcaps_parse(caps, &p->facts, &err))
        p->error = g_strdup(err->message);
    else
        p->facts_ok = TRUE;
    /* A peer that cannot say keeps 0: it cannot take a guest. */
    if (!collect_node_memory(c, &probe, &p->free_kib, NULL, NULL, NULL))
        p->free_kib = 0;
    read_guests(c, p);
    p->ncpus = p->facts.ncpus;
    if (p->ncpus == 0) {
        virNodeInfo info;

        if (virNodeGetInfo(c, &info) == 0)
            p->ncpus = info.cpus;
    }
    return p;
}
