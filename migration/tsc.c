#include "tsc.h"

#include <errno.h>
#include <math.h>

GQuark tsc_error_quark(void)
{
    return g_quark_from_static_string("aos-tsc-error-quark");
}

gboolean tsc_parse_u64(const char *text, gboolean allow_hex, guint64 *out,
                       GError **error)
{
    const char *digits;
    char *end = NULL;
    guint base = 10;
    guint64 v;

    if (!text || !*text) {
        g_set_error(error, TSC_ERROR, TSC_ERROR_INVALID,
                    "empty text where a number was expected");
        return FALSE;
    }

    digits = text;
    if (allow_hex && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        base = 16;
        digits = text + 2;
    }

    /* g_ascii_strtoull skips spaces and accepts a sign (negating "-1" into
     * G_MAXUINT64), so the first character must already be a digit. */
    if (base == 16 ? !g_ascii_isxdigit(digits[0])
                   : !g_ascii_isdigit(digits[0])) {
        if (allow_hex)
            g_set_error(error, TSC_ERROR, TSC_ERROR_INVALID,
                        "'%s' is not a decimal or 0x-prefixed hexadecimal "
                        "number",
                        text);
        else
            g_set_error(error, TSC_ERROR, TSC_ERROR_INVALID,
                        "'%s' is not a decimal number", text);
        return FALSE;
    }

    errno = 0;
    v = g_ascii_strtoull(digits, &end, base);
    if (errno == ERANGE) {
        g_set_error(error, TSC_ERROR, TSC_ERROR_OVERFLOW,
                    "'%s' does not fit in 64 bits", text);
        return FALSE;
    }
    if (errno != 0 || !end || *end != '\0') {
        if (allow_hex)
            g_set_error(error, TSC_ERROR, TSC_ERROR_INVALID,
                        "'%s' is not a decimal or 0x-prefixed hexadecimal "
                        "number",
                        text);
        else
            g_set_error(error, TSC_ERROR, TSC_ERROR_INVALID,
                        "'%s' is not a decimal number", text);
        return FALSE;
    }

    *out = v;
    return TRUE;
}

guint64 tsc_migration_delta_ns(guint64 src_wall_ns, guint64 dst_wall_ns,
                               gboolean *clamped)
{
    gboolean behind = dst_wall_ns < src_wall_ns;

    if (clamped)
        *clamped = behind;
    return behind ? 0 : dst_wall_ns - src_wall_ns;
}

gboolean tsc_guest_uptime_ns(guint64 src_hrtime_ns, guint64 src_boot_hrtime_ns,
                             guint64 *out, GError **error)
{
    guint64 uptime;

    if (__builtin_sub_overflow(src_hrtime_ns, src_boot_hrtime_ns, &uptime)) {
        g_set_error(error, TSC_ERROR, TSC_ERROR_UNDERFLOW,
                    "source boot_hrtime %" G_GUINT64_FORMAT
                    " ns is after source hrtime %" G_GUINT64_FORMAT
                    " ns: the guest uptime would be negative",
                    src_boot_hrtime_ns, src_hrtime_ns);
        return FALSE;
    }
    *out = uptime;
    return TRUE;
}

gboolean tsc_new_boot_hrtime(guint64 dst_hrtime_ns, guint64 uptime_ns,
                             guint64 delta_ns, guint64 *out, GError **error)
{
    guint64 elapsed;
    guint64 boot;

    if (__builtin_add_overflow(uptime_ns, delta_ns, &elapsed)) {
        g_set_error(error, TSC_ERROR, TSC_ERROR_OVERFLOW,
                    "guest uptime %" G_GUINT64_FORMAT
                    " ns plus migration delta %" G_GUINT64_FORMAT
                    " ns does not fit in 64 bits",
                    uptime_ns, delta_ns);
        return FALSE;
    }
    if (__builtin_sub_overflow(dst_hrtime_ns, elapsed, &boot)) {
        g_set_error(error, TSC_ERROR, TSC_ERROR_UNDERFLOW,
                    "guest uptime plus migration delta (%" G_GUINT64_FORMAT
                    " ns) exceeds destination hrtime %" G_GUINT64_FORMAT
                    " ns: the new boot_hrtime would be negative",
                    elapsed, dst_hrtime_ns);
        return FALSE;
    }
    *out = boot;
    return TRUE;
}

