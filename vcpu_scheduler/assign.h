/* Balanced assignment of vCPU loads to pCPUs with few moves.
 *
 * Pure arithmetic over plain arrays: the vCPU policy builds the items from
 * a snapshot and turns the targets into pin actions.  Loads are percent of
 * one pCPU; a pCPU's predicted utilisation is min(100, sum of the loads
 * placed on it), because a pCPU cannot run more than all of its time. */
#pragma once

#include <glib.h>

/* Utilisation of one pCPU cannot exceed this, whatever is asked of it. */
#define ASSIGN_CAPACITY 100.0

typedef struct {
    double load; /* estimated demand, percent of one pCPU */
    gint pinned; /* pCPU it is pinned to; -1 when free to be placed */
    gint hint;   /* pCPU to prefer among equals (where it last ran), or -1 */
    gboolean frozen; /* must stay on its pinned pCPU (dwell) */
    /* Never placed: stays where it is (pinned, else hint) and only counts
     * there; one whose place is unknown is left out. */
    gboolean fixed;
    /* The pCPUs it may be placed on, a bitmap of npcpus bits (bit p of
     * byte p / 8); NULL when any.  A pinned item outside it has to be
     * given as free (pinned -1, hint where it is). */
    const guint8 *allowed;
    gint target; /* output: pCPU the plan puts it on */
} AssignItem;

/* Population standard deviation of n values; 0 when n is 0. */
double util_stddev(const double *v, guint n);

typedef struct {
    double sd;    /* sd of predicted pCPU utilisation */
    double unmet; /* demand above capacity, summed over pCPUs, percent */
} AssignPrediction;

/* Where items go: n slots (a pCPU, or a group of CPUs the host kernel
 * balances within), each with its capacity.  At cpu granularity on an SMT
 * host, slots that are threads of one core also share that core's
 * capacity (slots.h). */
typedef struct {
    guint n;
    const double *capacity; /* per slot, percent; NULL: ASSIGN_CAPACITY */
    const gint *core;       /* per slot: its shared core, -1: none; or NULL */
    guint ncores;
    const double *core_capacity;
} AssignHost;

/* Predicts pCPU utilisation with every item on its target (use_target) or
 * where it is now (pinned, else hint; items with neither are left out). */
void assign_predict(const AssignItem *items, guint n, guint npcpus,
                    gboolean use_target, AssignPrediction *out);
/* The same on slots: sd of each slot's utilisation in percent of its
 * capacity, unmet demand in percent of one thread, a shared core's
 * included. */
void assign_predict_on(const AssignItem *items, guint n, const AssignHost *h,
                       gboolean use_target, AssignPrediction *out);

/* Whether the item may be placed on pCPU p. */
gboolean assign_may_go(const AssignItem *it, guint p);

/* Sets every item's target.  Free items are placed within what they
 * allow (fixed ones stay put); pinned items move
 * when that relieves a pCPU asked for well beyond its capacity, or lowers
 * the predicted sd while it is above target_sd without asking more of a
 * saturated pCPU.  Returns the number of items whose target differs from
 * their pinned pCPU (free items all count, fixed ones never).  npcpus must be
 * at least 1. */
guint assign_balance(AssignItem *items, guint n, guint npcpus,
                     double target_sd);
/* The same on slots; demand above a shared core's capacity counts as
 * over-demand, so two busy threads of one core are parted when another
 * core has room. */
guint assign_balance_on(AssignItem *items, guint n, const AssignHost *h,
                        double target_sd);
