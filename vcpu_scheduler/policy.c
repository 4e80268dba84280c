#include "policy.h"

#include <math.h>
#include <string.h>

/* Weight of a new demand sample in the smoothed estimate.  Loads on TCG
 * guests wobble by a few percent from tick to tick; halving that wobble
 * keeps it from looking like a reason to move. */
#define LOAD_ALPHA 0.5

/* A sample this far from the estimate is a new load, not noise: take it
 * whole, so a load that starts or stops is planned for at once. */
#define LOAD_STEP 25.0

/* Imbalance this many times the threshold cannot be noise: act on it at
 * once, even on vCPUs still dwelling.  Smaller imbalance must be seen on
 * CONFIRM_TICKS ticks in a row before anything moves. */
#define GROSS_FACTOR 2.0
#define CONFIRM_TICKS 2

/* A plan has to buy at least this much lower sd, whatever the config
 * says, or it is rounding noise. */
#define MIN_PLAN_GAIN 0.5

typedef struct {
    guint number;
    gboolean has_prev;
    guint64 time_ns;
    guint64 delay_ns;
    gboolean has_delay;
    gint64 mono_us;

    gboolean has_load;
    double load;         /* smoothed demand, percent of one pCPU */
    gboolean reset_load; /* the next sample replaces the estimate */

    gboolean dwelling;
    guint64 pinned_tick; /* tick of our last applied pin */
} VcpuTrack;

typedef struct {
    GArray *vcpus; /* VcpuTrack, in the domain's vCPU order */
    guint64 seen_tick;
} DomTrack;

struct VcpuPolicyState {
    GHashTable *domains; /* uuid -> DomTrack* */
    guint64 tick;
    guint unbalanced_ticks;
    GArray *util; /* double per pCPU, from the last decision */
    gboolean has_util;
};

/* One vCPU with a demand estimate, as this tick's plan sees it. */
typedef struct {
    const DomainSample *dom;
    const VcpuSample *vs;
    VcpuTrack *track;
    gint pinned;   /* -1 when its affinity allows several pCPUs */
    guint allowed; /* pCPUs its affinity allows */
    double util;   /* share of a pCPU it ran this tick, -1 when unknown */
} PlanVcpu;

static void dom_track_free(gpointer data)
{
    DomTrack *dt = data;

    if (!dt)
        return;
    g_array_unref(dt->vcpus);
    g_free(dt);
}

VcpuPolicyState *vcpu_policy_state_new(void)
{
    VcpuPolicyState *st = g_new0(VcpuPolicyState, 1);

    st->domains =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, dom_track_free);
    st->util = g_array_new(FALSE, TRUE, sizeof(double));
    return st;
}

