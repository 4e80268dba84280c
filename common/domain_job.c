#include "domain_job.h"

#include <libvirt/virterror.h>

gboolean domain_job_read(virDomainPtr dom, DomainJob *out)
{
    virTypedParameterPtr params = NULL;
    int nparams = 0;
    int type = VIR_DOMAIN_JOB_NONE;
    unsigned long long elapsed = 0;
    virErrorPtr err;

    *out = (DomainJob){.operation = -1};
    if (virDomainGetJobStats(dom, &type, &params, &nparams, 0) < 0) {
        err = virGetLastError();
        if (!err || err->code != VIR_ERR_OPERATION_UNSUPPORTED)
            return FALSE;
        out->running = TRUE;
        out->operation = VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN;
        return TRUE;
    }
    if (type != VIR_DOMAIN_JOB_NONE) {
        out->running = TRUE;
        virTypedParamsGetInt(params, nparams, VIR_DOMAIN_JOB_OPERATION,
                             &out->operation);
        if (virTypedParamsGetULLong(params, nparams,
                                    VIR_DOMAIN_JOB_TIME_ELAPSED, &elapsed) > 0)
            out->elapsed_ms = elapsed;
    }
    virTypedParamsFree(params, nparams);
    return TRUE;
}

const char *domain_job_operation_name(int operation)
{
    switch (operation) {
    case VIR_DOMAIN_JOB_OPERATION_START:
        return "start";
    case VIR_DOMAIN_JOB_OPERATION_SAVE:
        return "save";
    case VIR_DOMAIN_JOB_OPERATION_RESTORE:
        return "restore";
    case VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN:
        return "incoming migration";
    case VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT:
        return "outgoing migration";
    case VIR_DOMAIN_JOB_OPERATION_SNAPSHOT:
        return "snapshot";
    case VIR_DOMAIN_JOB_OPERATION_SNAPSHOT_REVERT:
        return "snapshot revert";
    case VIR_DOMAIN_JOB_OPERATION_SNAPSHOT_DELETE:
        return "snapshot delete";
    case VIR_DOMAIN_JOB_OPERATION_DUMP:
        return "dump";
    case VIR_DOMAIN_JOB_OPERATION_BACKUP:
        return "backup";
    default:
        return "job";
    }
}
