/* JSON through json-glib builders, for every JSON the project writes:
 * the decision log, migration requests, snapshots and bench results. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdio.h>

/* Members of the object being built.  A NULL string is written as null;
 * a guint64 above G_MAXINT64 as G_MAXINT64 (JSON integers are signed). */
void json_add_str(JsonBuilder *b, const char *key, const char *v);
void json_add_int(JsonBuilder *b, const char *key, gint64 v);
void json_add_u64(JsonBuilder *b, const char *key, guint64 v);
void json_add_bool(JsonBuilder *b, const char *key, gboolean v);
void json_add_double(JsonBuilder *b, const char *key, double v);
void json_add_null(JsonBuilder *b, const char *key);

/* A builder with an object begun and "time" (now, ISO 8601 UTC) as its
 * first member: the head of every JSON line. */
JsonBuilder *json_line_begin(void) G_GNUC_WARN_UNUSED_RESULT;

/* The builder's root as text: one line, or indented when pretty. */
char *json_builder_text(JsonBuilder *b,
                        gboolean pretty) G_GNUC_WARN_UNUSED_RESULT;

/* Ends the object begun by json_line_begin() and writes it to f as one
 * line, flushed. */
void json_line_write(JsonBuilder *b, FILE *f);
