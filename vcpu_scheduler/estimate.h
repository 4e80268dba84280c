/* Per-vCPU load estimates from cumulative counters: pure arithmetic. */
#pragma once

#include <glib.h>

/* What a vCPU would use of one pCPU, in percent, if it had that pCPU to
 * itself, from the shares of one interval it ran and waited on a host run
 * queue.
 *
 * ran + waited is the time it was runnable: an upper bound, reached by a
 * vCPU that is always runnable (a spinning guest).  A guest that works and
 * then idles, as the burner does, is runnable longer when it shares a
 * pCPU, because its work takes longer; what it would use alone is the
 * share of its not-waiting time that it ran: ran / (100 - waited).  That
 * is exact for a work-then-idle load given a steady share while runnable,
 * equals ran + waited for a spinning one, and never falls below ran. */
double vcpu_demand(double ran, double waited);

/* A smoothed load.  Small wobbles are averaged away; a sample that jumps
 * by more than the step is taken whole, as a load that started or stopped
 * must be planned for at once.  It also learns how much the load wobbles,
 * so a planner can tell a real imbalance from noise. */
typedef struct {
    gboolean valid;
    gboolean restart; /* the next sample replaces the estimate */
    double value;     /* percent of one pCPU */
    double dev;       /* mean absolute wobble of one sample */
    guint samples;    /* since the estimate last started over */
} LoadEstimate;

/* Feeds one sample; TRUE when it was taken whole as a step change of an
 * estimate that was valid and not restarting. */
gboolean load_estimate_feed(LoadEstimate *e, double sample);

/* Standard deviation of the estimate's error, from the wobble seen and
 * the number of samples averaged. */
double load_estimate_sigma(const LoadEstimate *e);
