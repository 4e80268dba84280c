/* One tick of the vCPU policy:
 *   1. measure: per-vCPU time deltas give each pCPU's utilisation (pinned
 *      vCPUs on their pCPU, unpinned ones on the pCPU they last ran on),
 *      and time + delay feed a smoothed demand estimate per vCPU;
 *   2. judge: idle, balanced (sd <= threshold) or not; a plan applied last
 *      tick that did not deliver starts a hold;
 *   3. when balanced, only unpinned vCPUs get pinned, where they balance;
 *   4. when not, a noise-checked, confirmed imbalance gets the assignment
 *      with the fewest moves that the demand model predicts balanced, if
 *      the predicted gain clears hysteresis plus the estimates' noise.
 * Dwell keeps just-moved vCPUs put unless the imbalance is gross. */
#include "policy.h"

#include <math.h>
#include <string.h>

#include "cpuset.h"
#include "domain_rules.h"
#include "estimate.h"
#include "slots.h"

/* Imbalance this many times the threshold cannot be noise: act on it at
 * once, even on vCPUs still dwelling.  Smaller imbalance must be seen on
 * CONFIRM_TICKS ticks in a row before anything moves: a pCPU that is
 * itself a thread of a busy physical host (or an SMT sibling) runs the
 * same work 1.3-1.7 times slower for a few seconds at a time, which no
 * placement fixes.  Such dips lasted 2-4 ticks on the test host
 * (tests/host/pcpu_probe.c); five ticks outlast most of them, and a
 * real imbalance of at most twice the threshold costs little for two
 * seconds more. */
#define GROSS_FACTOR 2.0
#define CONFIRM_TICKS 5

/* A plan has to buy at least this much lower sd, whatever the config
 * says, or it is rounding noise. */
#define MIN_PLAN_GAIN 0.5

/* sd of utilisation cannot see demand that waits on a saturated pCPU
 * while another pCPU idles (2 busy vCPUs stacked on one of 8 pCPUs read
 * as "more balanced" than spread).  A plan that lets at least half a
 * pCPU's worth of waiting demand run is taken even when sd rises; less
 * would be within what inflated demand readings can invent. */
#define MIN_FREED_DEMAND 50.0

/* A pCPU at most this busy has room for waiting demand.  With many pCPUs
 * one saturated pCPU barely moves sd (1 of 1024 at 100% is sd 3.1), so
 * waiting demand next to such room is an imbalance whatever sd says. */
#define ROOM_UTIL 50.0

/* When an applied plan did not lower the measured sd, the demand model is
 * wrong for this mix of loads, and trying again would only move vCPUs
 * back and forth.  Rebalancing then waits HOLD_TICKS, twice as long after
 * each further plan that did not help, up to HOLD_MAX_TICKS, unless the
 * total load or the set of vCPUs changes first. */
#define HOLD_TICKS 10
#define HOLD_MAX_TICKS 640
#define HOLD_LOAD_CHANGE 25.0

typedef struct {
    guint number;
    gboolean has_prev;
    guint64 time_ns;
    guint64 delay_ns;
    gboolean has_delay;
    gint64 mono_us;

    LoadEstimate load; /* demand, percent of one pCPU */

    gboolean dwelling;
    guint64 pinned_tick; /* tick of our last applied pin */
} VcpuTrack;

typedef struct {
    GArray *vcpus; /* VcpuTrack, in the domain's vCPU order */
    guint64 seen_tick;
    /* The rules of its definition, read again when the definition (a
     * shared string, so its address) changes. */
    const char *definition; /* a reference held */
    DomainRules *rules;
    gboolean problem_told;
} DomTrack;

struct VcpuPolicyState {
    GHashTable *domains; /* uuid -> DomTrack* */
    guint64 tick;
    guint unbalanced_ticks;
    /* The policy sees slots only (slots.h): online CPUs that are not
     * excluded, alone or grouped, so an offline CPU is never a target and
     * never counts as an idle pCPU in sd.  This tick's. */
    Slots *slots;
    AssignHost host;  /* the slots as the assignment sees them */
    double *slot_cap; /* per slot, for host */
    gint *slot_core;  /* per slot, for host */
    gboolean fallback_told;
    GArray *util; /* double per slot, percent of its capacity */
    gboolean has_util;
    GPtrArray *new_problems; /* "guest: why", not yet taken by the daemon */

    /* The last plan that moved something, to check it against the next
     * measurement. */
    guint64 plan_tick;
    double plan_sd_before;
    double plan_sd_after;
    double plan_total; /* total load measured when it was made */
    guint plan_applied;
    guint plan_failed;

    guint64 hold_until; /* no rebalancing before this tick */
    guint hold_len;     /* ticks of the last hold, 0 when none */
    guint64 hold_from;  /* tick of the plan that did not help */
    double hold_total;  /* total load when the hold began */
    guint hold_vcpus;   /* vCPUs with estimates when the hold began */
};

/* One vCPU with a demand estimate, as this tick's plan sees it. */
typedef struct {
    const DomainSample *dom;
    const VcpuSample *vs;
    VcpuTrack *track;
    gint pinned;   /* slot its affinity is exactly, -1 when none */
    gint hint;     /* slot of the pCPU it last ran on, or -1 */
    guint allowed; /* usable CPUs its affinity allows */
    double ran;    /* share of a pCPU it ran this tick, -1 when unknown */
    /* What the guest's definition and the config allow: the slots it may
     * be placed on (NULL: any), or nowhere new (fixed). */
    const guint8 *may;
    gboolean fixed;
    gboolean outside; /* pinned where it may not be: placed again */
    /* Its guest is kept in NUMA node home, and it is free or pinned in
     * another node: placed within home, whatever the balance. */
    gboolean away;
    gint home;
    gsize vs_maplen; /* of vs->cpumap */
    guint np;        /* CPU ids in the snapshot */
} PlanVcpu;

/* What one tick measured. */
typedef struct {
    guint sampled; /* vCPUs with two samples */
    double total;  /* sum of their shares, percent */
} Measurement;

static void dom_track_free(gpointer data)
{
    DomTrack *dt = data;

    if (!dt)
        return;
    g_array_unref(dt->vcpus);
    if (dt->definition)
        g_ref_string_release((char *)dt->definition);
    domain_rules_free(dt->rules);
    g_free(dt);
}

