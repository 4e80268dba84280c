#include "collect.h"

#include <stdlib.h>
#include <string.h>

#include "event_loop.h"

/* Copies one bulk-stats typed parameter into the sample if it is one we
 * know; returns FALSE for names we ignore. */
static gboolean take_vcpu_param(DomainSample *d, const virTypedParameter *p)
{
    guint64 n;
    const char *rest;
    char *end = NULL;

    if (!g_str_has_prefix(p->field, "vcpu."))
        return FALSE;
    rest = p->field + strlen("vcpu.");
    if (!g_ascii_isdigit(rest[0]))
        return FALSE;
    n = g_ascii_strtoull(rest, &end, 10);
    if (!end || *end != '.' || n >= d->nvcpus)
        return FALSE;
    end++;
    if (strcmp(end, "time") == 0 && p->type == VIR_TYPED_PARAM_ULLONG)
        d->vcpus[n].time_ns = p->value.ul;
    else if (strcmp(end, "delay") == 0 && p->type == VIR_TYPED_PARAM_ULLONG) {
        d->vcpus[n].delay_ns = p->value.ul;
        d->vcpus[n].has_delay = TRUE;
    } else if (strcmp(end, "state") == 0 && p->type == VIR_TYPED_PARAM_INT)
        d->vcpus[n].state = p->value.i;
    else
        return FALSE;
    return TRUE;
}

static gboolean take_balloon_param(DomainSample *d, const virTypedParameter *p)
{
    if (p->type != VIR_TYPED_PARAM_ULLONG)
        return FALSE;
    /* libvirt's current memory of a running guest is its balloon's
     * size. */
    if (strcmp(p->field, "balloon.current") == 0)
        d->cur_kib = p->value.ul;
    if (strcmp(p->field, "balloon.maximum") == 0) {
        d->max_kib = p->value.ul;
        return TRUE;
    }
    return balloon_stats_take_param(&d->balloon, p->field, p->value.ul);
}

/* Guest stats count only when the guest's balloon driver reports the
 * figures the policies need; libvirt always reports balloon.current. */
static void finish_balloon(DomainSample *d)
{
    guint32 need = BALLOON_HAS_ACTUAL | BALLOON_HAS_UNUSED;

    d->has_balloon_stats = (d->balloon.present & need) == need;
}

static gboolean fill_memory_stats(virDomainPtr dom, DomainSample *d, guint *rpc)
{
    virDomainMemoryStatStruct stats[VIR_DOMAIN_MEMORY_STAT_NR];
    int n;

    (*rpc)++;
    n = virDomainMemoryStats(dom, stats, VIR_DOMAIN_MEMORY_STAT_NR, 0);
    if (n < 0)
        return FALSE;
    balloon_stats_from_memory_stats(&d->balloon, stats, n);
    return TRUE;
}

/* virDomainGetVcpus gives times, last pCPU and affinity in one call. */
static gboolean fill_vcpus(virDomainPtr dom, DomainSample *d, gsize maplen,
                           gboolean times, guint *rpc)
{
    g_autofree virVcpuInfoPtr info = NULL;
    g_autofree unsigned char *maps = NULL;
    int n;
    int i;

    if (d->nvcpus == 0)
        return TRUE;
    info = g_new0(virVcpuInfo, d->nvcpus);
    maps = g_malloc0(maplen * d->nvcpus);
    (*rpc)++;
    n = virDomainGetVcpus(dom, info, (int)d->nvcpus, maps, (int)maplen);
    if (n < 0)
        return FALSE;
    for (i = 0; i < n && (guint)i < d->nvcpus; i++) {
        VcpuSample *v = &d->vcpus[i];
        v->number = info[i].number;
        v->state = info[i].state;
        v->last_pcpu = info[i].cpu;
        if (times)
            v->time_ns = info[i].cpuTime;
        memcpy(v->cpumap, VIR_GET_CPUMAP(maps, maplen, i), maplen);
    }
    return TRUE;
}

