/* libFuzzer target for the libxml2 readers in hostcaps.c.
 *
 * Every input is read as capabilities XML and as domain XML, and is given
 * to hostcaps_pin_tsc_frequency().  Besides "no crash, no leak, no
 * undefined behaviour", the target aborts when a promise of hostcaps.h
 * breaks:
 *   - a failed read sets a HOSTCAPS_ERROR and leaves *out untouched;
 *   - a successful read is self-consistent (tsc_known iff tsc_hz > 0,
 *     a host UUID is empty or 36 characters, has_tsc_freq iff a timer
 *     with a non-zero frequency);
 *   - pinning either fails with an error, or gives XML that reads back
 *     with exactly the pinned frequency, and pinning that again gives the
 *     same text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostcaps.h"

/* A frequency seen on real hosts; the last input byte varies it so the
 * pinned value is not a constant the reader could get right by luck. */
#define BASE_HZ G_GUINT64_CONSTANT(2596120000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void broken(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_hostcaps: property broken: %s: %s\n", what,
            detail ? detail : "(none)");
    abort();
}

static void check_error(const char *what, const GError *err)
{
    if (!err)
        broken(what, "failed without an error");
    if (err->domain != HOSTCAPS_ERROR)
        broken(what, err->message);
    if (!err->message || !*err->message)
        broken(what, "empty error message");
}

static void fuzz_caps(const char *xml)
{
    g_autoptr(GError) err = NULL;
    HostFacts f;
    HostFacts untouched;

    memset(&f, 0xa5, sizeof(f));
    memcpy(&untouched, &f, sizeof(f));
    if (!hostcaps_parse(xml, &f, &err)) {
        check_error("hostcaps_parse", err);
        if (memcmp(&f, &untouched, sizeof(f)) != 0)
            broken("hostcaps_parse failed but wrote *out", err->message);
        return;
    }
    if (err)
        broken("hostcaps_parse succeeded but set an error", err->message);
    if (f.tsc_known != (f.tsc_hz > 0))
        broken("hostcaps_parse: tsc_known disagrees with tsc_hz", xml);
    if (memchr(f.host_uuid, '\0', sizeof(f.host_uuid)) == NULL)
        broken("hostcaps_parse: host_uuid is not terminated", xml);
    if (f.host_uuid[0] && strlen(f.host_uuid) != HOSTCAPS_UUID_BUFLEN - 1)
        broken("hostcaps_parse: host_uuid has the wrong length", f.host_uuid);
}

static void fuzz_clock(const char *xml)
{
    g_autoptr(GError) err = NULL;
    g_auto(GuestClock) gc = {0};

    gc.tsc_hz = 12345;
    if (!hostcaps_parse_domain_clock(xml, &gc, &err)) {
        check_error("hostcaps_parse_domain_clock", err);
        if (gc.tsc_hz != 12345 || gc.tsc_mode || gc.has_tsc_timer)
            broken("hostcaps_parse_domain_clock failed but wrote *out",
                   err->message);
        return;
    }
    if (err)
        broken("hostcaps_parse_domain_clock succeeded but set an error",
               err->message);
    if (gc.has_tsc_freq != (gc.tsc_hz > 0))
        broken("domain clock: has_tsc_freq disagrees with tsc_hz", xml);
    if (gc.has_tsc_freq && !gc.has_tsc_timer)
        broken("domain clock: a frequency without a timer", xml);
    if (gc.tsc_mode && !gc.has_tsc_timer)
        broken("domain clock: a timer mode without a timer", xml);
}

static void fuzz_pin(const char *xml, guint64 hz)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GError) rerr = NULL;
    g_autofree char *pinned = NULL;
    g_autofree char *again = NULL;
    g_auto(GuestClock) gc = {0};

    pinned = hostcaps_pin_tsc_frequency(xml, hz, &err);
    if (!pinned) {
        check_error("hostcaps_pin_tsc_frequency", err);
        return;
    }
    if (err)
        broken("pin succeeded but set an error", err->message);
    if (!hostcaps_parse_domain_clock(pinned, &gc, &rerr))
        broken("pinned XML does not read back", rerr->message);
    if (!gc.has_tsc_timer || !gc.has_tsc_freq || gc.tsc_hz != hz)
        broken("pinned XML reads back another frequency", pinned);

    /* Pinning is a fixed point: the timer exists now, so only its
     * frequency attribute is rewritten, to the same value. */
    again = hostcaps_pin_tsc_frequency(pinned, hz, &rerr);
    if (!again)
        broken("pinned XML cannot be pinned again", rerr->message);
    if (strcmp(again, pinned) != 0)
        broken("pinning twice changed the XML", again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The daemons get these documents as C strings from libvirt. */
    g_autofree char *xml = g_strndup((const char *)data, size);
    guint64 hz = BASE_HZ + (size ? data[size - 1] : 0);
    g_autoptr(GError) zerr = NULL;
    g_autofree char *zero = NULL;

    fuzz_caps(xml);
    fuzz_clock(xml);
    fuzz_pin(xml, hz);

    /* 0 Hz is refused whatever the document. */
    zero = hostcaps_pin_tsc_frequency(xml, 0, &zerr);
    if (zero)
        broken("pinned a TSC frequency of 0 Hz", zero);
    check_error("hostcaps_pin_tsc_frequency(0)", zerr);
    return 0;
}
