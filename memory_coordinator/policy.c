#include "policy_priv.h"
#include "stats_period.h"

#include <math.h>
#include <string.h>

/* Guests in some condition the log mentions once: reported when they
 * enter it, again only after they left it in between. */
typedef struct {
    GHashTable *in;  /* uuids in the condition, already reported */
    GQueue *pending; /* names not yet taken */
} Notice;

struct MemPolicyState {
    guint64 generation;
    GHashTable *guests; /* uuid -> MemGuestState* */
    Notice unballooned; /* running without balloon stats */
    Notice cache_blind; /* stats without usable or disk_caches */
};

static void notice_init(Notice *n)
{
    n->in = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    n->pending = g_queue_new();
}

static void notice_clear(Notice *n)
{
    g_hash_table_unref(n->in);
    g_queue_free_full(n->pending, g_free);
}

/* A guest leaves a condition in any state, but enters it only running:
 * a guest that is not running has no stats to speak of. */
static void notice_set(Notice *n, const DomainSample *d, gboolean live,
                       gboolean in)
{
    if (!in) {
        g_hash_table_remove(n->in, d->uuid);
        return;
    }
    if (!live || g_hash_table_contains(n->in, d->uuid))
        return;
    g_hash_table_add(n->in, g_strdup(d->uuid));
    g_queue_push_tail(n->pending, g_strdup(d->name));
}

static gboolean notice_take(Notice *n, char **name_out)
{
    *name_out = g_queue_pop_head(n->pending);
    return *name_out != NULL;
}

MemPolicyState *mem_policy_state_new(void)
{
    MemPolicyState *st = g_new0(MemPolicyState, 1);

    st->guests = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    notice_init(&st->unballooned);
    notice_init(&st->cache_blind);
    return st;
}

void mem_policy_state_free(MemPolicyState *st)
{
    if (!st)
        return;
    g_hash_table_unref(st->guests);
    notice_clear(&st->unballooned);
    notice_clear(&st->cache_blind);
    g_free(st);
}

gboolean mem_policy_take_new_unballooned(MemPolicyState *st, char **name_out)
{
    return notice_take(&st->unballooned, name_out);
}

gboolean mem_policy_take_new_cache_blind(MemPolicyState *st, char **name_out)
{
    return notice_take(&st->cache_blind, name_out);
}

/* Seconds a target must last: until the next tick, and then until the
 * balloon has answered it (horizon). */
static double cover_seconds(const MemConfig *cfg)
{
    double s = 0;

    if (isfinite(cfg->daemon.interval_s) && cfg->daemon.interval_s > 0)
        s += MIN(cfg->daemon.interval_s, 3600.0);
    if (isfinite(cfg->horizon_s) && cfg->horizon_s > 0)
        s += MIN(cfg->horizon_s, 3600.0);
    return s;
}

guint64 mem_need_kib(const MemConfig *cfg, double rate_kib_s,
                     double report_age_s)
{
    double rate = MEM_ONSET_RATE_KIB_S;
    double head;

    if (!isfinite(rate_kib_s) || rate_kib_s < 0)
        rate_kib_s = 0;
    if (!isfinite(report_age_s) || report_age_s < 0)
        report_age_s = 0;
    rate = MAX(rate, rate_kib_s);
    /* A report can reach a tick late: the guest's balloon driver makes
     * it from a timer, which a busy host runs late, and meanwhile the
     * guest went on consuming.  What it took since is gone already; only
     * a measured rate says how much (the onset allowance is for what may
     * start from now on).  A fresh report is at most stale_after_s old. */
    head = rate * cover_seconds(cfg) + rate_kib_s * MIN(report_age_s, 3600.0);
    head = MIN(head, (double)MEM_KIB_CAP);
    return mem_kib_add(mem_mib_to_kib(cfg->min_unused_mib), (guint64)head);
}

/* Seconds between the guest's report and the snapshot, in the whole
 * seconds the guest stamps; 0 for a stamp ahead of the snapshot. */
static double report_age_s(const Snapshot *snap, const DomainSample *d)
{
    gint64 age = snap->wall_us / G_USEC_PER_SEC - d->balloon.last_update;

    return age > 0 ? (double)age : 0;
}

static gboolean domain_ballooned(const DomainSample *d)
{
    const guint32 want = BALLOON_HAS_ACTUAL | BALLOON_HAS_UNUSED;

    return d->has_balloon_stats && (d->balloon.present & want) == want;
}

/* Stats are fresh when the guest stamped them within stale_after_s of the
 * snapshot.  No stamp at all counts as stale: nothing says how old the
 * numbers are.  A stamp far in the future is as suspect as an old one. */
