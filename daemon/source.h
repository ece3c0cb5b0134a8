/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "settings.h"
#include "source-props.h"

/* One data source: its settings, its persisted control state, and the
 * runtime state the supervisor keeps. Mutators record which D-Bus properties
 * they changed (Source.changed) so that the bus layer emits one
 * PropertiesChanged per object per change, from the model, once. */

typedef enum {
  SOURCE_STATUS_STOPPED,
  SOURCE_STATUS_STARTING,
  SOURCE_STATUS_ACTIVE,
  SOURCE_STATUS_PAUSED,
  SOURCE_STATUS_STOPPING,
  SOURCE_STATUS_FAILED,
  SOURCE_STATUS_RESTARTING,
} SourceStatus;

/* What the supervisor is doing; Status is derived from it and the pause. */
typedef enum {
  SOURCE_RUN_STOPPED,
  SOURCE_RUN_STARTING,
  SOURCE_RUN_RUNNING, /* worker running or waiting to be restarted, or schedule armed */
  SOURCE_RUN_STOPPING,
  SOURCE_RUN_FAILED,
} SourceRun;

/* Each property's place in SOURCE_PROPERTIES, and its bit in
 * Source.changed. */
typedef enum {
#define SOURCE_PROP_INDEX_ENUM(bit, ...) SOURCE_PROP_INDEX_##bit,
  SOURCE_PROPERTIES (SOURCE_PROP_INDEX_ENUM)
#undef SOURCE_PROP_INDEX_ENUM
      SOURCE_N_PROPS
} SourcePropIndex;

typedef enum {
#define SOURCE_PROP_BIT_ENUM(bit, ...) SOURCE_PROP_##bit = 1u << SOURCE_PROP_INDEX_##bit,
  SOURCE_PROPERTIES (SOURCE_PROP_BIT_ENUM)
#undef SOURCE_PROP_BIT_ENUM
} SourceProp;

G_STATIC_ASSERT (SOURCE_N_PROPS <= 32); /* Source.changed is a guint */

/* The change-signal mask: the properties whose changes go out in
 * PropertiesChanged (kinds SIGNAL and WRITABLE), from the same table. */
#define SOURCE_PROP_EMITS_CONST 0u
#define SOURCE_PROP_EMITS_SIGNAL 1u
#define SOURCE_PROP_EMITS_SILENT 0u
#define SOURCE_PROP_EMITS_WRITABLE 1u
enum {
#define SOURCE_PROP_EMITTING_BIT(bit, name, sig, kind, value) | (SOURCE_PROP_EMITS_##kind ? SOURCE_PROP_##bit : 0u)
  SOURCE_PROPS_EMITTING = 0u SOURCE_PROPERTIES (SOURCE_PROP_EMITTING_BIT)
#undef SOURCE_PROP_EMITTING_BIT
};

/* The part of a source that is persisted in the store. */
typedef struct {
  guint64 paused_at;
  guint64 system_paused_at;
  guint64 created_at;
  guint64 updated_at;
  guint64 last_job_started_at;
  gboolean started;
  gint last_exit_status;
  char *bookmark; /* NULL: none */
  /* The last checkpoint of a Singer source with a file sink: everything up
   * to sink_offset in sink_path goes with bookmark. */
  char *sink_path;
  guint64 sink_offset;
  /* Delivery counters as last persisted (for a Singer file sink: at the
   * checkpoint). */
  guint64 records_delivered;
  guint64 bytes_delivered;
  guint64 last_record_at;
} SourceControl;

typedef struct Pump Pump;

typedef struct Worker Worker;

struct Sourced;

typedef struct Source Source;

/* What source_refresh() tells whoever runs the data path, so that it sees
 * each change of the pause or the run state at once. A source gets its
 * daemon's hooks when it is inserted (sourced_insert). */
typedef struct {
  void (*refresh) (Source *src, gboolean gate_paused);
} SourceHooks;

typedef struct Source {
  /* The daemon it belongs to (set by sourced_insert), as logind's sessions
   * have s->manager: callbacks that get only a Source reach the rest. */
  struct Sourced *daemon;
  const SourceHooks *hooks; /* NULL: nobody runs its data path (unit tests) */
  int ref_count;
  char *id;
  SourceSettings *settings;
  char *definition_file; /* NULL: made with CreateSource */

  SourceControl control;
  SourceControl *rollback; /* the committed control while a change is pending */
  guint64 batch_gen;       /* the commit batch it was last added to */
  gboolean removed;        /* removal pending or done */
  gboolean is_new;         /* added in the batch not yet committed */

  SourceRun run;
  SourceStatus status; /* last derived, for change detection */
  gboolean active;     /* likewise */
  guint changed;       /* SourceProp bits not yet emitted */
  char *last_error;    /* NULL: none */
  guint64 next_run_at;
  guint64 records_delivered, bytes_delivered, last_record_at;
  /* systemd's auto-restart, told apart from delivering: set when a
   * continuous worker failed, cleared once a restarted run delivers (or
   * the source is started, stopped or paused by sourced). */
  gboolean retrying;
  guint n_restarts;       /* workers restarted since the last Start */
  guint64 next_retry_at;  /* 0: no restart pending */

  /* Supervisor's bookkeeping (supervisor.c). */
  Worker *worker;
  Pump *pump;           /* the data path; lives as long as the source */
  gboolean finishing;   /* the worker exited, its output is being delivered */
  int exit_wait_status; /* of the worker, while finishing */
  gint64 exit_ran_usec;
  char *exit_last_line;
  char *broken;         /* why the data path ended the run, if it did */
  gboolean job_override; /* a RunJob while paused: this job's data flows */
  gboolean was_held;     /* paused or gated at the last refresh */
  gboolean job_running;
  guint restart_timer;
  guint recovery_timer;  /* a restarted run's grace before it counts as recovered */
  guint64 retry_records; /* records_delivered when that run began */
  guint schedule_timer;
  guint kill_timer;
  guint failures;
  gboolean gave_up;
  gboolean restart_pending;
  gboolean queued;          /* waits in the supervisor's launch queue */
  guint resource_waits;     /* launches put off for sourced's own shortage */
  /* A PostgreSQL sink (pg-sink.c): waiting for it to be ready for a run;
   * the worker was ended because it is gone; its retry timer; outages in a
   * row (the backoff). */
  gboolean sink_waiting;
  gboolean sink_down;
  guint sink_timer;
  guint sink_failures;
  GPtrArray *start_waiters; /* SupervisorWaiter */
  GPtrArray *stop_waiters;
} Source;

