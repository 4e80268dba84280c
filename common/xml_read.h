/* Reading the XML libvirt hands out (capabilities, domain definitions)
 * with libxml2: no network, no entities, nothing printed on stderr, and
 * the error, if any, for the caller to report. */
#pragma once

#include <glib.h>

#include "xml_autoptr.h"

#define XML_READ_ERROR (xml_read_error_quark())
GQuark xml_read_error_quark(void);
typedef enum {
    XML_READ_ERROR_PARSE, /* empty, too large or not well-formed */
    XML_READ_ERROR_ROOT,  /* another document than the one expected */
} XmlReadError;

/* The document in xml, whose root element must be called root.  The
 * messages start with "XML", for the caller to say whose: "capabilities
 * XML is malformed at line 3: ...". */
xmlDoc *xml_read_doc(const char *xml, const char *root,
                     GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* The nodes expr selects; NULL when it selects none. */
xmlXPathObject *xml_nodes(xmlXPathContext *x, const char *expr);

/* The value of attribute name (no namespace), or NULL. */
char *xml_attr(xmlNode *node, const char *name);
