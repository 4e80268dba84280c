#include "topology.h"

#include "cpuset.h"
#include "xml_read.h"

GQuark topology_error_quark(void)
{
    return g_quark_from_static_string("aos-topology-error-quark");
}

static void topology_clear(gpointer data)
{
    Topology *t = data;

    g_free(t->cpus);
}

Topology *topology_ref(Topology *t)
{
    return t ? g_atomic_rc_box_acquire(t) : NULL;
}

void topology_unref(Topology *t)
{
    if (t)
        g_atomic_rc_box_release_full(t, topology_clear);
}

/* A decimal attribute of at most max; absent gives def (TOPO_NONE: absent
 * is an error). */
static gboolean read_id(xmlNode *n, const char *name, gint def, guint64 max,
                        gint *out, GError **error)
{
    g_autofree char *v = xml_attr(n, name);
    guint64 id = 0;

    if (!v && def != TOPO_NONE) {
        *out = def;
        return TRUE;
    }
    if (!v || !g_ascii_string_to_unsigned(v, 10, 0, max, &id, NULL)) {
        g_set_error(
            error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_INVALID,
            "capabilities: <%s %s='%s'> is not an id up to %" G_GUINT64_FORMAT,
            (const char *)n->name, name, v ? v : "", max);
        return FALSE;
    }
    *out = (gint)id;
    return TRUE;
}

typedef struct {
    gint id;
    gint node;
    gint socket;
    gint die;
    GArray *siblings; /* NULL: listed without topology */
} CpuEntry;

static void cpu_entry_clear(gpointer p)
{
    CpuEntry *e = p;

    if (e->siblings)
        g_array_unref(e->siblings);
}

/* Reads one <cpu> of cell node. */
static gboolean read_cpu(xmlNode *n, gint node, GArray *entries, GError **error)
{
    CpuEntry e = {.node = node, .die = 0};
    g_autofree char *socket = xml_attr(n, "socket_id");
    g_autofree char *siblings = NULL;
    g_autoptr(GError) err = NULL;

    if (!read_id(n, "id", TOPO_NONE, CPUSET_MAX_ID, &e.id, error))
        return FALSE;
    /* libvirt lists a CPU whose topology it cannot read (an offline one)
     * with its id alone. */
    if (!socket) {
        e.socket = e.die = TOPO_NONE;
        g_array_append_val(entries, e);
        return TRUE;
    }
    if (!read_id(n, "socket_id", TOPO_NONE, G_MAXINT, &e.socket, error) ||
        !read_id(n, "die_id", 0, G_MAXINT, &e.die, error))
        return FALSE;
    siblings = xml_attr(n, "siblings");
    e.siblings = siblings ? cpuset_parse(siblings, &err) : NULL;
    if (!e.siblings || !cpuset_has(e.siblings, (guint)e.id)) {
        if (e.siblings)
            g_array_unref(e.siblings);
        g_set_error(error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_INVALID,
                    "capabilities: CPU %d has siblings '%s'%s%s", e.id,
                    siblings ? siblings : "", err ? ": " : ", without itself",
                    err ? err->message : "");
        return FALSE;
    }
    g_array_append_val(entries, e);
    return TRUE;
}

static gboolean read_cells(xmlXPathContext *x, GArray *entries, guint *nnodes,
                           GError **error)
{
    g_autoptr(xmlXPathObject) cells =
        xml_nodes(x, "/capabilities/host/topology/cells/cell");
    int i;

    *nnodes = 0;
    for (i = 0; cells && i < cells->nodesetval->nodeNr; i++) {
        xmlNode *cell = cells->nodesetval->nodeTab[i];
        g_autoptr(xmlXPathObject) cpus = NULL;
        gint node;
        int j;

        if (!read_id(cell, "id", TOPO_NONE, G_MAXINT, &node, error))
            return FALSE;
        x->node = cell;
        cpus = xml_nodes(x, "cpus/cpu");
        if (!cpus)
            continue;
        (*nnodes)++;
        for (j = 0; j < cpus->nodesetval->nodeNr; j++)
            if (!read_cpu(cpus->nodesetval->nodeTab[j], node, entries, error))
                return FALSE;
    }
    if (entries->len == 0) {
        g_set_error(error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_MISSING,
                    "capabilities list no CPUs under <topology><cells>");
        return FALSE;
    }
    return TRUE;
}

/* Cores are numbered by the lowest CPU among their SMT siblings, which
 * names a core however the host numbers core_id across dies. */
