#include "topo_sim.h"

#include <math.h>
#include <string.h>

#include "../../vcpu_scheduler/actions.h"
#include "../../vcpu_scheduler/assign.h"
#include "../../vcpu_scheduler/slots.h"
#include "cpuset.h"

static guint cpu_id(const SimShape *s, guint node, guint core, guint thread)
{
    return thread * s->nodes * s->cores + node * s->cores + core;
}

char *sim_caps_xml(const SimShape *s, const GArray *offline)
{
    GString *x = g_string_new("<capabilities><host>"
                              "<uuid>5a1e0000-0000-4000-8000-000000000001"
                              "</uuid><topology><cells num='");
    guint n, c, t;

    g_string_append_printf(x, "%u'>", s->nodes);
    for (n = 0; n < s->nodes; n++) {
        g_string_append_printf(x, "<cell id='%u'><cpus num='%u'>", n,
                               s->cores * s->threads);
        for (c = 0; c < s->cores; c++) {
            g_autoptr(GString) sib = g_string_new(NULL);

            for (t = 0; t < s->threads; t++) {
                guint id = cpu_id(s, n, c, t);

                if (cpuset_has(offline, id))
                    continue;
                g_string_append_printf(sib, "%s%u", sib->len ? "," : "", id);
            }
            for (t = 0; t < s->threads; t++) {
                guint id = cpu_id(s, n, c, t);

                if (cpuset_has(offline, id))
                    g_string_append_printf(x, "<cpu id='%u'/>", id);
                else
                    g_string_append_printf(
                        x,
                        "<cpu id='%u' socket_id='%u' die_id='0' "
                        "core_id='%u' siblings='%s'/>",
                        id, n, c, sib->str);
            }
        }
        g_string_append(x, "</cpus></cell>");
    }
    g_string_append(x, "</cells></topology>");
    if (s->caches) {
        g_string_append(x, "<cache>");
        for (n = 0; n < s->nodes; n++) {
            g_autoptr(GString) cpus = g_string_new(NULL);

            for (t = 0; t < s->threads; t++)
                for (c = 0; c < s->cores; c++)
                    g_string_append_printf(cpus, "%s%u", cpus->len ? "," : "",
                                           cpu_id(s, n, c, t));
            g_string_append_printf(x,
                                   "<bank id='%u' level='3' type='both' "
                                   "size='32' unit='MiB' cpus='%s'/>",
                                   n, cpus->str);
        }
        g_string_append(x, "</cache>");
    }
    g_string_append(x, "</host></capabilities>");
    return g_string_free(x, FALSE);
}

SimHost *sim_host_new(const char *caps_xml, const GArray *offline, guint32 seed)
{
    SimHost *h = g_new0(SimHost, 1);
    g_autoptr(GError) err = NULL;
    guint c;

    h->topo = topology_from_capabilities(caps_xml, &err);
    g_assert_no_error(err);
    h->npcpus = h->topo->ncpus;
    h->maplen = VIR_CPU_MAPLEN(h->npcpus);
    if (offline && offline->len) {
        h->online = g_malloc0(h->maplen);
        for (c = 0; c < h->npcpus; c++)
            if (!cpuset_has(offline, c))
                cpumap_set(h->online, h->maplen, c);
    }
    h->guests = g_array_new(FALSE, TRUE, sizeof(SimGuest));
    h->vcpus = g_array_new(FALSE, TRUE, sizeof(SimVcpu));
    h->mono_us = 9000000;
    h->rand = g_rand_new_with_seed(seed);
    return h;
}

void sim_host_free(SimHost *h)
{
    guint i;

    if (!h)
        return;
    for (i = 0; i < h->guests->len; i++) {
        SimGuest *g = &g_array_index(h->guests, SimGuest, i);

        g_free(g->name);
        if (g->definition)
            g_ref_string_release(g->definition);
    }
    for (i = 0; i < h->vcpus->len; i++)
        g_free(g_array_index(h->vcpus, SimVcpu, i).affinity);
    g_array_unref(h->guests);
    g_array_unref(h->vcpus);
    topology_unref(h->topo);
    g_free(h->online);
    g_rand_free(h->rand);
    g_free(h);
}

