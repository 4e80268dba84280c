#include "migrate_exec.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collect.h"
#include "dirty_rate.h"
#include "domain_jobs.h"
#include "json_out.h"
#include "migrator_lock.h"
#include "peer_entry.h"
#include "peer_probe.h"

/* Where libvirt's system QEMU driver keeps the pid of each guest's QEMU;
 * its start time is the guest's boot time for the time-data snapshot. */
#define QEMU_PID_DIR "/run/libvirt/qemu"

GQuark migrate_error_quark(void)
{
    return g_quark_from_static_string("aos-migrate-error-quark");
}

/* An executed migration, as the decision log records it. */
typedef struct {
    Action base;
    char *peer_uri;
} MigrateAction;

static char *migrate_action_describe(const Action *a)
{
    const MigrateAction *m = (const MigrateAction *)a;

    return g_strdup_printf("migrate %s -> %s", a->name,
                           m->peer_uri ? m->peer_uri : "?");
}

static void migrate_action_to_json(const Action *a, JsonBuilder *b)
{
    json_add_str(b, "peer", ((const MigrateAction *)a)->peer_uri);
}

static void migrate_action_clear(Action *a)
{
    g_free(((MigrateAction *)a)->peer_uri);
}

static const ActionType migrate_action = {
    .name = "migrate",
    .size = sizeof(MigrateAction),
    .describe = migrate_action_describe,
    .to_json = migrate_action_to_json,
    .clear = migrate_action_clear,
};

typedef struct {
    /* Set before the worker starts; read-only while it runs. */
    char uuid[VIR_UUID_STRING_BUFLEN];
    char *name;
    char *src_uri;
    char *peer_uri;
    char *migrate_uri; /* where QEMU sends the data, NULL: libvirt picks */
    char *dest_xml;    /* with the TSC frequency pinned, NULL when not needed */
    guint64 guest_hz;
    guint64 pin_hz;
    MigrateTimeData td;
    char *reason;
    MigrationMode mode;
    gboolean insecure; /* allow_insecure: no VIR_MIGRATE_TLS */
    gint64 start_us;

    /* Written by the worker before it sets done. */
    gint done;
    gboolean ok;
    char *error;
    gint64 call_us; /* the virDomainMigrateToURI3 call */
    gboolean have_stats;
    guint64 downtime_ms;
    guint64 elapsed_ms;
    guint64 setup_ms;
    guint64 data_processed;
    guint64 iterations;
    char *stats_from;
    gboolean dest_running;
    char *dest_state;
    gboolean dest_clock_known;
    gboolean dest_has_freq;
    guint64 dest_tsc_hz;
    char *source_state;
    /* The guest's history with this job's hop last (NULL: not recorded,
     * a host UUID unknown), written before the job on the source and
     * after it where the guest is; history_error when a write failed. */
    GArray *hops;
    char *history_error;
    gboolean persistent;  /* moved with its definition */
    gboolean dest_paused; /* a second copy on the peer, paused by us */
    gboolean source_held; /* left paused here: the peer's copy may run */

    /* Main thread only. */
    GThread *thread;
    gboolean aborted;
} MigrateJob;

struct Migrator {
    char *daemon;
    MigratorActionFunc on_action;
    gpointer action_data;
    MigrateState *st;
    PeerProbes *probes;    /* the peers, read off the tick */
    MigratorLock *role;    /* this host's one migrator, when held */
    guint role_generation; /* the connection the role was named for */
    gboolean deferring;    /* another process holds the role */
    MigrateJob *job;
    FILE *log;
    char *log_path;             /* NULL while log is stdout */
    guint64 requests;           /* advised or started, for the metrics */
    DirtyRates *dirty;          /* guests' dirty rates, for estimates */
    double measured_mib_s;      /* the last job's throughput, or 0 */
    gboolean told_no_time_data; /* why time data is missing, logged once */
};

static void job_free(MigrateJob *j)
{
    if (!j)
        return;
    g_free(j->name);
    g_free(j->src_uri);
    g_free(j->peer_uri);
    g_free(j->migrate_uri);
    g_free(j->dest_xml);
    g_free(j->reason);
    g_free(j->error);
    g_free(j->stats_from);
    g_free(j->source_state);
    g_free(j->dest_state);
    if (j->hops)
        g_array_unref(j->hops);
    g_free(j->history_error);
    g_free(j);
}

Migrator *migrator_new(const char *daemon_name, MigratorActionFunc on_action,
                       gpointer data)
{
    Migrator *m = g_new0(Migrator, 1);

    m->daemon = g_strdup(daemon_name);
    m->on_action = on_action;
    m->action_data = data;
    m->st = migrate_state_new();
    m->probes = peer_probes_new(NULL, NULL);
    m->role = migrator_lock_new(MIGRATOR_LOCK_NAME);
    m->dirty = dirty_rates_new();
    return m;
}

gboolean migrator_busy(const Migrator *m)
{
    return m && m->job;
}

/* ---- JSON lines ------------------------------------------------------- */

static FILE *log_file(Migrator *m, const MigrationConfig *cfg)
{
    const char *want = cfg ? cfg->advise_log : m->log_path;

    if (m->log && g_strcmp0(want, m->log_path) == 0)
        return m->log;
    if (m->log && m->log != stdout)
        fclose(m->log);
    m->log = NULL;
    g_clear_pointer(&m->log_path, g_free);
    if (want) {
        m->log = fopen(want, "a");
        if (m->log) {
            m->log_path = g_strdup(want);
            return m->log;
        }
        g_warning("cannot open advise log %s: %s; writing requests to "
                  "stdout",
                  want, g_strerror(errno));
    }
    m->log = stdout;
    return m->log;
}

static void emit(Migrator *m, const MigrationConfig *cfg, JsonBuilder *b)
{
    json_line_write(b, log_file(m, cfg));
}

/* time, event, mode, daemon: the head of every line. */
static JsonBuilder *line_begin(Migrator *m, MigrationMode mode,
                               const char *event)
{
    JsonBuilder *b = json_line_begin();

    json_add_str(b, "event", event);
    json_add_str(b, "mode", migration_mode_name(mode));
    json_add_str(b, "daemon", m->daemon);
    return b;
}

static void add_trigger(JsonBuilder *b, const MigrateTrigger *trig,
                        const MigrationConfig *cfg)
{
    g_autofree char *text = migrate_trigger_describe(trig, cfg);

    json_builder_set_member_name(b, "trigger");
    json_builder_begin_object(b);
    json_add_str(b, "kind", migrate_trigger_name(trig->kind));
    json_add_double(b, "deficit", trig->deficit);
    json_add_str(b, "unit",
                 trig->kind == MIGRATE_TRIGGER_CPU ? "percent" : "KiB");
    json_add_u64(b, "ticks", trig->ticks);
    json_add_str(b, "text", text);
    json_builder_end_object(b);
}

static void add_refusals(JsonBuilder *b, const GPtrArray *refusals)
{
    guint i;

    json_builder_set_member_name(b, "refusals");
    json_builder_begin_array(b);
    for (i = 0; refusals && i < refusals->len; i++)
        json_builder_add_string_value(b, g_ptr_array_index(refusals, i));
    json_builder_end_array(b);
}

