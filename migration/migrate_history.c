#include "migrate_history.h"

#include <math.h>
#include <string.h>

#include "xml_read.h"

static const char *const result_names[] = {"started", "done", "failed"};

static gboolean read_hop(xmlNode *n, MigrateHop *hop, GError **error)
{
    g_autofree char *time = xml_attr(n, "time");
    g_autofree char *from = xml_attr(n, "from");
    g_autofree char *to = xml_attr(n, "to");
    g_autofree char *result = xml_attr(n, "result");
    g_autofree char *job = xml_attr(n, "job_s");
    g_autoptr(GDateTime) t = NULL;
    guint i;

    memset(hop, 0, sizeof(*hop));
    t = time ? g_date_time_new_from_iso8601(time, NULL) : NULL;
    if (!t || !from || !to || strlen(from) != 36 || strlen(to) != 36) {
        g_set_error(error, XML_READ_ERROR, XML_READ_ERROR_PARSE,
                    "migration history entry without a time, or without "
                    "the UUIDs of its hosts (time '%s', from '%s', to '%s')",
                    time ? time : "", from ? from : "", to ? to : "");
        return FALSE;
    }
    hop->time_s = g_date_time_to_unix(t);
    g_strlcpy(hop->from, from, sizeof(hop->from));
    g_strlcpy(hop->to, to, sizeof(hop->to));
    hop->result = MIGRATE_HOP_STARTED;
    for (i = 0; result && i < G_N_ELEMENTS(result_names); i++)
        if (strcmp(result, result_names[i]) == 0)
            hop->result = (MigrateHopResult)i;
    if (job) {
        char *end = NULL;

        hop->job_s = g_ascii_strtod(job, &end);
        if (!end || *end || !isfinite(hop->job_s) || hop->job_s < 0)
            hop->job_s = 0;
    }
    return TRUE;
}

GArray *migrate_history_from_domain_xml(const char *xml, GError **error)
{
    g_autoptr(GArray) hops = g_array_new(FALSE, TRUE, sizeof(MigrateHop));
    g_autoptr(xmlDoc) doc = xml_read_doc(xml, "domain", error);
    g_autoptr(xmlXPathContext) x = NULL;
    g_autoptr(xmlXPathObject) o = NULL;
    int i;

    if (!doc)
        return NULL;
    x = xmlXPathNewContext(doc);
    if (!x) {
        g_set_error(error, XML_READ_ERROR, XML_READ_ERROR_PARSE,
                    "cannot allocate an XPath context");
        return NULL;
    }
    o = xml_nodes(x, "/domain/metadata/*[local-name()='migrations' and "
                     "namespace-uri()='" MIGRATE_HISTORY_NS
                     "']/*[local-name()='migration']");
    for (i = 0; o && i < o->nodesetval->nodeNr; i++) {
        MigrateHop hop;

        if (!read_hop(o->nodesetval->nodeTab[i], &hop, error))
            return NULL;
        g_array_append_val(hops, hop);
    }
    return g_steal_pointer(&hops);
}

char *migrate_history_element(const GArray *hops)
{
    GString *s = g_string_new("<migrations>");
    guint first =
        hops->len > MIGRATE_HISTORY_KEEP ? hops->len - MIGRATE_HISTORY_KEEP : 0;
    guint i;

    for (i = first; i < hops->len; i++) {
        const MigrateHop *h = &g_array_index(hops, MigrateHop, i);
        g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(h->time_s);
        g_autofree char *when = g_date_time_format(t, "%Y-%m-%dT%H:%M:%SZ");
        char job[G_ASCII_DTOSTR_BUF_SIZE];

        g_ascii_formatd(job, sizeof(job), "%.1f", h->job_s);
        g_string_append_printf(s,
                               "<migration time='%s' from='%s' to='%s' "
                               "result='%s' job_s='%s'/>",
                               when, h->from, h->to, result_names[h->result],
                               job);
    }
    g_string_append(s, "</migrations>");
    return g_string_free(s, FALSE);
}

gint64 migrate_history_wait_s(const GArray *hops, gint64 now_s, guint base_s,
                              const char *to_uuid, char **why)
{
    const MigrateHop *last = NULL;
    guint recent = 0;
    gint64 wait_s;
    gint64 left;
    guint i;

    *why = NULL;
    for (i = 0; hops && i < hops->len; i++) {
        const MigrateHop *h = &g_array_index(hops, MigrateHop, i);

        /* A failed job left the guest where it was: the daemon's own
         * retry pause covers it. */
        if (h->result == MIGRATE_HOP_FAILED ||
            now_s - h->time_s >= MIGRATE_HISTORY_WINDOW_S)
            continue;
        recent++;
        if (!last || h->time_s >= last->time_s)
            last = h;
    }
    if (!last)
        return 0;
    wait_s = MAX((gint64)base_s, (gint64)ceil(last->job_s));
    for (i = 1; i < recent && wait_s < MIGRATE_HISTORY_WINDOW_S; i++)
        wait_s *= 2;
    wait_s = MIN(wait_s, MIGRATE_HISTORY_WINDOW_S);
    left = last->time_s + wait_s - now_s;
    if (left > 0) {
        *why = g_strdup_printf(
            "it was migrated %u time%s in the last 24 h, the last "
            "%" G_GINT64_FORMAT
            " s ago (from %s to %s): it waits %" G_GINT64_FORMAT
            " s after that, %" G_GINT64_FORMAT " s more",
            recent, recent == 1 ? "" : "s", now_s - last->time_s, last->from,
            last->to, wait_s, left);
        return left;
    }
    left = last->time_s + MIN(2 * wait_s, MIGRATE_HISTORY_WINDOW_S) - now_s;
    if (to_uuid && strcmp(to_uuid, last->from) == 0 && left > 0) {
        *why = g_strdup_printf(
            "it came from host %s %" G_GINT64_FORMAT
            " s ago and is not sent back there for %" G_GINT64_FORMAT
            " s more (twice its wait of %" G_GINT64_FORMAT " s)",
            last->from, now_s - last->time_s, left, wait_s);
        return left;
    }
    return 0;
}
