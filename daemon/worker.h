/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <sys/types.h>

/* A worker: one command run as a child in its own process group, stdin from
 * /dev/null, killed by the kernel if sourced dies (PR_SET_PDEATHSIG), its
 * stderr read line by line into the log, tagged with the source id. */

typedef struct Worker Worker;

/* @wait_status is as from waitpid(). */
typedef void (*WorkerExitFunc) (Worker *worker, int wait_status, gpointer user_data);

Worker *worker_spawn (const char *source_id,
                      const char *command_line,
                      WorkerExitFunc on_exit,
                      gpointer user_data,
                      GError **error);
pid_t worker_get_pid (Worker *worker);
/* Sends @sig to the whole process group. */
void worker_kill (Worker *worker, int sig);
/* The last lines the worker wrote to stderr, oldest first, or "". */
const char *worker_last_stderr_line (Worker *worker);
gint64 worker_get_started_monotonic (Worker *worker);
/* Frees an exited worker (from its exit callback or later). */
void worker_free (Worker *worker);

/* "exited with status 3" / "killed by signal 9 (SIGKILL)". */
char *worker_describe_exit (int wait_status);
/* Exit status as LastExitStatus shows it: the code, or -signal. */
int worker_exit_code (int wait_status);
