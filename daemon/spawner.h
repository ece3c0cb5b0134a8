/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <sys/resource.h>
#include <sys/types.h>

/* Starts workers from a small helper process forked at start-up, before
 * sourced holds any worker's descriptors.
 *
 * Why: a fork of sourced copies its descriptor table, and the exec that
 * follows closes every descriptor again, one by one; with thousands of
 * running sources (3 descriptors each) that made each spawn cost
 * milliseconds, and the daemon waited for it. The helper's table holds a
 * handful, so a spawn costs what a bare posix_spawn does.
 *
 * The helper forks and execs on request, with the three standard
 * descriptors handed over (SCM_RIGHTS); each worker gets its own process
 * group, the default signal mask and dispositions, the given soft
 * RLIMIT_NOFILE, and PR_SET_PDEATHSIG on the helper, which itself has it
 * on sourced: a killed sourced takes its helper and every worker with it.
 * The helper reaps its children and reports each exit back; sourced sees
 * them from its main loop. */

typedef void (*SpawnerExitFunc) (pid_t pid, int wait_status, gpointer user_data);

typedef struct Spawner Spawner;

/* Forks the helpers (one per daemon: d->spawner). Call early, from the
 * main thread, before sourced holds any worker's descriptors.
 * @child_nofile: the soft descriptor limit workers start with. */
Spawner *spawner_start (rlim_t child_nofile, GError **error);
/* Closes the helpers' sockets: they exit, and their workers with them. */
void spawner_free (Spawner *spawner);

/* Runs @argv (searched in PATH) with @fds as its stdin, stdout and stderr.
 * Returns the pid, or 0 with @error set: the command could not be run
 * (G_SPAWN_ERROR with the exec's errno as code where it failed there), or
 * sourced is out of processes or descriptors (G_SPAWN_ERROR_FORK /
 * G_SPAWN_ERROR_MFILE). */
pid_t spawner_spawn (Spawner *spawner, const char *const *argv, const int fds[3], GError **error);

/* The same in two halves, so that several spawns can be in the helper's
 * hands at once (a batch of launches): spawner_send() returns the
 * request's id (0 with @error if it could not be sent), and
 * spawner_receive() waits for that request's answer, in any order. @fds
 * may be closed once spawner_send() returns. */
guint32 spawner_send (Spawner *spawner, const char *const *argv, const int fds[3], GError **error);
pid_t spawner_receive (Spawner *spawner, guint32 id, const char *argv0, GError **error);

/* How many spawns the helpers carry out at once (one per helper). */
guint spawner_parallelism (Spawner *spawner);

/* Calls @func from the main loop once @pid has exited. */
void spawner_watch (Spawner *spawner, pid_t pid, SpawnerExitFunc func, gpointer user_data);
/* Forgets the watch of @pid (the exit will not be reported). */
void spawner_unwatch (Spawner *spawner, pid_t pid);
