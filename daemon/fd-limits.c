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
  g_autofree int *fds = NULL;
  guint got = 0;
  int lowest;

  /* The quick answer, good while far from the limit: descriptors are
   * handed out lowest first, so all below the lowest free one are in use
   * and holes are few (a closed one is the next one reused). Near the
   * limit, only opening them tells. */
  lowest = fcntl (STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
  if (lowest >= 0)
    {
      close (lowest);
      if ((rlim_t) lowest + 8 * (rlim_t) want < fd_limits_current ())
        return TRUE;
    }
  fds = g_new (int, want);

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
