#include "affinity_cache.h"

#include <string.h>

#include "conn.h"
#include "event_loop.h"

typedef struct {
    gint id;
    guint nvcpus;
    gsize maplen;
    guint8 *maps; /* nvcpus cpumaps of maplen bytes; NULL: none kept */
    gint64 read_us;
    gint64 max_age_us;
    guint events;      /* events about this guest so far */
    guint read_events; /* events when maps were read */
    char *why;         /* what the last event said */
    gboolean seen;     /* taken since the last sweep */
} Entry;

struct AffinityCache {
    gatomicrefcount ref;
    GMutex lock;
    GHashTable *entries; /* uuid -> Entry */
    virConnectPtr conn;  /* a reference, while watching */
    int tunable_id;
    int lifecycle_id;
    AffinityGroupFunc is_group; /* NULL: one CPU only */
    gconstpointer group_data;
};

static void entry_free(gpointer data)
{
    Entry *e = data;

    g_free(e->maps);
    g_free(e->why);
    g_free(e);
}

AffinityCache *affinity_cache_new(void)
{
    AffinityCache *c = g_new0(AffinityCache, 1);

    g_atomic_ref_count_init(&c->ref);
    g_mutex_init(&c->lock);
    c->entries =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, entry_free);
    c->tunable_id = -1;
    c->lifecycle_id = -1;
    return c;
}

AffinityCache *affinity_cache_ref(AffinityCache *c)
{
    g_atomic_ref_count_inc(&c->ref);
    return c;
}

void affinity_cache_unref(AffinityCache *c)
{
    if (!c || !g_atomic_ref_count_dec(&c->ref))
        return;
    g_hash_table_unref(c->entries);
    g_mutex_clear(&c->lock);
    g_free(c);
}

void affinity_cache_set_groups(AffinityCache *c, AffinityGroupFunc fn,
                               gconstpointer data)
{
    g_mutex_lock(&c->lock);
    c->is_group = fn;
    c->group_data = data;
    g_mutex_unlock(&c->lock);
}

/* Whether a vCPU pinned to map needs nothing more read: pinned to one CPU
 * (which is then where it ran) or to a group the caller places by. */
static gboolean map_enough(const AffinityCache *c, const guint8 *map,
                           gsize maplen)
{
    if (cpumap_single(map, maplen, (guint)maplen * 8) >= 0)
        return TRUE;
    return c->is_group && c->is_group(c->group_data, map, maplen);
}

static gboolean all_enough(const AffinityCache *c, const guint8 *maps,
                           guint nvcpus, gsize maplen)
{
    guint k;

    for (k = 0; k < nvcpus; k++) {
        if (!map_enough(c, maps + k * maplen, maplen))
            return FALSE;
    }
    return nvcpus > 0;
}

static void unref_callback_data(void *opaque)
{
    affinity_cache_unref(opaque);
}

void affinity_cache_forget(AffinityCache *c, const char *uuid, const char *why)
{
    Entry *e;

    g_mutex_lock(&c->lock);
    /* A guest not kept is read anyway; one being read right now has an
     * entry from affinity_cache_take, so the event is not lost. */
    e = g_hash_table_lookup(c->entries, uuid);
    if (e) {
        e->events++;
        g_free(e->why);
        e->why = g_strdup(why);
    }
    g_mutex_unlock(&c->lock);
}

static void forget_domain(AffinityCache *c, virDomainPtr dom, const char *why)
{
    char uuid[VIR_UUID_STRING_BUFLEN];

    if (virDomainGetUUIDString(dom, uuid) == 0)
        affinity_cache_forget(c, uuid, why);
}

/* On libvirt's event thread. */
static void on_tunable(virConnectPtr conn, virDomainPtr dom,
                       virTypedParameterPtr params, int nparams, void *opaque)
{
    int i;

    for (i = 0; i < nparams; i++) {
        if (g_str_has_prefix(params[i].field, "cputune.vcpupin")) {
            forget_domain(opaque, dom, "a vCPU was pinned (tunable event)");
            return;
        }
    }
}

/* On libvirt's event thread.  A restarted guest also has a new id, which
 * affinity_cache_take checks; the event covers a guest restored under
 * the id it had. */
static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event,
                        int detail, void *opaque)
{
    if (event == VIR_DOMAIN_EVENT_STARTED)
        forget_domain(opaque, dom, "the guest started (lifecycle event)");
    return 0;
}

/* One callback for eventID, holding a reference to c that libvirt drops
 * when the callback is removed; -1 with error set when refused. */
static int register_callback(AffinityCache *c, virConnectPtr conn, int eventID,
                             virConnectDomainEventGenericCallback cb,
                             const char *what, GError **error)
{
    int id = virConnectDomainEventRegisterAny(
        conn, NULL, eventID, cb, affinity_cache_ref(c), unref_callback_data);

    if (id < 0) {
        g_set_error(error, CONN_ERROR, CONN_ERROR_CALL, "%s events: %s", what,
                    conn_last_error_message());
        /* A refused registration never calls its free function. */
        affinity_cache_unref(c);
    }
    return id;
}

