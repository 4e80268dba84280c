/* Hand-built hosts for the vCPU policy tests: snapshots from plain arrays
 * of vCPUs, and the checks every plan must pass. */
#pragma once

#include <glib.h>
#include <math.h>
#include <string.h>

#include "config.h"
#include "plan.h"
#include "snapshot.h"
/* Not on the include path: memory_coordinator has a policy.h of its own. */
#include "../../vcpu_scheduler/policy.h"

#define TV_ALL (-1)  /* affinity to every pCPU */
#define TV_NONE (-2) /* an empty affinity map */

typedef struct {
    guint dom; /* guest index: the guest is named vm<dom> */
    gint pin;  /* pCPU it is pinned to, or TV_ALL / TV_NONE */
    gint last; /* pCPU it last ran on, -1 when unknown */
    guint64 time_ns;
    guint64 delay_ns;
    gboolean no_delay; /* the stats lack vcpu.<n>.delay */
} TvVcpu;

static inline void tv_config(VcpuConfig *cfg)
{
    config_init(&vcpu_config_schema, cfg);
    /* The values the expectations below were worked out for. */
    cfg->sd_threshold = 5.0;
    cfg->sd_hysteresis = 2.0;
    cfg->dwell_ticks = 3;
    cfg->idle_util = 5.0;
}

static inline void tv_uuid(guint dom, char *buf)
{
    g_snprintf(buf, VIR_UUID_STRING_BUFLEN, "6f1c0000-0000-4000-8000-%012x",
               dom);
}

/* The pCPU v is pinned to, -1 when its affinity allows several or none:
 * with one pCPU, affinity to all is a pin. */
static inline gint tv_pinned(const TvVcpu *v, guint npcpus)
{
    if (v->pin >= 0)
        return v->pin;
    return v->pin == TV_ALL && npcpus == 1 ? 0 : -1;
}

/* vCPU number of v[i] inside its guest: guests number their vCPUs in
 * order of appearance. */
static inline guint tv_number(const TvVcpu *v, guint i)
{
    guint n = 0;
    guint j;

    for (j = 0; j < i; j++)
        n += v[j].dom == v[i].dom;
    return n;
}

static inline Snapshot *tv_snapshot(guint npcpus, const TvVcpu *v, guint nv,
                                    gint64 mono_us)
{
    Snapshot *snap = snapshot_new();
    g_autofree guint *count = NULL;
    g_autofree guint *next = NULL;
    g_autofree DomainSample **doms = NULL;
    guint ndom = 0;
    gsize maplen;
    guint i;
    guint c;

    snap->node.npcpus = npcpus;
    snap->mono_us = mono_us;
    maplen = snapshot_maplen(snap);
    for (i = 0; i < nv; i++)
        ndom = MAX(ndom, v[i].dom + 1);
    count = g_new0(guint, ndom + 1);
    next = g_new0(guint, ndom + 1);
    doms = g_new0(DomainSample *, ndom + 1);
    for (i = 0; i < nv; i++)
        count[v[i].dom]++;
    for (i = 0; i < ndom; i++) {
        char uuid[VIR_UUID_STRING_BUFLEN];
        g_autofree char *name = g_strdup_printf("vm%u", i);

        if (!count[i])
            continue;
        tv_uuid(i, uuid);
        doms[i] = snapshot_add_domain(snap, uuid, name, count[i]);
        doms[i]->state = VIR_DOMAIN_RUNNING;
    }
    for (i = 0; i < nv; i++) {
        VcpuSample *vs = &doms[v[i].dom]->vcpus[next[v[i].dom]++];

        vs->state = VIR_VCPU_RUNNING;
        vs->time_ns = v[i].time_ns;
        vs->delay_ns = v[i].delay_ns;
        vs->has_delay = !v[i].no_delay;
        vs->last_pcpu = v[i].last;
        if (v[i].pin >= 0) {
            cpumap_set(vs->cpumap, maplen, (guint)v[i].pin);
        } else if (v[i].pin == TV_ALL) {
            for (c = 0; c < npcpus; c++)
                cpumap_set(vs->cpumap, maplen, c);
        }
    }
    return snap;
}

/* Action i of a plan the vCPU policy made: a pin. */
static inline const PinAction *tv_pin(const Plan *plan, guint i)
{
    const PinAction *a = pin_action_of(plan_get(plan, i));

    g_assert_nonnull(a);
    return a;
}

