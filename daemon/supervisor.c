/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "supervisor.h"

#include <signal.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

#include "commit.h"
#include "fd-limits.h"
#include "pump.h"
#include "pg-sink.h"
#include "scheduler.h"
#include "sink-rules.h"
#include "sourced-error.h"
#include "spawner.h"
#include "worker.h"

#define BACKOFF_MAX_SEC 300
/* A database that cannot be reached: tried again after 1 s, doubling, at
 * most every 30 s, for as long as it takes (it is not the source's fault,
 * so it never counts towards MaxFailures). */
#define SINK_BACKOFF_MAX_SEC 30
/* A worker that ran this long before exiting counts as a fresh failure,
 * not one more in a row. */
#define HEALTHY_RUN_USEC (30 * G_USEC_PER_SEC)


typedef struct {
  SupervisorDone done;
  gpointer user_data;
} Waiter;

static void on_worker_exit (Worker *w, int wait_status, gpointer user_data);
static void arm_schedule (Source *src, guint64 after);
static void skip_due_job (Source *src, guint64 now);

static void on_refresh (Source *src, gboolean gate_paused);
static const SourceHooks source_hooks = { .refresh = on_refresh };
static void enqueue_launch (Sourced *d, Source *src);

void
supervisor_init (Sourced *d)
{
  d->source_hooks = &source_hooks;
}

/* Data flows while the worker is wanted and nothing holds it: the source's
 * own pause, the Manager's gate, or a failed sink (which pauses the source).
 * A job started with RunJob while paused is the exception (Stitch's manual
 * job); a pause that begins after it holds that job too. */
static void
on_refresh (Source *src, gboolean gate_paused)
{
  gboolean held = source_is_paused (src) || gate_paused;
  gboolean runs = src->run == SOURCE_RUN_STARTING || src->run == SOURCE_RUN_RUNNING ||
                  src->run == SOURCE_RUN_STOPPING;

  if (held && !src->was_held)
    src->job_override = FALSE;
  src->was_held = held;
  if (src->pump)
    pump_set_flowing (src->pump, runs && (!held || src->job_override));
}

static void
update_flow (Source *src)
{
  on_refresh (src, src->daemon->paused_at != 0);
}

static void
changed (Source *src)
{
  source_refresh (src, src->daemon->paused_at != 0);
  sourced_emit_source_changed (src->daemon, src);
}

static void
add_waiter (GPtrArray **list, SupervisorDone done, gpointer user_data)
{
  Waiter *w;

  if (!done)
    return;
  if (!*list)
    *list = g_ptr_array_new_with_free_func (g_free);
  w = g_new (Waiter, 1);
  w->done = done;
  w->user_data = user_data;
  g_ptr_array_add (*list, w);
}

static void
finish_waiters (Source *src, GPtrArray **list, const GError *error)
{
  g_autoptr (GPtrArray) waiters = g_steal_pointer (list);

  if (!waiters)
    return;
  for (guint i = 0; i < waiters->len; i++)
    {
      Waiter *w = waiters->pdata[i];
      w->done (src->daemon, src, error, w->user_data);
    }
}

static void
clear_timer (guint *id)
{
  if (*id)
    {
      g_source_remove (*id);
      *id = 0;
    }
}

static void
set_worker (Source *src, Worker *w)
{
  src->worker = w;
  src->changed |= SOURCE_PROP_MAIN_PID;
}

/* The daemon pauses a source itself (Stitch's system pause) and says why. */
static void
system_pause (Source *src, const char *why)
{
  guint64 now = sourced_now (src->daemon);

  SourceEdit e = commit_track_source (src->daemon, src);
  source_set_system_paused_at (e, now, now);
  source_set_last_error (src, why);
  source_set_retrying (src, FALSE, 0);
  source_refresh (src, src->daemon->paused_at != 0);
  commit_schedule (src->daemon);
}

static void
on_checkpoint (Source *src, const char *sink_path, guint64 offset, const char *bookmark, guint64 records,
               guint64 bytes)
{
  if (src->removed)
    return;
  SourceEdit e = commit_track_source (src->daemon, src);
  source_set_checkpoint (e, sink_path, offset);
  source_save_delivered (e, records, bytes);
  source_set_bookmark (e, bookmark);
  commit_schedule (src->daemon);
}

/* A restarted worker that delivers, and has stayed up past its recovery
 * grace, ends the retry: Status goes back to "active" by itself. One that
 * prints a line and fails again never gets there, so a crash loop shows as
 * "restarting" throughout, with one signal per change, not per attempt. */
static void
end_retry_if_recovered (Source *src)
{
  if (!src->retrying || !src->worker || src->finishing || src->recovery_timer ||
      src->records_delivered == src->retry_records)
    return;
  source_log (src, G_LOG_LEVEL_MESSAGE, "worker delivers again after %u restart%s", src->n_restarts,
              src->n_restarts == 1 ? "" : "s");
  source_set_retrying (src, FALSE, 0);
  source_set_last_error (src, NULL);
  changed (src);
}

static void
on_delivered (Source *src, guint64 records, guint64 bytes)
{
  src->bytes_delivered += bytes;
  if (records > 0)
    {
      src->records_delivered += records;
      src->last_record_at = sourced_now (src->daemon);
      end_retry_if_recovered (src);
    }
}

static gboolean
on_recovery_timeout (gpointer user_data)
{
  Source *src = user_data;

  src->recovery_timer = 0;
  end_retry_if_recovered (src);
  return G_SOURCE_REMOVE;
}

static void
on_target_bookmark (Source *src, const char *bookmark)
{
  if (src->removed)
    return;
  SourceEdit e = commit_track_source (src->daemon, src);
  source_set_bookmark (e, bookmark);
  source_save_counters (e);
  commit_schedule (src->daemon);
}

static void
on_sink_failed (Source *src, const char *message)
{
  g_warning ("%s: %s; pausing the source", src->id, message);
  system_pause (src, message);
}

