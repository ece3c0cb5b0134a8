/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

#include "sourced-api.h"

#include "clock.h"
#include "source.h"
#include "store.h"

/* dbus-daemon's default max_message_size on the system bus. */
#define SOURCED_DEFAULT_MAX_MESSAGE_SIZE (32u * 1024 * 1024)

typedef struct CommitBatch CommitBatch;
typedef struct Sourced Sourced;
typedef struct Auth Auth;
typedef struct Spawner Spawner;
typedef struct IoWatcher IoWatcher;

/* Who hears what became durable (commit.c) or what the supervisor changed:
 * the bus layer's bus-signals.c in the daemon, a fake in the unit tests.
 * commit.c and supervisor.c call it and know nothing of the bus. Any
 * member may be NULL. */
typedef struct {
  void (*source_changed) (Sourced *d, Source *src); /* src->changed: which properties */
  void (*source_added) (Sourced *d, Source *src);
  void (*source_removed) (Sourced *d, Source *src);
  void (*gate_changed) (Sourced *d);
  void (*count_changed) (Sourced *d); /* NSources */
  /* TRUE while a control message waits: data work and launches yield. */
  gboolean (*control_waiting) (Sourced *d);
} SourcedObserver;

/* The daemon's state: one per process, handed to every callback. */
struct Sourced {
  const SourcedObserver *observer;
  const SourceHooks *source_hooks; /* given to every source inserted (supervisor_init) */
  sd_bus *bus;
  GSource *bus_source; /* the bus in the main loop (bus-glib.c) */
  Store *store;
  GTree *sources;    /* id -> Source*, in id order (ListSourcesPaged) */
  guint n_sources;   /* not counting removed ones */
  guint64 paused_at; /* the Manager's gate */
  char *config_dir;
  char *state_dir;
  guint64 max_message_size;
  guint max_sources;
  GMainLoop *loop;
  gboolean shutting_down;
  int exit_code;

  /* Group commit (commit.c): the batch being collected, and the one written
   * and waiting for a high-priority idle to answer for it. */
  CommitBatch *batch;
  CommitBatch *writing;
  /* written, its replies waiting for a COMMIT PostgreSQL has (commit.c) */
  gboolean writing_waits_sink;
  guint64 batch_gen;
  gboolean manager_pending;     /* a gate change is not durable yet */
  guint64 manager_durable;      /* the gate as last made durable */
  guint commit_idle;

  /* Sources waiting to be launched (supervisor.c): started a slice at a
   * time, so that the bus and the watchdog are served between slices. */
  GQueue launch_queue;
  guint launch_idle;
  guint launch_count;  /* launched since the queue last ran dry */
  gint64 launch_since; /* monotonic time the queue started filling */
  guint status_sources; /* the N STATUS= last said "Supervising N sources" of; G_MAXUINT: not said */

  /* A bus that stopped reading us (bus-signals.c): signals are held, one
   * entry per object with the union of what changed, and sent as the last
   * state once it reads again. */
  gboolean bus_stalled;
  GHashTable *held_changes; /* Source* (ref) -> GUINT_TO_POINTER (SourceProp mask) */
  guint held_manager;       /* 1: PausedAt, 2: NSources */
  guint64 held_coalesced;   /* changes folded into the held ones */
  guint64 backlog_last;     /* bytes the bus had not read at the last look */
  gint64 backlog_progress;  /* monotonic time the queue last shrank (or was empty) */
  gint64 stalled_since;
  guint backlog_timer;

  Clock clock; /* the wall clock: real, or started and sped up by tests */
  guint failed_writes; /* store transactions that failed (commit.c) */
  Auth *auth;          /* who may change what (auth.c); NULL: everyone */
  Spawner *spawner;    /* the spawn helpers (spawner.c) */
  IoWatcher *io;       /* the workers' pipes behind one epoll (io-watch.c) */
};


Source *sourced_lookup (Sourced *d, const char *id);
void sourced_insert (Sourced *d, Source *src);
void sourced_forget (Sourced *d, Source *src);

/* Tell the observer (if it listens). */
void sourced_emit_source_changed (Sourced *d, Source *src);
void sourced_emit_source_added (Sourced *d, Source *src);
void sourced_emit_source_removed (Sourced *d, Source *src);
void sourced_emit_gate_changed (Sourced *d);
void sourced_emit_count_changed (Sourced *d);
gboolean sourced_control_waiting (Sourced *d);

/* The daemon's wall clock (clock.h), in µs since the epoch; and the real
 * milliseconds a timer waits for @usec of it. */
guint64 sourced_now (Sourced *d);
guint sourced_timeout_ms (Sourced *d, guint64 usec);

/* A source's object path: SOURCED_SOURCE_PREFIX and its id, as
 * sd_bus_path_encode escapes it. */
char *sourced_source_path (const char *id);
