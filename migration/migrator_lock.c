#include "migrator_lock.h"

#include <errno.h>
#include <pwd.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct MigratorLock {
    char *name;
    int fd; /* the bound, listening socket while held; else -1 */
};

char *migrator_role_name(const char *host_uuid)
{
    if (!host_uuid || !*host_uuid)
        return g_strdup(MIGRATOR_LOCK_NAME);
    return g_strdup_printf("%s-%s", MIGRATOR_LOCK_NAME, host_uuid);
}

MigratorLock *migrator_lock_new(const char *name)
{
    MigratorLock *l = g_new0(MigratorLock, 1);

    l->name = g_strdup(name);
    l->fd = -1;
    return l;
}

void migrator_lock_release(MigratorLock *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}

void migrator_lock_free(MigratorLock *l)
{
    if (!l)
        return;
    migrator_lock_release(l);
    g_free(l->name);
    g_free(l);
}

gboolean migrator_lock_held(const MigratorLock *l)
{
    return l->fd >= 0;
}

const char *migrator_lock_name(const MigratorLock *l)
{
    return l->name;
}

/* The abstract address: a NUL, then the name, not NUL-terminated. */
static socklen_t address(const MigratorLock *l, struct sockaddr_un *sa)
{
    gsize n = MIN(strlen(l->name), sizeof(sa->sun_path) - 1);

    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path + 1, l->name, n);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

/* Connections made to learn who holds the name are never served: drop
 * them, so the backlog never fills and a deferring daemon keeps seeing
 * the holder's pid. */
static void drain(MigratorLock *l)
{
    int c;

    while ((c = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
        close(c);
}

static char *describe_holder(const MigratorLock *l)
{
    struct sockaddr_un sa;
    socklen_t len = address(l, &sa);
    struct ucred cred;
    socklen_t clen = sizeof(cred);
    g_autofree char *comm = NULL;
    g_autofree char *path = NULL;
    struct passwd *pw;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return g_strdup_printf("unknown: %s", g_strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, len) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
        int e = errno;

        close(fd);
        return g_strdup_printf("unknown: %s", g_strerror(e));
    }
    close(fd);
    path = g_strdup_printf("/proc/%d/comm", (int)cred.pid);
    if (g_file_get_contents(path, &comm, NULL, NULL))
        g_strstrip(comm);
    pw = getpwuid(cred.uid);
    return g_strdup_printf("pid %d (%s), user %s", (int)cred.pid,
                           comm ? comm : "?", pw ? pw->pw_name : "?");
}

gboolean migrator_lock_take(MigratorLock *l, char **holder)
{
    struct sockaddr_un sa;
    socklen_t len;
    int fd;

    if (holder)
        *holder = NULL;
    if (l->fd >= 0) {
        drain(l);
        return TRUE;
    }
    len = address(l, &sa);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        if (holder)
            *holder =
                g_strdup_printf("unknown: no socket: %s", g_strerror(errno));
        return FALSE;
    }
    if (bind(fd, (struct sockaddr *)&sa, len) == 0 && listen(fd, 8) == 0) {
        l->fd = fd;
        return TRUE;
    }
    close(fd);
    if (holder)
        *holder = describe_holder(l);
    return FALSE;
}