static void add_tsc(JsonBuilder *b, const MigrateDecision *d,
                    const HostFacts *source, const MigrationConfig *cfg)
{
    const TscCompat *c = &d->tsc;

    json_builder_set_member_name(b, "tsc");
    json_builder_begin_object(b);
    json_add_str(b, "verdict", tsc_verdict_name(c->verdict));
    json_add_bool(b, "compatible", c->compatible);
    json_add_u64(b, "guest_hz", c->guest_hz);
    json_add_bool(b, "guest_hz_explicit", c->guest_hz_explicit);
    json_add_bool(b, "invtsc", d->guest->clock.invtsc);
    if (source && source->tsc_known)
        json_add_u64(b, "source_hz", source->tsc_hz);
    else
        json_add_str(b, "source_hz", NULL);
    if (c->peer_hz_known)
        json_add_u64(b, "peer_hz", c->peer_hz);
    else
        json_add_str(b, "peer_hz", NULL);
    json_add_bool(b, "peer_scaling", d->peer->facts.tsc_scaling);
    if (c->ppm >= 0)
        json_add_double(b, "ppm", c->ppm);
    else
        json_add_str(b, "ppm", NULL);
    json_add_double(b, "tolerance_ppm", cfg->tsc_tolerance_ppm);
    json_add_bool(b, "needs_pin", c->needs_pin);
    json_add_u64(b, "pin_hz", c->pin_hz);
    json_add_str(b, "reason", c->reason);
    json_builder_end_object(b);
}

/* What the job is expected to cost, for the bench to set against the
 * result's data_processed_bytes, memory_iterations and elapsed_ms. */
static void add_estimate(JsonBuilder *b, const MigrateGuest *g)
{
    const ConvergeEstimate *e = &g->estimate;

    json_builder_set_member_name(b, "estimate");
    json_builder_begin_object(b);
    if (e->known)
        json_add_double(b, "dirty_mib_s", e->dirty_mib_s);
    else
        json_add_str(b, "dirty_mib_s", NULL);
    json_add_double(b, "bandwidth_mib_s", e->bandwidth_mib_s);
    json_add_str(b, "bandwidth_from", g->bandwidth_from);
    json_add_bool(b, "known", e->known);
    json_add_bool(b, "converges", e->converges);
    if (e->known && e->converges) {
        json_add_u64(b, "passes", e->passes);
        json_add_double(b, "total_mib", e->total_mib);
        json_add_double(b, "time_s", e->time_s);
    }
    json_add_str(b, "reason", e->reason);
    json_builder_end_object(b);
}

static void add_clock(JsonBuilder *b, const ClockSync *cs,
                      const MigrateDecision *d)
{
    json_builder_set_member_name(b, "clock");
    json_builder_begin_object(b);
    if (cs) {
        json_add_bool(b, "synchronised", cs->synchronised);
        json_add_str(b, "state", clocksync_state_name(cs->state));
        json_add_u64(b, "maxerror_us", (guint64)MAX(cs->maxerror_us, 0));
        json_add_u64(b, "esterror_us", (guint64)MAX(cs->esterror_us, 0));
    } else {
        json_add_str(b, "synchronised", NULL);
    }
    json_add_bool(b, "may_execute", d->clock_ok);
    json_add_str(b, "reason", d->clock_reason);
    json_builder_end_object(b);
}

static void add_time_data(JsonBuilder *b, const MigrateTimeData *td,
                          const char *error)
{
    json_builder_set_member_name(b, "time_data");
    json_builder_begin_object(b);
    json_add_bool(b, "known", td->known);
    if (td->known) {
        json_add_u64(b, "wall_ns", td->wall_ns);
        json_add_u64(b, "hrtime_ns", td->td.hrtime_ns);
        json_add_u64(b, "boot_hrtime_ns", td->td.boot_hrtime_ns);
        json_add_u64(b, "uptime_ns", td->uptime_ns);
        json_add_u64(b, "guest_hz", td->td.guest_hz);
        json_add_u64(b, "guest_tsc", td->td.guest_tsc);
        json_add_bool(b, "guest_tsc_estimated", TRUE);
    } else {
        json_add_str(b, "error", error);
    }
    json_builder_end_object(b);
}

/* ---- Reading facts ---------------------------------------------------- */

static gboolean source_facts(Conn *conn, HostFacts *out)
{
    g_autofree char *caps = virConnectGetCapabilities(conn->conn);
    g_autoptr(GError) err = NULL;

    if (!caps) {
        g_warning("cannot read this host's capabilities: %s",
                  conn_last_error_message());
        return FALSE;
    }
    if (!hostcaps_parse(caps, out, &err)) {
        g_warning("cannot read this host's capabilities: %s", err->message);
        return FALSE;
    }
    return TRUE;
}

static void domain_free_or_null(gpointer dom)
{
    if (dom)
        virDomainFree(dom);
}

/* Its clock from its domain XML, and its memory when the snapshot had
 * none (the vCPU scheduler does not collect it). */
static void read_guest(virDomainPtr dom, MigrateGuest *g)
{
    g_autofree char *xml = NULL;
    g_autoptr(GError) err = NULL;

    if (!dom) {
        g->skip = g_strdup_printf("it could not be looked up: %s",
                                  conn_last_error_message());
        return;
    }
    if (g->held_kib == 0) {
        virDomainInfo info;

        if (virDomainGetInfo(dom, &info) == 0) {
            g->held_kib = info.memory;
            g->cost_kib = info.memory;
        }
    }
    xml = virDomainGetXMLDesc(dom, 0);
    if (!xml) {
        g->skip = g_strdup_printf("its domain XML could not be read: %s",
                                  conn_last_error_message());
        return;
    }
    if (!hostcaps_parse_domain_clock(xml, &g->clock, &err)) {
        g->skip =
            g_strdup_printf("its clock could not be read: %s", err->message);
        return;
    }
    g->clock_known = TRUE;
    g->history = migrate_history_from_domain_xml(xml, &err);
    g->history_now_s = g_get_real_time() / G_USEC_PER_SEC;
    if (!g->history)
        g->skip = g_strdup_printf("its migration history (metadata %s) "
                                  "cannot be read: %s",
                                  MIGRATE_HISTORY_NS, err->message);
}

static guint64 clock_ns(clockid_t id)
{
    struct timespec ts;

    if (clock_gettime(id, &ts) < 0)
        return 0;
    return (guint64)ts.tv_sec * TSC_NS_PER_SEC + (guint64)ts.tv_nsec;
}

/* When the guest's QEMU started, in CLOCK_BOOTTIME nanoseconds: field 22
 * of /proc/PID/stat counts clock ticks since boot. */
static gboolean guest_boot_ns(const char *name, guint64 *out, char **why)
{
    g_autofree char *pidfile = g_strdup_printf("%s/%s.pid", QEMU_PID_DIR, name);
    g_autofree char *pidtext = NULL;
    g_autofree char *statpath = NULL;
    g_autofree char *stat = NULL;
    g_auto(GStrv) fields = NULL;
    const char *after;
    guint64 pid;
    guint64 start;
    long hz = sysconf(_SC_CLK_TCK);

    if (!g_file_get_contents(pidfile, &pidtext, NULL, NULL) ||
        !g_ascii_string_to_unsigned(g_strstrip(pidtext), 10, 1, G_MAXINT32,
                                    &pid, NULL)) {
        *why = g_strdup_printf("no QEMU pid in %s", pidfile);
        return FALSE;
    }
    statpath = g_strdup_printf("/proc/%" G_GUINT64_FORMAT "/stat", pid);
    if (!g_file_get_contents(statpath, &stat, NULL, NULL)) {
        *why = g_strdup_printf("cannot read %s", statpath);
        return FALSE;
    }
    /* The command name may hold spaces; fields start after its ')'. */
    after = strrchr(stat, ')');
    if (!after || hz <= 0) {
        *why = g_strdup_printf("cannot parse %s", statpath);
        return FALSE;
    }
    fields = g_strsplit(after + 2, " ", 0);
    /* After the name come state (field 3) ... starttime (field 22). */
    if (g_strv_length(fields) < 20 ||
        !g_ascii_string_to_unsigned(fields[19], 10, 0, G_MAXUINT64, &start,
                                    NULL)) {
        *why = g_strdup_printf("cannot parse %s", statpath);
        return FALSE;
    }
    *out = start * (TSC_NS_PER_SEC / (guint64)hz);
    return TRUE;
}

