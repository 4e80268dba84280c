/* memory_coordinator as the tick driver runs it. */
#pragma once

#include "daemon.h"
#include "policy.h"

extern const DaemonOps memory_coordinator_ops;

/* The policy's part of the daemon's state (daemon_ctx_state()), for tests
 * and tools that read what the policy holds. */
MemPolicyState *mem_daemon_policy_state(gpointer daemon_state);
