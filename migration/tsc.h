/* Guest time across a live migration, and whether a peer's TSC suits a guest.
 *
 * Pure functions only: no clock is read and no hypervisor is called, so
 * every rule here is tested with tables.
 *
 * The time-data maths follows the shape of propolis's migration time data:
 * the source records the guest's TSC, its own monotonic hrtime, the hrtime
 * at which the guest booted and a wall clock; the destination moves the
 * guest's boot time and TSC forward by the wall-clock time the migration
 * took, so guest time neither jumps back nor loses the blackout. */
#pragma once

#include <glib.h>

#include "hostcaps.h"

#define TSC_ERROR (tsc_error_quark())
GQuark tsc_error_quark(void);
typedef enum {
    TSC_ERROR_INVALID,  /* malformed input, or zero where zero is meaningless */
    TSC_ERROR_OVERFLOW, /* the result does not fit in 64 bits */
    TSC_ERROR_UNDERFLOW, /* the result would be negative */
    TSC_ERROR_RANGE, /* a frequency ratio does not fit its fixed-point format */
} TscError;

#define TSC_NS_PER_SEC G_GUINT64_CONSTANT(1000000000)

/* QEMU, KVM and libvirt accept a guest TSC within 250 ppm of the host's
 * without scaling: half of the 500 ppm NTP can slew. */
#define TSC_DEFAULT_TOLERANCE_PPM 250.0

/* A host that scales TSC takes a guest whose frequency is at most this many
 * times its own, or at least its own divided by this. */
#define TSC_SCALING_MAX_RATIO 15

/* Parses a whole unsigned 64-bit number: decimal, or with allow_hex also
 * 0x-prefixed hexadecimal.  Signs, spaces, empty text, trailing characters
 * and values above G_MAXUINT64 are errors (TSC_ERROR_INVALID or
 * TSC_ERROR_OVERFLOW) that quote the text. */
