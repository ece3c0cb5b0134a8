/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

/* The control-state store: GKeyFile text in the state directory.
 *
 *   state.ini      snapshot: [Store] Version=1 JournalSeq=N, one group per
 *                  object, and an [End] group whose Checksum covers the rest,
 *                  so a file cut short is recognised instead of half-loaded.
 *   state.journal  transactions appended since the snapshot; each is a
 *                  "#@txn SEQ LENGTH SHA256" comment line and LENGTH bytes of
 *                  GKeyFile groups that replace the snapshot's groups of the
 *                  same name.
 *
 * One transaction is one append and one fdatasync, whatever the number of
 * sources, so a change costs the same with 10 sources or 100,000; the
 * snapshot is rewritten (atomically: temp file, fsync, rename, fsync of the
 * directory) only when the journal has grown past the snapshot's size, which
 * keeps that cost amortised O(1) per change too. */

typedef struct Store Store;

Store *store_new (const char *state_dir);
void store_free (Store *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Store, store_free)

/* Reads snapshot and journal into one GKeyFile. A snapshot or journal that
 * cannot be trusted is moved aside as <name>.corrupt-<timestamp> with a
 * warning and an empty store is returned; a transaction torn by a crash at
 * the journal's end (never acknowledged) is cut off with a message. Fails
 * only when the files cannot be read or moved at all. */
/* Called for each group of the store, one at a time, in a key file of its
 * own: the snapshot's, then each journal transaction's. A later call for a
 * group replaces what an earlier one said. @group NULL: forget everything
 * so far (the store turned out corrupt and was moved aside; start from the
 * definitions). */
typedef void (*StoreGroupFunc) (const char *group, GKeyFile *kf, gpointer user_data);
/* FALSE only when the store can neither be read nor moved aside. */
gboolean store_load_stream (Store *store, StoreGroupFunc func, gpointer user_data, GError **error);
/* The same, merged into one key file (tests, fuzzing, small stores). */
GKeyFile *store_load (Store *store, GError **error);

/* Appends one transaction (@text: GKeyFile groups) and waits until it is on
 * disk. On failure the journal is cut back so that nothing of it remains. */
gboolean store_append (Store *store, const char *text, gsize length, GError **error);

/* Whether the journal has grown enough that a new snapshot pays off. */
gboolean store_wants_snapshot (Store *store);

/* Replaces the snapshot with @text (GKeyFile groups for every object, without
 * the [Store] and [End] groups, which are added here) and empties the journal. */
gboolean store_write_snapshot (Store *store, const char *text, gsize length, GError **error);

/* Counters for tests and benchmarks. */
guint64 store_get_n_syncs (Store *store);

/* When this file exists, every write fails with ENOSPC: lets the tests
 * exercise PersistFailed deterministically, even as root. */
void store_set_fault_file (Store *store, const char *path);

/* Copies every key of @group in @from into @to, replacing what @to had. */
void store_keyfile_replace_group (GKeyFile *to, GKeyFile *from, const char *group);