static gboolean domain_fresh(const Snapshot *snap, const MemConfig *cfg,
                             const DomainSample *d)
{
    gint64 now_s = snap->wall_us / G_USEC_PER_SEC;
    gint64 lu = d->balloon.last_update;
    gint64 age;

    if (!(d->balloon.present & BALLOON_HAS_LAST_UPDATE) || lu <= 0)
        return FALSE;
    if (lu > G_MAXINT64 / 2 || now_s < G_MININT64 / 2)
        return FALSE;
    age = now_s - lu;
    return age <= (gint64)cfg->stale_after_s &&
           -age <= (gint64)cfg->stale_after_s;
}

static MemGuestState *state_for(MemPolicyState *st, const DomainSample *d)
{
    MemGuestState *gs = g_hash_table_lookup(st->guests, d->uuid);

    if (!gs) {
        gs = g_new0(MemGuestState, 1);
        g_hash_table_insert(st->guests, g_strdup(d->uuid), gs);
    }
    gs->generation = st->generation;
    return gs;
}

void mem_policy_note_applied(MemPolicyState *st, const BalloonAction *a,
                             gint64 mono_us, gboolean ok)
{
    MemGuestState *gs;

    if (!(gs = g_hash_table_lookup(st->guests, a->base.uuid)))
        return;
    gs->have_target = ok;
    gs->target_kib = a->new_kib;
    gs->target_mono_us = mono_us;
}

/* The target the guest's balloon is heading for.  libvirt's current
 * memory of a running guest is the balloon's size from QEMU's last
 * balloon event, and QEMU sends at most one a second: measured on a busy
 * guest, a 64 MiB shrink was not done a tick later.  Counting from that
 * size would undo half of each shrink on the next tick, and would hand
 * out a growth twice while the first was still on its way.  So the last
 * target set counts until the balloon is within tol of it, or for
 * MEM_TARGET_TRUST_S after it was set: a guest that cannot get there by
 * then is taken at its size. */
static guint64 heading_for(MemGuestState *gs, const Snapshot *snap,
                           const DomainSample *d, guint64 tol)
{
    guint64 size = d->cur_kib;

    if (gs->have_target && domain_sample_live(d) &&
        snap->mono_us >= gs->target_mono_us &&
        snap->mono_us - gs->target_mono_us <=
            MEM_TARGET_TRUST_S * G_USEC_PER_SEC &&
        (size > gs->target_kib ? size - gs->target_kib
                               : gs->target_kib - size) > tol)
        return gs->target_kib;
    gs->have_target = FALSE;
    return size;
}

static double smooth_rate(double rate, double inst, double dt)
{
    if (inst > rate)
        return rate + MEM_RATE_RISE * (inst - rate);
    return inst + (rate - inst) * exp2(-dt / MEM_RATE_HALF_LIFE_S);
}

/* Growth of a cumulative counter between two reports, per second; 0 when
 * either report lacks it. */
static double counter_rate(const BalloonStats *before, const BalloonStats *now,
                           guint32 bit, guint64 was, guint64 is, double dt)
{
    if (!(before->present & bit) || !(now->present & bit) || is < was)
        return 0;
    return (double)(is - was) / dt;
}

static guint count_on(guint n, gboolean yes)
{
    return yes ? MIN(n + 1, G_MAXUINT / 2) : 0;
}

/* Major faults and swap-in since the last report (see
 * MEM_SQUEEZE_FAULTS_S).  They squeeze the guest only while its free
 * memory is short of min_unused: a guest with free memory to spare reads
 * pages in for the first time, and more memory would change nothing (seen
 * on the test guests: a 768 MiB working set read in at random, 1,500 faults
 * a second for two minutes with 1.5 GiB free). */
static void update_pressure(MemGuestState *gs, const BalloonStats *now,
                            double dt, guint64 min_unused_kib)
{
    const BalloonStats *was = &gs->report;
    gboolean faulting;

    if (!gs->have_report || !(dt > 0))
        return;
    gs->fault_rate = counter_rate(was, now, BALLOON_HAS_MAJOR_FAULT,
                                  was->major_fault, now->major_fault, dt);
    gs->swapin_kib_s = counter_rate(was, now, BALLOON_HAS_SWAP_IN,
                                    was->swap_in_kib, now->swap_in_kib, dt);
    faulting = gs->fault_rate >= MEM_SQUEEZE_FAULTS_S ||
               gs->swapin_kib_s >= MEM_SQUEEZE_SWAPIN_KIB_S;
    gs->fault_reports = count_on(gs->fault_reports, faulting);
    gs->squeeze_reports = count_on(
        gs->squeeze_reports, faulting && now->unused_kib < min_unused_kib);
}

/* A guest whose counters went backwards has started again: its rates,
 * its kernel's reserve and its working set are all unknown once more.
 * The target last set stays: that is the balloon's, not the kernel's. */
static void forget_if_restarted(MemGuestState *gs, const DomainSample *d)
{
    if (!gs->have_report || !d->has_balloon_stats ||
        !mem_report_counters_reset(&gs->report, &d->balloon))
        return;
    gs->have_prev = FALSE;
    gs->rate_kib_s = 0;
    gs->have_active = FALSE;
    gs->have_offset = FALSE;
    gs->have_report = FALSE;
    gs->fault_rate = 0;
    gs->swapin_kib_s = 0;
    gs->fault_reports = 0;
    gs->squeeze_reports = 0;
    gs->held_until_us = 0;
    gs->reserve_kib = 0;
}