gboolean tsc_parse_u64(const char *text, gboolean allow_hex, guint64 *out,
                       GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* ---- Time data ---------------------------------------------------------- */

/* Wall-clock nanoseconds the migration took, from the source's wall clock
 * when it captured the time data and the destination's when it restored
 * them.  A destination clock behind the source's yields 0, never a negative
 * delta, because guest time must not run backwards; *clamped (if not NULL)
 * tells the caller that happened. */
guint64 tsc_migration_delta_ns(guint64 src_wall_ns, guint64 dst_wall_ns,
                               gboolean *clamped);

/* Guest uptime = source hrtime - source boot_hrtime.  TSC_ERROR_UNDERFLOW
 * when the guest would have booted after the snapshot. */
gboolean tsc_guest_uptime_ns(guint64 src_hrtime_ns, guint64 src_boot_hrtime_ns,
                             guint64 *out,
                             GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* New boot_hrtime = destination hrtime - (uptime + delta).  hrtime counts
 * from the host's boot, so a guest that has been up longer than the
 * destination host cannot be expressed: TSC_ERROR_UNDERFLOW.  The sum
 * overflowing is TSC_ERROR_OVERFLOW. */
gboolean tsc_new_boot_hrtime(guint64 dst_hrtime_ns, guint64 uptime_ns,
                             guint64 delta_ns, guint64 *out,
                             GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* Guest TSC ticks in delta_ns at guest_hz: delta_ns * guest_hz / 1e9, with
 * a 128-bit product and the quotient truncated.  guest_hz 0 is
 * TSC_ERROR_INVALID; a result above 64 bits is TSC_ERROR_OVERFLOW. */
gboolean tsc_ticks_for_ns(guint64 delta_ns, guint64 guest_hz, guint64 *out,
                          GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* guest_tsc + ticks; TSC_ERROR_OVERFLOW rather than a wrapped counter. */
gboolean tsc_advance(guint64 guest_tsc, guint64 ticks, guint64 *out,
                     GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* What the source captures. */
typedef struct {
    guint64 guest_hz;       /* the guest's TSC frequency */
    guint64 guest_tsc;      /* the guest's TSC value */
    guint64 hrtime_ns;      /* source host's monotonic time */
    guint64 boot_hrtime_ns; /* source host's monotonic time at guest boot */
} TscTimeData;

/* What the destination derives. */
typedef struct {
    guint64 uptime_ns;      /* guest uptime at capture */
    guint64 tsc_delta;      /* guest ticks during the migration */
    guint64 guest_tsc;      /* guest TSC to load on the destination */
    guint64 boot_hrtime_ns; /* guest boot, in destination hrtime */
} TscTimeAdjust;

/* All of the above in one go; *out is written only on success. */
gboolean tsc_adjust_time_data(const TscTimeData *src, guint64 dst_hrtime_ns,
                              guint64 delta_ns, TscTimeAdjust *out,
                              GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* ---- Frequency multiplier ----------------------------------------------- */

/* Hardware TSC scaling multiplies the host TSC by a fixed-point ratio.
 * AMD's TSC ratio MSR has 8 integer and 32 fraction bits; Intel's VMCS
 * TSC multiplier has 16 integer and 48 fraction bits. */
typedef enum {
    TSC_MULT_AMD,   /* 8.32 */
    TSC_MULT_INTEL, /* 16.48 */
} TscMultFormat;

guint tsc_mult_int_bits(TscMultFormat fmt);
guint tsc_mult_frac_bits(TscMultFormat fmt);
const char *tsc_mult_format_name(TscMultFormat fmt);

/* guest_hz / host_hz in fmt, truncated, so the guest never runs faster than
 * asked.  host_hz 0 is TSC_ERROR_INVALID; a ratio whose integer part needs
 * more bits than the format has, or that truncates to 0, is
 * TSC_ERROR_RANGE. */
gboolean tsc_freq_multiplier(guint64 guest_hz, guint64 host_hz,
                             TscMultFormat fmt, guint64 *out,
                             GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* The ratio a multiplier stands for, for display. */
double tsc_multiplier_ratio(guint64 mult, TscMultFormat fmt);

/* ---- Peer compatibility ------------------------------------------------- */

typedef enum {
    TSC_VERDICT_WITHIN_TOLERANCE, /* compatible: close enough without scaling */
    TSC_VERDICT_SCALING,          /* compatible: the peer scales its TSC */
    TSC_VERDICT_UNKNOWN_ALLOWED,  /* compatible only because config allows it */
    TSC_VERDICT_REFUSED_DISTANCE, /* too far and the peer cannot scale */
    TSC_VERDICT_REFUSED_RATIO,    /* the peer scales, but not this far */
    TSC_VERDICT_REFUSED_UNKNOWN_PEER,
    TSC_VERDICT_REFUSED_UNKNOWN_GUEST,
    TSC_VERDICT_REFUSED_CANNOT_PIN, /* invtsc, and no frequency to pin */
    TSC_VERDICT_REFUSED_BAD_TOLERANCE,
} TscVerdict;

typedef struct {
    TscVerdict verdict;
    gboolean compatible;
    gboolean guest_hz_known;
    guint64 guest_hz; /* explicit, else the source host's */
    gboolean guest_hz_explicit;
    gboolean peer_hz_known;
    guint64 peer_hz;
    double ppm; /* |guest - peer| / peer * 1e6, both known, else -1 */
    /* The guest has invtsc and no explicit frequency: the destination XML
     * (VIR_MIGRATE_PARAM_DEST_XML) must carry pin_hz, or libvirt refuses. */
    gboolean needs_pin;
    guint64 pin_hz;
    char *reason; /* one sentence naming both frequencies */
} TscCompat;

void tsc_compat_clear(TscCompat *c);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(TscCompat, tsc_compat_clear)

/* Decides whether guest, now on source (NULL when its facts are missing),
 * may move to peer.  The guest's frequency is its explicit one, else the
 * source's.  Compatible when within tolerance_ppm of the peer's frequency
 * (the same inclusive range libvirt checks at start-up), or when the peer
 * scales TSC and the ratio is within TSC_SCALING_MAX_RATIO either way.  An
 * unknown frequency on either side is refused unless allow_unknown.
 * tolerance_ppm must be finite and within [0, 1e6].  *out is overwritten;
 * clear it with tsc_compat_clear(). */
void tsc_check_peer(const GuestClock *guest, const HostFacts *source,
                    const HostFacts *peer, double tolerance_ppm,
                    gboolean allow_unknown, TscCompat *out);

/* The inclusive range [min, max] of frequencies within tolerance_ppm of
 * ref_hz, computed as libvirt does: tolerance = ref * ppm / 1e6, truncated.
 * FALSE for an invalid tolerance. */
gboolean tsc_tolerance_range(guint64 ref_hz, double tolerance_ppm,
                             guint64 *min_hz, guint64 *max_hz);

/* |hz - ref_hz| / ref_hz in ppm; ref_hz must not be 0. */
double tsc_ppm_distance(guint64 hz, guint64 ref_hz);

const char *tsc_verdict_name(TscVerdict v);
