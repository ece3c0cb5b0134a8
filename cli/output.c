/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "output.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static gboolean use_color;

void
output_init (void)
{
  const char *term = g_getenv ("TERM");
  const char *no_color = g_getenv ("NO_COLOR");

  use_color = isatty (STDOUT_FILENO) && !(no_color && *no_color) && !(term && g_str_equal (term, "dumb"));
}

gboolean
output_use_color (void)
{
  return use_color;
}

const char *
output_status_color (const char *status)
{
  if (!use_color)
    return "";
  if (g_str_equal (status, "active"))
    return "\033[0;1;32m";
  if (g_str_equal (status, "paused") || g_str_equal (status, "starting") || g_str_equal (status, "stopping"))
    return "\033[0;1;33m";
  if (g_str_equal (status, "failed") || g_str_equal (status, "restarting"))
    return "\033[0;1;31m";
  return "\033[0;2m";
}

const char *
output_color_reset (void)
{
  return use_color ? "\033[0m" : "";
}

const char *
output_status_dot (const char *status)
{
  if (!use_color)
    return "";
  return g_str_equal (status, "stopped") ? "○" : "●";
}

char *
output_iso8601 (guint64 usec)
{
  g_autoptr (GDateTime) dt = NULL;

  if (usec == 0)
    return NULL;
  dt = g_date_time_new_from_unix_utc ((gint64) (usec / G_USEC_PER_SEC));
  return dt ? g_date_time_format (dt, "%Y-%m-%dT%H:%M:%SZ") : g_strdup_printf ("@%" G_GUINT64_FORMAT, usec);
}

char *
output_relative (guint64 usec, guint64 now)
{
  gboolean future = usec > now;
  guint64 d = (future ? usec - now : now - usec) / G_USEC_PER_SEC;
  g_autofree char *amount = NULL;

  if (d < 1)
    return g_strdup ("now");
  if (d < 60)
    amount = g_strdup_printf ("%" G_GUINT64_FORMAT " s", d);
  else if (d < 3600)
    amount = g_strdup_printf ("%" G_GUINT64_FORMAT " min", d / 60);
  else if (d < 2 * 86400)
    amount = g_strdup_printf ("%" G_GUINT64_FORMAT " h", d / 3600);
  else if (d < (guint64) 2 * 365 * 86400)
    amount = g_strdup_printf ("%" G_GUINT64_FORMAT " days", d / 86400);
  else
    amount = g_strdup_printf ("%" G_GUINT64_FORMAT " years", d / (guint64) (365 * 86400));
  return future ? g_strdup_printf ("in %s", amount) : g_strdup_printf ("%s ago", amount);
}

char *
output_timestamp (guint64 usec, guint64 now)
{
  g_autofree char *iso = output_iso8601 (usec);
  g_autofree char *rel = NULL;

  if (!iso)
    return g_strdup ("never");
  rel = output_relative (usec, now);
  return g_strdup_printf ("%s (%s)", iso, rel);
}

gboolean
output_parse_time (const char *text, guint64 *usec)
{
  g_autoptr (GTimeZone) utc = g_time_zone_new_utc ();
  g_autoptr (GDateTime) dt = NULL;

  if (g_str_equal (text, "now"))
    {
      *usec = (guint64) g_get_real_time ();
      return TRUE;
    }
  dt = g_date_time_new_from_iso8601 (text, utc);
  if (!dt || g_date_time_to_unix (dt) <= 0)
    return FALSE;
  *usec = (guint64) g_date_time_to_unix (dt) * G_USEC_PER_SEC + (guint64) g_date_time_get_microsecond (dt);
  return TRUE;
}

struct Table {
  guint n_columns;
  GPtrArray *rows; /* GStrv, the first is the header */
};

Table *
table_new (guint n_columns, const char *const *headers)
{
  Table *t = g_new0 (Table, 1);

  t->n_columns = n_columns;
  t->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  table_add_row (t, headers);
  return t;
}

void
table_add_row (Table *t, const char *const *cells)
{
  char **row = g_new0 (char *, t->n_columns + 1);

  for (guint i = 0; i < t->n_columns; i++)
    row[i] = g_strdup (cells[i] ? cells[i] : "");
  g_ptr_array_add (t->rows, row);
}

/* Display width: escape sequences take no room, UTF-8 counts by char. */
static gsize
width (const char *s)
{
  gsize w = 0;

  while (*s)
    {
      if (*s == '\033')
        {
          while (*s && *s != 'm')
            s++;
          if (*s)
            s++;
          continue;
        }
      s = g_utf8_next_char (s);
      w++;
    }
  return w;
}

void
table_print (Table *t, gboolean header)
{
  g_autofree gsize *widths = g_new0 (gsize, t->n_columns);

  for (guint r = header ? 0 : 1; r < t->rows->len; r++)
    {
      char **row = t->rows->pdata[r];
      for (guint c = 0; c < t->n_columns; c++)
        widths[c] = MAX (widths[c], width (row[c]));
    }
  for (guint r = header ? 0 : 1; r < t->rows->len; r++)
    {
      char **row = t->rows->pdata[r];
      GString *line = g_string_new (NULL);

      for (guint c = 0; c < t->n_columns; c++)
        {
          g_string_append (line, row[c]);
          if (c + 1 < t->n_columns)
            for (gsize pad = width (row[c]); pad < widths[c] + 2; pad++)
              g_string_append_c (line, ' ');
        }
      /* No trailing blanks. */
      while (line->len && line->str[line->len - 1] == ' ')
        g_string_truncate (line, line->len - 1);
      if (r == 0 && use_color)
        printf ("\033[1m%s\033[0m\n", line->str);
      else
        printf ("%s\n", line->str);
      g_string_free (line, TRUE);
    }
}

void
table_free (Table *t)
{
  g_ptr_array_unref (t->rows);
  g_free (t);
}