gboolean tsc_ticks_for_ns(guint64 delta_ns, guint64 guest_hz, guint64 *out,
                          GError **error)
{
    unsigned __int128 ticks;

    if (guest_hz == 0) {
        g_set_error(error, TSC_ERROR, TSC_ERROR_INVALID,
                    "guest TSC frequency is 0 Hz");
        return FALSE;
    }

    /* Both factors are below 2^64, so the product fits in 128 bits; doing
     * the division last keeps every nanosecond's share of a tick. */
    ticks = (unsigned __int128)delta_ns * guest_hz / TSC_NS_PER_SEC;
    if (ticks > G_MAXUINT64) {
        g_set_error(error, TSC_ERROR, TSC_ERROR_OVERFLOW,
                    "%" G_GUINT64_FORMAT " ns at %" G_GUINT64_FORMAT
                    " Hz is more TSC ticks than fit in 64 bits",
                    delta_ns, guest_hz);
        return FALSE;
    }
    *out = (guint64)ticks;
    return TRUE;
}

gboolean tsc_advance(guint64 guest_tsc, guint64 ticks, guint64 *out,
                     GError **error)
{
    guint64 tsc;

    if (__builtin_add_overflow(guest_tsc, ticks, &tsc)) {
        g_set_error(error, TSC_ERROR, TSC_ERROR_OVERFLOW,
                    "guest TSC %" G_GUINT64_FORMAT " plus %" G_GUINT64_FORMAT
                    " ticks does not fit in 64 bits",
                    guest_tsc, ticks);
        return FALSE;
    }
    *out = tsc;
    return TRUE;
}

gboolean tsc_adjust_time_data(const TscTimeData *src, guint64 dst_hrtime_ns,
                              guint64 delta_ns, TscTimeAdjust *out,
                              GError **error)
{
    TscTimeAdjust adj = {0};

    if (!tsc_guest_uptime_ns(src->hrtime_ns, src->boot_hrtime_ns,
                             &adj.uptime_ns, error))
        return FALSE;
    if (!tsc_ticks_for_ns(delta_ns, src->guest_hz, &adj.tsc_delta, error))
        return FALSE;
    if (!tsc_advance(src->guest_tsc, adj.tsc_delta, &adj.guest_tsc, error))
        return FALSE;
    if (!tsc_new_boot_hrtime(dst_hrtime_ns, adj.uptime_ns, delta_ns,
                             &adj.boot_hrtime_ns, error))
        return FALSE;

    *out = adj;
    return TRUE;
}

guint tsc_mult_int_bits(TscMultFormat fmt)
{
    return fmt == TSC_MULT_INTEL ? 16 : 8;
}

guint tsc_mult_frac_bits(TscMultFormat fmt)
{
    return fmt == TSC_MULT_INTEL ? 48 : 32;
}

const char *tsc_mult_format_name(TscMultFormat fmt)
{
    return fmt == TSC_MULT_INTEL ? "Intel 16.48" : "AMD 8.32";
}

gboolean tsc_freq_multiplier(guint64 guest_hz, guint64 host_hz,
                             TscMultFormat fmt, guint64 *out, GError **error)
{
    guint frac = tsc_mult_frac_bits(fmt);
    guint width = tsc_mult_int_bits(fmt) + frac;
    unsigned __int128 mult;

    if (host_hz == 0) {
        g_set_error(error, TSC_ERROR, TSC_ERROR_INVALID,
                    "host TSC frequency is 0 Hz");
        return FALSE;
    }

    /* guest_hz < 2^64 shifted by at most 48 bits stays below 2^112. */
    mult = ((unsigned __int128)guest_hz << frac) / host_hz;
    if (mult >> width) {
        g_set_error(error, TSC_ERROR, TSC_ERROR_RANGE,
                    "guest/host TSC ratio %" G_GUINT64_FORMAT
                    " Hz / %" G_GUINT64_FORMAT " Hz is %u or more, too large "
                    "for the %s multiplier",
                    guest_hz, host_hz, 1u << tsc_mult_int_bits(fmt),
                    tsc_mult_format_name(fmt));
        return FALSE;
    }
    if (mult == 0) {
        g_set_error(error, TSC_ERROR, TSC_ERROR_RANGE,
                    "guest/host TSC ratio %" G_GUINT64_FORMAT
                    " Hz / %" G_GUINT64_FORMAT " Hz is 0 in the %s multiplier",
                    guest_hz, host_hz, tsc_mult_format_name(fmt));
        return FALSE;
    }
    *out = (guint64)mult;
    return TRUE;
}

