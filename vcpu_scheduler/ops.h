/* vcpu_scheduler as the tick driver runs it. */
#pragma once

#include "daemon.h"

extern const DaemonOps vcpu_scheduler_ops;