Source *source_new (const char *id, SourceSettings *settings /* owned */, const char *definition_file);
Source *source_ref (Source *src);
void source_unref (Source *src);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Source, source_unref)

const char *source_status_to_string (SourceStatus status);
const char *source_display_name (const Source *src);
gboolean source_is_paused (const Source *src);
gboolean source_is_scheduled (const Source *src);

/* Recomputes Status and Active (which depend on the run state, the pause and
 * the Manager's gate) and marks what changed. Call after any mutation. */
void source_refresh (Source *src, gboolean gate_paused);

/* A change of a source's persisted control state, in the commit being
 * collected. Only commit_track_source() hands one out, after keeping what
 * to restore if the write fails; every mutator of SourceControl wants one.
 * So a change the commit does not know of does not compile, and one made
 * with a stale edit fails an assertion. (source_edit_begin is for
 * commit.c and the unit tests; tests/arch/check-control.py holds everyone
 * else to that.) */
typedef struct {
  Source *src;
} SourceEdit;

SourceEdit source_edit_begin (Source *src);

/* A new source's control state, before it is inserted: created now, and
 * started or paused as InitialState says. */
void source_init_control (Source *src, guint64 now);
/* …or the one the store kept for it (taken over; @stored is zeroed). */
void source_take_control (Source *src, SourceControl *stored);

/* Control changes: each marks what changed; those a client makes set
 * UpdatedAt. */
void source_set_paused_at (SourceEdit e, guint64 paused_at, guint64 now);
void source_set_system_paused_at (SourceEdit e, guint64 at, guint64 now);
void source_set_started (SourceEdit e, gboolean started, guint64 now);
void source_set_last_job_started_at (SourceEdit e, guint64 at);
void source_set_last_exit_status (SourceEdit e, gint status);
void source_set_bookmark (SourceEdit e, const char *bookmark);
/* The counters as they stand now become the persisted ones… */
void source_save_counters (SourceEdit e);
/* …or these, as of a checkpoint (with the last record's time as now). */
void source_save_delivered (SourceEdit e, guint64 records, guint64 bytes);
/* A Singer file sink's checkpoint: everything up to @offset in @sink_path
 * goes with the bookmark. */
void source_set_checkpoint (SourceEdit e, const char *sink_path, guint64 offset);
void source_set_last_error (Source *src, const char *error);
void source_set_run (Source *src, SourceRun run);
void source_set_settings (Source *src, SourceSettings *settings /* owned */);
void source_set_next_run_at (Source *src, guint64 at);
/* The restart state: whether the source is retrying a failed worker, and
 * when it tries next (0: no retry pending). */
void source_set_retrying (Source *src, gboolean retrying, guint64 next_retry_at);
void source_set_n_restarts (Source *src, guint n);
/* The sink as configured, for the Sink property: "" for the default file. */
const char *source_sink (const Source *src);
/* A log line about @src, with SOURCE_ID= for the journal (sourcectl status
 * shows a source's own lines by it). */
void source_log (const Source *src, GLogLevelFlags level, const char *format, ...) G_GNUC_PRINTF (3, 4);
/* …and back: the counters start from the persisted ones. */
void source_restore_counters (Source *src);


/* Rollback support: the committed control state is kept from the first
 * change of a batch (source_edit_begin), and restored if the batch cannot
 * be persisted. */
void source_commit_change (Source *src);
void source_rollback_change (Source *src, gboolean gate_paused);

void source_control_clear (SourceControl *control);
void source_control_copy (SourceControl *to, const SourceControl *from);

/* Names of the properties in @mask that emit (SOURCE_PROPS_EMITTING), for
 * PropertiesChanged. */
GStrv source_prop_names (guint mask);

/* Store encoding: one "[Source <id>]" group. */
char *source_store_group (const char *id);
void source_to_keyfile (const Source *src, GKeyFile *kf);
/* The same group as text (ending in a blank line), without a GKeyFile for
 * the common case: what the journal and the snapshot are made of. */
void source_to_text (const Source *src, GString *out);
/* The same for a given control state (what is durable, while a change
 * waits for its commit), without touching the live one. */
void source_state_to_keyfile (const Source *src, const SourceControl *control, gboolean removed, GKeyFile *kf);
void source_state_to_text (const Source *src, const SourceControl *control, gboolean removed, GString *out);
/* Reads the control keys of @group; missing keys keep their defaults. */
void source_control_from_keyfile (SourceControl *control, GKeyFile *kf, const char *group);