double tsc_multiplier_ratio(guint64 mult, TscMultFormat fmt)
{
    return ldexp((double)mult, -(int)tsc_mult_frac_bits(fmt));
}

static gboolean tolerance_valid(double tolerance_ppm)
{
    return isfinite(tolerance_ppm) && tolerance_ppm >= 0.0 &&
           tolerance_ppm <= 1e6;
}

gboolean tsc_tolerance_range(guint64 ref_hz, double tolerance_ppm,
                             guint64 *min_hz, guint64 *max_hz)
{
    guint64 micro_ppm;
    guint64 tol_hz;

    if (!tolerance_valid(tolerance_ppm))
        return FALSE;

    /* Integer micro-ppm keep the range exact for whole-ppm tolerances, so
     * 250 ppm around 2596120000 Hz gives libvirt's [2595470970,
     * 2596769030]; tol_hz <= ref_hz because the tolerance is <= 1e6 ppm. */
    micro_ppm = (guint64)llround(tolerance_ppm * 1e6);
    tol_hz = (guint64)((unsigned __int128)ref_hz * micro_ppm /
                       G_GUINT64_CONSTANT(1000000000000));
    *min_hz = ref_hz - tol_hz;
    if (__builtin_add_overflow(ref_hz, tol_hz, max_hz))
        *max_hz = G_MAXUINT64;
    return TRUE;
}

double tsc_ppm_distance(guint64 hz, guint64 ref_hz)
{
    guint64 diff = hz > ref_hz ? hz - ref_hz : ref_hz - hz;

    return (double)diff / (double)ref_hz * 1e6;
}

/* Both products fit in 128 bits, so no ratio is rounded at the 15x edge. */
static gboolean within_scaling_ratio(guint64 guest_hz, guint64 peer_hz)
{
    unsigned __int128 g = guest_hz;
    unsigned __int128 p = peer_hz;

    return g <= p * TSC_SCALING_MAX_RATIO && p <= g * TSC_SCALING_MAX_RATIO;
}

void tsc_compat_clear(TscCompat *c)
{
    if (!c)
        return;
    g_clear_pointer(&c->reason, g_free);
}

static void set_verdict(TscCompat *c, TscVerdict v, gboolean compatible)
{
    c->verdict = v;
    c->compatible = compatible;
}