static void
on_broken (Source *src, const char *message)
{
  g_warning ("%s: %s; stopping the worker", src->id, message);
  if (!src->broken)
    src->broken = g_strdup (message);
  if (src->worker)
    worker_kill (src->worker, SIGKILL);
}

static gboolean
control_waits (Source *src)
{
  return sourced_control_waiting (src->daemon);
}

static void on_sink_ready (Source *src);
static void on_committed (Source *src, const char *bookmark, guint64 records, guint64 bytes);
static void on_sink_lost (Source *src, const char *message);
static void on_sink_gone (Source *src, const char *message);
static void on_settled (Source *src);

static const PumpCallbacks pump_callbacks = {
  .should_yield = control_waits,
  .delivered = on_delivered,
  .checkpoint = on_checkpoint,
  .target_bookmark = on_target_bookmark,
  .sink_failed = on_sink_failed,
  .broken = on_broken,
  .sink_ready = on_sink_ready,
  .committed = on_committed,
  .sink_lost = on_sink_lost,
  .sink_gone = on_sink_gone,
  .settled = on_settled,
};

static gboolean
sink_is_database (Source *src)
{
  return sink_is_postgresql (src->settings->sink);
}

/* The name a PostgreSQL checkpoint row is owned by: this host's, unless
 * SOURCED_PG_OWNER says otherwise (several daemons on one host). */
static const char *
owner_name (void)
{
  const char *env = g_getenv ("SOURCED_PG_OWNER");

  return env && *env ? env : g_get_host_name ();
}

static void
fill_database_setup (Source *src, PumpSetup *setup)
{
  if (!sink_is_database (src))
    return;
  setup->postgresql = src->settings->sink;
  setup->schema = src->settings->schema ? src->settings->schema : src->id;
  setup->owner_name = owner_name ();
  setup->commit_ms = sourced_timeout_ms (src->daemon, (guint64) PG_SINK_COMMIT_MSEC * 1000);
  setup->stall_ms = sourced_timeout_ms (src->daemon, (guint64) PG_SINK_STALL_SEC * G_USEC_PER_SEC);
}

static char *
sink_path_for (Source *src)
{
  if (src->settings->target || sink_is_database (src))
    return NULL;
  if (src->settings->sink)
    return g_strdup (src->settings->sink);
  return g_strdup_printf ("%s/sinks/%s.jsonl", src->daemon->state_dir, src->id);
}

/* Singer: the tap resumes from the bookmark, handed over as --state FILE. */
static char *
write_state_file (Source *src, GError **error)
{
  g_autofree char *dir = g_build_filename (src->daemon->state_dir, "bookmarks", NULL);
  g_autofree char *name = g_strconcat (src->id, ".json", NULL);
  g_autofree char *path = g_build_filename (dir, name, NULL);

  if (g_mkdir_with_parents (dir, 0700) < 0 ||
      !g_file_set_contents_full (path, src->control.bookmark, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error))
    {
      if (error && !*error)
        g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_FAILED, "Cannot create %s: %s", dir, g_strerror (errno));
      return NULL;
    }
  return g_steal_pointer (&path);
}

/* Readies the sink and hands the worker to the spawn helper; NULL with
 * @error if that failed: SOURCED_ERROR_SINK_UNAVAILABLE for a sink that
 * cannot be opened (the source is paused), LIMITS_EXCEEDED for sourced's
 * own shortage, anything else for a worker that cannot run (the source
 * fails). spawn_worker_finish() completes it. */
static Worker *
spawn_worker_begin (Source *src, GError **error)
{
  g_autofree char *sink = sink_path_for (src);
  g_autofree char *state_file = NULL;
  const char *state_args[3] = { "--state", NULL, NULL };
  gboolean singer = src->settings->type == SOURCE_TYPE_SINGER;
  PumpSetup setup = {
    .type = src->settings->type,
    .sink_path = sink,
    .target = src->settings->target,
    .state_dir = src->daemon->state_dir,
    .checkpoint_path = src->control.sink_path,
    .checkpoint_offset = src->control.sink_offset,
  };
  Worker *w;

  fill_database_setup (src, &setup);
  /* A worker holds 3 to 4 descriptors (6 with a target) and its spawn
   * needs a few more for a moment. */
  if (!fd_limits_have_room (src->settings->target ? 16 : 8))
    {
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_LIMITS_EXCEEDED,
                   "sourced has too few file descriptors left (soft limit %llu, %u kept for itself); "
                   "raise LimitNOFILE=",
                   (unsigned long long) fd_limits_current (), FD_LIMITS_RESERVE);
      return NULL;
    }
  if (!src->pump)
    src->pump = pump_new (src, &pump_callbacks, src->daemon->spawner, src->daemon->io);
  if (!pump_open (src->pump, &setup, error))
    {
      /* PostgreSQL is being reached: sink_ready comes back here. */
      src->sink_waiting = g_error_matches (*error, G_IO_ERROR, G_IO_ERROR_PENDING);
      if (sink != NULL && !g_error_matches (*error, SOURCED_ERROR, SOURCED_ERROR_LIMITS_EXCEEDED))
        {
          GError *unavailable = g_error_new_literal (SOURCED_ERROR, SOURCED_ERROR_SINK_UNAVAILABLE, (*error)->message);
          g_clear_error (error);
          *error = unavailable;
        }
      return NULL;
    }
  if (singer && sink)
    {
      if (g_strcmp0 (src->control.sink_path, sink) == 0)
        source_restore_counters (src); /* the sink is back at the checkpoint */
      if (g_strcmp0 (src->control.sink_path, sink) != 0 || src->control.sink_offset != pump_sink_offset (src->pump))
        {
          /* First run into this file: where it starts is the checkpoint.
           * The commit runs before any byte is read from the tap. */
          SourceEdit e = commit_track_source (src->daemon, src);
          source_set_checkpoint (e, sink, pump_sink_offset (src->pump));
          source_save_counters (e);
          commit_schedule (src->daemon);
        }
    }
  if (singer && setup.postgresql && g_strcmp0 (pump_sink_bookmark (src->pump), src->control.bookmark) != 0)
    {
      /* The tap resumes from the database's bookmark, never from the copy
       * sourced keeps (which is only for Bookmark). */
      SourceEdit e = commit_track_source (src->daemon, src);
      source_set_bookmark (e, pump_sink_bookmark (src->pump));
      commit_schedule (src->daemon);
    }
  if (singer && src->control.bookmark)
    {
      if (!(state_file = write_state_file (src, error)))
        return NULL;
      state_args[1] = state_file;
    }

  WorkerSpec spec = {
    .spawner = src->daemon->spawner,
    .io = src->daemon->io,
    .source_id = src->id,
    .command_line = src->settings->exec,
    .extra_args = state_file ? state_args : NULL,
    .stdout_pipe = TRUE,
  };
  w = worker_spawn_begin (&spec, on_worker_exit, src, error);
  if (!w)
    pump_kill_target (src->pump, SIGKILL);
  return w;
}

