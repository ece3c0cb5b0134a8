/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Control-plane benchmark. Starts the real sourced with N sources on a
 * private bus (system-bus limits) and measures, in the same run:
 *   - org.freedesktop.DBus.Peer.Ping round trips to sourced (the reference),
 *   - Pause/Unpause round trips (each one a real, durable change),
 * with 1 and with 32 calls in flight, and prints each as a ratio to Ping;
 * also fsync'd journal writes per change, exec-to-READY=1 time, peak RSS,
 * and the CPU time sourced, dbus-daemon and the caller spend per call.
 * Machines here are noisy: read the ratios, not the absolute rates.
 *
 *   build/tests/bench-control [--system] [N ...]     (default: 100 100000)
 *
 * --system runs sourced with --system on a system-type bus, where every
 * changing call is authorized (the caller is root).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../harness.h"

#define IN_FLIGHT 32
#define SECONDS 1.0
/* Besides the best of ROUNDS, PAIRS short Ping/Pause measures taken back
 * to back: the median of their ratios, which drift of the machine's speed
 * between two measures cannot bias. */
#define PAIRS 15
#define PAIR_SECONDS 0.3
/* Each measure is taken this many times, Ping and Pause alternating, and
 * the best kept: a shared machine's noise only ever slows things down. */
#define ROUNDS 3

typedef struct {
  Harness *h;
  sd_bus *bus; /* the caller: a plain connection, subscribed to nothing */
  guint n_sources;
  gboolean ping;
  guint64 done;
  guint64 issued;
  gint64 deadline;
  guint pending;
  guint next_source;
} Load;

static int issue (Load *l, guint slot);

static int
on_reply (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  Load *l = userdata;

  if (sd_bus_message_is_method_error (m, NULL))
    g_error ("call failed: %s", sd_bus_message_get_error (m)->message);
  l->done++;
  l->pending--;
  if (g_get_monotonic_time () < l->deadline)
    issue (l, 0);
  return 1;
}

static int
issue (Load *l, guint slot)
{
  sd_bus_message *m = NULL;
  int r;

  if (l->ping)
    r = sd_bus_message_new_method_call (l->bus, &m, "org.sourced.Sourced1", "/org/sourced/Sourced1",
                                        "org.freedesktop.DBus.Peer", "Ping");
  else
    {
      /* Round-robin over IN_FLIGHT sources; each call flips its source, so
       * every call is a change that must be written. */
      guint src = l->next_source++ % MIN (l->n_sources, IN_FLIGHT);
      guint flip = (guint) ((l->issued / MIN (l->n_sources, IN_FLIGHT)) % 2);
      g_autofree char *id = g_strdup_printf ("src%06u", src);
      g_autofree char *path = source_path (id);
      r = sd_bus_message_new_method_call (l->bus, &m, "org.sourced.Sourced1", path,
                                          "org.sourced.Sourced1.Source", flip ? "Unpause" : "Pause");
    }
  g_assert_cmpint (r, >=, 0);
  l->issued++;
  l->pending++;
  r = sd_bus_call_async (l->bus, NULL, m, on_reply, l, 0);
  g_assert_cmpint (r, >=, 0);
  sd_bus_message_unref (m);
  return r;
}

/* One measure: round trips per second, and the CPU time each process
 * spent per call meanwhile, which shows which one sets the pace. */
typedef struct {
  double rate;
  double us_daemon, us_bus, us_client;
  double idle; /* share of the machine's CPU time left idle */
} Measure;

/* Idle and total jiffies of all CPUs, from /proc/stat. */
static void
machine_jiffies (guint64 *idle, guint64 *total)
{
  g_autofree char *stat = NULL;
  g_auto (GStrv) f = NULL;

  *idle = *total = 0;
  if (!g_file_get_contents ("/proc/stat", &stat, NULL, NULL))
    return;
  f = g_strsplit_set (stat, " \n", 16);
  /* "cpu  user nice system idle iowait irq softirq steal ..." */
  for (int i = 2; i < 10 && f[i]; i++)
    {
      guint64 v = g_ascii_strtoull (f[i], NULL, 10);
      *total += v;
      if (i == 5 || i == 6)
        *idle += v;
    }
}

/* Keeps the faster of two measures. */
static void
keep_best (Measure *best, Measure m)
{
  if (m.rate > best->rate)
    *best = m;
}

