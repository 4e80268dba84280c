/* How often each guest's balloon driver reports its stats.
 *
 * Balloon stats are only as fresh as the guest's stats period, and QEMU
 * starts a guest with none, so the memory coordinator plans to set it
 * once for every guest it meets, and again for a guest that went away and
 * came back (a new QEMU process).  Pure: apply sets it and reports back. */
#pragma once

#include "actions.h"
#include "mem_config.h"
#include "snapshot.h"

typedef struct MemStatsPeriods MemStatsPeriods;

MemStatsPeriods *mem_stats_periods_new(void);
void mem_stats_periods_free(MemStatsPeriods *sp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MemStatsPeriods, mem_stats_periods_free)

/* The period to set, in whole seconds: at least 1, at most one interval
 * and at most half of stale_after_s. */
int mem_stats_period_s(const MemConfig *cfg);

/* Adds a stats-period action for every guest of snap whose period has not
 * been set, and forgets the guests snap no longer has. */
void mem_stats_periods_plan(MemStatsPeriods *sp, const Snapshot *snap,
                            const MemConfig *cfg, Plan *plan);

/* Apply's report that it tried a's period.  Tried is enough, whatever
 * the outcome: a guest without a balloon driver refuses every time. */
void mem_stats_periods_note_applied(MemStatsPeriods *sp,
                                    const StatsPeriodAction *a);