/* Only called once both frequencies are known. */
static void check_known(TscCompat *c, const HostFacts *peer,
                        double tolerance_ppm)
{
    guint64 min_hz = 0;
    guint64 max_hz = 0;
    double factor;

    if (!tsc_tolerance_range(c->peer_hz, tolerance_ppm, &min_hz, &max_hz))
        g_assert_not_reached(); /* validated by the caller */

    if (c->guest_hz >= min_hz && c->guest_hz <= max_hz) {
        set_verdict(c, TSC_VERDICT_WITHIN_TOLERANCE, TRUE);
        c->reason = g_strdup_printf(
            "guest TSC %" G_GUINT64_FORMAT " Hz is %.1f ppm from peer's "
            "%" G_GUINT64_FORMAT " Hz (limit %g ppm)",
            c->guest_hz, c->ppm, c->peer_hz, tolerance_ppm);
        return;
    }

    if (!peer->tsc_scaling) {
        set_verdict(c, TSC_VERDICT_REFUSED_DISTANCE, FALSE);
        c->reason = g_strdup_printf(
            "guest TSC %" G_GUINT64_FORMAT " Hz is %.1f ppm from peer's "
            "%" G_GUINT64_FORMAT " Hz (limit %g ppm, range [%" G_GUINT64_FORMAT
            ", %" G_GUINT64_FORMAT "] Hz) and the peer cannot scale",
            c->guest_hz, c->ppm, c->peer_hz, tolerance_ppm, min_hz, max_hz);
        return;
    }

    /* Shown as larger over smaller, so both directions read alike. */
    factor = c->guest_hz > c->peer_hz
                 ? (double)c->guest_hz / (double)c->peer_hz
                 : (double)c->peer_hz / (double)c->guest_hz;
    if (within_scaling_ratio(c->guest_hz, c->peer_hz)) {
        set_verdict(c, TSC_VERDICT_SCALING, TRUE);
        c->reason = g_strdup_printf(
            "guest TSC %" G_GUINT64_FORMAT " Hz is %.1f ppm from peer's "
            "%" G_GUINT64_FORMAT " Hz (limit %g ppm), but the peer scales "
            "TSC and the frequencies differ by a factor of %.9f, within %dx",
            c->guest_hz, c->ppm, c->peer_hz, tolerance_ppm, factor,
            TSC_SCALING_MAX_RATIO);
        return;
    }

    set_verdict(c, TSC_VERDICT_REFUSED_RATIO, FALSE);
    c->reason = g_strdup_printf(
        "guest TSC %" G_GUINT64_FORMAT " Hz is %.1f ppm from peer's "
        "%" G_GUINT64_FORMAT " Hz (limit %g ppm) and the frequencies differ "
        "by a factor of %.9f, beyond the %dx the peer's TSC scaling allows",
        c->guest_hz, c->ppm, c->peer_hz, tolerance_ppm, factor,
        TSC_SCALING_MAX_RATIO);
}

