/* The job libvirt runs on a guest: a migration either way, a save, a
 * dump, a snapshot, a backup.  While one runs, libvirt's QEMU driver makes
 * any change to the guest (balloon target, vCPU pin, stats period) wait
 * for the guest's state-change lock, 30 s, and then fail: the daemons ask
 * first and leave such a guest alone, and the migrators count jobs with
 * it. */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>

typedef struct {
    gboolean running;
    int operation;      /* VIR_DOMAIN_JOB_OPERATION_*, -1 when not told */
    guint64 elapsed_ms; /* 0 when not told */
} DomainJob;

/* Reads dom's job into out; FALSE when libvirt said nothing usable (the
 * guest left, or the call failed), with out zeroed but operation -1.  A
 * guest arriving by migration counts as running an incoming migration:
 * libvirt's QEMU driver refuses job stats on the destination for as long
 * as it lasts ("migration statistics are available only on the source
 * host", VIR_ERR_OPERATION_UNSUPPORTED; measured on libvirt 9.0). */
gboolean domain_job_read(virDomainPtr dom, DomainJob *out);

/* "outgoing migration", "snapshot", ...; "job" when not told. */
const char *domain_job_operation_name(int operation);
