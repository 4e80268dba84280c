/* Where the tree is, for tests that read files under tests/fixtures/ or
 * run the tree's tools. */
#pragma once

#include <glib.h>

/* The tree's root: G_TEST_SRCDIR if set, else two levels above the test
 * program (build/tests/test_x, build-san/tests/test_x). */
static inline char *tree_root(void)
{
    const char *env = g_getenv("G_TEST_SRCDIR");
    g_autofree char *exe = NULL;
    g_autofree char *dir = NULL;

    if (env)
        return g_strdup(env);
    exe = g_file_read_link("/proc/self/exe", NULL);
    g_assert_nonnull(exe);
    dir = g_path_get_dirname(exe);
    return g_build_filename(dir, "..", "..", NULL);
}

/* The text of tests/fixtures/<kind>/<name>; the test stops when missing. */
static inline char *read_fixture(const char *kind, const char *name)
{
    g_autofree char *root = tree_root();
    g_autofree char *path =
        g_build_filename(root, "tests", "fixtures", kind, name, NULL);
    g_autoptr(GError) err = NULL;
    char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, &err))
        g_error("fixture %s: %s", path, err->message);
    return text;
}
