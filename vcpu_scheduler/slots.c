#include "slots.h"

#include <string.h>

#include "cpuset.h"

/* Two SMT threads of one core together do about 1.15 times the work of
 * one thread alone: Linux's scheduler credited an SMT domain with
 * smt_gain = 1178/1024 of a thread's capacity ("15% gain", sd_init() in
 * kernel/sched/topology.c until 4.19), within Intel's published range of
 * "up to 30%" for Hyper-Threading (Marr et al., Intel Technology Journal
 * 6(1), 2002).  So two busy vCPUs on the threads of one core each run at
 * about 58 % of what a core of their own gives them.  More threads (SMT4
 * and up) are taken to add the same gain each, which overstates them
 * rather than packing more work onto a core than it has. */
#define SMT_GAIN_PER_THREAD 0.15

double smt_core_capacity(guint threads)
{
    if (threads == 0)
        return 0;
    return 100.0 * (1.0 + SMT_GAIN_PER_THREAD * (double)(threads - 1));
}

Granularity granularity_resolve(Granularity asked, guint usable)
{
    if (asked != GRAIN_AUTO)
        return asked;
    return usable <= SLOTS_AUTO_CPU_MAX ? GRAIN_CPU : GRAIN_CORE;
}

gboolean granularity_supported(const Topology *t, Granularity g, char **why)
{
    if (g == GRAIN_CPU || g == GRAIN_AUTO)
        return TRUE;
    if (!t) {
        *why = g_strdup("the host's capabilities give no CPU topology");
        return FALSE;
    }
    if (g == GRAIN_CACHE && t->ncaches == 0) {
        *why = g_strdup("the host's capabilities list no cache banks");
        return FALSE;
    }
    return TRUE;
}

/* The topology of CPU c, NULL when the host did not describe it. */
static const TopoCpu *topo_cpu(const Topology *t, guint c)
{
    if (!t || c >= t->ncpus || !t->cpus[c].described)
        return NULL;
    return &t->cpus[c];
}

/* The key of the group CPU c belongs to at granularity g; CPUs the
 * topology does not describe are groups of their own. */
static gint64 group_key(const Topology *t, Granularity g, guint c)
{
    const TopoCpu *tc = topo_cpu(t, c);
    gint64 own = -1 - (gint64)c;

    if (!tc)
        return own;
    switch (g) {
    case GRAIN_CORE:
        return tc->core;
    case GRAIN_CACHE:
        return tc->cache != TOPO_NONE ? tc->cache : own;
    case GRAIN_NODE:
        return tc->node;
    default:
        return own;
    }
}

/* Capacity of each slot, and at cpu granularity the cores whose threads
 * several slots share. */
static void fill_capacity(Slots *s, const Topology *t)
{
    g_autoptr(GHashTable) cores = g_hash_table_new(NULL, NULL);
    g_autoptr(GHashTable) core_index = g_hash_table_new(NULL, NULL);
    g_autoptr(GArray) caps = g_array_new(FALSE, TRUE, sizeof(double));
    guint k;
    guint i;

    for (k = 0; k < s->n; k++) {
        Slot *sl = &s->slot[k];

        /* Threads per core within this slot. */
        g_hash_table_remove_all(cores);
        sl->capacity = 0;
        sl->core = -1;
        for (i = 0; i < sl->cpus->len; i++) {
            const TopoCpu *tc = topo_cpu(t, g_array_index(sl->cpus, guint, i));
            gpointer key = GINT_TO_POINTER(tc ? tc->core + 1 : 0);

            if (!tc)
                sl->capacity += 100.0;
            else
                g_hash_table_insert(
                    cores, key,
                    GUINT_TO_POINTER(
                        GPOINTER_TO_UINT(g_hash_table_lookup(cores, key)) + 1));
        }
        {
            GHashTableIter it;
            gpointer v;

            g_hash_table_iter_init(&it, cores);
            while (g_hash_table_iter_next(&it, NULL, &v))
                sl->capacity += smt_core_capacity(GPOINTER_TO_UINT(v));
        }
    }
    if (s->grain != GRAIN_CPU || !t)
        return;
    /* Cores with two or more usable threads, each thread a slot. */
    g_hash_table_remove_all(cores);
    for (k = 0; k < s->n; k++) {
        const TopoCpu *tc =
            topo_cpu(t, g_array_index(s->slot[k].cpus, guint, 0));
        gpointer key;

        if (!tc)
            continue;
        key = GINT_TO_POINTER(tc->core + 1);
        g_hash_table_insert(
            cores, key,
            GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(cores, key)) +
                             1));
    }
    for (k = 0; k < s->n; k++) {
        const TopoCpu *tc =
            topo_cpu(t, g_array_index(s->slot[k].cpus, guint, 0));
        gpointer key;
        gpointer idx;
        guint threads;

        if (!tc)
            continue;
        key = GINT_TO_POINTER(tc->core + 1);
        threads = GPOINTER_TO_UINT(g_hash_table_lookup(cores, key));
        if (threads < 2)
            continue;
        if (!g_hash_table_lookup_extended(core_index, key, NULL, &idx)) {
            double cap = smt_core_capacity(threads);

            idx = GUINT_TO_POINTER(caps->len);
            g_hash_table_insert(core_index, key, idx);
            g_array_append_val(caps, cap);
        }
        s->slot[k].core = (gint)GPOINTER_TO_UINT(idx);
    }
    s->ncores = caps->len;
    s->core_capacity = (double *)g_array_free(g_steal_pointer(&caps), FALSE);
}