VcpuPolicyState *vcpu_policy_state_new(void)
{
    VcpuPolicyState *st = g_new0(VcpuPolicyState, 1);

    st->domains =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, dom_track_free);
    st->util = g_array_new(FALSE, TRUE, sizeof(double));
    st->new_problems = g_ptr_array_new_with_free_func(g_free);
    return st;
}

void vcpu_policy_state_free(VcpuPolicyState *st)
{
    if (!st)
        return;
    g_hash_table_unref(st->domains);
    g_array_unref(st->util);
    slots_free(st->slots);
    g_free(st->slot_cap);
    g_free(st->slot_core);
    g_ptr_array_unref(st->new_problems);
    g_free(st);
}

gboolean vcpu_policy_places_by(const VcpuPolicyState *st, const guint8 *map,
                               gsize maplen)
{
    gint k;

    if (!st || !st->slots || maplen * 8 < st->slots->npcpus)
        return FALSE;
    k = slots_match(st->slots, map, maplen);
    return k >= 0 && st->slots->slot[k].cpus->len > 1;
}

char *vcpu_policy_slot_label(const VcpuPolicyState *st, guint k)
{
    if (!st->slots || k >= st->slots->n)
        return NULL;
    return slots_label(st->slots, k);
}

gboolean vcpu_policy_last_util(const VcpuPolicyState *st, const double **util,
                               guint *n)
{
    if (!st || !st->has_util)
        return FALSE;
    *util = (const double *)st->util->data;
    *n = st->util->len;
    return TRUE;
}

guint vcpu_policy_tracked_vcpus(const VcpuPolicyState *st)
{
    GHashTableIter iter;
    gpointer value;
    guint n = 0;

    g_hash_table_iter_init(&iter, st->domains);
    while (g_hash_table_iter_next(&iter, NULL, &value))
        n += ((DomTrack *)value)->vcpus->len;
    return n;
}

static VcpuTrack *find_track(const VcpuPolicyState *st, const char *uuid,
                             guint number)
{
    DomTrack *dt = g_hash_table_lookup(st->domains, uuid);
    guint i;

    if (!dt)
        return NULL;
    for (i = 0; i < dt->vcpus->len; i++) {
        VcpuTrack *t = &g_array_index(dt->vcpus, VcpuTrack, i);

        if (t->has_prev && t->number == number)
            return t;
    }
    return NULL;
}

void vcpu_policy_note_applied(VcpuPolicyState *st, const PinAction *a,
                              gboolean ok)
{
    VcpuTrack *t;

    if (!st || !a)
        return;
    if (st->plan_tick == st->tick) {
        if (ok)
            st->plan_applied++;
        else
            st->plan_failed++;
    }
    if (!ok)
        return;
    t = find_track(st, a->base.uuid, a->vcpu);
    if (!t)
        return;
    t->dwelling = TRUE;
    t->pinned_tick = st->tick;
    /* Demand seen while sharing a pCPU says little about demand after the
     * move. */
    t->load.restart = TRUE;
}

static DomTrack *dom_track_get(VcpuPolicyState *st, const DomainSample *d)
{
    DomTrack *dt = g_hash_table_lookup(st->domains, d->uuid);

    if (!dt) {
        dt = g_new0(DomTrack, 1);
        dt->vcpus = g_array_new(FALSE, TRUE, sizeof(VcpuTrack));
        g_hash_table_insert(st->domains, g_strdup(d->uuid), dt);
    }
    if (dt->vcpus->len != d->nvcpus)
        g_array_set_size(dt->vcpus, d->nvcpus);
    return dt;
}

/* Turns the counters since the previous sample into this tick's share of
 * a pCPU (*ran) and feeds the demand estimate.  FALSE when there is no
 * usable previous sample. */
static gboolean take_sample(VcpuTrack *t, const VcpuSample *vs, gint64 mono_us,
                            double *ran)
{
    gboolean ok = FALSE;

    if (t->has_prev && t->number != vs->number)
        memset(t, 0, sizeof(*t));
    if (t->has_prev) {
        gint64 wall_us = mono_us - t->mono_us;
        gboolean with_delay = vs->has_delay && t->has_delay;

        /* Counters that went backwards belong to a restarted domain. */
        if (vs->time_ns < t->time_ns || wall_us < 0 ||
            (with_delay && vs->delay_ns < t->delay_ns)) {
            memset(&t->load, 0, sizeof(t->load));
            t->dwelling = FALSE;
        } else if (wall_us > 0) {
            double wall_ns = (double)wall_us * 1000.0;
            double r = 100.0 * (double)(vs->time_ns - t->time_ns) / wall_ns;
            double w =
                with_delay
                    ? 100.0 * (double)(vs->delay_ns - t->delay_ns) / wall_ns
                    : 0;

            *ran = CLAMP(r, 0, 100);
            load_estimate_feed(&t->load, vcpu_demand(r, w));
            ok = TRUE;
        }
    }
    t->has_prev = TRUE;
    t->number = vs->number;
    t->time_ns = vs->time_ns;
    t->delay_ns = vs->delay_ns;
    t->has_delay = vs->has_delay;
    t->mono_us = mono_us;
    return ok;
}

GPtrArray *vcpu_policy_take_new_problems(VcpuPolicyState *st)
{
    GPtrArray *out = st->new_problems;

    st->new_problems = g_ptr_array_new_with_free_func(g_free);
    return out;
}

/* This tick's slots, from the snapshot's online CPUs that are not
 * excluded: such a CPU is never a target and does not count in the
 * balance.  A granularity the topology cannot give falls back to cpu, told
 * once. */
static void build_slots(const Snapshot *snap, const VcpuConfig *cfg,
                        VcpuPolicyState *st)
{
    Slots *s;
    guint k;

    slots_free(st->slots);
    s = st->slots = slots_build(snap, cfg->exclude_cpus.ids, cfg->granularity);
    if (s->fallback && !st->fallback_told)
        g_ptr_array_add(st->new_problems,
                        g_strdup_printf("granularity %s is not possible: %s; "
                                        "vCPUs are pinned to single CPUs",
                                        granularity_names[cfg->granularity],
                                        s->fallback));
    st->fallback_told = s->fallback != NULL;
    g_free(st->slot_cap);
    g_free(st->slot_core);
    st->slot_cap = g_new(double, s->n ? s->n : 1);
    st->slot_core = g_new(gint, s->n ? s->n : 1);
    for (k = 0; k < s->n; k++) {
        st->slot_cap[k] = s->slot[k].capacity;
        st->slot_core[k] = s->slot[k].core;
    }
    st->host = (AssignHost){
        .n = s->n,
        .capacity = st->slot_cap,
        .core = st->slot_core,
        .ncores = s->ncores,
        .core_capacity = s->core_capacity,
    };
}