static void take_time_data(const MigrateGuest *g, guint64 guest_hz,
                           MigrateTimeData *td, char **why)
{
    guint64 boot = 0;
    g_autoptr(GError) err = NULL;

    *td = (MigrateTimeData){0};
    if (guest_hz == 0) {
        *why = g_strdup("the guest's TSC frequency is unknown");
        return;
    }
    if (!guest_boot_ns(g->name, &boot, why))
        return;
    if (!migrate_time_data(guest_hz, (guint64)g_get_real_time() * 1000,
                           clock_ns(CLOCK_BOOTTIME), boot, td, &err))
        *why = g_strdup(err->message);
}

/* tcp://HOST of the peer's URI, so QEMU sends the data to the address the
 * operator named rather than to whatever the peer's hostname resolves to. */
static char *migrate_uri_for(const char *peer_uri)
{
    g_autoptr(GUri) u = g_uri_parse(peer_uri, G_URI_FLAGS_NONE, NULL);
    const char *host = u ? g_uri_get_host(u) : NULL;

    if (!host || !host[0])
        return NULL;
    if (strchr(host, ':'))
        return g_strdup_printf("tcp://[%s]", host);
    return g_strdup_printf("tcp://%s", host);
}

/* ---- The worker ------------------------------------------------------- */

static void read_job_stats(virDomainPtr dom, MigrateJob *j, const char *from)
{
    virTypedParameterPtr params = NULL;
    int nparams = 0;
    int type = 0;
    unsigned long long v;

    if (virDomainGetJobStats(dom, &type, &params, &nparams,
                             VIR_DOMAIN_JOB_STATS_COMPLETED) < 0 ||
        type != VIR_DOMAIN_JOB_COMPLETED) {
        virTypedParamsFree(params, nparams);
        return;
    }
    if (virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_DOWNTIME, &v) ==
        1) {
        j->have_stats = TRUE;
        j->downtime_ms = v;
        g_free(j->stats_from);
        j->stats_from = g_strdup(from);
    }
    if (virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_TIME_ELAPSED,
                                &v) == 1)
        j->elapsed_ms = v;
    if (virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_SETUP_TIME,
                                &v) == 1)
        j->setup_ms = v;
    if (virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_DATA_PROCESSED,
                                &v) == 1)
        j->data_processed = v;
    if (virTypedParamsGetULLong(params, nparams,
                                VIR_DOMAIN_JOB_MEMORY_ITERATION, &v) == 1)
        j->iterations = v;
    virTypedParamsFree(params, nparams);
}

static const char *state_name(int state)
{
    switch (state) {
    case VIR_DOMAIN_RUNNING:
        return "running";
    case VIR_DOMAIN_BLOCKED:
        return "blocked";
    case VIR_DOMAIN_PAUSED:
        return "paused";
    case VIR_DOMAIN_SHUTDOWN:
        return "shutting down";
    case VIR_DOMAIN_SHUTOFF:
        return "shut off";
    case VIR_DOMAIN_CRASHED:
        return "crashed";
    case VIR_DOMAIN_PMSUSPENDED:
        return "suspended";
    }
    return "unknown";
}

/* The guest on the peer, NULL when the peer does not hold it or could
 * not be asked (*asked FALSE); its state goes to dest_state and
 * dest_running.  The domain keeps its connection open. */
static virDomainPtr find_on_peer(MigrateJob *j, gboolean *asked)
{
    g_autoptr(virConnect) c = virConnectOpen(j->peer_uri);
    g_autoptr(virDomain) dom = NULL;
    int state = 0;
    int reason = 0;

    *asked = FALSE;
    if (!c) {
        j->dest_state =
            g_strdup_printf("unknown: %s", conn_last_error_message());
        return NULL;
    }
    dom = virDomainLookupByUUIDString(c, j->uuid);
    if (!dom) {
        *asked = TRUE;
        j->dest_state = g_strdup("gone");
        return NULL;
    }
    if (virDomainGetState(dom, &state, &reason, 0) < 0) {
        j->dest_state =
            g_strdup_printf("unknown: %s", conn_last_error_message());
        return NULL;
    }
    *asked = TRUE;
    j->dest_running = state == VIR_DOMAIN_RUNNING;
    j->dest_state = g_strdup(state_name(state));
    return g_steal_pointer(&dom);
}

/* Writes the job's history into the guest's metadata on dom (its
 * definition too when config); the first failure is kept. */
static gboolean write_history(virDomainPtr dom, MigrateJob *j,
                              MigrateHopResult result, gboolean config)
{
    g_autofree char *element = NULL;
    MigrateHop *last;
    unsigned int flags = VIR_DOMAIN_AFFECT_LIVE;

    if (!j->hops)
        return TRUE;
    last = &g_array_index(j->hops, MigrateHop, j->hops->len - 1);
    last->result = result;
    if (result != MIGRATE_HOP_STARTED)
        last->job_s = (double)j->call_us / G_USEC_PER_SEC;
    element = migrate_history_element(j->hops);
    if (config)
        flags |= VIR_DOMAIN_AFFECT_CONFIG;
    if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, element,
                             MIGRATE_HISTORY_PREFIX, MIGRATE_HISTORY_NS,
                             flags) == 0)
        return TRUE;
    if (!j->history_error)
        j->history_error = g_strdup(conn_last_error_message());
    return FALSE;
}

/* After a success: the job stats (if the source had none) and the TSC
 * frequency the destination runs the guest with. */
static void check_destination(MigrateJob *j)
{
    gboolean asked;
    g_autoptr(virDomain) dom = find_on_peer(j, &asked);
    g_autofree char *xml = NULL;
    g_auto(GuestClock) gc = {0};

    if (!dom)
        return;
    if (!j->have_stats)
        read_job_stats(dom, j, "destination");
    /* The hop travelled as "started"; where the guest now is, it ends. */
    write_history(dom, j, MIGRATE_HOP_DONE, virDomainIsPersistent(dom) == 1);
    xml = virDomainGetXMLDesc(dom, 0);
    if (xml && hostcaps_parse_domain_clock(xml, &gc, NULL)) {
        j->dest_clock_known = TRUE;
        j->dest_has_freq = gc.has_tsc_freq;
        j->dest_tsc_hz = gc.tsc_hz;
    }
}

/* After a failure the guest must run on exactly one host; the rule is
 * migrate_settle_after_failure's.  One disk written by two running copies
 * is lost, so a source the job left paused waits for the peer's word,
 * and two running copies (libvirt resumed the source after the peer had
 * started its copy, a reply lost after the peer's finish) become one by
 * pausing the peer's, which stops its writes and keeps both states for
 * the operator to choose from. */
