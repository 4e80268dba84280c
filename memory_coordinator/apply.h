#pragma once

#include "daemon.h"

/* Sets balloon targets live; returns the number of failures.  Shrinks are
 * re-checked against fresh stats first and skipped when the guest's
 * stats went stale or its unused memory no longer covers the shrink. */
guint mem_apply(DaemonCtx *ctx, const Snapshot *snap, const Plan *plan);
