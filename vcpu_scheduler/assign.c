#include "assign.h"

#include <math.h>

/* A pin change has to buy at least this much lower sd, else the last
 * moves of a long greedy run would be bought for rounding noise. */
#define MIN_STEP_GAIN 0.01

/* Demand above a pCPU's capacity is work that waits, and sd of capped
 * utilisation does not see it: 3 busy vCPUs on one pCPU and 1 on the
 * other read 100/100, as do 2 busy vCPUs stacked on one pCPU of 8 next to
 * idle ones (which even reads "better" than spreading them).  So moves
 * that shrink the squared over-demand come first.  Squared, so 3+1 is
 * worse than 2+2; the gain is in squared percent: 2500 is one pCPU's
 * over-demand shrinking from 50 to 0. */
#define OVERLOAD_MIN_GAIN 2500.0

/* Over-demand sums closer than this are equal; what decides then is sd. */
#define OVERLOAD_TIE 100.0

#define EPS 1e-9

/* At most this many members of one pCPU are tried per step (evenly spread
 * over them), and this many on each side of a swap.  A pCPU with more
 * vCPUs than that has many near-equal choices, and trying them all would
 * make a plan for thousands of vCPUs quadratic in their number. */
#define SCAN_LIMIT 256
#define SWAP_SCAN_LIMIT 64

typedef struct {
    AssignItem *items;
    guint n;
    guint np;
    const AssignHost *host;
    double *demand;       /* uncapped sum of loads per pCPU */
    double *core_demand;  /* per shared core: its slots' capped demand */
    GArray **members;     /* per pCPU: indices of the items targeted there */
    guint *slot;          /* item -> its index in members[target] */
    gboolean constrained; /* some item may not go everywhere */
} Board;

/* The objective at one moment: sums over capped pCPU utilisation, and the
 * squared demand above capacity. */
typedef struct {
    double s1;
    double s2;
    double over;
} Sums;

typedef struct {
    gboolean found;
    guint item;
    guint other; /* swap partner on the target pCPU, G_MAXUINT for a move */
    guint from;
    guint to;
    double sd;
    double over;
    gint cost; /* change in the number of pin changes */
} Candidate;

static double cap_of(const AssignHost *h, guint p)
{
    return h->capacity ? h->capacity[p] : ASSIGN_CAPACITY;
}

static gint core_of(const AssignHost *h, guint p)
{
    return h->core ? h->core[p] : -1;
}

/* Demand slot p can run. */
static double capped(const AssignHost *h, guint p, double d)
{
    double cap = cap_of(h, p);

    if (d < 0)
        return 0;
    return d < cap ? d : cap;
}

/* Utilisation in percent of the slot's capacity. */
static double util_of(const AssignHost *h, guint p, double d)
{
    double cap = cap_of(h, p);

    return cap > 0 ? 100.0 * capped(h, p, d) / cap : 0;
}

static double over_sq(double d, double cap)
{
    double o = d - cap;

    return o > 0 ? o * o : 0;
}

double util_stddev(const double *v, guint n)
{
    double mean = 0;
    double sq = 0;
    guint i;

    if (n == 0 || !v)
        return 0;
    for (i = 0; i < n; i++)
        mean += v[i];
    mean /= n;
    for (i = 0; i < n; i++)
        sq += (v[i] - mean) * (v[i] - mean);
    return sqrt(sq / n);
}

static double sd_of_sums(double s1, double s2, guint np)
{
    double mean = s1 / np;
    double var = s2 / np - mean * mean;

    return var > 0 ? sqrt(var) : 0;
}

void assign_predict(const AssignItem *items, guint n, guint npcpus,
                    gboolean use_target, AssignPrediction *out)
{
    AssignHost h = {.n = npcpus};

    assign_predict_on(items, n, &h, use_target, out);
}

void assign_predict_on(const AssignItem *items, guint n, const AssignHost *h,
                       gboolean use_target, AssignPrediction *out)
{
    g_autofree double *demand = NULL;
    g_autofree double *util = NULL;
    g_autofree double *core = NULL;
    guint i;

    out->sd = 0;
    out->unmet = 0;
    if (h->n == 0)
        return;
    demand = g_new0(double, h->n);
    util = g_new0(double, h->n);
    core = g_new0(double, h->ncores ? h->ncores : 1);
    for (i = 0; i < n; i++) {
        gint p = use_target
                     ? items[i].target
                     : (items[i].pinned >= 0 ? items[i].pinned : items[i].hint);

        if (p >= 0 && (guint)p < h->n)
            demand[p] += items[i].load;
    }
    for (i = 0; i < h->n; i++) {
        double run = capped(h, i, demand[i]);

        out->unmet += demand[i] - run;
        if (core_of(h, i) >= 0)
            core[core_of(h, i)] += run;
        util[i] = util_of(h, i, demand[i]);
    }
    /* Threads of one core run no more than the core does. */
    for (i = 0; i < h->ncores; i++)
        if (core[i] > h->core_capacity[i])
            out->unmet += core[i] - h->core_capacity[i];
    out->sd = util_stddev(util, h->n);
}

