/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "settings.h"

/* The data path of one source: reads what its worker writes on stdout, cuts
 * it into records (lines), and delivers them to the sink — a JSON-lines file,
 * or a Target= command's stdin.
 *
 * Backpressure is the whole flow control: while the pump is not flowing
 * (paused, gated, sink broken) it does not read the worker's pipe, the pipe
 * fills and the worker blocks in write(). Inside sourced at most one read
 * (what the pipe holds, up to PUMP_READ_CHUNK) plus one unfinished line
 * (PUMP_LINE_MAX) is buffered.
 *
 * For Singer sources, a STATE message is a checkpoint: everything before it
 * is written and fdatasync'd, then (sink offset, bookmark) is handed to the
 * owner to persist. When a run starts, the file sink is cut back to the last
 * persisted checkpoint, so a tap resuming from that bookmark never doubles
 * a record. With a Target=, the bookmark is what the target echoes on its
 * stdout once it has stored the data (the Singer/Meltano convention). */

#define PUMP_READ_CHUNK (1024 * 1024)
#define PUMP_PIPE_SIZE (1024 * 1024)
#define PUMP_LINE_MAX (16 * 1024 * 1024)

typedef struct Pump Pump;
typedef struct Source Source;

typedef struct {
  /* Everything before offset is in the sink and on disk; @bookmark is the
   * STATE that followed it. @records/@bytes: the counters at that point. */
  void (*checkpoint) (Source *src, const char *sink_path, guint64 offset, const char *bookmark,
                      guint64 records, guint64 bytes);
  /* @records records in @bytes bytes reached the sink (or the target's
   * stdin): the owner keeps the counters. */
  void (*delivered) (Source *src, guint64 records, guint64 bytes);
  /* The target has stored everything up to @bookmark. */
  void (*target_bookmark) (Source *src, const char *bookmark);
  /* The sink does not take data (disk full, permission, I/O error). The
   * pump holds what it has and reads no more; nothing is dropped. */
  void (*sink_failed) (Source *src, const char *message);
  /* The run cannot go on (target gone, line too long): stop the worker. */
  void (*broken) (Source *src, const char *message);
  /* Control waits (a bus message): stop after the read in hand, so that
   * the loop gets back to the bus; may be NULL. */
  gboolean (*should_yield) (Source *src);

  /* PostgreSQL (pg-sink.h): ready for a run after pump_open() said
   * G_IO_ERROR_PENDING; a batch committed (@bookmark NULL for exec); the
   * server is gone (what was not committed comes again); the source was
   * taken over or its data does not fit (the source must be paused); a
   * COMMIT that was in flight has its answer. */
  void (*sink_ready) (Source *src);
  void (*committed) (Source *src, const char *bookmark, guint64 records, guint64 bytes);
  void (*sink_lost) (Source *src, const char *message);
  void (*sink_gone) (Source *src, const char *message);
  void (*settled) (Source *src);
} PumpCallbacks;

typedef struct {
  SourceType type;
  const char *sink_path; /* file sink, or NULL with a target */
  const char *target;    /* Target= command line, or NULL */
  const char *state_dir; /* sourced's own: no sink inside it but sinks/ */
  /* Singer with a file sink: the last persisted checkpoint, if it was taken
   * in this very file (checkpoint_path equal to sink_path). */
  const char *checkpoint_path;
  guint64 checkpoint_offset;
  /* A PostgreSQL sink: its URI, schema, the owner name for the checkpoint
   * row, and the commit and stall timeouts as the daemon's clock has them. */
  const char *postgresql;
  const char *schema;
  const char *owner_name;
  guint commit_ms;
  guint stall_ms;
} PumpSetup;

typedef struct Spawner Spawner;
typedef struct IoWatcher IoWatcher;

/* @spawner and @io: the daemon's spawn helpers and descriptor watches. */
Pump *pump_new (Source *src, const PumpCallbacks *callbacks, Spawner *spawner, IoWatcher *io);
void pump_free (Pump *pump);

/* Readies the sink for a new run: opens the file (cutting it back to the
 * checkpoint for Singer), or starts the target. A PostgreSQL sink that is
 * not ready yet (connecting, reading its checkpoint) fails with
 * G_IO_ERROR_PENDING, and the sink_ready callback follows. */
gboolean pump_open (Pump *pump, const PumpSetup *setup, GError **error);
/* PostgreSQL: the database's bookmark for the run that pump_open() readied. */
const char *pump_sink_bookmark (Pump *pump);
/* PostgreSQL: the next pump_open() takes the source over (bumps the epoch). */
void pump_request_takeover (Pump *pump);
/* PostgreSQL, after sink_lost with the worker still running (exec):
 * connects again; TRUE if ready at once, else sink_ready follows. */
gboolean pump_sink_reconnect (Pump *pump, const PumpSetup *setup);
/* A COMMIT has been sent and its answer has not come. */
gboolean pump_commit_in_flight (Pump *pump);
/* The source stopped: a PostgreSQL connection closes once idle. */
void pump_close_sink (Pump *pump);
/* The offset where the file sink stands once opened. */
guint64 pump_sink_offset (Pump *pump);
/* Hands over the worker's stdout. */
void pump_attach (Pump *pump, int stdout_fd);
/* Lets data flow or holds it. Holding takes effect at once: after this
 * returns FALSE, no byte more reaches the sink. */
void pump_set_flowing (Pump *pump, gboolean flowing);
/* The worker has exited: what it left in the pipe is delivered (or held, if
 * not flowing), the target gets end of file and is waited for. @done runs
 * when the run's delivery is over; possibly before this returns. */
void pump_finish (Pump *pump, void (*done) (Source *src), Source *src);
/* Sends @sig to the target's process group, if there is a target. */
void pump_kill_target (Pump *pump, int sig);
