/* Migration requests on a daemon's tick: the DaemonOps hook through which
 * both daemons run the migrator (migrate_exec.h), so that the tick driver
 * in common/ knows nothing of migration. */
#pragma once

#include <stddef.h>

#include "daemon.h"
#include "migration_config.h"

extern const DaemonHookFuncs migration_hook_funcs;

/* The hook of a daemon whose config struct st holds its MigrationConfig
 * in field. */
#define MIGRATION_HOOK(st, field)                                              \
    {                                                                          \
        .funcs = &migration_hook_funcs, .cfg_offset = offsetof(st, field)      \
    }
