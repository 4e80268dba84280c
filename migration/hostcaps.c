#include "hostcaps.h"

#include <string.h>

#include "tsc.h"
#include "xml_read.h"

GQuark hostcaps_error_quark(void)
{
    return g_quark_from_static_string("aos-hostcaps-error-quark");
}

#define XPATH_TSC_COUNTER "/capabilities/host/cpu/counter[@name='tsc']"
#define XPATH_TSC_TIMER "/domain/clock/timer[@name='tsc']"
/* libvirt defaults a feature without a policy to require. */
#define XPATH_INVTSC                                                           \
    "/domain/cpu/feature[@name='invtsc' and "                                  \
    "(not(@policy) or @policy='require' or @policy='force')]"

void guest_clock_clear(GuestClock *gc)
{
    if (!gc)
        return;
    g_clear_pointer(&gc->tsc_mode, g_free);
}

/* xml_read_doc(), its error in this module's domain: a document of
 * another kind is INVALID, one that does not parse is PARSE. */
static xmlDoc *read_doc(const char *xml, const char *what, const char *root,
                        GError **error)
{
    g_autoptr(GError) err = NULL;
    xmlDoc *doc = xml_read_doc(xml, root, &err);

    if (!doc)
        g_set_error(error, HOSTCAPS_ERROR,
                    err->code == XML_READ_ERROR_ROOT ? HOSTCAPS_ERROR_INVALID
                                                     : HOSTCAPS_ERROR_PARSE,
                    "%s %s", what, err->message);
    return doc;
}

/* read_doc() of a document whose root is called what, and an XPath
 * context on it. */
static gboolean read_doc_xpath(const char *xml, const char *what, xmlDoc **doc,
                               xmlXPathContext **xctxt, GError **error)
{
    *doc = read_doc(xml, what, what, error);
    if (!*doc)
        return FALSE;
    *xctxt = xmlXPathNewContext(*doc);
    if (!*xctxt) {
        g_set_error(error, HOSTCAPS_ERROR, HOSTCAPS_ERROR_PARSE,
                    "cannot allocate an XPath context");
        return FALSE;
    }
    return TRUE;
}

static xmlXPathObject *eval_nodes(xmlXPathContext *xctxt, const char *expr,
                                  GError **error)
{
    g_autoptr(xmlXPathObject) obj = NULL;

    obj = xmlXPathEvalExpression((const xmlChar *)expr, xctxt);
    if (!obj || obj->type != XPATH_NODESET) {
        g_set_error(error, HOSTCAPS_ERROR, HOSTCAPS_ERROR_INVALID,
                    "XPath %s did not give a node set", expr);
        return NULL;
    }
    return g_steal_pointer(&obj);
}

static int nodes_count(const xmlXPathObject *obj)
{
    return obj->nodesetval ? obj->nodesetval->nodeNr : 0;
}

/* The value of attribute name on node, or NULL when it has none. */
static char *attr_dup(xmlNode *node, const char *name)
{
    xmlChar *v = xmlGetNoNsProp(node, (const xmlChar *)name);
    char *copy;

    if (!v)
        return NULL;
    copy = g_strdup((const char *)v);
    xmlFree(v);
    return copy;
}

/* The text of the first node expr selects, or NULL when it selects none. */
static gboolean first_text(xmlXPathContext *xctxt, const char *expr, char **out,
                           GError **error)
{
    g_autoptr(xmlXPathObject) obj = eval_nodes(xctxt, expr, error);
    xmlChar *v;

    if (!obj)
        return FALSE;
    *out = NULL;
    if (nodes_count(obj) == 0)
        return TRUE;
    v = xmlNodeGetContent(obj->nodesetval->nodeTab[0]);
    if (v) {
        *out = g_strdup((const char *)v);
        xmlFree(v);
    }
    return TRUE;
}

static gboolean parse_attr_u64(const char *what, const char *attr,
                               const char *text, guint64 *out, GError **error)
{
    g_autoptr(GError) perr = NULL;

    if (!tsc_parse_u64(text, FALSE, out, &perr)) {
        g_set_error(error, HOSTCAPS_ERROR, HOSTCAPS_ERROR_INVALID,
                    "%s: attribute %s: %s", what, attr, perr->message);
        return FALSE;
    }
    return TRUE;
}

static gboolean uuid_valid(const char *s)
{
    int i;

    if (strlen(s) != HOSTCAPS_UUID_BUFLEN - 1)
        return FALSE;
    for (i = 0; i < HOSTCAPS_UUID_BUFLEN - 1; i++) {
        gboolean dash = i == 8 || i == 13 || i == 18 || i == 23;

        if (dash ? s[i] != '-' : !g_ascii_isxdigit(s[i]))
            return FALSE;
    }
    return TRUE;
}