/* Usable CPUs (in a slot) the cpumap allows. */
static guint count_usable(const Slots *s, const guint8 *map, gsize maplen)
{
    guint n = 0;
    guint c;

    for (c = 0; c < s->npcpus; c++)
        n += s->slot_of[c] >= 0 && cpumap_has(map, maplen, c);
    return n;
}

/* The guest's rules, parsed again only when its definition changed.
 * NULL when the snapshot carries no definitions (tests, tools): no
 * limits then. */
static const DomainRules *rules_of(VcpuPolicyState *st, const Snapshot *snap,
                                   DomTrack *dt, const DomainSample *d)
{
    if (!snap->definitions)
        return NULL;
    if (!dt->rules || dt->definition != d->definition) {
        domain_rules_free(dt->rules);
        if (dt->definition)
            g_ref_string_release((char *)dt->definition);
        dt->definition =
            d->definition ? g_ref_string_acquire(d->definition) : NULL;
        dt->rules = domain_rules_from_xml(d->definition, d->persistent);
        if (dt->rules->problem && d->definition && !dt->problem_told) {
            dt->problem_told = TRUE;
            g_ptr_array_add(st->new_problems,
                            g_strdup_printf("%s: %s; its vCPUs are left "
                                            "where they are",
                                            d->name, dt->rules->problem));
        }
    }
    return dt->rules;
}

/* Where a vCPU may go: fixed when its guest opted out or its rules are
 * unknown, or when its definition allows exactly one CPU (it is never
 * moved) or no whole slot; else the map of the slots it allows, NULL for
 * every one. */
static void limit_vcpu(PlanVcpu *pv, const DomainRules *rules, const Slots *s,
                       GPtrArray *maps)
{
    const GArray *ids;
    guint8 *map;
    guint n = 0;
    guint i;

    if (!rules)
        return;
    if (rules->opted_out || rules->problem) {
        pv->fixed = TRUE;
        pv->outside = FALSE;
        return;
    }
    ids = domain_rules_allowed(rules, pv->vs->number);
    if (!ids)
        return;
    if (ids->len == 1) {
        pv->fixed = TRUE;
        pv->outside = FALSE;
        return;
    }
    map = g_malloc0((s->n + 7) / 8 + 1);
    g_ptr_array_add(maps, map);
    /* A slot is allowed when all of its CPUs are: the vCPU may run on
     * any of them. */
    for (i = 0; i < s->n; i++) {
        const GArray *cpus = s->slot[i].cpus;
        guint j;

        for (j = 0; j < cpus->len; j++)
            if (!cpuset_has(ids, g_array_index(cpus, guint, j)))
                break;
        if (j == cpus->len) {
            map[i / 8] |= (guint8)(1u << (i % 8));
            n++;
        }
    }
    if (n == 0) {
        pv->fixed = TRUE;
        pv->outside = FALSE;
        return;
    }
    pv->may = map;
    if (pv->pinned >= 0 && !((map[pv->pinned / 8] >> (pv->pinned % 8)) & 1)) {
        /* Placed again within what it allows, counted where it is. */
        pv->outside = TRUE;
        pv->hint = pv->pinned;
        pv->pinned = -1;
    }
}

/* Samples every vCPU: adds its share to the pCPU it is pinned to, else the
 * one it last ran on, and lists those with a demand estimate. */
static void measure(const Snapshot *snap, VcpuPolicyState *st, double *util,
                    GArray *vcpus, GPtrArray *maps, Measurement *m)
{
    const Slots *s = st->slots;
    guint np = snap->node.npcpus;
    gsize maplen = snapshot_maplen(snap);
    guint i;
    guint k;

    memset(m, 0, sizeof(*m));
    for (i = 0; i < snap->domains->len; i++) {
        const DomainSample *d = g_ptr_array_index(snap->domains, i);
        const DomainRules *rules;
        DomTrack *dt;

        if (d->state == VIR_DOMAIN_SHUTOFF)
            continue;
        dt = dom_track_get(st, d);
        /* A UUID listed twice would mix two vCPU histories. */
        if (dt->seen_tick == st->tick)
            continue;
        dt->seen_tick = st->tick;
        rules = rules_of(st, snap, dt, d);
        for (k = 0; k < d->nvcpus; k++) {
            const VcpuSample *vs = &d->vcpus[k];
            VcpuTrack *t = &g_array_index(dt->vcpus, VcpuTrack, k);
            PlanVcpu pv = {.dom = d,
                           .vs = vs,
                           .track = t,
                           .ran = -1,
                           .vs_maplen = maplen,
                           .np = np};
            gint at;

            pv.pinned = np ? slots_match(s, vs->cpumap, maplen) : -1;
            pv.allowed = count_usable(s, vs->cpumap, maplen);
            /* Pinned only to CPUs that are excluded (or offline). */
            pv.outside = pv.allowed == 0 && np &&
                         cpumap_count(vs->cpumap, maplen, np) > 0;
            pv.hint = vs->last_pcpu >= 0 && (guint)vs->last_pcpu < np
                          ? s->slot_of[vs->last_pcpu]
                          : -1;
            if (take_sample(t, vs, snap->mono_us, &pv.ran)) {
                m->sampled++;
                m->total += pv.ran;
                at = pv.pinned >= 0 ? pv.pinned : pv.hint;
                if (at >= 0)
                    util[at] += pv.ran;
            }
            limit_vcpu(&pv, rules, s, maps);
            if (t->load.valid && s->n > 0)
                g_array_append_val(vcpus, pv);
        }
    }
}

static gboolean forget_unseen(gpointer key, gpointer value, gpointer data)
{
    const DomTrack *dt = value;
    const VcpuPolicyState *st = data;

    return dt->seen_tick != st->tick;
}

static double mean_of(const double *v, guint n)
{
    double sum = 0;
    guint i;

    for (i = 0; i < n; i++)
        sum += v[i];
    return n ? sum / n : 0;
}

