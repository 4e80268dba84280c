#include "migrate.h"

#include <math.h>

typedef struct {
    guint64 time_ns; /* summed vCPU time at the last sample */
    gint64 mono_us;
    double pct; /* CPU use between the last two samples, -1 unknown */
    guint64 generation;
} CpuTrack;

struct MigrateState {
    guint64 generation;
    GHashTable *cpu;      /* uuid -> CpuTrack* */
    GHashTable *cooldown; /* uuid -> gint64* monotonic end, us */
    guint signal_ticks;
    char *in_flight; /* uuid */
    guint fruitless; /* attempts in a row that requested nothing */
    gint64 pause_until_us;
};

const char *migrate_trigger_name(MigrateTriggerKind k)
{
    switch (k) {
    case MIGRATE_TRIGGER_NONE:
        return "none";
    case MIGRATE_TRIGGER_MEMORY:
        return "memory";
    case MIGRATE_TRIGGER_CPU:
        return "cpu";
    case MIGRATE_TRIGGER_MANUAL:
        return "manual";
    }
    return "unknown";
}

char *migrate_trigger_describe(const MigrateTrigger *t,
                               const MigrationConfig *cfg)
{
    switch (t->kind) {
    case MIGRATE_TRIGGER_MEMORY:
        return g_strdup_printf("a budget deficit of %.0f MiB that local "
                               "rebalancing cannot cover lasted %u ticks",
                               t->deficit / 1024.0, t->ticks);
    case MIGRATE_TRIGGER_CPU:
        return g_strdup_printf("every pCPU stayed above %.0f%% for %u ticks, "
                               "%.0f%% of a pCPU over the threshold",
                               cfg->overload_util, t->ticks, t->deficit);
    case MIGRATE_TRIGGER_MANUAL:
        return g_strdup("requested by an operator");
    case MIGRATE_TRIGGER_NONE:
        break;
    }
    return g_strdup("no trigger");
}

MigrateState *migrate_state_new(void)
{
    MigrateState *st = g_new0(MigrateState, 1);

    st->cpu = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    st->cooldown =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    return st;
}

void migrate_state_free(MigrateState *st)
{
    if (!st)
        return;
    g_hash_table_unref(st->cpu);
    g_hash_table_unref(st->cooldown);
    g_free(st->in_flight);
    g_free(st);
}

gint64 migrate_backoff_us(guint failures)
{
    gint64 s = MIGRATE_RETRY_FIRST_S;
    guint i;

    for (i = 1; i < failures && s < MIGRATE_RETRY_MAX_S; i++)
        s *= 2;
    return MIN(s, (gint64)MIGRATE_RETRY_MAX_S) * G_USEC_PER_SEC;
}

static void track_cpu(MigrateState *st, const DomainSample *d, gint64 now_us)
{
    CpuTrack *t = g_hash_table_lookup(st->cpu, d->uuid);
    guint64 total = 0;
    guint i;

    for (i = 0; i < d->nvcpus; i++)
        total += d->vcpus[i].time_ns;
    if (!t) {
        t = g_new0(CpuTrack, 1);
        t->pct = -1;
        g_hash_table_insert(st->cpu, g_strdup(d->uuid), t);
    } else if (total >= t->time_ns && now_us > t->mono_us) {
        t->pct = 100.0 * (double)(total - t->time_ns) /
                 ((double)(now_us - t->mono_us) * 1000.0);
    } else {
        /* Counters that went backwards belong to a restarted guest. */
        t->pct = -1;
    }
    t->time_ns = total;
    t->mono_us = now_us;
    t->generation = st->generation;
}

static gboolean track_is_gone(gpointer key, gpointer value, gpointer data)
{
    const CpuTrack *t = value;
    const guint64 *gen = data;

    return t->generation != *gen;
}

static gboolean cooldown_is_over(gpointer key, gpointer value, gpointer data)
{
    const gint64 *until = value;
    const gint64 *now = data;

    return *until <= *now;
}

