#include "cpuset.h"

#include <stdlib.h>
#include <string.h>

GQuark cpuset_error_quark(void)
{
    return g_quark_from_static_string("aos-cpuset-error-quark");
}

static gboolean read_id(const char **p, guint *out)
{
    const char *s = *p;
    guint64 v = 0;

    if (!g_ascii_isdigit(*s))
        return FALSE;
    while (g_ascii_isdigit(*s)) {
        v = v * 10 + (guint64)(*s - '0');
        if (v > CPUSET_MAX_ID)
            return FALSE;
        s++;
    }
    *p = s;
    *out = (guint)v;
    return TRUE;
}

static void skip_blanks(const char **p)
{
    while (**p == ' ' || **p == '\t')
        (*p)++;
}

static gint cmp_guint(gconstpointer a, gconstpointer b)
{
    guint x = *(const guint *)a;
    guint y = *(const guint *)b;

    return x < y ? -1 : x > y;
}

GArray *cpuset_parse(const char *text, GError **error)
{
    g_autofree guint8 *on = g_new0(guint8, CPUSET_MAX_ID + 1);
    g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(guint));
    const char *p = text ? text : "";
    guint id;

    for (;;) {
        gboolean exclude = FALSE;
        const char *item;
        guint lo;
        guint hi;

        skip_blanks(&p);
        item = p;
        if (*p == '^') {
            exclude = TRUE;
            p++;
        }
        if (!read_id(&p, &lo)) {
            g_set_error(error, CPUSET_ERROR, CPUSET_ERROR_SYNTAX,
                        "'%s': expected a CPU id (0-%u) at '%s'",
                        text ? text : "", CPUSET_MAX_ID, item);
            return NULL;
        }
        hi = lo;
        if (*p == '-') {
            p++;
            if (!read_id(&p, &hi) || hi < lo) {
                g_set_error(error, CPUSET_ERROR, CPUSET_ERROR_SYNTAX,
                            "'%s': bad range at '%s' (first-last, first <= "
                            "last, at most %u)",
                            text ? text : "", item, CPUSET_MAX_ID);
                return NULL;
            }
        }
        for (id = lo; id <= hi; id++)
            on[id] = !exclude;
        skip_blanks(&p);
        if (*p == '\0')
            break;
        if (*p != ',') {
            g_set_error(error, CPUSET_ERROR, CPUSET_ERROR_SYNTAX,
                        "'%s': expected ',' at '%s'", text ? text : "", p);
            return NULL;
        }
        p++;
    }
    for (id = 0; id <= CPUSET_MAX_ID; id++) {
        if (on[id])
            g_array_append_val(ids, id);
    }
    if (ids->len == 0) {
        g_set_error(error, CPUSET_ERROR, CPUSET_ERROR_EMPTY,
                    "'%s' names no CPU", text ? text : "");
        return NULL;
    }
    return g_steal_pointer(&ids);
}

gboolean cpuset_has(const GArray *ids, guint id)
{
    return ids &&
           bsearch(&id, ids->data, ids->len, sizeof(guint), cmp_guint) != NULL;
}

gboolean cpu_list_set(CpuList *list, const char *text, GError **error)
{
    const char *p = text ? text : "";
    GArray *ids;

    while (g_ascii_isspace(*p))
        p++;
    /* "key=" with nothing after it is how an operator clears a list. */
    if (*p == '\0') {
        cpu_list_clear(list);
        return TRUE;
    }
    ids = cpuset_parse(text, error);
    if (!ids)
        return FALSE;
    cpu_list_clear(list);
    list->text = g_strdup(text);
    list->ids = ids;
    return TRUE;
}

void cpu_list_clear(CpuList *list)
{
    g_clear_pointer(&list->text, g_free);
    g_clear_pointer(&list->ids, g_array_unref);
}

void cpu_list_copy(CpuList *dst, const CpuList *src)
{
    dst->text = g_strdup(src->text);
    dst->ids = src->ids ? g_array_copy(src->ids) : NULL;
}

gboolean cpu_list_equal(const CpuList *a, const CpuList *b)
{
    if (!a->ids || !b->ids)
        return a->ids == b->ids;
    return a->ids->len == b->ids->len &&
           memcmp(a->ids->data, b->ids->data, a->ids->len * sizeof(guint)) == 0;
}
