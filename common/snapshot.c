#include "snapshot.h"

#include <string.h>

static void domain_sample_free(gpointer data)
{
    DomainSample *d = data;
    guint i;

    if (!d)
        return;
    for (i = 0; i < d->nvcpus; i++)
        g_free(d->vcpus[i].cpumap);
    g_free(d->vcpus);
    g_free(d->name);
    g_free(d);
}

Snapshot *snapshot_new(void)
{
    Snapshot *snap = g_new0(Snapshot, 1);

    snap->domains = g_ptr_array_new_with_free_func(domain_sample_free);
    return snap;
}

void snapshot_free(Snapshot *snap)
{
    if (!snap)
        return;
    g_ptr_array_unref(snap->domains);
    g_free(snap->node.online);
    g_free(snap);
}

gsize snapshot_maplen(const Snapshot *snap)
{
    guint n = snap->node.npcpus ? snap->node.npcpus : 1;

    return VIR_CPU_MAPLEN(n);
}

gboolean snapshot_cpu_online(const Snapshot *snap, guint cpu)
{
    if (cpu >= snap->node.npcpus)
        return FALSE;
    return !snap->node.online ||
           cpumap_has(snap->node.online, snapshot_maplen(snap), cpu);
}

guint snapshot_online_count(const Snapshot *snap)
{
    if (!snap->node.online)
        return snap->node.npcpus;
    return cpumap_count(snap->node.online, snapshot_maplen(snap),
                        snap->node.npcpus);
}

DomainSample *snapshot_add_domain(Snapshot *snap, const char *uuid,
                                  const char *name, guint nvcpus)
{
    DomainSample *d = g_new0(DomainSample, 1);
    gsize maplen = snapshot_maplen(snap);
    guint i;

    g_strlcpy(d->uuid, uuid ? uuid : "", sizeof(d->uuid));
    d->name = g_strdup(name ? name : d->uuid);
    d->nvcpus = nvcpus;
    d->vcpus = g_new0(VcpuSample, nvcpus ? nvcpus : 1);
    for (i = 0; i < nvcpus; i++) {
        d->vcpus[i].number = i;
        d->vcpus[i].last_pcpu = -1;
        d->vcpus[i].cpumap = g_malloc0(maplen);
    }
    g_ptr_array_add(snap->domains, d);
    return d;
}

const DomainSample *snapshot_find(const Snapshot *snap, const char *uuid)
{
    guint i;

    for (i = 0; i < snap->domains->len; i++) {
        const DomainSample *d = g_ptr_array_index(snap->domains, i);
        if (strcmp(d->uuid, uuid) == 0)
            return d;
    }
    return NULL;
}

gboolean cpumap_has(const guint8 *map, gsize maplen, guint cpu)
{
    if (!map || cpu / 8 >= maplen)
        return FALSE;
    return (map[cpu / 8] >> (cpu % 8)) & 1;
}

void cpumap_set(guint8 *map, gsize maplen, guint cpu)
{
    if (map && cpu / 8 < maplen)
        map[cpu / 8] |= (guint8)(1u << (cpu % 8));
}

guint cpumap_count(const guint8 *map, gsize maplen, guint npcpus)
{
    guint n = 0;
    guint c;

    for (c = 0; c < npcpus; c++)
        n += cpumap_has(map, maplen, c);
    return n;
}

gint cpumap_single(const guint8 *map, gsize maplen, guint npcpus)
{
    gint found = -1;
    guint c;

    for (c = 0; c < npcpus; c++) {
        if (!cpumap_has(map, maplen, c))
            continue;
        if (found >= 0)
            return -1;
        found = (gint)c;
    }
    return found;
}
