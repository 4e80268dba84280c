/* What a guest's own definition says about where its vCPUs may run, read
 * from its domain XML (pure: text in, rules out).
 *
 * - <vcpu cpuset='...'>: every vCPU's allowed CPUs;
 * - <cputune><vcpupin vcpu='N' cpuset='...'/>: vCPU N's, overriding it;
 * - <metadata><aos:guest xmlns:aos='urn:x-aos:guest:1'
 *   vcpu_scheduler='off'/></metadata>: leave the guest alone.
 *
 * The XML is the persistent definition, which the daemon's own live pins
 * do not touch.  A transient guest has only its live definition, where
 * <vcpupin> also shows the daemon's pins, so only its <vcpu cpuset> and
 * metadata count (read_vcpupin FALSE). */
#pragma once

#include <glib.h>

#define DOMAIN_RULES_NS "urn:x-aos:guest:1"

typedef struct {
    gboolean opted_out;
    GArray *cpuset;     /* guint ids from <vcpu cpuset>, NULL when none */
    GPtrArray *vcpupin; /* GArray* per vCPU number (NULL where none) */
    /* Why the rules could not be read (bad XML, a cpuset that does not
     * parse), NULL when they were: a guest whose rules are unknown is
     * left where it is, since any move might break them. */
    char *problem;
} DomainRules;

DomainRules *domain_rules_from_xml(const char *xml, gboolean read_vcpupin)
    G_GNUC_WARN_UNUSED_RESULT;
void domain_rules_free(DomainRules *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DomainRules, domain_rules_free)

/* The CPU ids vCPU number may use, NULL when the guest sets no limit. */
const GArray *domain_rules_allowed(const DomainRules *r, guint number);