static gboolean fill_info(virDomainPtr dom, Snapshot *snap, const char *uuid,
                          DomainSample **out)
{
    virDomainInfo info;

    snap->rpc_calls++;
    if (virDomainGetInfo(dom, &info) < 0)
        return FALSE;
    *out =
        snapshot_add_domain(snap, uuid, virDomainGetName(dom), info.nrVirtCpu);
    (*out)->state = info.state;
    (*out)->id = virDomainGetID(dom);
    (*out)->max_kib = info.maxMem;
    (*out)->cur_kib = info.memory;
    return TRUE;
}

/* A domain can vanish between listing and asking; that is not an error
 * of the tick, the domain is simply left out. */
static gboolean vanished(void)
{
    return conn_error_is_vanished_domain(conn_last_error_code());
}

static gboolean collect_domain_slow(Snapshot *snap, virDomainPtr dom,
                                    guint what, DomainSample *known)
{
    char uuid[VIR_UUID_STRING_BUFLEN];
    DomainSample *d = known;
    gsize maplen = snapshot_maplen(snap);

    if (virDomainGetUUIDString(dom, uuid) < 0)
        return vanished();
    if (!d) {
        if (!fill_info(dom, snap, uuid, &d))
            return vanished();
        if (what & COLLECT_BALLOON)
            d->balloon.actual_kib = d->cur_kib;
    }
    if ((what & (COLLECT_VCPU | COLLECT_AFFINITY)) &&
        !fill_vcpus(dom, d, maplen, (what & COLLECT_VCPU) && !known,
                    &snap->rpc_calls)) {
        if (vanished()) {
            g_ptr_array_remove(snap->domains, d);
            return TRUE;
        }
        return FALSE;
    }
    if ((what & COLLECT_BALLOON) && !known) {
        if (!fill_memory_stats(dom, d, &snap->rpc_calls) && !vanished())
            g_debug("no memory stats for %s: %s", d->name,
                    conn_last_error_message());
        finish_balloon(d);
    }
    return TRUE;
}

/* Listens for the events that say a kept affinity changed, once per
 * connection. */
static void watch_affinity(Conn *c)
{
    g_autoptr(GError) err = NULL;

    if (c->affinity_generation == c->generation)
        return;
    c->affinity_generation = c->generation;
    if (affinity_cache_watch(c->affinity, c->conn, &err))
        g_debug("vCPU affinity is kept between ticks and read again after "
                "libvirt's tunable and lifecycle events");
    else if (event_loop_running())
        g_message("vCPU affinity is read for every guest on every tick: %s",
                  err->message);
}

/* "1,0,2-3": each vCPU's pCPU, or its range when it may run on several. */
static char *describe_pins(const DomainSample *d, gsize maplen)
{
    GString *s = g_string_new(NULL);
    guint k;

    for (k = 0; k < d->nvcpus; k++) {
        const guint8 *map = d->vcpus[k].cpumap;
        gint one = cpumap_single(map, maplen, (guint)maplen * 8);

        if (k)
            g_string_append_c(s, ',');
        if (one >= 0)
            g_string_append_printf(s, "%d", one);
        else
            g_string_append_printf(
                s, "%u CPUs", cpumap_count(map, maplen, (guint)maplen * 8));
    }
    return g_string_free(s, FALSE);
}

/* The affinity a bulk record lacks: kept from an earlier snapshot when
 * nothing says it changed, else read (one call).  FALSE when the
 * connection failed; a guest that vanished is left out. */
