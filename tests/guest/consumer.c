/*
 * consumer: the course's memory load, paced by the wall clock.
 *
 *   consumer [--rate MBPS] [--limit MB] [--hold SECONDS] [--step MB]
 *            [--report MB] [--stay] [--min-free MB | --min-room MB]
 *            [--wait-s SECONDS] [--file PATH --file-mb MB]
 *
 * Grows its memory STEP MB at a time (default 1), writing to every page of
 * each new block so that the guest really backs it.  Growth is paced by the
 * wall clock: block n is taken at start + n * STEP / RATE seconds, so the
 * rate holds even when one sleep lasts milliseconds longer than asked, as it
 * does inside a TCG guest (the course's "sleep 100 us per page" gives only
 * about 1 MB/s there).
 *
 * Growth stops when an allocation fails or LIMIT MB is reached.  Then the
 * consumer holds the memory for HOLD seconds, frees all of it, and exits 0.
 * Without a limit in a guest with overcommit on, allocation rarely fails:
 * the guest's OOM killer usually ends the consumer first, which is what the
 * OOM test wants.
 *
 *   --rate MBPS     growth rate in MB per second (default 25; 0 = no pacing)
 *   --limit MB      stop growing at this size (default 0 = no limit)
 *   --hold SECONDS  keep the memory this long before freeing (default 0;
 *                   -1 = hold until killed)
 *   --step MB       block size (default 1)
 *   --report MB     print a progress line every this many MB (default 32)
 *   --stay          after freeing, sleep until killed instead of exiting
 *   --min-free MB   treat a guest whose MemFree is below the kernel's
 *                   min_free_kbytes plus MB as out of memory: stop growing,
 *                   as an allocation failure would (with overcommit on, a
 *                   real failure is the OOM killer, which fires once free
 *                   memory reaches the min watermark: about 45 MB in these
 *                   guests, sized for their 2 GB at boot).  MemFree, not
 *                   MemAvailable: a ballooned-down guest keeps the reserves
 *                   of its boot size, so MemAvailable reads tens of MB
 *                   lower long before it is short.  Wrong in a guest
 *                   whose page cache holds most of its memory: MemFree is
 *                   then low although the kernel would give the cache up
 *                   for the consumer
 *   --min-room MB   as --min-free, but counts the page cache the kernel can
 *                   reclaim as room: MemFree + Active(file) + Inactive(file)
 *                   - Dirty - Writeback.  The OOM killer fires only once
 *                   that file cache is gone and free memory is at the min
 *                   watermark, so this is the same line as --min-free's,
 *                   right with or without cache.  Not MemAvailable: besides
 *                   the boot-size reserves above, it also holds back part of
 *                   the cache (the low watermark); measured on these guests
 *                   at 512 MiB, MemAvailable read 69 MiB under free + file
 *                   cache without cache and 122 MiB under it with 330 MiB of
 *                   cache, so it would stop a consumer that far early
 *   --wait-s SECONDS
 *                   with --min-free or --min-room: at the line, wait for
 *                   memory to come back rather than stop at once, as a
 *                   program that backs off under memory pressure does, and
 *                   stop only after waiting this long in one stretch.  A
 *                   coordinator answers a consumer that starts on an idle
 *                   guest one stats report, one tick and one balloon
 *                   response after it starts (about 3.5 s at 1 s ticks);
 *                   where in its poll the start falls decides whether the
 *                   guest's free memory meets the line first.  A wait says
 *                   how long the guest was short; never getting the memory
 *                   still ends the growth
 *   --file PATH     a mixed consumer: first read the first --file-mb MB of
 *   --file-mb MB    PATH into the page cache (read once, never again), then
 *                   grow anonymous memory as above, against that cache
 *
 * Output, one line each, flushed at once:
 *   consumer: cached 300 MB of /data/stream.bin in 1.2 s        (--file)
 *   consumer: start rate=25 MB/s limit=512 MB hold=10 s
 *   consumer: 64 MB at 2.6 s
 *   consumer: fell behind by 1.2 s at 300 MB         (a stall; no catch-up)
 *   consumer: waited 1.4 s for memory at 112 MB      (--wait-s)
 *   consumer: waited 10.0 s for memory at 322 MB, none came  (then stops)
 *   consumer: reached 512 MB at 20.5 s (limit)      or (allocation failed)
 *   consumer: holding 512 MB for 10 s
 *   consumer: freed 512 MB at 30.5 s
 *
 * Exit status: 0 done, 1 --file unreadable, 2 bad usage.  Built static: it
 * runs in the guests' busybox initramfs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MB (1024L * 1024L)
/* Lag behind the rate's schedule that counts as a stall, in seconds. */
#define MAX_LAG_S 0.25

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
    struct timespec ts;

    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* MemFree from /proc/meminfo in MB, or -1 when unreadable; with
 * with_cache, plus the file cache the kernel can reclaim (see --min-room). */
