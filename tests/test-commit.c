/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* commit.c on its own: a daemon object with a real store in a temporary
 * directory, the store's fault injection, and a fake observer that records
 * what would have been announced. No bus: commit knows nothing of it. */
#include <glib/gstdio.h>

#include "commit.h"
#include "sourced-error.h"

typedef struct {
  Sourced d;
  char *dir;
  char *fault;
  GString *log; /* "changed:ID added:ID removed:ID gate count done:ID dropped:ID", in order */
} Fixture;

static Fixture *current;

static void
log_event (const char *what, const char *id)
{
  if (current->log->len)
    g_string_append_c (current->log, ' ');
  g_string_append (current->log, what);
  if (id)
    g_string_append_printf (current->log, ":%s", id);
}

static void
on_changed (Sourced *d, Source *src)
{
  if (src->changed)
    log_event ("changed", src->id);
  src->changed = 0;
}

static void
on_added (Sourced *d, Source *src)
{
  log_event ("added", src->id);
}

static void
on_removed (Sourced *d, Source *src)
{
  log_event ("removed", src->id);
}

static void
on_gate (Sourced *d)
{
  log_event ("gate", NULL);
}

static void
on_count (Sourced *d)
{
  log_event ("count", NULL);
}

static const SourcedObserver fake_observer = {
  .source_changed = on_changed,
  .source_added = on_added,
  .source_removed = on_removed,
  .gate_changed = on_gate,
  .count_changed = on_count,
};

static int
compare_ids (gconstpointer a, gconstpointer b, gpointer user_data)
{
  return strcmp (a, b);
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->dir = g_dir_make_tmp ("sourced-commit-XXXXXX", NULL);
  g_assert_nonnull (f->dir);
  f->fault = g_build_filename (f->dir, "fault", NULL);
  f->d.observer = &fake_observer;
  f->d.sources = g_tree_new_full (compare_ids, NULL, NULL, (GDestroyNotify) source_unref);
  f->d.store = store_new (f->dir);
  f->d.state_dir = g_strdup (f->dir);
  store_set_fault_file (f->d.store, f->fault);
  f->log = g_string_new (NULL);
  current = f;
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_tree_unref (f->d.sources);
  store_free (f->d.store);
  g_free (f->d.state_dir);
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", f->dir);
  g_assert_cmpint (system (cmd), ==, 0);
  g_free (f->dir);
  g_free (f->fault);
  g_string_free (f->log, TRUE);
  current = NULL;
}

static Source *
add_source (Fixture *f, const char *id)
{
  SourceSettings *s = source_settings_new ();
  s->exec = g_strdup ("true");
  Source *src = source_new (id, s, NULL);
  sourced_insert (&f->d, src);
  source_refresh (src, FALSE);
  src->changed = 0;
  return src;
}

static void
on_done (Sourced *d, sd_bus_message *call, Source *src, gpointer user_data)
{
  log_event ("done", user_data);
}

static void
on_dropped (gpointer user_data)
{
  log_event ("dropped", user_data);
}

static void
change_pause (Fixture *f, Source *src, guint64 at, const char *tag)
{
  source_set_paused_at (commit_track_source (&f->d, src), at, at);
  source_refresh (src, FALSE);
  commit_add_full (&f->d, NULL, src, on_done, (gpointer) tag, on_dropped);
}

static void
fail_writes (Fixture *f, gboolean fail)
{
  if (fail)
    g_assert_true (g_file_set_contents (f->fault, "", 0, NULL));
  else
    g_unlink (f->fault);
}

/* A durable change is announced, then its caller is answered: a client
 * that reads after the reply sees the signal first. */
static void
test_durable_then_announced (Fixture *f, gconstpointer data)
{
  Source *src = add_source (f, "a");
  guint64 syncs = store_get_n_syncs (f->d.store);

  change_pause (f, src, 100, "a");
  g_assert_cmpstr (f->log->str, ==, ""); /* nothing before it is durable */
  g_assert_true (commit_flush_sync (&f->d, NULL));
  g_assert_cmpstr (f->log->str, ==, "changed:a done:a");
  g_assert_cmpuint (src->control.paused_at, ==, 100);
  g_assert_cmpuint (store_get_n_syncs (f->d.store), ==, syncs + 1);
  g_assert_null (src->rollback);
}

