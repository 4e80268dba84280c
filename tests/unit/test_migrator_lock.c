/* One migrator per host: the second taker defers and can name the
 * holder, the role passes on when the holder lets go, and a holder that
 * keeps ticking keeps the name's backlog empty so the holder stays known. */
#include <string.h>
#include <unistd.h>

#include "migrator_lock.h"

typedef enum { TAKE, RELEASE } Op;

typedef struct {
    char who; /* 'A' or 'B' */
    Op op;
    guint times;
    gboolean want; /* TAKE: held afterwards */
} LockStep;

typedef struct {
    const char *name;
    LockStep steps[8];
} LockCase;

static const LockCase lock_cases[] = {
    {"the first taker holds; the second defers, told the holder's pid",
     {{'A', TAKE, 1, TRUE}, {'B', TAKE, 1, FALSE}, {'A', TAKE, 1, TRUE}, {0}}},
    {"the role passes on when its holder lets go, and back",
     {{'A', TAKE, 1, TRUE},
      {'A', RELEASE, 1, FALSE},
      {'B', TAKE, 1, TRUE},
      {'A', TAKE, 1, FALSE},
      {'B', RELEASE, 1, FALSE},
      {'A', TAKE, 1, TRUE},
      {0}}},
    {"a deferring daemon asking on every tick, the holder ticking too: "
     "40 ticks, the holder named every time",
     {{'A', TAKE, 1, TRUE}, {'B', TAKE, 40, FALSE}, {0}}},
};

static void test_lock_table(void)
{
    g_autofree char *name = g_strdup_printf("aos-test-%d", (int)getpid());
    g_autofree char *pid = g_strdup_printf("pid %d ", (int)getpid());
    guint i;
    guint k;
    guint n;

    for (i = 0; i < G_N_ELEMENTS(lock_cases); i++) {
        const LockCase *t = &lock_cases[i];
        g_autoptr(MigratorLock) a = migrator_lock_new(name);
        g_autoptr(MigratorLock) b = migrator_lock_new(name);

        for (k = 0; t->steps[k].who; k++) {
            const LockStep *st = &t->steps[k];
            MigratorLock *me = st->who == 'A' ? a : b;
            MigratorLock *other = st->who == 'A' ? b : a;

            if (st->op == RELEASE) {
                migrator_lock_release(me);
                g_assert_false(migrator_lock_held(me));
                continue;
            }
            for (n = 0; n < st->times; n++) {
                g_autofree char *holder = NULL;
                gboolean got = migrator_lock_take(me, &holder);

                g_test_message("%s: %c takes: %d (holder %s)", t->name, st->who,
                               got, holder ? holder : "-");
                g_assert_cmpint(got, ==, st->want);
                g_assert_cmpint(migrator_lock_held(me), ==, st->want);
                if (got) {
                    g_assert_null(holder);
                    continue;
                }
                g_assert_nonnull(holder);
                g_assert_true(g_str_has_prefix(holder, pid));
                /* The holder's own tick between the other's asks. */
                g_assert_true(migrator_lock_take(other, NULL));
            }
        }
    }
}

static const struct {
    const char *host_uuid;
    const char *want;
} name_cases[] = {
    {NULL, MIGRATOR_LOCK_NAME},
    {"", MIGRATOR_LOCK_NAME},
    {"c8b97231-9332-4965-a7f9-7e064279ef0a",
     MIGRATOR_LOCK_NAME "-c8b97231-9332-4965-a7f9-7e064279ef0a"},
};

/* One role per libvirt host: the daemons of two hosts on one machine
 * (a management box, or the test host's peers) each hold their own,
 * while two of one host still meet. */
static void test_role_per_host(void)
{
    g_autofree char *x = g_strdup_printf("test-x-%d", (int)getpid());
    g_autofree char *y = g_strdup_printf("test-y-%d", (int)getpid());
    g_autofree char *name_x = migrator_role_name(x);
    g_autofree char *name_y = migrator_role_name(y);
    g_autoptr(MigratorLock) on_x = migrator_lock_new(name_x);
    g_autoptr(MigratorLock) on_y = migrator_lock_new(name_y);
    g_autoptr(MigratorLock) also_x = migrator_lock_new(name_x);
    guint i;

    for (i = 0; i < G_N_ELEMENTS(name_cases); i++) {
        g_autofree char *got = migrator_role_name(name_cases[i].host_uuid);

        g_assert_cmpstr(got, ==, name_cases[i].want);
    }
    g_assert_true(migrator_lock_take(on_x, NULL));
    g_assert_true(migrator_lock_take(on_y, NULL));
    g_assert_false(migrator_lock_take(also_x, NULL));
    g_assert_cmpstr(migrator_lock_name(on_x), ==, name_x);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migrator-lock/table", test_lock_table);
    g_test_add_func("/migrator-lock/role-per-host", test_role_per_host);
    return g_test_run();
}
