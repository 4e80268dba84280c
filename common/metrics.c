#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char *name; /* with the prefix */
    char *help;
    MetricKind kind;
    GString *samples; /* finished lines */
} MetricFamily;

struct Metrics {
    char *prefix;
    GPtrArray *families; /* MetricFamily*, in the order first added */
    GHashTable *by_name; /* name -> MetricFamily*, not owned */
    guint count;
};

static void family_free(gpointer data)
{
    MetricFamily *f = data;

    g_free(f->name);
    g_free(f->help);
    g_string_free(f->samples, TRUE);
    g_free(f);
}

Metrics *metrics_new(const char *prefix)
{
    Metrics *m = g_new0(Metrics, 1);

    m->prefix = g_strdup(prefix);
    m->families = g_ptr_array_new_with_free_func(family_free);
    m->by_name = g_hash_table_new(g_str_hash, g_str_equal);
    return m;
}

void metrics_free(Metrics *m)
{
    if (!m)
        return;
    g_hash_table_unref(m->by_name);
    g_ptr_array_unref(m->families);
    g_free(m->prefix);
    g_free(m);
}

guint metrics_count(const Metrics *m)
{
    return m->count;
}

static gboolean name_chars_valid(const char *name, gboolean colon)
{
    const char *p;

    if (!name || !*name || g_ascii_isdigit(*name))
        return FALSE;
    for (p = name; *p; p++) {
        if (!g_ascii_isalnum(*p) && *p != '_' && !(colon && *p == ':'))
            return FALSE;
    }
    return TRUE;
}

gboolean metrics_name_valid(const char *name)
{
    return name_chars_valid(name, TRUE);
}

gboolean metrics_label_name_valid(const char *name)
{
    /* Names starting with "__" are the format's own. */
    return name_chars_valid(name, FALSE) && !g_str_has_prefix(name, "__");
}

char *metrics_format_value(double v)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];

    if (isnan(v))
        return g_strdup("NaN");
    if (isinf(v))
        return g_strdup(v > 0 ? "+Inf" : "-Inf");
    /* The shortest of the usual precisions that reads back unchanged:
     * 0.1 rather than 0.10000000000000001. */
    g_ascii_formatd(buf, sizeof(buf), "%.15g", v);
    if (g_ascii_strtod(buf, NULL) != v)
        g_ascii_formatd(buf, sizeof(buf), "%.17g", v);
    return g_strdup(buf);
}

char *metrics_escape_label(const char *value)
{
    GString *s = g_string_sized_new(strlen(value) + 2);
    const char *p;

    for (p = value; *p; p++) {
        if (*p == '\\')
            g_string_append(s, "\\\\");
        else if (*p == '"')
            g_string_append(s, "\\\"");
        else if (*p == '\n')
            g_string_append(s, "\\n");
        else
            g_string_append_c(s, *p);
    }
    return g_string_free(s, FALSE);
}

/* HELP text escapes only backslash and line feed. */
static void append_help(GString *out, const char *help)
{
    const char *p;

    for (p = help; *p; p++) {
        if (*p == '\\')
            g_string_append(out, "\\\\");
        else if (*p == '\n')
            g_string_append(out, "\\n");
        else
            g_string_append_c(out, *p);
    }
}

static MetricFamily *family_for(Metrics *m, MetricKind kind, const char *name,
                                const char *help)
{
    g_autofree char *full = g_strdup_printf("%s_%s", m->prefix, name);
    MetricFamily *f = g_hash_table_lookup(m->by_name, full);

    if (f) {
        if (f->kind != kind) {
            g_critical("metric %s added both as a gauge and a counter", full);
            return NULL;
        }
        return f;
    }
    if (!metrics_name_valid(full)) {
        g_critical("invalid metric name '%s'", full);
        return NULL;
    }
    f = g_new0(MetricFamily, 1);
    f->name = g_steal_pointer(&full);
    f->help = g_strdup(help);
    f->kind = kind;
    f->samples = g_string_new(NULL);
    g_ptr_array_add(m->families, f);
    g_hash_table_insert(m->by_name, f->name, f);
    return f;
}