static void learn_reserve(MemGuestState *gs, const DomainSample *d)
{
    guint64 cap =
        (guint64)((double)MIN(d->max_kib, MEM_KIB_CAP) * MEM_RESERVE_SHARE);

    /* The kernel's watermarks scale with its memory: a reserve learnt at
     * another maximum (memory hot-plugged, or a guest redefined and
     * started under the same UUID) is not this one's, nor a seed for
     * guests of the new size. */
    if (gs->max_kib != d->max_kib)
        gs->reserve_kib = 0;
    gs->max_kib = d->max_kib;
    if (!d->has_balloon_stats)
        return;
    gs->reserve_kib =
        MAX(gs->reserve_kib, MIN(mem_report_reserve_kib(&d->balloon), cap));
}

/* The smallest reserve learnt from the guests of each maximum size. */
static GHashTable *reserve_seeds(const MemPolicyState *st)
{
    GHashTable *seeds =
        g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, st->guests);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        const MemGuestState *gs = value;
        guint64 *seed;

        if (!gs->reserve_kib)
            continue;
        seed = g_hash_table_lookup(seeds, &gs->max_kib);
        if (seed) {
            *seed = MIN(*seed, gs->reserve_kib);
            continue;
        }
        g_hash_table_insert(seeds, g_memdup2(&gs->max_kib, sizeof(guint64)),
                            g_memdup2(&gs->reserve_kib, sizeof(guint64)));
    }
    return seeds;
}

/* The kernel reserve counted for g: its own, once a report without cache
 * showed it.  A guest that has held cache in every report (real guests
 * read their root file system at boot) never shows it; guests booted with
 * the same maximum run the same watermarks when they run the same kernel,
 * so until then the smallest reserve learnt from such a guest stands in,
 * never more than the guest's own free memory: a cache-full kernel keeps
 * its free memory between its watermarks, so a smaller kernel's reserve
 * shows there.  Without either, none: its reserve then counts as used,
 * which errs on the guest's side. */
static guint64 reserve_for(const MemTick *t, const MemGuest *g)
{
    const guint64 *seed;

    if (g->gs->reserve_kib)
        return g->gs->reserve_kib;
    seed = g_hash_table_lookup(t->reserve_seed, &g->gs->max_kib);
    return seed ? MIN(*seed, g->unused_kib) : 0;
}

guint64 mem_policy_kernel_reserve_kib(const MemPolicyState *st,
                                      const char *uuid)
{
    const MemGuestState *gs = g_hash_table_lookup(st->guests, uuid);

    return gs ? gs->reserve_used_kib : 0;
}

gboolean mem_policy_guest_figures(const MemPolicyState *st, const char *uuid,
                                  MemGuestFigures *out)
{
    const MemGuestState *gs = g_hash_table_lookup(st->guests, uuid);

    *out = (MemGuestFigures){0};
    if (!gs)
        return FALSE;
    out->rate_kib_s = gs->rate_kib_s;
    out->have_target = gs->have_target;
    out->target_kib = gs->have_target ? gs->target_kib : 0;
    return TRUE;
}

static void update_active(MemGuestState *gs, const MemConfig *cfg,
                          const MemGuest *g)
{
    double active;
    double f;
    double w;

    /* used_kib leaves reclaimable cache out already: cache can be dropped,
     * so it is not active; memory the guest is about to take is. */
    active =
        (double)g->used_kib + gs->rate_kib_s * MIN(cover_seconds(cfg), 3600.0);
    f = g->actual_kib ? MIN(1.0, active / (double)g->actual_kib) : 1.0;
    if (!gs->have_active) {
        gs->active = f;
        gs->have_active = TRUE;
        return;
    }
    w = f > gs->active ? cfg->active_rise : cfg->active_decay;
    if (!isfinite(w))
        w = 1.0;
    gs->active += CLAMP(w, 0.0, 1.0) * (f - gs->active);
}

/* Learns from a new stats sample: the rate at which the guest's used
 * memory grows.  Used as the guest reports it (its own total less its
 * unused memory) does not move when the balloon does, so a target change
 * never reads as consumption.  A sample whose
 * stamp has not moved is no new sample.  The interval is the snapshots'
 * monotonic spacing, but never less than the guest's stamps prove passed
 * (whole seconds, so one less): a sample picked up late, just before the
 * next tick, must not have a long interval's growth divided by a short
 * tick gap. */