/* The helper's answer for @w: running (the source now has its worker), or
 * not, with @error. */
static gboolean
spawn_worker_finish (Source *src, Worker *w, GError **error)
{
  if (!worker_spawn_finish (w, error))
    {
      worker_free (w);
      pump_kill_target (src->pump, SIGKILL);
      return FALSE;
    }
  source_ref (src); /* the exit callback's, until on_run_finished() */
  g_clear_pointer (&src->broken, g_free);
  pump_attach (src->pump, worker_steal_stdout_fd (w));
  set_worker (src, w);
  return TRUE;
}

static gboolean
spawn_worker (Source *src, GError **error)
{
  Worker *w = spawn_worker_begin (src, error);
  return w && spawn_worker_finish (src, w, error);
}

static gboolean on_restart_timeout (gpointer user_data);
static void respawn (Source *src);

/* sourced itself is short of descriptors: nothing is wrong with the source,
 * so nothing is persisted (no pause, no failure). It waits in "starting"
 * and is tried again; LastError says why. */
static void
wait_for_resources (Source *src, const GError *error)
{
  /* Doubling, as a restart's backoff does: thousands of sources retrying
   * every second would keep sourced busy with nothing but that. */
  guint delay = (guint) MIN ((guint64) MAX (src->settings->restart_sec, 1u) << MIN (src->resource_waits, 16u),
                             (guint64) BACKOFF_MAX_SEC);

  src->resource_waits++;
  g_autofree char *msg = g_strdup_printf ("Waiting to start: %s; trying again in %u s", error->message, delay);

  g_warning ("%s: %s", src->id, msg);
  source_set_run (src, SOURCE_RUN_STARTING);
  source_set_last_error (src, msg);
  clear_timer (&src->restart_timer);
  src->restart_timer = g_timeout_add_full (G_PRIORITY_DEFAULT, sourced_timeout_ms (src->daemon, delay * G_USEC_PER_SEC),
                                           on_restart_timeout, source_ref (src), (GDestroyNotify) source_unref);
}

/* The one place a worker that could not be spawned is dealt with. A sink
 * that takes nothing pauses the source (Unpause tries again); a shortage
 * of sourced's own leaves it waiting; anything else fails it. @what says
 * what was being done, for the message. */
static void
spawn_failed (Source *src, const GError *error, const char *what)
{
  if (g_error_matches (error, SOURCED_ERROR, SOURCED_ERROR_LIMITS_EXCEEDED))
    wait_for_resources (src, error);
  else if (g_error_matches (error, SOURCED_ERROR, SOURCED_ERROR_SINK_UNAVAILABLE))
    {
      /* Nothing to write into: paused, not failed. */
      g_warning ("%s: %s; pausing the source", src->id, error->message);
      source_set_run (src, SOURCE_RUN_RUNNING);
      src->gave_up = TRUE;
      system_pause (src, error->message);
    }
  else
    {
      g_autofree char *msg = g_strdup_printf ("Could not %s source '%s': %s", what, src->id, error->message);
      source_log (src, G_LOG_LEVEL_WARNING, "%s", msg);
      source_set_run (src, SOURCE_RUN_FAILED);
      source_set_last_error (src, msg);
      source_set_retrying (src, FALSE, 0);
    }
  changed (src);
}

/* A launch's second half: the worker runs (@w non-NULL, its spawn
 * finished or failed with @error), or no worker was needed (a schedule).
 * Finishes the Start calls waiting. */
static void
launch_end (Source *src, Worker *w, GError *error)
{
  g_autoptr (GError) local = error;

  if (w && !local && !spawn_worker_finish (src, w, &local))
    w = NULL;
  if (local && g_error_matches (local, G_IO_ERROR, G_IO_ERROR_PENDING))
    {
      /* Still "starting": the Start calls wait for the database's answer
       * (on_sink_ready, or on_sink_lost). */
      changed (src);
      return;
    }
  if (local)
    {
      spawn_failed (src, local, "start");
      if (src->run == SOURCE_RUN_FAILED)
        {
          g_autoptr (GError) reply_error = g_error_new_literal (SOURCED_ERROR, SOURCED_ERROR_FAILED, src->last_error);
          finish_waiters (src, &src->start_waiters, reply_error);
        }
      else if (src->run == SOURCE_RUN_STARTING)
        finish_waiters (src, &src->start_waiters, local);
      else
        finish_waiters (src, &src->start_waiters, NULL);
      return;
    }
  if (w)
    source_set_run (src, SOURCE_RUN_RUNNING);
  src->resource_waits = 0;
  source_set_last_error (src, NULL);
  changed (src);
  update_flow (src);
  finish_waiters (src, &src->start_waiters, NULL);
}

/* A launch's first half: a schedule is armed at once (and NULL returned,
 * the launch done); a continuous source's worker is handed to the spawn
 * helper and returned, for launch_end(). On failure, NULL with *error. */
