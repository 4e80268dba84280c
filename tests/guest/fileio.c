/*
 * fileio: file workloads for the test guests' page cache.
 *
 *   fileio read FILE [--rate MBPS] [--offset MB] [--length MB] [--passes N]
 *                    [--block KB] [--report SECONDS]
 *   fileio write FILE --size MB [--rate MBPS] [--passes N] [--fsync]
 *                     [--block KB] [--report SECONDS]
 *   fileio mmap FILE [--rate MBPS] [--offset MB] [--length MB] [--passes N]
 *                    [--random] [--seed N] [--report SECONDS]
 *
 * read   streams the range [offset, offset + length) of FILE with read(),
 *        front to back, pass after pass.  What it leaves in the page cache
 *        is never read again before it is evicted when the range is larger
 *        than the guest's memory: cache, not a working set.
 * write  writes SIZE MB to FILE, then overwrites it in place, pass after
 *        pass, so the guest always holds dirty pages of it; --fsync flushes
 *        them at the end of each pass.
 * mmap   maps the range read-only and reads one byte of every page, pass
 *        after pass (front to back, or in a new random order each pass with
 *        --random).  A page the guest had to evict is read back through a
 *        page fault that waits for the disk, a MAJOR fault; read() misses
 *        are not faults at all, which is why this mode exists: its major
 *        fault count shows a working set that does not fit.  --random also
 *        turns the kernel's readahead off for the mapping (MADV_RANDOM), so
 *        every miss is one fault of one page.
 *
 * --rate paces by the wall clock as consumer.c does: the block or page at
 * byte b of a run is taken at start + b / RATE, so sleeps that last longer
 * than asked (as they do under TCG) do not lower the rate; a reader that
 * falls behind (the disk is slower than RATE) runs unpaced until it has
 * caught up.  0 = as fast as it goes (default).
 *
 *   --offset MB, --length MB   the range (default: the whole file)
 *   --passes N    stop after N passes (default 0 = until killed)
 *   --block KB    read/write size (default 1024)
 *   --report S    a progress line at most every S seconds (default 5)
 *
 * Output, one line each, flushed at once ("now" is since the last line;
 * shown here folded):
 *   fileio: read start file=/data/stream.bin offset=0 MB length=1280 MB
 *       rate=0 MB/s
 *   fileio: 512 MB at 5.0 s, 102.4 MB/s now, 102.4 MB/s mean, majflt 0
 *   fileio: pass 1 done at 12.5 s, 1280 MB in 12.5 s (102.4 MB/s),
 *       majflt 0 in pass, 0 total
 *   fileio: done, 2560 MB in 25.0 s (102.4 MB/s), majflt 0
 *
 * majflt is the process's own major fault count (getrusage).
 * Exit status: 0 done, 1 I/O error, 2 bad usage.  Built static: it runs in
 * the guests' busybox initramfs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MB (1024.0 * 1024.0)

enum mode { MODE_READ, MODE_WRITE, MODE_MMAP };

struct opts {
    enum mode mode;
    const char *file;
    double rate;
    double offset;
    double length;
    double size;
    double passes;
    double block_kb;
    double report;
    double seed;
    int fsync_each;
    int random_order;
};

/* Progress of one run, for the report lines. */
struct progress {
    double start;
    double last_t;
    double last_bytes;
    double bytes;
    long pass_start_flt;
};

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

static long majflt(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_majflt;
}

static void usage(void)
{
    fprintf(
        stderr,
        "usage: fileio read FILE [--rate MBPS] [--offset MB] [--length MB]\n"
        "                        [--passes N] [--block KB] [--report S]\n"
        "       fileio write FILE --size MB [--rate MBPS] [--passes N]\n"
        "                         [--fsync] [--block KB] [--report S]\n"
        "       fileio mmap FILE [--rate MBPS] [--offset MB] [--length MB]\n"
        "                        [--passes N] [--random] [--seed N]\n"
        "                        [--report S]\n");
    exit(2);
}

static double parse_num(const char *s)
{
    char *end = NULL;
    double v;

    if (s == NULL)
        usage();
    v = strtod(s, &end);
    if (end == s || *end != '\0' || v != v)
        usage();
    return v;
}

