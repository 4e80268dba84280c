#include "json_out.h"

void json_add_str(JsonBuilder *b, const char *key, const char *v)
{
    json_builder_set_member_name(b, key);
    if (v)
        json_builder_add_string_value(b, v);
    else
        json_builder_add_null_value(b);
}

void json_add_int(JsonBuilder *b, const char *key, gint64 v)
{
    json_builder_set_member_name(b, key);
    json_builder_add_int_value(b, v);
}

void json_add_u64(JsonBuilder *b, const char *key, guint64 v)
{
    json_add_int(b, key, v > G_MAXINT64 ? G_MAXINT64 : (gint64)v);
}

void json_add_bool(JsonBuilder *b, const char *key, gboolean v)
{
    json_builder_set_member_name(b, key);
    json_builder_add_boolean_value(b, v);
}

void json_add_double(JsonBuilder *b, const char *key, double v)
{
    json_builder_set_member_name(b, key);
    json_builder_add_double_value(b, v);
}

void json_add_null(JsonBuilder *b, const char *key)
{
    json_builder_set_member_name(b, key);
    json_builder_add_null_value(b);
}

JsonBuilder *json_line_begin(void)
{
    JsonBuilder *b = json_builder_new();
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *stamp = g_date_time_format_iso8601(now);

    json_builder_begin_object(b);
    json_add_str(b, "time", stamp);
    return b;
}

char *json_builder_text(JsonBuilder *b, gboolean pretty)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);

    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, pretty);
    return json_generator_to_data(gen, NULL);
}

void json_line_write(JsonBuilder *b, FILE *f)
{
    g_autofree char *text = NULL;

    json_builder_end_object(b);
    text = json_builder_text(b, FALSE);
    fprintf(f, "%s\n", text);
    fflush(f);
}
