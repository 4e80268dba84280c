/* Migration peers, read on threads of their own.
 *
 * Reading a peer opens a libvirt connection to another host, and
 * virConnectOpen has no time-out of its own: a peer that accepts TCP but
 * never answers held `virsh uri` for over 2 minutes here, and it held the
 * daemons' tick with it.  Each probe therefore runs on a thread; the tick
 * only reads the latest result and asks for a new one.  A probe that
 * never ends is left behind (at most one per peer), and after
 * PEER_PROBE_SILENT_S the peer is reported as not answering, which a
 * decision treats like any unreachable peer. */
#pragma once

#include <glib.h>

#include "migrate.h"

/* A result is used for a decision up to this old, and a new probe is
 * asked for once it is older than PEER_PROBE_REFRESH_S: free memory and
 * load on a peer move within seconds, but a decision a tick late is
 * better than one that waits for a round trip. */
#define PEER_PROBE_REFRESH_S 5
#define PEER_PROBE_MAX_AGE_S 30
/* A probe still running after this long: the peer does not answer. */
#define PEER_PROBE_SILENT_S 10
/* libvirt keepalive on a probe's connection once it is open (needs the
 * event loop): a peer that stops answering mid-probe is dropped after
 * about interval * (count + 1) seconds. */
#define PEER_PROBE_KEEPALIVE_S 2
#define PEER_PROBE_KEEPALIVE_COUNT 3

typedef struct PeerProbes PeerProbes;

/* Reads one peer on the calling thread: what a probe thread runs, and
 * the whole job for a caller that may wait. */
typedef MigratePeer *(*PeerReadFunc)(const char *uri);

/* The monotonic clock, in µs, that now_us below is read from. */
typedef gint64 (*PeerClockFunc)(void);

/* read NULL: the libvirt reader below; clock NULL: g_get_monotonic_time.
 * A probe's answer is stamped with clock when it comes in. */
PeerProbes *peer_probes_new(PeerReadFunc read, PeerClockFunc clock);
/* Probes still running finish on their own and are then dropped. */
void peer_probes_free(PeerProbes *pp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PeerProbes, peer_probes_free)

/* What is known of uri at now_us, never waiting: a copy of the last
 * result while it is fresh enough, else a peer with error set saying why
 * (being probed, not answering, unreachable and when the next try is).
 * Starts a probe when none runs and the result is due for a refresh (an
 * unreachable peer is tried again after migrate_backoff_us).  *pending is
 * TRUE when a probe is under way that may still bring a usable result. */
MigratePeer *peer_probes_get(PeerProbes *pp, const char *uri, gint64 now_us,
                             gboolean *pending) G_GNUC_WARN_UNUSED_RESULT;

/* Whether uri's probe is under way with nothing usable known yet, as
 * *pending of peer_probes_get says; never starts a probe.  FALSE for a
 * peer never asked for. */
gboolean peer_probes_awaiting(PeerProbes *pp, const char *uri, gint64 now_us);

/* Probes started so far, and those running now (for tests). */
void peer_probes_counts(PeerProbes *pp, guint *started, guint *running);

/* The libvirt reader: capabilities, free memory, running vCPUs. */
MigratePeer *peer_read_libvirt(const char *uri);
