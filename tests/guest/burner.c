/*
 * burner: the course's CPU load, for the test guests.
 *
 *   burner N
 *   burner -d PCT
 *
 * Counts from 0 to N in a busy loop, then sleeps 400 microseconds, and does
 * that forever.  N = -1 never sleeps: it spins forever.  The larger N, the
 * larger the share of one CPU the burner takes (see
 * tests/host/calibration.json for what N means under TCG on the test host).
 *
 * -d PCT wants PCT percent of a CPU whatever the CPU's speed: in every
 * 10 ms it spins on the clock for PCT percent of them and sleeps the rest.
 * A counted burst takes longer on a slower CPU, so its share follows the
 * speed of the pCPU the guest runs on; measured on a cloud machine whose
 * two CPUs' speeds drift apart for seconds at a time, that alone made one
 * pCPU look 15 points busier than the other, whichever guests ran there.
 *
 * The counter is volatile so that the compiler keeps the loop: the work per
 * count is one load, one add and one store, as in the course's unoptimised
 * build.  Built static (see the Makefile's build/guest/% rule) because it
 * runs inside the guests' busybox initramfs.  Stop it with any signal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define DUTY_PERIOD_NS 10000000LL

static void usage(void)
{
    fprintf(stderr, "usage: burner N   (N >= 1 counts per burst, -1 spins)\n"
                    "       burner -d PCT   (1..99 percent of a CPU)\n");
    exit(2);
}

static long long now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Spins until PCT percent of each period has passed, then sleeps until
 * the period's end; a late wake-up shortens the next spin, not the share. */
static void duty(long pct)
{
    long long start = now_ns();

    for (;;) {
        long long busy_until = start + DUTY_PERIOD_NS * pct / 100;
        long long next = start + DUTY_PERIOD_NS;
        long long t;

        while (now_ns() < busy_until)
            ;
        t = now_ns();
        if (t < next) {
            struct timespec rest = {(next - t) / 1000000000LL,
                                    (next - t) % 1000000000LL};

            nanosleep(&rest, NULL);
        }
        start = next;
        /* Far behind (the guest was stopped): start afresh. */
        if (now_ns() - start > 10 * DUTY_PERIOD_NS)
            start = now_ns();
    }
}

int main(int argc, char **argv)
{
    char *end = NULL;
    long long n;
    struct timespec pause = {0, 400 * 1000};

    if (argc == 3 && argv[1][0] == '-' && argv[1][1] == 'd' &&
        argv[1][2] == '\0') {
        long pct = strtol(argv[2], &end, 10);

        if (end == argv[2] || *end != '\0' || pct < 1 || pct > 99)
            usage();
        duty(pct);
    }
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
