#include "domain_jobs.h"

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

/* Whether dom is leaving or arriving by migration.  On the destination
 * libvirt's QEMU driver refuses job stats for as long as the incoming
 * migration lasts ("migration statistics are available only on the source
 * host", VIR_ERR_OPERATION_UNSUPPORTED), from the moment the guest exists
 * there, starting up, until it has arrived: measured on libvirt 9.0, the
 * guest is first paused for starting up (0.6 s), then for migration.  A
 * guest leaving has a job whose operation says so. */
static MigrationWay migration_way(virDomainPtr dom)
{
    virTypedParameterPtr params = NULL;
    int nparams = 0;
    int type = VIR_DOMAIN_JOB_NONE;
    int op = -1;
    virErrorPtr err;

    if (virDomainGetJobStats(dom, &type, &params, &nparams, 0) < 0) {
        err = virGetLastError();
        return (err && err->code == VIR_ERR_OPERATION_UNSUPPORTED) ||
                       paused_for_migration(dom)
                   ? MIGRATION_ARRIVING
                   : MIGRATION_NONE;
    }
    if (type != VIR_DOMAIN_JOB_NONE)
        virTypedParamsGetInt(params, nparams, VIR_DOMAIN_JOB_OPERATION, &op);
    virTypedParamsFree(params, nparams);
    /* Stats given: the operation says it all (no second call to ask for
     * the state, which only an arriving guest's refused stats need). */
    if (op == VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT)
        return MIGRATION_LEAVING;
    return op == VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN ? MIGRATION_ARRIVING
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
