/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "sourced.h"

/* Group commit. A handler validates, changes the model (through the
 * SourceEdit commit_track_source() returns, or after commit_track_manager(),
 * so the committed state can be restored), and queues its
 * reply with commit_add(). Everything queued while the bus is being drained
 * is written as one store transaction with one fdatasync; only then are the
 * signals sent and @done run (which replies, or starts the supervisor's work
 * and replies later). If the write fails, every tracked object is restored,
 * nothing is emitted, and each queued call gets PersistFailed. */

typedef void (*CommitDoneFunc) (Sourced *d, sd_bus_message *call, Source *src, gpointer user_data);

/* Tracks @src in the batch being collected, and hands out the edit that
 * the mutators of its persisted state want. */
SourceEdit commit_track_source (Sourced *d, Source *src);
void commit_track_manager (Sourced *d);

/* @call may be NULL (a change the daemon makes itself). @done NULL: reply
 * with no arguments. */
void commit_add (Sourced *d, sd_bus_message *call, Source *src, CommitDoneFunc done, gpointer user_data);
/* The same; @destroy frees @user_data if @done never runs (the write
 * failed and the call got PersistFailed). */
void commit_add_full (Sourced *d, sd_bus_message *call, Source *src, CommitDoneFunc done, gpointer user_data,
                      GDestroyNotify destroy);

/* Makes sure the batch is committed soon (from an idle callback) even if no
 * bus message is being processed. */
void commit_schedule (Sourced *d);

/* Starts writing the collected batch, or, if the last one is not answered
 * for yet, leaves it for then. It cannot fail here: a failed write is
 * answered later, call by call, with PersistFailed. */
void commit_flush (Sourced *d);
/* Writes everything pending and waits for it (at start and at exit),
 * running the main context meanwhile. */
gboolean commit_flush_sync (Sourced *d, GError **error);

/* Writes a fresh snapshot of everything (only while nothing is being
 * written). */
gboolean commit_snapshot (Sourced *d, GError **error);

/* The store text of the whole daemon, for snapshots. */
char *commit_serialize_all (Sourced *d, gsize *length);

/* A COMMIT a PostgreSQL sink had sent has its answer: a written batch
 * whose replies waited for it goes on. */
void commit_sink_settled (Sourced *d);
