/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "commit.h"

#include "manager-bus.h"
#include "source-bus.h"
#include "sourced-error.h"

struct CommitOp {
  sd_bus_message *call;
  Source *src;
  CommitDoneFunc done;
  gpointer user_data;
};

static void
ensure_batch (Sourced *d)
{
  if (!d->batch_sources)
    d->batch_sources = g_ptr_array_new_with_free_func ((GDestroyNotify) source_unref);
  if (!d->batch_ops)
    d->batch_ops = g_ptr_array_new ();
}

void
commit_track_source (Sourced *d, Source *src)
{
  ensure_batch (d);
  if (!src->rollback)
    {
      source_begin_change (src);
      g_ptr_array_add (d->batch_sources, source_ref (src));
    }
}

void
commit_track_manager (Sourced *d)
{
  if (!d->batch_manager)
    {
      d->batch_manager = TRUE;
      d->batch_manager_paused_at = d->paused_at;
    }
}

void
commit_add (Sourced *d, sd_bus_message *call, Source *src, CommitDoneFunc done, gpointer user_data)
{
  CommitOp *op = g_new0 (CommitOp, 1);

  ensure_batch (d);
  op->call = call ? sd_bus_message_ref (call) : NULL;
  op->src = src ? source_ref (src) : NULL;
  op->done = done;
  op->user_data = user_data;
  g_ptr_array_add (d->batch_ops, op);
}

static gboolean
on_commit_idle (gpointer user_data)
{
  Sourced *d = user_data;
  g_autoptr (GError) error = NULL;

  d->commit_idle = 0;
  if (!commit_flush (d, &error))
    g_warning ("%s", error->message);
  return G_SOURCE_REMOVE;
}

void
commit_schedule (Sourced *d)
{
  /* Ahead of every default-priority event: a change the daemon made (a
   * checkpoint, the first checkpoint of a sink) is durable before the next
   * byte is read from a worker. */
  if (!d->commit_idle)
    d->commit_idle = g_idle_add_full (G_PRIORITY_HIGH, on_commit_idle, d, NULL);
}

static void
manager_to_text (Sourced *d, GString *out)
{
  g_string_append_printf (out, "[Manager]\nPausedAt=%" G_GUINT64_FORMAT "\n\n", d->paused_at);
}

/* One source's group, appended as text. Each group goes through a small
 * key file of its own (for GKeyFile's escaping), never the whole store in
 * one: at 100,000 sources that would cost ten times the text in memory. */
static void
source_to_text (const Source *src, GString *out)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autofree char *text = NULL;
  gsize length;

  source_to_keyfile (src, kf);
  text = g_key_file_to_data (kf, &length, NULL);
  g_string_append_len (out, text, (gssize) length);
  if (length && text[length - 1] != '\n')
    g_string_append_c (out, '\n');
  g_string_append_c (out, '\n');
}

static gboolean
serialize_one (gpointer key, gpointer value, gpointer user_data)
{
  Source *src = value;

  if (src->is_new)
    return FALSE;
  if (src->rollback)
    {
      /* A change still waiting for its commit: the snapshot holds what is
       * durable, the journal transaction will add the rest. */
      SourceControl live = src->control;
      gboolean removed = src->removed;
      src->control = *src->rollback;
      src->removed = FALSE;
      source_to_text (src, user_data);
      src->control = live;
      src->removed = removed;
      return FALSE;
    }
  source_to_text (src, user_data);
  return FALSE;
}

char *
commit_serialize_all (Sourced *d, gsize *length)
{
  GString *out = g_string_new (NULL);

  manager_to_text (d, out);
  g_tree_foreach (d->sources, serialize_one, out);
  *length = out->len;
  return g_string_free (out, FALSE);
}

gboolean
commit_snapshot (Sourced *d, GError **error)
{
  gsize length;
  g_autofree char *text = commit_serialize_all (d, &length);

  return store_write_snapshot (d->store, text, length, error);
}

static void
reply_persist_failed (CommitOp *op, const GError *error)
{
  g_autoptr (GError) e = g_error_new (SOURCED_ERROR, SOURCED_ERROR_PERSIST_FAILED,
                                      "%s; the change was not applied", error->message);
  if (op->call)
    sourced_error_reply (op->call, e);
}

static void
free_op (CommitOp *op)
{
  if (op->call)
    sd_bus_message_unref (op->call);
  if (op->src)
    source_unref (op->src);
  g_free (op);
}

gboolean
commit_flush (Sourced *d, GError **error)
{
  g_autoptr (GPtrArray) sources = g_steal_pointer (&d->batch_sources);
  g_autoptr (GPtrArray) ops = g_steal_pointer (&d->batch_ops);
  gboolean manager = d->batch_manager;
  gboolean ok = TRUE;
  gboolean n_sources_changed = FALSE;
  g_autoptr (GError) local = NULL;

  d->batch_manager = FALSE;
  if ((!sources || sources->len == 0) && (!ops || ops->len == 0) && !manager)
    return TRUE;

  if ((sources && sources->len) || manager)
    {
      g_autoptr (GString) text = g_string_new (NULL);

      if (manager)
        manager_to_text (d, text);
      for (guint i = 0; sources && i < sources->len; i++)
        source_to_text (sources->pdata[i], text);
      ok = store_append (d->store, text->str, text->len, &local);
    }

  if (!ok)
    {
      g_warning ("Could not persist %u change(s): %s", ops ? ops->len : 0, local->message);
      for (guint i = 0; sources && i < sources->len; i++)
        {
          Source *src = sources->pdata[i];
          if (src->is_new)
            sourced_forget (d, src);
          src->removed = FALSE;
          source_rollback_change (src, d->paused_at != 0);
        }
      if (manager)
        d->paused_at = d->batch_manager_paused_at;
      for (guint i = 0; ops && i < ops->len; i++)
        {
          reply_persist_failed (ops->pdata[i], local);
          free_op (ops->pdata[i]);
        }
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }

  /* Durable: now the world may hear about it. */
  for (guint i = 0; sources && i < sources->len; i++)
    {
      Source *src = sources->pdata[i];
      source_commit_change (src);
      if (src->is_new)
        {
          src->is_new = FALSE;
          src->changed = 0;
          source_bus_emit_added (d, src);
          n_sources_changed = TRUE;
        }
      else if (src->removed)
        {
          if (g_tree_lookup (d->sources, src->id) == src)
            {
              source_bus_emit_removed (d, src);
              sourced_forget (d, src);
              n_sources_changed = TRUE;
            }
        }
      else
        source_bus_emit_changes (d, src);
    }
  if (manager && d->paused_at != d->batch_manager_paused_at)
    manager_bus_gate_changed (d);
  if (n_sources_changed)
    manager_bus_emit (d, "NSources");

  for (guint i = 0; ops && i < ops->len; i++)
    {
      CommitOp *op = ops->pdata[i];
      if (op->done)
        op->done (d, op->call, op->src, op->user_data);
      else if (op->call)
        sd_bus_reply_method_return (op->call, NULL);
      free_op (op);
    }

  if (store_wants_snapshot (d->store))
    {
      g_autoptr (GError) snap_error = NULL;
      /* The journal already holds everything; a failed snapshot only means
       * a longer replay at the next start. */
      if (!commit_snapshot (d, &snap_error))
        g_warning ("Could not write a state snapshot: %s", snap_error->message);
    }
  return TRUE;
}
