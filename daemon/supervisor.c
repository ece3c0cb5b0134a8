/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "supervisor.h"

#include <signal.h>

#include "commit.h"
#include "scheduler.h"
#include "source-bus.h"
#include "sourced-error.h"
#include "worker.h"

#define BACKOFF_MAX_SEC 300
/* A worker that ran this long before exiting counts as a fresh failure,
 * not one more in a row. */
#define HEALTHY_RUN_USEC (30 * G_USEC_PER_SEC)

static Sourced *daemon_ctx;

typedef struct {
  SupervisorDone done;
  gpointer user_data;
} Waiter;

static void on_worker_exit (Worker *w, int wait_status, gpointer user_data);
static void arm_schedule (Source *src, guint64 after);

void
supervisor_init (Sourced *d)
{
  daemon_ctx = d;
}

static void
changed (Source *src)
{
  source_refresh (src, daemon_ctx->paused_at != 0);
  source_bus_emit_changes (daemon_ctx, src);
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
      w->done (daemon_ctx, src, error, w->user_data);
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

static gboolean
spawn_worker (Source *src, GError **error)
{
  Worker *w = worker_spawn (src->id, src->settings->exec, on_worker_exit, source_ref (src), error);

  if (!w)
    {
      source_unref (src);
      return FALSE;
    }
  set_worker (src, w);
  return TRUE;
}

/* Brings a source from nothing running to running. */
static void
launch (Source *src)
{
  g_autoptr (GError) error = NULL;

  clear_timer (&src->restart_timer);
  clear_timer (&src->schedule_timer);
  src->failures = 0;
  src->gave_up = FALSE;

  if (source_is_scheduled (src))
    {
      source_set_run (src, SOURCE_RUN_RUNNING);
      arm_schedule (src, sourced_now ());
    }
  else if (!spawn_worker (src, &error))
    {
      g_autofree char *msg = g_strdup_printf ("Could not start source '%s': %s", src->id, error->message);
      g_warning ("%s", msg);
      source_set_run (src, SOURCE_RUN_FAILED);
      source_set_last_error (src, msg);
      changed (src);
      g_autoptr (GError) reply_error = g_error_new_literal (SOURCED_ERROR, SOURCED_ERROR_FAILED, msg);
      finish_waiters (src, &src->start_waiters, reply_error);
      return;
    }
  else
    source_set_run (src, SOURCE_RUN_RUNNING);
  source_set_last_error (src, NULL);
  changed (src);
  finish_waiters (src, &src->start_waiters, NULL);
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

void
supervisor_start (Sourced *d, Source *src, SupervisorDone done, gpointer user_data)
{
  add_waiter (&src->start_waiters, done, user_data);

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
  launch (src);
}

void
supervisor_stop (Sourced *d, Source *src, SupervisorDone done, gpointer user_data)
{
  clear_timer (&src->restart_timer);
  clear_timer (&src->schedule_timer);
  source_set_next_run_at (src, 0);

  if (src->restart_pending)
    {
      g_autoptr (GError) error = g_error_new (SOURCED_ERROR, SOURCED_ERROR_FAILED,
                                              "Source '%s' was stopped before it could start", src->id);
      src->restart_pending = FALSE;
      finish_waiters (src, &src->start_waiters, error);
    }

  if (src->worker)
    {
      add_waiter (&src->stop_waiters, done, user_data);
      if (src->run != SOURCE_RUN_STOPPING)
        begin_stop (src);
      return;
    }

  if (src->run == SOURCE_RUN_FAILED)
    source_set_last_error (src, NULL); /* Stop clears the failure */
  src->failures = 0;
  src->gave_up = FALSE;
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
  commit_track_source (daemon_ctx, src);
  source_set_last_job_started_at (src, at);
  commit_schedule (daemon_ctx);
}

gboolean
supervisor_run_job (Sourced *d, Source *src, guint64 *started_at, GError **error)
{
  g_autoptr (GError) local = NULL;
  guint64 now = sourced_now ();

  if (src->job_running)
    {
      *started_at = src->control.last_job_started_at;
      return TRUE;
    }
  if (!spawn_worker (src, &local))
    {
      g_autofree char *msg = g_strdup_printf ("Could not start a job of source '%s': %s", src->id, local->message);
      source_set_last_error (src, msg);
      changed (src);
      g_set_error_literal (error, SOURCED_ERROR, SOURCED_ERROR_FAILED, msg);
      return FALSE;
    }
  src->job_running = TRUE;
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
  g_autoptr (GError) error = NULL;

  src->restart_timer = 0;
  if (src->run != SOURCE_RUN_RUNNING || src->worker)
    return G_SOURCE_REMOVE;
  if (!spawn_worker (src, &error))
    {
      g_autofree char *msg = g_strdup_printf ("Could not restart source '%s': %s", src->id, error->message);
      g_warning ("%s", msg);
      source_set_run (src, SOURCE_RUN_FAILED);
      source_set_last_error (src, msg);
    }
  changed (src);
  return G_SOURCE_REMOVE;
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

static gboolean
on_schedule_timeout (gpointer user_data)
{
  Source *src = user_data;
  guint64 now = sourced_now ();

  src->schedule_timer = 0;
  if (src->run != SOURCE_RUN_RUNNING)
    return G_SOURCE_REMOVE;
  if (now + 1000 < src->next_run_at)
    {
      arm_schedule (src, 0); /* woke early (long waits are cut into pieces) */
      return G_SOURCE_REMOVE;
    }
  if (source_is_paused (src) || daemon_ctx->paused_at || src->job_running)
    {
      /* Stitch: a paused source's due jobs are skipped, not queued. */
      g_message ("%s: job due at %" G_GUINT64_FORMAT " skipped (%s)", src->id, src->next_run_at,
                 src->job_running ? "the previous job is still running" : "paused");
      guint64 period = (guint64) src->settings->frequency_minutes * 60 * G_USEC_PER_SEC;
      if (period)
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
      return G_SOURCE_REMOVE;
    }
  guint64 started;
  g_autoptr (GError) error = NULL;
  if (!supervisor_run_job (daemon_ctx, src, &started, &error))
    g_warning ("%s", error->message);
  return G_SOURCE_REMOVE;
}

/* Arms the timer for the next job: computed from @after when non-zero, else
 * for the NextRunAt already set. */
static void
arm_schedule (Source *src, guint64 after)
{
  guint64 now = sourced_now ();
  guint64 delay_ms;

  clear_timer (&src->schedule_timer);
  if (after)
    source_set_next_run_at (src, next_slot (src, after));
  if (src->next_run_at == 0)
    return;
  delay_ms = src->next_run_at > now ? (src->next_run_at - now) / 1000 : 0;
  /* Wake at least hourly so that a wall-clock step is noticed. */
  delay_ms = MIN (delay_ms, 3600 * 1000);
  src->schedule_timer = g_timeout_add_full (G_PRIORITY_DEFAULT, (guint) delay_ms, on_schedule_timeout,
                                            source_ref (src), (GDestroyNotify) source_unref);
}

static void
handle_unexpected_exit (Source *src, int wait_status, gint64 ran_usec, const char *last_line)
{
  g_autofree char *how = worker_describe_exit (wait_status);

  if (ran_usec >= HEALTHY_RUN_USEC)
    src->failures = 0;
  src->failures++;

  if (src->settings->max_failures > 0 && src->failures >= src->settings->max_failures)
    {
      g_autofree char *msg = g_strdup_printf ("%s, %u times in a row%s%s", how, src->failures,
                                              last_line[0] ? ": " : "", last_line);
      /* Stitch's system pause: the daemon pauses the source itself and says
       * why; Unpause or Start clears it and tries again. */
      g_warning ("%s: %s; pausing the source", src->id, msg);
      src->gave_up = TRUE;
      commit_track_source (daemon_ctx, src);
      source_set_system_paused_at (src, sourced_now (), sourced_now ());
      source_set_last_error (src, msg);
      commit_schedule (daemon_ctx);
      return;
    }

  guint shift = MIN (src->failures - 1, 16u);
  guint64 delay = MIN ((guint64) src->settings->restart_sec << shift, (guint64) BACKOFF_MAX_SEC);
  g_autofree char *msg = g_strdup_printf ("%s%s%s", how, last_line[0] ? ": " : "", last_line);
  g_message ("%s: worker %s; restarting in %" G_GUINT64_FORMAT " s", src->id, msg, delay);
  source_set_last_error (src, msg);
  src->restart_timer = g_timeout_add_full (G_PRIORITY_DEFAULT, (guint) delay * 1000, on_restart_timeout,
                                                   source_ref (src), (GDestroyNotify) source_unref);
}

static void
on_worker_exit (Worker *w, int wait_status, gpointer user_data)
{
  g_autoptr (Source) src = user_data; /* the ref taken at spawn */
  g_autofree char *last_line = g_strdup (worker_last_stderr_line (w));
  gint64 ran = g_get_monotonic_time () - worker_get_started_monotonic (w);
  int code = worker_exit_code (wait_status);

  g_debug ("%s: worker %d ended (%d)", src->id, worker_get_pid (w), code);
  set_worker (src, NULL);
  worker_free (w);

  if (code != src->control.last_exit_status && !src->removed)
    {
      commit_track_source (daemon_ctx, src);
      source_set_last_exit_status (src, code);
      commit_schedule (daemon_ctx);
    }

  if (src->run == SOURCE_RUN_STOPPING)
    {
      clear_timer (&src->kill_timer);
      src->job_running = FALSE;
      if (src->restart_pending)
        {
          src->restart_pending = FALSE;
          source_set_run (src, SOURCE_RUN_STARTING);
          launch (src);
        }
      else
        {
          source_set_run (src, SOURCE_RUN_STOPPED);
          changed (src);
          finish_waiters (src, &src->stop_waiters, NULL);
        }
      return;
    }

  if (src->job_running)
    {
      src->job_running = FALSE;
      if (code != 0)
        {
          g_autofree char *how = worker_describe_exit (wait_status);
          g_autofree char *msg = g_strdup_printf ("job %s%s%s", how, last_line[0] ? ": " : "", last_line);
          source_set_last_error (src, msg);
        }
      if (src->run == SOURCE_RUN_RUNNING)
        arm_schedule (src, sourced_now ());
      changed (src);
      return;
    }

  if (src->run == SOURCE_RUN_RUNNING)
    handle_unexpected_exit (src, wait_status, ran, last_line);
  changed (src);
}

void
supervisor_resume (Sourced *d, Source *src)
{
  if (src->run == SOURCE_RUN_RUNNING && src->gave_up && !src->worker)
    {
      src->gave_up = FALSE;
      src->failures = 0;
      launch (src);
    }
}

typedef struct {
  guint pending;
  GSourceFunc done;
  gpointer user_data;
} Shutdown;

static void
on_shutdown_stopped (Sourced *d, Source *src, const GError *error, gpointer user_data)
{
  Shutdown *s = user_data;

  if (--s->pending == 0)
    {
      s->done (s->user_data);
      g_free (s);
    }
}

static gboolean
stop_one (gpointer key, gpointer value, gpointer user_data)
{
  Source *src = value;
  Shutdown *s = user_data;

  clear_timer (&src->restart_timer);
  clear_timer (&src->schedule_timer);
  if (src->worker)
    {
      s->pending++;
      supervisor_stop (daemon_ctx, src, on_shutdown_stopped, s);
    }
  return FALSE;
}

void
supervisor_shutdown (Sourced *d, GSourceFunc done, gpointer user_data)
{
  Shutdown *s = g_new0 (Shutdown, 1);

  s->done = done;
  s->user_data = user_data;
  s->pending = 1;
  g_tree_foreach (d->sources, stop_one, s);
  on_shutdown_stopped (d, NULL, NULL, s);
}
