/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pings a bus peer back to back for a while and reports how it answered:
 * the longest gap between two answers, and the round-trip percentiles.
 * Used by bench-host.py inside the booted host, where sourced starts a
 * thousand workers meanwhile; it needs only libsystemd.
 *
 *   ping-gaps [--system|--user] DEST SECONDS
 *
 * Prints one line: "answers N max_gap_ms X p50_ms Y p99_ms Z". A peer that
 * is not on the bus (yet) counts as a gap, not as an answer. With DEST
 * org.freedesktop.DBus, the bus driver is asked GetId instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-bus.h>

static double
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

int
main (int argc, char **argv)
{
  sd_bus *bus = NULL;
  int user = 0, i = 1;
  double seconds, start, last, max_gap = 0;
  size_t n = 0, cap = 1 << 16;
  double *rtt = malloc (cap * sizeof *rtt);

  if (argc > 1 && (strcmp (argv[1], "--system") == 0 || strcmp (argv[1], "--user") == 0))
    user = strcmp (argv[i++], "--user") == 0;
  if (argc - i != 2)
    {
      fprintf (stderr, "usage: ping-gaps [--system|--user] DEST SECONDS\n");
      return 2;
    }
  seconds = atof (argv[i + 1]);
  if ((user ? sd_bus_open_user (&bus) : sd_bus_open_system (&bus)) < 0)
    {
      fprintf (stderr, "ping-gaps: cannot connect to the bus\n");
      return 1;
    }
  start = last = now_ms ();
  while (now_ms () - start < seconds * 1000)
    {
      sd_bus_message *m = NULL, *reply = NULL;
      sd_bus_error error = SD_BUS_ERROR_NULL;
      double t0 = now_ms (), t1;
      int r;

      /* The system bus's policy refuses Peer.Ping to the bus driver itself;
       * GetId is the driver's own do-nothing call. */
      if (strcmp (argv[i], "org.freedesktop.DBus") == 0)
        sd_bus_message_new_method_call (bus, &m, argv[i], "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId");
      else
        sd_bus_message_new_method_call (bus, &m, argv[i], "/", "org.freedesktop.DBus.Peer", "Ping");
      sd_bus_message_set_auto_start (m, 0);
      r = sd_bus_call (bus, m, 5 * 1000 * 1000, &error, &reply);
      t1 = now_ms ();
      sd_bus_message_unref (m);
      sd_bus_message_unref (reply);
      sd_bus_error_free (&error);
      if (r < 0)
        continue; /* not answered: the gap goes on */
      if (t1 - last > max_gap)
        max_gap = t1 - last;
      last = t1;
      if (n == cap)
        rtt = realloc (rtt, (cap *= 2) * sizeof *rtt);
      rtt[n++] = t1 - t0;
    }
  if (now_ms () - last > max_gap)
    max_gap = now_ms () - last;
  qsort (rtt, n, sizeof *rtt, cmp_double);
  printf ("answers %zu max_gap_ms %.2f p50_ms %.3f p99_ms %.3f\n", n, max_gap, n ? rtt[n / 2] : 0,
          n ? rtt[(size_t) (n * 0.99)] : 0);
  sd_bus_flush_close_unref (bus);
  free (rtt);
  return 0;
}