static double mem_room_mb(int with_cache)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    double free_kb = -1;
    double active = 0;
    double inactive = 0;
    double dirty = 0;
    double writeback = 0;
    double room;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "MemFree: %lf kB", &free_kb) == 1)
            continue;
        if (sscanf(line, "Active(file): %lf kB", &active) == 1)
            continue;
        if (sscanf(line, "Inactive(file): %lf kB", &inactive) == 1)
            continue;
        if (sscanf(line, "Dirty: %lf kB", &dirty) == 1)
            continue;
        sscanf(line, "Writeback: %lf kB", &writeback);
    }
    fclose(f);
    if (free_kb < 0)
        return -1;
    room = free_kb;
    if (with_cache && active + inactive > dirty + writeback)
        room += active + inactive - dirty - writeback;
    return room / 1024.0;
}

/* Reads the first mb MB of path, so that they sit in the page cache. */
static int fill_cache(const char *path, double mb)
{
    static char buf[1 << 20];
    double want = mb * MB;
    double done = 0;
    double t0 = now_s();
    int fd = open(path, O_RDONLY);

    if (fd < 0) {
        fprintf(stderr, "consumer: %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (done < want) {
        size_t n =
            want - done < sizeof(buf) ? (size_t)(want - done) : sizeof(buf);
        ssize_t got = read(fd, buf, n);

        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        done += (double)got;
    }
    close(fd);
    printf("consumer: cached %.0f MB of %s in %.1f s\n", done / MB, path,
           now_s() - t0);
    return 0;
}

/* vm.min_free_kbytes in MB: the OOM killer's line; 0 when unreadable. */
static double min_free_mb(void)
{
    FILE *f = fopen("/proc/sys/vm/min_free_kbytes", "r");
    double kb = 0;

    if (f == NULL)
        return 0;
    if (fscanf(f, "%lf", &kb) != 1)
        kb = 0;
    fclose(f);
    return kb / 1024.0;
}

static int below(double line_mb, int with_cache)
{
    double avail = mem_room_mb(with_cache);

    return avail >= 0 && avail < line_mb;
}

/* Whether the guest is short of memory for the next block: below the line
 * now and, with wait_s, still below it after waiting up to wait_s.  A wait
 * that ends moves the rate's schedule, as a stall does (*stalled). */
static int short_of_memory(double line_mb, int with_cache, double wait_s,
                           double have_mb, double *stalled)
{
    double t0;
    double waited;

    if (!below(line_mb, with_cache))
        return 0;
    t0 = now_s();
    while (below(line_mb, with_cache)) {
        if (now_s() - t0 >= wait_s) {
            /* Said only after a wait: without one this is the stop the
             * consumer has always made. */
            if (wait_s > 0)
                printf("consumer: waited %.1f s for memory at %.0f MB, "
                       "none came\n",
                       now_s() - t0, have_mb);
            return 1;
        }
        sleep_until(now_s() + 0.05);
    }
    waited = now_s() - t0;
    *stalled += waited;
    printf("consumer: waited %.1f s for memory at %.0f MB\n", waited, have_mb);
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: consumer [--rate MBPS] [--limit MB] [--hold SECONDS]\n"
            "                [--step MB] [--report MB] [--stay]\n"
            "                [--min-free MB | --min-room MB] [--wait-s S]\n"
            "                [--file PATH --file-mb MB]\n");
    exit(2);
}

static double parse_num(const char *s)
{
    char *end = NULL;
    double v;

    if (s == NULL)
        usage();
    v = strtod(s, &end);
    if (end == s || *end != '\0')
        usage();
    return v;
}