/* Moves d of demand onto (or, negative, off) slot p. */
static void board_add(Board *b, guint p, double d)
{
    gint c = core_of(b->host, p);

    if (c >= 0)
        b->core_demand[c] -= capped(b->host, p, b->demand[p]);
    b->demand[p] += d;
    if (c >= 0)
        b->core_demand[c] += capped(b->host, p, b->demand[p]);
}

static void board_put(Board *b, guint i, guint p)
{
    b->items[i].target = (gint)p;
    board_add(b, p, b->items[i].load);
    b->slot[i] = b->members[p]->len;
    g_array_append_val(b->members[p], i);
}

static void board_take(Board *b, guint i)
{
    guint p = (guint)b->items[i].target;
    GArray *m = b->members[p];
    guint last = g_array_index(m, guint, m->len - 1);

    g_array_index(m, guint, b->slot[i]) = last;
    b->slot[last] = b->slot[i];
    g_array_set_size(m, m->len - 1);
    board_add(b, p, -b->items[i].load);
    b->items[i].target = -1;
}

gboolean assign_may_go(const AssignItem *it, guint p)
{
    if (it->fixed)
        return FALSE;
    return !it->allowed || (it->allowed[p / 8] >> (p % 8)) & 1;
}

static void board_init(Board *b, AssignItem *items, guint n,
                       const AssignHost *h)
{
    guint np = h->n;
    guint i;

    b->items = items;
    b->n = n;
    b->np = np;
    b->host = h;
    b->constrained = FALSE;
    b->demand = g_new0(double, np);
    b->core_demand = g_new0(double, h->ncores ? h->ncores : 1);
    b->members = g_new0(GArray *, np);
    b->slot = g_new0(guint, n ? n : 1);
    for (i = 0; i < np; i++)
        b->members[i] = g_array_new(FALSE, FALSE, sizeof(guint));
    for (i = 0; i < n; i++) {
        gint at = items[i].pinned;

        if (items[i].fixed && at < 0)
            at = items[i].hint;
        items[i].target = -1;
        b->constrained |= items[i].allowed != NULL;
        if (at >= 0 && (guint)at < np)
            board_put(b, i, (guint)at);
    }
}

static void board_clear(Board *b)
{
    guint i;

    for (i = 0; i < b->np; i++)
        g_array_unref(b->members[i]);
    g_free(b->members);
    g_free(b->demand);
    g_free(b->core_demand);
    g_free(b->slot);
}

static double core_over(const Board *b)
{
    double over = 0;
    guint c;

    for (c = 0; c < b->host->ncores; c++)
        over += over_sq(b->core_demand[c], b->host->core_capacity[c]);
    return over;
}

static void board_sums(const Board *b, Sums *s)
{
    guint p;

    s->s1 = s->s2 = 0;
    s->over = core_over(b);
    for (p = 0; p < b->np; p++) {
        double u = util_of(b->host, p, b->demand[p]);

        s->s1 += u;
        s->s2 += u * u;
        s->over += over_sq(b->demand[p], cap_of(b->host, p));
    }
}

/* Change in a shared core's over-demand when its slot p goes from
 * demand d to d + x. */
static double core_over_change(const Board *b, guint p, double d, double x)
{
    const AssignHost *h = b->host;
    gint c = core_of(h, p);
    double cd;

    if (c < 0)
        return 0;
    cd = b->core_demand[c];
    return over_sq(cd - capped(h, p, d) + capped(h, p, d + x),
                   h->core_capacity[c]) -
           over_sq(cd, h->core_capacity[c]);
}

/* Objective after shifting x of load from pCPU a to pCPU c. */
static void shifted(const Board *b, const Sums *s, guint a, guint c, double x,
                    double *sd, double *over)
{
    const AssignHost *h = b->host;
    double da = b->demand[a];
    double dc = b->demand[c];
    double ua = util_of(h, a, da), uc = util_of(h, c, dc);
    double na = util_of(h, a, da - x), nc = util_of(h, c, dc + x);
    double s1 = s->s1 - ua - uc + na + nc;
    double s2 = s->s2 - ua * ua - uc * uc + na * na + nc * nc;
    gint core_a = core_of(h, a);

    *sd = sd_of_sums(s1, s2, b->np);
    *over = s->over - over_sq(da, cap_of(h, a)) - over_sq(dc, cap_of(h, c)) +
            over_sq(da - x, cap_of(h, a)) + over_sq(dc + x, cap_of(h, c));
    if (core_a >= 0 && core_a == core_of(h, c)) {
        /* Both threads of one core: its demand changes by the capping. */
        double cd = b->core_demand[core_a];
        double nd = cd - capped(h, a, da) + capped(h, a, da - x) -
                    capped(h, c, dc) + capped(h, c, dc + x);

        *over += over_sq(nd, h->core_capacity[core_a]) -
                 over_sq(cd, h->core_capacity[core_a]);
    } else {
        *over += core_over_change(b, a, da, -x) + core_over_change(b, c, dc, x);
    }
}

