/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "commit.h"


#include "pump.h"
#include "sourced-error.h"

/* Two batches at most: one being collected, and one written (append +
 * fdatasync) but not yet answered for.
 *
 * Invariants:
 *  - src->rollback is the source's control as last made durable; it is set
 *    while any batch holding the source is not durable yet.
 *  - Replies, done callbacks and signals of a batch happen only once it is
 *    durable; a source that is also in the next batch keeps its signals
 *    for that one (the values a signal carries are the live ones).
 *  - If a write fails, everything not durable fails with it: both batches
 *    are rolled back to the durable state and every call gets
 *    PersistFailed. A change never succeeds on top of one that failed. */

typedef struct {
  sd_bus_message *call;
  Source *src;
  CommitDoneFunc done;
  gpointer user_data;
  GDestroyNotify destroy; /* for user_data, if done never runs */
} CommitOp;

/* Writes that failed since the start, for commit_flush_sync(). */

struct CommitBatch {
  guint64 gen;
  GPtrArray *sources; /* Source*, ref'd */
  GPtrArray *ops;     /* CommitOp* */
  gboolean manager;
  /* Filled when the batch is written: */
  GPtrArray *written;   /* SourceControl*: what becomes durable, per source */
  GArray *masks;        /* guint: the properties to announce, per source */
  guint64 manager_written;
  GString *text;
  GError *error; /* set if the write failed */
};

static void
free_op (CommitOp *op)
{
  if (op->destroy)
    op->destroy (op->user_data);
  if (op->call)
    sd_bus_message_unref (op->call);
  if (op->src)
    source_unref (op->src);
  g_free (op);
}

static void
free_control (SourceControl *c)
{
  source_control_clear (c);
  g_free (c);
}

static void
batch_free (CommitBatch *b)
{
  if (!b)
    return;
  g_ptr_array_unref (b->sources);
  g_ptr_array_unref (b->ops);
  if (b->written)
    g_ptr_array_unref (b->written);
  if (b->masks)
    g_array_unref (b->masks);
  if (b->text)
    g_string_free (b->text, TRUE);
  g_clear_error (&b->error);
  g_free (b);
}

static CommitBatch *
current_batch (Sourced *d)
{
  if (!d->batch)
    {
      d->batch = g_new0 (CommitBatch, 1);
      d->batch->gen = ++d->batch_gen;
      d->batch->sources = g_ptr_array_new_with_free_func ((GDestroyNotify) source_unref);
      d->batch->ops = g_ptr_array_new_with_free_func ((GDestroyNotify) free_op);
    }
  return d->batch;
}

static gboolean
batch_is_empty (CommitBatch *b)
{
  return !b || (b->sources->len == 0 && b->ops->len == 0 && !b->manager);
}

SourceEdit
commit_track_source (Sourced *d, Source *src)
{
  CommitBatch *b = current_batch (d);
  SourceEdit e = source_edit_begin (src);

  if (src->batch_gen != b->gen)
    {
      src->batch_gen = b->gen;
      g_ptr_array_add (b->sources, source_ref (src));
    }
  return e;
}

void
commit_track_manager (Sourced *d)
{
  CommitBatch *b = current_batch (d);

  if (!d->manager_pending)
    {
      d->manager_pending = TRUE;
      d->manager_durable = d->paused_at;
    }
  b->manager = TRUE;
}

void
commit_add (Sourced *d, sd_bus_message *call, Source *src, CommitDoneFunc done, gpointer user_data)
{
  commit_add_full (d, call, src, done, user_data, NULL);
}

void
commit_add_full (Sourced *d, sd_bus_message *call, Source *src, CommitDoneFunc done, gpointer user_data,
                 GDestroyNotify destroy)
{
  CommitOp *op = g_new0 (CommitOp, 1);

  op->destroy = destroy;
  op->call = call ? sd_bus_message_ref (call) : NULL;
  op->src = src ? source_ref (src) : NULL;
  op->done = done;
  op->user_data = user_data;
  g_ptr_array_add (current_batch (d)->ops, op);
}

static gboolean
on_commit_idle (gpointer user_data)
{
  Sourced *d = user_data;

  d->commit_idle = 0;
  commit_flush (d);
  return G_SOURCE_REMOVE;
}

void
commit_schedule (Sourced *d)
{
  /* Ahead of every default-priority event: a change the daemon made (a
   * checkpoint, the first checkpoint of a sink) is written
   * before the next byte is read from a worker. */
  if (!d->commit_idle)
    d->commit_idle = g_idle_add_full (G_PRIORITY_HIGH, on_commit_idle, d, NULL);
}

/* ---- Serializing ---------------------------------------------------------- */

static void
manager_to_text (guint64 paused_at, GString *out)
{
  g_string_append_printf (out, "[Manager]\nPausedAt=%" G_GUINT64_FORMAT "\n\n", paused_at);
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
      source_state_to_text (src, src->rollback, FALSE, user_data);
      return FALSE;
    }
  source_to_text (src, user_data);
  return FALSE;
}

