/* memory_coordinator as the tick driver runs it. */
#pragma once

#include "daemon.h"

extern const DaemonOps memory_coordinator_ops;
