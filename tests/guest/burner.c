/*
 * burner: the course's CPU load, for the test guests.
 *
 *   burner N
 *
 * Counts from 0 to N in a busy loop, then sleeps 400 microseconds, and does
 * that forever.  N = -1 never sleeps: it spins forever.  The larger N, the
 * larger the share of one CPU the burner takes (see
 * tests/host/calibration.json for what N means under TCG on the test host).
 *
 * The counter is volatile so that the compiler keeps the loop: the work per
 * count is one load, one add and one store, as in the course's unoptimised
 * build.  Built static (see the Makefile's build/guest/% rule) because it
 * runs inside the guests' busybox initramfs.  Stop it with any signal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void usage(void)
{
    fprintf(stderr, "usage: burner N   (N >= 1 counts per burst, -1 spins)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    char *end = NULL;
    long long n;
    struct timespec pause = {0, 400 * 1000};

    if (argc != 2)
        usage();
    n = strtoll(argv[1], &end, 10);
    if (end == argv[1] || *end != '\0' || (n < 1 && n != -1))
        usage();

    for (;;) {
        volatile long long i;

        if (n == -1) {
            for (i = 0;; i++)
                ;
        }
        for (i = 0; i < n; i++)
            ;
        nanosleep(&pause, NULL);
    }
    return 0;
}