static gboolean online(const SimHost *h, guint c)
{
    return !h->online || cpumap_has(h->online, h->maplen, c);
}

void sim_add_guest(SimHost *h, guint n, const double *demand,
                   const char *definition)
{
    SimGuest g = {.first = h->vcpus->len, .n = n};
    guint i;
    guint c;

    g.name = g_strdup_printf("g%u", h->guests->len);
    g_snprintf(g.uuid, sizeof(g.uuid), "5a1e0000-0000-4000-8000-%012x",
               h->guests->len);
    g.definition = definition ? g_ref_string_new(definition) : NULL;
    for (i = 0; i < n; i++) {
        SimVcpu v = {.guest = h->guests->len,
                     .number = i,
                     .demand = demand[i],
                     .last = -1,
                     .time_ns = 1000000000ULL,
                     .delay_ns = 100000000ULL};

        v.affinity = g_malloc0(h->maplen);
        for (c = 0; c < h->npcpus; c++)
            if (online(h, c))
                cpumap_set(v.affinity, h->maplen, c);
        g_array_append_val(h->vcpus, v);
    }
    g_array_append_val(h->guests, g);
}

static gint core_of(const SimHost *h, guint c)
{
    const TopoCpu *t = c < h->topo->ncpus ? &h->topo->cpus[c] : NULL;

    return t && t->described ? t->core : -1;
}

static gint by_demand_desc(gconstpointer a, gconstpointer b, gpointer data)
{
    const SimVcpu *v = data;
    guint i = *(const guint *)a;
    guint j = *(const guint *)b;

    if (v[i].demand != v[j].demand)
        return v[i].demand > v[j].demand ? -1 : 1;
    return i < j ? -1 : i > j;
}

/* The CPU the kernel model puts v (wanting w) on, given the demand placed
 * so far: where it ran before while that CPU still has room for it, else
 * the least loaded. */
static gint kernel_pick(const SimHost *h, const SimVcpu *v, double w,
                        const double *cpu, const double *core)
{
    gint best = -1;
    guint c;

    if (v->last >= 0 && online(h, (guint)v->last) &&
        cpumap_has(v->affinity, h->maplen, (guint)v->last) &&
        cpu[v->last] + w <= 100.0 + 1e-9)
        return v->last;

    for (c = 0; c < h->npcpus; c++) {
        gint kc;
        gint kb;

        if (!online(h, c) || !cpumap_has(v->affinity, h->maplen, c))
            continue;
        if (best < 0) {
            best = (gint)c;
            continue;
        }
        kc = core_of(h, c);
        kb = core_of(h, (guint)best);
        if (cpu[c] < cpu[best] - 1e-9)
            best = (gint)c;
        else if (cpu[c] <= cpu[best] + 1e-9) {
            double cc = kc >= 0 ? core[kc] : cpu[c];
            double cb = kb >= 0 ? core[kb] : cpu[best];

            if (cc < cb - 1e-9 || (cc <= cb + 1e-9 && (gint)c == v->last))
                best = (gint)c;
        }
    }
    return best;
}

/* Max-min fair shares of 100 among the demands d[0..n-1] into r. */
static void fair_share(const double *d, guint n, double *r)
{
    g_autofree gboolean *done = g_new0(gboolean, n ? n : 1);
    double left = 100;
    guint open = n;
    guint i;

    while (open > 0) {
        double each = left / open;
        gboolean any = FALSE;

        for (i = 0; i < n; i++) {
            if (!done[i] && d[i] <= each) {
                r[i] = d[i];
                left -= d[i];
                done[i] = TRUE;
                open--;
                any = TRUE;
            }
        }
        if (!any) {
            for (i = 0; i < n; i++)
                if (!done[i])
                    r[i] = each;
            return;
        }
    }
}

