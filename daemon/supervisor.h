/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "sourced.h"

/* Runs what the control state asks for: a started continuous source has its
 * worker running (restarted with exponential backoff when it exits, paused
 * by the daemon after MaxFailures exits in a row); a started scheduled source
 * has its timer armed and runs one job at a time; a stopped one has nothing.
 * The supervisor never persists by itself: it asks commit.c to. */

typedef void (*SupervisorDone) (Sourced *d, Source *src, const GError *error, gpointer user_data);

void supervisor_init (Sourced *d);

/* Start or restart; @done runs once the worker runs (or the schedule is
 * armed), or with the reason it could not be started. */
void supervisor_start (Sourced *d, Source *src, SupervisorDone done, gpointer user_data);
/* Stop; @done runs once the worker has exited (SIGTERM, then SIGKILL after
 * StopTimeoutSec). */
void supervisor_stop (Sourced *d, Source *src, SupervisorDone done, gpointer user_data);
/* Starts one job of a scheduled source now, even while paused. If a job is
 * running already, no second one starts (jobs never overlap) and
 * *started_at is that job's start. */
gboolean supervisor_run_job (Sourced *d, Source *src, guint64 *started_at, GError **error);
/* After an Unpause: a source the daemon paused after repeated failures
 * gets its worker back. */
void supervisor_resume (Sourced *d, Source *src);
/* Stops every worker without touching the persisted "started" state, then
 * calls @done. */
void supervisor_shutdown (Sourced *d, GSourceFunc done, gpointer user_data);
/* Calls @done once every supervisor operation it was handed has finished:
 * pass supervisor_barrier_done as the SupervisorDone of each, after
 * supervisor_barrier_add(), then call supervisor_barrier_done (d, NULL,
 * NULL, barrier) once for the barrier's own count. */
typedef struct SupervisorBarrier SupervisorBarrier;
SupervisorBarrier *supervisor_barrier_new (GSourceFunc done, gpointer user_data);
void supervisor_barrier_add (SupervisorBarrier *barrier);
void supervisor_barrier_done (Sourced *d, Source *src, const GError *error, gpointer barrier);

/* Sources started but still waiting in the launch queue. */
guint supervisor_launches_pending (Sourced *d);

/* After a reload is durable: stops the sources in @stop and starts those in
 * @start that are to run (started, and not new: a new one is started by its
 * own commit). @done (may be NULL) runs once each of them has been launched
 * (or could not be). */
void supervisor_apply (Sourced *d, GPtrArray *stop, GPtrArray *start, GSourceFunc done, gpointer user_data);