/* Round trips per second with @in_flight calls outstanding. */
static Measure
measure_for (Harness *h, guint n_sources, gboolean ping, guint in_flight, double seconds, guint64 *n_done)
{
  Load l = { h, NULL, n_sources, ping, 0, 0, 0, 0, 0 };
  Measure res;
  gint64 t0;
  double cpu_daemon, cpu_bus, cpu_client;
  guint64 idle0, total0, idle1, total1;

  /* Like a CLI or a configuration tool: it calls, and listens to no
   * signals (the harness's own client subscribes to every
   * PropertiesChanged, which would bill the caller for the broadcast). */
  l.bus = harness_connect (h);
  cpu_daemon = harness_process_cpu_seconds (h->daemon_pid);
  cpu_bus = harness_process_cpu_seconds (h->bus_pid);
  cpu_client = harness_process_cpu_seconds (getpid ());
  machine_jiffies (&idle0, &total0);
  t0 = g_get_monotonic_time ();

  l.deadline = t0 + (gint64) (seconds * G_USEC_PER_SEC);
  for (guint i = 0; i < in_flight; i++)
    issue (&l, i);
  while (l.pending > 0)
    {
      int r = sd_bus_process (l.bus, NULL);
      g_assert_cmpint (r, >=, 0);
      if (r == 0)
        sd_bus_wait (l.bus, UINT64_MAX);
    }
  res.rate = (double) l.done / ((double) (g_get_monotonic_time () - t0) / G_USEC_PER_SEC);
  res.us_daemon = (harness_process_cpu_seconds (h->daemon_pid) - cpu_daemon) * 1e6 / (double) l.done;
  res.us_bus = (harness_process_cpu_seconds (h->bus_pid) - cpu_bus) * 1e6 / (double) l.done;
  res.us_client = (harness_process_cpu_seconds (getpid ()) - cpu_client) * 1e6 / (double) l.done;
  machine_jiffies (&idle1, &total1);
  res.idle = total1 > total0 ? (double) (idle1 - idle0) / (double) (total1 - total0) : 0;
  if (n_done)
    *n_done = l.done;
  sd_bus_flush_close_unref (l.bus);
  return res;
}

static Measure
measure (Harness *h, guint n_sources, gboolean ping, guint in_flight, guint64 *n_done)
{
  return measure_for (h, n_sources, ping, in_flight, SECONDS, n_done);
}

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

/* The median over PAIRS of Pause/Unpause rate ÷ the Ping rate just before. */
static double
median_paired_ratio (Harness *h, guint n_sources, guint in_flight)
{
  double ratios[PAIRS];

  for (int i = 0; i < PAIRS; i++)
    {
      Measure ping = measure_for (h, n_sources, TRUE, in_flight, PAIR_SECONDS, NULL);
      Measure pause = measure_for (h, n_sources, FALSE, in_flight, PAIR_SECONDS, NULL);
      ratios[i] = pause.rate / ping.rate;
    }
  qsort (ratios, PAIRS, sizeof ratios[0], compare_doubles);
  return ratios[PAIRS / 2];
}

/* dbus-daemon's CPU time per signal that nobody receives, such as the
 * PropertiesChanged a Pause sends: a client streams them (as sourced does
 * in a batch) for a moment, then makes a round trip so all are read. */
