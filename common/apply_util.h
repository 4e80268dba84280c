/* Small helpers the apply steps share. */
#pragma once

#include "conn.h"
#include "plan.h"

/* Looks a plan's domain up by UUID.  NULL when it vanished (logged at
 * debug level only: guests come and go) or on another error. */
virDomainPtr apply_lookup_domain(Conn *c, const Action *a, gboolean *vanished);