static void update_history(MemGuestState *gs, const Snapshot *snap,
                           const MemConfig *cfg, const MemGuest *g)
{
    gint64 lu = g->dom->balloon.last_update;
    double dt;
    double inst;

    if (!g->live || !g->ballooned || !g->fresh)
        return;
    if (gs->have_prev && lu == gs->prev_last_update)
        return;
    if (gs->have_prev && snap->mono_us > gs->prev_mono_us) {
        dt = (double)(snap->mono_us - gs->prev_mono_us) / G_USEC_PER_SEC;
        if (lu > gs->prev_last_update)
            dt = MAX(dt, (double)(lu - gs->prev_last_update - 1));
        inst = ((double)g->reported_used_kib - (double)gs->prev_used_kib) / dt;
        gs->rate_kib_s = smooth_rate(gs->rate_kib_s, MAX(inst, 0.0), dt);
        if (!isfinite(gs->rate_kib_s))
            gs->rate_kib_s = 0;
        gs->rate_kib_s = MIN(gs->rate_kib_s, (double)MEM_KIB_CAP);
        update_pressure(gs, &g->dom->balloon, dt,
                        mem_mib_to_kib(cfg->min_unused_mib));
    }
    gs->have_report = TRUE;
    gs->report = g->dom->balloon;
    gs->have_prev = TRUE;
    gs->prev_last_update = lu;
    gs->prev_mono_us = snap->mono_us;
    gs->prev_used_kib = g->reported_used_kib;
    update_active(gs, cfg, g);
}

static void note_conditions(MemPolicyState *st, const MemGuest *g)
{
    notice_set(&st->unballooned, g->dom, g->live, !g->ballooned);
    notice_set(&st->cache_blind, g->dom, g->live,
               g->ballooned && !g->cache_aware);
}

/* A quiet guest grows only once its headroom is below its need.  A guest
 * consuming faster than the onset allowance is topped up to need + slack
 * every tick: its rate was measured over an interval in which it may
 * only have started, so waiting for the need to be crossed would leave it
 * a tick short. */
static guint64 grow_trigger(const MemGuest *g)
{
    return g->gs->rate_kib_s > MEM_ONSET_RATE_KIB_S ? g->hi_kib : g->lo_kib;
}

/* Learns actual - available from a report the guest made while the
 * balloon stood still: made (stamped, in whole seconds) no earlier than
 * the first snapshot that showed the balloon at its present size, which
 * is no earlier than the balloon got there. */
static void learn_offset(MemGuestState *gs, const Snapshot *snap,
                         const MemGuest *g)
{
    const DomainSample *d = g->dom;

    if (!gs->have_prev_actual || d->balloon.actual_kib != gs->prev_actual_kib)
        gs->actual_since_wall_us = snap->wall_us;
    else if (g->fresh && (d->balloon.present & BALLOON_HAS_AVAILABLE) &&
             d->balloon.last_update > 0 &&
             d->balloon.last_update <= G_MAXINT64 / G_USEC_PER_SEC &&
             d->balloon.last_update * G_USEC_PER_SEC >=
                 gs->actual_since_wall_us) {
        gs->offset_kib = (gint64)MIN(d->balloon.actual_kib, MEM_KIB_CAP) -
                         (gint64)MIN(d->balloon.available_kib, MEM_KIB_CAP);
        gs->have_offset = TRUE;
    }
    gs->have_prev_actual = g->live;
    gs->prev_actual_kib = d->balloon.actual_kib;
}

/* Used memory as of the guest's last report.  actual - unused would mix
 * two moments: libvirt reads actual from QEMU at the call, while unused
 * is from the guest's last report.  Measured on a guest whose balloon was
 * inflating, that read used 86 MiB low on one tick and right on the next,
 * so each shrink was followed by a grow.  available - unused are from one
 * report; adding the learned offset puts them on actual's scale. */
static guint64 consistent_used(const MemGuest *g)
{
    gint64 used;

    if (!(g->dom->balloon.present & BALLOON_HAS_AVAILABLE))
        return g->used_kib;
    /* Until the offset is known: available - unused misses only what the
     * guest's kernel reserved, actual - unused misses a balloon move, and
     * neither reads more than the truth while the balloon shrinks. */
    if (!g->gs->have_offset)
        return MAX(g->used_kib, g->reported_used_kib);
    used = (gint64)g->reported_used_kib + g->gs->offset_kib;
    return (guint64)CLAMP(used, 0, (gint64)MEM_KIB_CAP);
}