static void settle_after_failure(virDomainPtr dom, MigrateJob *j)
{
    int state = VIR_DOMAIN_NOSTATE;
    int reason = 0;
    gboolean known = virDomainGetState(dom, &state, &reason, 0) == 0;
    gboolean asked;
    g_autoptr(virDomain) dest = find_on_peer(j, &asked);

    switch (migrate_settle_after_failure(known, state, reason, asked,
                                         j->dest_running)) {
    case MIGRATE_SETTLE_RESUME_SOURCE:
        if (virDomainResume(dom) < 0 ||
            virDomainGetState(dom, &state, &reason, 0) < 0)
            state = VIR_DOMAIN_NOSTATE;
        break;
    case MIGRATE_SETTLE_HOLD_SOURCE:
        j->source_held = TRUE;
        break;
    case MIGRATE_SETTLE_PAUSE_DEST:
        if (virDomainSuspend(dest) == 0) {
            j->dest_paused = TRUE;
            j->dest_running = FALSE;
            g_free(j->dest_state);
            j->dest_state = g_strdup("paused: it ran here and there");
        }
        break;
    case MIGRATE_SETTLE_NOTHING:
        break;
    }
    j->source_state = g_strdup(known ? state_name(state) : "unknown");
}

static gpointer job_run(gpointer data)
{
    MigrateJob *j = data;
    g_autoptr(virConnect) c = virConnectOpen(j->src_uri);
    g_autoptr(virDomain) dom = NULL;
    virTypedParameterPtr params = NULL;
    int nparams = 0;
    int maxparams = 0;
    unsigned int flags =
        VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER | VIR_MIGRATE_ABORT_ON_ERROR;
    gint64 t0;
    int rc;

    if (!c || !(dom = virDomainLookupByUUIDString(c, j->uuid))) {
        j->error = g_strdup(conn_last_error_message());
        j->source_state = g_strdup("unknown");
        goto cleanup;
    }
    if ((j->migrate_uri &&
         virTypedParamsAddString(&params, &nparams, &maxparams,
                                 VIR_MIGRATE_PARAM_URI, j->migrate_uri) < 0) ||
        (j->dest_xml && virTypedParamsAddString(&params, &nparams, &maxparams,
                                                VIR_MIGRATE_PARAM_DEST_XML,
                                                j->dest_xml) < 0)) {
        j->error = g_strdup(conn_last_error_message());
        settle_after_failure(dom, j);
        goto cleanup;
    }
    /* A persistent guest's definition goes with it: left here, an
     * autostart or an operator's start would run a second copy on the
     * same disk.  A transient guest stays transient. */
    /* QEMU encrypts the guest's memory with the x509 certificates of
     * migrate_tls_x509_cert_dir on both hosts, and the destination's must
     * be the one its certificate names: libvirt fails the job when either
     * side has none. */
    if (!j->insecure)
        flags |= VIR_MIGRATE_TLS;
    j->persistent = virDomainIsPersistent(dom) == 1;
    if (j->persistent)
        flags |= VIR_MIGRATE_PERSIST_DEST | VIR_MIGRATE_UNDEFINE_SOURCE;
    /* The hop goes with the guest, in its live XML and its definition:
     * the next host reads it before it asks to move the guest again.  A
     * guest whose history cannot be written is not moved, since nothing
     * would then keep two hosts from passing it back and forth. */
    if (!write_history(dom, j, MIGRATE_HOP_STARTED, j->persistent)) {
        j->error = g_strdup_printf("its migration history could not be "
                                   "written: %s",
                                   j->history_error);
        j->source_state = g_strdup("running");
        goto cleanup;
    }
    t0 = g_get_monotonic_time();
    rc = virDomainMigrateToURI3(dom, j->peer_uri, params, nparams, flags);
    j->call_us = g_get_monotonic_time() - t0;
    if (rc < 0) {
        j->error = g_strdup(conn_last_error_message());
        settle_after_failure(dom, j);
        write_history(dom, j, MIGRATE_HOP_FAILED, j->persistent);
        goto cleanup;
    }
    j->ok = TRUE;
    read_job_stats(dom, j, "source");
    check_destination(j);

cleanup:
    virTypedParamsFree(params, nparams);
    g_atomic_int_set(&j->done, 1);
    return NULL;
}

/* ---- Following and finishing ------------------------------------------ */

static void abort_job(MigrateJob *j, virConnectPtr conn, const char *why);

static void follow_job(Migrator *m, Conn *conn)
{
    MigrateJob *j = m->job;
    g_autoptr(virDomain) dom = NULL;
    virTypedParameterPtr params = NULL;
    int nparams = 0;
    int type = 0;
    unsigned long long processed = 0;
    unsigned long long remaining = 0;
    unsigned long long iteration = 0;
    double running_s =
        (double)(g_get_monotonic_time() - j->start_us) / G_USEC_PER_SEC;

    if (!conn->conn ||
        !(dom = virDomainLookupByUUIDString(conn->conn, j->uuid)))
        return;
    if (virDomainGetJobStats(dom, &type, &params, &nparams, 0) == 0 &&
        type != VIR_DOMAIN_JOB_NONE) {
        virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_DATA_PROCESSED,
                                &processed);
        virTypedParamsGetULLong(params, nparams, VIR_DOMAIN_JOB_DATA_REMAINING,
                                &remaining);
        virTypedParamsGetULLong(params, nparams,
                                VIR_DOMAIN_JOB_MEMORY_ITERATION, &iteration);
        g_debug("migrating %s to %s: %.1f s, %.0f MiB sent, %.0f MiB left, "
                "pass %llu",
                j->name, j->peer_uri, running_s,
                (double)processed / (1024.0 * 1024.0),
                (double)remaining / (1024.0 * 1024.0), iteration);
    }
    virTypedParamsFree(params, nparams);
    if (running_s > MIGRATE_MAX_S) {
        g_autofree char *why = g_strdup_printf(
            "it has run %.0f s, more than %d s", running_s, MIGRATE_MAX_S);

        abort_job(j, conn->conn, why);
    }
}

/* Aborts the job in flight, once; libvirt then resumes the guest on this
 * host (settle_after_failure checks it).  conn may be NULL: a connection
 * of its own is opened (the daemon's may be closed by then). */
static void abort_job(MigrateJob *j, virConnectPtr conn, const char *why)
{
    g_autoptr(virConnect) own = NULL;
    g_autoptr(virDomain) dom = NULL;

    if (j->aborted)
        return;
    j->aborted = TRUE;
    g_warning("aborting the migration of %s to %s (%s); the guest stays on "
              "this host",
              j->name, j->peer_uri, why);
    if (!conn)
        conn = own = virConnectOpen(j->src_uri);
    dom = conn ? virDomainLookupByUUIDString(conn, j->uuid) : NULL;
    if (!dom || virDomainAbortJob(dom) < 0)
        g_warning("cannot abort the migration of %s: %s", j->name,
                  conn_last_error_message());
}

/* Lets go of a job whose worker is still inside libvirt after its abort:
 * the worker owns it from here, and the process is about to end. */
static void abandon_job(Migrator *m)
{
    g_thread_unref(m->job->thread);
    m->job = NULL;
}

/* Aborts the job in flight and waits up to MIGRATE_STOP_WAIT_S for it to
 * end.  TRUE when it has: the caller then finishes it. */
