/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A source's true status (contract revision 2026-12-06): a worker in a
 * crash loop shows as "restarting", with NRestarts and NextRetryAt, and one
 * signal per change rather than per second; a worker that recovers brings
 * the source back to "active" by itself; a clean exit is no failure. */
#include <glib/gstdio.h>

#include "harness.h"

static Harness *
start_with (const char *id, const char *definition)
{
  Harness *h = harness_new ();
  harness_write_definition (h, id, definition);
  harness_start (h, NULL);
  return h;
}

/* The crash loop: one line, exit 1, never give up. */
#define CRASH_LOOP "[Source]\nExec=/bin/sh -c \"echo one; echo oops >&2; exit 1\"\nRestartSec=1\nMaxFailures=0\n"

static void
test_crash_loop_is_restarting (void)
{
  g_autoptr (Harness) h = start_with ("crash", CRASH_LOOP);
  g_autofree char *err = NULL;

  /* Within one backoff (RestartSec=1) of the first failure. */
  g_assert_true (harness_wait_status (h, "crash", "restarting", 1500));
  g_assert_false (harness_get_b (h, "crash", "Active"));
  guint64 retry = harness_get_t (h, "crash", "NextRetryAt");
  g_assert_cmpuint (retry, >, (guint64) g_get_real_time ());
  g_assert_cmpuint (retry, <=, (guint64) g_get_real_time () + 2 * G_USEC_PER_SEC);
  err = harness_get_s (h, "crash", "LastError");
  g_assert_cmpstr (err, ==, "exited with status 1: oops");

  /* Restarts come with the backoff (1 s, 2 s, 4 s…); Status does not move,
   * and each attempt is a change or two (the failure; the new worker), not
   * a signal a second. */
  harness_clear_signals (h);
  guint32 before = harness_get_u (h, "crash", "NRestarts");
  g_assert_true (harness_wait_u (h, "crash", "NRestarts", before + 2, 8000));
  g_assert_true (harness_wait_status (h, "crash", "restarting", 100));
  guint32 after = harness_get_u (h, "crash", "NRestarts");
  g_assert_cmpuint (harness_count_changed (h, "crash", "Status"), ==, 0);
  g_assert_cmpuint (harness_count_changed (h, "crash", "Active"), ==, 0);
  g_assert_cmpuint (harness_count_changed (h, "crash", "NRestarts"), ==, after - before);
  g_assert_cmpuint (harness_count_changed (h, "crash", NULL), <=, 2 * (after - before) + 2);

  /* Start begins the count anew, as systemd's NRestarts does. */
  harness_source_call_ok (h, "crash", "Start");
  g_assert_cmpuint (harness_get_u (h, "crash", "NRestarts"), ==, 0);
  /* Stop ends the retry. */
  harness_source_call_ok (h, "crash", "Stop");
  g_autofree char *st = harness_get_s (h, "crash", "Status");
  g_assert_cmpstr (st, ==, "stopped");
  g_assert_cmpuint (harness_get_t (h, "crash", "NextRetryAt"), ==, 0);
}

static void
test_recovered_worker_is_active_again (void)
{
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *count = g_build_filename (h->dir, "runs", NULL);
  /* Fails on its first two runs, then delivers for good. */
  g_autofree char *def = g_strdup_printf (
    "[Source]\nExec=/bin/sh -c 'n=$(cat %s 2>/dev/null || echo 0); echo $((n+1)) > %s; "
    "if [ $n -lt 2 ]; then echo fail >&2; exit 1; fi; while true; do echo ok; sleep 0.1; done'\n"
    "RestartSec=1\nMaxFailures=0\n",
    count, count);
  harness_write_definition (h, "flaky", def);
  harness_start (h, NULL);

  g_assert_true (harness_wait_status (h, "flaky", "restarting", 1500));
  harness_clear_signals (h);
  /* Back by itself: two restarts (1 s, 2 s), then the grace of RestartSec. */
  g_assert_true (harness_wait_status (h, "flaky", "active", 8000));
  g_assert_true (harness_get_b (h, "flaky", "Active"));
  g_assert_cmpuint (harness_get_u (h, "flaky", "NRestarts"), ==, 2);
  g_assert_cmpuint (harness_get_t (h, "flaky", "NextRetryAt"), ==, 0);
  g_autofree char *err = harness_get_s (h, "flaky", "LastError");
  g_assert_cmpstr (err, ==, "");
  /* restarting → active, once. */
  g_assert_cmpuint (harness_count_changed (h, "flaky", "Status"), ==, 1);
}

/* A worker that exits 0 (a tap at the end of its sync) is run again after
 * RestartSec: no failure, and the source says "active" in between. */
static void
test_clean_exit_is_not_a_failure (void)
{
  g_autoptr (Harness) h = start_with ("batch", "[Source]\nExec=/bin/sh -c 'echo done'\nRestartSec=1\n");

  g_assert_true (harness_wait_u (h, "batch", "NRestarts", 2, 5000));
  g_autofree char *st = harness_get_s (h, "batch", "Status");
  g_assert_cmpstr (st, ==, "active");
  g_assert_true (harness_get_b (h, "batch", "Active"));
  g_assert_cmpuint (harness_get_t (h, "batch", "NextRetryAt"), ==, 0);
  g_autofree char *err = harness_get_s (h, "batch", "LastError");
  g_assert_cmpstr (err, ==, "");
}

/* The user's pause says more than a retry: a paused crash loop reads
 * "paused"; Unpause shows the retry again. */
static void
test_paused_crash_loop_reads_paused (void)
{
  g_autoptr (Harness) h = start_with ("crash", CRASH_LOOP);

  g_assert_true (harness_wait_status (h, "crash", "restarting", 1500));
  harness_source_call_ok (h, "crash", "Pause");
  g_autofree char *st = harness_get_s (h, "crash", "Status");
  g_assert_cmpstr (st, ==, "paused");
  harness_source_call_ok (h, "crash", "Unpause");
  g_assert_true (harness_wait_status (h, "crash", "restarting", 3000));
}

/* The Sink property: the configured file, or "" for the default. */
static void
test_sink_property (void)
{
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *sink = g_build_filename (h->dir, "out.jsonl", NULL);
  g_autofree char *def = g_strdup_printf ("[Source]\nExec=sleep 1000\nSink=%s\n", sink);

  harness_write_definition (h, "filed", def);
  harness_write_definition (h, "plain", "[Source]\nExec=sleep 1000\n");
  harness_start (h, NULL);
  g_autofree char *a = harness_get_s (h, "filed", "Sink");
  g_autofree char *b = harness_get_s (h, "plain", "Sink");
  g_assert_cmpstr (a, ==, sink);
  g_assert_cmpstr (b, ==, "");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/status/crash-loop-restarting", test_crash_loop_is_restarting);
  g_test_add_func ("/status/recovered-active-again", test_recovered_worker_is_active_again);
  g_test_add_func ("/status/clean-exit-not-failure", test_clean_exit_is_not_a_failure);
  g_test_add_func ("/status/paused-crash-loop", test_paused_crash_loop_reads_paused);
  g_test_add_func ("/status/sink-property", test_sink_property);
  return g_test_run ();
}