static void fill_guest(MemTick *t, MemGuest *g, const DomainSample *d,
                       guint64 heading_kib)
{
    const MemConfig *cfg = t->cfg;
    guint64 tol;

    g->dom = d;
    g->gs = state_for(t->st, d);
    g->live = domain_sample_live(d);
    g->ballooned = domain_ballooned(d);
    g->fresh = g->ballooned && domain_fresh(t->snap, cfg, d);
    g->actual_kib = MIN(d->balloon.actual_kib, MEM_KIB_CAP);
    g->unused_kib = MIN(d->balloon.unused_kib, MEM_KIB_CAP);
    g->cache_aware = g->ballooned && mem_report_cache_aware(&d->balloon);
    forget_if_restarted(g->gs, d);
    learn_reserve(g->gs, d);
    g->gs->reserve_used_kib = reserve_for(t, g);
    g->reclaim_kib =
        mem_report_reclaimable_kib(&d->balloon, g->gs->reserve_used_kib);
    /* From the raw figures: capping first could make used look smaller. */
    g->used_kib = MIN(
        mem_kib_sub(mem_kib_sub(d->balloon.actual_kib, d->balloon.unused_kib),
                    g->reclaim_kib),
        MEM_KIB_CAP);
    /* unused and available arrive in one report from the guest, while
     * actual is the host's view of the balloon and moves at other moments;
     * measured here, actual - unused read a 25 MB/s consumer as 500 MiB/s
     * whenever a grant landed between two guest reports. */
    g->reported_used_kib =
        (d->balloon.present & BALLOON_HAS_AVAILABLE)
            ? MIN(mem_kib_sub(mem_kib_sub(d->balloon.available_kib,
                                          d->balloon.unused_kib),
                              g->reclaim_kib),
                  MEM_KIB_CAP)
            : g->used_kib;
    g->shares = mem_config_shares_for(cfg, d->name);

    /* A balloon still inflating towards an older, lower target would make
     * a further shrink count the same memory twice. */
    tol = MAX(t->bounds.min_step_kib, 1024);
    g->cur_kib = heading_kib;
    /* Shrinking on from a balloon still inflating would count the same
     * memory twice when its target is not known; when it is (the policy's
     * own, remembered), the next shrink goes on from that target: waiting
     * for the balloon would halve the release rate. */
    g->settled = d->balloon.actual_kib <= mem_kib_add(g->cur_kib, tol) ||
                 heading_kib != d->cur_kib;

    learn_offset(g->gs, t->snap, g);
    g->used_kib = consistent_used(g);
    update_history(g->gs, t->snap, cfg, g);

    g->report_age_s = g->fresh ? report_age_s(t->snap, d) : 0;
    g->need_kib = mem_need_kib(cfg, g->gs->rate_kib_s, g->report_age_s);
    g->lo_kib = MAX(t->bounds.floor_kib, mem_kib_add(g->used_kib, g->need_kib));
    g->hi_kib = mem_kib_add(g->lo_kib, mem_mib_to_kib(cfg->release_slack_mib));
    g->keep_kib = g->lo_kib;
    if (t->snap->mono_us < g->gs->held_until_us)
        g->keep_kib = MAX(g->keep_kib, g->gs->held_kib);

    g->bg.cur_kib = g->cur_kib;
    g->bg.max_kib = d->max_kib;
    g->bg.used_kib = g->used_kib;
    /* Stale guests are held where they are: a target worked out from old
     * numbers is a guess either way, and the memory they hold still counts
     * against the budget. */
    g->bg.may_grow = g->live && g->fresh;
    g->squeezed =
        g->bg.may_grow && g->gs->squeeze_reports >= MEM_SQUEEZE_REPORTS;
    /* Taking memory from a faulting guest only turns into more faults, so
     * one report above the line stops shrinks; growth waits for a second
     * (MEM_SQUEEZE_REPORTS), past a one-off burst. */
    g->bg.may_shrink =
        g->bg.may_grow && g->settled && g->gs->fault_reports == 0;
    g->squeeze_aim_kib =
        g->squeezed ? MIN(mem_kib_add(g->cur_kib, t->bounds.max_release_kib),
                          d->max_kib)
                    : 0;

    g->target_kib = g->cur_kib;
    g->grower =
        g->bg.may_grow && (g->cur_kib < MIN(grow_trigger(g), d->max_kib) ||
                           g->cur_kib < g->squeeze_aim_kib);
    g->urgency = g->need_kib ? ((double)g->cur_kib - (double)g->used_kib) /
                                   (double)g->need_kib
                             : 0;

    note_conditions(t->st, g);
}

static void guest_clear(gpointer data)
{
    MemGuest *g = data;

    g_free(g->note);
}

static gboolean state_is_gone(gpointer key, gpointer value, gpointer data)
{
    const MemGuestState *gs = value;
    const guint64 *gen = data;

    return gs->generation != *gen;
}

static void tick_init(MemTick *t, const Snapshot *snap, const MemConfig *cfg,
                      MemPolicyState *st)
{
    guint n = snap->domains ? snap->domains->len : 0;
    guint i;
    g_autofree guint64 *heading = g_new0(guint64, n ? n : 1);
    guint64 tol = MAX(mem_mib_to_kib(cfg->min_step_mib), 1024);

    t->snap = snap;
    t->cfg = cfg;
    t->st = st;
    t->released_kib = 0;
    st->generation++;
    for (i = 0; i < n; i++) {
        const DomainSample *d = g_ptr_array_index(snap->domains, i);

        heading[i] = heading_for(state_for(st, d), snap, d, tol);
    }
    mem_bounds_init_at(&t->bounds, snap, cfg, heading);
    t->reserve_seed = reserve_seeds(st);
    t->guests = g_array_sized_new(FALSE, TRUE, sizeof(MemGuest), n);
    g_array_set_clear_func(t->guests, guest_clear);
    g_array_set_size(t->guests, n);

    for (i = 0; i < n; i++)
        fill_guest(t, &g_array_index(t->guests, MemGuest, i),
                   g_ptr_array_index(snap->domains, i), heading[i]);
    g_hash_table_foreach_remove(st->guests, state_is_gone, &st->generation);
}

