/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pager.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

static pid_t pager_pid;

void
pager_open (void)
{
  const char *pager = g_getenv ("SYSTEMD_PAGER");
  g_autofree char *less = NULL;
  int fds[2];
  pid_t pid;

  if (pager_pid || !isatty (STDOUT_FILENO))
    return;
  if (!pager)
    pager = g_getenv ("PAGER");
  if (pager && (!*pager || g_str_equal (pager, "cat")))
    return;
  if (!pager && !(pager = less = g_find_program_in_path ("less")))
    return;
  if (pipe (fds) < 0)
    return;
  fflush (stdout);
  pid = fork ();
  if (pid < 0)
    {
      close (fds[0]);
      close (fds[1]);
      return;
    }
  if (pid == 0)
    {
      dup2 (fds[0], STDIN_FILENO);
      close (fds[0]);
      close (fds[1]);
      setenv ("LESS", "FRSXMK", 0);
      execl ("/bin/sh", "sh", "-c", pager, (char *) NULL);
      _exit (127);
    }
  dup2 (fds[1], STDOUT_FILENO);
  close (fds[0]);
  close (fds[1]);
  /* A pager that quits early must not kill us with SIGPIPE mid-line. */
  signal (SIGPIPE, SIG_IGN);
  pager_pid = pid;
}

void
pager_close (void)
{
  if (!pager_pid)
    return;
  fflush (stdout);
  fclose (stdout);
  waitpid (pager_pid, NULL, 0);
  pager_pid = 0;
}
