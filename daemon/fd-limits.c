/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fd-limits.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

rlim_t
fd_limits_raise (void)
{
  struct rlimit rl;
  rlim_t found;

  if (getrlimit (RLIMIT_NOFILE, &rl) < 0)
    return 1024;
  found = rl.rlim_cur;
  if (rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      if (setrlimit (RLIMIT_NOFILE, &rl) < 0)
        g_warning ("Cannot raise the descriptor limit from %llu to %llu: %s", (unsigned long long) found,
                   (unsigned long long) rl.rlim_max, g_strerror (errno));
    }
  return found;
}

rlim_t
fd_limits_current (void)
{
  struct rlimit rl;

  return getrlimit (RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
}

gboolean
fd_limits_have_room (guint need)
{
  guint want = FD_LIMITS_RESERVE + need;
  g_autofree int *fds = g_new (int, want);
  guint got = 0;

  /* Numbers are handed out lowest first, and the daemon's descriptors come
   * and go: only trying tells how many are left. */
  while (got < want)
    {
      int fd = fcntl (STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
      if (fd < 0 && errno == EBADF)
        fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        break;
      fds[got++] = fd;
    }
  for (guint i = 0; i < got; i++)
    close (fds[i]);
  return got == want;
}