static Worker *
launch_begin (Source *src, GError **error)
{
  clear_timer (&src->restart_timer);
  clear_timer (&src->schedule_timer);
  clear_timer (&src->recovery_timer);
  clear_timer (&src->sink_timer);
  src->failures = 0;
  src->gave_up = FALSE;
  src->sink_down = FALSE;
  source_set_retrying (src, FALSE, 0);

  if (source_is_scheduled (src))
    {
      guint64 now = sourced_now (src->daemon);
      source_set_run (src, SOURCE_RUN_RUNNING);
      arm_schedule (src, now);
      /* Started while paused with a job due at once: skipped now, so that
       * NextRunAt says the truth from the first reply on. */
      if ((source_is_paused (src) || src->daemon->paused_at) && src->next_run_at && src->next_run_at <= now)
        skip_due_job (src, now);
      return NULL;
    }
  return spawn_worker_begin (src, error);
}

/* Brings a source from nothing running to running. */
static void
launch (Source *src)
{
  GError *error = NULL;
  Worker *w = launch_begin (src, &error);

  launch_end (src, w, error);
}

/* Launches queued sources for a few milliseconds, then lets the loop serve
 * the bus, the watchdog and the workers already running: starting a
 * thousand workers takes seconds, and nothing may wait that long. */
#define LAUNCH_SLICE_USEC (10 * 1000)
/* At most one launch per spawn helper in a batch: sourced waits for the
 * whole batch before it looks at the bus again, and on a slow machine
 * (3.5 ms a fork and exec) a batch of 8 for two helpers kept Ping waiting
 * 15 ms and more, for no more launches a second than a batch of two. */
#define LAUNCH_BATCH_MAX 4

static gboolean
on_launch_idle (gpointer user_data)
{
  Sourced *d = user_data;
  gint64 until = g_get_monotonic_time () + LAUNCH_SLICE_USEC;
  guint per_batch = CLAMP (spawner_parallelism (d->spawner), 1, LAUNCH_BATCH_MAX);

  while (!g_queue_is_empty (&d->launch_queue) && g_get_monotonic_time () < until &&
         !sourced_control_waiting (d))
    {
      /* A batch in the helper's hands at once: while it forks and execs
       * one, sourced readies the next. */
      struct {
        Source *src;
        Worker *w;
        GError *error;
      } batch[LAUNCH_BATCH_MAX];
      guint n = 0;

      while (n < per_batch && !g_queue_is_empty (&d->launch_queue))
        {
          Source *src = g_queue_pop_head (&d->launch_queue);

          if (!src->queued || src->removed || src->run != SOURCE_RUN_STARTING || src->worker)
            {
              /* stopped or removed while it waited */
              src->queued = FALSE;
              source_unref (src);
              continue;
            }
          src->queued = FALSE;
          batch[n].src = src;
          batch[n].error = NULL;
          batch[n].w = launch_begin (src, &batch[n].error);
          n++;
        }
      for (guint i = 0; i < n; i++)
        {
          launch_end (batch[i].src, batch[i].w, batch[i].error);
          source_unref (batch[i].src);
        }
      d->launch_count += n;
    }
  if (!g_queue_is_empty (&d->launch_queue))
    return G_SOURCE_CONTINUE;
  d->launch_idle = 0;
  if (d->launch_count > 1)
    g_message ("Launched %u sources in %.2f s", d->launch_count,
               (g_get_monotonic_time () - d->launch_since) / (double) G_USEC_PER_SEC);
  d->launch_count = 0;
  /* Only when the text changes (start, reload, a source more or less): a
   * datagram per Start would cost a syscall each, and a reader that falls
   * behind would block sd_notify. */
  if (d->status_sources != d->n_sources)
    {
      d->status_sources = d->n_sources;
      sd_notifyf (0, "STATUS=Supervising %u sources", d->n_sources);
    }
  return G_SOURCE_REMOVE;
}

static void
enqueue_launch (Sourced *d, Source *src)
{
  if (src->queued)
    return;
  src->queued = TRUE;
  g_queue_push_tail (&d->launch_queue, source_ref (src));
  /* Below the bus (DEFAULT - 10): a call waiting is answered first. At
   * the workers' pipes' priority, not below it: the loop takes turns among
   * sources of one priority, but never reaches a lower one while a higher
   * one is ready, and workers writing at full speed are always ready (at
   * idle priority, the rest of a launch waited for the flood to stop). */
  if (!d->launch_idle)
    {
      d->launch_since = g_get_monotonic_time ();
      d->launch_idle = g_idle_add_full (G_PRIORITY_DEFAULT, on_launch_idle, d, NULL);
    }
}

guint
supervisor_launches_pending (Sourced *d)
{
  return d->launch_queue.length;
}

static gboolean
on_kill_timeout (gpointer user_data)
{
  Source *src = user_data;

  src->kill_timer = 0;
  if (src->worker)
    {
      g_message ("%s: still running %u s after SIGTERM; sending SIGKILL", src->id, src->settings->stop_timeout_sec);
      worker_kill (src->worker, SIGKILL);
    }
  if (src->pump)
    pump_kill_target (src->pump, SIGKILL);
  return G_SOURCE_REMOVE;
}

static void
begin_stop (Source *src)
{
  source_set_run (src, SOURCE_RUN_STOPPING);
  if (src->settings->stop_timeout_sec == 0)
    worker_kill (src->worker, SIGKILL);
  else
    {
      worker_kill (src->worker, SIGTERM);
      worker_kill (src->worker, SIGCONT);
      if (!src->kill_timer)
        src->kill_timer = g_timeout_add_full (G_PRIORITY_DEFAULT, src->settings->stop_timeout_sec * 1000,
                                                      on_kill_timeout, source_ref (src),
                                                      (GDestroyNotify) source_unref);
    }
  changed (src);
}

/* Every call gets exactly one reply: a Start or Stop still waiting when
 * the opposite call comes is answered Cancelled, and the later call
 * decides the state. */