gboolean affinity_cache_watch(AffinityCache *c, virConnectPtr conn,
                              GError **error)
{
    int tunable;
    int lifecycle;

    affinity_cache_unwatch(c);
    if (!event_loop_running()) {
        g_set_error_literal(error, CONN_ERROR, CONN_ERROR_CALL,
                            "no libvirt event loop in this process");
        return FALSE;
    }
    tunable = register_callback(c, conn, VIR_DOMAIN_EVENT_ID_TUNABLE,
                                VIR_DOMAIN_EVENT_CALLBACK(on_tunable),
                                "tunable", error);
    if (tunable < 0)
        return FALSE;
    lifecycle = register_callback(c, conn, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                  VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle),
                                  "lifecycle", error);
    if (lifecycle < 0) {
        virConnectDomainEventDeregisterAny(conn, tunable);
        return FALSE;
    }
    g_mutex_lock(&c->lock);
    virConnectRef(conn);
    c->conn = conn;
    c->tunable_id = tunable;
    c->lifecycle_id = lifecycle;
    g_mutex_unlock(&c->lock);
    return TRUE;
}

void affinity_cache_unwatch(AffinityCache *c)
{
    virConnectPtr conn;
    int tunable;
    int lifecycle;

    g_mutex_lock(&c->lock);
    conn = g_steal_pointer(&c->conn);
    tunable = c->tunable_id;
    lifecycle = c->lifecycle_id;
    c->tunable_id = c->lifecycle_id = -1;
    g_hash_table_remove_all(c->entries);
    g_mutex_unlock(&c->lock);
    if (!conn)
        return;
    /* Outside the lock: a callback waiting for it must be able to end.
     * On a dead connection these fail, which changes nothing. */
    virConnectDomainEventDeregisterAny(conn, tunable);
    virConnectDomainEventDeregisterAny(conn, lifecycle);
    virConnectClose(conn);
}

/* Why a kept copy no longer serves, or NULL when it does. */
static char *stale_because(const AffinityCache *c, const Entry *e,
                           const DomainSample *d, gsize maplen, gint64 now_us)
{
    if (!e->maps)
        return NULL;
    if (e->read_events != e->events)
        return g_strdup(e->why);
    if (e->id != d->id)
        return g_strdup("the guest runs again under a new id");
    if (e->nvcpus != d->nvcpus || e->maplen != maplen)
        return g_strdup("its vCPU or the host's CPU count changed");
    if (now_us - e->read_us >= e->max_age_us)
        return g_strdup_printf("kept for %.0f s",
                               (double)(now_us - e->read_us) / G_USEC_PER_SEC);
    if (!all_enough(c, e->maps, e->nvcpus, maplen))
        return g_strdup("a vCPU's group is no longer one placed by");
    return NULL;
}

gboolean affinity_cache_take(AffinityCache *c, DomainSample *d, gsize maplen,
                             gint64 now_us, guint *token, char **why)
{
    Entry *e;
    guint k;

    *token = 0;
    *why = NULL;
    g_mutex_lock(&c->lock);
    if (!c->conn) {
        g_mutex_unlock(&c->lock);
        return FALSE;
    }
    e = g_hash_table_lookup(c->entries, d->uuid);
    if (!e) {
        e = g_new0(Entry, 1);
        g_hash_table_insert(c->entries, g_strdup(d->uuid), e);
    }
    e->seen = TRUE;
    *token = e->events;
    *why = stale_because(c, e, d, maplen, now_us);
    if (*why || !e->maps) {
        g_mutex_unlock(&c->lock);
        return FALSE;
    }
    for (k = 0; k < d->nvcpus; k++) {
        VcpuSample *v = &d->vcpus[k];

        memcpy(v->cpumap, e->maps + k * maplen, maplen);
        /* Pinned to one CPU, it can have run nowhere else; in a group,
         * where it last ran is not kept (-1). */
        v->last_pcpu = cpumap_single(v->cpumap, maplen, (guint)maplen * 8);
    }
    g_mutex_unlock(&c->lock);
    return TRUE;
}

void affinity_cache_keep(AffinityCache *c, const DomainSample *d, gsize maplen,
                         gint64 now_us, guint token)
{
    Entry *e;
    guint k;

    g_mutex_lock(&c->lock);
    e = c->conn ? g_hash_table_lookup(c->entries, d->uuid) : NULL;
    if (!e) {
        g_mutex_unlock(&c->lock);
        return;
    }
    g_clear_pointer(&e->maps, g_free);
    /* An event since the read may describe a pin the read missed. */
    if (token == e->events && d->nvcpus > 0) {
        g_autofree guint8 *maps = g_malloc(maplen * d->nvcpus);

        for (k = 0; k < d->nvcpus; k++)
            memcpy(maps + k * maplen, d->vcpus[k].cpumap, maplen);
        if (all_enough(c, maps, d->nvcpus, maplen)) {
            e->maps = g_steal_pointer(&maps);
            e->id = d->id;
            e->nvcpus = d->nvcpus;
            e->maplen = maplen;
            e->read_us = now_us;
            e->read_events = token;
            e->max_age_us = AFFINITY_MAX_AGE_US +
                            (gint64)(g_str_hash(d->uuid) %
                                     (guint)(AFFINITY_MAX_AGE_US / 2));
        }
    }
    g_mutex_unlock(&c->lock);
}

static gboolean not_seen(gpointer key, gpointer value, gpointer unused)
{
    Entry *e = value;
    gboolean gone = !e->seen;

    e->seen = FALSE;
    return gone;
}

void affinity_cache_sweep(AffinityCache *c)
{
    g_mutex_lock(&c->lock);
    g_hash_table_foreach_remove(c->entries, not_seen, NULL);
    g_mutex_unlock(&c->lock);
}

guint affinity_cache_size(AffinityCache *c)
{
    GHashTableIter it;
    gpointer value;
    guint n = 0;

    g_mutex_lock(&c->lock);
    g_hash_table_iter_init(&it, c->entries);
    while (g_hash_table_iter_next(&it, NULL, &value))
        n += ((Entry *)value)->maps != NULL;
    g_mutex_unlock(&c->lock);
    return n;
}
