/* Metrics in the Prometheus text exposition format, written to a file as
 * node_exporter's textfile collector reads them: the whole file replaced
 * at once (a rename in the same directory), so the collector never reads
 * half a tick.
 *
 * Every family is named <prefix>_<name>, the prefix being the daemon's
 * name, so the files of both daemons can sit in one collector directory
 * without two files declaring one family. */
#pragma once

#include <glib.h>

typedef enum {
    METRIC_GAUGE,
    METRIC_COUNTER, /* its name ends in _total, by the naming rules */
} MetricKind;

typedef struct Metrics Metrics;

/* prefix: a valid metric name, e.g. "vcpu_scheduler". */
Metrics *metrics_new(const char *prefix);
void metrics_free(Metrics *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Metrics, metrics_free)

/* One sample of the family <prefix>_<name>, with labels given as name,
 * value pairs ended by NULL.  The family's first sample sets its help and
 * kind; samples of one family are written together, in the order they
 * were added, whatever came between them.  A name or label name the
 * format does not allow is a programming error: logged as critical and
 * the sample dropped. */
void metrics_add(Metrics *m, MetricKind kind, const char *name,
                 const char *help, double value, ...) G_GNUC_NULL_TERMINATED;

/* Number of samples added. */
guint metrics_count(const Metrics *m);

/* The exposition text: per family "# HELP", "# TYPE" and its samples. */
char *metrics_text(const Metrics *m) G_GNUC_WARN_UNUSED_RESULT;

/* The naming rules of the format. */
gboolean metrics_name_valid(const char *name);
gboolean metrics_label_name_valid(const char *name);
/* A sample value as the format writes it: NaN, +Inf, -Inf or a decimal
 * that reads back to the same double. */
char *metrics_format_value(double v) G_GNUC_WARN_UNUSED_RESULT;
/* A label value between its quotes: backslash, double quote and line
 * feed escaped. */
char *metrics_escape_label(const char *value) G_GNUC_WARN_UNUSED_RESULT;

/* Replaces path with text at once: a temporary file beside it (a name
 * starting with '.' and not ending in .prom, which the collector skips),
 * mode 0644 whatever the umask, so the collector's user can read it,
 * then a rename over path. */
gboolean metrics_write_file(const char *path, const char *text,
                            GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* Whether the daemon can write path: a scratch file is made and removed
 * in its directory, and path is no directory.  For the check at start. */
gboolean metrics_check_path(const char *path,
                            GError **error) G_GNUC_WARN_UNUSED_RESULT;
