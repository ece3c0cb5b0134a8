/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target: the state store's loader. The input is split at its
 * first NUL byte into state.ini (the snapshot) and state.journal, written
 * into a scratch state directory, and loaded as at startup; each source
 * group is then read as load.c reads it. Whatever the bytes, the loader
 * must return a key file or a clear error, and never crash. */
#include <stdint.h>
#include <string.h>
#include <glib/gstdio.h>

#include "source.h"
#include "store.h"

static char *dir;

static void
quiet (const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer user_data)
{
}

static void
clean_dir (void)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d && (name = g_dir_read_name (d)))
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_unlink (path);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const uint8_t *nul = memchr (data, 0, size);
  gsize snap_len = nul ? (gsize) (nul - data) : size;
  g_autofree char *snap = g_build_filename (dir ? dir : "", "state.ini", NULL);
  g_autofree char *journal = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GKeyFile) kf = NULL;

  if (!dir)
    {
      g_log_set_default_handler (quiet, NULL);
      dir = g_dir_make_tmp ("sourced-fuzz-store-XXXXXX", NULL);
      g_assert (dir);
      g_free (snap);
      snap = g_build_filename (dir, "state.ini", NULL);
    }
  clean_dir ();
  journal = g_build_filename (dir, "state.journal", NULL);
  if (snap_len)
    g_assert (g_file_set_contents (snap, (const char *) data, snap_len, NULL));
  if (nul)
    g_assert (g_file_set_contents (journal, (const char *) nul + 1, size - snap_len - 1, NULL));

  {
    g_autoptr (Store) store = store_new (dir);
    kf = store_load (store, &error);
  }
  g_assert ((kf != NULL) != (error != NULL));
  if (kf)
    {
      g_auto (GStrv) groups = g_key_file_get_groups (kf, NULL);
      for (guint i = 0; groups[i]; i++)
        {
          SourceControl control = { 0 };
          if (!g_str_has_prefix (groups[i], "Source "))
            continue;
          source_control_from_keyfile (&control, kf, groups[i]);
          source_control_clear (&control);
        }
    }
  return 0;
}
