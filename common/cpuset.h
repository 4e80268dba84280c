/* CPU lists as libvirt writes them ("0-3,^2,8") and operators type them
 * in the config ("0,64"): ids, ranges, and ids or ranges taken out with
 * '^'.  libvirt parses these only inside itself, so the grammar is
 * repeated here, small and tested. */
#pragma once

#include <glib.h>

/* CPU ids above this are refused: no host has them, and a typo such as
 * "0-99999999" must not become a huge bitmap. */
#define CPUSET_MAX_ID 65535

/* The ids the text names, sorted and unique (guint).  Whitespace around
 * items is allowed; an empty text or one whose exclusions take out
 * everything is an error, as is any other character. */
GArray *cpuset_parse(const char *text,
                     GError **error) G_GNUC_WARN_UNUSED_RESULT;

/* Whether the sorted array from cpuset_parse holds id. */
gboolean cpuset_has(const GArray *ids, guint id);

/* A CPU list as a setting: the text as the operator wrote it, for
 * messages, and its ids, parsed once when the setting is read.  Both NULL
 * for none. */
typedef struct {
    char *text;
    GArray *ids;
} CpuList;

/* Sets *list from text (empty or blank: none), or leaves it untouched and
 * fails. */
gboolean cpu_list_set(CpuList *list, const char *text,
                      GError **error) G_GNUC_WARN_UNUSED_RESULT;
void cpu_list_clear(CpuList *list);
/* dst gets a deep copy of src; dst holds nothing before. */
void cpu_list_copy(CpuList *dst, const CpuList *src);
/* Whether both name the same CPUs, however written ("0-2" and "0,1,2"). */
gboolean cpu_list_equal(const CpuList *a, const CpuList *b);

#define CPUSET_ERROR (cpuset_error_quark())
GQuark cpuset_error_quark(void);
typedef enum {
    CPUSET_ERROR_SYNTAX,
    CPUSET_ERROR_EMPTY,
} CpusetError;