void sim_run(SimHost *h, gint64 wall_us)
{
    guint nv = h->vcpus->len;
    SimVcpu *v = (SimVcpu *)h->vcpus->data;
    g_autofree double *cpu = g_new0(double, h->npcpus + 1);
    g_autofree double *core = g_new0(double, h->topo->ncores + 1);
    g_autofree double *core_ran = g_new0(double, h->topo->ncores + 1);
    g_autofree guint *core_threads = g_new0(guint, h->topo->ncores + 1);
    g_autofree double *want = g_new0(double, nv + 1);
    g_autofree guint *order = g_new0(guint, nv + 1);
    guint i;
    guint c;

    for (i = 0; i < nv; i++) {
        double d = v[i].demand;

        if (h->noise > 0 && d > 1)
            d += g_rand_double_range(h->rand, -h->noise, h->noise);
        want[i] = CLAMP(d, 0, 100);
        order[i] = i;
    }
    g_qsort_with_data(order, (gint)nv, sizeof(guint), by_demand_desc, v);
    for (i = 0; i < nv; i++) {
        SimVcpu *x = &v[order[i]];
        gint at = kernel_pick(h, x, want[order[i]], cpu, core);

        x->last = at;
        if (at < 0)
            continue;
        cpu[at] += want[order[i]];
        if (core_of(h, (guint)at) >= 0)
            core[core_of(h, (guint)at)] += want[order[i]];
    }
    /* Each CPU's time, shared. */
    for (c = 0; c < h->npcpus; c++) {
        g_autoptr(GArray) on = g_array_new(FALSE, FALSE, sizeof(guint));
        g_autofree double *d = NULL;
        g_autofree double *r = NULL;
        gint k = core_of(h, c);
        double sum = 0;

        for (i = 0; i < nv; i++)
            if (v[i].last == (gint)c)
                g_array_append_val(on, i);
        d = g_new0(double, on->len + 1);
        r = g_new0(double, on->len + 1);
        for (i = 0; i < on->len; i++)
            d[i] = want[g_array_index(on, guint, i)];
        fair_share(d, on->len, r);
        for (i = 0; i < on->len; i++) {
            v[g_array_index(on, guint, i)].ran = r[i];
            sum += r[i];
        }
        if (k >= 0 && sum > 0) {
            core_ran[k] += sum;
            core_threads[k]++;
        }
    }
    for (i = 0; i < nv; i++) {
        gint k = v[i].last >= 0 ? core_of(h, (guint)v[i].last) : -1;
        double factor = 1;
        double waited;

        if (v[i].last < 0)
            v[i].ran = 0;
        if (k >= 0 && core_ran[k] > 0)
            factor = MIN(1.0, smt_core_capacity(core_threads[k]) / core_ran[k]);
        v[i].work = v[i].ran * factor;
        waited = want[i] > 0 ? 100.0 - 100.0 * v[i].ran / want[i] : 0;
        waited = CLAMP(waited, 0, 100 - v[i].ran);
        v[i].time_ns += (guint64)(v[i].ran / 100.0 * (double)wall_us * 1000.0);
        v[i].delay_ns += (guint64)(waited / 100.0 * (double)wall_us * 1000.0);
    }
    h->mono_us += wall_us;
}

