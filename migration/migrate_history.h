/* A guest's migration history, kept in its own domain metadata so that it
 * travels with the guest from host to host:
 *
 *   <metadata>
 *     <aosm:migrations xmlns:aosm='urn:x-aos:migrations:1'>
 *       <aosm:migration time='2026-12-06T06:00:00Z' from='HOST-UUID'
 *                       to='HOST-UUID' result='done' job_s='12.4'/>
 *     </aosm:migrations>
 *   </metadata>
 *
 * Every host's daemons read it before they ask to move the guest, so two
 * hosts under pressure cannot pass a guest back and forth faster than the
 * rule below allows, with no protocol of their own.  Pure: XML text in,
 * hops and decisions out. */
#pragma once

#include <glib.h>

#define MIGRATE_HISTORY_NS "urn:x-aos:migrations:1"
#define MIGRATE_HISTORY_PREFIX "aosm"

/* Hops older than this do not count, and no wait is longer. */
#define MIGRATE_HISTORY_WINDOW_S (24 * 3600)
/* The most recent hops kept in the element. */
#define MIGRATE_HISTORY_KEEP 16

typedef enum {
    MIGRATE_HOP_STARTED, /* written before the job; its end not recorded */
    MIGRATE_HOP_DONE,
    MIGRATE_HOP_FAILED,
} MigrateHopResult;

typedef struct {
    gint64 time_s; /* seconds since the epoch */
    char from[37]; /* host UUIDs */
    char to[37];
    MigrateHopResult result;
    double job_s; /* how long the job took, 0 when not known */
} MigrateHop;

/* The hops of a domain XML's history element, oldest first; an empty
 * array when it has none.  NULL with error set when the element is there
 * but broken: the caller must then not move the guest, since its history
 * cannot be checked. */
GArray *migrate_history_from_domain_xml(const char *xml, GError **error)
    G_GNUC_WARN_UNUSED_RESULT;

/* The element for virDomainSetMetadata (namespace MIGRATE_HISTORY_NS,
 * prefix MIGRATE_HISTORY_PREFIX), the last MIGRATE_HISTORY_KEEP hops. */
char *migrate_history_element(const GArray *hops) G_GNUC_WARN_UNUSED_RESULT;

/* Seconds the guest must still wait before another migration, 0 when it
 * may go (*why NULL).  Each hop that moved it (started or done) within the
 * last MIGRATE_HISTORY_WINDOW_S counts: after the latest, it waits
 * max(base_s, that job's time) doubled for every other one in the
 * window, at most the window.  And it is not sent back to the host the
 * latest hop took it from (to_uuid; NULL: any peer) for twice that wait,
 * at most the window.  *why says which rule and the hops it counted. */
gint64 migrate_history_wait_s(const GArray *hops, gint64 now_s, guint base_s,
                              const char *to_uuid, char **why);
