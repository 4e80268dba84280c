/* What one balloon report says about a guest's memory.
 *
 * A Linux guest fills memory it does not use with page cache, so its free
 * memory (the balloon's "unused") sinks to near the kernel's minimum on any
 * guest that reads files, while most of what it holds could be dropped at
 * once.  Its kernel's own estimate of what programs can still get without
 * swapping is MemAvailable ("usable"), and "disk_caches" is the file cache.
 * Both come in the same report as unused, so they agree with it.
 *
 * These helpers are pure and shared by the policies (what a guest needs)
 * and the shrink re-check (whether a shrink still fits). */
#pragma once

#include <glib.h>

#include "snapshot.h"

/* The report tells cache from demand: it carries both usable and
 * disk_caches.  usable alone is not enough: in a guest ballooned below its
 * boot size the kernel keeps the reserves of that size, and usable then
 * reads tens of MiB below free memory; bounded by disk_caches, what is
 * counted as reclaimable is cache the balloon can really take back. */
gboolean mem_report_cache_aware(const BalloonStats *b);

/* The guest kernel's reserves as far as this report proves them.
 * MemAvailable is free memory less the kernel's reserves (watermarks and
 * lowmem reserves, fixed at boot, not moved by the balloon) plus what
 * cache and slab it can drop; so unused - usable is never above the
 * reserves, and equals them in a report with no cache.  The largest value
 * seen is the best estimate; 0 when the report is not cache-aware. */
guint64 mem_report_reserve_kib(const BalloonStats *b);

/* Cache the guest's kernel drops cheaply: usable - unused with the
 * kernel's reserves (reserve_kib, as learnt above) added back, at most
 * disk_caches; 0 when the report is not cache-aware.  With the reserves
 * added back, a guest whose cache comes and goes reads the same used
 * memory: without them, used would jump by the reserves the moment it
 * first cached a file. */
guint64 mem_report_reclaimable_kib(const BalloonStats *b, guint64 reserve_kib);

/* What the guest can give a program, or the balloon, without pressure:
 * unused plus the reclaimable cache. */
guint64 mem_report_free_kib(const BalloonStats *b, guint64 reserve_kib);

/* TRUE when a cumulative counter (major and minor faults, swap in and out)
 * present in both reports went backwards: the guest's kernel started
 * again, and nothing learnt from before says anything about it now. */
gboolean mem_report_counters_reset(const BalloonStats *before,
                                   const BalloonStats *now);