static gboolean collect_affinity(Conn *c, Snapshot *snap, virDomainPtr dom,
                                 DomainSample *d)
{
    gsize maplen = snapshot_maplen(snap);
    g_autofree char *why = NULL;
    guint token;

    if (affinity_cache_take(c->affinity, d, maplen, snap->mono_us, &token,
                            &why)) {
        snap->affinity_kept++;
        return TRUE;
    }
    if (!fill_vcpus(dom, d, maplen, FALSE, &snap->rpc_calls)) {
        if (!vanished())
            return FALSE;
        g_ptr_array_remove(snap->domains, d);
        return TRUE;
    }
    if (why) {
        g_autofree char *pins = describe_pins(d, maplen);

        g_debug("%s: vCPU affinity read again (%s): pCPUs %s", d->name, why,
                pins);
    }
    affinity_cache_keep(c->affinity, d, maplen, snap->mono_us, token);
    return TRUE;
}

static DomainSample *sample_from_record(Snapshot *snap,
                                        virDomainStatsRecordPtr r, guint what)
{
    char uuid[VIR_UUID_STRING_BUFLEN];
    DomainSample *d;
    guint nvcpus = 0;
    gint state = VIR_DOMAIN_RUNNING;
    gboolean have_vcpu = FALSE;
    gboolean have_balloon = FALSE;
    int i;

    if (virDomainGetUUIDString(r->dom, uuid) < 0)
        return NULL;
    for (i = 0; i < r->nparams; i++) {
        const virTypedParameter *p = &r->params[i];
        if (strcmp(p->field, "vcpu.current") == 0 &&
            p->type == VIR_TYPED_PARAM_UINT) {
            nvcpus = p->value.ui;
            have_vcpu = TRUE;
        } else if (strcmp(p->field, "state.state") == 0 &&
                   p->type == VIR_TYPED_PARAM_INT) {
            state = p->value.i;
        }
    }
    d = snapshot_add_domain(snap, uuid, virDomainGetName(r->dom), nvcpus);
    d->state = state;
    d->id = virDomainGetID(r->dom);
    for (i = 0; i < r->nparams; i++) {
        if (take_vcpu_param(d, &r->params[i]))
            continue;
        if (take_balloon_param(d, &r->params[i]))
            have_balloon = TRUE;
    }
    finish_balloon(d);
    /* Drivers that answer the bulk call with fewer groups than asked
     * (libvirt's test driver gives only STATE) are completed per domain. */
    if (((what & COLLECT_VCPU) && !have_vcpu) ||
        ((what & COLLECT_BALLOON) && !have_balloon)) {
        /* The sample was appended last: removing by index avoids a search
         * that made this quadratic at thousands of domains. */
        g_ptr_array_remove_index(snap->domains, snap->domains->len - 1);
        return NULL;
    }
    return d;
}

static gboolean collect_bulk(Conn *c, Snapshot *snap, guint what,
                             GError **error)
{
    virDomainStatsRecordPtr *records = NULL;
    unsigned int groups = VIR_DOMAIN_STATS_STATE;
    int n;
    int i;
    gboolean ok = TRUE;

    if (what & COLLECT_VCPU)
        groups |= VIR_DOMAIN_STATS_VCPU;
    if (what & COLLECT_BALLOON)
        groups |= VIR_DOMAIN_STATS_BALLOON;
    snap->rpc_calls++;
    n = virConnectGetAllDomainStats(c->conn, groups, &records,
                                    VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE);
    if (n < 0) {
        if (conn_last_error_code() == VIR_ERR_NO_SUPPORT) {
            g_message("bulk domain stats unsupported by %s; asking per domain",
                      c->uri);
            c->bulk_unsupported = TRUE;
        }
        g_set_error(error, CONN_ERROR, CONN_ERROR_CALL,
                    "virConnectGetAllDomainStats: %s",
                    conn_last_error_message());
        return FALSE;
    }
    snap->bulk = TRUE;
    if (what & COLLECT_AFFINITY)
        watch_affinity(c);
    for (i = 0; i < n && ok; i++) {
        DomainSample *d = sample_from_record(snap, records[i], what);
        if (!d)
            ok = collect_domain_slow(snap, records[i]->dom, what, NULL);
        else if (what & COLLECT_AFFINITY)
            ok = collect_affinity(c, snap, records[i]->dom, d);
    }
    virDomainStatsRecordListFree(records);
    if (ok && (what & COLLECT_AFFINITY))
        affinity_cache_sweep(c->affinity);
    if (!ok)
        g_set_error(error, CONN_ERROR, CONN_ERROR_CALL,
                    "reading domain stats: %s", conn_last_error_message());
    return ok;
}

