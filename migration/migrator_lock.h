/* One migrator per host.
 *
 * Both daemons may have [migration] enabled, and each has a migrator:
 * without a rule, two jobs could leave the host at once, or two requests
 * name the same guest.  The role is held by binding an abstract UNIX
 * socket (Linux): the kernel frees the name when its holder exits, however
 * it exits, so no lock file can be left stale, and the units' read-only
 * file system needs no writable path for it.  The holder listens, so a
 * daemon that defers can name it (SO_PEERCRED gives its pid).  Any local
 * process could take the name first; the daemon that defers then says
 * which pid and user hold it. */
#pragma once

#include <glib.h>

/* The name both daemons use, followed by "-" and the host's UUID once
 * known. */
#define MIGRATOR_LOCK_NAME "aos-migrator"

typedef struct MigratorLock MigratorLock;

/* The role's name for the libvirt host with host_uuid: MIGRATOR_LOCK_NAME,
 * "-" and the UUID; the name alone (the whole machine) while the UUID is
 * NULL or empty. */
char *migrator_role_name(const char *host_uuid) G_GNUC_WARN_UNUSED_RESULT;

MigratorLock *migrator_lock_new(const char *name);
/* Frees the name if held. */
void migrator_lock_free(MigratorLock *l);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MigratorLock, migrator_lock_free)

/* Whether this process holds the role, taking it when it is free.  When
 * another holds it, *holder (if not NULL) says who: "pid 1234
 * (memory_coordinat), user aos", or why that is unknown.  Never blocks. */
gboolean migrator_lock_take(MigratorLock *l, char **holder);
/* Gives the role up (a daemon whose migration was switched off). */
void migrator_lock_release(MigratorLock *l);
gboolean migrator_lock_held(const MigratorLock *l);
const char *migrator_lock_name(const MigratorLock *l);
