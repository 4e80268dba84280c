#pragma once

#include "daemon.h"
#include "policy.h"

/* Sets balloon targets live; returns the number of failures.  Shrinks are
 * re-checked against fresh stats first and skipped when the guest's
 * stats went stale or its unused memory no longer covers the shrink.
 * Tells the policy which targets were set. */
guint mem_apply(DaemonCtx *ctx, const Snapshot *snap, const Plan *plan,
                MemPolicyState *policy);
