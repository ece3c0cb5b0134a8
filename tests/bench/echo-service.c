/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The reference the control benchmarks divide by: a do-nothing service that
 * sends the same messages sourced sends, and does nothing else.
 *
 * It owns org.sourced.Bench.Echo on the bus in DBUS_SESSION_BUS_ADDRESS and
 * answers, on any object under /org/sourced/Sourced1/source/:
 *   Source.Pause, Source.Unpause: an empty reply and the PropertiesChanged
 *     sourced sends for a stopped source (PausedAt and UpdatedAt, two t);
 * and on /org/sourced/Sourced1:
 *   Manager.PauseSources(as) → a(sss): COUNT PropertiesChanged, one for each
 *     of src000000…, then one reply with COUNT rows (id, "done", "").
 * With --durable FILE, each of these first writes a line to FILE and
 * fdatasync()s it, as the least a durable change can cost.
 *
 *   echo-service [--count COUNT] [--durable FILE]
 *
 * No GLib: the reference must not pay for anything sourced might not.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

static unsigned count = 10000;
static int durable_fd = -1;

static uint64_t
now_us (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/* The file is zeroed ahead and written in place, as sourced's journal is,
 * so that an fdatasync flushes the data only, not the file's size. */
#define DURABLE_SIZE (1u << 20)

static int
persist (void)
{
  static const char line[] = "pause src000000 1796217329023136\n";
  static off_t at;

  if (durable_fd < 0)
    return 0;
  if (at + (off_t) sizeof line > DURABLE_SIZE)
    at = 0;
  if (pwrite (durable_fd, line, sizeof line - 1, at) != (ssize_t) (sizeof line - 1) || fdatasync (durable_fd) < 0)
    return -errno;
  at += sizeof line - 1;
  return 0;
}

static int
open_durable (const char *path)
{
  static const char zeros[4096];
  int fd = open (path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

  if (fd < 0)
    return -1;
  for (unsigned i = 0; i < DURABLE_SIZE / sizeof zeros; i++)
    if (write (fd, zeros, sizeof zeros) != (ssize_t) sizeof zeros)
      goto fail;
  if (fsync (fd) < 0)
    goto fail;
  return fd;
fail:
  close (fd);
  return -1;
}

/* The signal built by hand: what sourced sends, at the least cost. */
static int
emit_changed (sd_bus *bus, const char *path)
{
  sd_bus_message *m = NULL;
  uint64_t t = now_us ();
  int r;

  r = sd_bus_message_new_signal (bus, &m, path, "org.freedesktop.DBus.Properties", "PropertiesChanged");
  if (r >= 0)
    r = sd_bus_message_append (m, "sa{sv}as", "org.sourced.Sourced1.Source", 2, "PausedAt", "t", t, "UpdatedAt",
                               "t", t, 0);
  if (r >= 0)
    r = sd_bus_send (bus, m, NULL);
  sd_bus_message_unref (m);
  return r;
}

static int
on_single (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  int r = persist ();

  if (r < 0)
    return r;
  r = emit_changed (sd_bus_message_get_bus (m), sd_bus_message_get_path (m));
  if (r < 0)
    return r;
  return sd_bus_reply_method_return (m, NULL);
}

static int
on_bulk (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  sd_bus *bus = sd_bus_message_get_bus (m);
  sd_bus_message *reply = NULL;
  char id[32], path[96];
  int r = persist ();

  for (unsigned i = 0; r >= 0 && i < count; i++)
    {
      snprintf (path, sizeof path, "/org/sourced/Sourced1/source/src%06u", i);
      r = emit_changed (bus, path);
    }
  if (r >= 0)
    r = sd_bus_message_new_method_return (m, &reply);
  if (r >= 0)
    r = sd_bus_message_open_container (reply, 'a', "(sss)");
  for (unsigned i = 0; r >= 0 && i < count; i++)
    {
      snprintf (id, sizeof id, "src%06u", i);
      r = sd_bus_message_append (reply, "(sss)", id, "done", "");
    }
  if (r >= 0)
    r = sd_bus_message_close_container (reply);
  if (r >= 0)
    r = sd_bus_send (bus, reply, NULL);
  sd_bus_message_unref (reply);
  return r < 0 ? r : 1;
}

static const sd_bus_vtable source_vtable[] = {
  SD_BUS_VTABLE_START (0),
  SD_BUS_METHOD ("Pause", "", "", on_single, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD ("Unpause", "", "", on_single, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_VTABLE_END,
};

static const sd_bus_vtable manager_vtable[] = {
  SD_BUS_VTABLE_START (0),
  SD_BUS_METHOD ("PauseSources", "as", "a(sss)", on_bulk, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_VTABLE_END,
};

int
main (int argc, char **argv)
{
  sd_bus *bus = NULL;
  int r;

  for (int i = 1; i < argc; i++)
    {
      if (!strcmp (argv[i], "--count") && i + 1 < argc)
        count = (unsigned) strtoul (argv[++i], NULL, 10);
      else if (!strcmp (argv[i], "--durable") && i + 1 < argc)
        {
          durable_fd = open_durable (argv[++i]);
          if (durable_fd < 0)
            {
              fprintf (stderr, "echo-service: %s: %s\n", argv[i], strerror (errno));
              return 1;
            }
        }
      else
        {
          fprintf (stderr, "usage: echo-service [--count COUNT] [--durable FILE]\n");
          return 2;
        }
    }

  r = sd_bus_open_user (&bus);
  if (r >= 0)
    r = sd_bus_add_fallback_vtable (bus, NULL, "/org/sourced/Sourced1/source", "org.sourced.Sourced1.Source",
                                    source_vtable, NULL, NULL);
  if (r >= 0)
    r = sd_bus_add_object_vtable (bus, NULL, "/org/sourced/Sourced1", "org.sourced.Sourced1.Manager", manager_vtable,
                                  NULL);
  if (r >= 0)
    r = sd_bus_request_name (bus, "org.sourced.Bench.Echo", 0);
  if (r < 0)
    {
      fprintf (stderr, "echo-service: cannot serve: %s\n", strerror (-r));
      return 1;
    }
  for (;;)
    {
      r = sd_bus_process (bus, NULL);
      if (r < 0)
        break; /* the bus went away: the benchmark is over */
      if (r == 0 && sd_bus_wait (bus, UINT64_MAX) < 0)
        break;
    }
  sd_bus_flush_close_unref (bus);
  return 0;
}