static void
cancel_waiters (Source *src, GPtrArray **list, const char *what, const char *by)
{
  g_autoptr (GError) error = NULL;

  if (!*list || (*list)->len == 0)
    return;
  error = g_error_new (SOURCED_ERROR, SOURCED_ERROR_CANCELLED, "%s of source '%s' was overtaken by a later %s",
                       what, src->id, by);
  finish_waiters (src, list, error);
}

void
supervisor_start (Sourced *d, Source *src, SupervisorDone done, gpointer user_data)
{
  cancel_waiters (src, &src->stop_waiters, "Stop", "Start");
  add_waiter (&src->start_waiters, done, user_data);
  /* systemd's NRestarts counts from the last start. */
  source_set_n_restarts (src, 0);
  src->sink_failures = 0;
  /* A start takes a PostgreSQL source over from any other daemon. */
  if (src->pump)
    pump_request_takeover (src->pump);

  if (src->queued)
    return; /* launched with the queue */
  if (src->worker)
    {
      /* Start on a running source restarts it (DataSift): the new worker
       * comes up once the old one is gone. */
      src->restart_pending = TRUE;
      if (src->run != SOURCE_RUN_STOPPING)
        begin_stop (src);
      return;
    }
  source_set_run (src, SOURCE_RUN_STARTING);
  changed (src);
  enqueue_launch (d, src);
}

void
supervisor_stop (Sourced *d, Source *src, SupervisorDone done, gpointer user_data)
{
  clear_timer (&src->sink_timer);
  src->sink_waiting = FALSE;
  clear_timer (&src->restart_timer);
  clear_timer (&src->schedule_timer);
  clear_timer (&src->recovery_timer);
  source_set_next_run_at (src, 0);
  source_set_retrying (src, FALSE, 0);

  src->restart_pending = FALSE;
  src->queued = FALSE; /* left in the queue; skipped when its turn comes */
  cancel_waiters (src, &src->start_waiters, "Start", "Stop");

  if (src->worker)
    {
      add_waiter (&src->stop_waiters, done, user_data);
      if (src->run != SOURCE_RUN_STOPPING)
        begin_stop (src);
      return;
    }

  if (src->run == SOURCE_RUN_FAILED || sink_is_database (src))
    source_set_last_error (src, NULL); /* Stop clears the failure */
  src->failures = 0;
  src->gave_up = FALSE;
  if (src->pump)
    pump_close_sink (src->pump);
  finish_waiters (src, &src->start_waiters, NULL);
  source_set_run (src, SOURCE_RUN_STOPPED);
  changed (src);
  if (done)
    done (d, src, NULL, user_data);
}

static void
record_job_start (Source *src, guint64 at)
{
  if (src->control.last_job_started_at == at)
    return;
  SourceEdit e = commit_track_source (src->daemon, src);
  source_set_last_job_started_at (e, at);
  commit_schedule (src->daemon);
}

gboolean
supervisor_run_job (Sourced *d, Source *src, guint64 *started_at, GError **error)
{
  g_autoptr (GError) local = NULL;
  guint64 now = sourced_now (src->daemon);

  if (src->job_running)
    {
      *started_at = src->control.last_job_started_at;
      return TRUE;
    }
  if (src->worker)
    {
      /* The last job's output is still being delivered. */
      *started_at = src->control.last_job_started_at;
      return TRUE;
    }
  if (!spawn_worker (src, &local) && !g_error_matches (local, G_IO_ERROR, G_IO_ERROR_PENDING))
    {
      g_autofree char *msg = g_strdup_printf ("Could not start a job of source '%s': %s", src->id, local->message);
      if (g_error_matches (local, SOURCED_ERROR, SOURCED_ERROR_LIMITS_EXCEEDED))
        {
          /* sourced's shortage: the job is not run, nothing else changes. */
          g_set_error_literal (error, SOURCED_ERROR, SOURCED_ERROR_LIMITS_EXCEEDED, msg);
          return FALSE;
        }
      if (g_error_matches (local, SOURCED_ERROR, SOURCED_ERROR_SINK_UNAVAILABLE))
        system_pause (src, msg);
      else
        source_set_last_error (src, msg);
      changed (src);
      g_set_error_literal (error, SOURCED_ERROR, SOURCED_ERROR_FAILED, msg);
      return FALSE;
    }
  src->job_running = TRUE;
  /* Stitch: a job started by hand runs even while the source is paused. */
  src->job_override = source_is_paused (src) || d->paused_at != 0;
  update_flow (src);
  record_job_start (src, now);
  source_set_last_error (src, NULL);
  changed (src);
  *started_at = now;
  return TRUE;
}

static gboolean
on_restart_timeout (gpointer user_data)
{
  Source *src = user_data;

  src->restart_timer = 0;
  if (src->run == SOURCE_RUN_STARTING && !src->worker)
    {
      /* Waited for descriptors: a launch like any other, through the
       * queue, so that thousands due at once are launched in slices. */
      enqueue_launch (src->daemon, src);
      return G_SOURCE_REMOVE;
    }
  if (src->run != SOURCE_RUN_RUNNING || src->worker)
    return G_SOURCE_REMOVE;
  respawn (src);
  return G_SOURCE_REMOVE;
}

/* A continuous source's worker again, after a failure or an outage. */
static void
respawn (Source *src)
{
  g_autoptr (GError) error = NULL;

  if (!spawn_worker (src, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PENDING))
        {
          changed (src); /* on_sink_ready comes back */
          return;
        }
      spawn_failed (src, error, "restart");
    }
  else
    {
      source_set_n_restarts (src, src->n_restarts + 1);
      if (src->retrying)
        {
          /* No retry is pending while the new worker runs; it counts as
           * recovered once it delivers after staying up for RestartSec
           * (at least 1 s). */
          source_set_retrying (src, TRUE, 0);
          src->retry_records = src->records_delivered;
          src->recovery_timer = g_timeout_add_full (
            G_PRIORITY_DEFAULT,
            sourced_timeout_ms (src->daemon, (guint64) MAX (src->settings->restart_sec, 1u) * G_USEC_PER_SEC),
            on_recovery_timeout, source_ref (src), (GDestroyNotify) source_unref);
        }
    }
  changed (src);
  update_flow (src);
}

