#include "exit_codes.h"

const ExitCode exit_codes[] = {
    {EXIT_OK, "success"},
    {EXIT_RUNTIME, "could not do what was asked (with --once: the tick or an "
                   "action failed, or a signal stopped the run)"},
    {EXIT_USAGE, "bad command line"},
    {EXIT_CONFIG, "bad config file, or settings that cannot work here"},
    {EXIT_LIBVIRT, "libvirt unreachable"},
};
const guint exit_codes_count = G_N_ELEMENTS(exit_codes);

char *exit_codes_help(void)
{
    g_autoptr(GString) s = g_string_new("Exit status:");
    guint i;

    for (i = 0; i < exit_codes_count; i++)
        g_string_append_printf(s, "%s %d %s", i ? ";" : "", exit_codes[i].code,
                               exit_codes[i].meaning);
    g_string_append(s, " (see aos-exit-status(7)).");
    return g_string_free(g_steal_pointer(&s), FALSE);
}
