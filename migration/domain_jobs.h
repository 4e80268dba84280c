/* Migration jobs as libvirt lists them: a host's guests with an incoming
 * or outgoing migration under way, read from each running guest's job
 * stats: a leaving guest's job operation says so, and an arriving guest's
 * job stats are refused on the destination (migration_way in the .c).  This
 * is how migrators on several
 * hosts, and an operator's migrate_request or `virsh migrate` beside a
 * daemon, see each other's jobs: through libvirt, with no protocol of our
 * own. */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

typedef struct {
    guint incoming;
    guint outgoing;
    GString *incoming_names; /* "a, b", for messages */
    GString *outgoing_names;
} DomainJobs;

/* Counts c's running guests by the migration they are in.  A guest that
 * cannot be read (it left meanwhile) counts for none. */
void domain_jobs_read(virConnectPtr c, DomainJobs *out);
/* Counts one running guest into j (zeroed first), for a caller that lists
 * the guests for other figures too. */
void domain_jobs_add(DomainJobs *j, virDomainPtr dom);
void domain_jobs_clear(DomainJobs *j);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(DomainJobs, domain_jobs_clear)
