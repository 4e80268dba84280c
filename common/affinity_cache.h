/* vCPU affinity kept between snapshots.
 *
 * Bulk stats carry vCPU times but no affinity, which costs one
 * virDomainGetVcpus per guest per tick.  A pin changes only when someone
 * pins, and libvirt says so: a tunable event (cputune.vcpupinN) for a pin
 * through libvirt, a lifecycle event and a new domain id for a guest that
 * starts.  So a guest's affinity is read again only after such an event,
 * after our own pin, when its vCPU count or id changed, or when the copy
 * is older than about a minute (a pin made behind libvirt's back, through
 * cgroups or taskset, raises no event; the age bounds how long it goes
 * unseen).
 *
 * Only guests whose every vCPU is pinned to one CPU, or to a group of CPUs
 * the caller places by (affinity_cache_set_groups), are kept: for any
 * other vCPU free to run on several, the pCPU it last ran on changes by
 * itself, the caller needs it to know where the vCPU's time went, and it
 * is read on every tick.  A vCPU pinned to a group is all the caller needs
 * to know about it: the group is where its time went.
 *
 * Events arrive on libvirt's event thread (event_loop.h); everything here
 * is locked. */
#pragma once

#include "snapshot.h"
#include "virt_autoptr.h"

typedef struct AffinityCache AffinityCache;

/* The oldest a kept affinity may be, before a spread of up to a further
 * half of it per guest so that a thousand guests read at start are not
 * read again all on one tick. */
#define AFFINITY_MAX_AGE_US (60 * G_USEC_PER_SEC)

/* Whether map (maplen bytes) is a group of CPUs the caller places vCPUs
 * by, so that a vCPU pinned to it needs no last pCPU. */
typedef gboolean (*AffinityGroupFunc)(gconstpointer data, const guint8 *map,
                                      gsize maplen);

AffinityCache *affinity_cache_new(void);
AffinityCache *affinity_cache_ref(AffinityCache *cache);
void affinity_cache_unref(AffinityCache *cache);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AffinityCache, affinity_cache_unref)

/* Listens for conn's tunable and lifecycle events.  FALSE with error set
 * when it cannot (no event loop in this process, or the driver has no
 * domain events): the cache then keeps nothing and every snapshot reads
 * every guest's affinity, as without it. */
gboolean affinity_cache_watch(AffinityCache *cache, virConnectPtr conn,
                              GError **error) G_GNUC_WARN_UNUSED_RESULT;
/* Stops listening and forgets everything; before conn is closed. */
void affinity_cache_unwatch(AffinityCache *cache);

/* The groups the caller places by now (NULL: none, one CPU only).  A kept
 * map that is no longer one of them is read again. */
void affinity_cache_set_groups(AffinityCache *cache, AffinityGroupFunc fn,
                               gconstpointer data);

/* Fills d's vCPUs' cpumaps and last pCPUs (-1 for a vCPU pinned to a
 * group: where in it the vCPU last ran is not kept) from the kept copy
 * and returns
 * TRUE when it is still good.  Otherwise FALSE: *token is to be passed to
 * affinity_cache_keep after reading, and *why (owned by the caller, NULL
 * for a guest not kept before) says why it must be read again. */
gboolean affinity_cache_take(AffinityCache *cache, DomainSample *d,
                             gsize maplen, gint64 now_us, guint *token,
                             char **why);
/* Keeps d's affinity as read now, unless an event for d arrived since
 * affinity_cache_take gave token (then the next snapshot reads it again),
 * or some vCPU of d may run on several CPUs that are not a group the
 * caller places by. */
void affinity_cache_keep(AffinityCache *cache, const DomainSample *d,
                         gsize maplen, gint64 now_us, guint token);
/* The guest's affinity changed (an event, or our own pin): read it
 * again.  why is kept for the log. */
void affinity_cache_forget(AffinityCache *cache, const char *uuid,
                           const char *why);
/* Drops guests not seen by affinity_cache_take since the last call. */
void affinity_cache_sweep(AffinityCache *cache);

/* Guests whose affinity is kept, for tests and the log. */
guint affinity_cache_size(AffinityCache *cache);
