/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-glib.h"

#include <poll.h>

/* Messages handled per dispatch before the hook runs, so that a client that
 * never stops sending cannot hold back the commit of everyone else's calls. */
#define MAX_MESSAGES_PER_DISPATCH 256

typedef struct {
  GSource source;
  sd_bus *bus;
  gpointer fd_tag;
  GIOCondition fd_events; /* what fd_tag is polled for now */
  gboolean dispatching;
  BusGlibHook after_dispatch;
  BusGlibHook on_disconnect;
  gpointer user_data;
} BusSource;

static GIOCondition
poll_to_gio (int events)
{
  GIOCondition c = 0;
  if (events & POLLIN)
    c |= G_IO_IN;
  if (events & POLLOUT)
    c |= G_IO_OUT;
  return c;
}

static gboolean
bus_source_prepare (GSource *source, gint *timeout)
{
  BusSource *s = (BusSource *) source;
  uint64_t usec = UINT64_MAX;
  int events;

  *timeout = -1;
  events = sd_bus_get_events (s->bus);
  if (events < 0)
    return TRUE; /* let dispatch notice the broken connection */
  /* Only on a change: g_source_modify_unix_fd() wakes the context up
   * (writes its eventfd) every time, so calling it from every prepare
   * made every poll() return at once and the loop spin. */
  GIOCondition wanted = poll_to_gio (events) | G_IO_ERR | G_IO_HUP;
  if (wanted != s->fd_events)
    {
      g_source_modify_unix_fd (source, s->fd_tag, wanted);
      s->fd_events = wanted;
    }

  /* sd-bus's timeout is absolute CLOCK_MONOTONIC µs, the clock of
   * g_get_monotonic_time(); 0 means "process now". */
  if (sd_bus_get_timeout (s->bus, &usec) >= 0 && usec != UINT64_MAX)
    {
      if (usec == 0)
        return TRUE;
      g_source_set_ready_time (source, (gint64) usec);
    }
  else
    g_source_set_ready_time (source, -1);
  return FALSE;
}

static gboolean
bus_source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  BusSource *s = (BusSource *) source;

  /* The source may recurse (see bus_glib_source_new), but sd-bus may not:
   * a nested main loop inside a handler must not process the bus. */
  if (s->dispatching)
    return G_SOURCE_CONTINUE;
  s->dispatching = TRUE;
  for (int i = 0; i < MAX_MESSAGES_PER_DISPATCH; i++)
    {
      int r = sd_bus_process (s->bus, NULL);
      if (r < 0)
        {
          g_warning ("Lost the bus connection: %s", g_strerror (-r));
          if (s->after_dispatch)
            s->after_dispatch (s->user_data);
          if (s->on_disconnect)
            s->on_disconnect (s->user_data);
          s->dispatching = FALSE;
          return G_SOURCE_REMOVE;
        }
      if (r == 0)
        break;
    }
  if (s->after_dispatch)
    s->after_dispatch (s->user_data);
  s->dispatching = FALSE;
  return G_SOURCE_CONTINUE;
}

gboolean
bus_glib_source_has_input (GSource *source)
{
  BusSource *s = (BusSource *) source;
  struct pollfd p = { sd_bus_get_fd (s->bus), POLLIN, 0 };
  uint64_t usec = UINT64_MAX;

  /* sd-bus asks for an immediate timeout while its read queue holds
   * messages. */
  if (sd_bus_get_timeout (s->bus, &usec) >= 0 && usec == 0)
    return TRUE;
  return poll (&p, 1, 0) > 0 && (p.revents & POLLIN);
}

static void
bus_source_finalize (GSource *source)
{
  BusSource *s = (BusSource *) source;
  sd_bus_unref (s->bus);
}

static const GSourceFuncs bus_source_funcs = {
  .prepare = bus_source_prepare,
  .dispatch = bus_source_dispatch,
  .finalize = bus_source_finalize,
};

GSource *
bus_glib_source_new (sd_bus *bus, BusGlibHook after_dispatch, BusGlibHook on_disconnect, gpointer user_data)
{
  /* GLib never writes the table; its prototype predates const. */
  GSource *source = g_source_new ((GSourceFuncs *) &bus_source_funcs, sizeof (BusSource));
  BusSource *s = (BusSource *) source;

  s->bus = sd_bus_ref (bus);
  s->after_dispatch = after_dispatch;
  s->on_disconnect = on_disconnect;
  s->user_data = user_data;
  s->fd_events = G_IO_IN | G_IO_ERR | G_IO_HUP;
  s->fd_tag = g_source_add_unix_fd (source, sd_bus_get_fd (bus), s->fd_events);
  g_source_set_name (source, "sd-bus");
  /* Otherwise GLib blocks the source around each dispatch, and unblocking
   * re-adds its fd, which wakes the context (an eventfd write, and a poll
   * that returns at once) after every batch of messages. */
  g_source_set_can_recurse (source, TRUE);
  return source;
}