static double min_of(const double *v, guint n)
{
    double low = n ? v[0] : 0;
    guint i;

    for (i = 1; i < n; i++)
        low = MIN(low, v[i]);
    return low;
}

static void set_summary(Plan *plan, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void set_summary(Plan *plan, const char *fmt, ...)
{
    va_list ap;

    g_free(plan->summary);
    va_start(ap, fmt);
    plan->summary = g_strdup_vprintf(fmt, ap);
    va_end(ap);
}

static GArray *build_items(const GArray *vcpus, const VcpuConfig *cfg,
                           guint64 tick, gboolean ignore_dwell)
{
    GArray *items =
        g_array_sized_new(FALSE, TRUE, sizeof(AssignItem), vcpus->len);
    guint i;

    for (i = 0; i < vcpus->len; i++) {
        const PlanVcpu *pv = &g_array_index(vcpus, PlanVcpu, i);
        AssignItem it = {
            .load = pv->track->load.value,
            .pinned = pv->pinned,
            .hint = pv->hint,
            .target = -1,
            .fixed = pv->fixed,
            .allowed = pv->may,
        };

        it.frozen = !ignore_dwell && pv->pinned >= 0 && pv->track->dwelling &&
                    tick - pv->track->pinned_tick < cfg->dwell_ticks;
        g_array_append_val(items, it);
    }
    return items;
}

/* A slot in words: "pCPU 3" ("3" bare), or "CPUs 0,32" for a group. */
static char *slot_words(const Slots *s, guint k, gboolean bare)
{
    g_autofree char *label = slots_label(s, k);

    if (s->slot[k].cpus->len > 1)
        return g_strdup_printf("CPUs %s", label);
    return bare ? g_steal_pointer(&label) : g_strdup_printf("pCPU %s", label);
}

static void add_action(Plan *plan, const VcpuPolicyState *st,
                       const PlanVcpu *pv, const AssignItem *it,
                       double sd_before, double sd_after, double freed)
{
    PinAction *a = pin_action_add(plan, pv->dom->uuid, pv->dom->name);
    const Slots *s = st->slots;
    const Slot *to = &s->slot[it->target];
    g_autofree char *ran = NULL;
    g_autofree char *why = NULL;
    g_autofree char *to_words = slot_words(s, (guint)it->target, TRUE);
    g_autofree char *from_words = NULL;

    a->vcpu = pv->vs->number;
    a->from_pcpu = cpumap_single(pv->vs->cpumap, pv->vs_maplen, pv->np);
    a->to_pcpu = g_array_index(to->cpus, guint, 0);
    if (to->cpus->len > 1) {
        g_autofree char *label = slots_label(s, (guint)it->target);

        pin_action_set_group(a, to->cpus, label);
    }
    if (pv->pinned >= 0)
        from_words = slot_words(s, (guint)pv->pinned, FALSE);
    else if (pv->vs->last_pcpu >= 0)
        from_words =
            g_strdup_printf("pCPU %d, where it last ran", pv->vs->last_pcpu);
    else
        from_words = g_strdup("CPUs of no one slot");
    ran =
        pv->ran >= 0 ? g_strdup_printf("%.0f%%", pv->ran) : g_strdup("unknown");
    if (freed >= MIN_FREED_DEMAND)
        why = g_strdup_printf("sd %.1f -> %.1f predicted, frees waiting "
                              "demand worth %.2f pCPUs",
                              sd_before, sd_after, freed / 100);
    else
        why = g_strdup_printf("sd %.1f -> %.1f predicted", sd_before, sd_after);
    if (pv->outside)
        action_set_reason(&a->base,
                          "moves from pCPU %d to %s: it may not run on "
                          "pCPU %d (excluded, offline, or outside its "
                          "guest's definition); demand %.0f%% (ran %s); %s",
                          a->from_pcpu, to_words, a->from_pcpu, it->load, ran,
                          why);
    else if (pv->away)
        action_set_reason(&a->base,
                          "kept in NUMA node %d with the rest of its guest: "
                          "pinned to %s (from %s); demand %.0f%% (ran %s); %s",
                          pv->home, to_words, from_words, it->load, ran, why);
    else if (pv->pinned >= 0)
        action_set_reason(&a->base,
                          "demand %.0f%% (ran %s) moves from %s to %s; "
                          "%s",
                          it->load, ran, from_words, to_words, why);
    else {
        g_autofree char *to_place = slot_words(s, (guint)it->target, FALSE);

        action_set_reason(&a->base,
                          "pinned to %s (replacing a live pin of %u online "
                          "pCPU%s, which is no place this scheduler pins to; "
                          "last ran on %d); demand %.0f%% (ran %s); %s",
                          to_place, pv->allowed, pv->allowed == 1 ? "" : "s",
                          pv->vs->last_pcpu, it->load, ran, why);
    }
}

const VcpuPlanSd *vcpu_plan_sd(const Plan *plan)
{
    return plan->detail;
}

static VcpuPlanSd *plan_sd(Plan *plan)
{
    return plan->detail;
}

static void note_plan(VcpuPolicyState *st, Plan *plan, double total)
{
    st->plan_tick = st->tick;
    st->plan_sd_before = plan_sd(plan)->sd_before;
    st->plan_sd_after = plan_sd(plan)->sd_after;
    st->plan_total = total;
    st->plan_applied = 0;
    st->plan_failed = 0;
}

/* How far the predicted sd may be off through the wobble of the load
 * estimates alone.  sd is at most 1/sqrt(np) times the root of the summed
 * squared errors per pCPU, and a gain compares two such predictions;
 * slots larger than one thread shrink an error by their capacity. */
static double noise_margin(const GArray *vcpus, const AssignHost *h)
{
    double sum = 0;
    double cap = 0;
    guint i;

    for (i = 0; i < h->n; i++)
        cap += h->capacity ? h->capacity[i] : ASSIGN_CAPACITY;
    cap = h->n ? cap / h->n : ASSIGN_CAPACITY;

    for (i = 0; i < vcpus->len; i++) {
        double s =
            load_estimate_sigma(&g_array_index(vcpus, PlanVcpu, i).track->load);

        sum += s * s;
    }
    return 2 * sqrt(sum) / sqrt((double)h->n) * ASSIGN_CAPACITY / cap;
}

/* Plans a balanced assignment for an unbalanced host, or says why not. */
static void rebalance(Plan *plan, const VcpuConfig *cfg, VcpuPolicyState *st,
                      const GArray *vcpus, double total, gboolean gross)
{
    const AssignHost *h = &st->host;
    g_autoptr(GArray) items = build_items(vcpus, cfg, st->tick, gross);
    AssignItem *it = (AssignItem *)items->data;
    double sd_before = plan_sd(plan)->sd_before;
    AssignPrediction now;
    AssignPrediction after;
    double need;
    double sd_gain;
    double freed;
    gboolean unpinned = FALSE;
    guint moves;
    guint i;

    /* Unpinned vCPUs were counted where they happened to be sampled, so
     * the model of "now" is as much a guess as the measurement; pinning
     * them ends the guessing, and only the measurement can judge it. */
    for (i = 0; i < items->len; i++)
        unpinned |= it[i].pinned < 0 && !it[i].fixed;
    assign_predict_on(it, items->len, h, FALSE, &now);
    /* One noisy tick can read unbalanced twice in a row; the smoothed
     * loads of the same placement show whether the imbalance is real. */
    if (!unpinned && now.sd <= cfg->sd_threshold &&
        now.unmet < MIN_FREED_DEMAND) {
        set_summary(plan,
                    "unbalanced sd=%.1f, but smoothed loads predict %.1f "
                    "here: noise",
                    sd_before, now.sd);
        return;
    }
    moves = assign_balance_on(it, items->len, h, cfg->sd_threshold / 2);
    assign_predict_on(it, items->len, h, TRUE, &after);
    if (moves == 0) {
        set_summary(plan, "unbalanced sd=%.1f, no better assignment",
                    sd_before);
        return;
    }

    /* A balance out of reach leaves partitions that differ by noise only;
     * switching among them would never end, so such a plan has to gain a
     * whole threshold. */
    need = MAX(cfg->sd_hysteresis, MIN_PLAN_GAIN);
    if (after.sd > cfg->sd_threshold)
        need = MAX(need, cfg->sd_threshold);
    /* Judged against both the measurement and the model of the current
     * placement, so neither a noisy tick nor a stale estimate alone can
     * justify a move. */
    sd_gain = sd_before - after.sd;
    if (!unpinned) {
        sd_gain = MIN(sd_gain, now.sd - after.sd);
        need += noise_margin(vcpus, h);
    }
    freed = now.unmet - after.unmet;
    /* Pinning unpinned vCPUs into a balanced placement is worth doing
     * for its own sake: it ends the guessing. */
    if (sd_gain < need && freed < MIN_FREED_DEMAND &&
        !(unpinned && after.sd <= cfg->sd_threshold)) {
        set_summary(plan,
                    "unbalanced sd=%.1f, best plan predicts %.1f "
                    "(needs a gain of %.1f)",
                    sd_before, after.sd, need);
        return;
    }

    plan_sd(plan)->sd_after = after.sd;
    for (i = 0; i < items->len; i++) {
        if (!it[i].fixed && it[i].target >= 0 &&
            (it[i].pinned < 0 || it[i].target != it[i].pinned))
            add_action(plan, st, &g_array_index(vcpus, PlanVcpu, i), &it[i],
                       sd_before, after.sd, freed);
    }
    st->unbalanced_ticks = 0;
    note_plan(st, plan, total);
    if (sd_gain >= need || freed < MIN_FREED_DEMAND)
        set_summary(plan, "repin %u vCPU%s sd %.1f -> %.1f", plan_len(plan),
                    plan_len(plan) == 1 ? "" : "s", sd_before, after.sd);
    else
        set_summary(plan,
                    "repin %u vCPU%s sd %.1f -> %.1f, frees waiting demand "
                    "worth %.2f pCPUs",
                    plan_len(plan), plan_len(plan) == 1 ? "" : "s", sd_before,
                    after.sd, freed / 100);
}

typedef gboolean (*MovableFn)(const PlanVcpu *pv, const AssignItem *it);

/* Balances only the vCPUs movable() selects: every other pinned vCPU
 * stays where it is, every other unpinned one is left alone.  Returns how
 * many were selected; with none, nothing is balanced. */
static guint balance_selected(AssignItem *it, const GArray *vcpus,
                              const AssignHost *h, const VcpuConfig *cfg,
                              MovableFn movable, AssignPrediction *after)
{
    guint n = 0;
    guint i;

    for (i = 0; i < vcpus->len; i++) {
        if (movable(&g_array_index(vcpus, PlanVcpu, i), &it[i]))
            n++;
        else if (it[i].pinned >= 0)
            it[i].frozen = TRUE;
        else
            it[i].fixed = TRUE;
    }
    if (n == 0)
        return 0;
    assign_balance_on(it, vcpus->len, h, cfg->sd_threshold / 2);
    assign_predict_on(it, vcpus->len, h, TRUE, after);
    return n;
}

/* Adds a pin for each selected vCPU the balance gave a target. */
static void add_selected(Plan *plan, const VcpuPolicyState *st,
                         const GArray *vcpus, const AssignItem *it,
                         MovableFn movable, double sd_after)
{
    guint i;

    plan_sd(plan)->sd_after = sd_after;
    for (i = 0; i < vcpus->len; i++) {
        const PlanVcpu *pv = &g_array_index(vcpus, PlanVcpu, i);

        if (movable(pv, &it[i]) && it[i].target >= 0)
            add_action(plan, st, pv, &it[i], plan_sd(plan)->sd_before, sd_after,
                       0);
    }
}

static gboolean is_unpinned(const PlanVcpu *pv, const AssignItem *it)
{
    return it->pinned < 0 && !it->fixed;
}

/* On a busy host that measures balanced, pins the vCPUs whose affinity
 * allows several pCPUs, without moving any pinned one.  Their share was
 * counted on the pCPU they happened to run on at sampling time, a guess
 * that differs from tick to tick; pinned, they stay balanced and the
 * measurement becomes exact, so no later tick finds a false imbalance to
 * repin for. */
static void claim_free(Plan *plan, const VcpuConfig *cfg, VcpuPolicyState *st,
                       const GArray *vcpus)
{
    g_autoptr(GArray) items = build_items(vcpus, cfg, st->tick, FALSE);
    AssignItem *it = (AssignItem *)items->data;
    AssignPrediction after;
    guint nfree =
        balance_selected(it, vcpus, &st->host, cfg, is_unpinned, &after);

    if (nfree == 0) {
        set_summary(plan, "balanced sd=%.1f", plan_sd(plan)->sd_before);
        return;
    }
    /* The first loaded tick has one sample per vCPU, so the prediction
     * is only as good as the noise allows; a later claim would count as a
     * change after balance. */
    if (after.sd > cfg->sd_threshold + noise_margin(vcpus, &st->host)) {
        set_summary(plan,
                    "balanced sd=%.1f, %u unpinned vCPUs left as they are "
                    "(pinning them predicts sd %.1f)",
                    plan_sd(plan)->sd_before, nfree, after.sd);
        return;
    }
    add_selected(plan, st, vcpus, it, is_unpinned, after.sd);
    /* Pins that follow the measurement are not checked against it: the
     * measurement of unpinned vCPUs was the guess they replace. */
    st->plan_tick = 0;
    set_summary(plan, "balanced sd=%.1f, pin %u unpinned vCPU%s, sd -> %.1f",
                plan_sd(plan)->sd_before, nfree, nfree == 1 ? "" : "s",
                after.sd);
}

/* Places the vCPUs movable() selects within what they allow, moving
 * nothing else, whatever the balance (dwell included), and plans their
 * pins; returns how many.  Such a plan is not checked against the next
 * measurement: it was not made for sd. */
static guint place_only(Plan *plan, const VcpuConfig *cfg, VcpuPolicyState *st,
                        const GArray *vcpus, MovableFn movable,
                        AssignPrediction *after)
{
    g_autoptr(GArray) items = build_items(vcpus, cfg, st->tick, TRUE);
    AssignItem *it = (AssignItem *)items->data;
    guint n = balance_selected(it, vcpus, &st->host, cfg, movable, after);

    if (n == 0)
        return 0;
    add_selected(plan, st, vcpus, it, movable, after->sd);
    st->plan_tick = 0;
    return n;
}

static gboolean is_outside(const PlanVcpu *pv, const AssignItem *it)
{
    return pv->outside;
}

/* Places the vCPUs pinned where they may not be (an excluded or offline
 * CPU, or outside their guest's definition) within what they allow: a
 * rule is not traded for sd.  FALSE when there were none. */
static gboolean place_outside(Plan *plan, const VcpuConfig *cfg,
                              VcpuPolicyState *st, const GArray *vcpus)
{
    AssignPrediction after;
    guint n = place_only(plan, cfg, st, vcpus, is_outside, &after);

    if (n == 0)
        return FALSE;
    set_summary(plan,
                "%u vCPU%s pinned where not allowed (excluded or offline, or "
                "outside the guest's definition) placed within what %s",
                n, n == 1 ? "" : "s", n == 1 ? "it allows" : "they allow");
    return TRUE;
}

static gboolean is_away(const PlanVcpu *pv, const AssignItem *it)
{
    return pv->away;
}

/* Pins the vCPUs of guests kept in one NUMA node that are free or pinned
 * in another node within that node: a free vCPU can be run anywhere by
 * the host kernel, and the locality is the point.  FALSE when there were
 * none. */
static gboolean place_in_nodes(Plan *plan, const VcpuConfig *cfg,
                               VcpuPolicyState *st, const GArray *vcpus)
{
    AssignPrediction after;
    guint n = place_only(plan, cfg, st, vcpus, is_away, &after);

    if (n == 0)
        return FALSE;
    set_summary(plan,
                "%u vCPU%s placed within the NUMA node of %s guest, sd "
                "%.1f -> %.1f",
                n, n == 1 ? "" : "s", n == 1 ? "its" : "their",
                plan_sd(plan)->sd_before, after.sd);
    return TRUE;
}

static gboolean any_unpinned(const GArray *vcpus)
{
    guint i;

    for (i = 0; i < vcpus->len; i++) {
        const PlanVcpu *pv = &g_array_index(vcpus, PlanVcpu, i);

        if (pv->pinned < 0 && !pv->fixed)
            return TRUE;
    }
    return FALSE;
}

/* Demand above capacity where the vCPUs are now.  A low mean alone does
 * not make a host idle: on a large host a few saturated pCPUs hardly move
 * the mean. */
static double waiting_demand(const GArray *vcpus, const VcpuConfig *cfg,
                             const VcpuPolicyState *st)
{
    g_autoptr(GArray) items = build_items(vcpus, cfg, st->tick, FALSE);
    AssignPrediction now;

    assign_predict_on((AssignItem *)items->data, items->len, &st->host, FALSE,
                      &now);
    return now.unmet;
}

/* Checks the last applied plan against this tick's measurement: one that
 * did not lower sd, or missed its prediction by more than the threshold,
 * while the total load stayed put, starts a hold.  TRUE while held. */
static gboolean check_hold(VcpuPolicyState *st, const VcpuConfig *cfg,
                           double sd, const Measurement *m, guint nvcpus)
{
    double need = MAX(cfg->sd_hysteresis, MIN_PLAN_GAIN);
    gboolean promised = st->plan_sd_after <= st->plan_sd_before - need;
    gboolean missed = sd > st->plan_sd_after + cfg->sd_threshold ||
                      (promised && sd > st->plan_sd_before - need);

    /* A plan taken to free waiting demand may raise sd; only a promise
     * of lower sd is held against it. */
    if (st->plan_tick && st->plan_tick + 1 == st->tick &&
        st->plan_applied > 0 && st->plan_failed == 0 &&
        fabs(m->total - st->plan_total) <= HOLD_LOAD_CHANGE &&
        sd > cfg->sd_threshold && missed) {
        st->hold_len =
            st->hold_len ? MIN(2 * st->hold_len, HOLD_MAX_TICKS) : HOLD_TICKS;
        st->hold_from = st->plan_tick;
        st->hold_until = st->tick + st->hold_len;
        st->hold_total = m->total;
        st->hold_vcpus = nvcpus;
    }
    if (fabs(m->total - st->hold_total) > HOLD_LOAD_CHANGE ||
        nvcpus != st->hold_vcpus || sd <= cfg->sd_threshold) {
        st->hold_until = 0;
        st->hold_len = 0;
    } else if (st->tick >= st->hold_until) {
        st->hold_until = 0;
    }
    return st->hold_until != 0;
}

/* The node slot k is in, -1 when none or k is -1. */
static gint node_of(const Slots *s, gint k)
{
    return k >= 0 ? s->slot[k].node : -1;
}

/* Whether the guest's vCPUs first..last-1 fit node j: each may use a slot
 * there, they are no more than its CPUs, and their demand no more than
 * its capacity. */
static gboolean guest_fits(const GArray *vcpus, guint first, guint last,
                           const Slots *s, guint j, double load)
{
    guint cpus = 0;
    guint i;
    guint k;

    for (k = 0; k < s->n; k++)
        cpus += s->slot[k].node == (gint)j ? s->slot[k].cpus->len : 0;
    if (last - first > cpus || load > s->node_capacity[j])
        return FALSE;
    for (i = first; i < last; i++) {
        const PlanVcpu *pv = &g_array_index(vcpus, PlanVcpu, i);
        gboolean any = FALSE;

        for (k = 0; k < s->n && !any; k++)
            any = s->slot[k].node == (gint)j &&
                  (!pv->may || (pv->may[k / 8] >> (k % 8)) & 1);
        if (!any)
            return FALSE;
    }
    return TRUE;
}

/* Limits the vCPUs of the guest first..last-1 to the slots of node j. */
static void limit_to_node(GArray *vcpus, guint first, guint last,
                          const Slots *s, guint j, GPtrArray *maps)
{
    guint i;
    guint k;

    for (i = first; i < last; i++) {
        PlanVcpu *pv = &g_array_index(vcpus, PlanVcpu, i);
        guint8 *map;

        if (pv->fixed)
            continue;
        map = g_malloc0((s->n + 7) / 8 + 1);
        g_ptr_array_add(maps, map);
        for (k = 0; k < s->n; k++)
            if (s->slot[k].node == (gint)j &&
                (!pv->may || (pv->may[k / 8] >> (k % 8)) & 1))
                map[k / 8] |= (guint8)(1u << (k % 8));
        pv->may = map;
        pv->home = (gint)j;
        pv->away = pv->pinned < 0;
        /* Pinned in another node: placed again, counted where it is. */
        if (node_of(s, pv->pinned) >= 0 && node_of(s, pv->pinned) != (gint)j) {
            pv->hint = pv->pinned;
            pv->pinned = -1;
            pv->away = TRUE;
        }
    }
}

/* One NUMA node per guest where one can hold it, since a guest whose
 * vCPUs span nodes reaches half its memory across the interconnect.  A
 * guest pinned within one node stays there (its memory is there) unless
 * some node is asked for more than its capacity; a guest that is not yet
 * (new, free, or spread) goes where the nodes are least filled, largest
 * first; one that fits no node is left to span them.  The vCPU balance
 * then works within each guest's node. */
static void keep_guests_in_nodes(GArray *vcpus, VcpuPolicyState *st,
                                 GPtrArray *maps)
{
    const Slots *s = st->slots;
    guint nn = s->nnodes;
    g_autoptr(GArray) items = g_array_new(FALSE, TRUE, sizeof(AssignItem));
    g_autoptr(GArray) bounds = g_array_new(FALSE, TRUE, sizeof(guint));
    g_autofree double *demand = g_new0(double, nn);
    g_autoptr(GPtrArray) fits = g_ptr_array_new_with_free_func(g_free);
    gboolean overloaded = FALSE;
    AssignHost h = {.n = nn, .capacity = s->node_capacity};
    guint first = 0;
    guint g;
    guint i;
    guint j;

    while (first < vcpus->len) {
        const DomainSample *dom = g_array_index(vcpus, PlanVcpu, first).dom;
        AssignItem it = {.pinned = -1, .hint = -1, .target = -1};
        g_autofree double *at = g_new0(double, nn);
        guint8 *ok = g_malloc0(nn / 8 + 1);
        gint node = -2;
        guint last = first;
        guint movable = 0;

        while (last < vcpus->len &&
               g_array_index(vcpus, PlanVcpu, last).dom == dom) {
            const PlanVcpu *pv = &g_array_index(vcpus, PlanVcpu, last);
            gint n = node_of(s, pv->pinned >= 0 ? pv->pinned : pv->hint);

            it.load += pv->track->load.value;
            if (n >= 0) {
                at[n] += pv->track->load.value;
                demand[n] += pv->track->load.value;
            }
            if (!pv->fixed) {
                movable++;
                /* Its node: where all of its pinned vCPUs are (one not
                 * pinned yet joins them). */
                if (pv->pinned >= 0 && node == -2)
                    node = node_of(s, pv->pinned);
                else if (pv->pinned >= 0 && node != node_of(s, pv->pinned))
                    node = -1;
            }
            last++;
        }
        g_ptr_array_add(fits, ok);
        it.allowed = ok;
        it.fixed = TRUE;
        for (j = 0; movable > 0 && j < nn; j++) {
            if (guest_fits(vcpus, first, last, s, j, it.load)) {
                ok[j / 8] |= (guint8)(1u << (j % 8));
                it.fixed = FALSE;
            }
        }
        if (!it.fixed && node >= 0 && (ok[node / 8] >> (node % 8)) & 1)
            it.pinned = node;
        for (j = 0; j < nn; j++)
            if (at[j] > 0 && (it.hint < 0 || at[j] > at[it.hint]))
                it.hint = (gint)j;
        g_array_append_val(items, it);
        g_array_append_val(bounds, first);
        first = last;
    }
    g_array_append_val(bounds, first);
    for (j = 0; j < nn; j++)
        overloaded |= demand[j] > s->node_capacity[j];
    for (g = 0; g < items->len; g++) {
        AssignItem *it = &g_array_index(items, AssignItem, g);

        it->frozen = !overloaded && it->pinned >= 0;
    }
    /* Only over-demand moves a placed guest: sd across nodes is not worth
     * its memory's locality. */
    if (items->len)
        assign_balance_on((AssignItem *)items->data, items->len, &h,
                          ASSIGN_CAPACITY);
    for (g = 0; g < items->len; g++) {
        const AssignItem *it = &g_array_index(items, AssignItem, g);

        if (it->fixed || it->target < 0)
            continue;
        i = g_array_index(bounds, guint, g);
        limit_to_node(vcpus, i, g_array_index(bounds, guint, g + 1), s,
                      (guint)it->target, maps);
    }
}

/* Turns the share of a CPU each slot's vCPUs ran into utilisation in
 * percent of the slot's capacity.  Not capped: a slot read above 100 had
 * vCPUs counted on it that ran elsewhere (unpinned ones go where they
 * last ran), or threads of one core that each ran at a fraction of its
 * speed, and the sd should see that. */
static void as_share_of_capacity(const VcpuPolicyState *st, double *util)
{
    guint k;

    for (k = 0; k < st->slots->n; k++) {
        double cap = st->slots->slot[k].capacity;

        util[k] = cap > 0 ? 100.0 * util[k] / cap : 0;
    }
}

/* Work above the overload line, in percent of one CPU. */
static double beyond(const VcpuPolicyState *st, const double *util,
                     double overload)
{
    double sum = 0;
    guint k;

    for (k = 0; k < st->slots->n; k++)
        sum += (util[k] - overload) * st->slots->slot[k].capacity / 100.0;
    return sum;
}

Plan *vcpu_policy_decide(const Snapshot *snap, const VcpuConfig *cfg,
                         VcpuPolicyState *st)
{
    g_autoptr(Plan) plan = plan_new();
    g_autoptr(GArray) vcpus = g_array_new(FALSE, FALSE, sizeof(PlanVcpu));
    g_autoptr(GPtrArray) maps = g_ptr_array_new_with_free_func(g_free);
    double overload = cfg->migration.overload_util;
    guint np;
    Measurement m;
    double *util;
    double sd;
    double mean;
    gboolean held;
    gboolean waiting;

    plan->detail = g_new0(VcpuPlanSd, 1);
    plan->detail_free = g_free;
    st->tick++;
    st->has_util = FALSE;
    /* A host without the excluded CPUs is refused at start
     * (vcpu_check_host), so ids it lacks only vanish. */
    build_slots(snap, cfg, st);
    np = st->slots->n;
    g_array_set_size(st->util, 0);
    g_array_set_size(st->util, np);
    util = (double *)st->util->data;

    measure(snap, st, util, vcpus, maps, &m);
    g_hash_table_foreach_remove(st->domains, forget_unseen, st);
    as_share_of_capacity(st, util);
    if (st->slots->nnodes > 1)
        keep_guests_in_nodes(vcpus, st, maps);

    if (np == 0 || m.sampled == 0) {
        st->unbalanced_ticks = 0;
        set_summary(plan, np == 0 ? "no pCPUs" : "warming up");
        return g_steal_pointer(&plan);
    }

    st->has_util = TRUE;
    sd = util_stddev(util, np);
    mean = mean_of(util, np);
    plan_sd(plan)->sd_before = plan_sd(plan)->sd_after = sd;
    /* Every pCPU busier than the threshold: no placement helps, moving a
     * guest away does. */
    if (min_of(util, np) > overload)
        plan_set_shortfall(plan, PLAN_SHORT_CPU, beyond(st, util, overload));
    if (place_outside(plan, cfg, st, vcpus) ||
        place_in_nodes(plan, cfg, st, vcpus))
        return g_steal_pointer(&plan);
    held = check_hold(st, cfg, sd, &m, vcpus->len);
    waiting = waiting_demand(vcpus, cfg, st) >= MIN_FREED_DEMAND;
    if (mean < cfg->idle_util && !waiting) {
        st->unbalanced_ticks = 0;
        set_summary(plan, "idle mean=%.1f%% sd=%.1f", mean, sd);
        return g_steal_pointer(&plan);
    }
    waiting = waiting && min_of(util, np) <= ROOM_UTIL;
    if (sd <= cfg->sd_threshold && !waiting) {
        st->unbalanced_ticks = 0;
        claim_free(plan, cfg, st, vcpus);
        return g_steal_pointer(&plan);
    }

    st->unbalanced_ticks++;
    if (held) {
        set_summary(
            plan,
            "unbalanced sd=%.1f, holding: the plan of tick %" G_GUINT64_FORMAT
            " did not deliver",
            sd, st->hold_from);
        return g_steal_pointer(&plan);
    }
    /* Pinning unpinned vCPUs is never a reaction to noise: it ends it. */
    if (sd <= GROSS_FACTOR * cfg->sd_threshold && !any_unpinned(vcpus) &&
        !waiting && st->unbalanced_ticks < CONFIRM_TICKS) {
        set_summary(plan, "unbalanced sd=%.1f, confirming (%u of %d ticks)", sd,
                    st->unbalanced_ticks, CONFIRM_TICKS);
        return g_steal_pointer(&plan);
    }
    rebalance(plan, cfg, st, vcpus, m.total,
              sd > GROSS_FACTOR * cfg->sd_threshold);
    return g_steal_pointer(&plan);
}

gboolean vcpu_check_host(const Snapshot *snap, const VcpuConfig *cfg,
                         gboolean first, GError **error)
{
    const GArray *ids = cfg->exclude_cpus.ids;
    g_autofree char *why = NULL;
    guint left = 0;
    guint c;
    guint i;

    /* auto needs no topology: without one it is cpu, as on small hosts. */
    if (first && cfg->granularity != GRAIN_AUTO &&
        !granularity_supported(snap->topology, cfg->granularity, &why)) {
        g_autofree char *detail =
            snap->topology_problem
                ? g_strdup_printf(" (%s)", snap->topology_problem)
                : g_strdup("");

        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                    "[vcpu] granularity %s is not possible here: %s%s",
                    granularity_names[cfg->granularity], why, detail);
        return FALSE;
    }
    if (!ids)
        return TRUE;
    for (i = 0; i < ids->len; i++) {
        c = g_array_index(ids, guint, i);
        if (c >= snap->node.npcpus) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                        "[vcpu] exclude_cpus names CPU %u, but this host's "
                        "CPUs are 0-%u",
                        c, snap->node.npcpus ? snap->node.npcpus - 1 : 0);
            return FALSE;
        }
    }
    for (c = 0; c < snap->node.npcpus; c++)
        left += snapshot_cpu_online(snap, c) && !cpuset_has(ids, c);
    if (left == 0) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                    "[vcpu] exclude_cpus '%s' leaves no online CPU for the "
                    "guests",
                    cfg->exclude_cpus.text);
        return FALSE;
    }
    return TRUE;
}
