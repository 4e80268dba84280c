#include "domain_rules.h"

#include "cpuset.h"
#include "xml_read.h"

/* A vCPU number above this in <vcpupin> is a broken definition (libvirt
 * itself allows far fewer vCPUs), not a reason to allocate. */
#define MAX_VCPU_NUMBER 16384

void domain_rules_free(DomainRules *r)
{
    if (!r)
        return;
    if (r->cpuset)
        g_array_unref(r->cpuset);
    if (r->vcpupin)
        g_ptr_array_unref(r->vcpupin);
    g_free(r->problem);
    g_free(r);
}

const GArray *domain_rules_allowed(const DomainRules *r, guint number)
{
    if (!r)
        return NULL;
    if (r->vcpupin && number < r->vcpupin->len &&
        g_ptr_array_index(r->vcpupin, number))
        return g_ptr_array_index(r->vcpupin, number);
    return r->cpuset;
}

static void array_unref0(gpointer a)
{
    if (a)
        g_array_unref(a);
}

static gboolean read_cpuset(DomainRules *r, xmlXPathContext *x)
{
    g_autoptr(xmlXPathObject) o = xml_nodes(x, "/domain/vcpu[@cpuset]");
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;

    if (!o)
        return TRUE;
    text = xml_attr(o->nodesetval->nodeTab[0], "cpuset");
    r->cpuset = cpuset_parse(text, &err);
    if (!r->cpuset) {
        r->problem = g_strdup_printf("<vcpu cpuset>: %s", err->message);
        return FALSE;
    }
    return TRUE;
}

static gboolean read_vcpupins(DomainRules *r, xmlXPathContext *x)
{
    g_autoptr(xmlXPathObject) o = xml_nodes(x, "/domain/cputune/vcpupin");
    int i;

    if (!o)
        return TRUE;
    r->vcpupin = g_ptr_array_new_with_free_func(array_unref0);
    for (i = 0; i < o->nodesetval->nodeNr; i++) {
        xmlNode *n = o->nodesetval->nodeTab[i];
        g_autofree char *num = xml_attr(n, "vcpu");
        g_autofree char *text = xml_attr(n, "cpuset");
        g_autoptr(GError) err = NULL;
        guint64 v = 0;
        GArray *ids;

        if (!num || !g_ascii_string_to_unsigned(num, 10, 0, MAX_VCPU_NUMBER, &v,
                                                NULL)) {
            r->problem = g_strdup_printf("<vcpupin vcpu='%s'>: not a vCPU "
                                         "number",
                                         num ? num : "");
            return FALSE;
        }
        ids = cpuset_parse(text, &err);
        if (!ids) {
            r->problem =
                g_strdup_printf("<vcpupin vcpu='%s'>: %s", num, err->message);
            return FALSE;
        }
        if (r->vcpupin->len <= v)
            g_ptr_array_set_size(r->vcpupin, (guint)v + 1);
        array_unref0(g_ptr_array_index(r->vcpupin, v));
        g_ptr_array_index(r->vcpupin, v) = ids;
    }
    return TRUE;
}

static void read_opt_out(DomainRules *r, xmlXPathContext *x)
{
    g_autoptr(xmlXPathObject) o =
        xml_nodes(x, "/domain/metadata/*[local-name()='guest' and "
                     "namespace-uri()='" DOMAIN_RULES_NS "']");
    g_autofree char *v = NULL;

    if (!o)
        return;
    v = xml_attr(o->nodesetval->nodeTab[0], "vcpu_scheduler");
    r->opted_out = g_strcmp0(v, "off") == 0;
}

DomainRules *domain_rules_from_xml(const char *xml, gboolean read_vcpupin)
{
    g_autoptr(DomainRules) r = g_new0(DomainRules, 1);
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) x = NULL;
    g_autoptr(GError) err = NULL;

    doc = xml_read_doc(xml, "domain", &err);
    if (!doc) {
        r->problem = g_strdup_printf("domain %s", err->message);
        return g_steal_pointer(&r);
    }
    if (!(x = xmlXPathNewContext(doc))) {
        r->problem = g_strdup("cannot allocate an XPath context");
        return g_steal_pointer(&r);
    }
    read_opt_out(r, x);
    if (read_cpuset(r, x) && read_vcpupin)
        read_vcpupins(r, x);
    return g_steal_pointer(&r);
}
