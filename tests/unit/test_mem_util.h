/* Snapshot builders shared by the memory policy tests. */
#pragma once

#include <glib.h>

#include "config.h"
#include "plan.h"
#include "snapshot.h"
/* Not on the include path: vcpu_scheduler has a policy.h of its own. */
#include "../../memory_coordinator/bounds.h"
#include "../../memory_coordinator/policy.h"
#include "../../memory_coordinator/policy_priv.h"

#define TM_MIB 1024ULL
/* An arbitrary wall-clock origin, so stamps look like real epoch seconds. */
#define TM_WALL0_S G_GINT64_CONSTANT(1700000000)

/* A snapshot taken t_s seconds into a run. */
static inline Snapshot *tm_snapshot(double t_s, guint64 total_mib,
                                    guint64 free_mib)
{
    Snapshot *snap = snapshot_new();

    /* Monotonic time starts one second in, so no tick sits at zero. */
    snap->mono_us = (gint64)(t_s * G_USEC_PER_SEC) + G_USEC_PER_SEC;
    snap->wall_us =
        TM_WALL0_S * G_USEC_PER_SEC + (gint64)(t_s * G_USEC_PER_SEC);
    snap->node.npcpus = 2;
    snap->node.total_kib = total_mib * TM_MIB;
    snap->node.free_kib = free_mib * TM_MIB;
    snap->node.cells_free_kib = snap->node.free_kib;
    return snap;
}

/* A running guest with fresh stats whose balloon sits at its target. */
static inline DomainSample *tm_guest(Snapshot *snap, const char *name,
                                     guint64 cur_mib, guint64 max_mib,
                                     guint64 used_mib)
{
    g_autofree char *uuid = g_strdup_printf("uuid-%s", name);
    DomainSample *d = snapshot_add_domain(snap, uuid, name, 1);

    d->state = VIR_DOMAIN_RUNNING;
    d->cur_kib = cur_mib * TM_MIB;
    d->max_kib = max_mib * TM_MIB;
    d->has_balloon_stats = TRUE;
    d->balloon.present = BALLOON_HAS_ACTUAL | BALLOON_HAS_UNUSED |
                         BALLOON_HAS_AVAILABLE | BALLOON_HAS_USABLE |
                         BALLOON_HAS_LAST_UPDATE;
    d->balloon.actual_kib = d->cur_kib;
    d->balloon.unused_kib = d->cur_kib - MIN(used_mib * TM_MIB, d->cur_kib);
    d->balloon.available_kib = d->balloon.actual_kib;
    d->balloon.usable_kib = d->balloon.unused_kib;
    d->balloon.last_update = snap->wall_us / G_USEC_PER_SEC;
    return d;
}

static inline void tm_config(MemConfig *cfg, MemPolicyKind kind)
{
    config_init(&mem_config_schema, cfg);
    cfg->mem_policy = kind;
    cfg->daemon.interval_s = 1.0;
}

/* The balloon action planned for a guest, or NULL. */
static inline const BalloonAction *tm_action_for(const Plan *plan,
                                                 const char *name)
{
    guint i;

    for (i = 0; i < plan_len(plan); i++) {
        const BalloonAction *a = balloon_action_of(plan_get(plan, i));

        if (a && g_strcmp0(a->base.name, name) == 0)
            return a;
    }
    return NULL;
}

/* Action i of a plan the memory policy made: a balloon action. */
static inline const BalloonAction *tm_balloon(const Plan *plan, guint i)
{
    const BalloonAction *a = balloon_action_of(plan_get(plan, i));

    g_assert_nonnull(a);
    return a;
}

/* New target of a guest after plan, or its old one when untouched. */
static inline guint64 tm_target_after(const Plan *plan, const DomainSample *d)
{
    const BalloonAction *a = tm_action_for(plan, d->name);

    return a ? a->new_kib : d->cur_kib;
}
