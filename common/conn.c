#include "conn.h"

#include <errno.h>

GQuark conn_error_quark(void)
{
    return g_quark_from_static_string("aos-conn-error-quark");
}

#define BACKOFF_FIRST_US (G_USEC_PER_SEC / 2)
#define BACKOFF_MAX_US ((gint64)30 * G_USEC_PER_SEC)

/* libvirt prints every error on stderr unless a handler is installed;
 * we fetch errors ourselves with virGetLastError where they matter. */
static void quiet_error_handler(void *opaque, virErrorPtr err)
{
}

Conn *conn_new(const char *uri, gboolean readonly)
{
    Conn *c = g_new0(Conn, 1);

    virSetErrorFunc(NULL, quiet_error_handler);
    c->uri = g_strdup(uri);
    c->readonly = readonly;
    c->backoff_us = BACKOFF_FIRST_US;
    c->max_backoff_us = BACKOFF_MAX_US;
    c->affinity = affinity_cache_new();
    return c;
}

void conn_drop(Conn *c)
{
    /* Its event callbacks go before the connection they belong to. */
    if (c->affinity)
        affinity_cache_unwatch(c->affinity);
    if (c->conn) {
        virConnectClose(c->conn);
        c->conn = NULL;
    }
}

void conn_forget_definitions(Conn *c)
{
    if (c && c->definitions)
        g_hash_table_remove_all(c->definitions);
}

void conn_forget_affinity(Conn *c, const char *uuid, const char *why)
{
    if (c && c->affinity)
        affinity_cache_forget(c->affinity, uuid, why);
}

void conn_place_by(Conn *c, AffinityGroupFunc fn, gconstpointer data)
{
    affinity_cache_set_groups(c->affinity, fn, data);
}

void conn_free(Conn *c)
{
    if (!c)
        return;
    conn_drop(c);
    affinity_cache_unref(c->affinity);
    topology_unref(c->topology);
    g_free(c->topology_problem);
    if (c->definitions)
        g_hash_table_unref(c->definitions);
    g_free(c->uri);
    g_free(c->last_error);
    g_free(c);
}

const char *conn_last_error_message(void)
{
    virErrorPtr err = virGetLastError();

    return err && err->message ? err->message : "unknown libvirt error";
}

int conn_last_error_code(void)
{
    virErrorPtr err = virGetLastError();

    return err ? err->code : VIR_ERR_OK;
}

gboolean conn_error_is_vanished_domain(int code)
{
    return code == VIR_ERR_NO_DOMAIN || code == VIR_ERR_OPERATION_INVALID;
}

gboolean conn_error_is_connection_lost(int code)
{
    return code == VIR_ERR_SYSTEM_ERROR || code == VIR_ERR_RPC ||
           code == VIR_ERR_NO_CONNECT || code == VIR_ERR_INVALID_CONN ||
           code == VIR_ERR_AUTH_FAILED;
}

/* A refusal because of who we are deserves saying so: the daemons run as
 * an unprivileged user that libvirtd admits through its group. */
static void set_open_error(const Conn *c, GError **error)
{
    virErrorPtr err = virGetLastError();
    const char *user = g_get_user_name();

    if (err && err->code == VIR_ERR_SYSTEM_ERROR &&
        (err->int1 == EACCES || err->int1 == EPERM))
        g_set_error(error, CONN_ERROR, CONN_ERROR_UNREACHABLE,
                    "cannot connect to %s: %s (user %s may not use libvirtd's "
                    "socket: make it a member of the socket's group, libvirt "
                    "on Debian, as the package does for the user aos)",
                    c->uri, c->last_error, user);
    else if (err && (err->code == VIR_ERR_AUTH_FAILED ||
                     err->code == VIR_ERR_AUTH_UNAVAILABLE))
        g_set_error(error, CONN_ERROR, CONN_ERROR_UNREACHABLE,
                    "cannot connect to %s: %s (libvirtd did not admit user %s: "
                    "Debian's libvirt admits members of the group libvirt)",
                    c->uri, c->last_error, user);
    else
        g_set_error(error, CONN_ERROR, CONN_ERROR_UNREACHABLE,
                    "cannot connect to %s: %s", c->uri, c->last_error);
}

gboolean conn_open_now(Conn *c, GError **error)
{
    virConnectPtr conn;

    conn_drop(c);
    conn =
        c->readonly ? virConnectOpenReadOnly(c->uri) : virConnectOpen(c->uri);
    if (!conn) {
        g_free(c->last_error);
        c->last_error = g_strdup(conn_last_error_message());
        set_open_error(c, error);
        return FALSE;
    }
    virConnSetErrorFunc(conn, NULL, quiet_error_handler);
    c->conn = conn;
    c->generation++;
    /* A libvirtd restarted for an upgrade may report other fields. */
    c->memprobe.nparams = 0;
    return TRUE;
}

gboolean conn_check_lost(Conn *c)
{
    if (!c->conn || virConnectIsAlive(c->conn) == 1)
        return FALSE;
    conn_drop(c);
    if (complaint_should_log(&c->outage, g_get_monotonic_time()))
        g_warning("lost connection to %s", c->uri);
    c->next_attempt_us = 0;
    return TRUE;
}

virConnectPtr conn_get(Conn *c, GError **error)
{
    gint64 now;
    g_autoptr(GError) err = NULL;

    conn_check_lost(c);
    if (c->conn)
        return c->conn;
    now = g_get_monotonic_time();
    if (now < c->next_attempt_us) {
        g_set_error(error, CONN_ERROR, CONN_ERROR_BACKOFF,
                    "waiting to reconnect to %s", c->uri);
        return NULL;
    }
    if (!conn_open_now(c, &err)) {
        if (complaint_should_log(&c->outage, now))
            g_warning("%s; retrying with backoff", err->message);
        c->next_attempt_us = now + c->backoff_us;
        c->backoff_us = MIN(c->backoff_us * 2, c->max_backoff_us);
        g_propagate_error(error, g_steal_pointer(&err));
        return NULL;
    }
    if (complaint_release(&c->outage))
        g_message("recovered connection to %s", c->uri);
    c->backoff_us = BACKOFF_FIRST_US;
    c->bulk_unsupported = FALSE;
    c->cpumap_unsupported = FALSE;
    return c->conn;
}
