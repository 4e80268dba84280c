#include "snapshot.h"

#include <stddef.h>
#include <string.h>

double kib_to_mib(guint64 kib)
{
    return (double)kib / 1024.0;
}

/* Each figure a guest's balloon driver reports, under its name in the
 * bulk stats and its tag in virDomainMemoryStats. */
typedef struct {
    const char *param;
    int tag;
    guint32 bit;
    size_t offset; /* of a 64-bit field of BalloonStats */
} BalloonFigure;

#define BF(p, t, b, f)                                                         \
    {                                                                          \
        p, t, b, offsetof(BalloonStats, f)                                     \
    }
static const BalloonFigure balloon_fields[] = {
    BF("balloon.current", VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON,
       BALLOON_HAS_ACTUAL, actual_kib),
    BF("balloon.unused", VIR_DOMAIN_MEMORY_STAT_UNUSED, BALLOON_HAS_UNUSED,
       unused_kib),
    BF("balloon.available", VIR_DOMAIN_MEMORY_STAT_AVAILABLE,
       BALLOON_HAS_AVAILABLE, available_kib),
    BF("balloon.usable", VIR_DOMAIN_MEMORY_STAT_USABLE, BALLOON_HAS_USABLE,
       usable_kib),
    BF("balloon.rss", VIR_DOMAIN_MEMORY_STAT_RSS, BALLOON_HAS_RSS, rss_kib),
    BF("balloon.disk_caches", VIR_DOMAIN_MEMORY_STAT_DISK_CACHES,
       BALLOON_HAS_DISK_CACHES, disk_caches_kib),
    BF("balloon.major_fault", VIR_DOMAIN_MEMORY_STAT_MAJOR_FAULT,
       BALLOON_HAS_MAJOR_FAULT, major_fault),
    BF("balloon.minor_fault", VIR_DOMAIN_MEMORY_STAT_MINOR_FAULT,
       BALLOON_HAS_MINOR_FAULT, minor_fault),
    BF("balloon.swap_in", VIR_DOMAIN_MEMORY_STAT_SWAP_IN, BALLOON_HAS_SWAP_IN,
       swap_in_kib),
    BF("balloon.swap_out", VIR_DOMAIN_MEMORY_STAT_SWAP_OUT,
       BALLOON_HAS_SWAP_OUT, swap_out_kib),
    BF("balloon.last-update", VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE,
       BALLOON_HAS_LAST_UPDATE, last_update),
};

static void balloon_set(BalloonStats *b, const BalloonFigure *f, guint64 v)
{
    /* last_update is the one signed field; the stamp fits either way. */
    memcpy((char *)b + f->offset, &v, sizeof(v));
    b->present |= f->bit;
}

void balloon_stats_from_memory_stats(BalloonStats *b,
                                     const virDomainMemoryStatStruct *stats,
                                     int n)
{
    int i;
    guint k;

    for (i = 0; i < n; i++) {
        for (k = 0; k < G_N_ELEMENTS(balloon_fields); k++) {
            if (stats[i].tag == balloon_fields[k].tag)
                balloon_set(b, &balloon_fields[k], stats[i].val);
        }
    }
}

gboolean balloon_stats_take_param(BalloonStats *b, const char *field,
                                  guint64 value)
{
    guint k;

    for (k = 0; k < G_N_ELEMENTS(balloon_fields); k++) {
        if (strcmp(field, balloon_fields[k].param) == 0) {
            balloon_set(b, &balloon_fields[k], value);
            return TRUE;
        }
    }
    return FALSE;
}

static void domain_sample_free(gpointer data)
{
    DomainSample *d = data;
    guint i;

    if (!d)
        return;
    for (i = 0; i < d->nvcpus; i++)
        g_free(d->vcpus[i].cpumap);
    g_free(d->vcpus);
    if (d->definition)
        g_ref_string_release(d->definition);
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
    topology_unref(snap->topology);
    g_free(snap->topology_problem);
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

gboolean domain_sample_live(const DomainSample *d)
{
    return d->state == VIR_DOMAIN_RUNNING || d->state == VIR_DOMAIN_BLOCKED;
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