Snapshot *sim_snapshot(const SimHost *h)
{
    Snapshot *snap = snapshot_new();
    gsize maplen;
    guint g;
    guint i;

    snap->mono_us = h->mono_us;
    snap->wall_us = h->mono_us;
    snap->node.npcpus = h->npcpus;
    snap->topology = topology_ref(h->topo);
    maplen = snapshot_maplen(snap);
    if (h->online)
        snap->node.online = g_memdup2(h->online, maplen);
    for (g = 0; g < h->guests->len; g++) {
        const SimGuest *sg = &g_array_index(h->guests, SimGuest, g);
        DomainSample *d = snapshot_add_domain(snap, sg->uuid, sg->name, sg->n);

        d->state = VIR_DOMAIN_RUNNING;
        d->persistent = TRUE;
        if (sg->definition) {
            snap->definitions = TRUE;
            d->definition = g_ref_string_acquire(sg->definition);
        }
        for (i = 0; i < sg->n; i++) {
            const SimVcpu *v = &g_array_index(h->vcpus, SimVcpu, sg->first + i);
            VcpuSample *vs = &d->vcpus[i];

            vs->number = i;
            vs->state = VIR_VCPU_RUNNING;
            vs->time_ns = v->time_ns;
            vs->delay_ns = v->delay_ns;
            vs->has_delay = TRUE;
            vs->last_pcpu = v->last;
            memcpy(vs->cpumap, v->affinity, maplen);
        }
    }
    /* A guest without a definition where others have one would read as
     * "could not be read": give it an empty one. */
    if (snap->definitions) {
        for (g = 0; g < snap->domains->len; g++) {
            DomainSample *d = g_ptr_array_index(snap->domains, g);

            if (!d->definition)
                d->definition = g_ref_string_new_intern("<domain/>");
        }
    }
    return snap;
}

guint sim_apply(SimHost *h, const Plan *plan)
{
    guint changed = 0;
    guint i;
    guint g;

    for (i = 0; i < plan_len(plan); i++) {
        const PinAction *a = pin_action_of(plan_get(plan, i));
        g_autofree guint8 *map = NULL;

        if (!a)
            continue;
        map = g_malloc0(h->maplen);
        if (a->to_cpus) {
            guint k;

            for (k = 0; k < a->to_cpus->len; k++)
                cpumap_set(map, h->maplen, g_array_index(a->to_cpus, guint, k));
        } else {
            cpumap_set(map, h->maplen, a->to_pcpu);
        }
        for (g = 0; g < h->guests->len; g++) {
            const SimGuest *sg = &g_array_index(h->guests, SimGuest, g);
            SimVcpu *v;

            if (strcmp(sg->uuid, a->base.uuid) != 0 || a->vcpu >= sg->n)
                continue;
            v = &g_array_index(h->vcpus, SimVcpu, sg->first + a->vcpu);
            if (memcmp(v->affinity, map, h->maplen) != 0) {
                memcpy(v->affinity, map, h->maplen);
                changed++;
            }
        }
    }
    return changed;
}

void sim_facts(const SimHost *h, SimFacts *out)
{
    g_autofree double *cpu = g_new0(double, h->npcpus + 1);
    g_autofree guint *busy = g_new0(guint, h->topo->ncores + 1);
    g_autofree double *util = g_new0(double, h->npcpus + 1);
    guint nv = h->vcpus->len;
    guint n = 0;
    guint g;
    guint i;
    guint c;

    memset(out, 0, sizeof(*out));
    for (i = 0; i < nv; i++) {
        const SimVcpu *v = &g_array_index(h->vcpus, SimVcpu, i);

        out->demand += v->demand;
        out->work += v->work;
        if (v->last >= 0)
            cpu[v->last] += v->ran;
    }
    for (c = 0; c < h->npcpus; c++) {
        if (!online(h, c))
            continue;
        util[n++] = cpu[c];
        if (cpu[c] >= 50 && core_of(h, c) >= 0)
            busy[core_of(h, c)]++;
    }
    out->cpu_sd = util_stddev(util, n);
    for (i = 0; i < h->topo->ncores; i++)
        out->busy_pairs += busy[i] >= 2;
    for (g = 0; g < h->guests->len; g++) {
        const SimGuest *sg = &g_array_index(h->guests, SimGuest, g);
        gint node = -1;
        gboolean split = FALSE;

        for (i = 0; i < sg->n; i++) {
            gint at = g_array_index(h->vcpus, SimVcpu, sg->first + i).last;
            gint nd = at >= 0 ? h->topo->cpus[at].node : -1;

            if (nd < 0)
                continue;
            split |= node >= 0 && nd != node;
            node = nd;
        }
        out->split_guests += split;
    }
}
