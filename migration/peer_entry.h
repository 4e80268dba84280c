/* One entry of [migration] peers: a libvirt URI, optionally followed by
 * "=" and the host UUID the peer's capabilities must show
 * ("qemu+tls://b.example/system=4c4c4544-0042-...").  The text after the
 * last "=" is the UUID when it reads as one; otherwise the whole entry is
 * the URI. */
#pragma once

#include <glib.h>

/* Splits entry into *uri and *uuid (lower case, NULL when the entry names
 * none).  NULL on success, else why the entry is refused (to be freed):
 * not a URI, or a URI that turns off the peer's certificate check
 * (no_verify), which would let any host that answers on the address
 * receive a guest's memory. */
char *peer_entry_parse(const char *entry, char **uri,
                       char **uuid) G_GNUC_WARN_UNUSED_RESULT;

/* Whether libvirt reaches the peer at uri over plain TCP ("qemu+tcp://"):
 * a session nothing encrypts nor authenticates.  TLS (no transport, or
 * "+tls"), SSH and local transports are not. */
gboolean peer_uri_in_clear(const char *uri);
