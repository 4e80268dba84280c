#include "peer_entry.h"

#include <string.h>

/* no_verify in the query, with any value: libvirt skips the check of the
 * server's certificate when it is present and not 0, and an operator who
 * wrote it at all meant to. */
static gboolean skips_verification(GUri *u)
{
    const char *query = g_uri_get_query(u);
    g_autoptr(GHashTable) params = NULL;

    if (!query)
        return FALSE;
    params = g_uri_parse_params(query, -1, "&;", G_URI_PARAMS_CASE_INSENSITIVE,
                                NULL);
    return params && g_hash_table_contains(params, "no_verify");
}

gboolean peer_uri_in_clear(const char *uri)
{
    /* Lower case: libvirt reads "QEMU+TCP" as qemu+tcp too. */
    const char *scheme = g_uri_peek_scheme(uri); /* interned */

    return scheme && g_str_has_suffix(scheme, "+tcp");
}

char *peer_entry_parse(const char *entry, char **uri, char **uuid)
{
    const char *eq = strrchr(entry, '=');
    g_autofree char *u = NULL;
    g_autofree char *id = NULL;
    g_autoptr(GUri) parsed = NULL;
    g_autoptr(GError) err = NULL;

    *uri = NULL;
    *uuid = NULL;
    if (eq && g_uuid_string_is_valid(eq + 1)) {
        u = g_strndup(entry, (gsize)(eq - entry));
        id = g_ascii_strdown(eq + 1, -1);
    } else {
        u = g_strdup(entry);
    }
    g_strstrip(u);
    if (!u[0])
        return g_strdup("no URI");
    parsed = g_uri_parse(u, G_URI_FLAGS_ENCODED_QUERY, &err);
    if (!parsed)
        return g_strdup_printf("not a URI: %s", err->message);
    if (skips_verification(parsed))
        return g_strdup("no_verify turns off the check of the peer's "
                        "certificate, so any host answering on that address "
                        "would receive the guest's memory");
    *uri = g_steal_pointer(&u);
    *uuid = g_steal_pointer(&id);
    return NULL;
}