static gboolean stop_job(Migrator *m, const char *why)
{
    gint64 deadline =
        g_get_monotonic_time() + (gint64)MIGRATE_STOP_WAIT_S * G_USEC_PER_SEC;

    abort_job(m->job, NULL, why);
    while (!g_atomic_int_get(&m->job->done) &&
           g_get_monotonic_time() < deadline)
        g_usleep(G_USEC_PER_SEC / 10);
    if (g_atomic_int_get(&m->job->done))
        return TRUE;
    g_warning("the migration of %s to %s did not end within %d s of its "
              "abort; libvirt still runs it",
              m->job->name, m->job->peer_uri, MIGRATE_STOP_WAIT_S);
    return FALSE;
}

static void finish_job(Migrator *m, const MigrationConfig *cfg)
{
    MigrateJob *j = m->job;
    g_autoptr(JsonBuilder) b = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(Plan) plan = plan_new();
    MigrateAction *a;
    guint64 ticks = 0;
    guint64 new_tsc = 0;
    gboolean predicted = FALSE;

    g_thread_join(j->thread);
    j->thread = NULL;
    m->job = NULL;
    if (cfg)
        migrate_note_done(m->st, cfg, g_get_monotonic_time());

    if (j->ok && j->have_stats)
        predicted = migrate_predict_advance(&j->td, j->guest_hz,
                                            j->downtime_ms * 1000000, &ticks,
                                            &new_tsc, &err);

    b = line_begin(m, j->mode, "result");
    json_add_str(b, "guest", j->name);
    json_add_str(b, "uuid", j->uuid);
    json_add_str(b, "source", j->src_uri);
    json_add_str(b, "peer", j->peer_uri);
    json_add_bool(b, "ok", j->ok);
    json_add_str(b, "error", j->error);
    json_add_double(b, "wall_ms", (double)j->call_us / 1000.0);
    if (j->have_stats) {
        json_add_u64(b, "downtime_ms", j->downtime_ms);
        json_add_u64(b, "elapsed_ms", j->elapsed_ms);
        json_add_u64(b, "setup_ms", j->setup_ms);
        json_add_u64(b, "data_processed_bytes", j->data_processed);
        json_add_u64(b, "memory_iterations", j->iterations);
        json_add_str(b, "stats_from", j->stats_from);
    } else {
        json_add_str(b, "downtime_ms", NULL);
    }
    json_add_u64(b, "guest_hz", j->guest_hz);
    if (predicted) {
        json_add_u64(b, "tsc_advance", ticks);
        if (j->td.known)
            json_add_u64(b, "new_guest_tsc", new_tsc);
    } else {
        json_add_str(b, "tsc_advance", NULL);
    }
    json_add_u64(b, "pinned_hz", j->pin_hz);
    json_add_bool(b, "persistent", j->persistent);
    json_add_bool(b, "history_recorded", j->hops && !j->history_error);
    json_add_str(b, "history_error", j->history_error);
    json_add_bool(b, "aborted", j->aborted);
    json_add_bool(b, "dest_running", j->dest_running);
    json_add_str(b, "dest_state", j->dest_state);
    if (j->ok) {
        if (j->dest_clock_known && j->dest_has_freq)
            json_add_u64(b, "dest_tsc_hz", j->dest_tsc_hz);
        else
            json_add_str(b, "dest_tsc_hz", NULL);
    } else {
        json_add_str(b, "source_state", j->source_state);
        json_add_bool(b, "source_held_paused", j->source_held);
        json_add_bool(b, "dest_paused", j->dest_paused);
    }
    emit(m, cfg, b);
    if (j->source_held)
        g_warning("%s is left paused on this host after its failed "
                  "migration: %s could not be seen not to run it (%s); "
                  "resume it here (virsh resume) only once it is known not "
                  "to run there",
                  j->name, j->peer_uri, j->dest_state);
    if (j->dest_paused)
        g_warning("%s ran on both this host and %s after its failed "
                  "migration; the copy on %s is paused: keep one copy, "
                  "destroy the other",
                  j->name, j->peer_uri, j->peer_uri);

    a = (MigrateAction *)plan_add(plan, &migrate_action, j->uuid, j->name);
    a->peer_uri = g_strdup(j->peer_uri);
    /* What the link gave this job is the next estimate's bandwidth. */
    if (j->ok && j->have_stats && j->elapsed_ms > 0 && j->data_processed > 0)
        m->measured_mib_s = (double)j->data_processed / (1024.0 * 1024.0) /
                            ((double)j->elapsed_ms / 1000.0);
    if (j->ok) {
        action_set_reason(&a->base,
                          "%s; took %.2f s, downtime %" G_GUINT64_FORMAT
                          " ms, predicted guest TSC advance %" G_GUINT64_FORMAT
                          " ticks at %" G_GUINT64_FORMAT " Hz",
                          j->reason, (double)j->call_us / G_USEC_PER_SEC,
                          j->downtime_ms, ticks, j->guest_hz);
        if (!j->have_stats)
            g_warning("migrated %s, but its job stats give no downtime",
                      j->name);
        if (!j->dest_running)
            g_warning("migrated %s, but it is not running on %s (%s)", j->name,
                      j->peer_uri, j->dest_state ? j->dest_state : "unknown");
    } else {
        action_set_reason(&a->base, "%s; the guest is %s on this host",
                          j->reason,
                          j->source_state ? j->source_state : "unknown");
    }
    if (m->on_action)
        m->on_action(m->action_data, &a->base, j->ok, j->error);
    else if (j->ok)
        g_message("migrate %s -> %s: %s", j->name, j->peer_uri, a->base.reason);
    else
        g_warning("migrate %s -> %s failed: %s (%s)", j->name, j->peer_uri,
                  j->error ? j->error : "?", a->base.reason);
    job_free(j);
}

/* ---- Requests --------------------------------------------------------- */

/* The guest's history with a hop from source to the chosen peer, NULL
 * when either host UUID is unknown (a driver without one). */
static GArray *history_with_hop(const MigrateDecision *d,
                                const HostFacts *source)
{
    GArray *hops;
    MigrateHop hop = {.result = MIGRATE_HOP_STARTED};

    if (!source || strlen(source->host_uuid) != 36 ||
        strlen(d->peer->facts.host_uuid) != 36)
        return NULL;
    hops = d->guest->history ? g_array_copy(d->guest->history)
                             : g_array_new(FALSE, TRUE, sizeof(MigrateHop));
    hop.time_s = g_get_real_time() / G_USEC_PER_SEC;
    g_strlcpy(hop.from, source->host_uuid, sizeof(hop.from));
    g_strlcpy(hop.to, d->peer->facts.host_uuid, sizeof(hop.to));
    g_array_append_val(hops, hop);
    return hops;
}

