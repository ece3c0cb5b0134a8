/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Control while data flows. Starts the real sourced on a private bus with 8
 * exec sources writing at full speed (`yes` into Sink=/dev/null) and one
 * idle source, then, for a few seconds, alternates:
 *   - Pause / Unpause of the idle source (each a durable change), and
 *   - org.freedesktop.DBus.Peer.Ping to the bus driver itself,
 *   - the same Pause / Unpause to the reference (echo-service.c), a
 *     do-nothing service that makes one fdatasync and sends the same
 *     reply and signal,
 * one call at a time, and prints their p50 and p99 round trips, the ratios
 * of the p99s, and the bytes the 8 sources delivered a second.
 *
 *   build/tests/bench-latency [SECONDS] [--busy N] [--baseline OTHER_SOURCED] [--postgresql]
 *
 * With --postgresql, the busy sources write JSON lines (bench-gen) at full
 * speed into a PostgreSQL cluster of the benchmark's own (pg-cluster.c),
 * each a jsonb row committed with its checkpoint: control while data flows
 * into the database.
 *
 * With --baseline, the same measure is taken with the other binary (the
 * previous main, say) in the same run, and the throughputs are compared.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../harness.h"
#include "../pg-cluster.h"
#include "echo.h"

/* Busy sources: 8, or --busy N (0 measures the same calls on an idle daemon). */
static guint n_busy = 8;
/* --postgresql: where they deliver. */
static PgCluster *cluster;

typedef struct {
  double pause_p50, pause_p99, ping_p50, ping_p99, echo_p50, echo_p99;
  double bytes_per_sec;
  guint calls;
} Figures;

static int
cmp_double (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
percentile (GArray *a, double p)
{
  g_array_sort (a, cmp_double);
  return a->len ? g_array_index (a, double, MIN ((guint) (a->len * p), a->len - 1)) : 0;
}

static guint64
delivered (Harness *h)
{
  guint64 sum = 0;
  for (guint i = 0; i < n_busy; i++)
    {
      g_autofree char *id = g_strdup_printf ("busy%u", i);
      sum += harness_get_t (h, id, "BytesDelivered");
    }
  return sum;
}

static double
timed_call (sd_bus *bus, const char *dest, const char *path, const char *iface, const char *member)
{
  sd_bus_error e = SD_BUS_ERROR_NULL;
  gint64 t0 = g_get_monotonic_time ();
  int r = sd_bus_call_method (bus, dest, path, iface, member, &e, NULL, NULL);

  if (r < 0)
    g_error ("%s.%s failed: %s", iface, member, e.message);
  return (g_get_monotonic_time () - t0) / 1000.0;
}

static Figures
measure (const char *binary, double seconds)
{
  g_autoptr (Harness) h = NULL;
  g_autoptr (GArray) pauses = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) pings = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) echoes = g_array_new (FALSE, FALSE, sizeof (double));
  g_autofree char *echo_file = NULL;
  g_autofree char *ctl = source_path ("ctl");
  Figures f = { 0 };
  sd_bus *bus;
  GPid echo;
  guint64 b0, b1;
  gint64 t0, t1, deadline;

  g_setenv ("SOURCED_BINARY", binary, TRUE);
  h = harness_new ();
  for (guint i = 0; i < n_busy; i++)
    {
      g_autofree char *id = g_strdup_printf ("busy%u", i);
      if (cluster)
        {
          g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
          g_autofree char *dir = g_path_get_dirname (self);
          g_autofree char *uri = pg_cluster_uri (cluster);
          g_autofree char *def = g_strdup_printf ("[Source]\nExec=%s/bench-gen 0\nSink=%s\nSchema=bench\n", dir, uri);
          harness_write_definition (h, id, def);
        }
      else
        harness_write_definition (h, id, "[Source]\nExec=yes\nSink=/dev/null\n");
    }
  harness_write_definition (h, "ctl", "[Source]\nExec=sleep 100000\n");
  harness_start (h, NULL);
  bus = harness_connect (h);
  /* The reference: a do-nothing service that appends a line to a file on
   * the same file system as sourced's store and fdatasync()s it, then sends
   * the same reply and signal. */
  echo_file = g_build_filename (h->state_dir, "echo.journal", NULL);
  echo = echo_start (h, (const char *const[]){ "--durable", echo_file, NULL });
  g_usleep (G_USEC_PER_SEC / 2); /* let the pipes fill and the pumps settle */

  b0 = delivered (h);
  t0 = g_get_monotonic_time ();
  deadline = t0 + (gint64) (seconds * G_USEC_PER_SEC);
  /* Phases of a quarter second, sourced's and the reference's in turn, so
   * that both see the same load, but one's fdatasync never waits on the
   * other's; the driver's Ping between every call of both. */
  while (g_get_monotonic_time () < deadline)
    {
      gboolean reference = ((g_get_monotonic_time () - t0) / (G_USEC_PER_SEC / 4)) % 2;
      GArray *into = reference ? echoes : pauses;
      double t;

      t = timed_call (bus, reference ? ECHO_NAME : "org.sourced.Sourced1", ctl, "org.sourced.Sourced1.Source",
                      into->len % 2 ? "Unpause" : "Pause");
      g_array_append_val (into, t);
      t = timed_call (bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.Peer", "Ping");
      g_array_append_val (pings, t);
    }
  b1 = delivered (h);
  t1 = g_get_monotonic_time ();

  f.calls = pauses->len;
  f.pause_p50 = percentile (pauses, 0.5);
  f.pause_p99 = percentile (pauses, 0.99);
  f.ping_p50 = percentile (pings, 0.5);
  f.ping_p99 = percentile (pings, 0.99);
  f.echo_p50 = percentile (echoes, 0.5);
  f.echo_p99 = percentile (echoes, 0.99);
  f.bytes_per_sec = (double) (b1 - b0) / ((t1 - t0) / 1e6);
  sd_bus_flush_close_unref (bus);
  echo_stop (echo);
  return f;
}

