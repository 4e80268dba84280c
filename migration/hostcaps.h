/* Host and guest facts that decide where a guest may migrate, read from
 * libvirt's capabilities XML and domain XML with libxml2 XPath.
 *
 * The readers take XML text rather than a connection, so fixture files
 * test them and the caller decides when to talk to libvirt. */
#pragma once

#include <glib.h>

#define HOSTCAPS_ERROR (hostcaps_error_quark())
GQuark hostcaps_error_quark(void);
typedef enum {
    HOSTCAPS_ERROR_PARSE,   /* not well-formed XML */
    HOSTCAPS_ERROR_INVALID, /* well-formed, but not what libvirt writes */
} HostcapsError;

#define HOSTCAPS_UUID_BUFLEN 37 /* same as VIR_UUID_STRING_BUFLEN */

typedef struct {
    /* A host whose capabilities have no TSC counter, or one without a
     * frequency, has an unknown TSC frequency: tsc_known is FALSE and
     * tsc_hz is 0, which never means "0 Hz". */
    gboolean tsc_known;
    guint64 tsc_hz;
    gboolean tsc_scaling;
    char host_uuid[HOSTCAPS_UUID_BUFLEN]; /* "" when absent */
    guint ncpus;                          /* 0 when absent */
} HostFacts;

typedef struct {
    gboolean has_tsc_timer; /* <clock><timer name='tsc'> is present */
    gboolean has_tsc_freq;  /* ... with a non-zero frequency */
    guint64 tsc_hz;
    char *tsc_mode;  /* its mode attribute, NULL when absent */
    gboolean invtsc; /* cpu feature invtsc, policy require or force */
} GuestClock;

void guest_clock_clear(GuestClock *gc);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(GuestClock, guest_clock_clear)

/* Reads the output of virConnectGetCapabilities.  The CPU count is the sum
 * of the NUMA cells' cpus/@num, else the product of the host CPU topology.
 * Malformed XML, a root other than <capabilities>, and malformed numbers,
 * UUIDs or scaling values are errors; *out is written only on success. */
gboolean hostcaps_parse(const char *caps_xml, HostFacts *out,
                        GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* Reads the guest clock facts from the output of virDomainGetXMLDesc.
 * A policy-less <feature name='invtsc'/> counts, as libvirt defaults the
 * policy to require.  *out is written only on success; clear it with
 * guest_clock_clear(). */
gboolean hostcaps_parse_domain_clock(const char *domain_xml, GuestClock *out,
                                     GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* Returns a copy of domain_xml whose <clock> holds <timer name='tsc'
 * frequency='hz'/>: the existing timer's frequency is replaced, or the
 * timer (and <clock offset='utc'>, libvirt's default, if there was none) is
 * added.  Meant for VIR_MIGRATE_PARAM_DEST_XML, so the copy has no XML
 * declaration.  hz 0 is an error. */
char *hostcaps_pin_tsc_frequency(const char *domain_xml, guint64 hz,
                                 GError **error) G_GNUC_WARN_UNUSED_RESULT;
