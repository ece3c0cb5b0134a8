/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Bulk reads. Starts the real sourced with N stopped sources on a private
 * bus and measures, in the same run:
 *   - a bare sd-bus client paging through GetSourcesPaged (the reference:
 *     the transfer alone, each page's entries skipped);
 *   - `sourcectl list` and `sourcectl list --json` (this build);
 *   - with --baseline-cli OTHER, another sourcectl's `list` (say the
 *     previous main's, which read each source with its own GetAll);
 * and sourced's peak RSS while serving the pages, against its RSS idle;
 * then 10,000 single Pause calls against one PauseSources, on sourced and
 * on the reference service (echo-service.c).
 *
 *   build/tests/bench-list [N] [--baseline-cli OTHER_SOURCECTL]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../harness.h"
#include "echo.h"
#include "echo.h"

static double
now_s (void)
{
  return g_get_monotonic_time () / 1e6;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
median3 (const double v[3])
{
  double s[3] = { v[0], v[1], v[2] };

  qsort (s, 3, sizeof *s, cmp_double);
  return s[1];
}

static guint64
status_kb (pid_t pid, const char *field)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", pid);
  g_autofree char *text = NULL;
  const char *at;

  if (!g_file_get_contents (path, &text, NULL, NULL) || !(at = strstr (text, field)))
    return 0;
  return g_ascii_strtoull (at + strlen (field) + 1, NULL, 10);
}

static double
bare_pages (Harness *h, guint *count)
{
  sd_bus *bus = harness_connect (h);
  g_autofree char *after = g_strdup ("");
  double t0 = now_s ();

  *count = 0;
  do
    {
      sd_bus_message *reply = NULL;
      sd_bus_error e = SD_BUS_ERROR_NULL;
      const char *next;

      if (sd_bus_call_method (bus, "org.sourced.Sourced1", "/org/sourced/Sourced1", "org.sourced.Sourced1.Manager",
                              "GetSourcesPaged", &e, &reply, "su", after, (guint32) G_MAXUINT32) < 0)
        g_error ("GetSourcesPaged: %s", e.message);
      g_assert_cmpint (sd_bus_message_enter_container (reply, 'a', "(oa{sv})"), >=, 0);
      while (sd_bus_message_skip (reply, "(oa{sv})") > 0)
        (*count)++;
      g_assert_cmpint (sd_bus_message_exit_container (reply), >=, 0);
      g_assert_cmpint (sd_bus_message_read (reply, "s", &next), >=, 0);
      g_free (after);
      after = g_strdup (next);
      sd_bus_message_unref (reply);
    }
  while (after[0]);
  sd_bus_flush_close_unref (bus);
  return now_s () - t0;
}

typedef struct {
  sd_bus *bus;
  guint next, done, total;
  const char *dest, *member;
} Singles;

static void singles_issue (Singles *s);

static int
on_single (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  Singles *s = userdata;

  if (sd_bus_message_is_method_error (m, NULL))
    g_error ("%s failed: %s", s->member, sd_bus_message_get_error (m)->message);
  s->done++;
  if (s->next < s->total)
    singles_issue (s);
  return 1;
}

static void
singles_issue (Singles *s)
{
  g_autofree char *id = g_strdup_printf ("src%06u", s->next++);
  g_autofree char *path = source_path (id);

  g_assert_cmpint (sd_bus_call_method_async (s->bus, NULL, s->dest, path,
                                             "org.sourced.Sourced1.Source", s->member, on_single, s, NULL),
                   >=, 0);
}

/* @count single calls of @member on src000000… of @dest, 32 in flight. */
static double
single_calls (Harness *h, const char *dest, const char *member, guint count)
{
  Singles s = { harness_connect (h), 0, 0, count, dest, member };
  double t0 = now_s ();

  for (guint i = 0; i < 32 && s.next < count; i++)
    singles_issue (&s);
  while (s.done < count)
    if (sd_bus_process (s.bus, NULL) == 0)
      sd_bus_wait (s.bus, G_USEC_PER_SEC);
  sd_bus_flush_close_unref (s.bus);
  return now_s () - t0;
}

/* One bulk call of @member with @pattern to @dest; returns its rows' count. */
static double
bulk_call (Harness *h, const char *dest, const char *member, const char *pattern, guint *rows)
{
  sd_bus_message *reply = NULL;
  sd_bus_error e = SD_BUS_ERROR_NULL;
  double t0;

  /* The signals of earlier calls are read first, not on this call's time. */
  harness_clear_signals (h);
  t0 = now_s ();
  if (sd_bus_call_method (h->client, dest, "/org/sourced/Sourced1", "org.sourced.Sourced1.Manager", member, &e, &reply,
                          "as", 1, pattern) < 0)
    g_error ("%s: %s", member, e.message);
  t0 = now_s () - t0;
  g_assert_cmpint (sd_bus_message_enter_container (reply, 'a', "(sss)"), >=, 0);
  for (*rows = 0; sd_bus_message_skip (reply, "(sss)") > 0; (*rows)++)
    ;
  sd_bus_message_unref (reply);
  return t0;
}

static double
run_cli (Harness *h, const char *cli, gboolean json)
{
  const char *argv[] = { cli, "--user", "list", json ? "--json" : NULL, NULL };
  g_auto (GStrv) env = g_environ_setenv (g_get_environ (), "DBUS_SESSION_BUS_ADDRESS", h->bus_address, TRUE);
  g_autoptr (GError) error = NULL;
  int status;
  double t0 = now_s ();

  g_assert_true (g_spawn_sync (NULL, (char **) argv, env, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, NULL,
                               &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  return now_s () - t0;
}

int
main (int argc, char **argv)
{
  guint n = 100000, listed;
  const char *baseline = NULL;
  const char *cli = g_getenv ("SOURCECTL_BINARY");
  g_autoptr (Harness) h = NULL;
  double bare, list, json, old = 0;
  guint64 idle_kb, peak_kb;

  for (int i = 1; i < argc; i++)
    {
      if (g_str_equal (argv[i], "--baseline-cli") && i + 1 < argc)
        baseline = argv[++i];
      else
        n = (guint) atoi (argv[i]);
    }
  if (!g_getenv ("SOURCED_BINARY"))
    g_setenv ("SOURCED_BINARY", "build/daemon/sourced", TRUE);
  if (!cli)
    cli = "build/cli/sourcectl";

  h = harness_new ();
  {
    g_autofree char *dir = g_build_filename (h->config_dir, "sources.d", NULL);
    g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
    for (guint i = 0; i < n; i++)
      {
        g_autofree char *path = g_strdup_printf ("%s/src%06u.source", dir, i);
        g_assert_true (g_file_set_contents (path, "[Source]\nExec=sleep 1000\nInitialState=stopped\n", -1, NULL));
      }
  }
  harness_start (h, NULL);

  bare_pages (h, &listed); /* warm-up */
  /* Let the first start's commit and snapshot settle: idle means idle. */
  g_usleep (3 * G_USEC_PER_SEC);
  {
    /* Peak RSS from here on: the kernel's high-water mark, reset. */
    g_autofree char *clear = g_strdup_printf ("/proc/%d/clear_refs", h->daemon_pid);
    int fd = open (clear, O_WRONLY | O_CLOEXEC);
    g_assert_cmpint (fd, >=, 0);
    g_assert_cmpint (write (fd, "5", 1), ==, 1);
    close (fd);
  }
  idle_kb = status_kb (h->daemon_pid, "VmRSS:");
  bare = bare_pages (h, &listed);
  g_assert_cmpuint (listed, ==, n);
  list = run_cli (h, cli, FALSE);
  json = run_cli (h, cli, TRUE);
  if (baseline)
    old = run_cli (h, baseline, FALSE);
  peak_kb = status_kb (h->daemon_pid, "VmHWM:");

  printf ("%u sources: bare GetSourcesPaged pager %.2f s; sourcectl list %.2f s (%.2f x the pager), "
          "list --json %.2f s (%.2f x)\n",
          n, bare, list, list / bare, json, json / bare);
  if (baseline)
    printf ("baseline sourcectl list %.2f s: this one is %.1f x faster\n", old, old / list);
  printf ("sourced RSS idle %.1f MB, peak while serving %.1f MB (+%.1f %%)\n", idle_kb / 1024.0, peak_kb / 1024.0,
          100.0 * ((double) peak_kb - (double) idle_kb) / (double) idle_kb);

  /* Bulk control: the first 10,000 sources (src00*) paused by single calls
   * (32 in flight), then by one PauseSources, in the same run, three times.
   * Then the same calls to the reference, a do-nothing service sending the
   * same replies and signals: its ratio is about the most that any service
   * could reach on this bus, since the messages the contract asks for are
   * all it sends. Medians of three; each side warmed up once. */
  if (n >= 10000)
    {
      static const char *const echo_args[] = { "--count", "10000", NULL };
      double singles[3], bulk[3], echo_singles[3], echo_bulk[3];
      guint rows;
      guint64 txn0 = 0, txns = 0;
      GPid echo;

      for (guint k = 0; k < 3; k++)
        {
          singles[k] = single_calls (h, "org.sourced.Sourced1", "Pause", 10000);
          bulk_call (h, "org.sourced.Sourced1", "UnpauseSources", "src00*", &rows);
          txn0 = harness_count_transactions (h);
          bulk[k] = bulk_call (h, "org.sourced.Sourced1", "PauseSources", "src00*", &rows);
          txns = MAX (txns, harness_count_transactions (h) - txn0);
          g_assert_cmpuint (rows, ==, 10000);
          bulk_call (h, "org.sourced.Sourced1", "UnpauseSources", "src00*", &rows);
        }
      printf ("10,000 sources paused: single Pause calls (32 in flight) %.2f s, one PauseSources %.3f s: "
              "%.1f x the throughput, %" G_GUINT64_FORMAT " store transaction(s) (fdatasync)\n",
              median3 (singles), median3 (bulk), median3 (singles) / median3 (bulk), txns);

      echo = echo_start (h, echo_args);
      bulk_call (h, ECHO_NAME, "PauseSources", "src00*", &rows); /* warm-up */
      for (guint k = 0; k < 3; k++)
        {
          echo_singles[k] = single_calls (h, ECHO_NAME, "Pause", 10000);
          echo_bulk[k] = bulk_call (h, ECHO_NAME, "PauseSources", "src00*", &rows);
          g_assert_cmpuint (rows, ==, 10000);
        }
      echo_stop (echo);
      printf ("reference (a do-nothing service, the same replies and signals, nothing stored): singles %.2f s, "
              "bulk %.3f s: %.1f x, about the most this bus allows; sourced's PauseSources takes %.2f x the "
              "reference's\n",
              median3 (echo_singles), median3 (echo_bulk), median3 (echo_singles) / median3 (echo_bulk),
              median3 (bulk) / median3 (echo_bulk));
    }
  return 0;
}