/* A failed write: the change is undone, nothing is announced, and the
 * call is dropped (its caller gets PersistFailed). */
static void
test_failed_write_rolls_back (Fixture *f, gconstpointer data)
{
  Source *src = add_source (f, "a");
  g_autoptr (GError) error = NULL;

  fail_writes (f, TRUE);
  change_pause (f, src, 100, "a");
  g_assert_false (commit_flush_sync (&f->d, &error));
  g_assert_error (error, SOURCED_ERROR, SOURCED_ERROR_PERSIST_FAILED);
  g_assert_cmpstr (f->log->str, ==, "dropped:a");
  g_assert_cmpuint (src->control.paused_at, ==, 0);
  g_assert_cmpint (src->status, ==, SOURCE_STATUS_STOPPED);
  g_assert_null (src->rollback);
  g_assert_cmpuint (f->d.failed_writes, ==, 1);

  /* Room again: the same change goes through. */
  fail_writes (f, FALSE);
  change_pause (f, src, 200, "b");
  g_assert_true (commit_flush_sync (&f->d, NULL));
  g_assert_cmpstr (f->log->str, ==, "dropped:a changed:a done:b");
  g_assert_cmpuint (src->control.paused_at, ==, 200);
}

/* The two-batch rollback: a batch is being written and the next one is
 * collected meanwhile (the same source changed again, and another). The
 * write fails: both batches are undone to what was durable, in both
 * sources, and nothing of either is announced. */
static void
test_two_batch_rollback (Fixture *f, gconstpointer data)
{
  Source *a = add_source (f, "a");
  Source *b = add_source (f, "b");

  change_pause (f, a, 100, "a1");
  g_assert_true (commit_flush_sync (&f->d, NULL));
  g_string_truncate (f->log, 0);

  fail_writes (f, TRUE);
  source_set_paused_at (commit_track_source (&f->d, a), 0, 150); /* unpause, in the first batch */
  source_refresh (a, FALSE);
  commit_add_full (&f->d, NULL, a, on_done, (gpointer) "a2", on_dropped);
  commit_flush (&f->d); /* written (and failing) now, answered from the loop */
  g_assert_nonnull (f->d.writing);
  change_pause (f, a, 300, "a3"); /* the next batch, collected while it writes */
  change_pause (f, b, 300, "b1");
  g_assert_false (commit_flush_sync (&f->d, NULL));

  g_assert_cmpstr (f->log->str, ==, "dropped:a2 dropped:a3 dropped:b1");
  g_assert_cmpuint (a->control.paused_at, ==, 100); /* what was durable */
  g_assert_cmpuint (b->control.paused_at, ==, 0);
  g_assert_null (a->rollback);
  g_assert_null (b->rollback);
  g_assert_cmpuint (a->changed, ==, 0);
}

/* The same, when the first batch succeeds: the source in both batches is
 * announced once its last change is durable, and every caller in order. */
static void
test_two_batches_succeed (Fixture *f, gconstpointer data)
{
  Source *a = add_source (f, "a");

  change_pause (f, a, 100, "a1");
  commit_flush (&f->d);
  source_set_paused_at (commit_track_source (&f->d, a), 0, 150);
  source_refresh (a, FALSE);
  commit_add_full (&f->d, NULL, a, on_done, (gpointer) "a2", on_dropped);
  g_assert_true (commit_flush_sync (&f->d, NULL));
  g_assert_cmpstr (f->log->str, ==, "done:a1 changed:a done:a2");
  g_assert_cmpuint (a->control.paused_at, ==, 0);
}

/* A new source is announced (and counted) only once durable; a failed
 * write forgets it. */