char *
commit_serialize_all (Sourced *d, gsize *length)
{
  /* Sized up front (about 90 bytes a source): growing by doubling would
   * hold twice the text at the end. */
  GString *out = g_string_sized_new (64 + (gsize) d->n_sources * 96);

  manager_to_text (d->manager_pending ? d->manager_durable : d->paused_at, out);
  g_tree_foreach (d->sources, serialize_one, out);
  *length = out->len;
  return g_string_free (out, FALSE);
}

gboolean
commit_snapshot (Sourced *d, GError **error)
{
  gsize length;
  g_autofree char *text = NULL;

  g_return_val_if_fail (d->writing == NULL, FALSE); /* its journal transaction comes first */
  text = commit_serialize_all (d, &length);
  return store_write_snapshot (d->store, text, length, error);
}

/* ---- Writing ------------------------------------------------------------- */

static gboolean on_batch_written (gpointer user_data);

/* Writes the collected batch (one append, one fdatasync) on the main
 * thread. Calls that arrive meanwhile wait in the bus socket and make up the
 * next batch. It is answered from a high-priority idle, so that replies,
 * callbacks and signals never run inside whatever asked for the flush.
 *
 * (A writer thread that overlapped the sync with collecting the next batch
 * was measured slower: two cross-thread wake-ups per batch cost more than
 * the overlap gained, and its batches were smaller.) */
static void
submit (Sourced *d)
{
  CommitBatch *b = d->batch;

  d->batch = NULL;
  b->text = g_string_new (NULL);
  b->written = g_ptr_array_new_with_free_func ((GDestroyNotify) free_control);
  b->masks = g_array_sized_new (FALSE, FALSE, sizeof (guint), b->sources->len);
  if (b->manager)
    {
      b->manager_written = d->paused_at;
      manager_to_text (d->paused_at, b->text);
    }
  for (guint i = 0; i < b->sources->len; i++)
    {
      Source *src = b->sources->pdata[i];
      SourceControl *copy = g_new0 (SourceControl, 1);
      guint mask = src->changed;

      source_to_text (src, b->text);
      source_control_copy (copy, &src->control);
      g_ptr_array_add (b->written, copy);
      /* What changed so far is this batch's to announce. */
      g_array_append_val (b->masks, mask);
      src->changed = 0;
    }
  d->writing = b;
  store_append (d->store, b->text->str, b->text->len, &b->error);
  g_idle_add_full (G_PRIORITY_HIGH, on_batch_written, d, NULL);
}

static void
reply_persist_failed (CommitOp *op, const GError *error)
{
  g_autoptr (GError) e = g_error_new (SOURCED_ERROR, SOURCED_ERROR_PERSIST_FAILED,
                                      "%s; the change was not applied", error->message);
  if (op->call)
    sourced_error_reply (op->call, e);
}

/* Everything not durable is undone: @b, and the batch after it. */
static void
fail_all (Sourced *d, CommitBatch *b, const GError *error)
{
  CommitBatch *batches[2] = { b, g_steal_pointer (&d->batch) };
  guint n_ops = 0;

  for (guint k = 0; k < 2; k++)
    {
      CommitBatch *x = batches[k];
      if (!x)
        continue;
      n_ops += x->ops->len;
      for (guint i = 0; i < x->sources->len; i++)
        {
          Source *src = x->sources->pdata[i];
          if (src->is_new)
            sourced_forget (d, src);
          src->removed = FALSE;
          src->batch_gen = 0;
          source_rollback_change (src, d->manager_pending ? d->manager_durable != 0 : d->paused_at != 0);
        }
    }
  if (d->manager_pending)
    {
      d->paused_at = d->manager_durable;
      d->manager_pending = FALSE;
    }
  d->failed_writes++;
  g_warning ("Could not persist %u change(s): %s", n_ops, error->message);
  for (guint k = 0; k < 2; k++)
    {
      CommitBatch *x = batches[k];
      if (!x)
        continue;
      for (guint i = 0; i < x->ops->len; i++)
        {
          CommitOp *op = x->ops->pdata[i];
          /* Each call in the order it came: its PersistFailed, then what
           * it held is let go. */
          reply_persist_failed (op, error);
          if (op->destroy)
            op->destroy (op->user_data);
          op->destroy = NULL;
        }
      if (k == 1)
        batch_free (x);
    }
}

