/* The places a vCPU can be pinned to at the configured granularity: one
 * online CPU each (cpu), the threads of one core (core), the CPUs of one
 * last-level cache bank (cache) or of one NUMA node (node).  A vCPU pinned
 * to a group may run on any of its CPUs and the host kernel balances it
 * among them.  Excluded and offline CPUs are in no slot.
 *
 * Capacity is counted in percent of one CPU thread.  SMT threads of one
 * core share its execution units, so a core with k busy threads does
 * about smt_core_capacity(k) of work, not k * 100 (see slots.c for the
 * figure and its source).  Pure: built from a snapshot and its topology. */
#pragma once

#include <glib.h>

#include "snapshot.h"
#include "vcpu_config.h"

typedef struct {
    GArray *cpus;    /* guint CPU ids, ascending */
    double capacity; /* percent of one thread */
    gint node;       /* dense NUMA node index, -1 when unknown */
    /* cpu granularity on an SMT host: dense index of the core whose
     * threads it shares (Slots.core_capacity), -1 for a core of one. */
    gint core;
} Slot;

typedef struct {
    Granularity grain; /* in use: the asked one, or cpu after a fallback */
    guint n;
    Slot *slot;
    guint npcpus;  /* the snapshot's */
    gint *slot_of; /* per CPU id: its slot, -1 when offline or excluded */
    guint ncores;  /* SMT cores with two or more threads in slots */
    double *core_capacity;
    guint nnodes;
    double *node_capacity; /* sum of its slots' capacity */
    guint *node_slots;     /* slots in each node */
    /* Why the asked granularity could not be used (no topology, no cache
     * banks), NULL when it is in use. */
    char *fallback;
} Slots;

/* Hosts with at most this many online CPUs default to cpu (the course's
 * behaviour); larger ones to core. */
#define SLOTS_AUTO_CPU_MAX 8

/* Work a core does with k threads busy, percent of one thread. */
double smt_core_capacity(guint threads);

/* The granularity auto stands for on a host of this many usable CPUs. */
Granularity granularity_resolve(Granularity asked, guint usable);

/* Slots of the snapshot's online CPUs that are not excluded. */
Slots *slots_build(const Snapshot *snap, const GArray *excluded,
                   Granularity asked) G_GNUC_WARN_UNUSED_RESULT;
void slots_free(Slots *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Slots, slots_free)

/* Whether the topology holds what the granularity needs; names what is
 * missing in *why otherwise.  cpu needs nothing. */
gboolean granularity_supported(const Topology *t, Granularity g, char **why);

/* The slot a cpumap of the snapshot allows exactly (all of its CPUs and no
 * other), -1 when none. */
gint slots_match(const Slots *s, const guint8 *map, gsize maplen);

/* "3" for a CPU, "0,32" for a group. */
char *slots_label(const Slots *s, guint k) G_GNUC_WARN_UNUSED_RESULT;
