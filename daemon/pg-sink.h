/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

/* Delivery into PostgreSQL, exactly once, over one libpq connection per
 * source, driven from the main loop (libpq's non-blocking interface, its
 * socket in the daemon's IoWatcher): nothing here ever waits on the server.
 *
 * Lines (whole ones, '\n'-terminated) go in through pg_sink_write(). For a
 * Singer source a SCHEMA makes or widens the stream's table, RECORDs are
 * COPYed into the open transaction (into a staging table for streams with
 * key_properties, merged with INSERT … ON CONFLICT at commit), and at a STATE
 * the transaction commits together with the checkpoint row
 * <schema>.sourced_checkpoints — once PG_SINK_COMMIT_ROWS rows or
 * PG_SINK_COMMIT_MSEC have gathered, or when the tap goes quiet after it.
 * For an exec source each line is a jsonb row, committed by the same
 * limits.
 *
 * Fencing: the checkpoint row carries an epoch. A start takes the source
 * over (epoch + 1, owner = this host); every commit updates the row only
 * WHERE epoch is still ours, and when it is not, the transaction is rolled
 * back and @fenced is called. After a lost connection the row is read
 * again before anything else, and the epoch checked.
 *
 * While held (the source is paused or gated) no COMMIT is sent; one already
 * sent is "in flight" until its answer comes (@settled). */

#define PG_SINK_COMMIT_ROWS 100000
#define PG_SINK_COMMIT_MSEC 1000
/* An exec source's uncommitted lines stay in the pump (they are sent again
 * after a lost connection); past this many bytes the batch commits. */
#define PG_SINK_EXEC_BATCH_BYTES (8 * 1024 * 1024)
/* A server that answers nothing for this long counts as gone (a stopped
 * or vanished host; a TCP connection to one would wait for minutes). Long
 * enough for the merge of a full batch of upserts on a slow server:
 * 100,000 rows take half a second here. */
#define PG_SINK_STALL_SEC 30

typedef struct PgSink PgSink;
typedef struct IoWatcher IoWatcher;

typedef struct {
  /* Ready for a run: the checkpoint row has been read (and, for a start,
   * the source taken over). pg_sink_bookmark() is the database's. */
  void (*ready) (gpointer owner);
  /* A transaction committed: @records rows from @bytes bytes of input;
   * @bookmark: the STATE it committed with (NULL for exec). */
  void (*committed) (gpointer owner, const char *bookmark, guint64 records, guint64 bytes);
  /* The server is gone, refused us, or failed a command: everything not
   * committed was rolled back. */
  void (*lost) (gpointer owner, const char *message);
  /* Another daemon took the source over (@message names it), or the data
   * does not fit its table (@message names table and column): the
   * transaction was rolled back, and the connection is closed. Only a
   * person can go on from here (the source is paused). */
  void (*stopped) (gpointer owner, const char *message);
  /* Takes lines again after pg_sink_write() took fewer than it was given. */
  void (*writable) (gpointer owner);
  /* The COMMIT that was in flight has its answer. */
  void (*settled) (gpointer owner);
} PgSinkCallbacks;

typedef struct {
  const char *conninfo; /* a libpq URI, without password */
  const char *schema;
  const char *source_id;
  const char *owner_name; /* written into the checkpoint row's owner */
  gboolean singer;
  /* Milliseconds for PG_SINK_COMMIT_MSEC and PG_SINK_STALL_SEC, as the
   * daemon's clock scales them. */
  guint commit_ms;
  guint stall_ms;
} PgSinkSetup;

PgSink *pg_sink_new (const PgSinkCallbacks *callbacks, gpointer owner, IoWatcher *io);
void pg_sink_free (PgSink *sink);

/* Gets ready for a run: connects if need be, ends what the last run left
 * (a final commit at its last STATE, or a rollback), and reads the
 * checkpoint row; TRUE if that is already done (a run may begin at once,
 * from pg_sink_bookmark()), FALSE if @ready will be called. */
gboolean pg_sink_prepare (PgSink *sink, const PgSinkSetup *setup);
/* The next prepare takes the source over (a Start, an Unpause after a
 * fence). */
void pg_sink_want_takeover (PgSink *sink);
/* A run begins: lines may come. */
void pg_sink_begin_run (PgSink *sink);
/* The worker is gone and every line has been written: what ends in a STATE
 * (or, for exec, everything) commits. */
void pg_sink_end_run (PgSink *sink);
/* Closes the connection once what is under way is done (the source
 * stopped). */
void pg_sink_close (PgSink *sink);

/* Takes as many whole lines of @data as it can now; returns their length. */
gsize pg_sink_write (PgSink *sink, const char *data, gsize length);
/* TRUE: no COMMIT is sent until released. */
void pg_sink_hold (PgSink *sink, gboolean hold);

gboolean pg_sink_commit_in_flight (PgSink *sink);
/* The database's bookmark, as of the last checkpoint read or commit. */
const char *pg_sink_bookmark (PgSink *sink);