static void
test_new_source (Fixture *f, gconstpointer data)
{
  SourceSettings *s = source_settings_new ();
  s->exec = g_strdup ("true");
  Source *src = source_new ("n", s, NULL);
  src->is_new = TRUE;
  sourced_insert (&f->d, src);
  commit_track_source (&f->d, src);
  commit_add_full (&f->d, NULL, src, on_done, (gpointer) "n", on_dropped);
  fail_writes (f, TRUE);
  g_assert_false (commit_flush_sync (&f->d, NULL));
  g_assert_cmpstr (f->log->str, ==, "dropped:n");
  g_assert_null (sourced_lookup (&f->d, "n"));
  g_assert_cmpuint (f->d.n_sources, ==, 0);

  fail_writes (f, FALSE);
  g_string_truncate (f->log, 0);
  s = source_settings_new ();
  s->exec = g_strdup ("true");
  src = source_new ("m", s, NULL);
  src->is_new = TRUE;
  sourced_insert (&f->d, src);
  commit_track_source (&f->d, src);
  commit_add_full (&f->d, NULL, src, on_done, (gpointer) "m", on_dropped);
  g_assert_true (commit_flush_sync (&f->d, NULL));
  g_assert_cmpstr (f->log->str, ==, "added:m count done:m");
  g_assert_nonnull (sourced_lookup (&f->d, "m"));
}

/* The Manager's gate: announced once durable, restored if not. */
static void
test_gate (Fixture *f, gconstpointer data)
{
  commit_track_manager (&f->d);
  f->d.paused_at = 500;
  commit_add_full (&f->d, NULL, NULL, on_done, (gpointer) "g1", on_dropped);
  fail_writes (f, TRUE);
  g_assert_false (commit_flush_sync (&f->d, NULL));
  g_assert_cmpstr (f->log->str, ==, "dropped:g1");
  g_assert_cmpuint (f->d.paused_at, ==, 0);

  fail_writes (f, FALSE);
  g_string_truncate (f->log, 0);
  commit_track_manager (&f->d);
  f->d.paused_at = 600;
  commit_add_full (&f->d, NULL, NULL, on_done, (gpointer) "g2", on_dropped);
  g_assert_true (commit_flush_sync (&f->d, NULL));
  g_assert_cmpstr (f->log->str, ==, "gate done:g2");
  g_assert_cmpuint (f->d.paused_at, ==, 600);
}

/* A call that changed nothing is answered without a write and without a
 * signal. */
static void
test_no_change_no_write (Fixture *f, gconstpointer data)
{
  Source *src = add_source (f, "a");
  guint64 syncs = store_get_n_syncs (f->d.store);

  commit_add_full (&f->d, NULL, src, on_done, (gpointer) "noop", on_dropped);
  g_assert_true (commit_flush_sync (&f->d, NULL));
  g_assert_cmpstr (f->log->str, ==, "done:noop");
  g_assert_cmpuint (store_get_n_syncs (f->d.store), ==, syncs);
}

/* A snapshot taken while a change waits for its commit holds what is
 * durable, and leaves the live state alone. */
static void
test_snapshot_holds_durable (Fixture *f, gconstpointer data)
{
  Source *src = add_source (f, "a");
  gsize length;

  src->definition_file = g_strdup ("/etc/sourced/sources.d/a.source");
  change_pause (f, src, 100, "a1");
  g_assert_true (commit_flush_sync (&f->d, NULL));
  source_set_paused_at (commit_track_source (&f->d, src), 0, 200);
  source_refresh (src, FALSE);
  g_autofree char *text = commit_serialize_all (&f->d, &length);
  g_assert_nonnull (strstr (text, "PausedAt=100\n"));
  g_assert_cmpuint (src->control.paused_at, ==, 0); /* the live state is untouched */
  g_assert_nonnull (src->rollback);
  commit_add_full (&f->d, NULL, src, on_done, (gpointer) "a2", on_dropped);
  g_assert_true (commit_flush_sync (&f->d, NULL));
  g_assert_cmpuint (src->control.paused_at, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* The failed writes are meant: their warnings are not the test failing. */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/commit/durable-then-announced", test_durable_then_announced);
  ADD ("/commit/failed-write-rolls-back", test_failed_write_rolls_back);
  ADD ("/commit/two-batch-rollback", test_two_batch_rollback);
  ADD ("/commit/two-batches-succeed", test_two_batches_succeed);
  ADD ("/commit/new-source", test_new_source);
  ADD ("/commit/gate", test_gate);
  ADD ("/commit/no-change-no-write", test_no_change_no_write);
  ADD ("/commit/snapshot-holds-durable", test_snapshot_holds_durable);
  return g_test_run ();
}
