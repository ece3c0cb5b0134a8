/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sink-rules.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libpq-fe.h>

#include "sourced-error.h"

/* "/a/./b//../c" -> "/a/c", without touching the file system. */
static char *
normalize (const char *path)
{
  g_auto (GStrv) parts = g_strsplit (path, "/", -1);
  g_autoptr (GPtrArray) kept = g_ptr_array_new ();
  GString *out = g_string_new (NULL);

  for (guint i = 0; parts[i]; i++)
    {
      if (parts[i][0] == '\0' || g_str_equal (parts[i], "."))
        continue;
      if (g_str_equal (parts[i], ".."))
        {
          if (kept->len)
            g_ptr_array_remove_index (kept, kept->len - 1);
          continue;
        }
      g_ptr_array_add (kept, parts[i]);
    }
  for (guint i = 0; i < kept->len; i++)
    g_string_append_printf (out, "/%s", (const char *) kept->pdata[i]);
  if (out->len == 0)
    g_string_append_c (out, '/');
  return g_string_free (out, FALSE);
}

/* The path with the symbolic links of its longest existing prefix
 * resolved; the part that does not exist yet is kept as written. */
static char *
resolve (const char *normalized)
{
  g_autofree char *head = g_strdup (normalized);
  GString *tail = g_string_new (NULL);

  for (;;)
    {
      char real[PATH_MAX];
      char *slash;

      if (realpath (head, real))
        {
          g_autofree char *joined = g_strconcat (g_str_equal (real, "/") ? "" : real, tail->str, NULL);
          g_string_free (tail, TRUE);
          return normalize (joined[0] ? joined : "/");
        }
      slash = strrchr (head, '/');
      if (!slash || slash == head)
        break;
      g_string_prepend (tail, slash);
      *slash = '\0';
    }
  g_string_free (tail, TRUE);
  return g_strdup (normalized);
}

static gboolean
is_inside (const char *path, const char *dir)
{
  gsize n = strlen (dir);

  if (n > 1 && dir[n - 1] == '/')
    n--;
  return strncmp (path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static gboolean
check_one (const char *original, const char *path, const char *state_dir, GError **error)
{
  static const char *const kernel_dirs[] = { "/proc", "/sys", "/dev" };

  if (g_str_equal (path, "/dev/null"))
    return TRUE;
  for (gsize i = 0; i < G_N_ELEMENTS (kernel_dirs); i++)
    if (is_inside (path, kernel_dirs[i]))
      {
        g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                     "Invalid setting 'Sink': %s lies under %s, which belongs to the kernel (only /dev/null is "
                     "allowed there)",
                     original, kernel_dirs[i]);
        return FALSE;
      }
  if (state_dir)
    {
      g_autofree char *state = normalize (state_dir);
      g_autofree char *sinks = g_build_filename (state, "sinks", NULL);

      if (is_inside (path, state) && !(is_inside (path, sinks) && !g_str_equal (path, sinks)))
        {
          g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                       "Invalid setting 'Sink': %s lies inside sourced's state directory %s, where only %s/ may "
                       "hold sinks",
                       original, state, sinks);
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
sink_path_check (const char *path, const char *state_dir, GError **error)
{
  g_autofree char *normalized = NULL;
  g_autofree char *resolved = NULL;
  g_autofree char *state_resolved = NULL;

  if (!g_path_is_absolute (path))
    {
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                   "Invalid setting 'Sink': %s is not an absolute path", path);
      return FALSE;
    }
  normalized = normalize (path);
  if (!check_one (path, normalized, state_dir, error))
    return FALSE;
  /* A symbolic link (or a linked parent) may lead elsewhere; so may the
   * state directory itself (/var/lib/sourced -> /var/lib/private/...). */
  resolved = resolve (normalized);
  state_resolved = state_dir ? resolve (state_dir) : NULL;
  if (!check_one (path, resolved, state_resolved, error))
    return FALSE;
  return TRUE;
}

gboolean
sink_fd_check (int fd, const char *path, GError **error)
{
  struct stat st;

  if (fstat (fd, &st) < 0)
    {
      int err = errno;
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS, "Cannot inspect sink %s: %s", path,
                   g_strerror (err));
      return FALSE;
    }
  if (S_ISREG (st.st_mode) || S_ISFIFO (st.st_mode))
    return TRUE;
  if (S_ISCHR (st.st_mode) && g_str_equal (path, "/dev/null"))
    return TRUE;
  g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
               "Invalid setting 'Sink': %s is a %s, not a regular file or a FIFO", path,
               S_ISDIR (st.st_mode) ? "directory" : S_ISCHR (st.st_mode) ? "character device"
               : S_ISBLK (st.st_mode) ? "block device" : S_ISSOCK (st.st_mode) ? "socket" : "special file");
  return FALSE;
}

gboolean
sink_is_postgresql (const char *sink)
{
  return sourced_sink_is_postgresql (sink);
}

/* @message with whatever could be a password in @uri (the user info after
 * its ':', a password= value) masked: libpq's parse errors may quote the
 * URI back. */
static char *
mask_secrets (const char *message, const char *uri)
{
  g_autofree char *out = g_strdup (message);
  g_autoptr (GPtrArray) secrets = g_ptr_array_new_with_free_func (g_free);
  const char *start = strstr (uri, "://");
  const char *q;

  if (start)
    {
      const char *at = strchr (start + 3, '@');
      const char *colon = at ? memchr (start + 3, ':', at - (start + 3)) : NULL;
      if (colon && at > colon + 1)
        g_ptr_array_add (secrets, g_strndup (colon + 1, at - colon - 1));
    }
  for (q = strstr (uri, "password="); q; q = strstr (q + 1, "password="))
    {
      const char *v = q + strlen ("password=");
      gsize n = strcspn (v, "& ");
      if (n)
        g_ptr_array_add (secrets, g_strndup (v, n));
    }
  for (guint i = 0; i < secrets->len; i++)
    {
      g_auto (GStrv) parts = g_strsplit (out, secrets->pdata[i], -1);
      g_free (out);
      out = g_strjoinv ("***", parts);
    }
  return g_steal_pointer (&out);
}

static gboolean
postgresql_check (const char *uri, GError **error)
{
  char *parse_error = NULL;
  PQconninfoOption *options = PQconninfoParse (uri, &parse_error);
  gboolean ok = TRUE;

  if (!options)
    {
      g_autofree char *why = g_strstrip (mask_secrets (parse_error ? parse_error : "out of memory", uri));
      PQfreemem (parse_error);
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                   "Invalid setting 'Sink': not a valid PostgreSQL connection URI: %s", why);
      return FALSE;
    }
  for (PQconninfoOption *o = options; o->keyword; o++)
    if (g_str_equal (o->keyword, "password") && o->val && o->val[0])
      {
        g_set_error_literal (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                             "Invalid setting 'Sink': a password in the URI is refused; give it in a passfile "
                             "(PGPASSFILE; for the system service, a systemd credential)");
        ok = FALSE;
      }
  PQconninfoFree (options);
  return ok;
}

gboolean
sink_check (const char *sink, const char *state_dir, GError **error)
{
  if (sink_is_postgresql (sink))
    return postgresql_check (sink, error);
  return sink_path_check (sink, state_dir, error);
}
