/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "io-watch.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

/* Events handled per turn of the main loop; more wait for the next turn,
 * after the bus has had its say. */
#define EVENTS_PER_TURN 256

typedef struct {
  int fd;
  GUnixFDSourceFunc func;
  gpointer user_data;
} Watch;

struct IoWatcher {
  int epoll_fd;
  guint source_id;
  GHashTable *watches; /* id -> Watch* */
  guint last_id;
};

static guint32
to_epoll (GIOCondition c)
{
  return (c & G_IO_IN ? EPOLLIN : 0) | (c & G_IO_OUT ? EPOLLOUT : 0) | (c & G_IO_PRI ? EPOLLPRI : 0);
}

static GIOCondition
from_epoll (guint32 e)
{
  return (e & EPOLLIN ? G_IO_IN : 0) | (e & EPOLLOUT ? G_IO_OUT : 0) | (e & EPOLLPRI ? G_IO_PRI : 0) |
         (e & EPOLLERR ? G_IO_ERR : 0) | (e & EPOLLHUP ? G_IO_HUP : 0);
}

static gboolean
on_epoll_ready (gint fd, GIOCondition cond, gpointer user_data)
{
  IoWatcher *io = user_data;
  struct epoll_event events[EVENTS_PER_TURN];
  int n = epoll_wait (io->epoll_fd, events, EVENTS_PER_TURN, 0);

  for (int i = 0; i < n; i++)
    {
      guint id = (guint) events[i].data.u64;
      Watch *w = g_hash_table_lookup (io->watches, GUINT_TO_POINTER (id));

      /* Removed by an earlier callback of this very turn. */
      if (!w)
        continue;
      if (w->func (w->fd, from_epoll (events[i].events), w->user_data) == G_SOURCE_REMOVE)
        io_watch_remove (io, id);
    }
  return G_SOURCE_CONTINUE;
}

IoWatcher *
io_watcher_new (void)
{
  IoWatcher *io = g_new0 (IoWatcher, 1);

  io->epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
  if (io->epoll_fd < 0)
    g_error ("Cannot create an epoll descriptor: %s", g_strerror (errno));
  io->watches = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  io->source_id = g_unix_fd_add (io->epoll_fd, G_IO_IN, on_epoll_ready, io);
  return io;
}

void
io_watcher_free (IoWatcher *io)
{
  if (!io)
    return;
  g_source_remove (io->source_id);
  close (io->epoll_fd);
  g_hash_table_unref (io->watches);
  g_free (io);
}

guint
io_watch_add (IoWatcher *io, int fd, GIOCondition condition, GUnixFDSourceFunc func, gpointer user_data)
{
  struct epoll_event ev = { 0 };
  Watch *w;

  w = g_new (Watch, 1);
  w->fd = fd;
  w->func = func;
  w->user_data = user_data;
  if (++io->last_id == 0)
    ++io->last_id;
  ev.events = to_epoll (condition); /* errors and hang-ups are always reported */
  ev.data.u64 = io->last_id;
  if (epoll_ctl (io->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
    {
      /* Only for a bad descriptor or no memory: report it as an error
       * condition, as poll() would, from the loop. */
      g_warning ("Cannot watch descriptor %d: %s", fd, g_strerror (errno));
      g_free (w);
      return 0;
    }
  g_hash_table_insert (io->watches, GUINT_TO_POINTER (io->last_id), w);
  return io->last_id;
}

void
io_watch_remove (IoWatcher *io, guint id)
{
  Watch *w = io ? g_hash_table_lookup (io->watches, GUINT_TO_POINTER (id)) : NULL;

  if (!w)
    return;
  /* Fails harmlessly (EBADF, ENOENT) if the descriptor is gone already. */
  epoll_ctl (io->epoll_fd, EPOLL_CTL_DEL, w->fd, NULL);
  g_hash_table_remove (io->watches, GUINT_TO_POINTER (id));
}