static void
print_figures (const char *label, const Figures *f)
{
  printf ("%-9s Pause/Unpause p50 %.2f ms p99 %.2f ms | driver Ping p50 %.2f ms p99 %.2f ms | "
          "p99 ratio %.2f | %u calls | %u sources deliver %.0f MB/s\n",
          label, f->pause_p50, f->pause_p99, f->ping_p50, f->ping_p99, f->pause_p99 / MAX (f->ping_p99, 0.001),
          f->calls, n_busy, f->bytes_per_sec / 1e6);
  printf ("%-9s reference Pause (do-nothing service, one fdatasync) p50 %.2f ms p99 %.2f ms: %.2f x the driver's "
          "Ping p99; sourced's p99 is %.2f x the reference's\n",
          label, f->echo_p50, f->echo_p99, f->echo_p99 / MAX (f->ping_p99, 0.001),
          f->pause_p99 / MAX (f->echo_p99, 0.001));
}

int
main (int argc, char **argv)
{
  const char *current = g_getenv ("SOURCED_BINARY");
  const char *baseline = NULL;
  double seconds = 5;
  Figures now, before;

  for (int i = 1; i < argc; i++)
    {
      if (g_str_equal (argv[i], "--baseline") && i + 1 < argc)
        baseline = argv[++i];
      else if (g_str_equal (argv[i], "--busy") && i + 1 < argc)
        n_busy = (guint) atoi (argv[++i]);
      else if (g_str_equal (argv[i], "--postgresql"))
        cluster = pg_cluster_new ();
      else
        seconds = g_ascii_strtod (argv[i], NULL);
    }
  if (!current)
    current = "build/daemon/sourced"; /* run from the source tree, as the README says */
  current = g_strdup (current); /* measure() sets SOURCED_BINARY for the harness */
  now = measure (current, seconds);
  print_figures ("this", &now);
  if (baseline)
    {
      before = measure (baseline, seconds);
      print_figures ("baseline", &before);
      if (n_busy)
        printf ("throughput of the %u sources, this / baseline: %.2f\n", n_busy, now.bytes_per_sec / before.bytes_per_sec);
    }
  if (cluster)
    {
      g_autofree char *rows = pg_cluster_query (cluster, "SELECT sum(batches) FROM bench.sourced_checkpoints");
      printf ("PostgreSQL: %s batches committed\n", rows);
      pg_cluster_free (cluster);
    }
  return 0;
}
