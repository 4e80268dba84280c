#include "domain_jobs.h"

#include "domain_job.h"

#include <stdlib.h>

typedef enum {
    MIGRATION_NONE,
    MIGRATION_LEAVING,
    MIGRATION_ARRIVING,
} MigrationWay;

static gboolean paused_for_migration(virDomainPtr dom)
{
    int state;
    int reason;

    return virDomainGetState(dom, &state, &reason, 0) == 0 &&
           state == VIR_DOMAIN_PAUSED && reason == VIR_DOMAIN_PAUSED_MIGRATION;
}

/* Whether dom is leaving or arriving by migration.  An arriving guest's
 * job stats are refused on the destination (domain_job_read); if they
 * cannot be read at all, one paused for migration is arriving too: on
 * libvirt 9.0 it is first paused for starting up (0.6 s), then for
 * migration. */
static MigrationWay migration_way(virDomainPtr dom)
{
    DomainJob job;

    if (!domain_job_read(dom, &job))
        return paused_for_migration(dom) ? MIGRATION_ARRIVING : MIGRATION_NONE;
    if (job.operation == VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT)
        return MIGRATION_LEAVING;
    return job.operation == VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN
               ? MIGRATION_ARRIVING
               : MIGRATION_NONE;
}

static void add_name(GString **names, virDomainPtr dom)
{
    if (!*names)
        *names = g_string_new(NULL);
    else
        g_string_append(*names, ", ");
    g_string_append(*names, virDomainGetName(dom));
}

void domain_jobs_add(DomainJobs *j, virDomainPtr dom)
{
    switch (migration_way(dom)) {
    case MIGRATION_LEAVING:
        j->outgoing++;
        add_name(&j->outgoing_names, dom);
        break;
    case MIGRATION_ARRIVING:
        j->incoming++;
        add_name(&j->incoming_names, dom);
        break;
    case MIGRATION_NONE:
        break;
    }
}

void domain_jobs_read(virConnectPtr c, DomainJobs *out)
{
    virDomainPtr *doms = NULL;
    int n;
    int i;

    *out = (DomainJobs){0};
    n = virConnectListAllDomains(c, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    for (i = 0; i < n; i++) {
        domain_jobs_add(out, doms[i]);
        virDomainFree(doms[i]);
    }
    free(doms);
}

void domain_jobs_clear(DomainJobs *j)
{
    if (j->incoming_names)
        g_string_free(j->incoming_names, TRUE);
    if (j->outgoing_names)
        g_string_free(j->outgoing_names, TRUE);
    *j = (DomainJobs){0};
}