/* @b is durable: the world may hear about it. */
static void
finish (Sourced *d, CommitBatch *b)
{
  gboolean n_sources_changed = FALSE;
  CommitBatch *next = d->batch;

  for (guint i = 0; i < b->sources->len; i++)
    {
      Source *src = b->sources->pdata[i];
      SourceControl *written = b->written->pdata[i];
      gboolean in_next = next && src->batch_gen == next->gen;

      src->changed |= g_array_index (b->masks, guint, i);
      if (in_next)
        {
          /* Durable up to what this batch wrote; the rest comes with the
           * next one, and so do the signals. */
          source_control_copy (src->rollback, written);
          continue;
        }
      source_commit_change (src);
      if (src->is_new)
        {
          src->is_new = FALSE;
          src->changed = 0;
          sourced_emit_source_added (d, src);
          n_sources_changed = TRUE;
        }
      else if (src->removed)
        {
          if (g_tree_lookup (d->sources, src->id) == src)
            {
              sourced_emit_source_removed (d, src);
              sourced_forget (d, src);
              n_sources_changed = TRUE;
            }
        }
      else
        sourced_emit_source_changed (d, src);
    }
  if (b->manager)
    {
      guint64 old = d->manager_durable;
      if (next && next->manager)
        d->manager_durable = b->manager_written;
      else
        d->manager_pending = FALSE;
      if (old != b->manager_written)
        sourced_emit_gate_changed (d);
    }
  if (n_sources_changed)
    sourced_emit_count_changed (d);

  for (guint i = 0; i < b->ops->len; i++)
    {
      CommitOp *op = b->ops->pdata[i];
      op->destroy = NULL; /* @done owns user_data now */
      if (op->done)
        op->done (d, op->call, op->src, op->user_data);
      else if (op->call)
        sd_bus_reply_method_return (op->call, NULL);
    }
}

static gboolean
source_commit_in_flight (gpointer key, gpointer value, gpointer user_data)
{
  Source *src = value;

  return src->pump && pump_commit_in_flight (src->pump);
}

/* Pause at the database's edge: once a Pause is answered, nothing of that
 * source commits in PostgreSQL. The sink sends no COMMIT once it is held,
 * but one sent before may still be on its way: the reply waits for its
 * answer. (The Manager's gate holds every source.) */
static gboolean
waits_for_sink (Sourced *d, CommitBatch *b)
{
  if (b->manager)
    {
      GTreeNode *node;
      for (node = g_tree_node_first (d->sources); node; node = g_tree_node_next (node))
        if (source_commit_in_flight (NULL, g_tree_node_value (node), NULL))
          return TRUE;
      return FALSE;
    }
  for (guint i = 0; i < b->sources->len; i++)
    if (source_commit_in_flight (NULL, b->sources->pdata[i], NULL))
      return TRUE;
  return FALSE;
}

static gboolean on_batch_written (gpointer user_data);

static gboolean
on_sink_settled_idle (gpointer user_data)
{
  Sourced *d = user_data;

  if (d->writing && d->writing_waits_sink)
    on_batch_written (d);
  return G_SOURCE_REMOVE;
}

void
commit_sink_settled (Sourced *d)
{
  if (d->writing && d->writing_waits_sink)
    g_idle_add (on_sink_settled_idle, d);
}

static gboolean
on_batch_written (gpointer user_data)
{
  Sourced *d = user_data;
  CommitBatch *b = d->writing;

  d->writing_waits_sink = !b->error && waits_for_sink (d, b);
  if (d->writing_waits_sink)
    return G_SOURCE_REMOVE; /* commit_sink_settled() comes back */
  d->writing = NULL;
  if (b->error)
    fail_all (d, b, b->error);
  else
    {
      finish (d, b);
      /* Nothing is waiting to be answered: a snapshot may replace the journal. */
      if (store_wants_snapshot (d->store))
        {
          g_autoptr (GError) snap_error = NULL;
          /* The journal already holds everything; a failed snapshot only
           * means a longer replay at the next start. */
          if (!commit_snapshot (d, &snap_error))
            g_warning ("Could not write a state snapshot: %s", snap_error->message);
        }
    }
  batch_free (b);
  /* What gathered meanwhile goes to the disk at once. */
  commit_flush (d);
  return G_SOURCE_REMOVE;
}

void
commit_flush (Sourced *d)
{
  if (batch_is_empty (d->batch))
    {
      g_clear_pointer (&d->batch, batch_free);
      return;
    }
  if (d->batch->sources->len == 0 && !d->batch->manager && !d->writing)
    {
      /* Only calls that changed nothing: answer them now. (With a write in
       * flight they wait for it: what they saw must be durable first.) */
      CommitBatch *b = g_steal_pointer (&d->batch);
      finish (d, b);
      batch_free (b);
      return;
    }
  if (d->writing)
    return; /* it goes once the last one is answered for */
  submit (d);
}

gboolean
commit_flush_sync (Sourced *d, GError **error)
{
  guint failed_before = d->failed_writes;

  while (!batch_is_empty (d->batch) || d->writing)
    {
      if (!d->writing)
        {
          commit_flush (d);
          continue;
        }
      g_main_context_iteration (NULL, TRUE);
    }
  if (d->failed_writes != failed_before)
    {
      g_set_error_literal (error, SOURCED_ERROR, SOURCED_ERROR_PERSIST_FAILED, "Some changes could not be persisted");
      return FALSE;
    }
  return TRUE;
}