/* Lowest target g may be shrunk to this tick when nothing below floor_kib
 * may go. */
static guint64 shrink_floor_at(const MemTick *t, const MemGuest *g,
                               guint64 floor_kib)
{
    if (!g->bg.may_shrink)
        return g->bg.cur_kib;
    return MAX(floor_kib, mem_bounds_shrink_limit(&t->bounds, &g->bg));
}

guint64 mem_tick_shrink_floor(const MemTick *t, const MemGuest *g)
{
    return shrink_floor_at(t, g, g->keep_kib);
}

void mem_tick_propose_shrink(MemTick *t, MemGuest *g, guint64 target_kib,
                             const char *rule, char *note)
{
    guint64 cur = g->bg.cur_kib;
    guint64 before = cur - MIN(g->target_kib, cur);

    target_kib = MAX(target_kib, mem_tick_shrink_floor(t, g));
    if (target_kib >= cur) {
        g_free(note);
        return;
    }
    t->released_kib = t->released_kib - before + (cur - target_kib);
    g->target_kib = target_kib;
    g->rule = rule;
    g_free(g->note);
    g->note = note;
}

guint64 mem_tick_need_growth(const MemTick *t)
{
    guint64 sum = 0;
    guint i;

    for (i = 0; i < t->guests->len; i++) {
        const MemGuest *g = &g_array_index(t->guests, MemGuest, i);

        if (g->grower)
            sum = mem_kib_add(sum, mem_kib_sub(MIN(g->lo_kib, g->dom->max_kib),
                                               g->bg.cur_kib));
    }
    return sum;
}

guint64 mem_tick_shortfall(const MemTick *t)
{
    guint64 want = mem_tick_need_growth(t);
    gint64 room = mem_bounds_room_after(&t->bounds, t->released_kib);

    if (room < 0)
        return mem_kib_add(want, (guint64)-room);
    return mem_kib_sub(want, (guint64)room);
}

typedef struct {
    double key;
    guint idx; /* ties go to the earlier guest */
} DonorSlot;