static gboolean fill_cpus(Topology *t, const GArray *entries, GError **error)
{
    g_autoptr(GHashTable) cores = g_hash_table_new(NULL, NULL);
    g_autoptr(GHashTable) sockets = g_hash_table_new(NULL, NULL);
    guint i;

    for (i = 0; i < entries->len; i++)
        t->ncpus =
            MAX(t->ncpus, (guint)g_array_index(entries, CpuEntry, i).id + 1);
    t->cpus = g_new(TopoCpu, t->ncpus);
    for (i = 0; i < t->ncpus; i++)
        t->cpus[i] = (TopoCpu){FALSE,     TOPO_NONE, TOPO_NONE, TOPO_NONE,
                               TOPO_NONE, TOPO_NONE, 0};
    for (i = 0; i < entries->len; i++) {
        const CpuEntry *e = &g_array_index(entries, CpuEntry, i);
        TopoCpu *c = &t->cpus[e->id];
        gpointer key;
        gpointer core;

        if (c->node != TOPO_NONE) {
            g_set_error(error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_INVALID,
                        "capabilities list CPU %d twice", e->id);
            return FALSE;
        }
        c->node = e->node;
        if (!e->siblings) {
            t->nundescribed++;
            continue;
        }
        c->described = TRUE;
        c->socket = e->socket;
        c->die = e->die;
        c->threads = e->siblings->len;
        key = GUINT_TO_POINTER(g_array_index(e->siblings, guint, 0) + 1);
        if (!g_hash_table_lookup_extended(cores, key, NULL, &core)) {
            core = GUINT_TO_POINTER(g_hash_table_size(cores));
            g_hash_table_insert(cores, key, core);
        }
        c->core = (gint)GPOINTER_TO_UINT(core);
        g_hash_table_add(sockets, GINT_TO_POINTER(e->socket + 1));
    }
    t->ncores = g_hash_table_size(cores);
    t->nsockets = g_hash_table_size(sockets);
    return TRUE;
}

/* The banks of the highest cache level: CPUs sharing one share the cache
 * that matters most for a guest's working set. */
static gboolean read_caches(xmlXPathContext *x, Topology *t, GError **error)
{
    g_autoptr(xmlXPathObject) banks = NULL;
    int i;

    x->node = NULL;
    banks = xml_nodes(x, "/capabilities/host/cache/bank");
    for (i = 0; banks && i < banks->nodesetval->nodeNr; i++) {
        gint level;

        if (!read_id(banks->nodesetval->nodeTab[i], "level", TOPO_NONE, 16,
                     &level, error))
            return FALSE;
        t->cache_level = MAX(t->cache_level, (guint)level);
    }
    for (i = 0; banks && i < banks->nodesetval->nodeNr; i++) {
        xmlNode *n = banks->nodesetval->nodeTab[i];
        g_autofree char *level = xml_attr(n, "level");
        g_autofree char *text = NULL;
        g_autoptr(GArray) ids = NULL;
        g_autoptr(GError) err = NULL;
        guint k;

        if ((guint)g_ascii_strtoull(level, NULL, 10) != t->cache_level)
            continue;
        text = xml_attr(n, "cpus");
        ids = text ? cpuset_parse(text, &err) : NULL;
        if (!ids) {
            g_set_error(error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_INVALID,
                        "capabilities: cache bank cpus '%s'%s%s",
                        text ? text : "", err ? ": " : "",
                        err ? err->message : "");
            return FALSE;
        }
        for (k = 0; k < ids->len; k++) {
            guint c = g_array_index(ids, guint, k);

            /* A bank may name offline CPUs the cells leave out. */
            if (c >= t->ncpus)
                continue;
            if (t->cpus[c].cache != TOPO_NONE) {
                g_set_error(error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_INVALID,
                            "capabilities: CPU %u is in two L%u cache banks", c,
                            t->cache_level);
                return FALSE;
            }
            t->cpus[c].cache = (gint)t->ncaches;
        }
        t->ncaches++;
    }
    return TRUE;
}

Topology *topology_from_capabilities(const char *caps_xml, GError **error)
{
    g_autoptr(Topology) t = g_atomic_rc_box_new0(Topology);
    g_autoptr(GArray) entries = g_array_new(FALSE, TRUE, sizeof(CpuEntry));
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) x = NULL;
    g_autoptr(GError) err = NULL;

    g_array_set_clear_func(entries, cpu_entry_clear);
    doc = xml_read_doc(caps_xml, "capabilities", &err);
    if (!doc) {
        g_set_error(error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_XML,
                    "capabilities %s", err->message);
        return NULL;
    }
    x = xmlXPathNewContext(doc);
    if (!x) {
        g_set_error(error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_XML,
                    "cannot allocate an XPath context");
        return NULL;
    }
    if (!read_cells(x, entries, &t->nnodes, error) ||
        !fill_cpus(t, entries, error) || !read_caches(x, t, error))
        return NULL;
    return g_steal_pointer(&t);
}

char *topology_describe(const Topology *t)
{
    GString *s = g_string_new(NULL);
    guint described = t->ncpus;
    guint threads = 0;
    guint i;

    for (i = 0; i < t->ncpus; i++) {
        if (!t->cpus[i].described)
            described--;
        threads = MAX(threads, t->cpus[i].threads);
    }
    g_string_append_printf(
        s, "%u NUMA node%s, %u socket%s, %u core%s, %u CPU%s", t->nnodes,
        t->nnodes == 1 ? "" : "s", t->nsockets, t->nsockets == 1 ? "" : "s",
        t->ncores, t->ncores == 1 ? "" : "s", described,
        described == 1 ? "" : "s");
    if (threads > 1)
        g_string_append_printf(s, " (%u SMT threads a core)", threads);
    if (t->cache_level)
        g_string_append_printf(s, ", %u L%u cache%s", t->ncaches,
                               t->cache_level, t->ncaches == 1 ? "" : "s");
    if (t->nundescribed)
        g_string_append_printf(s, ", %u CPU%s without topology (offline)",
                               t->nundescribed,
                               t->nundescribed == 1 ? "" : "s");
    return g_string_free(s, FALSE);
}