/* Dense node numbers; a slot whose CPUs span nodes (or are not
 * described) has none. */
static void fill_nodes(Slots *s, const Topology *t)
{
    g_autoptr(GHashTable) index = g_hash_table_new(NULL, NULL);
    guint k;
    guint i;

    for (k = 0; k < s->n; k++) {
        Slot *sl = &s->slot[k];
        gint node = TOPO_NONE;
        gpointer idx;

        for (i = 0; i < sl->cpus->len; i++) {
            const TopoCpu *tc = topo_cpu(t, g_array_index(sl->cpus, guint, i));
            gint n = tc ? tc->node : TOPO_NONE;

            if (i == 0)
                node = n;
            else if (n != node)
                node = TOPO_NONE;
        }
        sl->node = -1;
        if (node == TOPO_NONE)
            continue;
        if (!g_hash_table_lookup_extended(index, GINT_TO_POINTER(node + 1),
                                          NULL, &idx)) {
            idx = GUINT_TO_POINTER(g_hash_table_size(index));
            g_hash_table_insert(index, GINT_TO_POINTER(node + 1), idx);
        }
        sl->node = (gint)GPOINTER_TO_UINT(idx);
    }
    s->nnodes = g_hash_table_size(index);
    s->node_capacity = g_new0(double, s->nnodes ? s->nnodes : 1);
    s->node_slots = g_new0(guint, s->nnodes ? s->nnodes : 1);
    for (k = 0; k < s->n; k++) {
        if (s->slot[k].node >= 0) {
            s->node_capacity[s->slot[k].node] += s->slot[k].capacity;
            s->node_slots[s->slot[k].node]++;
        }
    }
}

Slots *slots_build(const Snapshot *snap, const GArray *excluded,
                   Granularity asked)
{
    Slots *s = g_new0(Slots, 1);
    const Topology *t = snap->topology;
    g_autoptr(GHashTable) groups =
        g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    g_autoptr(GArray) slots = g_array_new(FALSE, TRUE, sizeof(Slot));
    guint usable = 0;
    guint c;

    s->npcpus = snap->node.npcpus;
    s->slot_of = g_new(gint, s->npcpus ? s->npcpus : 1);
    for (c = 0; c < s->npcpus; c++) {
        s->slot_of[c] = -1;
        usable += snapshot_cpu_online(snap, c) && !cpuset_has(excluded, c);
    }
    s->grain = granularity_resolve(asked, usable);
    if (!granularity_supported(t, s->grain, &s->fallback))
        s->grain = GRAIN_CPU;
    for (c = 0; c < s->npcpus; c++) {
        gint64 key;
        gpointer idx;

        if (!snapshot_cpu_online(snap, c) || cpuset_has(excluded, c))
            continue;
        key = group_key(t, s->grain, c);
        if (!g_hash_table_lookup_extended(groups, &key, NULL, &idx)) {
            Slot sl = {.cpus = g_array_new(FALSE, FALSE, sizeof(guint))};

            idx = GUINT_TO_POINTER(slots->len);
            g_hash_table_insert(groups, g_memdup2(&key, sizeof(key)), idx);
            g_array_append_val(slots, sl);
        }
        s->slot_of[c] = (gint)GPOINTER_TO_UINT(idx);
        g_array_append_val(g_array_index(slots, Slot, s->slot_of[c]).cpus, c);
    }
    s->n = slots->len;
    s->slot = (Slot *)g_array_free(g_steal_pointer(&slots), FALSE);
    fill_capacity(s, t);
    fill_nodes(s, t);
    return s;
}

void slots_free(Slots *s)
{
    guint k;

    if (!s)
        return;
    for (k = 0; k < s->n; k++)
        g_array_unref(s->slot[k].cpus);
    g_free(s->slot);
    g_free(s->slot_of);
    g_free(s->core_capacity);
    g_free(s->node_capacity);
    g_free(s->node_slots);
    g_free(s->fallback);
    g_free(s);
}

gint slots_match(const Slots *s, const guint8 *map, gsize maplen)
{
    gint k = -1;
    guint seen = 0;
    guint c;

    for (c = 0; c < s->npcpus; c++) {
        if (!cpumap_has(map, maplen, c))
            continue;
        if (s->slot_of[c] < 0 || (k >= 0 && s->slot_of[c] != k))
            return -1;
        k = s->slot_of[c];
        seen++;
    }
    return k >= 0 && seen == s->slot[k].cpus->len ? k : -1;
}

char *slots_label(const Slots *s, guint k)
{
    const GArray *cpus = s->slot[k].cpus;
    GString *out = g_string_new(NULL);
    guint i = 0;

    /* Runs of consecutive ids as ranges, as libvirt writes cpusets. */
    while (i < cpus->len) {
        guint first = g_array_index(cpus, guint, i);
        guint last = first;

        while (i + 1 < cpus->len &&
               g_array_index(cpus, guint, i + 1) == last + 1)
            last = g_array_index(cpus, guint, ++i);
        i++;
        if (out->len)
            g_string_append_c(out, ',');
        if (last == first)
            g_string_append_printf(out, "%u", first);
        else
            g_string_append_printf(out, "%u-%u", first, last);
    }
    return g_string_free(out, FALSE);
}
