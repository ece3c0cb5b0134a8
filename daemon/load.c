/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "load.h"

#include "commit.h"
#include "definition.h"
#include "sourced-error.h"

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

typedef void (*DefinitionFunc) (char *id, Definition *def, gpointer user_data);

/* Calls @func for every *.source file in <config dir>/sources.d, in name
 * order, handing over the id and the Definition. */
static void
foreach_definition (Sourced *d, DefinitionFunc func, gpointer user_data)
{
  g_autofree char *dir_path = g_build_filename (d->config_dir, "sources.d", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) dir = g_dir_open (dir_path, 0, &error);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  if (!dir)
    {
      if (!g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        g_warning ("Cannot read definitions in %s: %s", dir_path, error->message);
      return;
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
      def->settings = definition_load_file (def->path, d->state_dir, &local);
      if (!def->settings)
        g_warning ("%s; source '%s' skipped", local->message, id);
      func (g_steal_pointer (&id), def, user_data);
    }
}

static void
collect_definition (char *id, Definition *def, gpointer user_data)
{
  g_hash_table_insert (user_data, id, def);
}

/* id -> Definition*, for every *.source file in <config dir>/sources.d. */
static GHashTable *
read_definitions (Sourced *d)
{
  GHashTable *defs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) definition_free);

  foreach_definition (d, collect_definition, defs);
  return defs;
}

/* What the store says about one source, while loading. */
typedef struct {
  SourceControl control;
  SourceSettings *settings; /* made with CreateSource: its settings */
} Stored;

static void
stored_free (Stored *st)
{
  source_control_clear (&st->control);
  if (st->settings)
    source_settings_free (st->settings);
  g_free (st);
}

typedef struct {
  Sourced *d;
  GHashTable *stored; /* id -> Stored* */
  guint64 now;
} Loader;

/* A created source's settings from its store group; NULL (said) if they do
 * not make a source. */
static SourceSettings *
stored_settings (const char *id, GKeyFile *kf, const char *group)
{
  g_autoptr (SourceSettings) settings = source_settings_new ();
  g_auto (GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);
  g_autoptr (GError) local = NULL;

  for (guint k = 0; keys && keys[k]; k++)
    {
      g_autofree char *v = NULL;
      if (!source_settings_key_type (keys[k]))
        continue; /* a control key */
      v = g_key_file_get_string (kf, group, keys[k], NULL);
      if (!v || !source_settings_set_from_text (settings, keys[k], v, &local))
        {
          g_warning ("State store: source '%s': %s; skipped", id, local ? local->message : "unreadable value");
          return NULL;
        }
    }
  if (!source_settings_validate (settings, &local))
    {
      g_warning ("State store: source '%s': %s; skipped", id, local->message);
      return NULL;
    }
  return g_steal_pointer (&settings);
}

static void
on_store_group (const char *group, GKeyFile *kf, gpointer user_data)
{
  Loader *l = user_data;
  const char *id;
  g_autofree char *origin = NULL;
  Stored *st;

  if (!group)
    {
      g_hash_table_remove_all (l->stored);
      l->d->paused_at = 0;
      return;
    }
  if (g_str_equal (group, "Manager"))
    {
      l->d->paused_at = g_key_file_get_uint64 (kf, "Manager", "PausedAt", NULL);
      return;
    }
  if (!g_str_has_prefix (group, "Source "))
    return;
  id = group + strlen ("Source ");
  /* has_key first: a missing key costs GKeyFile a formatted error. */
  if (g_key_file_has_key (kf, group, "Removed", NULL) && g_key_file_get_boolean (kf, group, "Removed", NULL))
    {
      g_hash_table_remove (l->stored, id);
      return;
    }
  st = g_new0 (Stored, 1);
  source_control_from_keyfile (&st->control, kf, group);
  origin = g_key_file_get_string (kf, group, "Origin", NULL);
  if (g_strcmp0 (origin, "created") == 0)
    {
      if (!source_id_is_valid (id))
        g_warning ("State store: skipping source with invalid id '%s'", id);
      else
        st->settings = stored_settings (id, kf, group);
      if (!st->settings)
        {
          stored_free (st);
          g_hash_table_remove (l->stored, id);
          return;
        }
    }
  g_hash_table_replace (l->stored, g_strdup (id), st);
}

static void
on_definition (char *id, Definition *def, gpointer user_data)
{
  Loader *l = user_data;
  Sourced *d = l->d;
  g_autofree char *owned_id = id;
  Stored *st;
  Source *src;

  if (def->settings && sourced_lookup (d, id))
    g_warning ("%s:0: skipped: source '%s' already exists (made with CreateSource)", def->path, id);
  else if (def->settings && d->n_sources >= d->max_sources)
    g_warning ("%s:0: skipped: sourced already has %u sources, the most it takes (--max-sources)", def->path,
               d->n_sources);
  else if (def->settings)
    {
      src = source_new (id, g_steal_pointer (&def->settings), def->path);
      st = g_hash_table_lookup (l->stored, id);
      if (st)
        {
          source_take_control (src, &st->control);
          g_hash_table_remove (l->stored, id);
        }
      else
        {
          /* First sight: InitialState applies, once; persist it. */
          source_init_control (src, l->now);
          commit_track_source (d, src);
        }
      sourced_insert (d, src);
    }
  definition_free (def);
}

void
load_initial (Sourced *d)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (GHashTable) stored = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) stored_free);
  Loader l = { d, stored, sourced_now (d) };
  GHashTableIter iter;
  gpointer key, value;

  /* The store is read one group at a time into compact records, never as
   * one big key file: at 100,000 sources that keeps the peak down. */
  if (!store_load_stream (d->store, on_store_group, &l, &local))
    {
      /* Not even moving it aside worked (an unreadable directory, say):
       * start from the definitions; every change will get PersistFailed
       * until the directory is usable, so nothing is silently lost. */
      g_warning ("Cannot load the state store: %s", local->message);
      g_hash_table_remove_all (stored);
    }

  /* Sources made with CreateSource live in the store. */
  g_hash_table_iter_init (&iter, stored);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      Stored *st = value;
      Source *src;

      if (!st->settings)
        continue;
      src = source_new (key, g_steal_pointer (&st->settings), NULL);
      src->control = st->control;
      memset (&st->control, 0, sizeof st->control);
      source_restore_counters (src);
      sourced_insert (d, src);
      g_hash_table_iter_remove (&iter);
    }

  foreach_definition (d, on_definition, &l);
}

LoadChanges *
load_reload (Sourced *d)
{
  g_autoptr (GHashTable) defs = read_definitions (d);
  LoadChanges *changes = g_new0 (LoadChanges, 1);
  g_autoptr (GPtrArray) existing = g_ptr_array_new_with_free_func ((GDestroyNotify) source_unref);
  GHashTableIter iter;
  gpointer key, value;
  guint64 now = sourced_now (d);

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
      source_init_control (src, now);
      src->is_new = TRUE;
      sourced_insert (d, src);
      commit_track_source (d, src);
      g_ptr_array_add (changes->added, source_ref (src));
    }
  return changes;
}