/* Index in v of the vCPU an action names, or -1. */
static inline gint tv_find(const TvVcpu *v, guint nv, const PinAction *a)
{
    char uuid[VIR_UUID_STRING_BUFLEN];
    guint dom;
    guint number = 0;
    guint i;

    if (strlen(a->base.uuid) != VIR_UUID_STRING_BUFLEN - 1)
        return -1;
    dom = (guint)g_ascii_strtoull(a->base.uuid + 24, NULL, 16);
    tv_uuid(dom, uuid);
    if (strcmp(uuid, a->base.uuid) != 0)
        return -1;
    for (i = 0; i < nv; i++) {
        if (v[i].dom != dom)
            continue;
        if (number++ == a->vcpu)
            return (gint)i;
    }
    return -1;
}

/* What every plan must hold: pins only, each naming an existing vCPU once,
 * from where it is to an existing other pCPU, with a reason. */
static inline void tv_check_plan(const Plan *plan, guint npcpus,
                                 const TvVcpu *v, guint nv)
{
    g_autofree gboolean *seen = g_new0(gboolean, nv ? nv : 1);
    guint i;

    g_assert_nonnull(plan);
    g_assert_nonnull(plan->summary);
    g_assert_true(isfinite(vcpu_plan_sd(plan)->sd_before));
    g_assert_true(isfinite(vcpu_plan_sd(plan)->sd_after));
    for (i = 0; i < plan_len(plan); i++) {
        const PinAction *a = tv_pin(plan, i);
        gint k = tv_find(v, nv, a);
        g_autofree char *name = NULL;

        g_assert_cmpint(k, >=, 0);
        g_assert_false(seen[k]);
        seen[k] = TRUE;
        name = g_strdup_printf("vm%u", v[k].dom);
        g_assert_cmpstr(a->base.name, ==, name);
        g_assert_cmpuint(a->to_pcpu, <, npcpus);
        g_assert_cmpint(a->from_pcpu, ==, tv_pinned(&v[k], npcpus));
        g_assert_cmpint(a->from_pcpu, !=, (gint)a->to_pcpu);
        g_assert_nonnull(a->base.reason);
        g_assert_nonnull(strstr(a->base.reason, "sd "));
    }
}

/* Where each vCPU runs once the plan is applied: -1 when nobody knows.
 * Returns a new array of nv entries. */
static inline gint *tv_places_after(const Plan *plan, const TvVcpu *v, guint nv,
                                    guint npcpus)
{
    gint *place = g_new0(gint, nv ? nv : 1);
    guint i;

    for (i = 0; i < nv; i++) {
        place[i] = tv_pinned(&v[i], npcpus);
        if (place[i] < 0 && v[i].last >= 0 && (guint)v[i].last < npcpus)
            place[i] = v[i].last;
    }
    for (i = 0; i < plan_len(plan); i++) {
        gint k = tv_find(v, nv, tv_pin(plan, i));

        if (k >= 0)
            place[k] = (gint)tv_pin(plan, i)->to_pcpu;
    }
    return place;
}

/* Predicted sd and demand above capacity after the plan, from each vCPU's
 * demand, worked out here independently of the policy. */
static inline void tv_predict(const Plan *plan, const TvVcpu *v, guint nv,
                              guint npcpus, const double *demand, double *sd,
                              double *unmet)
{
    g_autofree double *util = g_new0(double, npcpus ? npcpus : 1);
    g_autofree gint *place = tv_places_after(plan, v, nv, npcpus);
    double mean = 0;
    double var = 0;
    guint i;

    *unmet = 0;
    for (i = 0; i < nv; i++) {
        if (place[i] >= 0)
            util[place[i]] += demand[i];
    }
    for (i = 0; i < npcpus; i++) {
        if (util[i] > 100) {
            *unmet += util[i] - 100;
            util[i] = 100;
        }
        mean += util[i] / npcpus;
    }
    for (i = 0; i < npcpus; i++)
        var += (util[i] - mean) * (util[i] - mean) / npcpus;
    *sd = sqrt(var);
}

/* What a guest that works and then idles would use alone, from the shares
 * it ran and waited: the same closed-loop model the policy documents. */
static inline double tv_demand(double ran, double waited)
{
    if (waited <= 0)
        return ran;
    if (waited >= 100)
        return MIN(100, ran + waited);
    return CLAMP(100 * ran / (100 - waited), ran, MIN(100, ran + waited));
}
