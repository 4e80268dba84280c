#include "converge.h"

void converge_estimate(const ConvergeInput *in, ConvergeEstimate *out)
{
    const double b = in->bandwidth_mib_s;
    const double d = in->dirty_mib_s;
    double left = MAX(in->cost_mib, 0);

    *out = (ConvergeEstimate){.dirty_mib_s = d, .bandwidth_mib_s = b};
    if (d < 0 || b <= 0) {
        out->reason = g_strdup("its dirty rate is unknown, so is whether a "
                               "live migration would converge");
        return;
    }
    out->known = TRUE;
    if (d >= b) {
        out->reason = g_strdup_printf(
            "it dirties %.1f MiB/s, as fast as or faster than the %.1f MiB/s "
            "a migration gets: it would never converge",
            d, b);
        return;
    }
    /* Each pass sends what is left; the guest dirties d per second of it. */
    while (out->passes < CONVERGE_MAX_PASSES) {
        out->passes++;
        out->total_mib += left;
        out->time_s += left / b;
        if (left <= b * CONVERGE_DOWNTIME_S)
            break;
        left = d * (left / b);
    }
    if (left <= b * CONVERGE_DOWNTIME_S && out->time_s > in->max_s) {
        out->reason = g_strdup_printf(
            "it dirties %.1f MiB/s against %.1f MiB/s: about %.0f MiB in %u "
            "passes would take %.0f s, longer than the %.0f s a migration "
            "may run",
            d, b, out->total_mib, out->passes, out->time_s, in->max_s);
        return;
    }
    if (left > b * CONVERGE_DOWNTIME_S) {
        out->reason = g_strdup_printf(
            "it dirties %.1f MiB/s against %.1f MiB/s: after %u passes and "
            "%.0f s, %.1f MiB would still be left, more than a %.1f s pause "
            "can send, so it would not converge",
            d, b, out->passes, out->time_s, left, CONVERGE_DOWNTIME_S);
        return;
    }
    out->converges = TRUE;
    out->reason = g_strdup_printf(
        "it dirties %.1f MiB/s against %.1f MiB/s: about %.0f MiB in %u "
        "passes, %.1f s",
        d, b, out->total_mib, out->passes, out->time_s);
}

void converge_estimate_clear(ConvergeEstimate *e)
{
    g_clear_pointer(&e->reason, g_free);
}