static gboolean collect_per_domain(Conn *c, Snapshot *snap, guint what,
                                   GError **error)
{
    virDomainPtr *doms = NULL;
    int n;
    int i;
    gboolean ok = TRUE;

    snap->rpc_calls++;
    n = virConnectListAllDomains(c->conn, &doms,
                                 VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    if (n < 0) {
        g_set_error(error, CONN_ERROR, CONN_ERROR_CALL,
                    "virConnectListAllDomains: %s", conn_last_error_message());
        return FALSE;
    }
    for (i = 0; i < n; i++) {
        if (ok)
            ok = collect_domain_slow(snap, doms[i], what, NULL);
        virDomainFree(doms[i]);
    }
    g_free(doms);
    if (!ok)
        g_set_error(error, CONN_ERROR, CONN_ERROR_CALL,
                    "reading domain stats: %s", conn_last_error_message());
    return ok;
}

/* The CPUs present and online.  virNodeGetInfo counts only the online
 * ones, which says neither how wide a cpumap must be nor which CPUs may
 * be pinned to. */
static gboolean collect_cpus(Conn *c, Snapshot *snap, GError **error)
{
    unsigned char *map = NULL;
    unsigned int online = 0;
    int n;

    if (c->cpumap_unsupported)
        return TRUE;
    snap->rpc_calls++;
    n = virNodeGetCPUMap(c->conn, &map, &online, 0);
    if (n < 0) {
        if (conn_last_error_code() == VIR_ERR_NO_SUPPORT) {
            g_message("%s cannot list its CPUs; taking all %u as online",
                      c->uri, snap->node.npcpus);
            c->cpumap_unsupported = TRUE;
            return TRUE;
        }
        g_set_error(error, CONN_ERROR, CONN_ERROR_CALL, "virNodeGetCPUMap: %s",
                    conn_last_error_message());
        return FALSE;
    }
    snap->node.npcpus = (guint)n;
    if (online < (guint)n)
        snap->node.online = g_memdup2(map, VIR_CPU_MAPLEN(n));
    free(map);
    return TRUE;
}

/* The NUMA cells' free memory summed, in KiB. */
static guint64 cells_free_kib(virConnectPtr c, guint *rpc_calls)
{
    if (rpc_calls)
        (*rpc_calls)++;
    return virNodeGetFreeMemory(c) / 1024;
}

gboolean collect_node_memory(virConnectPtr c, NodeMemProbe *probe,
                             guint64 *free_kib, guint64 *total_kib,
                             guint *rpc_calls, GError **error)
{
    int nparams = probe->nparams;
    g_autofree virNodeMemoryStatsPtr params = NULL;
    int i;

    if (probe->unsupported) {
        *free_kib = cells_free_kib(c, rpc_calls);
        return TRUE;
    }
    if (nparams <= 0) {
        if (rpc_calls)
            (*rpc_calls)++;
        if (virNodeGetMemoryStats(c, VIR_NODE_MEMORY_STATS_ALL_CELLS, NULL,
                                  &nparams, 0) < 0 ||
            nparams <= 0) {
            /* Drivers without whole-host figures (libvirt's test driver)
             * fall back to the cells' sum, once and for all. */
            if (conn_last_error_code() == VIR_ERR_NO_SUPPORT) {
                probe->unsupported = TRUE;
                *free_kib = cells_free_kib(c, rpc_calls);
                return TRUE;
            }
            g_set_error(error, CONN_ERROR, CONN_ERROR_CALL,
                        "virNodeGetMemoryStats: %s", conn_last_error_message());
            return FALSE;
        }
        probe->nparams = nparams;
    }
    if (rpc_calls)
        (*rpc_calls)++;
    params = g_new0(virNodeMemoryStats, nparams);
    if (virNodeGetMemoryStats(c, VIR_NODE_MEMORY_STATS_ALL_CELLS, params,
                              &nparams, 0) < 0) {
        g_set_error(error, CONN_ERROR, CONN_ERROR_CALL,
                    "virNodeGetMemoryStats: %s", conn_last_error_message());
        return FALSE;
    }
    for (i = 0; i < nparams; i++) {
        if (strcmp(params[i].field, VIR_NODE_MEMORY_STATS_FREE) == 0)
            *free_kib = params[i].value;
        else if (total_kib &&
                 strcmp(params[i].field, VIR_NODE_MEMORY_STATS_TOTAL) == 0)
            *total_kib = params[i].value;
    }
    return TRUE;
}

static gboolean collect_node(Conn *c, Snapshot *snap, guint what,
                             GError **error)
{
    virNodeInfo info;
    gboolean had_stats = !c->memprobe.unsupported;

    snap->rpc_calls++;
    if (virNodeGetInfo(c->conn, &info) < 0) {
        g_set_error(error, CONN_ERROR, CONN_ERROR_CALL, "virNodeGetInfo: %s",
                    conn_last_error_message());
        return FALSE;
    }
    snap->node.npcpus = info.cpus;
    snap->node.total_kib = info.memory;
    if ((what & (COLLECT_NODE_CPUS | COLLECT_VCPU | COLLECT_AFFINITY)) &&
        !collect_cpus(c, snap, error))
        return FALSE;
    if (!(what & COLLECT_NODE_MEMORY))
        return TRUE;
    /* The reserve trusts the whole-host figure (MemFree of /proc/meminfo);
     * the cells' sum is shown to tools that ask for both. */
    if (what & COLLECT_NODE_CELLS)
        snap->node.cells_free_kib = cells_free_kib(c->conn, &snap->rpc_calls);
    if (!collect_node_memory(c->conn, &c->memprobe, &snap->node.free_kib,
                             &snap->node.total_kib, &snap->rpc_calls, error))
        return FALSE;
    if (had_stats && c->memprobe.unsupported)
        g_message("%s has no host memory stats; using NUMA cells' "
                  "free memory",
                  c->uri);
    return TRUE;
}

typedef struct {
    gint id;
    char *xml; /* GRefString */
    gboolean persistent;
    guint64 seen; /* c->collects when last in a snapshot */
} DefinitionEntry;

static void definition_entry_free(gpointer data)
{
    DefinitionEntry *e = data;

    g_ref_string_release(e->xml);
    g_free(e);
}

/* The persistent definition, which the daemons' live changes (pins,
 * balloon) leave alone; a transient guest has only its live one.
 * NULL when the guest vanished or would not say. */
static DefinitionEntry *read_definition(Conn *c, Snapshot *snap,
                                        const DomainSample *d)
{
    g_autoptr(virDomain) dom = NULL;
    g_autofree char *xml = NULL;
    DefinitionEntry *e;
    int persistent;

    snap->rpc_calls++;
    dom = virDomainLookupByUUIDString(c->conn, d->uuid);
    if (!dom)
        return NULL;
    snap->rpc_calls++;
    persistent = virDomainIsPersistent(dom);
    if (persistent < 0)
        return NULL;
    snap->rpc_calls++;
    xml = virDomainGetXMLDesc(dom, persistent ? VIR_DOMAIN_XML_INACTIVE : 0);
    if (!xml)
        return NULL;
    e = g_new0(DefinitionEntry, 1);
    e->id = d->id;
    e->xml = g_ref_string_new(xml);
    e->persistent = persistent > 0;
    return e;
}

static gboolean entry_gone(gpointer key, gpointer value, gpointer data)
{
    const DefinitionEntry *e = value;

    return e->seen != *(const guint64 *)data;
}

/* Each running guest's definition, read when it is first seen in a run
 * (its domain id changes when it restarts, and a changed persistent
 * definition takes effect only then) and kept while it runs. */
static void collect_definitions(Conn *c, Snapshot *snap)
{
    guint i;

    if (!c->definitions || c->definitions_generation != c->generation) {
        if (c->definitions)
            g_hash_table_unref(c->definitions);
        c->definitions = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                               definition_entry_free);
        c->definitions_generation = c->generation;
    }
    c->collects++;
    for (i = 0; i < snap->domains->len; i++) {
        DomainSample *d = g_ptr_array_index(snap->domains, i);
        DefinitionEntry *e = g_hash_table_lookup(c->definitions, d->uuid);

        if (!domain_sample_live(d))
            continue;
        if (!e || e->id != d->id) {
            e = read_definition(c, snap, d);
            if (!e) {
                g_hash_table_remove(c->definitions, d->uuid);
                continue;
            }
            g_hash_table_replace(c->definitions, g_strdup(d->uuid), e);
        }
        e->seen = c->collects;
        d->definition = g_ref_string_acquire(e->xml);
        d->persistent = e->persistent;
    }
    g_hash_table_foreach_remove(c->definitions, entry_gone, &c->collects);
}