void tsc_check_peer(const GuestClock *guest, const HostFacts *source,
                    const HostFacts *peer, double tolerance_ppm,
                    gboolean allow_unknown, TscCompat *out)
{
    TscCompat c = {0};
    g_autofree char *reason = NULL;

    c.ppm = -1.0;
    if (guest->has_tsc_freq && guest->tsc_hz > 0) {
        c.guest_hz_known = TRUE;
        c.guest_hz_explicit = TRUE;
        c.guest_hz = guest->tsc_hz;
    } else if (source && source->tsc_known && source->tsc_hz > 0) {
        c.guest_hz_known = TRUE;
        c.guest_hz = source->tsc_hz;
    }
    if (peer && peer->tsc_known && peer->tsc_hz > 0) {
        c.peer_hz_known = TRUE;
        c.peer_hz = peer->tsc_hz;
    }
    if (c.guest_hz_known && c.peer_hz_known)
        c.ppm = tsc_ppm_distance(c.guest_hz, c.peer_hz);
    /* libvirt refuses to migrate an invtsc guest unless its frequency is
     * fixed, since the destination would otherwise expose its own. */
    if (guest->invtsc && !c.guest_hz_explicit) {
        c.needs_pin = TRUE;
        c.pin_hz = c.guest_hz;
    }

    if (!tolerance_valid(tolerance_ppm)) {
        set_verdict(&c, TSC_VERDICT_REFUSED_BAD_TOLERANCE, FALSE);
        c.reason = g_strdup_printf(
            "TSC tolerance %g ppm is not a number within [0, 1000000]",
            tolerance_ppm);
    } else if (c.needs_pin && !c.guest_hz_known) {
        set_verdict(&c, TSC_VERDICT_REFUSED_CANNOT_PIN, FALSE);
        if (c.peer_hz_known)
            c.reason = g_strdup_printf(
                "guest has invtsc but no explicit TSC frequency and the "
                "source host reports none to pin in the destination XML, "
                "so it cannot be matched to peer's %" G_GUINT64_FORMAT
                " Hz and the ppm distance is unknown",
                c.peer_hz);
        else
            c.reason = g_strdup(
                "guest has invtsc but no explicit TSC frequency and the "
                "source host reports none to pin in the destination XML; "
                "peer's TSC frequency is unknown too, so the ppm distance "
                "is unknown");
    } else if (!c.guest_hz_known) {
        if (c.peer_hz_known && allow_unknown) {
            set_verdict(&c, TSC_VERDICT_UNKNOWN_ALLOWED, TRUE);
            c.reason = g_strdup_printf(
                "guest TSC frequency unknown (no explicit frequency and the "
                "source host reports none), peer's %" G_GUINT64_FORMAT
                " Hz, ppm distance unknown; allowed by allow_unknown_tsc",
                c.peer_hz);
        } else if (c.peer_hz_known) {
            set_verdict(&c, TSC_VERDICT_REFUSED_UNKNOWN_GUEST, FALSE);
            c.reason = g_strdup_printf(
                "guest TSC frequency unknown (no explicit frequency and the "
                "source host reports none), peer's %" G_GUINT64_FORMAT
                " Hz, ppm distance unknown, and allow_unknown_tsc is off",
                c.peer_hz);
        } else if (allow_unknown) {
            set_verdict(&c, TSC_VERDICT_UNKNOWN_ALLOWED, TRUE);
            c.reason = g_strdup(
                "guest TSC frequency unknown (no explicit frequency and the "
                "source host reports none), peer's unknown too, ppm distance "
                "unknown; allowed by allow_unknown_tsc");
        } else {
            set_verdict(&c, TSC_VERDICT_REFUSED_UNKNOWN_GUEST, FALSE);
            c.reason = g_strdup(
                "guest TSC frequency unknown (no explicit frequency and the "
                "source host reports none), peer's unknown too, ppm distance "
                "unknown, and allow_unknown_tsc is off");
        }
    } else if (!c.peer_hz_known) {
        if (allow_unknown) {
            set_verdict(&c, TSC_VERDICT_UNKNOWN_ALLOWED, TRUE);
            c.reason = g_strdup_printf(
                "guest TSC %" G_GUINT64_FORMAT " Hz, but the peer reports no "
                "TSC frequency so the ppm distance is unknown; allowed by "
                "allow_unknown_tsc",
                c.guest_hz);
        } else {
            set_verdict(&c, TSC_VERDICT_REFUSED_UNKNOWN_PEER, FALSE);
            c.reason = g_strdup_printf(
                "guest TSC %" G_GUINT64_FORMAT " Hz, but the peer reports no "
                "TSC frequency so the ppm distance is unknown, and "
                "allow_unknown_tsc is off",
                c.guest_hz);
        }
    } else {
        check_known(&c, peer, tolerance_ppm);
    }

    if (c.compatible && c.needs_pin) {
        reason = g_steal_pointer(&c.reason);
        c.reason = g_strdup_printf(
            "%s; the guest has invtsc without an explicit frequency, so the "
            "destination XML must pin %" G_GUINT64_FORMAT " Hz",
            reason, c.pin_hz);
    }

    *out = c;
}

const char *tsc_verdict_name(TscVerdict v)
{
    switch (v) {
    case TSC_VERDICT_WITHIN_TOLERANCE:
        return "within-tolerance";
    case TSC_VERDICT_SCALING:
        return "scaling";
    case TSC_VERDICT_UNKNOWN_ALLOWED:
        return "unknown-allowed";
    case TSC_VERDICT_REFUSED_DISTANCE:
        return "refused-distance";
    case TSC_VERDICT_REFUSED_RATIO:
        return "refused-ratio";
    case TSC_VERDICT_REFUSED_UNKNOWN_PEER:
        return "refused-unknown-peer";
    case TSC_VERDICT_REFUSED_UNKNOWN_GUEST:
        return "refused-unknown-guest";
    case TSC_VERDICT_REFUSED_CANNOT_PIN:
        return "refused-cannot-pin";
    case TSC_VERDICT_REFUSED_BAD_TOLERANCE:
        return "refused-bad-tolerance";
    }
    return "unknown";
}
