/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <sys/types.h>

/* A worker: one command run as a child in its own process group, killed by
 * the kernel if sourced dies (PR_SET_PDEATHSIG), its stderr read line by line
 * into the log, tagged with the source id. Its stdin is /dev/null and its
 * stdout is discarded unless the spec asks for pipes, which the caller then
 * takes with worker_steal_*_fd(). */

typedef struct Worker Worker;

/* @wait_status is as from waitpid(). */
typedef void (*WorkerExitFunc) (Worker *worker, int wait_status, gpointer user_data);

typedef struct Spawner Spawner;
typedef struct IoWatcher IoWatcher;

typedef struct {
  Spawner *spawner;               /* the daemon's spawn helpers */
  IoWatcher *io;                  /* the daemon's descriptor watches (stderr) */
  const char *source_id;
  const char *role;               /* "target" for a Target=, NULL for the worker */
  const char *command_line;       /* as in Exec=, parsed like a shell would */
  const char *const *extra_args;  /* appended to the command line, or NULL */
  gboolean stdin_pipe;
  gboolean stdout_pipe;
} WorkerSpec;

Worker *worker_spawn (const WorkerSpec *spec, WorkerExitFunc on_exit, gpointer user_data, GError **error);
/* worker_spawn() in two halves (spawner.h): _begin makes the pipes and
 * hands the request over, _finish learns the pid. Between the two the
 * stdout and stdin ends may already be taken; on failure of _finish the
 * caller frees the worker. Finish them in the order they began. */
Worker *worker_spawn_begin (const WorkerSpec *spec, WorkerExitFunc on_exit, gpointer user_data, GError **error);
gboolean worker_spawn_finish (Worker *worker, GError **error);
/* The pipe ends, non-blocking and close-on-exec; the caller owns them. */
int worker_steal_stdin_fd (Worker *worker);
int worker_steal_stdout_fd (Worker *worker);
pid_t worker_get_pid (Worker *worker);
/* Sends @sig to the whole process group; nothing once the worker has been
 * reaped (its pid may belong to someone else by then). */
void worker_kill (Worker *worker, int sig);
/* The last lines the worker wrote to stderr, oldest first, or "". */
const char *worker_last_stderr_line (Worker *worker);
gint64 worker_get_started_monotonic (Worker *worker);
/* Lets go of a worker that may still run: it frees itself when it exits,
 * and its exit callback is not called. */
void worker_detach (Worker *worker);
/* Frees an exited worker (from its exit callback or later). */
void worker_free (Worker *worker);

/* "exited with status 3" / "killed by signal 9 (SIGKILL)". */
char *worker_describe_exit (int wait_status);
/* Exit status as LastExitStatus shows it: the code, or -signal. */
int worker_exit_code (int wait_status);
