#include "migration_config.h"

#include <stddef.h>

#include "peer_entry.h"

static const char *const migration_mode_names[] = {"off", "advise", "execute",
                                                   NULL};

#define MK(k, t, f, lo, hi)                                                    \
    CONFIG_KEY("migration", k, t, MigrationConfig, f, lo, hi)

static const ConfigKey migration_keys[] = {
    {.group = "migration",
     .key = "mode",
     .type = CONFIG_ENUM,
     .offset = offsetof(MigrationConfig, migration_mode),
     .names = migration_mode_names,
     .expected = "off, advise or execute"},
    MK("peers", CONFIG_STRLIST, peers, 0, 0),
    MK("trigger_ticks", CONFIG_UINT, trigger_ticks, 1, 10000),
    MK("cooldown_s", CONFIG_UINT, cooldown_s, 0, 86400),
    MK("overload_util", CONFIG_DOUBLE, overload_util, 1, 100),
    MK("allow_unknown_tsc", CONFIG_BOOL, allow_unknown_tsc, 0, 0),
    MK("allow_unsynced_clock", CONFIG_BOOL, allow_unsynced_clock, 0, 0),
    MK("allow_insecure", CONFIG_BOOL, allow_insecure, 0, 0),
    MK("tsc_tolerance_ppm", CONFIG_DOUBLE, tsc_tolerance_ppm, 1, 100000),
    MK("advise_log", CONFIG_STRING, advise_log, 0, 0),
    MK("max_outbound", CONFIG_UINT, max_outbound, 1, 16),
    MK("max_inbound", CONFIG_UINT, max_inbound, 1, 16),
    MK("bandwidth_mib_s", CONFIG_DOUBLE, bandwidth_mib_s, 1, 1000000),
    {NULL},
};

const char *migration_mode_name(MigrationMode m)
{
    return (guint)m < G_N_ELEMENTS(migration_mode_names) - 1
               ? migration_mode_names[m]
               : "?";
}

static void migration_defaults(gpointer part)
{
    *(MigrationConfig *)part = (MigrationConfig){
        .migration_mode = MIGRATION_OFF,
        .trigger_ticks = 5,
        .cooldown_s = 300,
        .overload_util = 90.0,
        .tsc_tolerance_ppm = 250.0,
        .host_reserve_mib = 200,
        /* One at a time each way: two live migrations share the link and
         * each converges more slowly, which lengthens both blackouts. */
        .max_outbound = 1,
        .max_inbound = 1,
        /* About what a 1 Gbit/s link carries. */
        .bandwidth_mib_s = 100,
    };
}

/* Every peer entry a URI (peer_entry.h) listed once; in execute mode each
 * names the host UUID its capabilities must show, so that a guest's
 * memory goes only to the host the operator meant. */
static gboolean peers_valid(const MigrationConfig *m, GError **error)
{
    g_autoptr(GHashTable) seen =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    guint i;

    for (i = 0; m->peers && m->peers[i]; i++) {
        g_autofree char *uri = NULL;
        g_autofree char *uuid = NULL;
        g_autofree char *why = NULL;

        if (!m->peers[i][0])
            continue;
        why = peer_entry_parse(m->peers[i], &uri, &uuid);
        if (why) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                        "[migration] peers: '%s': %s", m->peers[i], why);
            return FALSE;
        }
        if (m->migration_mode == MIGRATION_EXECUTE && !m->allow_insecure &&
            peer_uri_in_clear(uri)) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                        "[migration] peers: '%s' is reached over plain TCP, "
                        "and mode=execute would send guests' memory to it "
                        "unencrypted, to a host nothing authenticates: use "
                        "qemu+tls:// with certificates (migrate_request(8), "
                        "TLS), or set allow_insecure=true to accept that",
                        m->peers[i]);
            return FALSE;
        }
        if (!g_hash_table_add(seen, g_steal_pointer(&uri))) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                        "[migration] peers: '%s' is listed twice", m->peers[i]);
            return FALSE;
        }
        if (!uuid && m->migration_mode == MIGRATION_EXECUTE) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                        "[migration] peers: '%s' names no host UUID, which "
                        "mode=execute needs: write it as URI=UUID, the UUID "
                        "being the <host><uuid> of the peer's `virsh "
                        "capabilities`",
                        m->peers[i]);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean migration_validate(gconstpointer part, GError **error)
{
    const MigrationConfig *m = part;

    if (m->migration_mode != MIGRATION_OFF && (!m->peers || !m->peers[0])) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                    "migration mode %s needs at least one peer in [migration] "
                    "peers",
                    migration_mode_name(m->migration_mode));
        return FALSE;
    }
    return peers_valid(m, error);
}

const ConfigPart migration_config_part = {
    .keys = migration_keys,
    .defaults = migration_defaults,
    .validate = migration_validate,
};

const CliOption migration_cli_options[] = {
    {"migration", 0, "migration", "mode",
     "migration requests: off, advise or execute", "MODE", FALSE},
    {"peer", 0, "migration", "peers",
     "libvirt URI of a migration peer, =UUID its host UUID (repeatable; "
     "execute mode needs the UUID)",
     "URI[=UUID]", TRUE},
    {NULL},
};