static gint donor_cmp(gconstpointer a, gconstpointer b, gpointer data)
{
    const DonorSlot *x = a;
    const DonorSlot *y = b;

    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* What g can still give this round: down to what it keeps, or, when
 * hard, down to its lo. */
static guint64 donor_room(const MemTick *t, const MemGuest *g, gboolean hard)
{
    guint64 limit = shrink_floor_at(t, g, hard ? g->lo_kib : g->keep_kib);

    if (g->grower || !g->bg.may_shrink || g->target_kib <= limit)
        return 0;
    return g->target_kib - limit;
}

static DonorSlot *donor_slot(const MemTick *t, MemDonorKey key, guint idx)
{
    DonorSlot *s = g_new0(DonorSlot, 1);
    const MemGuest *g = &g_array_index(t->guests, MemGuest, idx);

    s->idx = idx;
    s->key = key(t, g, g->target_kib);
    if (isnan(s->key))
        s->key = G_MAXDOUBLE;
    return s;
}

static guint64 reclaim_round(MemTick *t, guint64 amount_kib, MemDonorKey key,
                             gboolean hard, gboolean *gave)
{
    g_autoptr(GSequence) donors = g_sequence_new(g_free);
    /* Chunks grow with the amount, so a huge shortfall still takes a
     * bounded number of steps: at most 256 plus one per donor. */
    guint64 chunk = MAX(MAX(t->bounds.min_step_kib, MEM_RECLAIM_CHUNK_KIB),
                        amount_kib / 256);
    guint64 taken = 0;
    guint i;

    for (i = 0; amount_kib && i < t->guests->len; i++) {
        if (donor_room(t, &g_array_index(t->guests, MemGuest, i), hard))
            g_sequence_insert_sorted(donors, donor_slot(t, key, i), donor_cmp,
                                     NULL);
    }

    while (taken < amount_kib && !g_sequence_is_empty(donors)) {
        GSequenceIter *it = g_sequence_get_begin_iter(donors);
        guint idx = ((DonorSlot *)g_sequence_get(it))->idx;
        MemGuest *g = &g_array_index(t->guests, MemGuest, idx);
        guint64 take =
            MIN(MIN(chunk, donor_room(t, g, hard)), amount_kib - taken);

        g_sequence_remove(it);
        g->target_kib -= take;
        t->released_kib += take;
        taken += take;
        gave[idx] = TRUE;
        if (donor_room(t, g, hard))
            g_sequence_insert_sorted(donors, donor_slot(t, key, idx), donor_cmp,
                                     NULL);
    }
    return taken;
}

guint64 mem_tick_reclaim(MemTick *t, guint64 amount_kib, MemDonorKey key,
                         const char *rule)
{
    g_autofree gboolean *gave = g_new0(gboolean, t->guests->len + 1);
    guint64 taken = reclaim_round(t, amount_kib, key, FALSE, gave);
    guint i;

    taken += reclaim_round(t, amount_kib - taken, key, TRUE, gave);
    for (i = 0; i < t->guests->len; i++) {
        MemGuest *g = &g_array_index(t->guests, MemGuest, i);
        guint64 cur = g->bg.cur_kib;

        if (!gave[i])
            continue;
        g->rule = rule;
        g_free(g->note);
        g->note = g_strdup_printf("pressure: gives %.0f MiB of %.0f above "
                                  "its need",
                                  kib_to_mib(cur - g->target_kib),
                                  kib_to_mib(cur - MIN(g->lo_kib, cur)));
    }
    return taken;
}

static gint urgency_cmp(gconstpointer a, gconstpointer b, gpointer data)
{
    const MemGuest *guests = data;
    const MemGuest *x = &guests[*(const guint *)a];
    const MemGuest *y = &guests[*(const guint *)b];

    if (x->urgency != y->urgency)
        return x->urgency < y->urgency ? -1 : 1;
    return *(const guint *)a < *(const guint *)b ? -1 : 1;
}

static GArray *growers_by_urgency(const MemTick *t)
{
    GArray *order = g_array_new(FALSE, FALSE, sizeof(guint));
    guint i;

    for (i = 0; i < t->guests->len; i++) {
        if (g_array_index(t->guests, MemGuest, i).grower)
            g_array_append_val(order, i);
    }
    g_array_sort_with_data(order, urgency_cmp, t->guests->data);
    return order;
}

/* Gives g up to aim_kib out of *room. */
static void grant(MemGuest *g, guint64 aim_kib, guint64 *room)
{
    guint64 top = MIN(aim_kib, g->dom->max_kib);
    guint64 give;

    if (top <= g->target_kib)
        return;
    give = MIN(top - g->target_kib, *room);
    g->target_kib += give;
    *room -= give;
}

void mem_tick_plan_growth(MemTick *t)
{
    g_autoptr(GArray) order = growers_by_urgency(t);
    gint64 room_now = mem_bounds_room_after(&t->bounds, t->released_kib);
    guint64 room = room_now > 0 ? (guint64)room_now : 0;
    guint pass;
    guint i;

    /* Real need first: a guest short of it may run out of memory, while a
     * squeezed one only runs slower. */
    for (pass = 0; pass < 3; pass++) {
        for (i = 0; i < order->len; i++) {
            MemGuest *g = &g_array_index(t->guests, MemGuest,
                                         g_array_index(order, guint, i));

            grant(g,
                  pass == 0   ? g->lo_kib
                  : pass == 1 ? g->squeeze_aim_kib
                              : MAX(g->hi_kib, g->squeeze_aim_kib),
                  &room);
        }
    }
    for (i = 0; i < order->len; i++) {
        MemGuest *g =
            &g_array_index(t->guests, MemGuest, g_array_index(order, guint, i));
        guint64 lo = MIN(g->lo_kib, g->dom->max_kib);

        g->rule = "grow-headroom";
        g_free(g->note);
        if (g->squeezed && g->target_kib >= lo) {
            g->rule = "grow-squeezed";
            g->note = g_strdup_printf(
                "squeezed: %.0f major faults/s, swap-in %.1f MiB/s",
                g->gs->fault_rate, g->gs->swapin_kib_s / 1024.0);
        } else if (g->target_kib < lo)
            g->note = g_strdup_printf("short of room: %.0f MiB below its need",
                                      kib_to_mib(lo - g->target_kib));
        else if (g->bg.cur_kib >= lo)
            g->note = g_strdup_printf("consuming: topped up to need + slack");
        else
            g->note = g_strdup_printf(
                "headroom %.0f MiB below need",
                kib_to_mib(mem_kib_sub(g->bg.cur_kib, g->used_kib)));
    }
}

static void add_action(const MemTick *t, Plan *plan, const MemGuest *g,
                       guint64 new_kib, MemClamp why)
{
    BalloonAction *a = balloon_action_add(plan, g->dom->uuid, g->dom->name);
    const char *clamp = mem_clamp_rule(why);
    g_autofree char *late = NULL;

    a->old_kib = g->bg.cur_kib;
    a->new_kib = new_kib;
    a->rule = clamp ? clamp : g->rule;
    /* A report older than the guest's stats period is worth telling. */
    if (g->report_age_s > mem_stats_period_s(t->cfg))
        late = g_strdup_printf(" (report %.0f s old)", g->report_age_s);
    action_set_reason(
        &a->base,
        "%s%sunused %.0f MiB, cache %.0f MiB, used %.0f MiB, "
        "rate %.1f MiB/s, need %.0f MiB%s; %s",
        clamp ? g->rule : "", clamp ? " proposal cut; " : "",
        kib_to_mib(g->unused_kib), kib_to_mib(g->reclaim_kib),
        kib_to_mib(g->used_kib), kib_to_mib((guint64)g->gs->rate_kib_s),
        kib_to_mib(g->need_kib), late ? late : "", g->note ? g->note : "");
}

/* Sends one proposal through the clamp; an action only if it still moves. */
static gboolean commit_one(MemTick *t, Plan *plan, MemGuest *g)
{
    MemClamp why = MEM_CLAMP_NONE;
    guint64 to;

    if (g->target_kib == g->bg.cur_kib || !g->rule)
        return FALSE;
    to = mem_bounds_clamp(&t->bounds, &g->bg, g->target_kib, &why);
    g->target_kib = to;
    if (to == g->bg.cur_kib)
        return FALSE;
    add_action(t, plan, g, to, why);
    if (to > g->bg.cur_kib) {
        g->gs->grown = TRUE;
        g->gs->last_grow_us = t->snap->mono_us;
    }
    return TRUE;
}

static void commit(MemTick *t, Plan *plan, guint *n_shrink, guint *n_grow)
{
    g_autoptr(GArray) order = growers_by_urgency(t);
    guint i;

    for (i = 0; i < t->guests->len; i++) {
        MemGuest *g = &g_array_index(t->guests, MemGuest, i);

        if (g->target_kib < g->bg.cur_kib && commit_one(t, plan, g))
            (*n_shrink)++;
    }
    for (i = 0; i < order->len; i++) {
        MemGuest *g =
            &g_array_index(t->guests, MemGuest, g_array_index(order, guint, i));

        if (g->target_kib > g->bg.cur_kib && commit_one(t, plan, g))
            (*n_grow)++;
    }
    /* The size a squeezed guest reaches is held against voluntary shrinks:
     * see MEM_SQUEEZE_HOLD_S. */
    for (i = 0; i < t->guests->len; i++) {
        MemGuest *g = &g_array_index(t->guests, MemGuest, i);

        if (!g->squeezed)
            continue;
        g->gs->held_kib = MAX(g->target_kib, g->bg.cur_kib);
        g->gs->held_until_us =
            t->snap->mono_us + (gint64)(MEM_SQUEEZE_HOLD_S * G_USEC_PER_SEC);
    }
}

/* What the budget still lacks after this tick's plan, were every guest
 * that may give to give at once all it holds above its need: no local
 * rebalancing can cover it, so it is the signal for a migration request.
 * Taken before commit(), which charges the pools a second time. */
static guint64 lasting_deficit(const MemTick *t)
{
    guint64 more = 0;
    guint i;

    for (i = 0; i < t->guests->len; i++) {
        const MemGuest *g = &g_array_index(t->guests, MemGuest, i);

        if (!g->grower && g->bg.may_shrink)
            more = mem_kib_add(more, mem_kib_sub(g->target_kib, g->lo_kib));
    }
    return mem_kib_sub(mem_tick_shortfall(t), more);
}

Plan *mem_policy_decide(const Snapshot *snap, const MemConfig *cfg,
                        MemPolicyState *st)
{
    g_autoptr(Plan) plan = plan_new();
    MemTick t = {0};
    guint n_shrink = 0;
    guint n_grow = 0;
    gint64 room_before;

    tick_init(&t, snap, cfg, st);
    room_before = mem_bounds_room(&t.bounds);
    if (cfg->mem_policy == MEM_POLICY_IDLE_TAX)
        mem_idle_tax_plan(&t);
    else
        mem_course_plan(&t);
    plan_set_shortfall(plan, PLAN_SHORT_MEMORY, (double)lasting_deficit(&t));
    commit(&t, plan, &n_shrink, &n_grow);

    plan->summary = g_strdup_printf(
        "%s: %u guests, %u shrink, %u grow; held %.0f of budget %.0f MiB, "
        "host free %.0f MiB, reserve %.0f MiB, room %.0f -> %.0f MiB",
        mem_policy_name(cfg->mem_policy), t.guests->len, n_shrink, n_grow,
        kib_to_mib(t.bounds.held_kib), kib_to_mib(t.bounds.budget_kib),
        kib_to_mib(t.bounds.free_kib), kib_to_mib(t.bounds.reserve_kib),
        (double)room_before / 1024.0,
        (double)mem_bounds_room(&t.bounds) / 1024.0);
    g_array_unref(t.guests);
    g_hash_table_unref(t.reserve_seed);
    return g_steal_pointer(&plan);
}