gboolean migrate_observe(MigrateState *st, const Snapshot *snap,
                         const Plan *plan, const MigrationConfig *cfg,
                         MigrateTrigger *out)
{
    gint64 now = snap->mono_us;
    MigrateTriggerKind kind = MIGRATE_TRIGGER_NONE;
    double deficit = 0;
    guint i;

    st->generation++;
    for (i = 0; snap->domains && i < snap->domains->len; i++) {
        const DomainSample *d = g_ptr_array_index(snap->domains, i);

        if (domain_sample_live(d) && d->nvcpus > 0)
            track_cpu(st, d, now);
    }
    g_hash_table_foreach_remove(st->cpu, track_is_gone, &st->generation);
    g_hash_table_foreach_remove(st->cooldown, cooldown_is_over, &now);

    if (plan && plan->short_of == PLAN_SHORT_MEMORY) {
        kind = MIGRATE_TRIGGER_MEMORY;
        deficit = plan->shortfall;
    } else if (plan && plan->short_of == PLAN_SHORT_CPU) {
        kind = MIGRATE_TRIGGER_CPU;
        deficit = plan->shortfall;
    }
    /* While a guest is moving, the deficit is about to change: counting
     * it would only trigger a second request for the same shortage. */
    if (st->in_flight || kind == MIGRATE_TRIGGER_NONE) {
        st->signal_ticks = 0;
        return FALSE;
    }
    st->signal_ticks++;
    if (cfg->migration_mode == MIGRATION_OFF ||
        st->signal_ticks < MAX(cfg->trigger_ticks, 1) ||
        now < st->pause_until_us)
        return FALSE;
    out->kind = kind;
    out->deficit = deficit;
    out->ticks = st->signal_ticks;
    return TRUE;
}

static void start_cooldown(MigrateState *st, const char *uuid,
                           const MigrationConfig *cfg, gint64 now_us)
{
    gint64 *until;

    if (cfg->cooldown_s == 0) {
        g_hash_table_remove(st->cooldown, uuid);
        return;
    }
    until = g_new(gint64, 1);
    *until = now_us + (gint64)cfg->cooldown_s * G_USEC_PER_SEC;
    g_hash_table_insert(st->cooldown, g_strdup(uuid), until);
}

void migrate_note_request(MigrateState *st, const char *uuid,
                          gboolean in_flight, const MigrationConfig *cfg,
                          gint64 now_us)
{
    start_cooldown(st, uuid, cfg, now_us);
    st->signal_ticks = 0;
    st->fruitless = 0;
    st->pause_until_us = 0;
    if (in_flight) {
        g_free(st->in_flight);
        st->in_flight = g_strdup(uuid);
    }
}

void migrate_note_done(MigrateState *st, const MigrationConfig *cfg,
                       gint64 now_us)
{
    if (!st->in_flight)
        return;
    start_cooldown(st, st->in_flight, cfg, now_us);
    g_clear_pointer(&st->in_flight, g_free);
}

void migrate_note_fruitless(MigrateState *st, gint64 now_us)
{
    st->fruitless++;
    st->pause_until_us = now_us + migrate_backoff_us(st->fruitless);
    st->signal_ticks = 0;
}

const char *migrate_in_flight(const MigrateState *st)
{
    return st->in_flight;
}

double migrate_cooldown_left_s(const MigrateState *st, const char *uuid,
                               gint64 now_us)
{
    const gint64 *until = g_hash_table_lookup(st->cooldown, uuid);

    if (!until || *until <= now_us)
        return 0;
    return (double)(*until - now_us) / G_USEC_PER_SEC;
}

/* ---- Candidates ------------------------------------------------------- */

void migrate_guest_free(MigrateGuest *g)
{
    if (!g)
        return;
    g_free(g->name);
    guest_clock_clear(&g->clock);
    g_free(g->skip);
    if (g->history)
        g_array_unref(g->history);
    converge_estimate_clear(&g->estimate);
    g_free(g);
}

static guint64 held_kib(const DomainSample *d)
{
    guint64 held = d->cur_kib;

    /* A balloon still inflating towards a lower target holds its old
     * size until it gets there. */
    if (d->has_balloon_stats && (d->balloon.present & BALLOON_HAS_ACTUAL))
        held = MAX(held, d->balloon.actual_kib);
    return held;
}

/* A live migration copies every page the guest has touched; pages it
 * never used, or gave to the balloon, go as zero pages at almost no
 * cost. */
