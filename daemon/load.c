/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "load.h"

#include "commit.h"
#include "definition.h"
#include "sourced-error.h"
#include "supervisor.h"

typedef struct {
  char *path;
  SourceSettings *settings; /* NULL: the file exists but is unusable */
} Definition;

static void
definition_free (Definition *def)
{
  g_free (def->path);
  source_settings_free (def->settings);
  g_free (def);
}

void
load_changes_free (LoadChanges *c)
{
  if (!c)
    return;
  g_ptr_array_unref (c->added);
  g_ptr_array_unref (c->removed);
  g_free (c);
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* id -> Definition*, for every *.source file in <config dir>/sources.d. */
static GHashTable *
read_definitions (Sourced *d)
{
  g_autofree char *dir_path = g_build_filename (d->config_dir, "sources.d", NULL);
  GHashTable *defs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) definition_free);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) dir = g_dir_open (dir_path, 0, &error);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  if (!dir)
    {
      if (!g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        g_warning ("Cannot read definitions in %s: %s", dir_path, error->message);
      return defs;
    }
  while ((name = g_dir_read_name (dir)))
    if (g_str_has_suffix (name, ".source") && name[0] != '.')
      g_ptr_array_add (names, g_strdup (name));
  /* Same order every time, so that log lines are reproducible. */
  g_ptr_array_sort (names, compare_names);

  for (guint i = 0; i < names->len; i++)
    {
      const char *fname = names->pdata[i];
      g_autofree char *id = definition_id_from_filename (fname);
      g_autofree char *path = g_build_filename (dir_path, fname, NULL);
      g_autoptr (GError) local = NULL;
      Definition *def;

      if (!id)
        {
          g_warning ("%s:0: skipped: '%.*s' is not a valid source id (1 to 64 of A-Z a-z 0-9 . _ -, "
                     "not starting with . or -)",
                     path, (int) (strlen (fname) - strlen (".source")), fname);
          continue;
        }
      def = g_new0 (Definition, 1);
      def->path = g_steal_pointer (&path);
      def->settings = definition_load_file (def->path, &local);
      if (!def->settings)
        g_warning ("%s; source '%s' skipped", local->message, id);
      g_hash_table_insert (defs, g_steal_pointer (&id), def);
    }
  return defs;
}

static void
set_initial_control (Source *src, guint64 now)
{
  src->control.created_at = now;
  src->control.updated_at = now;
  src->control.started = src->settings->initial_state != INITIAL_STATE_STOPPED;
  if (src->settings->initial_state == INITIAL_STATE_PAUSED)
    src->control.paused_at = now;
}

gboolean
load_initial (Sourced *d, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (GKeyFile) kf = store_load (d->store, &local);
  g_autoptr (GHashTable) defs = NULL;
  g_auto (GStrv) groups = NULL;
  guint64 now = sourced_now ();
  GHashTableIter iter;
  gpointer key, value;

  if (!kf)
    {
      /* Not even moving it aside worked (an unreadable directory, say):
       * start from the definitions; every change will get PersistFailed
       * until the directory is usable, so nothing is silently lost. */
      g_warning ("Cannot load the state store: %s", local->message);
      kf = g_key_file_new ();
    }
  d->paused_at = g_key_file_get_uint64 (kf, "Manager", "PausedAt", NULL);

  /* Sources made with CreateSource live in the store. */
  groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i]; i++)
    {
      const char *id;
      g_autofree char *origin = NULL;
      g_auto (GStrv) keys = NULL;
      g_autoptr (SourceSettings) settings = NULL;
      Source *src;
      gboolean ok = TRUE;

      if (!g_str_has_prefix (groups[i], "Source "))
        continue;
      id = groups[i] + strlen ("Source ");
      if (g_key_file_get_boolean (kf, groups[i], "Removed", NULL))
        continue;
      origin = g_key_file_get_string (kf, groups[i], "Origin", NULL);
      if (g_strcmp0 (origin, "created") != 0)
        continue;
      if (!source_id_is_valid (id))
        {
          g_warning ("State store: skipping source with invalid id '%s'", id);
          continue;
        }
      settings = source_settings_new ();
      keys = g_key_file_get_keys (kf, groups[i], NULL, NULL);
      for (guint k = 0; keys[k] && ok; k++)
        {
          g_autofree char *v = NULL;
          g_autoptr (GError) e = NULL;
          if (!source_settings_key_type (keys[k]))
            continue; /* a control key */
          v = g_key_file_get_string (kf, groups[i], keys[k], NULL);
          if (!v || !source_settings_set_from_text (settings, keys[k], v, &e))
            {
              g_warning ("State store: source '%s': %s; skipped", id, e ? e->message : "unreadable value");
              ok = FALSE;
            }
        }
      if (!ok || !source_settings_validate (settings, &local))
        {
          if (ok)
            g_warning ("State store: source '%s': %s; skipped", id, local->message);
          g_clear_error (&local);
          continue;
        }
      src = source_new (id, g_steal_pointer (&settings), NULL);
      source_control_from_keyfile (&src->control, kf, groups[i]);
      source_restore_counters (src);
      sourced_insert (d, src);
    }

  defs = read_definitions (d);
  g_hash_table_iter_init (&iter, defs);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      Definition *def = value;
      g_autofree char *group = source_store_group (key);
      Source *src;

      if (!def->settings)
        continue;
      if (sourced_lookup (d, key))
        {
          g_warning ("%s:0: skipped: source '%s' already exists (made with CreateSource)", def->path,
                     (const char *) key);
          continue;
        }
      if (d->n_sources >= d->max_sources)
        {
          g_warning ("%s:0: skipped: sourced already has %u sources, the most it takes (--max-sources)", def->path,
                     d->n_sources);
          continue;
        }
      src = source_new (key, g_steal_pointer (&def->settings), def->path);
      if (g_key_file_has_group (kf, group) && !g_key_file_get_boolean (kf, group, "Removed", NULL))
        {
          source_control_from_keyfile (&src->control, kf, group);
          source_restore_counters (src);
        }
      else
        {
          /* First sight: InitialState applies, once; persist it. */
          commit_track_source (d, src);
          set_initial_control (src, now);
        }
      sourced_insert (d, src);
    }
  return TRUE;
}