static guint64
next_slot (Source *src, guint64 after)
{
  if (src->settings->cron_expression)
    {
      g_autoptr (CronSchedule) cron = cron_schedule_parse (src->settings->cron_expression, NULL);
      return cron ? cron_schedule_next (cron, after) : 0;
    }
  return frequency_next (src->settings->frequency_minutes, src->control.last_job_started_at, after);
}

/* Stitch: a paused source's due jobs are skipped, not queued; jobs never
 * overlap either. NextRunAt moves to the first slot after @now. */
static void
skip_due_job (Source *src, guint64 now)
{
  guint64 period = (guint64) src->settings->frequency_minutes * 60 * G_USEC_PER_SEC;

  g_message ("%s: job due at %" G_GUINT64_FORMAT " skipped (%s)", src->id, src->next_run_at,
             src->job_running ? "the previous job is still running" : "paused");
  if (period && !src->settings->cron_expression)
    {
      guint64 next = src->next_run_at;
      while (next <= now)
        next += period;
      source_set_next_run_at (src, next);
      arm_schedule (src, 0);
    }
  else
    arm_schedule (src, now);
  changed (src);
}

static gboolean
on_schedule_timeout (gpointer user_data)
{
  Source *src = user_data;
  guint64 now = sourced_now (src->daemon);

  src->schedule_timer = 0;
  if (src->run != SOURCE_RUN_RUNNING)
    return G_SOURCE_REMOVE;
  if (now + 1000 < src->next_run_at)
    {
      arm_schedule (src, 0); /* woke early (long waits are cut into pieces) */
      return G_SOURCE_REMOVE;
    }
  if (source_is_paused (src) || src->daemon->paused_at || src->job_running)
    {
      skip_due_job (src, now);
      return G_SOURCE_REMOVE;
    }
  guint64 started;
  g_autoptr (GError) error = NULL;
  if (!supervisor_run_job (src->daemon, src, &started, &error))
    g_warning ("%s", error->message);
  return G_SOURCE_REMOVE;
}

/* Arms the timer for the next job: computed from @after when non-zero, else
 * for the NextRunAt already set. */
static void
arm_schedule (Source *src, guint64 after)
{
  guint64 now = sourced_now (src->daemon);
  guint64 delay_ms;

  clear_timer (&src->schedule_timer);
  if (after)
    source_set_next_run_at (src, next_slot (src, after));
  if (src->next_run_at == 0)
    return;
  delay_ms = sourced_timeout_ms (src->daemon, src->next_run_at > now ? src->next_run_at - now : 0);
  /* Wake at least hourly so that a wall-clock step is noticed. */
  delay_ms = MIN (delay_ms, 3600 * 1000);
  src->schedule_timer = g_timeout_add_full (G_PRIORITY_DEFAULT, (guint) delay_ms, on_schedule_timeout,
                                            source_ref (src), (GDestroyNotify) source_unref);
}

static void
handle_unexpected_exit (Source *src, const char *how, gboolean clean, gint64 ran_usec, const char *last_line)
{
  guint64 delay;

  clear_timer (&src->recovery_timer);
  if (clean)
    {
      /* A continuous worker that is done (a tap at the end of its sync)
       * runs again after RestartSec; that is no failure, and the source
       * stays "active" in between. */
      src->failures = 0;
      delay = src->settings->restart_sec;
      source_log (src, G_LOG_LEVEL_MESSAGE, "worker %s; running it again in %" G_GUINT64_FORMAT " s", how, delay);
      source_set_last_error (src, NULL);
      source_set_retrying (src, FALSE, 0);
    }
  else
    {
      if (ran_usec >= HEALTHY_RUN_USEC)
        src->failures = 0;
      src->failures++;

      if (src->settings->max_failures > 0 && src->failures >= src->settings->max_failures)
        {
          g_autofree char *msg = g_strdup_printf ("%s, %u times in a row%s%s", how, src->failures,
                                                  last_line[0] ? ": " : "", last_line);
          /* Stitch's system pause: the daemon pauses the source itself and
           * says why; Unpause or Start clears it and tries again. */
          source_log (src, G_LOG_LEVEL_WARNING, "%s; pausing the source", msg);
          src->gave_up = TRUE;
          system_pause (src, msg);
          return;
        }

      guint shift = MIN (src->failures - 1, 16u);
      delay = MIN ((guint64) src->settings->restart_sec << shift, (guint64) BACKOFF_MAX_SEC);
      g_autofree char *msg = g_strdup_printf ("%s%s%s", how, last_line[0] ? ": " : "", last_line);
      source_log (src, G_LOG_LEVEL_WARNING, "worker %s; restarting in %" G_GUINT64_FORMAT " s (attempt %u)", msg,
                  delay, src->n_restarts + 1);
      source_set_last_error (src, msg);
      source_set_retrying (src, TRUE, sourced_now (src->daemon) + delay * G_USEC_PER_SEC);
    }
  src->restart_timer = g_timeout_add_full (G_PRIORITY_DEFAULT, sourced_timeout_ms (src->daemon, delay * G_USEC_PER_SEC),
                                           on_restart_timeout, source_ref (src), (GDestroyNotify) source_unref);
}

/* A job is over (or could not start, @error says why; NULL: it went
 * well): the schedule goes on. */
static void
end_job (Source *src, const char *error)
{
  src->job_running = FALSE;
  src->job_override = FALSE;
  if (error)
    source_set_last_error (src, error);
  if (src->run == SOURCE_RUN_RUNNING)
    arm_schedule (src, sourced_now (src->daemon));
  changed (src);
  update_flow (src);
}

