/* Measures how fast each pCPU of the test host runs, for the CPU
 * scenarios (tests/scenarios/run.py).
 *
 * The test host is itself a virtual machine: its pCPUs are threads of a
 * physical host that other tenants share, and one of them can run the
 * same work 2-3 times slower than the other for minutes.  Every guest
 * burner on such a pCPU then needs that much more vCPU time, so loads
 * that are equal by design read unequal and no placement is balanced.
 * The scenarios have to know when that happened, or they would blame
 * the scheduler for the host.
 *
 * Every --interval-ms it runs the same fixed work pinned to each online
 * CPU in turn (best of three, so one interrupt does not count) and prints
 *
 *     <CLOCK_MONOTONIC seconds> <µs of thread CPU time on CPU 0> ...
 *
 * Thread CPU time, not wall time: waiting behind the guests' vCPU threads
 * is not slowness, running slower is.  At the defaults the probe costs
 * about 0.1% of each pCPU.  It runs until killed. */
#include <glib.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double clock_s(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The work: a dependent chain of adds the compiler cannot fold away. */
static double work_cost_us(gint64 iterations)
{
    volatile guint64 n = 0;
    double start = clock_s(CLOCK_THREAD_CPUTIME_ID);
    gint64 i;

    for (i = 0; i < iterations; i++)
        n++;
    return (clock_s(CLOCK_THREAD_CPUTIME_ID) - start) * 1e6;
}

static gboolean pin_to(int cpu)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set) == 0;
}

int main(int argc, char **argv)
{
    gint interval_ms = 500;
    gint64 iterations = 3000000;
    GOptionEntry entries[] = {
        {"interval-ms", 'i', 0, G_OPTION_ARG_INT, &interval_ms,
         "time between two rounds (default 500)", "MS"},
        {"iterations", 'n', 0, G_OPTION_ARG_INT64, &iterations,
         "size of the fixed work (default 3000000, about 1 ms)", "N"},
        {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("- per-pCPU speed of the test host");
    g_autoptr(GError) err = NULL;
    long ncpus = sysconf(_SC_NPROCESSORS_ONLN);

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err) || argc != 1 ||
        interval_ms < 1 || iterations < 1) {
        fprintf(stderr, "pcpu_probe: %s\n",
                err ? err->message : "bad arguments (see --help)");
        return 2;
    }
    if (ncpus < 1) {
        fprintf(stderr, "pcpu_probe: cannot count the online CPUs\n");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (;;) {
        GString *line = g_string_new(NULL);
        long cpu;

        g_string_printf(line, "%.3f", clock_s(CLOCK_MONOTONIC));
        for (cpu = 0; cpu < ncpus; cpu++) {
            double best = -1;
            int round;

            if (pin_to((int)cpu)) {
                /* Let the migration settle before timing anything. */
                g_usleep(1000);
                for (round = 0; round < 3; round++) {
                    double c = work_cost_us(iterations);

                    best = best < 0 ? c : MIN(best, c);
                }
            }
            g_string_append_printf(line, " %.0f", best);
        }
        puts(line->str);
        g_string_free(line, TRUE);
        g_usleep((gulong)interval_ms * 1000);
    }
}
