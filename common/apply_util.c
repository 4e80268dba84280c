#include "apply_util.h"

virDomainPtr apply_lookup_domain(Conn *c, const Action *a, gboolean *vanished)
{
    virDomainPtr dom;

    *vanished = FALSE;
    if (!c->conn)
        return NULL;
    dom = virDomainLookupByUUIDString(c->conn, a->uuid);
    if (!dom && conn_error_is_vanished_domain(conn_last_error_code())) {
        g_debug("%s vanished before its action; dropped", a->name);
        *vanished = TRUE;
    }
    return dom;
}