LoadChanges *
load_reload (Sourced *d, GError **error)
{
  g_autoptr (GHashTable) defs = read_definitions (d);
  LoadChanges *changes = g_new0 (LoadChanges, 1);
  g_autoptr (GPtrArray) existing = g_ptr_array_new_with_free_func ((GDestroyNotify) source_unref);
  GHashTableIter iter;
  gpointer key, value;
  guint64 now = sourced_now ();

  changes->added = g_ptr_array_new_with_free_func ((GDestroyNotify) source_unref);
  changes->removed = g_ptr_array_new_with_free_func ((GDestroyNotify) source_unref);

  for (GTreeNode *n = g_tree_node_first (d->sources); n; n = g_tree_node_next (n))
    g_ptr_array_add (existing, source_ref (g_tree_node_value (n)));

  for (guint i = 0; i < existing->len; i++)
    {
      Source *src = existing->pdata[i];
      Definition *def;

      if (!src->definition_file || src->removed)
        continue;
      def = g_hash_table_lookup (defs, src->id);
      if (!def)
        {
          g_message ("Source '%s': %s is gone; removing the source", src->id, src->definition_file);
          commit_track_source (d, src);
          src->removed = TRUE;
          g_ptr_array_add (changes->removed, source_ref (src));
        }
      else if (def->settings && !source_settings_equal (def->settings, src->settings))
        {
          g_message ("Source '%s': %s changed; the new settings apply from the next start", src->id, def->path);
          commit_track_source (d, src);
          source_set_settings (src, g_steal_pointer (&def->settings));
        }
    }

  g_hash_table_iter_init (&iter, defs);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      Definition *def = value;
      Source *src;

      if (!def->settings)
        continue;
      src = sourced_lookup (d, key);
      if (src)
        {
          if (!src->definition_file)
            g_warning ("%s:0: skipped: source '%s' already exists (made with CreateSource)", def->path,
                       (const char *) key);
          continue;
        }
      if (d->n_sources >= d->max_sources)
        {
          g_warning ("%s:0: skipped: sourced already has %u sources, the most it takes (--max-sources)", def->path,
                     d->n_sources);
          continue;
        }
      src = source_new (key, g_steal_pointer (&def->settings), def->path);
      set_initial_control (src, now);
      src->is_new = TRUE;
      sourced_insert (d, src);
      commit_track_source (d, src);
      g_ptr_array_add (changes->added, source_ref (src));
    }
  return changes;
}

void
load_changes_apply (Sourced *d, LoadChanges *changes)
{
  for (guint i = 0; i < changes->removed->len; i++)
    supervisor_stop (d, changes->removed->pdata[i], NULL, NULL);
  for (guint i = 0; i < changes->added->len; i++)
    {
      Source *src = changes->added->pdata[i];
      if (src->control.started && !src->is_new)
        supervisor_start (d, src, NULL, NULL);
    }
}