static void parse(int argc, char **argv, struct opts *o)
{
    int i;

    if (argc < 3)
        usage();
    if (strcmp(argv[1], "read") == 0)
        o->mode = MODE_READ;
    else if (strcmp(argv[1], "write") == 0)
        o->mode = MODE_WRITE;
    else if (strcmp(argv[1], "mmap") == 0)
        o->mode = MODE_MMAP;
    else
        usage();
    o->file = argv[2];
    for (i = 3; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double *num = NULL;

        if (strcmp(a, "--rate") == 0)
            num = &o->rate;
        else if (strcmp(a, "--offset") == 0 && o->mode != MODE_WRITE)
            num = &o->offset;
        else if (strcmp(a, "--length") == 0 && o->mode != MODE_WRITE)
            num = &o->length;
        else if (strcmp(a, "--size") == 0 && o->mode == MODE_WRITE)
            num = &o->size;
        else if (strcmp(a, "--passes") == 0)
            num = &o->passes;
        else if (strcmp(a, "--block") == 0 && o->mode != MODE_MMAP)
            num = &o->block_kb;
        else if (strcmp(a, "--report") == 0)
            num = &o->report;
        else if (strcmp(a, "--seed") == 0 && o->mode == MODE_MMAP)
            num = &o->seed;
        else if (strcmp(a, "--fsync") == 0 && o->mode == MODE_WRITE)
            o->fsync_each = 1;
        else if (strcmp(a, "--random") == 0 && o->mode == MODE_MMAP)
            o->random_order = 1;
        else
            usage();
        if (num != NULL) {
            *num = parse_num(v);
            i++;
        }
    }
    if (o->rate < 0 || o->offset < 0 || o->length < 0 || o->passes < 0 ||
        o->block_kb < 4 || o->block_kb > 65536 || o->report <= 0 ||
        o->seed < 0 || (o->mode == MODE_WRITE && o->size <= 0))
        usage();
}

/* Waits until byte `bytes` of the run is due; never waits for a reader that
 * is behind. */
static void pace(const struct opts *o, const struct progress *p)
{
    if (o->rate > 0)
        sleep_until(p->start + p->bytes / (o->rate * MB));
}

static void maybe_report(const struct opts *o, struct progress *p)
{
    double t = now_s();

    if (t - p->last_t < o->report)
        return;
    printf("fileio: %.0f MB at %.1f s, %.1f MB/s now, %.1f MB/s mean, "
           "majflt %ld\n",
           p->bytes / MB, t - p->start,
           (p->bytes - p->last_bytes) / MB / (t - p->last_t),
           p->bytes / MB / (t - p->start), majflt());
    p->last_t = t;
    p->last_bytes = p->bytes;
}

static void pass_done(struct progress *p, long pass, double pass_bytes,
                      double pass_t0)
{
    double t = now_s();
    long flt = majflt();

    printf("fileio: pass %ld done at %.1f s, %.0f MB in %.1f s (%.1f MB/s), "
           "majflt %ld in pass, %ld total\n",
           pass, t - p->start, pass_bytes / MB, t - pass_t0,
           pass_bytes / MB / (t - pass_t0 > 0 ? t - pass_t0 : 1e-9),
           flt - p->pass_start_flt, flt);
    p->pass_start_flt = flt;
}

/* The range [offset, offset + length) of a file of `size` bytes, in bytes;
 * exits 2 when it is empty or outside the file. */
static void file_range(const struct opts *o, off_t size, off_t *off, off_t *len)
{
    double want_off = o->offset * MB;
    double want_len = o->length > 0 ? o->length * MB : (double)size - want_off;

    if (want_off >= (double)size || want_len <= 0 ||
        want_off + want_len > (double)size) {
        fprintf(stderr,
                "fileio: range %.0f MB + %.0f MB is outside %s (%.0f MB)\n",
                o->offset, want_len / MB, o->file, (double)size / MB);
        exit(2);
    }
    *off = (off_t)want_off;
    *len = (off_t)want_len;
}

static int do_read(const struct opts *o, struct progress *p)
{
    size_t block = (size_t)(o->block_kb * 1024);
    char *buf = malloc(block);
    struct stat st;
    off_t off;
    off_t len;
    long pass;
    int fd = open(o->file, O_RDONLY);

    if (fd < 0 || buf == NULL || fstat(fd, &st) != 0) {
        fprintf(stderr, "fileio: %s: %s\n", o->file, strerror(errno));
        return 1;
    }
    file_range(o, st.st_size, &off, &len);
    printf("fileio: read start file=%s offset=%.0f MB length=%.0f MB "
           "rate=%g MB/s\n",
           o->file, (double)off / MB, (double)len / MB, o->rate);
    p->start = p->last_t = now_s();
    p->pass_start_flt = majflt();
    for (pass = 1; o->passes == 0 || pass <= (long)o->passes; pass++) {
        double pass_t0 = now_s();
        off_t done = 0;

        while (done < len) {
            size_t want =
                (size_t)(len - done) < block ? (size_t)(len - done) : block;
            ssize_t n;

            pace(o, p);
            n = pread(fd, buf, want, off + done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                fprintf(stderr, "fileio: read %s at %lld: %s\n", o->file,
                        (long long)(off + done),
                        n == 0 ? "unexpected end of file" : strerror(errno));
                return 1;
            }
            done += n;
            p->bytes += (double)n;
            maybe_report(o, p);
        }
        pass_done(p, pass, (double)len, pass_t0);
    }
    close(fd);
    free(buf);
    return 0;
}

