/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "definition.h"

#include "sink-rules.h"
#include "sourced-error.h"

/* Undoes GKeyFile's escapes (\s \n \t \r \\) and cuts an inline comment. */
static char *
unescape_value (const char *raw)
{
  GString *out = g_string_sized_new (strlen (raw));

  for (const char *p = raw; *p; p++)
    {
      if (*p == '#' && p > raw && g_ascii_isspace (p[-1]))
        break;
      if (*p == '\\' && p[1])
        {
          p++;
          switch (*p)
            {
            case 's': g_string_append_c (out, ' '); break;
            case 'n': g_string_append_c (out, '\n'); break;
            case 't': g_string_append_c (out, '\t'); break;
            case 'r': g_string_append_c (out, '\r'); break;
            case '#': g_string_append_c (out, '#'); break;
            default: g_string_append_c (out, '\\'); g_string_append_c (out, *p); break;
            }
          continue;
        }
      g_string_append_c (out, *p);
    }
  /* Trailing white space belongs to the layout, not the value. */
  while (out->len && g_ascii_isspace (out->str[out->len - 1]))
    g_string_truncate (out, out->len - 1);
  return g_string_free (out, FALSE);
}

SourceSettings *
definition_parse (const char *path, const char *data, gsize length, const char *state_dir, GError **error)
{
  g_autoptr (SourceSettings) settings = source_settings_new ();
  g_autofree char *copy = NULL;
  gboolean in_source = FALSE, seen_source = FALSE;
  guint lineno = 0;
  char *line, *next;

  if (memchr (data, '\0', length))
    {
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                   "%s: contains a NUL byte; not a text file", path);
      return NULL;
    }
  if (!g_utf8_validate_len (data, length, NULL))
    {
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                   "%s: not valid UTF-8", path);
      return NULL;
    }
  copy = g_strndup (data, length);

  for (line = copy; line; line = next)
    {
      g_autoptr (GError) local = NULL;
      char *eq;

      lineno++;
      next = strchr (line, '\n');
      if (next)
        *next++ = '\0';
      g_strstrip (line);

      if (line[0] == '\0' || line[0] == '#')
        continue;
      if (line[0] == '[')
        {
          char *close = strchr (line, ']');
          if (!close || close[1] != '\0')
            {
              g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                           "%s:%u: malformed group header '%s'", path, lineno, line);
              return NULL;
            }
          *close = '\0';
          if (!g_str_equal (line + 1, "Source"))
            {
              g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                           "%s:%u: unknown group '[%s]' (expected [Source])", path, lineno, line + 1);
              return NULL;
            }
          in_source = seen_source = TRUE;
          continue;
        }
      eq = strchr (line, '=');
      if (!eq)
        {
          g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                       "%s:%u: '%s' is not a Key=value line, a [group] or a # comment",
                       path, lineno, line);
          return NULL;
        }
      if (!in_source)
        {
          g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                       "%s:%u: key outside the [Source] group", path, lineno);
          return NULL;
        }
      *eq = '\0';
      g_strchomp (line);
      g_autofree char *value = unescape_value (g_strchug (eq + 1));
      if (!source_settings_set_from_text (settings, line, value, &local) ||
          (state_dir && g_str_equal (line, "Sink") && settings->sink &&
           !sink_check (settings->sink, state_dir, &local)))
        {
          g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                       "%s:%u: %s", path, lineno, local->message);
          return NULL;
        }
    }

  if (!seen_source)
    {
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                   "%s:%u: no [Source] group", path, lineno);
      return NULL;
    }
  g_autoptr (GError) local = NULL;
  if (!source_settings_validate (settings, &local))
    {
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                   "%s:%u: %s", path, lineno, local->message);
      return NULL;
    }
  return g_steal_pointer (&settings);
}

SourceSettings *
definition_load_file (const char *path, const char *state_dir, GError **error)
{
  g_autofree char *data = NULL;
  gsize length = 0;
  g_autoptr (GError) local = NULL;

  if (!g_file_get_contents (path, &data, &length, &local))
    {
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                   "%s:0: cannot read: %s", path, local->message);
      return NULL;
    }
  if (length > 64 * 1024)
    {
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                   "%s:0: larger than 64 KiB; not a definition file", path);
      return NULL;
    }
  return definition_parse (path, data, length, state_dir, error);
}

char *
definition_id_from_filename (const char *filename)
{
  g_autofree char *id = NULL;

  if (!g_str_has_suffix (filename, ".source"))
    return NULL;
  id = g_strndup (filename, strlen (filename) - strlen (".source"));
  if (!source_id_is_valid (id))
    return NULL;
  return g_steal_pointer (&id);
}