static gboolean read_tsc_counter(xmlXPathContext *xctxt, HostFacts *f,
                                 GError **error)
{
    g_autoptr(xmlXPathObject) obj = eval_nodes(xctxt, XPATH_TSC_COUNTER, error);
    g_autofree char *freq = NULL;
    g_autofree char *scaling = NULL;
    xmlNode *counter;
    guint64 hz = 0;

    if (!obj)
        return FALSE;
    if (nodes_count(obj) == 0)
        return TRUE;
    counter = obj->nodesetval->nodeTab[0];

    freq = attr_dup(counter, "frequency");
    if (freq && !parse_attr_u64("capabilities TSC counter", "frequency", freq,
                                &hz, error))
        return FALSE;
    f->tsc_known = hz > 0;
    f->tsc_hz = hz;

    scaling = attr_dup(counter, "scaling");
    if (!scaling || g_str_equal(scaling, "no")) {
        f->tsc_scaling = FALSE;
    } else if (g_str_equal(scaling, "yes")) {
        f->tsc_scaling = TRUE;
    } else {
        g_set_error(error, HOSTCAPS_ERROR, HOSTCAPS_ERROR_INVALID,
                    "capabilities TSC counter: attribute scaling is '%s', "
                    "expected 'yes' or 'no'",
                    scaling);
        return FALSE;
    }
    return TRUE;
}

static gboolean mul_guint(guint a, guint b, guint *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

/* Sum of every NUMA cell's cpus/@num; *found is FALSE without cells. */
static gboolean read_cell_cpus(xmlXPathContext *xctxt, guint *ncpus,
                               gboolean *found, GError **error)
{
    g_autoptr(xmlXPathObject) obj =
        eval_nodes(xctxt, "/capabilities/host/topology/cells/cell/cpus", error);
    guint sum = 0;
    int i;

    if (!obj)
        return FALSE;
    *found = nodes_count(obj) > 0;
    for (i = 0; i < nodes_count(obj); i++) {
        g_autofree char *num = attr_dup(obj->nodesetval->nodeTab[i], "num");
        guint64 n = 0;

        if (!num) {
            g_set_error(error, HOSTCAPS_ERROR, HOSTCAPS_ERROR_INVALID,
                        "capabilities NUMA cell cpus: attribute num is "
                        "missing");
            return FALSE;
        }
        if (!parse_attr_u64("capabilities NUMA cell cpus", "num", num, &n,
                            error))
            return FALSE;
        if (n > G_MAXUINT || __builtin_add_overflow(sum, (guint)n, &sum)) {
            g_set_error(error, HOSTCAPS_ERROR, HOSTCAPS_ERROR_INVALID,
                        "capabilities NUMA cells hold more CPUs than fit "
                        "in %u",
                        G_MAXUINT);
            return FALSE;
        }
    }
    *ncpus = sum;
    return TRUE;
}

/* sockets * dies * clusters * cores * threads of the host CPU; dies and
 * clusters are absent from older libvirt and count as 1. */
static gboolean read_cpu_topology(xmlXPathContext *xctxt, guint *ncpus,
                                  GError **error)
{
    static const char *const attrs[] = {"sockets", "dies", "clusters", "cores",
                                        "threads"};
    g_autoptr(xmlXPathObject) obj =
        eval_nodes(xctxt, "/capabilities/host/cpu/topology", error);
    xmlNode *topo;
    guint product = 1;
    gsize i;

    if (!obj)
        return FALSE;
    *ncpus = 0;
    if (nodes_count(obj) == 0)
        return TRUE;
    topo = obj->nodesetval->nodeTab[0];

    for (i = 0; i < G_N_ELEMENTS(attrs); i++) {
        g_autofree char *text = attr_dup(topo, attrs[i]);
        guint64 n = 0;
        gboolean optional = i == 1 || i == 2;

        if (!text) {
            if (optional)
                continue;
            return TRUE; /* incomplete topology: count unknown */
        }
        if (!parse_attr_u64("capabilities CPU topology", attrs[i], text, &n,
                            error))
            return FALSE;
        if (n > G_MAXUINT || !mul_guint(product, (guint)n, &product)) {
            g_set_error(error, HOSTCAPS_ERROR, HOSTCAPS_ERROR_INVALID,
                        "capabilities CPU topology holds more CPUs than fit "
                        "in %u",
                        G_MAXUINT);
            return FALSE;
        }
    }
    *ncpus = product;
    return TRUE;
}

gboolean hostcaps_parse(const char *caps_xml, HostFacts *out, GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) xctxt = NULL;
    g_autofree char *uuid = NULL;
    HostFacts f = {0};
    gboolean have_cells = FALSE;

    if (!read_doc_xpath(caps_xml, "capabilities", &doc, &xctxt, error))
        return FALSE;

    if (!read_tsc_counter(xctxt, &f, error))
        return FALSE;

    if (!first_text(xctxt, "/capabilities/host/uuid", &uuid, error))
        return FALSE;
    if (uuid) {
        g_strstrip(uuid);
        if (!uuid_valid(uuid)) {
            g_set_error(error, HOSTCAPS_ERROR, HOSTCAPS_ERROR_INVALID,
                        "capabilities host uuid '%s' is not a UUID", uuid);
            return FALSE;
        }
        g_strlcpy(f.host_uuid, uuid, sizeof(f.host_uuid));
    }

    if (!read_cell_cpus(xctxt, &f.ncpus, &have_cells, error))
        return FALSE;
    if (!have_cells && !read_cpu_topology(xctxt, &f.ncpus, error))
        return FALSE;

    *out = f;
    return TRUE;
}