static guint64 cost_kib(const DomainSample *d, guint64 held)
{
    const guint32 want = BALLOON_HAS_ACTUAL | BALLOON_HAS_UNUSED;

    if (d->has_balloon_stats && (d->balloon.present & want) == want &&
        d->balloon.actual_kib >= d->balloon.unused_kib)
        return d->balloon.actual_kib - d->balloon.unused_kib;
    return held;
}

static gboolean balloon_moving(const DomainSample *d)
{
    guint64 a = d->balloon.actual_kib;

    if (!d->has_balloon_stats || !(d->balloon.present & BALLOON_HAS_ACTUAL) ||
        d->cur_kib == 0)
        return FALSE;
    return (a > d->cur_kib ? a - d->cur_kib : d->cur_kib - a) >
           MIGRATE_SETTLE_KIB;
}

GPtrArray *migrate_candidates(const MigrateState *st, const Snapshot *snap,
                              const MigrateTrigger *trig, gint64 now_us)
{
    GPtrArray *out =
        g_ptr_array_new_with_free_func((GDestroyNotify)migrate_guest_free);
    guint i;

    for (i = 0; snap->domains && i < snap->domains->len; i++) {
        const DomainSample *d = g_ptr_array_index(snap->domains, i);
        const CpuTrack *t = g_hash_table_lookup(st->cpu, d->uuid);
        MigrateGuest *g;
        double left;

        if (!domain_sample_live(d))
            continue;
        g = g_new0(MigrateGuest, 1);
        g_strlcpy(g->uuid, d->uuid, sizeof(g->uuid));
        g->name = g_strdup(d->name);
        g->estimate.dirty_mib_s = -1;
        g->held_kib = held_kib(d);
        g->cost_kib = cost_kib(d, g->held_kib);
        g->cpu_pct = t ? t->pct : -1;
        switch (trig->kind) {
        case MIGRATE_TRIGGER_MEMORY:
            g->relief = (double)g->held_kib;
            break;
        case MIGRATE_TRIGGER_CPU:
            g->relief = MAX(g->cpu_pct, 0);
            break;
        case MIGRATE_TRIGGER_MANUAL:
        case MIGRATE_TRIGGER_NONE:
            g->relief = 0;
            break;
        }
        left = migrate_cooldown_left_s(st, d->uuid, now_us);
        if (g_strcmp0(st->in_flight, d->uuid) == 0) {
            g->skip = g_strdup("its migration is in flight");
        } else if (left > 0) {
            g->skip = g_strdup_printf("cooling down, %.0f s left", ceil(left));
        } else if (balloon_moving(d)) {
            g->skip = g_strdup_printf(
                "its balloon is still moving (actual %.0f MiB, target %.0f "
                "MiB)",
                kib_to_mib(d->balloon.actual_kib), kib_to_mib(d->cur_kib));
            g->settling = TRUE;
        }
        g_ptr_array_add(out, g);
    }
    return out;
}

/* ---- Peers ------------------------------------------------------------ */

void migrate_peer_free(MigratePeer *p)
{
    if (!p)
        return;
    g_free(p->uri);
    g_free(p->expected_uuid);
    g_free(p->error);
    g_free(p->inbound_names);
    g_free(p);
}

double migrate_peer_load(const MigratePeer *p)
{
    if (p->ncpus == 0)
        return G_MAXDOUBLE;
    return (double)p->vcpus / (double)p->ncpus;
}

/* ---- The decision ----------------------------------------------------- */

void migrate_decision_clear(MigrateDecision *d)
{
    tsc_compat_clear(&d->tsc);
    g_clear_pointer(&d->clock_reason, g_free);
    g_clear_pointer(&d->reason, g_free);
    g_clear_pointer(&d->refusals, g_ptr_array_unref);
    d->ok = FALSE;
    d->guest = NULL;
    d->peer = NULL;
}

