/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-name.h"

#include <errno.h>
#include <poll.h>

#include "sourced-error.h"

typedef struct {
  const char *name;
  gboolean acquired;
} NameWait;

static int
on_name_acquired (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  NameWait *w = userdata;
  const char *name = NULL;

  if (sd_bus_message_read (m, "s", &name) >= 0 && g_strcmp0 (name, w->name) == 0)
    w->acquired = TRUE;
  return 0;
}

gboolean
bus_name_acquire (sd_bus *bus, const char *name, guint64 wait_usec, GError **error)
{
  NameWait w = { name, FALSE };
  sd_bus_slot *slot = NULL;
  gint64 deadline = g_get_monotonic_time () + (gint64) wait_usec;
  int r;

  /* NameAcquired is sent to us alone; the match only routes it here. */
  r = sd_bus_match_signal (bus, &slot, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                           "NameAcquired", on_name_acquired, &w);
  if (r < 0)
    {
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_FAILED, "Cannot watch for the name %s: %s", name,
                   g_strerror (-r));
      return FALSE;
    }
  /* 1: ours; 0: queued behind the current owner. */
  r = sd_bus_request_name (bus, name, wait_usec ? SD_BUS_NAME_QUEUE : 0);
  if (r == 0)
    {
      g_message ("The name %s is held by another connection; waiting up to %" G_GUINT64_FORMAT " s for it", name,
                 wait_usec / G_USEC_PER_SEC);
      while (!w.acquired && r >= 0)
        {
          gint64 now = g_get_monotonic_time ();
          if (now >= deadline)
            break;
          r = sd_bus_process (bus, NULL);
          if (r == 0)
            r = sd_bus_wait (bus, (uint64_t) (deadline - now));
        }
      if (r >= 0 && !w.acquired)
        {
          /* Leave the queue: a sourced that gave up must not take the name
           * later, behind systemd's back. */
          sd_bus_release_name (bus, name);
          r = -EEXIST;
        }
      else if (w.acquired)
        r = 1;
    }
  sd_bus_slot_unref (slot);
  if (r < 0)
    {
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_FAILED, "Cannot own the name %s: %s", name,
                   r == -EEXIST ? (wait_usec ? "another sourced still holds it after the wait"
                                             : "another sourced runs already")
                                : g_strerror (-r));
      return FALSE;
    }
  return TRUE;
}

/* While the last messages go out, sd_bus_process() also reads: a call
 * that comes now is answered at once instead of reaching objects that are
 * being torn down. */
static int
refuse_calls (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  if (!sd_bus_message_is_method_call (m, NULL, NULL))
    return 0;
  sd_bus_reply_method_errorf (m, SD_BUS_ERROR_NO_SERVER, "sourced is stopping");
  return 1;
}

gboolean
bus_name_release_and_flush (sd_bus *bus, const char *name, guint64 deadline_usec, guint64 *left)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) deadline_usec;
  uint64_t queued = 0;

  sd_bus_add_filter (bus, NULL, refuse_calls, NULL);
  /* The reply would have to come through the socket that may be stuck:
   * asked for, never waited for. */
  sd_bus_release_name_async (bus, NULL, name, NULL, NULL);
  for (;;)
    {
      int r;
      gint64 now;

      /* sd_bus_process() writes what the socket takes, without blocking. */
      while ((r = sd_bus_process (bus, NULL)) > 0)
        ;
      if (r < 0 || sd_bus_get_n_queued_write (bus, &queued) < 0 || queued == 0)
        break;
      now = g_get_monotonic_time ();
      if (now >= deadline)
        break;
      struct pollfd p = { sd_bus_get_fd (bus), POLLOUT, 0 };
      poll (&p, 1, (int) MAX ((deadline - now) / 1000, 1));
    }
  if (left)
    *left = queued;
  return queued == 0;
}