static gboolean start_job(Migrator *m, Conn *conn, const MigrationConfig *cfg,
                          const MigrateDecision *d, const HostFacts *source,
                          const MigrateTimeData *td, char **why)
{
    MigrateJob *j = g_new0(MigrateJob, 1);
    g_autoptr(virDomain) dom = NULL;
    g_autoptr(GError) err = NULL;

    g_strlcpy(j->uuid, d->guest->uuid, sizeof(j->uuid));
    j->name = g_strdup(d->guest->name);
    j->src_uri = g_strdup(conn->uri);
    j->peer_uri = g_strdup(d->peer->uri);
    j->migrate_uri = migrate_uri_for(d->peer->uri);
    j->guest_hz = d->tsc.guest_hz;
    j->td = *td;
    j->reason = g_strdup(d->reason);
    j->mode = cfg->migration_mode;
    j->insecure = cfg->allow_insecure;
    j->hops = history_with_hop(d, source);
    if (!j->hops)
        g_message("%s: no migration history is recorded for this job: a "
                  "host UUID is unknown",
                  j->name);
    if (d->tsc.needs_pin) {
        g_autofree char *xml = NULL;

        dom = virDomainLookupByUUIDString(conn->conn, j->uuid);
        xml = dom ? virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_MIGRATABLE) : NULL;
        if (!xml) {
            *why = g_strdup_printf("cannot read the migratable XML of %s: %s",
                                   j->name, conn_last_error_message());
            job_free(j);
            return FALSE;
        }
        j->dest_xml = hostcaps_pin_tsc_frequency(xml, d->tsc.pin_hz, &err);
        if (!j->dest_xml) {
            *why = g_strdup_printf("cannot pin the TSC frequency of %s: %s",
                                   j->name, err->message);
            job_free(j);
            return FALSE;
        }
        j->pin_hz = d->tsc.pin_hz;
    }
    j->start_us = g_get_monotonic_time();
    m->job = j;
    j->thread = g_thread_new("migrate", job_run, j);
    return TRUE;
}

static void emit_request(Migrator *m, const MigrationConfig *cfg,
                         const char *source_uri, const MigrateTrigger *trig,
                         const MigrateDecision *d, const HostFacts *source,
                         const ClockSync *cs, const MigrateTimeData *td,
                         const char *td_error)
{
    g_autoptr(JsonBuilder) b = line_begin(m, cfg->migration_mode, "request");

    json_add_str(b, "guest", d->guest->name);
    json_add_str(b, "uuid", d->guest->uuid);
    json_add_str(b, "source", source_uri);
    json_add_str(b, "source_host_uuid", source ? source->host_uuid : NULL);
    json_add_str(b, "peer", d->peer->uri);
    json_add_str(b, "peer_host_uuid", d->peer->facts.host_uuid);
    json_add_str(b, "reason", d->reason);
    json_add_bool(b, "encrypted", !cfg->allow_insecure);
    add_trigger(b, trig, cfg);
    json_add_u64(b, "guest_held_kib", d->guest->held_kib);
    json_add_u64(b, "guest_cost_kib", d->guest->cost_kib);
    if (d->guest->cpu_pct >= 0)
        json_add_double(b, "guest_cpu_pct", d->guest->cpu_pct);
    json_add_u64(b, "peer_free_kib", d->peer->free_kib);
    json_add_double(b, "peer_load", migrate_peer_load(d->peer));
    add_estimate(b, d->guest);
    add_tsc(b, d, source, cfg);
    add_clock(b, cs, d);
    add_time_data(b, td, td_error);
    add_refusals(b, d->refusals);
    emit(m, cfg, b);
}

static void emit_no_request(Migrator *m, const MigrationConfig *cfg,
                            const char *source_uri, const MigrateTrigger *trig,
                            const char *reason, const GPtrArray *refusals)
{
    g_autoptr(JsonBuilder) b = line_begin(m, cfg->migration_mode, "no-request");

    json_add_str(b, "source", source_uri);
    json_add_str(b, "reason", reason);
    add_trigger(b, trig, cfg);
    add_refusals(b, refusals);
    emit(m, cfg, b);
}

typedef enum {
    ATTEMPT_REQUESTED,
    ATTEMPT_NOTHING,   /* worth a retry pause */
    ATTEMPT_WAIT,      /* only balloons still moving: again next tick */
    ATTEMPT_PROBING,   /* no request without a peer still being probed */
    ATTEMPT_MEASURING, /* guests' dirty rates are being measured */
} AttemptOutcome;

/* Whether another migration may leave this host now: libvirt's job list
 * shows every one under way, this migrator's, an operator's
 * (migrate_request, virsh migrate) or another daemon's.  Read just before
 * a job starts; two migrators that read it in the same instant can still
 * both start one. */
static gboolean outbound_allows(Conn *conn, const MigrationConfig *cfg,
                                char **why)
{
    g_auto(DomainJobs) jobs = {0};

    domain_jobs_read(conn->conn, &jobs);
    if (jobs.outgoing < cfg->max_outbound)
        return TRUE;
    *why = g_strdup_printf(
        "%u guest%s already leaving this host by migration (%s), and "
        "max_outbound is %u",
        jobs.outgoing, jobs.outgoing == 1 ? " is" : "s are",
        jobs.outgoing_names->str, cfg->max_outbound);
    return FALSE;
}

/* The throughput to expect for g's migration: the last job's here, else
 * the config's, and never more than the cap set on g
 * (virDomainMigrateSetMaxSpeed). */
static double bandwidth_for(Migrator *m, const MigrationConfig *cfg,
                            virDomainPtr dom, const char **from)
{
    double bw =
        m->measured_mib_s > 0 ? m->measured_mib_s : cfg->bandwidth_mib_s;
    unsigned long cap = 0;

    *from = m->measured_mib_s > 0 ? "last-migration" : "config";
    if (virDomainMigrateGetMaxSpeed(dom, &cap, 0) == 0 && cap > 0 &&
        (double)cap < bw) {
        bw = (double)cap;
        *from = "guest-speed-cap";
    }
    return bw;
}

/* Fills g's estimate from its measured dirty rate, starting a measurement
 * when none is fresh.  A guest that would not converge is skipped, but
 * for an operator's request, which only records it. */
static DirtyRateState estimate_guest(Migrator *m, virDomainPtr dom,
                                     const MigrationConfig *cfg,
                                     MigrateGuest *g, gboolean manual,
                                     gint64 now)
{
    g_autofree char *why = NULL;
    ConvergeInput in = {kib_to_mib(g->cost_kib), -1, 0, MIGRATE_MAX_S};
    const char *from = NULL;
    DirtyRateState state;

    if (!dom)
        return DIRTY_RATE_UNKNOWN;
    state = dirty_rates_get(m->dirty, dom, now, &in.dirty_mib_s, &why);
    if (state == DIRTY_RATE_MEASURING)
        return state;
    if (state == DIRTY_RATE_UNKNOWN)
        g_debug("%s: no dirty rate: %s", g->name, why);
    in.bandwidth_mib_s = bandwidth_for(m, cfg, dom, &from);
    converge_estimate_clear(&g->estimate);
    converge_estimate(&in, &g->estimate);
    g->bandwidth_from = from;
    if (g->estimate.known && !g->estimate.converges && !g->skip) {
        if (!manual)
            g->skip = g_strdup(g->estimate.reason);
        else
            g_warning("%s: %s; asked for by name, so it is not skipped (a "
                      "job that does not converge is aborted after %d s)",
                      g->name, g->estimate.reason, MIGRATE_MAX_S);
    }
    return state;
}

/* Whether every listed peer is being probed with nothing known of it yet
 * (none listed: no). */
static gboolean all_peers_awaiting(Migrator *m, const MigrationConfig *cfg,
                                   gint64 now)
{
    guint n = 0;
    guint i;

    for (i = 0; cfg->peers && cfg->peers[i]; i++) {
        g_autofree char *uri = NULL;
        g_autofree char *uuid = NULL;
        g_autofree char *refused = NULL;

        if (!cfg->peers[i][0])
            continue;
        refused = peer_entry_parse(cfg->peers[i], &uri, &uuid);
        if (refused)
            continue;
        if (!peer_probes_awaiting(m->probes, uri, now))
            return FALSE;
        n++;
    }
    return n > 0;
}

