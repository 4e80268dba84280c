#include "dirty_rate.h"

#include <libvirt/virterror.h>

typedef struct {
    gint64 started_us; /* of the measurement under way, or 0 */
    gint64 known_us;   /* when rate or error was learnt, or 0 */
    double rate;
    char *error;
} Entry;

struct DirtyRates {
    GHashTable *entries; /* domain UUID -> Entry */
};

static void entry_free(gpointer data)
{
    Entry *e = data;

    g_free(e->error);
    g_free(e);
}

DirtyRates *dirty_rates_new(void)
{
    DirtyRates *dr = g_new0(DirtyRates, 1);

    dr->entries =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, entry_free);
    return dr;
}

void dirty_rates_free(DirtyRates *dr)
{
    if (!dr)
        return;
    g_hash_table_unref(dr->entries);
    g_free(dr);
}

static const char *last_error(void)
{
    const virError *err = virGetLastError();

    return err && err->message ? err->message : "unknown libvirt error";
}

static void learn_error(Entry *e, gint64 now_us, char *error)
{
    g_free(e->error);
    e->error = error;
    e->known_us = now_us;
    e->started_us = 0;
}

/* The result of the measurement under way: TRUE when it is in (rate or
 * error learnt), FALSE while QEMU still measures. */
static gboolean read_result(Entry *e, virDomainPtr dom, gint64 now_us)
{
    virDomainPtr doms[] = {dom, NULL};
    virDomainStatsRecordPtr *records = NULL;
    int status = -1;
    long long mb_s = -1;
    int n;

    n = virDomainListGetStats(doms, VIR_DOMAIN_STATS_DIRTYRATE, &records, 0);
    if (n < 0) {
        learn_error(e, now_us, g_strdup(last_error()));
        return TRUE;
    }
    if (n > 0) {
        virTypedParamsGetInt(records[0]->params, records[0]->nparams,
                             "dirtyrate.calc_status", &status);
        virTypedParamsGetLLong(records[0]->params, records[0]->nparams,
                               "dirtyrate.megabytes_per_second", &mb_s);
    }
    virDomainStatsRecordListFree(records);
    if (status == VIR_DOMAIN_DIRTYRATE_MEASURED && mb_s >= 0) {
        g_clear_pointer(&e->error, g_free);
        /* QEMU counts in MiB (its "MB" is 2^20 bytes). */
        e->rate = (double)mb_s;
        e->known_us = now_us;
        e->started_us = 0;
        return TRUE;
    }
    if (now_us - e->started_us >=
        (gint64)DIRTY_RATE_GIVE_UP_S * G_USEC_PER_SEC) {
        learn_error(e, now_us,
                    g_strdup_printf("no dirty rate %d s after the measurement "
                                    "started (status %d)",
                                    DIRTY_RATE_GIVE_UP_S, status));
        return TRUE;
    }
    return FALSE;
}

/* An entry neither measured nor asked for in ten freshness periods: its
 * guest is most likely gone. */
static gboolean stale(gpointer key, gpointer value, gpointer now)
{
    const Entry *e = value;
    gint64 last = MAX(e->started_us, e->known_us);

    return *(const gint64 *)now - last >
           (gint64)DIRTY_RATE_FRESH_S * 10 * G_USEC_PER_SEC;
}

DirtyRateState dirty_rates_get(DirtyRates *dr, virDomainPtr dom, gint64 now_us,
                               double *mib_s, char **why)
{
    char uuid[VIR_UUID_STRING_BUFLEN];
    Entry *e;

    *why = NULL;
    g_hash_table_foreach_remove(dr->entries, stale, &now_us);
    if (virDomainGetUUIDString(dom, uuid) < 0) {
        *why = g_strdup(last_error());
        return DIRTY_RATE_UNKNOWN;
    }
    e = g_hash_table_lookup(dr->entries, uuid);
    if (!e) {
        e = g_new0(Entry, 1);
        g_hash_table_insert(dr->entries, g_strdup(uuid), e);
    }
    if (e->started_us &&
        (now_us - e->started_us < (gint64)DIRTY_RATE_CALC_S * G_USEC_PER_SEC ||
         !read_result(e, dom, now_us)))
        return DIRTY_RATE_MEASURING;
    if (e->known_us &&
        now_us - e->known_us < (gint64)DIRTY_RATE_FRESH_S * G_USEC_PER_SEC) {
        if (e->error) {
            *why = g_strdup(e->error);
            return DIRTY_RATE_UNKNOWN;
        }
        *mib_s = e->rate;
        return DIRTY_RATE_KNOWN;
    }
    /* Page sampling (QEMU's default): it hashes a sample of pages, so it
     * sees pages whose content changed.  Not the dirty-bitmap mode, which
     * would count every write as pre-copy does: on this host's QEMU 7.2
     * under TCG a 1 s dirty-bitmap measurement made the guest's QEMU
     * crash. */
    if (virDomainStartDirtyRateCalc(dom, DIRTY_RATE_CALC_S, 0) < 0) {
        learn_error(e, now_us, g_strdup(last_error()));
        *why = g_strdup(e->error);
        return DIRTY_RATE_UNKNOWN;
    }
    e->started_us = now_us;
    return DIRTY_RATE_MEASURING;
}