/* The worker has exited and what it wrote has been delivered (or is held):
 * the run is over. */
static void
on_run_finished (Source *src)
{
  g_autoptr (Source) spawn_ref = src; /* taken at spawn, kept while finishing */
  (void) spawn_ref;
  Worker *w = src->worker;
  int wait_status = src->exit_wait_status;
  int code = worker_exit_code (wait_status);
  gboolean file_checkpoints = src->settings->type == SOURCE_TYPE_SINGER && !src->settings->target;
  g_autofree char *last_line = g_steal_pointer (&src->exit_last_line);
  g_autofree char *broken = g_steal_pointer (&src->broken);
  g_autofree char *how = broken ? g_strdup (broken) : worker_describe_exit (wait_status);
  gboolean clean = !broken && code == 0;

  /* The data path's reason says it all; a stderr line would mislead. */
  if (!last_line || broken)
    {
      g_free (last_line);
      last_line = g_strdup ("");
    }
  src->finishing = FALSE;
  set_worker (src, NULL);
  worker_free (w);

  if (!src->removed &&
      (code != src->control.last_exit_status ||
       (!file_checkpoints && src->records_delivered != src->control.records_delivered)))
    {
      SourceEdit e = commit_track_source (src->daemon, src);
      source_set_last_exit_status (e, code);
      /* A Singer file sink keeps the counters of its checkpoint. */
      if (!file_checkpoints)
        source_save_counters (e);
      commit_schedule (src->daemon);
    }

  if (src->run == SOURCE_RUN_STOPPING)
    {
      clear_timer (&src->kill_timer);
      src->job_running = FALSE;
      src->job_override = FALSE;
      if (src->restart_pending)
        {
          src->restart_pending = FALSE;
          source_set_run (src, SOURCE_RUN_STARTING);
          launch (src);
        }
      else
        {
          source_set_run (src, SOURCE_RUN_STOPPED);
          if (src->pump)
            pump_close_sink (src->pump);
          changed (src);
          finish_waiters (src, &src->stop_waiters, NULL);
        }
      return;
    }

  if (src->job_running)
    {
      g_autofree char *msg = clean ? NULL : g_strdup_printf ("job %s%s%s", how, last_line[0] ? ": " : "", last_line);
      end_job (src, msg);
      return;
    }

  if (src->run == SOURCE_RUN_RUNNING && (src->sink_down || src->gave_up))
    {
      /* Ended for the database's sake: the sink's own retry, or an
       * Unpause, brings the worker back; if the retry's wait is over
       * already, now. */
      src->sink_down = FALSE;
      if (!src->gave_up && !src->sink_timer)
        respawn (src);
      changed (src);
      return;
    }
  if (src->run == SOURCE_RUN_RUNNING)
    handle_unexpected_exit (src, how, clean, src->exit_ran_usec, last_line);
  changed (src);
}

static void
on_worker_exit (Worker *w, int wait_status, gpointer user_data)
{
  Source *src = user_data; /* the ref taken at spawn, until on_run_finished() */

  g_debug ("%s: worker %d ended (%d)", src->id, worker_get_pid (w), worker_exit_code (wait_status));
  src->finishing = TRUE;
  src->exit_wait_status = wait_status;
  src->exit_ran_usec = g_get_monotonic_time () - worker_get_started_monotonic (w);
  g_free (src->exit_last_line);
  src->exit_last_line = g_strdup (worker_last_stderr_line (w));
  src->changed |= SOURCE_PROP_MAIN_PID;
  pump_finish (src->pump, on_run_finished, src);
}

/* ---- A PostgreSQL sink --------------------------------------------------- */

static void
on_sink_ready (Source *src)
{
  if (!src->sink_waiting || src->removed)
    return;
  src->sink_waiting = FALSE;
  if (src->worker && src->finishing)
    return; /* the end of its run brings the next worker (on_run_finished) */
  if (src->worker)
    {
      /* An exec worker waited, held by backpressure: its lines flow again. */
      PumpSetup setup = { .type = src->settings->type };
      fill_database_setup (src, &setup);
      if (!pump_sink_reconnect (src->pump, &setup))
        src->sink_waiting = TRUE;
      else if (src->retrying)
        {
          source_set_retrying (src, TRUE, 0);
          src->retry_records = src->records_delivered;
        }
      changed (src);
      return;
    }
  if (src->run == SOURCE_RUN_STARTING)
    {
      GError *error = NULL;
      Worker *w = spawn_worker_begin (src, &error);
      launch_end (src, w, error);
      return;
    }
  if (src->job_running)
    {
      /* A job that waited for the database. */
      g_autoptr (GError) error = NULL;
      if (!spawn_worker (src, &error) && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PENDING))
        {
          g_autofree char *msg = g_strdup_printf ("Could not start a job of source '%s': %s", src->id, error->message);
          end_job (src, msg);
          return;
        }
      changed (src);
      update_flow (src);
      return;
    }
  if (src->run == SOURCE_RUN_RUNNING && !src->gave_up && !source_is_scheduled (src))
    respawn (src);
}

static gboolean
on_sink_retry (gpointer user_data)
{
  Source *src = user_data;

  src->sink_timer = 0;
  if (src->removed || src->run != SOURCE_RUN_RUNNING || src->gave_up)
    return G_SOURCE_REMOVE;
  if (src->worker && src->finishing)
    return G_SOURCE_REMOVE;           /* on_run_finished() tries, now that the wait is over */
  source_set_retrying (src, TRUE, 0); /* trying now */
  src->sink_waiting = TRUE;
  on_sink_ready (src);
  return G_SOURCE_REMOVE;
}

