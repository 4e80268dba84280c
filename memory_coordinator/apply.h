#pragma once

#include "daemon.h"
#include "policy.h"
#include "stats_period.h"

/* Carries a plan out: stats periods, then balloon targets, live; returns
 * the number of failures (vanished domains and guests that refuse a stats
 * period are none).  Shrinks are re-checked against fresh stats first and
 * skipped when the guest's stats went stale or its unused memory no
 * longer covers the shrink.  Tells the policy which targets were set and
 * periods which periods were tried. */
guint mem_apply(DaemonCtx *ctx, const MemConfig *cfg, const Snapshot *snap,
                const Plan *plan, MemPolicyState *policy,
                MemStatsPeriods *periods);