static gint guest_order(gconstpointer a, gconstpointer b, gpointer data)
{
    const MigrateGuest *x = *(const MigrateGuest *const *)a;
    const MigrateGuest *y = *(const MigrateGuest *const *)b;
    double deficit = *(const double *)data;
    gboolean cx = x->relief >= deficit;
    gboolean cy = y->relief >= deficit;

    if (cx != cy)
        return cx ? -1 : 1;
    if (cx) {
        if (x->cost_kib != y->cost_kib)
            return x->cost_kib < y->cost_kib ? -1 : 1;
        if (x->relief != y->relief)
            return x->relief < y->relief ? -1 : 1;
    } else {
        if (x->relief != y->relief)
            return x->relief > y->relief ? -1 : 1;
        if (x->cost_kib != y->cost_kib)
            return x->cost_kib < y->cost_kib ? -1 : 1;
    }
    return g_strcmp0(x->name, y->name);
}

static void refuse(MigrateDecision *d, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

static void refuse(MigrateDecision *d, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_ptr_array_add(d->refusals, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

/* Whether p may be considered at all; refusals name why not. */
static gboolean peer_usable(MigrateDecision *d, const MigratePeer *p,
                            const HostFacts *source, const MigrationConfig *cfg)
{
    if (!p->reachable) {
        refuse(d, "peer %s skipped: %s", p->uri,
               p->error ? p->error : "not reachable");
        return FALSE;
    }
    if (!p->facts_ok) {
        refuse(d, "peer %s skipped: its capabilities could not be read: %s",
               p->uri, p->error ? p->error : "unknown error");
        return FALSE;
    }
    if (p->expected_uuid &&
        g_ascii_strcasecmp(p->expected_uuid, p->facts.host_uuid) != 0) {
        refuse(d,
               "peer %s refused: its capabilities show host UUID %s, not "
               "the %s its entry names",
               p->uri, p->facts.host_uuid[0] ? p->facts.host_uuid : "(none)",
               p->expected_uuid);
        return FALSE;
    }
    if (source && source->host_uuid[0] &&
        g_strcmp0(source->host_uuid, p->facts.host_uuid) == 0) {
        refuse(d, "peer %s skipped: it is this host (host UUID %s)", p->uri,
               p->facts.host_uuid);
        return FALSE;
    }
    if (p->inbound >= cfg->max_inbound) {
        refuse(d,
               "peer %s refused: it is receiving %u guest%s by migration "
               "(%s), and max_inbound is %u",
               p->uri, p->inbound, p->inbound == 1 ? "" : "s",
               p->inbound_names ? p->inbound_names : "?", cfg->max_inbound);
        return FALSE;
    }
    return TRUE;
}

/* Lower load first, then more free memory; equal peers keep config order. */
static gboolean peer_better(const MigratePeer *p, const MigratePeer *best)
{
    double lp = migrate_peer_load(p);
    double lb = migrate_peer_load(best);

    if (lp != lb)
        return lp < lb;
    return p->free_kib > best->free_kib;
}

static char *relief_words(const MigrateTrigger *trig, const MigrateGuest *g)
{
    switch (trig->kind) {
    case MIGRATE_TRIGGER_MEMORY:
        if (g->relief >= trig->deficit)
            return g_strdup_printf(
                "%s holds %.0f MiB, which clears the %.0f MiB deficit at the "
                "least cost (%.0f MiB to copy)",
                g->name, kib_to_mib(g->held_kib), trig->deficit / 1024.0,
                kib_to_mib(g->cost_kib));
        return g_strdup_printf("no guest that may move clears the %.0f MiB "
                               "deficit alone; %s covers the most of it, "
                               "%.0f MiB (%.0f MiB to copy)",
                               trig->deficit / 1024.0, g->name,
                               kib_to_mib(g->held_kib),
                               kib_to_mib(g->cost_kib));
    case MIGRATE_TRIGGER_CPU:
        if (g->relief >= trig->deficit)
            return g_strdup_printf(
                "%s uses %.0f%% of a pCPU, which clears the %.0f%% overload "
                "at the least cost (%.0f MiB to copy)",
                g->name, g->relief, trig->deficit, kib_to_mib(g->cost_kib));
        return g_strdup_printf("no guest that may move clears the %.0f%% "
                               "overload alone; %s covers the most of it, "
                               "%.0f%% of a pCPU (%.0f MiB to copy)",
                               trig->deficit, g->name, g->relief,
                               kib_to_mib(g->cost_kib));
    case MIGRATE_TRIGGER_MANUAL:
    case MIGRATE_TRIGGER_NONE:
        break;
    }
    return g_strdup_printf("%s was named by an operator (%.0f MiB to copy)",
                           g->name, kib_to_mib(g->cost_kib));
}

/* The best peer for g, with its TSC verdict in *tsc; NULL when none. */
static const MigratePeer *best_peer(MigrateDecision *d, const MigrateGuest *g,
                                    MigrateTriggerKind trig_kind,
                                    const GPtrArray *peers,
                                    const gboolean *usable,
                                    const HostFacts *source,
                                    const MigrationConfig *cfg, TscCompat *tsc)
{
    const MigratePeer *best = NULL;
    guint64 reserve = cfg->host_reserve_mib * 1024;
    guint64 need = g->held_kib > G_MAXUINT64 - reserve ? G_MAXUINT64
                                                       : g->held_kib + reserve;
    guint i;

    for (i = 0; i < peers->len; i++) {
        const MigratePeer *p = g_ptr_array_index(peers, i);
        g_auto(TscCompat) c = {0};

        if (!usable[i])
            continue;
        if (g->history && trig_kind != MIGRATE_TRIGGER_MANUAL) {
            g_autofree char *back = NULL;

            if (migrate_history_wait_s(g->history, g->history_now_s,
                                       cfg->cooldown_s, p->facts.host_uuid,
                                       &back) > 0) {
                refuse(d, "%s -> %s refused: %s", g->name, p->uri, back);
                continue;
            }
        }
        tsc_check_peer(&g->clock, source, &p->facts, cfg->tsc_tolerance_ppm,
                       cfg->allow_unknown_tsc, &c);
        if (!c.compatible) {
            refuse(d, "%s -> %s refused: %s", g->name, p->uri, c.reason);
            continue;
        }
        if (p->free_kib < need) {
            refuse(d,
                   "%s -> %s refused: the peer has %.0f MiB free, the guest "
                   "needs %.0f MiB plus the %.0f MiB reserve",
                   g->name, p->uri, kib_to_mib(p->free_kib),
                   kib_to_mib(g->held_kib), kib_to_mib(reserve));
            continue;
        }
        if (!best || peer_better(p, best)) {
            best = p;
            tsc_compat_clear(tsc);
            *tsc = c;
            c = (TscCompat){0};
        }
    }
    return best;
}

gboolean migrate_guest_history_allows(MigrateGuest *g,
                                      const MigrationConfig *cfg)
{
    g_autofree char *why = NULL;

    if (!g->history || migrate_history_wait_s(g->history, g->history_now_s,
                                              cfg->cooldown_s, NULL, &why) == 0)
        return TRUE;
    g_free(g->skip);
    g->skip = g_steal_pointer(&why);
    return FALSE;
}

void migrate_decide(const MigrateTrigger *trig, const GPtrArray *guests,
                    const GPtrArray *peers, const HostFacts *source,
                    const ClockSync *clock, const MigrationConfig *cfg,
                    MigrateDecision *out)
{
    g_autoptr(GPtrArray) order = g_ptr_array_new();
    g_autofree gboolean *usable = g_new0(gboolean, peers->len + 1);
    double deficit = trig->deficit;
    guint nusable = 0;
    guint nsettling = 0;
    guint i;

    *out = (MigrateDecision){0};
    out->refusals = g_ptr_array_new_with_free_func(g_free);
    out->clock_ok = clocksync_may_migrate(clock, cfg->allow_unsynced_clock,
                                          &out->clock_reason);
    if (cfg->migration_mode == MIGRATION_EXECUTE && !out->clock_ok) {
        out->reason =
            g_strdup_printf("not executing a migration: %s", out->clock_reason);
        return;
    }

    for (i = 0; i < peers->len; i++) {
        usable[i] = peer_usable(out, g_ptr_array_index(peers, i), source, cfg);
        nusable += usable[i];
    }
    for (i = 0; i < guests->len; i++) {
        MigrateGuest *g = g_ptr_array_index(guests, i);

        nsettling += g->settling;
        if (g->skip)
            refuse(out, "%s not considered: %s", g->name, g->skip);
        else if (!g->clock_known)
            refuse(out, "%s not considered: its clock is unknown", g->name);
        else
            g_ptr_array_add(order, g);
    }
    if (order->len == 0) {
        out->retry_soon = nsettling > 0;
        out->reason =
            g_strdup(out->retry_soon ? "no guest may move until its balloon "
                                       "settles"
                                     : "no guest may move now");
        return;
    }
    if (nusable == 0) {
        out->reason =
            g_strdup_printf("none of the %u peers can be used", peers->len);
        return;
    }
    g_ptr_array_sort_with_data(order, guest_order, &deficit);

    for (i = 0; i < order->len; i++) {
        const MigrateGuest *g = g_ptr_array_index(order, i);
        g_autofree char *why = NULL;
        const MigratePeer *p = best_peer(out, g, trig->kind, peers, usable,
                                         source, cfg, &out->tsc);

        if (!p)
            continue;
        why = relief_words(trig, g);
        out->ok = TRUE;
        out->guest = g;
        out->peer = p;
        out->reason = g_strdup_printf(
            "%s; peer %s has %.0f MiB free and a load of %.2f vCPUs per "
            "pCPU; TSC: %s",
            why, p->uri, kib_to_mib(p->free_kib), migrate_peer_load(p),
            out->tsc.reason);
        return;
    }
    out->reason = g_strdup_printf("no compatible peer for any of the %u "
                                  "guests that may move",
                                  order->len);
}

/* ---- Time data -------------------------------------------------------- */

gboolean migrate_time_data(guint64 guest_hz, guint64 wall_ns, guint64 hrtime_ns,
                           guint64 boot_hrtime_ns, MigrateTimeData *out,
                           GError **error)
{
    MigrateTimeData td = {0};

    if (!tsc_guest_uptime_ns(hrtime_ns, boot_hrtime_ns, &td.uptime_ns, error))
        return FALSE;
    if (!tsc_ticks_for_ns(td.uptime_ns, guest_hz, &td.td.guest_tsc, error))
        return FALSE;
    td.known = TRUE;
    td.wall_ns = wall_ns;
    td.td.guest_hz = guest_hz;
    td.td.hrtime_ns = hrtime_ns;
    td.td.boot_hrtime_ns = boot_hrtime_ns;
    *out = td;
    return TRUE;
}

gboolean migrate_predict_advance(const MigrateTimeData *td, guint64 guest_hz,
                                 guint64 downtime_ns, guint64 *ticks,
                                 guint64 *new_tsc, GError **error)
{
    guint64 t = 0;
    guint64 n = 0;

    if (!tsc_ticks_for_ns(downtime_ns, guest_hz, &t, error))
        return FALSE;
    if (td && td->known && !tsc_advance(td->td.guest_tsc, t, &n, error))
        return FALSE;
    *ticks = t;
    *new_tsc = n;
    return TRUE;
}

/* A copy that runs is never paused or resumed on a guess: only an answer
 * from the peer lets the source resume, and only two running copies make
 * us pause one (the peer's, since libvirt reported the job failed and the
 * source is where the guest is known to be). */
MigrateSettle migrate_settle_after_failure(gboolean source_known, int state,
                                           int reason, gboolean peer_asked,
                                           gboolean dest_running)
{
    if (!source_known)
        return MIGRATE_SETTLE_NOTHING;
    if (state == VIR_DOMAIN_RUNNING)
        return peer_asked && dest_running ? MIGRATE_SETTLE_PAUSE_DEST
                                          : MIGRATE_SETTLE_NOTHING;
    if (state == VIR_DOMAIN_PAUSED && reason == VIR_DOMAIN_PAUSED_MIGRATION)
        return peer_asked && !dest_running ? MIGRATE_SETTLE_RESUME_SOURCE
                                           : MIGRATE_SETTLE_HOLD_SOURCE;
    return MIGRATE_SETTLE_NOTHING;
}

const char *migrate_settle_name(MigrateSettle s)
{
    switch (s) {
    case MIGRATE_SETTLE_NOTHING:
        return "nothing";
    case MIGRATE_SETTLE_RESUME_SOURCE:
        return "resume-source";
    case MIGRATE_SETTLE_HOLD_SOURCE:
        return "hold-source";
    case MIGRATE_SETTLE_PAUSE_DEST:
        return "pause-destination";
    }
    return "?";
}