void metrics_add(Metrics *m, MetricKind kind, const char *name,
                 const char *help, double value, ...)
{
    MetricFamily *f = family_for(m, kind, name, help);
    g_autoptr(GString) line = NULL;
    g_autofree char *v = NULL;
    const char *label;
    gboolean first = TRUE;
    va_list ap;

    if (!f)
        return;
    line = g_string_new(f->name);
    va_start(ap, value);
    while ((label = va_arg(ap, const char *))) {
        const char *lv = va_arg(ap, const char *);
        g_autofree char *esc = NULL;

        if (!metrics_label_name_valid(label) || !lv) {
            g_critical("invalid label '%s' of metric %s", label, f->name);
            va_end(ap);
            return;
        }
        esc = metrics_escape_label(lv);
        g_string_append_printf(line, "%s%s=\"%s\"", first ? "{" : ",", label,
                               esc);
        first = FALSE;
    }
    va_end(ap);
    if (!first)
        g_string_append_c(line, '}');
    v = metrics_format_value(value);
    g_string_append_printf(f->samples, "%s %s\n", line->str, v);
    m->count++;
}

char *metrics_text(const Metrics *m)
{
    GString *out = g_string_new(NULL);
    guint i;

    for (i = 0; i < m->families->len; i++) {
        const MetricFamily *f = g_ptr_array_index(m->families, i);

        g_string_append_printf(out, "# HELP %s ", f->name);
        append_help(out, f->help);
        g_string_append_printf(out, "\n# TYPE %s %s\n", f->name,
                               f->kind == METRIC_COUNTER ? "counter" : "gauge");
        g_string_append(out, f->samples->str);
    }
    return g_string_free(out, FALSE);
}

static gboolean write_all(int fd, const char *text, gsize len)
{
    while (len > 0) {
        ssize_t n = write(fd, text, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return FALSE;
        text += n;
        len -= (gsize)n;
    }
    return TRUE;
}

/* A new file beside path, named so that the collector skips it. */
static int open_scratch(const char *path, char **tmp_out, GError **error)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    g_autofree char *tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
    int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0644);

    if (fd < 0) {
        int e = errno;

        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e),
                    "cannot create a file in directory %s: %s", dir,
                    g_strerror(e));
        return -1;
    }
    *tmp_out = g_steal_pointer(&tmp);
    return fd;
}

gboolean metrics_write_file(const char *path, const char *text, GError **error)
{
    g_autofree char *tmp = NULL;
    int fd = open_scratch(path, &tmp, error);
    int e = 0;

    if (fd < 0)
        return FALSE;
    /* The unit's UMask=0077 would leave it readable by us alone. */
    if (fchmod(fd, 0644) < 0 || !write_all(fd, text, strlen(text)))
        e = errno ? errno : EIO;
    if (close(fd) < 0 && !e)
        e = errno;
    if (!e && rename(tmp, path) < 0)
        e = errno;
    if (e) {
        g_unlink(tmp);
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e),
                    "cannot write metrics file %s: %s", path, g_strerror(e));
        return FALSE;
    }
    return TRUE;
}

gboolean metrics_check_path(const char *path, GError **error)
{
    g_autofree char *tmp = NULL;
    g_autoptr(GError) err = NULL;
    int fd;

    if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_ISDIR,
                    "metrics file %s is a directory", path);
        return FALSE;
    }
    fd = open_scratch(path, &tmp, &err);
    if (fd < 0) {
        g_set_error(error, G_FILE_ERROR, err->code,
                    "cannot write metrics file %s: %s", path, err->message);
        return FALSE;
    }
    close(fd);
    g_unlink(tmp);
    return TRUE;
}
