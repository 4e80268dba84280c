/* Migration requests: when to ask, which guest to move and to which peer.
 *
 * Pure functions only.  The daemons' policies put a signal in their plan
 * (a memory deficit that local rebalancing cannot cover, or every pCPU
 * overloaded); migrate_observe() counts how long it lasts, and once it has
 * lasted trigger_ticks, migrate_decide() picks the guest that clears the
 * deficit at the least cost and the compatible peer with enough free
 * memory and the lowest load.  Facts about peers and guest clocks are read
 * by the caller (migrate_exec.h) and handed in as plain structs, so every
 * rule here is table-tested. */
#pragma once

#include <glib.h>

#include "clocksync.h"
#include "converge.h"
#include "migration_config.h"
#include "hostcaps.h"
#include "migrate_history.h"
#include "plan.h"
#include "snapshot.h"
#include "tsc.h"

/* After an attempt that found nothing to request, the next one waits this
 * long, doubling with each further fruitless attempt up to the maximum;
 * an unreachable peer is left alone on the same schedule.  A request
 * resets it. */
#define MIGRATE_RETRY_FIRST_S 30
#define MIGRATE_RETRY_MAX_S 960

/* A guest whose balloon is further than this from its target is still
 * inflating or deflating and is not migrated until it settles: a TCG
 * guest migrated while its balloon driver was busy was seen to crash on
 * the destination. */
#define MIGRATE_SETTLE_KIB (16 * 1024)

typedef enum {
    MIGRATE_TRIGGER_NONE = 0,
    MIGRATE_TRIGGER_MEMORY, /* deficit in KiB of budget */
    MIGRATE_TRIGGER_CPU,    /* deficit in percent of one pCPU */
    MIGRATE_TRIGGER_MANUAL, /* an operator named the guest; no deficit */
} MigrateTriggerKind;

typedef struct {
    MigrateTriggerKind kind;
    double deficit; /* what moving guests away must remove */
    guint ticks;    /* consecutive ticks the signal lasted */
} MigrateTrigger;

const char *migrate_trigger_name(MigrateTriggerKind k);

/* One sentence on the trigger, for reasons and logs. */
char *migrate_trigger_describe(const MigrateTrigger *t,
                               const MigrationConfig *cfg);

typedef struct MigrateState MigrateState;

MigrateState *migrate_state_new(void);
void migrate_state_free(MigrateState *st);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MigrateState, migrate_state_free)

/* One tick, after the policy decided.  Learns each guest's CPU use from
 * snap, forgets expired cooldowns, and counts the consecutive ticks the
 * plan's signal lasted.  TRUE when a request should be attempted now: the
 * signal lasted cfg->trigger_ticks ticks, no migration is in flight, and
 * no fruitless attempt asks to wait; *out then describes the trigger.
 * Time is snap->mono_us. */
gboolean migrate_observe(MigrateState *st, const Snapshot *snap,
                         const Plan *plan, const MigrationConfig *cfg,
                         MigrateTrigger *out);

/* A request was made for uuid at now_us: its cooldown starts, the trigger
 * count and the retry pause reset, and in execute mode (in_flight) no
 * other request is made until migrate_note_done(). */
void migrate_note_request(MigrateState *st, const char *uuid,
                          gboolean in_flight, const MigrationConfig *cfg,
                          gint64 now_us);
/* The migration in flight ended (either way); the guest's cooldown starts
 * again from now_us, so a failure is not retried at once. */
void migrate_note_done(MigrateState *st, const MigrationConfig *cfg,
                       gint64 now_us);
/* An attempt found nothing to request: the next waits (see above). */
void migrate_note_fruitless(MigrateState *st, gint64 now_us);

/* The uuid in flight, or NULL. */
const char *migrate_in_flight(const MigrateState *st);
/* Seconds the guest must still wait, 0 when it may be requested. */
double migrate_cooldown_left_s(const MigrateState *st, const char *uuid,
                               gint64 now_us);

/* Pause before retry number `failures` (1 for the first). */
gint64 migrate_backoff_us(guint failures);

/* ---- Candidates ------------------------------------------------------- */

typedef struct {
    char uuid[VIR_UUID_STRING_BUFLEN];
    char *name;
    guint64 held_kib;     /* memory it holds here: the peer must have it free */
    guint64 cost_kib;     /* memory a live migration copies: what it uses */
    double relief;        /* what moving it removes from the deficit */
    double cpu_pct;       /* its CPU use, percent of one pCPU, -1 unknown */
    gboolean clock_known; /* clock read from its domain XML */
    GuestClock clock;
    char *skip;        /* why it may not move now, NULL when it may */
    gboolean settling; /* skipped only until its balloon settles */
    /* Its migration history (MigrateHop) from its domain metadata, read
     * at history_now_s (wall clock, seconds); NULL when not read. */
    GArray *history;
    gint64 history_now_s;
    /* Whether a live migration of it would converge (filled by the
     * caller, from its measured dirty rate; unknown until then). */
    ConvergeEstimate estimate;
    const char *bandwidth_from; /* static: where its bandwidth came from */
} MigrateGuest;

void migrate_guest_free(MigrateGuest *g);

/* Every running guest of snap, with its relief for trig (memory: what it
 * holds; CPU: its CPU use) and cost.  Guests cooling down, in flight, or
 * whose balloon has not reached its target have skip set.  Clocks are
 * left for the caller to fill. */
GPtrArray *migrate_candidates(const MigrateState *st, const Snapshot *snap,
                              const MigrateTrigger *trig,
                              gint64 now_us) G_GNUC_WARN_UNUSED_RESULT;