static void
on_sink_lost (Source *src, const char *message)
{
  guint delay = MIN (1u << MIN (src->sink_failures, 5u), (guint) SINK_BACKOFF_MAX_SEC);
  g_autofree char *msg = g_strdup_printf ("PostgreSQL: %s; trying again in %u s", message, delay);

  if (src->removed)
    return;
  src->sink_failures++;
  source_log (src, G_LOG_LEVEL_WARNING, "%s", msg);
  source_set_last_error (src, msg);
  src->sink_waiting = FALSE;
  if (src->run == SOURCE_RUN_STARTING)
    {
      /* Started; the database is what is missing, and sourced tries
       * again: the Start calls get their answer now. */
      source_set_run (src, SOURCE_RUN_RUNNING);
      finish_waiters (src, &src->start_waiters, NULL);
    }
  if (src->run == SOURCE_RUN_RUNNING)
    {
      source_set_retrying (src, TRUE, sourced_now (src->daemon) + (guint64) delay * G_USEC_PER_SEC);
      clear_timer (&src->sink_timer);
      src->sink_timer = g_timeout_add_full (G_PRIORITY_DEFAULT,
                                            sourced_timeout_ms (src->daemon, (guint64) delay * G_USEC_PER_SEC),
                                            on_sink_retry, source_ref (src), (GDestroyNotify) source_unref);
    }
  /* A tap resumes from the database's bookmark: what it sent after that is
   * gone with the transaction, so it starts again. An exec worker waits,
   * its lines held. */
  if (src->settings->type == SOURCE_TYPE_SINGER && src->worker && !src->finishing)
    {
      src->sink_down = TRUE;
      worker_kill (src->worker, SIGKILL);
    }
  changed (src);
}

static void
on_sink_gone (Source *src, const char *message)
{
  if (src->removed)
    return;
  source_log (src, G_LOG_LEVEL_WARNING, "%s; pausing the source", message);
  src->sink_waiting = FALSE;
  clear_timer (&src->sink_timer);
  if (src->run == SOURCE_RUN_STARTING)
    {
      source_set_run (src, SOURCE_RUN_RUNNING);
      finish_waiters (src, &src->start_waiters, NULL);
    }
  src->gave_up = TRUE;
  if (src->worker && !src->finishing)
    {
      src->sink_down = TRUE;
      worker_kill (src->worker, SIGKILL);
    }
  system_pause (src, message);
  changed (src);
}

static void
on_committed (Source *src, const char *bookmark, guint64 records, guint64 bytes)
{
  if (src->removed)
    return;
  src->sink_failures = 0;
  src->records_delivered += records;
  src->bytes_delivered += bytes;
  if (records)
    src->last_record_at = sourced_now (src->daemon);
  SourceEdit e = commit_track_source (src->daemon, src);
  if (bookmark)
    source_set_bookmark (e, bookmark);
  source_save_counters (e);
  commit_schedule (src->daemon);
  if (src->retrying && src->worker && !src->recovery_timer && src->records_delivered != src->retry_records)
    end_retry_if_recovered (src);
}

static void
on_settled (Source *src)
{
  commit_sink_settled (src->daemon);
}

void
supervisor_resume (Sourced *d, Source *src)
{
  if (src->run == SOURCE_RUN_RUNNING && src->gave_up && !src->worker)
    {
      src->gave_up = FALSE;
      src->failures = 0;
      /* After a fence, Unpause takes the source back. */
      if (src->pump)
        pump_request_takeover (src->pump);
      launch (src);
    }
}

struct SupervisorBarrier {
  guint pending;
  GSourceFunc done;
  gpointer user_data;
};

SupervisorBarrier *
supervisor_barrier_new (GSourceFunc done, gpointer user_data)
{
  SupervisorBarrier *b = g_new0 (SupervisorBarrier, 1);

  b->pending = 1;
  b->done = done;
  b->user_data = user_data;
  return b;
}

void
supervisor_barrier_add (SupervisorBarrier *b)
{
  b->pending++;
}

void
supervisor_barrier_done (Sourced *d, Source *src, const GError *error, gpointer barrier)
{
  SupervisorBarrier *b = barrier;

  if (--b->pending > 0)
    return;
  if (b->done)
    b->done (b->user_data);
  g_free (b);
}

static gboolean
stop_one (gpointer key, gpointer value, gpointer user_data)
{
  Source *src = value;
  SupervisorBarrier *b = user_data;

  clear_timer (&src->restart_timer);
  clear_timer (&src->schedule_timer);
  clear_timer (&src->recovery_timer);
  if (src->worker)
    {
      supervisor_barrier_add (b);
      supervisor_stop (src->daemon, src, supervisor_barrier_done, b);
    }
  return FALSE;
}

void
supervisor_shutdown (Sourced *d, GSourceFunc done, gpointer user_data)
{
  SupervisorBarrier *b = supervisor_barrier_new (done, user_data);
  Source *queued;

  /* Nothing new starts once the daemon is on its way out. */
  while ((queued = g_queue_pop_head (&d->launch_queue)))
    {
      g_autoptr (GError) error = g_error_new (SOURCED_ERROR, SOURCED_ERROR_CANCELLED,
                                              "sourced is stopping; source '%s' was not started", queued->id);
      queued->queued = FALSE;
      finish_waiters (queued, &queued->start_waiters, error);
      source_unref (queued);
    }
  g_clear_handle_id (&d->launch_idle, g_source_remove);

  g_tree_foreach (d->sources, stop_one, b);
  supervisor_barrier_done (d, NULL, NULL, b);
}

void
supervisor_apply (Sourced *d, GPtrArray *stop, GPtrArray *start, GSourceFunc done, gpointer user_data)
{
  SupervisorBarrier *b = supervisor_barrier_new (done, user_data);

  for (guint i = 0; i < stop->len; i++)
    supervisor_stop (d, stop->pdata[i], NULL, NULL);
  for (guint i = 0; i < start->len; i++)
    {
      Source *src = start->pdata[i];
      if (src->control.started && !src->is_new)
        {
          supervisor_barrier_add (b);
          supervisor_start (d, src, supervisor_barrier_done, b);
        }
    }
  supervisor_barrier_done (d, NULL, NULL, b);
}