static Snapshot *collect_domains(Conn *c, guint what, GError **error)
{
    g_autoptr(Snapshot) snap = snapshot_new();
    g_autoptr(GError) err = NULL;

    if (!conn_get(c, error))
        return NULL;
    snap->mono_us = g_get_monotonic_time();
    snap->wall_us = g_get_real_time();
    if (!collect_node(c, snap, what, error))
        return NULL;
    if (!c->bulk_unsupported) {
        if (collect_bulk(c, snap, what, &err))
            return g_steal_pointer(&snap);
        if (!c->bulk_unsupported) {
            g_propagate_error(error, g_steal_pointer(&err));
            return NULL;
        }
        g_clear_error(&err);
        g_ptr_array_set_size(snap->domains, 0);
    }
    if (!collect_per_domain(c, snap, what, error))
        return NULL;
    return g_steal_pointer(&snap);
}

/* The capabilities are read once per connection: a host's topology
 * changes only with CPUs going on- or offline, which the CPU map of every
 * snapshot shows, and a restarted libvirtd (a new generation) is read
 * again.  A failure is kept too, so it is told once and not retried
 * every tick. */
static void collect_topology(Conn *c, Snapshot *snap)
{
    if (!c->topology_read || c->topology_generation != c->generation) {
        g_autofree char *caps = NULL;
        g_autoptr(GError) err = NULL;

        g_clear_pointer(&c->topology, topology_unref);
        g_clear_pointer(&c->topology_problem, g_free);
        snap->rpc_calls++;
        caps = virConnectGetCapabilities(c->conn);
        if (!caps)
            c->topology_problem = g_strdup_printf(
                "virConnectGetCapabilities: %s", conn_last_error_message());
        else if (!(c->topology = topology_from_capabilities(caps, &err)))
            c->topology_problem = g_strdup(err->message);
        c->topology_read = TRUE;
        c->topology_generation = c->generation;
        snap->topology_read = TRUE;
    }
    snap->topology = topology_ref(c->topology);
    snap->topology_problem = g_strdup(c->topology_problem);
}

Snapshot *snapshot_collect(Conn *c, guint what, GError **error)
{
    Snapshot *snap = collect_domains(c, what, error);

    if (snap && (what & COLLECT_TOPOLOGY))
        collect_topology(c, snap);

    if (snap && (what & COLLECT_DEFINITION)) {
        snap->definitions = TRUE;
        collect_definitions(c, snap);
    }
    return snap;
}