void vcpu_policy_state_free(VcpuPolicyState *st)
{
    if (!st)
        return;
    g_hash_table_unref(st->domains);
    g_array_unref(st->util);
    g_free(st);
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

void vcpu_policy_note_applied(VcpuPolicyState *st, const Action *a,
                              gboolean ok)
{
    VcpuTrack *t;

    if (!st || !a || a->kind != ACTION_PIN_VCPU || !ok)
        return;
    t = find_track(st, a->uuid, a->vcpu);
    if (!t)
        return;
    t->dwelling = TRUE;
    t->pinned_tick = st->tick;
    /* Demand seen while sharing a saturated pCPU says little about demand
     * after the move. */
    t->reset_load = TRUE;
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

static void update_load(VcpuTrack *t, double demand)
{
    if (!t->has_load || t->reset_load || fabs(demand - t->load) > LOAD_STEP)
        t->load = demand;
    else
        t->load = LOAD_ALPHA * demand + (1 - LOAD_ALPHA) * t->load;
    t->has_load = TRUE;
    t->reset_load = FALSE;
}

/* Turns the counters since the previous sample into this tick's share of
 * a pCPU (*util) and feeds the demand estimate.  FALSE when there is no
 * usable previous sample. */
static gboolean take_sample(VcpuTrack *t, const VcpuSample *vs, gint64 mono_us,
                            double *util)
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
            t->has_load = FALSE;
            t->dwelling = FALSE;
        } else if (wall_us > 0) {
            double wall_ns = (double)wall_us * 1000.0;
            double ran = (double)(vs->time_ns - t->time_ns);
            double waited =
                with_delay ? (double)(vs->delay_ns - t->delay_ns) : 0;
            double u = CLAMP(100.0 * ran / wall_ns, 0, 100);
            double demand = CLAMP(100.0 * (ran + waited) / wall_ns, u, 100);

            update_load(t, demand);
            *util = u;
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

/* Samples every vCPU: adds its share to the pCPU it is pinned to, else the
 * one it last ran on, and lists those with a demand estimate.  Returns how
 * many vCPUs had two samples. */
static guint measure(const Snapshot *snap, VcpuPolicyState *st,
                     double *util, GArray *vcpus)
{
    guint np = snap->node.npcpus;
    gsize maplen = snapshot_maplen(snap);
    guint sampled = 0;
    guint i;
    guint k;

    for (i = 0; i < snap->domains->len; i++) {
        const DomainSample *d = g_ptr_array_index(snap->domains, i);
        DomTrack *dt;

        if (d->state == VIR_DOMAIN_SHUTOFF)
            continue;
        dt = dom_track_get(st, d);
        /* A UUID listed twice would mix two vCPU histories. */
        if (dt->seen_tick == st->tick)
            continue;
        dt->seen_tick = st->tick;
        for (k = 0; k < d->nvcpus; k++) {
            const VcpuSample *vs = &d->vcpus[k];
            VcpuTrack *t = &g_array_index(dt->vcpus, VcpuTrack, k);
            PlanVcpu pv = {.dom = d, .vs = vs, .track = t, .util = -1};
            gint at;

            pv.pinned = np ? cpumap_single(vs->cpumap, maplen, np) : -1;
            pv.allowed = np ? cpumap_count(vs->cpumap, maplen, np) : 0;
            if (take_sample(t, vs, snap->mono_us, &pv.util)) {
                sampled++;
                at = pv.pinned >= 0 ? pv.pinned : vs->last_pcpu;
                if (at >= 0 && (guint)at < np)
                    util[at] += pv.util;
            }
            if (t->has_load && np > 0)
                g_array_append_val(vcpus, pv);
        }
    }
    return sampled;
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

static void set_summary(Plan *plan, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void set_summary(Plan *plan, const char *fmt, ...)
{
    va_list ap;

    g_free(plan->summary);
    va_start(ap, fmt);
    plan->summary = g_strdup_vprintf(fmt, ap);
    va_end(ap);
}

static GArray *build_items(const GArray *vcpus, const Config *cfg,
                           guint64 tick, gboolean ignore_dwell)
{
    GArray *items = g_array_sized_new(FALSE, TRUE, sizeof(AssignItem),
                                      vcpus->len);
    guint i;

    for (i = 0; i < vcpus->len; i++) {
        const PlanVcpu *pv = &g_array_index(vcpus, PlanVcpu, i);
        AssignItem it = {
            .load = pv->track->load,
            .pinned = pv->pinned,
            .hint = pv->vs->last_pcpu,
            .target = -1,
        };

        it.frozen = !ignore_dwell && pv->pinned >= 0 &&
                    pv->track->dwelling &&
                    tick - pv->track->pinned_tick < cfg->dwell_ticks;
        g_array_append_val(items, it);
    }
    return items;
}

static void add_action(Plan *plan, const PlanVcpu *pv, const AssignItem *it,
                       double sd_before, double sd_after)
{
    Action *a = plan_add(plan, ACTION_PIN_VCPU, pv->dom->uuid, pv->dom->name);
    g_autofree char *ran = NULL;

    a->vcpu = pv->vs->number;
    a->from_pcpu = pv->pinned;
    a->to_pcpu = (guint)it->target;
    ran = pv->util >= 0 ? g_strdup_printf("%.0f%%", pv->util)
                        : g_strdup("unknown");
    if (pv->pinned >= 0) {
        action_set_reason(a,
                          "demand %.0f%% (ran %s) moves from pCPU %d to %d; "
                          "sd %.1f -> %.1f predicted",
                          it->load, ran, pv->pinned, it->target, sd_before,
                          sd_after);
    } else {
        action_set_reason(a,
                          "pinned to pCPU %d (affinity allowed %u pCPUs, "
                          "last ran on %d); demand %.0f%% (ran %s); "
                          "sd %.1f -> %.1f predicted",
                          it->target, pv->allowed, pv->vs->last_pcpu,
                          it->load, ran, sd_before, sd_after);
    }
}

/* Plans a balanced assignment for an unbalanced host, or says why not. */
static void rebalance(Plan *plan, const Config *cfg, VcpuPolicyState *st,
                      const GArray *vcpus, guint np, gboolean gross)
{
    g_autoptr(GArray) items = build_items(vcpus, cfg, st->tick, gross);
    AssignItem *it = (AssignItem *)items->data;
    double sd_before = plan->sd_before;
    double sd_now;
    double sd_after;
    double need;
    guint moves;
    guint i;

    sd_now = assign_predicted_sd(it, items->len, np, FALSE);
    moves = assign_balance(it, items->len, np, cfg->sd_threshold / 2);
    sd_after = assign_predicted_sd(it, items->len, np, TRUE);
    if (moves == 0) {
        set_summary(plan, "unbalanced sd=%.1f, no better assignment",
                    sd_before);
        return;
    }

    /* A balance out of reach leaves partitions that differ by noise only;
     * switching among them would never end, so such a plan has to gain a
     * whole threshold. */
    need = MAX(cfg->sd_hysteresis, MIN_PLAN_GAIN);
    if (sd_after > cfg->sd_threshold)
        need = MAX(need, cfg->sd_threshold);
    if (sd_before - sd_after < need || sd_now - sd_after < need) {
        set_summary(plan,
                    "unbalanced sd=%.1f, best plan predicts %.1f "
                    "(needs a gain of %.1f)",
                    sd_before, sd_after, need);
        return;
    }

    plan->sd_after = sd_after;
    for (i = 0; i < items->len; i++) {
        if (it[i].pinned < 0 || it[i].target != it[i].pinned)
            add_action(plan, &g_array_index(vcpus, PlanVcpu, i), &it[i],
                       sd_before, sd_after);
    }
    st->unbalanced_ticks = 0;
    set_summary(plan, "repin %u vCPU%s sd %.1f -> %.1f", plan_len(plan),
                plan_len(plan) == 1 ? "" : "s", sd_before, sd_after);
}

Plan *vcpu_policy_decide(const Snapshot *snap, const Config *cfg,
                         VcpuPolicyState *st)
{
    g_autoptr(Plan) plan = plan_new();
    g_autoptr(GArray) vcpus = g_array_new(FALSE, FALSE, sizeof(PlanVcpu));
    guint np = snap->node.npcpus;
    double *util;
    double sd;
    double mean;
    guint sampled;

    st->tick++;
    st->has_util = FALSE;
    g_array_set_size(st->util, 0);
    g_array_set_size(st->util, np);
    util = (double *)st->util->data;

    sampled = measure(snap, st, util, vcpus);
    g_hash_table_foreach_remove(st->domains, forget_unseen, st);

    if (np == 0) {
        st->unbalanced_ticks = 0;
        set_summary(plan, "no pCPUs");
        return g_steal_pointer(&plan);
    }
    if (sampled == 0) {
        st->unbalanced_ticks = 0;
        set_summary(plan, "warming up");
        return g_steal_pointer(&plan);
    }

    st->has_util = TRUE;
    sd = util_stddev(util, np);
    mean = mean_of(util, np);
    plan->sd_before = plan->sd_after = sd;
    if (mean < cfg->idle_util) {
        st->unbalanced_ticks = 0;
        set_summary(plan, "idle mean=%.1f%% sd=%.1f", mean, sd);
        return g_steal_pointer(&plan);
    }
    if (sd <= cfg->sd_threshold) {
        st->unbalanced_ticks = 0;
        set_summary(plan, "balanced sd=%.1f", sd);
        return g_steal_pointer(&plan);
    }

    st->unbalanced_ticks++;
    if (sd <= GROSS_FACTOR * cfg->sd_threshold &&
        st->unbalanced_ticks < CONFIRM_TICKS) {
        set_summary(plan, "unbalanced sd=%.1f, confirming next tick", sd);
        return g_steal_pointer(&plan);
    }
    rebalance(plan, cfg, st, vcpus, np,
              sd > GROSS_FACTOR * cfg->sd_threshold);
    return g_steal_pointer(&plan);
}