static int do_write(const struct opts *o, struct progress *p)
{
    size_t block = (size_t)(o->block_kb * 1024);
    off_t len = (off_t)(o->size * MB);
    unsigned char *buf = malloc(block);
    uint32_t x = 2463534242u;
    long pass;
    size_t i;
    int fd = open(o->file, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    if (fd < 0 || buf == NULL) {
        fprintf(stderr, "fileio: %s: %s\n", o->file, strerror(errno));
        return 1;
    }
    /* Not zeros: a filesystem or disk image may store zero blocks sparsely,
     * and then the writes would cost nothing. */
    for (i = 0; i < block; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (unsigned char)x;
    }
    printf("fileio: write start file=%s size=%.0f MB rate=%g MB/s%s\n", o->file,
           (double)len / MB, o->rate, o->fsync_each ? " fsync" : "");
    p->start = p->last_t = now_s();
    p->pass_start_flt = majflt();
    for (pass = 1; o->passes == 0 || pass <= (long)o->passes; pass++) {
        double pass_t0 = now_s();
        off_t done = 0;

        while (done < len) {
            size_t want =
                (size_t)(len - done) < block ? (size_t)(len - done) : block;
            ssize_t n;

            pace(o, p);
            /* Each pass writes other bytes, so every rewrite dirties. */
            buf[0] = (unsigned char)pass;
            n = pwrite(fd, buf, want, done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                fprintf(stderr, "fileio: write %s at %lld: %s\n", o->file,
                        (long long)done,
                        n == 0 ? "no progress" : strerror(errno));
                return 1;
            }
            done += n;
            p->bytes += (double)n;
            maybe_report(o, p);
        }
        if (o->fsync_each && fsync(fd) != 0) {
            fprintf(stderr, "fileio: fsync %s: %s\n", o->file, strerror(errno));
            return 1;
        }
        pass_done(p, pass, (double)len, pass_t0);
    }
    close(fd);
    free(buf);
    return 0;
}

/* A pseudo-random permutation of 0..n-1 (Fisher-Yates on xorshift64). */
static void shuffle(size_t *idx, size_t n, uint64_t *state)
{
    size_t i;

    for (i = n; i > 1; i--) {
        size_t j;
        size_t t;

        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        j = (size_t)(*state % i);
        t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

static int do_mmap(const struct opts *o, struct progress *p)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    struct stat st;
    off_t off;
    off_t len;
    size_t npages;
    size_t *order = NULL;
    uint64_t state = (uint64_t)o->seed * 2654435761u + 88172645463325252ull;
    volatile const unsigned char *map;
    unsigned long sum = 0;
    long pass;
    int fd = open(o->file, O_RDONLY);

    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "fileio: %s: %s\n", o->file, strerror(errno));
        return 1;
    }
    file_range(o, st.st_size, &off, &len);
    /* mmap needs a page-aligned offset. */
    len += off % (off_t)page;
    off -= off % (off_t)page;
    npages = ((size_t)len + page - 1) / page;
    map = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, fd, off);
    if (map == MAP_FAILED) {
        fprintf(stderr, "fileio: mmap %s: %s\n", o->file, strerror(errno));
        return 1;
    }
    if (o->random_order) {
        size_t i;

        order = malloc(npages * sizeof(*order));
        if (order == NULL) {
            fprintf(stderr, "fileio: no memory for the page order\n");
            return 1;
        }
        for (i = 0; i < npages; i++)
            order[i] = i;
        if (madvise((void *)map, (size_t)len, MADV_RANDOM) != 0)
            fprintf(stderr, "fileio: madvise: %s\n", strerror(errno));
    }
    printf("fileio: mmap start file=%s offset=%.0f MB length=%.0f MB "
           "rate=%g MB/s order=%s\n",
           o->file, (double)off / MB, (double)len / MB, o->rate,
           o->random_order ? "random" : "sequential");
    p->start = p->last_t = now_s();
    p->pass_start_flt = majflt();
    for (pass = 1; o->passes == 0 || pass <= (long)o->passes; pass++) {
        double pass_t0 = now_s();
        size_t i;

        if (order != NULL)
            shuffle(order, npages, &state);
        for (i = 0; i < npages; i++) {
            size_t pg = order != NULL ? order[i] : i;

            /* Pacing per page would cost a clock read per 4 KiB; every
             * 256 pages (1 MiB) is close enough. */
            if ((i & 255) == 0) {
                pace(o, p);
                maybe_report(o, p);
            }
            sum += map[pg * page];
            p->bytes += (double)page;
        }
        pass_done(p, pass, (double)npages * (double)page, pass_t0);
    }
    /* Keeps the reads from being optimised away and says nothing useful. */
    if (sum == 1)
        printf("fileio: checksum 1\n");
    munmap((void *)map, (size_t)len);
    close(fd);
    free(order);
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = {.block_kb = 1024, .report = 5};
    struct progress p = {0};
    int rc;

    parse(argc, argv, &o);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (o.mode == MODE_READ)
        rc = do_read(&o, &p);
    else if (o.mode == MODE_WRITE)
        rc = do_write(&o, &p);
    else
        rc = do_mmap(&o, &p);
    if (rc == 0)
        printf("fileio: done, %.0f MB in %.1f s (%.1f MB/s), majflt %ld\n",
               p.bytes / MB, now_s() - p.start,
               p.bytes / MB / (now_s() - p.start), majflt());
    return rc;
}
