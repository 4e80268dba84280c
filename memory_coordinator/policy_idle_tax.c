/* The idle-tax policy, after VMware ESX (Waldspurger, "Memory Resource
 * Management in VMware ESX Server", OSDI 2002).
 *
 * Growth is the course policy's: a guest below its need (lo) grows at once
 * towards lo + slack.  The differences are in taking memory back:
 *   - under pressure the next chunk comes from the guest with the lowest
 *     rho = S / (P * (f + k * (1 - f))), k = 1 / (1 - tau): few shares,
 *     many pages and a low active fraction f make a guest give first;
 *   - idle memory (target above lo) of every other guest is taxed back
 *     each tick, a fraction tau of it at a time, even without pressure;
 *     so idle guests settle a little above their need (MEM_TAX_KEEP_KIB)
 *     rather than at need + slack.
 * Neither ever goes below lo, which keeps min_unused plus the headroom
 * the guest's consumption rate asks for. */
#include "policy_priv.h"

#include <math.h>

static double tax_rate(const MemConfig *cfg)
{
    if (!isfinite(cfg->tax_rate))
        return 0;
    return CLAMP(cfg->tax_rate, 0.0, 0.99);
}

double mem_idle_tax_rho(guint shares, guint64 pages_kib, double active,
                        double tau)
{
    double f = isfinite(active) ? CLAMP(active, 0.0, 1.0) : 1.0;
    double k;
    double p = (double)pages_kib / 1024.0;

    tau = isfinite(tau) ? CLAMP(tau, 0.0, 0.99) : 0;
    k = 1.0 / (1.0 - tau);
    if (p <= 0)
        return HUGE_VAL;
    return (double)shares / (p * (f + k * (1.0 - f)));
}

static double rho_key(const MemTick *t, const MemGuest *g, guint64 planned_kib)
{
    return mem_idle_tax_rho(g->shares, planned_kib, g->gs->active,
                            tax_rate(t->cfg));
}

/* Just grown guests are left alone for a while: their headroom is what
 * the growth rule asked for, and taxing it would only be undone. */
static gboolean recently_grown(const MemTick *t, const MemGuest *g)
{
    gint64 since;

    if (!g->gs->grown)
        return FALSE;
    since = t->snap->mono_us - g->gs->last_grow_us;
    return since >= 0 && (double)since < MEM_TAX_DWELL_S * G_USEC_PER_SEC;
}

/* A guest report made before a tax step landed still counts the memory
 * that step took as unused, so the guest reads as using less than it does
 * and the next step would take the same memory twice.  Measured here: a
 * report that still said 243 MiB unused at 343 MiB was read as 71 MiB used
 * at 305 MiB (the guest used about 95) and the guest was taxed to 266 MiB,
 * 40 MiB below its need plus keep, just as a 60 MB/s consumer started; the
 * consumer ran out of free memory before its first growth landed.  So the
 * steps a report cannot have seen (decided less than a second before it
 * was made) come off the idle memory.  Far above the need that changes
 * nothing and the tax goes on at its pace; near it, the next step waits
 * for a report that shows the last one. */
static guint64 unseen_tax_kib(MemGuestState *gs, gint64 report_s)
{
    guint64 sum = 0;
    guint kept = 0;
    guint i;

    for (i = 0; i < gs->n_unseen_tax; i++) {
        if (report_s > gs->unseen_tax[i].wall_s + 1)
            continue;
        gs->unseen_tax[kept++] = gs->unseen_tax[i];
        sum = mem_kib_add(sum, gs->unseen_tax[i].kib);
    }
    gs->n_unseen_tax = kept;
    return sum;
}

/* When full, the newest entry takes the step: it stays unseen longest, so
 * nothing is forgotten early. */
static void remember_tax_step(MemGuestState *gs, gint64 wall_s, guint64 kib)
{
    MemTaxStep *last;

    if (gs->n_unseen_tax < MEM_TAX_UNSEEN_MAX) {
        gs->unseen_tax[gs->n_unseen_tax++] = (MemTaxStep){wall_s, kib};
        return;
    }
    last = &gs->unseen_tax[MEM_TAX_UNSEEN_MAX - 1];
    last->wall_s = wall_s;
    last->kib = mem_kib_add(last->kib, kib);
}

static void tax_idle(MemTick *t, MemGuest *g, double tau)
{
    guint64 cur = g->bg.cur_kib;
    guint64 keep = MAX(mem_kib_add(g->lo_kib, MEM_TAX_KEEP_KIB), g->keep_kib);
    guint64 unseen = unseen_tax_kib(g->gs, g->dom->balloon.last_update);
    guint64 idle;
    guint64 step;

    if (!g->bg.may_shrink || g->grower || g->rule ||
        cur <= mem_kib_add(keep, unseen) || recently_grown(t, g))
        return;
    idle = cur - keep - unseen;
    step = (guint64)ceil(tau * (double)idle);
    step = MIN(step, t->bounds.max_release_kib);
    if (step < t->bounds.min_step_kib || step == 0)
        return;
    mem_tick_propose_shrink(
        t, g, cur - step, "idle-tax",
        g_strdup_printf("%.0f MiB idle above need + %.0f MiB kept%s, tax "
                        "%.2f takes %.0f MiB, active %.2f, rho %.3g",
                        kib_to_mib(idle), kib_to_mib(MEM_TAX_KEEP_KIB),
                        unseen ? " and steps no report has shown" : "", tau,
                        kib_to_mib(step), g->gs->active, rho_key(t, g, cur)));
    remember_tax_step(g->gs, t->snap->wall_us / G_USEC_PER_SEC, step);
}

void mem_idle_tax_plan(MemTick *t)
{
    double tau = tax_rate(t->cfg);
    guint i;

    /* Pressure first, so the rho order decides who gives what the growers
     * lack; the tax then goes on with everyone who was not asked. */
    mem_tick_reclaim(t, mem_tick_shortfall(t), rho_key, "reclaim-pressure");
    for (i = 0; i < t->guests->len; i++)
        tax_idle(t, &g_array_index(t->guests, MemGuest, i), tau);
    mem_tick_plan_growth(t);
}