/* ---- Peers ------------------------------------------------------------ */

typedef struct {
    char *uri;
    char *expected_uuid; /* the host UUID its entry names, or NULL */
    gboolean reachable;
    char *error;       /* why it was not probed or did not answer */
    gboolean facts_ok; /* capabilities read and parsed */
    HostFacts facts;
    guint64 free_kib; /* free memory, read live */
    guint vcpus;      /* vCPUs of its running guests */
    guint ncpus;      /* its pCPUs (capabilities, else node info) */
    /* Its guests arriving by migration now (from any host), and their
     * names; 0 and NULL when not read. */
    guint inbound;
    char *inbound_names;
} MigratePeer;

void migrate_peer_free(MigratePeer *p);

/* vCPUs of running guests per pCPU; G_MAXDOUBLE when ncpus is unknown. */
double migrate_peer_load(const MigratePeer *p);

/* ---- The decision ----------------------------------------------------- */

typedef struct {
    gboolean ok;
    const MigrateGuest *guest; /* borrowed from the candidates */
    const MigratePeer *peer;   /* borrowed from the peers */
    TscCompat tsc;
    gboolean clock_ok; /* the local clock allows executing */
    char *clock_reason;
    char *reason;        /* why this guest and this peer, or why nothing */
    GPtrArray *refusals; /* char*, one per peer or guest/peer turned down */
    /* Nothing now, but only because balloons are still moving: worth
     * another attempt next tick rather than a retry pause. */
    gboolean retry_soon;
} MigrateDecision;

void migrate_decision_clear(MigrateDecision *d);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(MigrateDecision, migrate_decision_clear)

/* Whether the guest's history lets it go now (migrate_history_wait_s
 * with cfg->cooldown_s as the base wait, whatever the peer); sets skip
 * when it does not.  TRUE when it may go.  The daemons ask it for their
 * own requests, not for one an operator made by name. */
gboolean migrate_guest_history_allows(MigrateGuest *g,
                                      const MigrationConfig *cfg);

/* Picks a guest and a peer.
 *   - Guests that clear the deficit (relief >= deficit) come first, the
 *     cheapest to copy first; then the others, most relief first.  Ties go
 *     to the smaller relief (the least disturbance), then the name.
 *   - A peer must have answered, be another host (its host UUID differs
 *     from source's), not be the host the guest's history says it just
 *     came from (migrate_history_wait_s; not for a manual trigger: the
 *     operator decides), take the guest's TSC (tsc_check_peer with
 *     cfg->tsc_tolerance_ppm and allow_unknown_tsc), and have free memory
 *     for what the guest holds plus cfg->host_reserve_mib.  Among those,
 *     the lowest load wins, then the most free memory, then config order.
 *   - In execute mode the local clock must be synchronised unless
 *     cfg->allow_unsynced_clock (clock NULL: unknown).  Advise mode reports
 *     the clock but is not refused for it.
 * The first guest in that order with a peer is chosen.  *out is
 * overwritten; clear it with migrate_decision_clear(). */
void migrate_decide(const MigrateTrigger *trig, const GPtrArray *guests,
                    const GPtrArray *peers, const HostFacts *source,
                    const ClockSync *clock, const MigrationConfig *cfg,
                    MigrateDecision *out);

/* ---- Time data -------------------------------------------------------- */

/* The source's time data for a request: what a destination needs to move
 * the guest's clock forward by the blackout.  The guest TSC is estimated
 * as its uptime at its frequency, since a guest's TSC starts at 0 when its
 * virtual machine is created. */
typedef struct {
    gboolean known;  /* FALSE when the guest's start time was not found */
    guint64 wall_ns; /* source wall clock */
    TscTimeData td;  /* guest_hz, guest_tsc, hrtime, boot_hrtime */
    guint64 uptime_ns;
} MigrateTimeData;

/* Fills *out from the readings; FALSE (error set) when they contradict
 * each other or overflow. */
gboolean migrate_time_data(guint64 guest_hz, guint64 wall_ns, guint64 hrtime_ns,
                           guint64 boot_hrtime_ns, MigrateTimeData *out,
                           GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* The guest TSC advance the maths predicts for downtime_ns, and the TSC a
 * destination would load (estimated TSC + advance; 0 when td unknown). */
gboolean migrate_predict_advance(const MigrateTimeData *td, guint64 guest_hz,
                                 guint64 downtime_ns, guint64 *ticks,
                                 guint64 *new_tsc,
                                 GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* After a failed migration, what keeps exactly one running copy of the
 * guest, from the source's state and what the peer answered. */
typedef enum {
    MIGRATE_SETTLE_NOTHING,       /* one copy runs, or nothing is known */
    MIGRATE_SETTLE_RESUME_SOURCE, /* paused by the job, not run by the peer */
    MIGRATE_SETTLE_HOLD_SOURCE,   /* paused by the job; the peer runs it or
                                     could not be asked: stay paused */
    MIGRATE_SETTLE_PAUSE_DEST,    /* running on both: pause the peer's */
} MigrateSettle;

/* source_known: its state could be read; state and reason as
 * virDomainGetState gives them (virDomainState, virDomainPausedReason);
 * peer_asked: the peer answered; dest_running: it runs the guest. */
MigrateSettle migrate_settle_after_failure(gboolean source_known, int state,
                                           int reason, gboolean peer_asked,
                                           gboolean dest_running);
const char *migrate_settle_name(MigrateSettle s);
