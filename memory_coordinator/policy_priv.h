/* Shared between the memory policies and their tests; main.c and apply.c
 * need only policy.h. */
#pragma once

#include "bounds.h"
#include "guest_report.h"
#include "policy.h"

/* Consumption rate smoothing.  A rise is followed almost at once, since an
 * underestimated consumer is what runs a guest out of memory; a fall is
 * followed with this half-life, so a consumer that pauses for a tick or
 * two does not lose its headroom. */
#define MEM_RATE_RISE 0.8
#define MEM_RATE_HALF_LIFE_S 10.0
/* How long a target set counts while the balloon is not there yet. */
#define MEM_TARGET_TRUST_S 15

/* A guest showing no growth may start a consumer at any moment, and the
 * first tick that sees it comes one interval later, with the balloon's
 * response after that.  Headroom is sized as if every guest consumed at
 * least this rate: 20 MiB/s keeps an idle guest alive through a 60 MiB/s
 * onset at 1 s ticks while costing it only 50 MiB. */
#define MEM_ONSET_RATE_KIB_S (20.0 * 1024)

/* idle-tax leaves a guest it has just grown alone this long, so the tax
 * and the growth rule do not undo each other tick after tick. */
#define MEM_TAX_DWELL_S 10.0
/* The tax leaves this much above the need.  Measured on a guest taxed to
 * exactly its need, a 60 MB/s consumer starting there took the guest's
 * free memory to within 55 MiB of the kernel's minimum before the growth
 * landed; the course policy keeps its 50 MiB slack and did not. */
#define MEM_TAX_KEEP_KIB (32 * 1024)

/* A squeezed guest: its working set no longer fits, so its kernel reads
 * pages back from disk (major faults) or swap as fast as it drops them.
 * A working set that fits faults nothing once warm; a program start or a
 * one-off read is a single burst.  So a guest counts as squeezed when its
 * reports show at least MEM_SQUEEZE_FAULTS_S major faults a second, or
 * MEM_SQUEEZE_SWAPIN_KIB_S of swap-in, in MEM_SQUEEZE_REPORTS reports in a
 * row: at 1 s reports that is 100 pages read back within 2 s, which only a
 * set that keeps being evicted sustains.  Measured on the test guests: idle
 * guests and streaming readers (read(), not faults) show 0 major faults a
 * second; a guest whose mmapped 768 MiB set, touched at random, does not
 * fit in its 512 MiB shows 1,000-3,000. */
#define MEM_SQUEEZE_FAULTS_S 50.0
#define MEM_SQUEEZE_SWAPIN_KIB_S 256.0
#define MEM_SQUEEZE_REPORTS 2
/* A squeezed guest is never shrunk and grows by max_release a tick, as
 * gradually as memory is taken back.  The size that ended its squeeze is
 * held this long against voluntary shrinks (release, idle tax), and taken
 * back last under pressure: a working set rarely shrinks within minutes,
 * and probing it again costs a few ticks of faults per hold. */
#define MEM_SQUEEZE_HOLD_S 120.0

/* A guest kernel's reserves are its watermarks and lowmem reserves: a few
 * per mille of its memory plus min_free_kbytes (about 4 * sqrt(KiB)), 60-70
 * MiB measured on the 2 GiB test guests.  A report claiming more than this
 * share of the guest's maximum is not believed. */
#define MEM_RESERVE_SHARE (1.0 / 16)

/* Reclaim under pressure is handed out in chunks of at least this size, so
 * donors' priorities are re-evaluated as they give. */
#define MEM_RECLAIM_CHUNK_KIB (4 * 1024)

/* A tax step: when it was decided (snapshot wall second) and how much. */
typedef struct {
    gint64 wall_s;
    guint64 kib;
} MemTaxStep;
#define MEM_TAX_UNSEEN_MAX 4

typedef struct {
    guint64 generation; /* last tick that saw the guest */
    gboolean have_prev; /* prev_* hold a sample */
    gint64 prev_last_update;
    gint64 prev_mono_us;
    guint64 prev_used_kib;
    double rate_kib_s; /* smoothed growth of used memory, >= 0 */
    gboolean have_active;
    double active; /* smoothed active fraction f, 0..1 */
    /* actual - available: the memory the guest's kernel keeps out of its
     * own total, learned while the balloon stood still (see fill_guest) */
    gboolean have_offset;
    gint64 offset_kib;
    gboolean have_prev_actual;
    guint64 prev_actual_kib;
    gint64 actual_since_wall_us; /* first snapshot showing prev_actual_kib */
    /* The last target set, as apply reported it: libvirt shows only the
     * balloon's size, which gets there seconds later. */
    gboolean have_target;
    guint64 target_kib;
    gint64 target_mono_us;
    gboolean grown;      /* last_grow_us is valid */
    gint64 last_grow_us; /* snapshot mono time of the last growth */
    /* Tax steps no guest report has shown yet (policy_idle_tax.c). */
    MemTaxStep unseen_tax[MEM_TAX_UNSEEN_MAX];
    guint n_unseen_tax;
    /* The last report, for its cumulative counters. */
    gboolean have_report;
    BalloonStats report;
    double fault_rate;     /* major faults a second between the last reports */
    double swapin_kib_s;   /* swap-in between the last reports */
    guint fault_reports;   /* reports in a row above the squeeze line */
    guint squeeze_reports; /* ...of them while free memory was short */
    /* The guest kernel's reserves, the largest unused - usable seen
     * (guest_report.h), at most MEM_RESERVE_SHARE of its maximum. */
    guint64 reserve_kib;
    guint64 max_kib;          /* its maximum memory, as last seen */
    guint64 reserve_used_kib; /* the reserve its last plan counted */
    /* The size that ended the last squeeze, held until held_until_us. */
    guint64 held_kib;
    gint64 held_until_us;
} MemGuestState;

