/* snapshot_dump: prints one snapshot, exactly as the daemons see it, as
 * JSON on stdout.  Tests and operators use it to check what libvirt
 * reports without running a daemon.
 *
 * Exit status (aos-exit-status(7)): 0 printed, 1 the snapshot failed, 2 bad
 * command line, 4 libvirt unreachable. */
#include <stdio.h>

#include "collect.h"
#include "exit_codes.h"
#include "json_out.h"

static void add_vcpus(JsonBuilder *b, const Snapshot *snap,
                      const DomainSample *d)
{
    gsize maplen = snapshot_maplen(snap);
    guint i;
    guint c;

    json_builder_set_member_name(b, "vcpus");
    json_builder_begin_array(b);
    for (i = 0; i < d->nvcpus; i++) {
        const VcpuSample *v = &d->vcpus[i];
        json_builder_begin_object(b);
        json_add_int(b, "number", v->number);
        json_add_int(b, "state", v->state);
        json_add_int(b, "time_ns", (gint64)v->time_ns);
        if (v->has_delay)
            json_add_int(b, "delay_ns", (gint64)v->delay_ns);
        json_add_int(b, "last_pcpu", v->last_pcpu);
        json_builder_set_member_name(b, "affinity");
        json_builder_begin_array(b);
        for (c = 0; c < snap->node.npcpus; c++)
            if (cpumap_has(v->cpumap, maplen, c))
                json_builder_add_int_value(b, c);
        json_builder_end_array(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

static void add_balloon(JsonBuilder *b, const DomainSample *d)
{
    const BalloonStats *s = &d->balloon;

    if (!d->has_balloon_stats) {
        json_add_null(b, "balloon");
        return;
    }
    json_builder_set_member_name(b, "balloon");
    json_builder_begin_object(b);
    json_add_int(b, "actual_kib", (gint64)s->actual_kib);
    json_add_int(b, "unused_kib", (gint64)s->unused_kib);
    if (s->present & BALLOON_HAS_AVAILABLE)
        json_add_int(b, "available_kib", (gint64)s->available_kib);
    if (s->present & BALLOON_HAS_USABLE)
        json_add_int(b, "usable_kib", (gint64)s->usable_kib);
    if (s->present & BALLOON_HAS_RSS)
        json_add_int(b, "rss_kib", (gint64)s->rss_kib);
    if (s->present & BALLOON_HAS_LAST_UPDATE)
        json_add_int(b, "last_update", s->last_update);
    json_builder_end_object(b);
}

/* Per CPU id its node, socket, core and cache index (null for a CPU
 * listed without topology), and the whole in one line. */
static void add_topology(JsonBuilder *b, const Snapshot *snap)
{
    const Topology *t = snap->topology;
    g_autofree char *line = NULL;
    guint i;

    json_builder_set_member_name(b, "topology");
    if (!t) {
        json_builder_begin_object(b);
        json_add_str(b, "problem", snap->topology_problem);
        json_builder_end_object(b);
        return;
    }
    line = topology_describe(t);
    json_builder_begin_object(b);
    json_add_str(b, "summary", line);
    json_builder_set_member_name(b, "cpus");
    json_builder_begin_array(b);
    for (i = 0; i < t->ncpus; i++) {
        const TopoCpu *c = &t->cpus[i];

        if (!c->described && c->node == TOPO_NONE)
            continue;
        json_builder_begin_object(b);
        json_add_int(b, "id", i);
        json_add_int(b, "node", c->node);
        if (c->described) {
            json_add_int(b, "socket", c->socket);
            json_add_int(b, "die", c->die);
            json_add_int(b, "core", c->core);
            json_add_int(b, "threads", c->threads);
            if (c->cache != TOPO_NONE)
                json_add_int(b, "cache", c->cache);
        }
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
}

static JsonBuilder *snapshot_to_json(const Snapshot *snap)
{
    JsonBuilder *b = json_builder_new();
    guint i;

    json_builder_begin_object(b);
    json_add_int(b, "wall_us", snap->wall_us);
    json_add_int(b, "mono_us", snap->mono_us);
    json_add_bool(b, "bulk", snap->bulk);
    json_add_int(b, "rpc_calls", snap->rpc_calls);
    json_builder_set_member_name(b, "node");
    json_builder_begin_object(b);
    json_add_int(b, "npcpus", snap->node.npcpus);
    json_builder_set_member_name(b, "online");
    json_builder_begin_array(b);
    for (i = 0; i < snap->node.npcpus; i++)
        if (snapshot_cpu_online(snap, i))
            json_builder_add_int_value(b, i);
    json_builder_end_array(b);
    json_add_int(b, "total_kib", (gint64)snap->node.total_kib);
    json_add_int(b, "free_kib", (gint64)snap->node.free_kib);
    json_add_int(b, "cells_free_kib", (gint64)snap->node.cells_free_kib);
    json_builder_end_object(b);
    add_topology(b, snap);
    json_builder_set_member_name(b, "domains");
    json_builder_begin_array(b);
    for (i = 0; i < snap->domains->len; i++) {
        const DomainSample *d = g_ptr_array_index(snap->domains, i);
        json_builder_begin_object(b);
        json_add_str(b, "name", d->name);
        json_add_str(b, "uuid", d->uuid);
        json_add_int(b, "state", d->state);
        json_add_int(b, "cur_kib", (gint64)d->cur_kib);
        json_add_int(b, "max_kib", (gint64)d->max_kib);
        add_balloon(b, d);
        add_vcpus(b, snap, d);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return b;
}

int main(int argc, char **argv)
{
    g_autofree char *uri = NULL;
    gboolean per_domain = FALSE;
    GOptionEntry entries[] = {
        {"uri", 'c', 0, G_OPTION_ARG_STRING, &uri,
         "libvirt URI (default qemu:///system)", "URI"},
        {"per-domain", 0, 0, G_OPTION_ARG_NONE, &per_domain,
         "skip the bulk stats call (to compare both paths)", NULL},
        {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(Conn) conn = NULL;
    g_autoptr(Snapshot) snap = NULL;
    g_autoptr(JsonBuilder) json = NULL;
    g_autofree char *exits = exit_codes_help();
    g_autofree char *text = NULL;

    g_option_context_set_summary(ctx, "Prints one snapshot of the guests as "
                                      "JSON.");
    g_option_context_set_description(ctx, exits);
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err) || argc > 1) {
        g_printerr("snapshot_dump: %s\n",
                   err ? err->message : "unexpected argument");
        return EXIT_USAGE;
    }
    conn = conn_new(uri ? uri : "qemu:///system", TRUE);
    if (!conn_open_now(conn, &err)) {
        g_printerr("snapshot_dump: %s\n", err->message);
        return EXIT_LIBVIRT;
    }
    conn->bulk_unsupported = per_domain;
    snap = snapshot_collect(conn,
                            COLLECT_VCPU | COLLECT_AFFINITY | COLLECT_BALLOON |
                                COLLECT_NODE_MEMORY | COLLECT_NODE_CELLS |
                                COLLECT_TOPOLOGY,
                            &err);
    if (!snap) {
        g_printerr("snapshot_dump: %s\n", err->message);
        return EXIT_RUNTIME;
    }
    json = snapshot_to_json(snap);
    text = json_builder_text(json, TRUE);
    printf("%s\n", text);
    return EXIT_OK;
}