gboolean hostcaps_parse_domain_clock(const char *domain_xml, GuestClock *out,
                                     GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) xctxt = NULL;
    g_autoptr(xmlXPathObject) timer = NULL;
    g_autoptr(xmlXPathObject) invtsc = NULL;
    g_autofree char *freq = NULL;
    g_auto(GuestClock) gc = {0};
    xmlNode *node;
    guint64 hz = 0;

    if (!read_doc_xpath(domain_xml, "domain", &doc, &xctxt, error))
        return FALSE;

    timer = eval_nodes(xctxt, XPATH_TSC_TIMER, error);
    if (!timer)
        return FALSE;
    if (nodes_count(timer) > 0) {
        node = timer->nodesetval->nodeTab[0];
        gc.has_tsc_timer = TRUE;
        gc.tsc_mode = attr_dup(node, "mode");
        freq = attr_dup(node, "frequency");
        /* libvirt stores an unset frequency as 0 and omits it on output,
         * so an explicit 0 also means "not fixed". */
        if (freq &&
            !parse_attr_u64("domain TSC timer", "frequency", freq, &hz, error))
            return FALSE;
        gc.has_tsc_freq = hz > 0;
        gc.tsc_hz = hz;
    }

    invtsc = eval_nodes(xctxt, XPATH_INVTSC, error);
    if (!invtsc)
        return FALSE;
    gc.invtsc = nodes_count(invtsc) > 0;

    *out = gc;
    gc.tsc_mode = NULL;
    return TRUE;
}

static char *doc_to_string(xmlDoc *doc, GError **error)
{
    g_autoptr(xmlBuffer) buf = xmlBufferCreate();
    xmlSaveCtxt *save;

    if (!buf) {
        g_set_error(error, HOSTCAPS_ERROR, HOSTCAPS_ERROR_PARSE,
                    "cannot allocate an XML output buffer");
        return NULL;
    }
    save = xmlSaveToBuffer(buf, "UTF-8", XML_SAVE_NO_DECL);
    if (!save) {
        g_set_error(error, HOSTCAPS_ERROR, HOSTCAPS_ERROR_PARSE,
                    "cannot start writing XML");
        return NULL;
    }
    if (xmlSaveDoc(save, doc) < 0) {
        xmlSaveClose(save);
        g_set_error(error, HOSTCAPS_ERROR, HOSTCAPS_ERROR_PARSE,
                    "cannot write domain XML");
        return NULL;
    }
    if (xmlSaveClose(save) < 0) {
        g_set_error(error, HOSTCAPS_ERROR, HOSTCAPS_ERROR_PARSE,
                    "cannot write domain XML");
        return NULL;
    }
    return g_strndup((const char *)xmlBufferContent(buf),
                     (gsize)xmlBufferLength(buf));
}

char *hostcaps_pin_tsc_frequency(const char *domain_xml, guint64 hz,
                                 GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) xctxt = NULL;
    g_autoptr(xmlXPathObject) clock = NULL;
    g_autoptr(xmlXPathObject) timer = NULL;
    char hz_text[32];
    xmlNode *clock_node;
    xmlNode *timer_node;

    if (hz == 0) {
        g_set_error(error, HOSTCAPS_ERROR, HOSTCAPS_ERROR_INVALID,
                    "cannot pin a TSC frequency of 0 Hz");
        return NULL;
    }
    g_snprintf(hz_text, sizeof(hz_text), "%" G_GUINT64_FORMAT, hz);

    if (!read_doc_xpath(domain_xml, "domain", &doc, &xctxt, error))
        return NULL;

    clock = eval_nodes(xctxt, "/domain/clock", error);
    if (!clock)
        return NULL;
    if (nodes_count(clock) > 0) {
        clock_node = clock->nodesetval->nodeTab[0];
    } else {
        clock_node = xmlNewChild(xmlDocGetRootElement(doc), NULL,
                                 (const xmlChar *)"clock", NULL);
        if (!clock_node || !xmlSetProp(clock_node, (const xmlChar *)"offset",
                                       (const xmlChar *)"utc"))
            goto nomem;
    }

    timer = eval_nodes(xctxt, XPATH_TSC_TIMER, error);
    if (!timer)
        return NULL;
    if (nodes_count(timer) > 0) {
        timer_node = timer->nodesetval->nodeTab[0];
    } else {
        timer_node =
            xmlNewChild(clock_node, NULL, (const xmlChar *)"timer", NULL);
        if (!timer_node || !xmlSetProp(timer_node, (const xmlChar *)"name",
                                       (const xmlChar *)"tsc"))
            goto nomem;
    }
    if (!xmlSetProp(timer_node, (const xmlChar *)"frequency",
                    (const xmlChar *)hz_text))
        goto nomem;

    return doc_to_string(doc, error);

nomem:
    g_set_error(error, HOSTCAPS_ERROR, HOSTCAPS_ERROR_PARSE,
                "cannot add the TSC timer to the domain XML");
    return NULL;
}