static double
bus_cost_of_a_signal (Harness *h)
{
  sd_bus *bus = harness_connect (h);
  guint64 n = 0;
  double cpu0;
  gint64 deadline;

  cpu0 = harness_process_cpu_seconds (h->bus_pid);
  deadline = g_get_monotonic_time () + (gint64) (PAIR_SECONDS * G_USEC_PER_SEC);
  while (g_get_monotonic_time () < deadline)
    {
      for (int i = 0; i < IN_FLIGHT; i++, n++)
        g_assert_cmpint (sd_bus_emit_signal (bus, "/org/sourced/Sourced1/source/bench",
                                             "org.freedesktop.DBus.Properties", "PropertiesChanged", "sa{sv}as",
                                             "org.sourced.Sourced1.Source", 2, "PausedAt", "t", n, "UpdatedAt",
                                             "t", n, 0),
                         >=, 0);
      g_assert_cmpint (sd_bus_flush (bus), >=, 0);
    }
  g_assert_cmpint (sd_bus_call_method (bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus.Peer", "Ping", NULL, NULL, ""), >=, 0);
  double us = (harness_process_cpu_seconds (h->bus_pid) - cpu0) * 1e6 / (double) n;
  sd_bus_flush_close_unref (bus);
  return us;
}

static void
print_cpu (const char *what, Measure m)
{
  printf ("      %-12s CPU per call: sourced %.1f us, dbus-daemon %.1f us, caller %.1f us; machine %.0f%% idle\n", what,
          m.us_daemon, m.us_bus, m.us_client, m.idle * 100);
}

static long
peak_rss_kb (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", pid);
  g_autofree char *status = NULL;
  const char *p;

  if (!g_file_get_contents (path, &status, NULL, NULL) || !(p = strstr (status, "VmHWM:")))
    return -1;
  return strtol (p + 6, NULL, 10);
}

static gboolean system_bus;

static double
run (guint n, double *per_change_32)
{
  g_autoptr (Harness) h = harness_new_full (system_bus);
  gint64 t0;
  double ready_first, ready_again;

  /* Nobody here listens to signals: swap the harness's client (which
   * subscribes to every PropertiesChanged) for a plain one, so that
   * dbus-daemon drops the broadcasts instead of queueing them. */
  sd_bus_flush_close_unref (h->client);
  h->client = harness_connect (h);

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *id = g_strdup_printf ("src%06u", i);
      harness_write_definition (h, id, "[Source]\nExec=sleep 1000\nInitialState=stopped\n");
    }
  t0 = g_get_monotonic_time ();
  harness_start (h, NULL);
  ready_first = (double) (g_get_monotonic_time () - t0) / G_USEC_PER_SEC;
  /* Steady state: the sources are known, the store has them. */
  harness_kill (h, SIGTERM);
  t0 = g_get_monotonic_time ();
  harness_start (h, NULL);
  ready_again = (double) (g_get_monotonic_time () - t0) / G_USEC_PER_SEC;
  long rss_ready = peak_rss_kb (h->daemon_pid);

  guint64 changes1 = 0, changes32 = 0;
  Measure ping1 = { 0 }, pause1, ping32 = { 0 }, pause32;
  guint64 tx0, tx1, tx2;

  /* fsync'd writes are counted over one Pause round of each kind. */
  tx0 = harness_count_transactions (h);
  pause1 = measure (h, n, FALSE, 1, &changes1);
  tx1 = harness_count_transactions (h);
  pause32 = measure (h, n, FALSE, IN_FLIGHT, &changes32);
  tx2 = harness_count_transactions (h);
  for (int round = 0; round < ROUNDS; round++)
    {
      keep_best (&ping1, measure (h, n, TRUE, 1, NULL));
      keep_best (&pause1, measure (h, n, FALSE, 1, NULL));
      keep_best (&ping32, measure (h, n, TRUE, IN_FLIGHT, NULL));
      keep_best (&pause32, measure (h, n, FALSE, IN_FLIGHT, NULL));
    }
  double paired1 = median_paired_ratio (h, n, 1);
  double paired32 = median_paired_ratio (h, n, IN_FLIGHT);
  long rss = peak_rss_kb (h->daemon_pid);

  printf ("N=%u sources, %s bus\n", n, system_bus ? "system" : "session");
  printf ("  exec to READY=1: %.3f s first start (persists %u new sources), %.3f s restart\n", ready_first, n,
          ready_again);
  printf ("  peak RSS (VmHWM): %.1f MB at READY=1, %.1f MB after all the calls (snapshots included)\n",
          rss_ready / 1024.0, rss / 1024.0);
  printf ("  1 in flight:  Ping %.0f/s, Pause/Unpause %.0f/s  -> ratio %.3f\n", ping1.rate, pause1.rate,
          pause1.rate / ping1.rate);
  printf ("  32 in flight: Ping %.0f/s, Pause/Unpause %.0f/s  -> ratio %.3f\n", ping32.rate, pause32.rate,
          pause32.rate / ping32.rate);
  printf ("  median of %d paired %.1f s measures: ratio %.3f with 1 in flight, %.3f with 32\n", PAIRS, PAIR_SECONDS,
          paired1, paired32);
  print_cpu ("Ping", ping32);
  print_cpu ("Pause", pause32);
  /* Ping keeps dbus-daemon busy (its CPU per call times the rate is about
   * one core), and a Pause routes the same call and reply plus a signal:
   * were sourced and the disk free, the ratio could not pass this. */
  double signal_us = bus_cost_of_a_signal (h);
  printf ("      a PropertiesChanged nobody receives costs dbus-daemon %.1f us, so with dbus-daemon the limit\n"
          "      the ratio with 32 in flight is bounded by about %.2f (per Ping / (per Ping + one signal))\n",
          signal_us, ping32.us_bus / (ping32.us_bus + signal_us));
  printf ("  fsync'd journal writes per change: %.3f with 1 in flight (%" G_GUINT64_FORMAT " for %" G_GUINT64_FORMAT
          "), %.3f with 32 (%" G_GUINT64_FORMAT " for %" G_GUINT64_FORMAT ")\n",
          (double) (tx1 - tx0) / (double) changes1, tx1 - tx0, changes1,
          (double) (tx2 - tx1) / (double) changes32, tx2 - tx1, changes32);
  fflush (stdout);
  *per_change_32 = pause32.rate / ping32.rate;
  return pause1.rate / ping1.rate;
}

int
main (int argc, char **argv)
{
  guint sizes[8] = { 100, 100000 };
  guint n_sizes = 2;
  gboolean sizes_given = FALSE;
  double r1[8], r32[8];

  if (!g_getenv ("SOURCED_BINARY"))
    g_setenv ("SOURCED_BINARY", "build/daemon/sourced", TRUE);
  for (int i = 1; i < argc; i++)
    {
      if (g_str_equal (argv[i], "--system"))
        {
          system_bus = TRUE;
          continue;
        }
      if (!sizes_given)
        n_sizes = 0; /* sizes given: only those */
      sizes_given = TRUE;
      if (n_sizes < G_N_ELEMENTS (sizes))
        sizes[n_sizes++] = (guint) strtoul (argv[i], NULL, 10);
    }
  for (guint i = 0; i < n_sizes; i++)
    r1[i] = run (sizes[i], &r32[i]);
  if (n_sizes >= 2)
    printf ("Per-change cost vs N: ratio-to-Ping at N=%u over N=%u: %.2f (1 in flight), %.2f (32 in flight)\n",
            sizes[n_sizes - 1], sizes[0], r1[n_sizes - 1] / r1[0], r32[n_sizes - 1] / r32[0]);
  return 0;
}