/* One attempt: reads the facts, decides, and advises or starts the
 * migration.  only_name limits the candidates to one guest. */
static AttemptOutcome attempt(Migrator *m, Conn *conn,
                              const MigrationConfig *cfg, const Snapshot *snap,
                              const MigrateTrigger *trig, const char *only_name,
                              char **failure)
{
    gint64 now = g_get_monotonic_time();
    g_autoptr(GPtrArray) guests = NULL;
    g_autoptr(GPtrArray) peers =
        g_ptr_array_new_with_free_func((GDestroyNotify)migrate_peer_free);
    g_auto(MigrateDecision) d = {0};
    g_autoptr(GError) err = NULL;
    g_autofree char *trig_text = migrate_trigger_describe(trig, cfg);
    g_autofree char *td_error = NULL;
    g_autofree char *why = NULL;
    HostFacts source = {0};
    gboolean have_source;
    ClockSync cs = {0};
    gboolean have_clock;
    MigrateTimeData td = {0};
    gboolean any = FALSE;
    gboolean probing = FALSE;
    gboolean measuring = FALSE;
    g_autoptr(GPtrArray) doms =
        g_ptr_array_new_with_free_func(domain_free_or_null);
    guint i;

    /* No request can come of an attempt before some peer has answered
     * (up to PEER_PROBE_SILENT_S): the host's and the guests' facts are
     * left unread until then, so those ticks cost no libvirt call. */
    if (all_peers_awaiting(m, cfg, now)) {
        g_debug("no migration request yet (%s): peers are being probed",
                trig_text);
        return ATTEMPT_PROBING;
    }
    /* First, as nothing else matters while this host may not send another
     * guest; read again at each attempt, just before a job would start. */
    if (cfg->migration_mode == MIGRATION_EXECUTE &&
        !outbound_allows(conn, cfg, &why)) {
        g_message("no migration request (%s): %s", trig_text, why);
        emit_no_request(m, cfg, conn->uri, trig, why, NULL);
        *failure = g_steal_pointer(&why);
        return ATTEMPT_NOTHING;
    }
    have_clock = clocksync_read(&cs, &err);
    if (!have_clock)
        g_debug("%s", err->message);
    have_source = source_facts(conn, &source);

    guests = migrate_candidates(m->st, snap, trig, now);
    for (i = 0; i < guests->len;) {
        MigrateGuest *g = g_ptr_array_index(guests, i);

        if (only_name && g_strcmp0(g->name, only_name) != 0) {
            g_ptr_array_remove_index(guests, i);
            continue;
        }
        /* Looked up once per attempt: read here, estimated below. */
        g_ptr_array_add(
            doms,
            g->skip ? NULL : virDomainLookupByUUIDString(conn->conn, g->uuid));
        if (!g->skip)
            read_guest(g_ptr_array_index(doms, i), g);
        /* An operator who names a guest decides for it; the history
         * binds the daemons' own requests. */
        if (!g->skip && trig->kind != MIGRATE_TRIGGER_MANUAL)
            migrate_guest_history_allows(g, cfg);
        any |= g->skip == NULL;
        i++;
    }
    if (only_name && guests->len == 0) {
        *failure = g_strdup_printf("no running guest called %s", only_name);
        return ATTEMPT_NOTHING;
    }
    /* Peers are read only when some guest may move and the clock allows
     * it, so a trigger that cannot lead anywhere costs no connection. */
    if (cfg->migration_mode == MIGRATION_EXECUTE &&
        !clocksync_may_migrate(have_clock ? &cs : NULL,
                               cfg->allow_unsynced_clock, NULL))
        any = FALSE;
    /* QEMU measures a dirty rate over a second: the first attempt starts
     * the measurements, a later tick's uses them. */
    for (i = 0; any && i < guests->len; i++) {
        MigrateGuest *g = g_ptr_array_index(guests, i);

        if (!g->skip && estimate_guest(m, g_ptr_array_index(doms, i), cfg, g,
                                       trig->kind == MIGRATE_TRIGGER_MANUAL,
                                       now) == DIRTY_RATE_MEASURING)
            measuring = TRUE;
    }
    for (i = 0; any && cfg->peers && cfg->peers[i]; i++) {
        g_autofree char *uri = NULL;
        g_autofree char *uuid = NULL;
        g_autofree char *refused = NULL;
        gboolean pending;
        MigratePeer *p;

        if (!cfg->peers[i][0])
            continue;
        /* Refused when the config was read; a peer is never probed
         * under a URI that did not pass. */
        refused = peer_entry_parse(cfg->peers[i], &uri, &uuid);
        if (refused)
            continue;
        p = peer_probes_get(m->probes, uri, now, &pending);
        probing |= pending;
        p->expected_uuid = g_steal_pointer(&uuid);
        g_ptr_array_add(peers, p);
    }
    if (measuring) {
        g_debug("no migration request yet (%s): measuring the guests' dirty "
                "rates",
                trig_text);
        return ATTEMPT_MEASURING;
    }
    migrate_decide(trig, guests, peers, have_source ? &source : NULL,
                   have_clock ? &cs : NULL, cfg, &d);

    if (d.ok)
        take_time_data(d.guest, d.tsc.guest_hz, &td, &td_error);
    /* Every request records why, but the reason is usually the host's
     * (QEMU's /proc entry hidden from an unprivileged service), so the
     * log says it once rather than with every request. */
    if (td_error && !m->told_no_time_data) {
        g_message("migration requests carry no guest time data: %s "
                  "(reported once; each request records its own reason)",
                  td_error);
        m->told_no_time_data = TRUE;
    }

    /* A peer still being probed may be the one that takes the guest: ask
     * again when its answer is in, with nothing refused meanwhile. */
    if (!d.ok && probing) {
        g_debug("no migration request yet (%s): peers are being probed",
                trig_text);
        return ATTEMPT_PROBING;
    }
    if (!d.ok && d.retry_soon && !only_name) {
        g_debug("no migration request yet (%s): %s", trig_text, d.reason);
        return ATTEMPT_WAIT;
    }
    if (!d.ok) {
        g_message("no migration request (%s): %s", trig_text, d.reason);
        for (i = 0; i < d.refusals->len; i++)
            g_message("  %s", (const char *)g_ptr_array_index(d.refusals, i));
        emit_no_request(m, cfg, conn->uri, trig, d.reason, d.refusals);
        *failure = d.refusals->len
                       ? g_strdup_printf("%s: %s", d.reason,
                                         (const char *)g_ptr_array_index(
                                             d.refusals, d.refusals->len - 1))
                       : g_strdup(d.reason);
        return ATTEMPT_NOTHING;
    }
    if (cfg->migration_mode == MIGRATION_EXECUTE &&
        !start_job(m, conn, cfg, &d, have_source ? &source : NULL, &td, &why)) {
        g_warning("no migration request (%s): %s", trig_text, why);
        emit_no_request(m, cfg, conn->uri, trig, why, d.refusals);
        *failure = g_steal_pointer(&why);
        return ATTEMPT_NOTHING;
    }
    emit_request(m, cfg, conn->uri, trig, &d, have_source ? &source : NULL,
                 have_clock ? &cs : NULL, &td, td_error);
    /* At every request, not once: an operator reading any of them must
     * see that this one crossed the network in clear. */
    if (cfg->migration_mode == MIGRATION_EXECUTE && cfg->allow_insecure)
        g_warning("migration of %s to %s is not encrypted "
                  "(allow_insecure=true): its memory crosses the network in "
                  "clear",
                  d.guest->name, d.peer->uri);
    g_message("migration request (%s) %s -> %s: %s; %s",
              migration_mode_name(cfg->migration_mode), d.guest->name,
              d.peer->uri, trig_text, d.reason);
    migrate_note_request(m->st, d.guest->uuid,
                         cfg->migration_mode == MIGRATION_EXECUTE, cfg, now);
    m->requests++;
    return ATTEMPT_REQUESTED;
}