/* One guest as a tick sees it. */
typedef struct {
    const DomainSample *dom;
    MemGuestState *gs;
    gboolean live;       /* running: the only state a balloon is moved in */
    gboolean ballooned;  /* reports actual and unused */
    gboolean fresh;      /* stats younger than stale_after_s */
    double report_age_s; /* of a fresh report, whole seconds; else 0 */
    gboolean settled;    /* balloon no longer inflating to an older target */
    guint64 cur_kib;     /* the target its balloon is heading for */
    guint64 actual_kib;
    guint64 unused_kib;
    /* Cache its kernel drops cheaply (guest_report.h); 0 when the guest
     * does not report usable and disk_caches. */
    gboolean cache_aware;
    guint64 reclaim_kib;
    /* actual - unused - reclaimable, in the guest's last report: what it
     * cannot give back without pressure.  Cache is not in it: a guest
     * whose free memory falls because its cache grows needs nothing. */
    guint64 used_kib;
    /* available - unused: both from one guest report, so a balloon move
     * between reports never shows in it; rates are measured on this. */
    guint64 reported_used_kib;
    /* min_unused + rate * (interval + horizon + age of the report) */
    guint64 need_kib;
    guint64 lo_kib; /* max(floor, used + need): nothing shrinks below */
    guint64 hi_kib; /* lo + slack: growth aims here */
    /* Voluntary shrinks (release, tax) stop here: lo, or the size that
     * ended a squeeze while it is held. */
    guint64 keep_kib;
    gboolean squeezed; /* never shrunk; grows by a step */
    guint64 squeeze_aim_kib;
    guint shares;
    MemBoundsGuest bg;

    /* the policy's proposal */
    guint64 target_kib;
    const char *rule;
    char *note; /* words on why, for the reason */
    gboolean grower;
    double urgency; /* lower grows first: headroom / need */
} MemGuest;

typedef struct {
    const Snapshot *snap;
    const MemConfig *cfg;
    MemPolicyState *st;
    MemBounds bounds;
    GArray *guests;       /* MemGuest */
    guint64 released_kib; /* shrinks proposed so far */
    /* Per maximum memory (KiB), the smallest kernel reserve learnt from a
     * guest of that size (see reserve_for in policy.c). */
    GHashTable *reserve_seed;
} MemTick;

/* Donor priority for reclaim: the lowest key gives the next chunk. */
typedef double (*MemDonorKey)(const MemTick *t, const MemGuest *g,
                              guint64 planned_kib);

/* Proposes a shrink of g to target_kib (a later proposal replaces it). */
void mem_tick_propose_shrink(MemTick *t, MemGuest *g, guint64 target_kib,
                             const char *rule, char *note);

/* Lowest target g may be shrunk to this tick, or its current target when
 * it may not shrink. */
guint64 mem_tick_shrink_floor(const MemTick *t, const MemGuest *g);

/* Growth that would bring every grower up to its need (lo). */
guint64 mem_tick_need_growth(const MemTick *t);

/* What the room lacks, after the shrinks proposed so far, to bring every
 * grower up to its need; also what is needed to lift a negative room back
 * to zero. */
guint64 mem_tick_shortfall(const MemTick *t);

/* Takes up to amount_kib from donors (guests that may shrink, not
 * growing), lowest key first: first down to what they keep (memory held
 * after a squeeze is taken last), then down to their lo; returns what it
 * took. */
guint64 mem_tick_reclaim(MemTick *t, guint64 amount_kib, MemDonorKey key,
                         const char *rule);

/* Funds growers from the room left after the proposed shrinks, most
 * urgent first: each up to lo (real need), then squeezed guests by their
 * step, then towards hi. */
void mem_tick_plan_growth(MemTick *t);

/* Both policies: releases/taxes first, then pressure, then growth. */
void mem_course_plan(MemTick *t);
void mem_idle_tax_plan(MemTick *t);

/* Waldspurger's shares-per-page ratio with the idle tax:
 * rho = S / (P * (f + k * (1 - f))), k = 1 / (1 - tau). */
double mem_idle_tax_rho(guint shares, guint64 pages_kib, double active,
                        double tax_rate);

/* Headroom a guest needs above what it uses (KiB). */
guint64 mem_need_kib(const MemConfig *cfg, double rate_kib_s,
                     double report_age_s);