static gint move_cost(const AssignItem *it, guint to)
{
    gint before = it->pinned < 0 || it->target != it->pinned;
    gint after = it->pinned < 0 || (gint)to != it->pinned;

    return after - before;
}

/* Whether a step is worth a pin change: it relieves over-demand, or it
 * lowers sd while sd is above the target without adding over-demand. */
static gboolean worth(double sd_now, double over_now, double sd_new,
                      double over_new, double target_sd)
{
    if (over_now - over_new >= OVERLOAD_MIN_GAIN)
        return TRUE;
    if (over_new > over_now + OVERLOAD_TIE)
        return FALSE;
    return sd_now > target_sd && sd_now - sd_new >= MIN_STEP_GAIN;
}

static gboolean better(const Candidate *c, const Candidate *best)
{
    if (!best->found)
        return TRUE;
    if (c->over < best->over - OVERLOAD_TIE)
        return TRUE;
    if (c->over > best->over + OVERLOAD_TIE)
        return FALSE;
    if (c->sd < best->sd - EPS)
        return TRUE;
    if (c->sd > best->sd + EPS)
        return FALSE;
    return c->cost < best->cost;
}

static void consider(const Board *b, const Sums *s, double sd_now,
                     double target_sd, Candidate *c, Candidate *best)
{
    double x = b->items[c->item].load;

    if (c->other != G_MAXUINT)
        x -= b->items[c->other].load;
    if (x <= EPS)
        return;
    shifted(b, s, c->from, c->to, x, &c->sd, &c->over);
    if (!worth(sd_now, s->over, c->sd, c->over, target_sd))
        return;
    if (better(c, best)) {
        *best = *c;
        best->found = TRUE;
    }
}

static void scan_moves_from(const Board *b, const Sums *s, double sd_now,
                            double target_sd, guint from, guint to,
                            Candidate *best)
{
    GArray *m = b->members[from];
    guint stride = m->len / SCAN_LIMIT + 1;
    guint k;

    for (k = 0; k < m->len; k += stride) {
        guint i = g_array_index(m, guint, k);
        Candidate c = {.item = i, .other = G_MAXUINT, .from = from, .to = to};

        if (b->items[i].frozen || !assign_may_go(&b->items[i], to))
            continue;
        c.cost = move_cost(&b->items[i], to);
        consider(b, s, sd_now, target_sd, &c, best);
    }
}

static void scan_swaps(const Board *b, const Sums *s, double sd_now,
                       double target_sd, guint from, guint to, Candidate *best)
{
    GArray *mf = b->members[from];
    GArray *mt = b->members[to];
    guint sf = mf->len / SWAP_SCAN_LIMIT + 1;
    guint st = mt->len / SWAP_SCAN_LIMIT + 1;
    guint k;
    guint l;

    for (k = 0; k < mf->len; k += sf) {
        guint i = g_array_index(mf, guint, k);

        if (b->items[i].frozen || !assign_may_go(&b->items[i], to))
            continue;
        for (l = 0; l < mt->len; l += st) {
            guint j = g_array_index(mt, guint, l);
            Candidate c = {.item = i, .other = j, .from = from, .to = to};

            if (b->items[j].frozen || !assign_may_go(&b->items[j], from))
                continue;
            c.cost =
                move_cost(&b->items[i], to) + move_cost(&b->items[j], from);
            consider(b, s, sd_now, target_sd, &c, best);
        }
    }
}

static gint by_load_desc(gconstpointer pa, gconstpointer pb, gpointer data)
{
    const AssignItem *items = data;
    guint a = *(const guint *)pa;
    guint b = *(const guint *)pb;

    if (items[a].load > items[b].load)
        return -1;
    if (items[a].load < items[b].load)
        return 1;
    return a < b ? -1 : a > b;
}

/* Share of its capacity slot p is asked for. */
static double fill(const Board *b, guint p)
{
    double cap = cap_of(b->host, p);

    return cap > 0 ? b->demand[p] / cap : G_MAXDOUBLE;
}

/* Share of its capacity the core slot p shares is asked for, 0 when it
 * shares none. */
static double core_fill(const Board *b, guint p)
{
    gint c = core_of(b->host, p);

    return c >= 0 ? b->core_demand[c] / b->host->core_capacity[c] : 0;
}

/* Whether slot p is less loaded than q: by share of capacity, then by the
 * share of its core, so an idle thread of an idle core comes first. */
