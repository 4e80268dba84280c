/* Migration requests carried out: the facts migrate.h decides on are read
 * here (peers' capabilities, free memory and load, read live; guests'
 * clocks; the local clock), and a request is either written as one JSON
 * line (advise) or executed as a live peer-to-peer migration (execute).
 *
 * An executed migration runs in a worker thread with a connection of its
 * own, so the daemon keeps ticking; each tick follows the job through
 * virDomainGetJobStats and, once it has ended, records the downtime from
 * the completed job's stats and the guest TSC advance the time-data maths
 * predicts for it.  A persistent guest moves with its definition
 * (PERSIST_DEST | UNDEFINE_SOURCE), so only one host can start it.  A
 * failed migration leaves the guest running on exactly one host: libvirt
 * resumes it on the source, a guest it left paused there is resumed here
 * once the peer is seen not to run it, and a copy the peer runs while the
 * source runs too is paused.  A stop aborts the job in flight.
 *
 * JSON lines go to cfg->advise_log (stdout when unset):
 *   {"event": "request", ...}     one per request, advise or execute
 *   {"event": "result", ...}      one per executed request, when it ends
 *   {"event": "no-request", ...}  an attempt that found nothing to request,
 *                                 with every refusal and its reason */
#pragma once

#include "conn.h"
#include "migrate.h"
#include "quit_guard.h"

#define MIGRATE_ERROR (migrate_error_quark())
GQuark migrate_error_quark(void);
typedef enum {
    MIGRATE_ERROR_BUSY,    /* a migration is already in flight */
    MIGRATE_ERROR_REFUSED, /* nothing to request: no guest or no peer */
    MIGRATE_ERROR_FAILED,  /* the migration was tried and failed */
} MigrateError;

/* A migration running longer than this is aborted; the guest stays on the
 * source. */
#define MIGRATE_MAX_S 600
/* How long a stop waits for an aborted migration to end.  An abort ends
 * a pre-copy job within about a second (QEMU cancels between two writes);
 * a service manager's stop time-out (90 s by default) is far longer. */
#define MIGRATE_STOP_WAIT_S 10

typedef struct Migrator Migrator;

/* Called with each executed migration's outcome, as a "migrate" action. */
typedef void (*MigratorActionFunc)(gpointer data, const Action *a, gboolean ok,
                                   const char *error_text);

Migrator *migrator_new(const char *daemon_name, MigratorActionFunc on_action,
                       gpointer data);
/* Aborts a migration in flight, waits up to MIGRATE_STOP_WAIT_S for it to
 * end, and records it. */
void migrator_free(Migrator *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Migrator, migrator_free)

/* The daemons' hook, once per tick after the policy decided and before
 * the plan is applied.  Follows the migration in flight, takes out of
 * the plan every action on the guest being migrated (libvirt would block
 * them behind the migration job), feeds migrate_observe() and, when it
 * triggers, makes a request.  Does nothing when the mode is off and
 * nothing is in flight. */
void migrator_tick(Migrator *m, Conn *conn, const MigrationConfig *cfg,
                   const Snapshot *snap, Plan *plan);

/* One request for the guest called name, as an operator asks for it: the
 * same checks and the same execution, without a trigger.  In execute mode
 * it waits for the migration to end, or, once stop (may be NULL) has seen
 * a quit signal, aborts it.  TRUE when the request was written (advise)
 * or the guest was migrated (execute). */
gboolean migrator_request_named(Migrator *m, Conn *conn,
                                const MigrationConfig *cfg, const char *name,
                                QuitGuard *stop,
                                GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* TRUE while a migration is in flight. */
gboolean migrator_busy(const Migrator *m);

/* Requests made so far (advised, or started in execute mode). */
guint64 migrator_requests(const Migrator *m);
