#include "xml_read.h"

#include <string.h>

GQuark xml_read_error_quark(void)
{
    return g_quark_from_static_string("aos-xml-read-error-quark");
}

xmlDoc *xml_read_doc(const char *xml, const char *root, GError **error)
{
    g_autoptr(xmlParserCtxt) pctxt = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    size_t len = xml ? strlen(xml) : 0;
    xmlNode *top;

    if (len == 0 || len > G_MAXINT) {
        if (len)
            g_set_error(error, XML_READ_ERROR, XML_READ_ERROR_PARSE,
                        "XML is too large (%zu bytes)", len);
        else
            g_set_error(error, XML_READ_ERROR, XML_READ_ERROR_PARSE,
                        "XML is empty");
        return NULL;
    }
    pctxt = xmlNewParserCtxt();
    if (!pctxt) {
        g_set_error(error, XML_READ_ERROR, XML_READ_ERROR_PARSE,
                    "XML parser could not be allocated");
        return NULL;
    }
    doc = xmlCtxtReadMemory(pctxt, xml, (int)len, NULL, NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR |
                                XML_PARSE_NOWARNING);
    if (!doc || !pctxt->wellFormed) {
        const xmlError *xerr = xmlCtxtGetLastError(pctxt);
        g_autofree char *msg =
            g_strdup(xerr && xerr->message ? xerr->message : "unknown error");

        g_set_error(error, XML_READ_ERROR, XML_READ_ERROR_PARSE,
                    "XML is malformed at line %d: %s", xerr ? xerr->line : 0,
                    g_strchomp(msg));
        return NULL;
    }
    top = xmlDocGetRootElement(doc);
    if (!top || xmlStrcmp(top->name, (const xmlChar *)root) != 0) {
        g_set_error(error, XML_READ_ERROR, XML_READ_ERROR_ROOT,
                    "XML has root <%s>, expected <%s>",
                    top ? (const char *)top->name : "(none)", root);
        return NULL;
    }
    return g_steal_pointer(&doc);
}

xmlXPathObject *xml_nodes(xmlXPathContext *x, const char *expr)
{
    xmlXPathObject *o = xmlXPathEvalExpression((const xmlChar *)expr, x);

    if (o && o->type == XPATH_NODESET && o->nodesetval &&
        o->nodesetval->nodeNr > 0)
        return o;
    if (o)
        xmlXPathFreeObject(o);
    return NULL;
}

char *xml_attr(xmlNode *node, const char *name)
{
    xmlChar *v = xmlGetNoNsProp(node, (const xmlChar *)name);
    char *copy = v ? g_strdup((const char *)v) : NULL;

    xmlFree(v);
    return copy;
}