static gboolean lighter(const Board *b, guint p, guint q)
{
    double fp = fill(b, p);
    double fq = fill(b, q);

    if (fp < fq - EPS)
        return TRUE;
    if (fp > fq + EPS)
        return FALSE;
    return core_fill(b, p) < core_fill(b, q) - EPS;
}

static guint least_loaded(const Board *b)
{
    guint best = 0;
    guint p;

    for (p = 1; p < b->np; p++) {
        if (lighter(b, p, best))
            best = p;
    }
    return best;
}

static guint most_loaded(const Board *b)
{
    guint best = 0;
    guint p;

    for (p = 1; p < b->np; p++) {
        if (lighter(b, best, p))
            best = p;
    }
    return best;
}

/* The least loaded pCPU item k may go to, or -1 when none. */
static gint least_loaded_for(const Board *b, guint k)
{
    gint best = -1;
    guint p;

    for (p = 0; p < b->np; p++) {
        if (assign_may_go(&b->items[k], p) &&
            (best < 0 || lighter(b, p, (guint)best)))
            best = (gint)p;
    }
    return best;
}

/* Largest first onto the least loaded pCPU it allows; free items are
 * pinned wherever they go, so where they ran before only breaks ties. */
static void place_free(Board *b)
{
    g_autoptr(GArray) order = g_array_new(FALSE, FALSE, sizeof(guint));
    guint i;

    for (i = 0; i < b->n; i++) {
        if (b->items[i].target < 0 && !b->items[i].fixed)
            g_array_append_val(order, i);
    }
    g_array_sort_with_data(order, by_load_desc, b->items);
    for (i = 0; i < order->len; i++) {
        guint k = g_array_index(order, guint, i);
        gint hint = b->items[k].hint;
        gint p = b->items[k].allowed ? least_loaded_for(b, k)
                                     : (gint)least_loaded(b);

        if (p < 0)
            continue;
        if (hint >= 0 && (guint)hint < b->np &&
            assign_may_go(&b->items[k], (guint)hint) &&
            !lighter(b, (guint)p, (guint)hint))
            p = hint;
        board_put(b, k, (guint)p);
    }
}

static gboolean improve_once(Board *b, double target_sd)
{
    Candidate best = {.found = FALSE};
    Sums s;
    double sd_now;
    guint hi;
    guint lo;
    guint p;

    board_sums(b, &s);
    sd_now = sd_of_sums(s.s1, s.s2, b->np);
    if (sd_now <= target_sd && s.over <= EPS)
        return FALSE;
    hi = most_loaded(b);
    lo = least_loaded(b);
    if (hi == lo)
        return FALSE;

    /* The busiest pCPU is where a move gains most; other sources and swaps
     * are only looked at when it has nothing worth moving. */
    scan_moves_from(b, &s, sd_now, target_sd, hi, lo, &best);
    for (p = 0; !best.found && p < b->np; p++) {
        if (p != lo && p != hi)
            scan_moves_from(b, &s, sd_now, target_sd, p, lo, &best);
    }
    if (!best.found)
        scan_swaps(b, &s, sd_now, target_sd, hi, lo, &best);
    /* Items that may not go to the least loaded pCPU may still go to
     * another that relieves the busiest. */
    for (p = 0; !best.found && b->constrained && p < b->np; p++) {
        if (p != lo && p != hi) {
            scan_moves_from(b, &s, sd_now, target_sd, hi, p, &best);
            if (!best.found)
                scan_swaps(b, &s, sd_now, target_sd, hi, p, &best);
        }
    }
    if (!best.found)
        return FALSE;

    board_take(b, best.item);
    if (best.other != G_MAXUINT) {
        board_take(b, best.other);
        board_put(b, best.other, best.from);
    }
    board_put(b, best.item, best.to);
    return TRUE;
}

guint assign_balance(AssignItem *items, guint n, guint npcpus, double target_sd)
{
    AssignHost h = {.n = npcpus};

    return assign_balance_on(items, n, &h, target_sd);
}

guint assign_balance_on(AssignItem *items, guint n, const AssignHost *h,
                        double target_sd)
{
    guint npcpus = h->n;
    Board b;
    guint moves = 0;
    guint limit;
    guint i;

    g_return_val_if_fail(npcpus > 0, 0);

    board_init(&b, items, n, h);
    place_free(&b);
    /* Every step strictly improves (sd, over-demand), so this bound only
     * guards against floating-point surprises. */
    limit = 4 * n + npcpus;
    for (i = 0; i < limit; i++) {
        if (!improve_once(&b, target_sd))
            break;
    }
    board_clear(&b);

    for (i = 0; i < n; i++) {
        if (!items[i].fixed &&
            (items[i].pinned < 0 || items[i].target != items[i].pinned))
            moves++;
    }
    return moves;
}
