/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pg-sql.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const type_sql[] = {
  [PG_COL_TEXT] = "text",
  [PG_COL_BIGINT] = "bigint",
  [PG_COL_NUMERIC] = "numeric",
  [PG_COL_BOOLEAN] = "boolean",
  [PG_COL_TIMESTAMPTZ] = "timestamptz",
  [PG_COL_DATE] = "date",
  [PG_COL_JSONB] = "jsonb",
  [PG_COL_OTHER] = "other",
};

const char *
pg_col_type_sql (PgColType type)
{
  return type_sql[type];
}

PgColType
pg_col_type_from_typname (const char *typname)
{
  static const struct {
    const char *name;
    PgColType type;
  } names[] = {
    { "text", PG_COL_TEXT },       { "varchar", PG_COL_TEXT }, { "int8", PG_COL_BIGINT },
    { "numeric", PG_COL_NUMERIC }, { "bool", PG_COL_BOOLEAN }, { "timestamptz", PG_COL_TIMESTAMPTZ },
    { "date", PG_COL_DATE },       { "jsonb", PG_COL_JSONB },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    if (g_str_equal (typname, names[i].name))
      return names[i].type;
  return PG_COL_OTHER;
}

/* The non-null type names of @property ("type": a string or a list;
 * anyOf: its members' types), and the format of the last string type. */
static void
collect_types (JsonNode *property, GPtrArray *types, const char **format)
{
  JsonObject *obj;
  JsonNode *type, *any_of;

  if (!property || !JSON_NODE_HOLDS_OBJECT (property))
    return;
  obj = json_node_get_object (property);
  type = json_object_get_member (obj, "type");
  if (type && JSON_NODE_HOLDS_VALUE (type) && json_node_get_value_type (type) == G_TYPE_STRING)
    g_ptr_array_add (types, (gpointer) json_node_get_string (type));
  else if (type && JSON_NODE_HOLDS_ARRAY (type))
    {
      JsonArray *list = json_node_get_array (type);
      for (guint i = 0; i < json_array_get_length (list); i++)
        {
          JsonNode *t = json_array_get_element (list, i);
          if (JSON_NODE_HOLDS_VALUE (t) && json_node_get_value_type (t) == G_TYPE_STRING)
            g_ptr_array_add (types, (gpointer) json_node_get_string (t));
        }
    }
  any_of = json_object_get_member (obj, "anyOf");
  if (any_of && JSON_NODE_HOLDS_ARRAY (any_of))
    {
      JsonArray *list = json_node_get_array (any_of);
      for (guint i = 0; i < json_array_get_length (list); i++)
        collect_types (json_array_get_element (list, i), types, format);
    }
  if (json_object_has_member (obj, "format") && JSON_NODE_HOLDS_VALUE (json_object_get_member (obj, "format")))
    *format = json_object_get_string_member (obj, "format");
}

PgColType
pg_col_type_from_json_schema (JsonNode *property)
{
  g_autoptr (GPtrArray) types = g_ptr_array_new ();
  const char *format = NULL, *only = NULL;
  guint non_null = 0;

  collect_types (property, types, &format);
  for (guint i = 0; i < types->len; i++)
    {
      const char *t = types->pdata[i];
      if (g_str_equal (t, "null"))
        continue;
      /* The same type twice (anyOf of two strings) is still one. */
      if (only && g_str_equal (only, t))
        continue;
      only = t;
      non_null++;
    }
  if (non_null != 1)
    return PG_COL_JSONB;
  if (g_str_equal (only, "string"))
    {
      if (g_strcmp0 (format, "date-time") == 0)
        return PG_COL_TIMESTAMPTZ;
      if (g_strcmp0 (format, "date") == 0)
        return PG_COL_DATE;
      return PG_COL_TEXT;
    }
  if (g_str_equal (only, "integer"))
    return PG_COL_BIGINT;
  if (g_str_equal (only, "number"))
    return PG_COL_NUMERIC;
  if (g_str_equal (only, "boolean"))
    return PG_COL_BOOLEAN;
  return PG_COL_JSONB; /* object, array, or a type JSON Schema does not have */
}

PgChange
pg_col_type_change (PgColType have, PgColType want)
{
  if (have == want && have != PG_COL_OTHER)
    return PG_CHANGE_NONE;
  if (have == PG_COL_BIGINT && want == PG_COL_NUMERIC)
    return PG_CHANGE_WIDEN;
  /* A numeric column holds integers as they are: it stays numeric. */
  if (have == PG_COL_NUMERIC && want == PG_COL_BIGINT)
    return PG_CHANGE_NONE;
  return PG_CHANGE_INCOMPATIBLE;
}

static char *
quote (const char *text, char q)
{
  GString *out = g_string_sized_new (strlen (text) + 2);

  g_string_append_c (out, q);
  for (const char *c = text; *c; c++)
    {
      if (*c == q)
        g_string_append_c (out, q);
      g_string_append_c (out, *c);
    }
  g_string_append_c (out, q);
  return g_string_free (out, FALSE);
}

char *
pg_quote_ident (const char *name)
{
  return quote (name, '"');
}

char *
pg_quote_literal (const char *text)
{
  return quote (text, '\'');
}

void
pg_copy_escape (GString *out, const char *text, gsize length)
{
  gsize start = 0;

  for (gsize i = 0; i < length; i++)
    {
      const char *esc;
      switch (text[i])
        {
        case '\\':
          esc = "\\\\";
          break;
        case '\t':
          esc = "\\t";
          break;
        case '\n':
          esc = "\\n";
          break;
        case '\r':
          esc = "\\r";
          break;
        default:
          continue;
        }
      g_string_append_len (out, text + start, (gssize) (i - start));
      g_string_append (out, esc);
      start = i + 1;
    }
  g_string_append_len (out, text + start, (gssize) (length - start));
}

static gboolean
is_date (const char *s)
{
  int y, m, d, used = 0;

  return sscanf (s, "%4d-%2d-%2d%n", &y, &m, &d, &used) == 3 && s[used] == '\0' && g_date_valid_dmy (d, m, y);
}

static gboolean
is_timestamp (const char *s)
{
  /* GLib keeps one UTC zone: this is a reference, not a new zone. */
  g_autoptr (GTimeZone) utc = g_time_zone_new_utc ();
  g_autoptr (GDateTime) t = g_date_time_new_from_iso8601 (s, utc);

  return t != NULL;
}

gboolean
pg_copy_value (GString *out, PgColType type, JsonNode *value, const char **why)
{
  GType vt;

  if (!value || JSON_NODE_HOLDS_NULL (value))
    {
      g_string_append (out, "\\N");
      return TRUE;
    }
  if (type == PG_COL_JSONB)
    {
      g_autofree char *text = json_to_string (value, FALSE);
      pg_copy_escape (out, text, strlen (text));
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (value))
    {
      *why = "an object or array where the column wants a single value";
      return FALSE;
    }
  vt = json_node_get_value_type (value);
  switch (type)
    {
    case PG_COL_BIGINT:
      if (vt == G_TYPE_INT64)
        {
          g_string_append_printf (out, "%" G_GINT64_FORMAT, json_node_get_int (value));
          return TRUE;
        }
      *why = "not an integer";
      return FALSE;
    case PG_COL_NUMERIC:
      if (vt == G_TYPE_INT64)
        g_string_append_printf (out, "%" G_GINT64_FORMAT, json_node_get_int (value));
      else if (vt == G_TYPE_DOUBLE)
        {
          char buf[G_ASCII_DTOSTR_BUF_SIZE];
          double d = json_node_get_double (value);
          /* The shortest text that reads back as the same double: 0.1,
           * not 0.10000000000000001 (what %.17g would say). */
          for (int digits = 15; digits <= 17; digits++)
            {
              g_ascii_formatd (buf, sizeof buf, digits == 15 ? "%.15g" : digits == 16 ? "%.16g" : "%.17g", d);
              if (g_ascii_strtod (buf, NULL) == d)
                break;
            }
          g_string_append (out, buf);
        }
      else
        {
          *why = "not a number";
          return FALSE;
        }
      return TRUE;
    case PG_COL_BOOLEAN:
      if (vt != G_TYPE_BOOLEAN)
        {
          *why = "not a boolean";
          return FALSE;
        }
      g_string_append_c (out, json_node_get_boolean (value) ? 't' : 'f');
      return TRUE;
    case PG_COL_TIMESTAMPTZ:
    case PG_COL_DATE:
      if (vt != G_TYPE_STRING ||
          !(type == PG_COL_DATE ? is_date (json_node_get_string (value)) : is_timestamp (json_node_get_string (value))))
        {
          *why = type == PG_COL_DATE ? "not a date (YYYY-MM-DD)" : "not an ISO 8601 date-time";
          return FALSE;
        }
      g_string_append (out, json_node_get_string (value)); /* no character that needs escaping */
      return TRUE;
    case PG_COL_TEXT:
      if (vt != G_TYPE_STRING)
        {
          *why = "not a string";
          return FALSE;
        }
      pg_copy_escape (out, json_node_get_string (value), strlen (json_node_get_string (value)));
      return TRUE;
    case PG_COL_JSONB:
    case PG_COL_OTHER:
    default:
      *why = "a column of a type sourced does not write";
      return FALSE;
    }
}

void
pg_append_int64 (GString *out, gint64 v)
{
  char buf[24];
  int i = sizeof buf;
  guint64 u = v < 0 ? (guint64) 0 - (guint64) v : (guint64) v;

  do
    buf[--i] = (char) ('0' + u % 10);
  while ((u /= 10) > 0);
  if (v < 0)
    buf[--i] = '-';
  g_string_append_len (out, buf + i, (gssize) (sizeof buf - (gsize) i));
}

/* A string span's text for COPY: as it is when it has no escape (JSON
 * strings hold no raw control character, so nothing needs escaping then). */
static gboolean
copy_string (GString *out, const JsonSpan *value, GString *scratch, const char **why)
{
  if (!memchr (value->start, '\\', value->len))
    {
      g_string_append_len (out, value->start + 1, (gssize) value->len - 2);
      return TRUE;
    }
  g_string_truncate (scratch, 0);
  if (!json_span_unescape (value, scratch))
    {
      *why = "it holds a NUL character, which PostgreSQL text cannot";
      return FALSE;
    }
  pg_copy_escape (out, scratch->str, scratch->len);
  return TRUE;
}

gboolean
pg_copy_span (GString *out, PgColType type, const JsonSpan *value, GString *scratch, const char **why)
{
  if (!value || value->kind == JSON_SPAN_NULL)
    {
      g_string_append (out, "\\N");
      return TRUE;
    }
  switch (type)
    {
    case PG_COL_JSONB:
      /* JSON text is jsonb's input; only COPY's own escaping is added. */
      pg_copy_escape (out, value->start, value->len);
      return TRUE;
    case PG_COL_BIGINT:
      if (value->kind != JSON_SPAN_INTEGER || value->len > 20)
        {
          *why = "not an integer";
          return FALSE;
        }
      if (value->len >= 19)
        {
          /* Near the edge of bigint: read it to be sure it fits. */
          g_autofree char *text = g_strndup (value->start, value->len);
          char *end = NULL;
          errno = 0;
          g_ascii_strtoll (text, &end, 10);
          if (errno)
            {
              *why = "an integer out of bigint's range";
              return FALSE;
            }
        }
      g_string_append_len (out, value->start, (gssize) value->len);
      return TRUE;
    case PG_COL_NUMERIC:
      if (value->kind != JSON_SPAN_INTEGER && value->kind != JSON_SPAN_NUMBER)
        {
          *why = "not a number";
          return FALSE;
        }
      g_string_append_len (out, value->start, (gssize) value->len);
      return TRUE;
    case PG_COL_BOOLEAN:
      if (value->kind != JSON_SPAN_TRUE && value->kind != JSON_SPAN_FALSE)
        {
          *why = "not a boolean";
          return FALSE;
        }
      g_string_append_c (out, value->kind == JSON_SPAN_TRUE ? 't' : 'f');
      return TRUE;
    case PG_COL_TEXT:
      if (value->kind != JSON_SPAN_STRING)
        {
          *why = "not a string";
          return FALSE;
        }
      return copy_string (out, value, scratch, why);
    case PG_COL_TIMESTAMPTZ:
    case PG_COL_DATE:
      {
        gsize mark = out->len;
        if (value->kind != JSON_SPAN_STRING || !copy_string (out, value, scratch, why) ||
            !(type == PG_COL_DATE ? is_date (out->str + mark) : is_timestamp (out->str + mark)))
          {
            g_string_truncate (out, mark);
            *why = type == PG_COL_DATE ? "not a date (YYYY-MM-DD)" : "not an ISO 8601 date-time";
            return FALSE;
          }
        return TRUE;
      }
    case PG_COL_OTHER:
    default:
      *why = "a column of a type sourced does not write";
      return FALSE;
    }
}
