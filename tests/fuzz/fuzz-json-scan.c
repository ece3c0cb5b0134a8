/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target: the PostgreSQL sink's hot path. A line the scanner
 * takes as JSON is walked member by member, and every value formatted for
 * every column type: nothing may read outside the line, and a value is
 * either written or refused with a reason. */
#include <stdint.h>

#include "json-scan.h"
#include "pg-sql.h"

typedef struct {
  const char *start, *end;
  GString *row, *scratch;
} Walk;

static gboolean member (const JsonSpan *key, const JsonSpan *value, gpointer user_data);

static void
format_all (Walk *w, const JsonSpan *value)
{
  g_assert (value->start >= w->start && value->start + value->len <= w->end);
  for (PgColType t = PG_COL_TEXT; t <= PG_COL_OTHER; t++)
    {
      const char *why = NULL;
      gsize before = w->row->len;
      if (!pg_copy_span (w->row, t, value, w->scratch, &why))
        g_assert (why != NULL && w->row->len == before);
    }
  if (value->kind == JSON_SPAN_OBJECT)
    json_scan_members (value, member, w);
}

static gboolean
member (const JsonSpan *key, const JsonSpan *value, gpointer user_data)
{
  Walk *w = user_data;

  g_assert (key->kind == JSON_SPAN_STRING && key->start >= w->start && key->start + key->len <= w->end);
  g_string_truncate (w->scratch, 0);
  json_span_unescape (key, w->scratch);
  format_all (w, value);
  return TRUE;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  JsonSpan root;
  Walk w = { (const char *) data, (const char *) data + size, g_string_new (NULL), g_string_new (NULL) };

  if (json_scan_value ((const char *) data, size, &root))
    {
      g_assert (root.start >= w.start && root.start + root.len <= w.end);
      format_all (&w, &root);
    }
  g_string_free (w.row, TRUE);
  g_string_free (w.scratch, TRUE);
  return 0;
}