int main(int argc, char **argv)
{
    double rate = 25.0;
    double limit = 0.0;
    double hold = 0.0;
    double stalled = 0.0; /* seconds of stalls the schedule was moved by */
    double step = 1.0;
    double report = 32.0;
    int stay = 0;
    double min_free = 0.0;
    double min_room = 0.0;
    double wait_s = 0.0;
    const char *file = NULL;
    double file_mb = 0.0;
    size_t block;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char **blocks = NULL;
    size_t nblocks = 0;
    size_t cap = 0;
    double start;
    double next_report;
    const char *why = "limit";
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--rate") == 0) {
            rate = parse_num(v);
            i++;
        } else if (strcmp(a, "--limit") == 0) {
            limit = parse_num(v);
            i++;
        } else if (strcmp(a, "--hold") == 0) {
            hold = parse_num(v);
            i++;
        } else if (strcmp(a, "--step") == 0) {
            step = parse_num(v);
            i++;
        } else if (strcmp(a, "--report") == 0) {
            report = parse_num(v);
            i++;
        } else if (strcmp(a, "--min-free") == 0) {
            min_free = parse_num(v);
            i++;
        } else if (strcmp(a, "--min-room") == 0) {
            min_room = parse_num(v);
            i++;
        } else if (strcmp(a, "--wait-s") == 0) {
            wait_s = parse_num(v);
            i++;
        } else if (strcmp(a, "--file") == 0) {
            if (v == NULL)
                usage();
            file = v;
            i++;
        } else if (strcmp(a, "--file-mb") == 0) {
            file_mb = parse_num(v);
            i++;
        } else if (strcmp(a, "--stay") == 0) {
            stay = 1;
        } else {
            usage();
        }
    }
    if (rate < 0 || limit < 0 || step <= 0 || report <= 0 || min_free < 0 ||
        min_room < 0 || (min_free > 0 && min_room > 0) || file_mb < 0 ||
        wait_s < 0 || (wait_s > 0 && min_free <= 0 && min_room <= 0) ||
        (file != NULL) != (file_mb > 0) || (hold < 0 && hold != -1))
        usage();

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (file != NULL && fill_cache(file, file_mb) != 0)
        return 1;
    if (min_free > 0)
        min_free += min_free_mb();
    /* One line for both rules: only one of them is ever set. */
    if (min_room > 0)
        min_free = min_room + min_free_mb();
    block = (size_t)(step * MB);
    block = (block + page - 1) / page * page;
    printf("consumer: start rate=%g MB/s limit=%g MB hold=%g s\n", rate, limit,
           hold);

    start = now_s();
    next_report = report;
    for (;;) {
        double have = (double)nblocks * (double)block / MB;
        char *p;
        size_t off;

        if (limit > 0 && have + (double)block / MB > limit + 1e-9)
            break;
        if (rate > 0) {
            double due = start + stalled + (have + (double)block / MB) / rate;
            double late = now_s() - due;

            /* Behind the schedule after a stall (its vCPU not run, the
             * host paused): go on from here at the rate asked for rather
             * than catch up, which would allocate the whole stall's worth
             * at once, many times the rate, where no coordinator could
             * have seen it coming.  Logged, so that a run can tell. */
            if (late > MAX_LAG_S) {
                stalled += late;
                due += late;
                printf("consumer: fell behind by %.1f s at %.0f MB\n", late,
                       have);
            }
            sleep_until(due);
        }
        if (min_free > 0 &&
            short_of_memory(min_free + (double)block / MB, min_room > 0, wait_s,
                            have, &stalled)) {
            why = "low memory";
            break;
        }
        if (nblocks == cap) {
            size_t ncap = cap ? cap * 2 : 1024;
            char **nb = realloc(blocks, ncap * sizeof(*blocks));

            if (nb == NULL) {
                why = "allocation failed";
                break;
            }
            blocks = nb;
            cap = ncap;
        }
        p = mmap(NULL, block, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            why = "allocation failed";
            break;
        }
        for (off = 0; off < block; off += page)
            p[off] = (char)(off / page + 1);
        blocks[nblocks++] = p;
        have = (double)nblocks * (double)block / MB;
        if (have >= next_report) {
            printf("consumer: %.0f MB at %.1f s\n", have, now_s() - start);
            next_report += report;
        }
    }

    printf("consumer: reached %.0f MB at %.1f s (%s)\n",
           (double)nblocks * (double)block / MB, now_s() - start, why);
    if (hold == -1) {
        printf("consumer: holding %.0f MB until killed\n",
               (double)nblocks * (double)block / MB);
        for (;;)
            pause();
    }
    if (hold > 0) {
        printf("consumer: holding %.0f MB for %g s\n",
               (double)nblocks * (double)block / MB, hold);
        sleep_until(now_s() + hold);
    }
    while (nblocks > 0)
        munmap(blocks[--nblocks], block);
    free(blocks);
    printf("consumer: freed at %.1f s\n", now_s() - start);
    if (stay) {
        for (;;)
            pause();
    }
    return 0;
}