/* Actions on a guest under a migration job would wait for the job, and
 * then act on a guest that has left. */
static void hold_back_actions(Migrator *m, Plan *plan)
{
    guint i;
    guint held = 0;

    if (!m->job || !plan)
        return;
    for (i = plan_len(plan); i > 0; i--) {
        if (g_strcmp0(plan_get(plan, i - 1)->uuid, m->job->uuid) == 0) {
            plan_remove(plan, i - 1);
            held++;
        }
    }
    if (held)
        g_debug("held back %u actions on %s: it is being migrated", held,
                m->job->name);
}

/* The role belongs to the libvirt host the daemon manages, which --uri
 * may put on another machine, and one machine may run several libvirt
 * hosts (the test host's peers do): so its name carries the host's UUID,
 * read once per connection.  Until that is known, the name without it
 * stands for the whole machine. */
static void name_role(Migrator *m, Conn *conn)
{
    HostFacts facts = {0};
    g_autofree char *name = NULL;

    if (!conn->conn || m->role_generation == conn->generation)
        return;
    /* Asked once per connection.  Capabilities that cannot be read keep
     * the name the role has: at first the machine-wide one, which errs on
     * the side of deferring. */
    m->role_generation = conn->generation;
    if (!source_facts(conn, &facts))
        return;
    name = migrator_role_name(facts.host_uuid);
    if (g_strcmp0(migrator_lock_name(m->role), name) == 0)
        return;
    migrator_lock_free(m->role);
    m->role = migrator_lock_new(name);
}

/* Whether this daemon makes the host's requests; says so when that
 * changes. */
static gboolean holds_role(Migrator *m, Conn *conn)
{
    g_autofree char *holder = NULL;

    name_role(m, conn);

    if (migrator_lock_take(m->role, &holder)) {
        if (m->deferring)
            g_message("migration requests: this daemon now makes them for "
                      "this host (the migrator it deferred to is gone)");
        m->deferring = FALSE;
        return TRUE;
    }
    if (!m->deferring)
        g_message("migration requests: deferring to this host's migrator, "
                  "%s (one migrator per host; this daemon takes over when "
                  "it stops)",
                  holder);
    m->deferring = TRUE;
    return FALSE;
}

void migrator_tick(Migrator *m, Conn *conn, const MigrationConfig *cfg,
                   const Snapshot *snap, Plan *plan)
{
    MigrateTrigger trig = {0};
    g_autofree char *failure = NULL;

    if (cfg->migration_mode == MIGRATION_OFF && !m->job) {
        migrator_lock_release(m->role);
        m->deferring = FALSE;
        return;
    }
    if (m->job) {
        if (g_atomic_int_get(&m->job->done))
            finish_job(m, cfg);
        else
            follow_job(m, conn);
    }
    /* A job of ours still runs even if the role went elsewhere (it was
     * switched off and on): it is followed above, and no new one starts. */
    if (cfg->migration_mode != MIGRATION_OFF && !holds_role(m, conn)) {
        hold_back_actions(m, plan);
        return;
    }
    if (migrate_observe(m->st, snap, plan, cfg, &trig) && conn->conn &&
        attempt(m, conn, cfg, snap, &trig, NULL, &failure) == ATTEMPT_NOTHING)
        migrate_note_fruitless(m->st, g_get_monotonic_time());
    hold_back_actions(m, plan);
}

gboolean migrator_request_named(Migrator *m, Conn *conn,
                                const MigrationConfig *cfg, const char *name,
                                QuitGuard *stop, GError **error)
{
    MigrateTrigger trig = {.kind = MIGRATE_TRIGGER_MANUAL};
    g_autoptr(Snapshot) snap = NULL;
    g_autofree char *failure = NULL;
    AttemptOutcome outcome;
    gboolean ok;
    guint n;

    if (m->job) {
        g_set_error(error, MIGRATE_ERROR, MIGRATE_ERROR_BUSY,
                    "a migration is already in flight");
        return FALSE;
    }
    snap = snapshot_collect(conn, COLLECT_BALLOON, error);
    if (!snap)
        return FALSE;
    /* An operator asking by name may wait for the peers' answers, which
     * are in within PEER_PROBE_SILENT_S or count as none. */
    for (n = 0;; n++) {
        outcome = attempt(m, conn, cfg, snap, &trig, name, &failure);
        if (outcome != ATTEMPT_PROBING && outcome != ATTEMPT_MEASURING)
            break;
        if (n == 0)
            g_message("waiting for the migration peers to answer and the "
                      "guest's dirty rate (at most %d s)",
                      MAX(PEER_PROBE_SILENT_S, DIRTY_RATE_GIVE_UP_S));
        if (stop && quit_guard_requested(stop)) {
            g_set_error(error, MIGRATE_ERROR, MIGRATE_ERROR_REFUSED,
                        "stopped while the peers were being probed");
            return FALSE;
        }
        g_usleep(G_USEC_PER_SEC / 5);
    }
    if (outcome != ATTEMPT_REQUESTED) {
        g_set_error(error, MIGRATE_ERROR, MIGRATE_ERROR_REFUSED, "%s", failure);
        return FALSE;
    }
    if (!m->job)
        return TRUE;
    for (n = 0; !g_atomic_int_get(&m->job->done); n++) {
        if (stop && quit_guard_requested(stop)) {
            if (!stop_job(m, "a stop was asked for")) {
                g_set_error(error, MIGRATE_ERROR, MIGRATE_ERROR_FAILED,
                            "the migration of %s did not end within %d s "
                            "of its abort",
                            name, MIGRATE_STOP_WAIT_S);
                abandon_job(m);
                return FALSE;
            }
            break;
        }
        /* Progress every half second; a stop is seen within 0.1 s. */
        if (n % 5 == 0)
            follow_job(m, conn);
        g_usleep(G_USEC_PER_SEC / 10);
    }
    ok = m->job->ok;
    if (!ok)
        g_set_error(error, MIGRATE_ERROR, MIGRATE_ERROR_FAILED,
                    "migration of %s failed: %s", name,
                    m->job->error ? m->job->error : "unknown error");
    finish_job(m, cfg);
    return ok;
}

void migrator_free(Migrator *m)
{
    if (!m)
        return;
    /* A stopping daemon or tool does not leave a job behind: libvirt
     * would go on with it, unwatched and unrecorded. */
    if (m->job) {
        if (g_atomic_int_get(&m->job->done) || stop_job(m, "stopping"))
            finish_job(m, NULL);
        else
            abandon_job(m);
    }
    migrate_state_free(m->st);
    peer_probes_free(m->probes);
    dirty_rates_free(m->dirty);
    migrator_lock_free(m->role);
    if (m->log && m->log != stdout)
        fclose(m->log);
    g_free(m->log_path);
    g_free(m->daemon);
    g_free(m);
}

guint64 migrator_requests(const Migrator *m)
{
    return m->requests;
}
