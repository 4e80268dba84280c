/* Whether a live (pre-copy) migration of a guest would converge, and what
 * it would cost, from what it must copy and how fast it dirties memory.
 *
 * Pre-copy sends the guest's memory, then, pass after pass, what the guest
 * dirtied while the last pass was on the wire, until what is left can go
 * within the largest pause allowed.  At bandwidth B a pass of x MiB takes
 * x / B seconds, during which a guest dirtying D MiB/s dirties D x / B: each
 * pass is r = D / B times the one before.  So it converges only when
 * r < 1, sends about cost / (1 - r) in all, and its last pass must fit in
 * B * downtime.  Pure: the dirty rate is measured by the caller
 * (virDomainStartDirtyRateCalc, migrate_exec.c). */
#pragma once

#include <glib.h>

/* QEMU's default largest pause of a live migration (downtime-limit). */
#define CONVERGE_DOWNTIME_S 0.3
/* More passes than this is not converging, whatever the sums say. */
#define CONVERGE_MAX_PASSES 30

typedef struct {
    double cost_mib;        /* the first pass: what the guest has touched */
    double dirty_mib_s;     /* its measured dirty rate; < 0 when unknown */
    double bandwidth_mib_s; /* the link's throughput for migrations */
    double max_s;           /* a job longer than this is aborted */
} ConvergeInput;

typedef struct {
    double dirty_mib_s; /* the input's */
    double bandwidth_mib_s;
    gboolean known;     /* the dirty rate was measured */
    gboolean converges; /* FALSE only when known */
    guint passes;
    double total_mib; /* sent in all */
    double time_s;    /* on the wire, at the bandwidth */
    char *reason;     /* one sentence, always set */
} ConvergeEstimate;

void converge_estimate(const ConvergeInput *in, ConvergeEstimate *out);
void converge_estimate_clear(ConvergeEstimate *e);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ConvergeEstimate, converge_estimate_clear)
