#pragma once

#include "daemon.h"
#include "policy.h"

/* Repins what the plan says, live; returns the number of failures.
 * Vanished domains are not failures.  Tells the policy which pins were
 * made. */
guint vcpu_apply(DaemonCtx *ctx, const Snapshot *snap, const Plan *plan,
                 VcpuPolicyState *st);
