/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "polkit-agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define PKTTYAGENT "/usr/bin/pkttyagent"

static GPid agent_pid;

void
polkit_agent_open (void)
{
  g_autofree char *process = g_strdup_printf ("%d", (int) getpid ());
  g_autofree char *notify = NULL;
  g_autoptr (GError) error = NULL;
  int pipe_fds[2];
  char c;

  if (agent_pid || !isatty (STDIN_FILENO) || access (PKTTYAGENT, X_OK) < 0 || pipe2 (pipe_fds, O_CLOEXEC) < 0)
    return;
  notify = g_strdup_printf ("%d", pipe_fds[1]);
  /* --notify-fd: the agent closes it once it is registered, so the call
   * that follows finds it. */
  const char *argv[] = { PKTTYAGENT, "--notify-fd", notify, "--fallback", "--process", process, NULL };
  const int source_fds[] = { pipe_fds[1] };
  const int target_fds[] = { pipe_fds[1] };
  if (!g_spawn_async_with_pipes_and_fds (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, -1, -1, -1,
                                         source_fds, target_fds, 1, &agent_pid, NULL, NULL, NULL, &error))
    agent_pid = 0;
  close (pipe_fds[1]);
  if (agent_pid)
    while (read (pipe_fds[0], &c, 1) < 0 && errno == EINTR)
      ;
  close (pipe_fds[0]);
}

void
polkit_agent_close (void)
{
  if (!agent_pid)
    return;
  kill (agent_pid, SIGTERM);
  waitpid (agent_pid, NULL, 0);
  agent_pid = 0;
}
