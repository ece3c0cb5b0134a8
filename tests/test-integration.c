/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The contract (shared/design/dbus-api.md), row by row, against the real
 * daemon on a private bus. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <gio/gio.h>

#include <glib/gstdio.h>
#include <glib-unix.h>

#include "harness.h"

#define SRC_IFACE "org.sourced.Sourced1.Source"
#define MGR_IFACE "org.sourced.Sourced1.Manager"
#define MGR_PATH "/org/sourced/Sourced1"
#define ERR(name) "org.sourced.Sourced1.Error." name

static const char *const sleeper = "[Source]\nExec=sleep 1000\n";

static Harness *
start_with (const char *id, const char *definition)
{
  Harness *h = harness_new ();
  if (id)
    harness_write_definition (h, id, definition);
  harness_start (h, NULL);
  return h;
}

static char *
create_source (Harness *h, const char *id, const char *exec, const char *initial)
{
  sd_bus_message *reply = NULL;
  const char *path;
  char *ret;

  if (initial)
    harness_call (h, MGR_PATH, MGR_IFACE, "CreateSource", NULL, &reply, "sa{sv}", id, 2, "Exec", "s", exec,
                  "InitialState", "s", initial);
  else
    harness_call (h, MGR_PATH, MGR_IFACE, "CreateSource", NULL, &reply, "sa{sv}", id, 1, "Exec", "s", exec);
  g_assert_cmpint (sd_bus_message_read (reply, "o", &path), >=, 0);
  ret = g_strdup (path);
  sd_bus_message_unref (reply);
  return ret;
}

/* ---- Pause / Unpause ------------------------------------------------ */

static void
test_pause_unpause (void)
{
  g_autoptr (Harness) h = start_with ("shop", sleeper);
  g_autofree char *st = NULL;

  g_assert_true (harness_wait_status (h, "shop", "active", 1000));
  g_assert_true (harness_get_b (h, "shop", "Active"));
  g_assert_cmpuint (harness_get_t (h, "shop", "PausedAt"), ==, 0);
  guint64 updated = harness_get_t (h, "shop", "UpdatedAt");
  harness_clear_signals (h);

  guint64 before = (guint64) g_get_real_time ();
  harness_source_call_ok (h, "shop", "Pause");
  guint64 paused_at = harness_get_t (h, "shop", "PausedAt");
  g_assert_cmpuint (paused_at, >=, before);
  g_assert_cmpuint (paused_at, <=, (guint64) g_get_real_time ());
  st = harness_get_s (h, "shop", "Status");
  g_assert_cmpstr (st, ==, "paused");
  g_assert_false (harness_get_b (h, "shop", "Active"));
  g_assert_cmpuint (harness_get_t (h, "shop", "UpdatedAt"), >, updated);
  /* One signal carrying everything that changed. */
  g_assert_cmpuint (harness_count_changed (h, "shop", NULL), ==, 1);
  g_assert_cmpuint (harness_count_changed (h, "shop", "PausedAt"), ==, 1);
  g_assert_cmpuint (harness_count_changed (h, "shop", "Status"), ==, 1);
  g_assert_cmpuint (harness_count_changed (h, "shop", "Active"), ==, 1);
  g_assert_cmpuint (harness_count_changed (h, "shop", "UpdatedAt"), ==, 1);

  /* Idempotent: no change, no error, no signal. */
  harness_clear_signals (h);
  harness_source_call_ok (h, "shop", "Pause");
  g_assert_cmpuint (harness_get_t (h, "shop", "PausedAt"), ==, paused_at);
  g_assert_cmpuint (harness_count_changed (h, "shop", NULL), ==, 0);

  harness_source_call_ok (h, "shop", "Unpause");
  g_clear_pointer (&st, g_free);
  st = harness_get_s (h, "shop", "Status");
  g_assert_cmpstr (st, ==, "active");
  g_assert_cmpuint (harness_get_t (h, "shop", "PausedAt"), ==, 0);
  g_assert_true (harness_get_b (h, "shop", "Active"));
  g_assert_cmpuint (harness_count_changed (h, "shop", NULL), ==, 1);

  harness_clear_signals (h);
  harness_source_call_ok (h, "shop", "Unpause");
  g_assert_cmpuint (harness_count_changed (h, "shop", NULL), ==, 0);
}

static void
test_pause_stopped_source_comes_up_paused (void)
{
  g_autoptr (Harness) h = start_with ("s", "[Source]\nExec=sleep 1000\nInitialState=stopped\n");
  g_autofree char *st = harness_get_s (h, "s", "Status");

  g_assert_cmpstr (st, ==, "stopped");
  harness_source_call_ok (h, "s", "Pause");
  g_clear_pointer (&st, g_free);
  st = harness_get_s (h, "s", "Status");
  g_assert_cmpstr (st, ==, "stopped");
  g_assert_cmpuint (harness_get_t (h, "s", "PausedAt"), !=, 0);
  harness_source_call_ok (h, "s", "Start");
  g_clear_pointer (&st, g_free);
  st = harness_get_s (h, "s", "Status");
  g_assert_cmpstr (st, ==, "paused");
  g_assert_true (pid_alive (harness_get_u (h, "s", "MainPID")));
}

/* ---- PausedAt writable (Stitch's update) ---------------------------- */

static void
test_paused_at_set (void)
{
  g_autoptr (Harness) h = start_with ("shop", sleeper);
  g_autofree char *path = source_path ("shop");
  g_autofree char *st = NULL;
  sd_bus_error e = SD_BUS_ERROR_NULL;
  /* The seed's example: 2019-06-01T00:00:00Z. */
  const guint64 stitch = G_GUINT64_CONSTANT (1559347200000000);

  harness_clear_signals (h);
  g_assert_cmpint (sd_bus_set_property (h->client, "org.sourced.Sourced1", path, SRC_IFACE, "PausedAt", &e, "t",
                                        stitch), >=, 0);
  g_assert_cmpuint (harness_get_t (h, "shop", "PausedAt"), ==, stitch);
  st = harness_get_s (h, "shop", "Status");
  g_assert_cmpstr (st, ==, "paused");
  g_assert_cmpuint (harness_count_changed (h, "shop", "PausedAt"), ==, 1);

  /* A future timestamp pauses at once too, stored as given. */
  const guint64 future = (guint64) g_get_real_time () + (guint64) G_USEC_PER_SEC * 3600;
  g_assert_cmpint (sd_bus_set_property (h->client, "org.sourced.Sourced1", path, SRC_IFACE, "PausedAt", &e, "t",
                                        future), >=, 0);
  g_assert_cmpuint (harness_get_t (h, "shop", "PausedAt"), ==, future);

  /* 0 unpauses like Unpause(). */
  g_assert_cmpint (sd_bus_set_property (h->client, "org.sourced.Sourced1", path, SRC_IFACE, "PausedAt", &e, "t",
                                        (guint64) 0), >=, 0);
  g_clear_pointer (&st, g_free);
  st = harness_get_s (h, "shop", "Status");
  g_assert_cmpstr (st, ==, "active");

  /* Wrong type and read-only properties: clear errors, nothing changes. */
  g_assert_cmpint (sd_bus_set_property (h->client, "org.sourced.Sourced1", path, SRC_IFACE, "PausedAt", &e, "s",
                                        "yesterday"), <, 0);
  g_assert_cmpstr (e.name, ==, "org.freedesktop.DBus.Error.InvalidArgs");
  g_assert_nonnull (strstr (e.message, "PausedAt"));
  sd_bus_error_free (&e);
  g_assert_cmpint (sd_bus_set_property (h->client, "org.sourced.Sourced1", path, SRC_IFACE, "Status", &e, "s",
                                        "stopped"), <, 0);
  g_assert_cmpstr (e.name, ==, "org.freedesktop.DBus.Error.PropertyReadOnly");
  sd_bus_error_free (&e);
  g_assert_cmpint (sd_bus_set_property (h->client, "org.sourced.Sourced1", path, SRC_IFACE, "Bogus", &e, "s", "x"),
                   <, 0);
  g_assert_cmpstr (e.name, ==, "org.freedesktop.DBus.Error.UnknownProperty");
  sd_bus_error_free (&e);
  g_clear_pointer (&st, g_free);
  st = harness_get_s (h, "shop", "Status");
  g_assert_cmpstr (st, ==, "active");
  g_assert_cmpuint (harness_get_t (h, "shop", "PausedAt"), ==, 0);
}

/* ---- Start / Stop ----------------------------------------------------- */

static void
test_start_stop (void)
{
  g_autoptr (Harness) h = start_with ("w", "[Source]\nExec=sleep 1000\nInitialState=stopped\n");
  g_autofree char *st = NULL, *msg = NULL;
  guint32 pid, pid2;

  g_assert_cmpuint (harness_get_u (h, "w", "MainPID"), ==, 0);
  msg = harness_source_call_error (h, "w", "Stop", ERR ("NotStoppable"));
  g_assert_cmpstr (msg, ==, "Unable to stop source 'w': not in a stoppable state");

  harness_clear_signals (h);
  harness_source_call_ok (h, "w", "Start");
  /* Start replies once the worker runs: no polling. */
  st = harness_get_s (h, "w", "Status");
  g_assert_cmpstr (st, ==, "active");
  pid = harness_get_u (h, "w", "MainPID");
  g_assert_true (pid_alive (pid));
  /* Its own process group; stdin is /dev/null. */
  g_assert_cmpint (getpgid (pid), ==, pid);
  g_autofree char *fd0 = g_strdup_printf ("/proc/%u/fd/0", pid);
  g_autofree char *target = g_file_read_link (fd0, NULL);
  g_assert_cmpstr (target, ==, "/dev/null");
  g_assert_cmpuint (harness_count_changed (h, "w", "MainPID"), >=, 1);

  /* Start on a running source restarts it. */
  harness_source_call_ok (h, "w", "Start");
  pid2 = harness_get_u (h, "w", "MainPID");
  g_assert_cmpuint (pid2, !=, pid);
  g_assert_false (pid_alive (pid));
  g_assert_true (pid_alive (pid2));

  harness_source_call_ok (h, "w", "Stop");
  /* Stop replies once the worker has exited. */
  g_clear_pointer (&st, g_free);
  st = harness_get_s (h, "w", "Status");
  g_assert_cmpstr (st, ==, "stopped");
  g_assert_cmpuint (harness_get_u (h, "w", "MainPID"), ==, 0);
  g_assert_false (pid_alive (pid2));
  g_clear_pointer (&msg, g_free);
  msg = harness_source_call_error (h, "w", "Stop", ERR ("NotStoppable"));
}

static void
test_stop_timeout_kills (void)
{
  /* A worker that ignores SIGTERM gets SIGKILL after StopTimeoutSec. */
  g_autofree char *marker = g_build_filename (g_get_tmp_dir (), "sourced-trap-XXXXXX", NULL);
  g_autofree char *def = NULL;
  gint64 t0;

  g_close (g_mkstemp (marker), NULL);
  g_unlink (marker);
  /* The worker says when its trap is set: a marker file, then the loop. */
  def = g_strdup_printf ("[Source]\nExec=/bin/sh -c \"trap '' TERM; touch %s; while :; do sleep 0.1; done\"\n"
                         "StopTimeoutSec=1\n", marker);
  g_autoptr (Harness) h = start_with ("stubborn", def);
  guint32 pid = harness_get_u (h, "stubborn", "MainPID");

  g_assert_true (pid_alive (pid));
  g_assert_true (harness_wait_until (harness_file_exists, marker, 5000));
  g_unlink (marker);
  t0 = g_get_monotonic_time ();
  harness_source_call_ok (h, "stubborn", "Stop");
  g_assert_cmpint (g_get_monotonic_time () - t0, >=, 900000);
  g_assert_false (pid_alive (pid));
  g_assert_cmpint (harness_get_u (h, "stubborn", "MainPID"), ==, 0);
  g_autofree char *log = harness_log (h);
  g_assert_nonnull (strstr (log, "SIGKILL"));
}

static void
test_spawn_failure_and_stop_from_failed (void)
{
  g_autoptr (Harness) h = start_with ("broken", "[Source]\nExec=/nonexistent/tap --config x\n");
  g_autofree char *st = harness_get_s (h, "broken", "Status");
  g_autofree char *err = harness_get_s (h, "broken", "LastError");
  g_autofree char *msg = NULL;

  g_assert_cmpstr (st, ==, "failed");
  g_assert_nonnull (strstr (err, "/nonexistent/tap"));
  /* Start reports why it failed. */
  msg = harness_source_call_error (h, "broken", "Start", "org.freedesktop.DBus.Error.Failed");
  g_assert_nonnull (strstr (msg, "/nonexistent/tap"));
  /* Stop from failed: stopped, failure cleared. */
  harness_source_call_ok (h, "broken", "Stop");
  g_clear_pointer (&st, g_free);
  st = harness_get_s (h, "broken", "Status");
  g_assert_cmpstr (st, ==, "stopped");
  g_clear_pointer (&err, g_free);
  err = harness_get_s (h, "broken", "LastError");
  g_assert_cmpstr (err, ==, "");
}

static void
test_restart_backoff_then_system_pause (void)
{
  g_autoptr (Harness) h = start_with ("crashy", "[Source]\nExec=/bin/sh -c \"echo boom >&2; exit 3\"\n"
                                                "RestartSec=1\nMaxFailures=2\n");
  g_autofree char *err = NULL;

  g_assert_true (harness_wait_status (h, "crashy", "paused", 5000));
  g_assert_cmpuint (harness_get_t (h, "crashy", "SystemPausedAt"), !=, 0);
  g_assert_cmpuint (harness_get_t (h, "crashy", "PausedAt"), ==, 0);
  g_assert_cmpint (harness_get_i (h, "crashy", "LastExitStatus"), ==, 3);
  err = harness_get_s (h, "crashy", "LastError");
  g_assert_cmpstr (err, ==, "exited with status 3, 2 times in a row: boom");
  /* Unpause clears the daemon's pause and tries again. */
  harness_source_call_ok (h, "crashy", "Unpause");
  g_assert_cmpuint (harness_get_t (h, "crashy", "SystemPausedAt"), ==, 0);
  g_assert_true (harness_wait_status (h, "crashy", "paused", 5000));
}

/* ---- RunJob ------------------------------------------------------------ */

static void
test_run_job (void)
{
  g_autoptr (Harness) h = start_with ("hourly", "[Source]\nExec=sleep 0.3\nFrequencyMinutes=60\nInitialState=paused\n");
  sd_bus_message *reply = NULL;
  g_autofree char *path = source_path ("hourly");
  guint64 started = 0;
  g_autofree char *msg = NULL;

  g_assert_cmpuint (harness_get_u (h, "hourly", "FrequencyMinutes"), ==, 60);
  /* Paused: the due job was skipped, the next is an hour away. */
  g_assert_cmpuint (harness_get_u (h, "hourly", "MainPID"), ==, 0);
  g_assert_cmpuint (harness_get_t (h, "hourly", "NextRunAt"), >, (guint64) g_get_real_time () + (guint64) 3500 * G_USEC_PER_SEC);

  /* A manual job runs even while paused (Stitch). */
  harness_call (h, path, SRC_IFACE, "RunJob", NULL, &reply, NULL);
  g_assert_cmpint (sd_bus_message_read (reply, "t", &started), >=, 0);
  sd_bus_message_unref (reply);
  g_assert_cmpuint (started, !=, 0);
  g_assert_cmpuint (harness_get_t (h, "hourly", "LastJobStartedAt"), ==, started);
  guint32 pid = harness_get_u (h, "hourly", "MainPID");
  g_assert_true (pid_alive (pid));
  /* Jobs never overlap: a second RunJob returns the running job. */
  guint64 again = 0;
  harness_call (h, path, SRC_IFACE, "RunJob", NULL, &reply, NULL);
  g_assert_cmpint (sd_bus_message_read (reply, "t", &again), >=, 0);
  sd_bus_message_unref (reply);
  g_assert_cmpuint (again, ==, started);
  g_assert_cmpuint (harness_get_u (h, "hourly", "MainPID"), ==, pid);

  /* Continuous sources have no jobs. */
  harness_write_definition (h, "cont", sleeper);
  harness_call (h, MGR_PATH, MGR_IFACE, "Reload", NULL, NULL, NULL);
  msg = harness_source_call_error (h, "cont", "RunJob", ERR ("NotSupported"));
  g_assert_nonnull (strstr (msg, "cont"));
}

/* ---- Manager ------------------------------------------------------------ */

static void
test_manager_gate (void)
{
  g_autoptr (Harness) h = start_with ("a", sleeper);
  g_autofree char *st = NULL;

  harness_write_definition (h, "b", "[Source]\nExec=sleep 1000\nInitialState=paused\n");
  harness_call (h, MGR_PATH, MGR_IFACE, "Reload", NULL, NULL, NULL);
  g_assert_true (harness_get_b (h, "a", "Active"));
  harness_clear_signals (h);

  harness_call (h, MGR_PATH, MGR_IFACE, "Pause", NULL, NULL, NULL);
  g_assert_cmpuint (harness_manager_get_t (h, "PausedAt"), !=, 0);
  /* Feldera: the connector keeps its own state, but is not active. */
  st = harness_get_s (h, "a", "Status");
  g_assert_cmpstr (st, ==, "active");
  g_assert_false (harness_get_b (h, "a", "Active"));
  g_assert_cmpuint (harness_get_t (h, "a", "PausedAt"), ==, 0);
  g_assert_cmpuint (harness_count_changed (h, "a", "Active"), ==, 1);
  g_assert_cmpuint (harness_count_changed (h, "a", "Status"), ==, 0);
  g_assert_cmpuint (harness_count_changed (h, "b", NULL), ==, 0); /* b was not active anyway */

  harness_clear_signals (h);
  harness_call (h, MGR_PATH, MGR_IFACE, "Pause", NULL, NULL, NULL);
  g_assert_cmpuint (harness_count_changed (h, "a", NULL), ==, 0);

  /* Unpausing a source while the gate is closed: paused -> active, still
   * not Active. */
  harness_source_call_ok (h, "b", "Unpause");
  g_assert_false (harness_get_b (h, "b", "Active"));

  harness_call (h, MGR_PATH, MGR_IFACE, "Unpause", NULL, NULL, NULL);
  g_assert_cmpuint (harness_manager_get_t (h, "PausedAt"), ==, 0);
  g_assert_true (harness_get_b (h, "a", "Active"));
  g_assert_true (harness_get_b (h, "b", "Active"));
}

static void
test_get_source_and_bad_ids (void)
{
  g_autoptr (Harness) h = start_with ("a.b_c-d", sleeper);
  sd_bus_message *reply = NULL;
  sd_bus_error e = SD_BUS_ERROR_NULL;
  const char *path;
  g_autofree char *expected = source_path ("a.b_c-d");
  g_autofree char *long_id = g_strnfill (65, 'x');
  const char *bad[] = { "", long_id, "bad id!", ".hidden", "-dash" };

  harness_call (h, MGR_PATH, MGR_IFACE, "GetSource", NULL, &reply, "s", "a.b_c-d");
  g_assert_cmpint (sd_bus_message_read (reply, "o", &path), >=, 0);
  g_assert_cmpstr (path, ==, expected);
  sd_bus_message_unref (reply);

  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "GetSource", &e, NULL, "s", "nope"), <, 0);
  g_assert_cmpstr (e.name, ==, ERR ("NoSuchSource"));
  g_assert_cmpstr (e.message, ==, "Source not found");
  sd_bus_error_free (&e);

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "GetSource", &e, NULL, "s", bad[i]), <, 0);
      g_assert_cmpstr (e.name, ==, "org.freedesktop.DBus.Error.InvalidArgs");
      sd_bus_error_free (&e);
      g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "CreateSource", &e, NULL, "sa{sv}", bad[i], 1, "Exec",
                                     "s", "true"), <, 0);
      g_assert_cmpstr (e.name, ==, "org.freedesktop.DBus.Error.InvalidArgs");
      sd_bus_error_free (&e);
    }
  /* 64 characters is fine. */
  g_autofree char *id64 = g_strnfill (64, 'y');
  g_autofree char *p64 = create_source (h, id64, "true", "stopped");

  /* A path that is no source. */
  g_assert_cmpint (harness_call (h, "/org/sourced/Sourced1/source/nope", SRC_IFACE, "Pause", &e, NULL, NULL), <, 0);
  g_assert_cmpstr (e.name, ==, "org.freedesktop.DBus.Error.UnknownObject");
  sd_bus_error_free (&e);
}

static void
test_create_remove (void)
{
  g_autoptr (Harness) h = start_with ("filed", sleeper);
  sd_bus_error e = SD_BUS_ERROR_NULL;
  g_autofree char *path = NULL, *st = NULL;
  guint32 pid;

  harness_clear_signals (h);
  path = create_source (h, "made", "sleep 1000", NULL);
  g_assert_cmpuint (harness_count_member (h, "InterfacesAdded"), ==, 1);
  st = harness_get_s (h, "made", "Status");
  g_assert_cmpstr (st, ==, "active");
  pid = harness_get_u (h, "made", "MainPID");
  g_assert_true (pid_alive (pid));
  g_autofree char *dn = harness_get_s (h, "made", "DisplayName");
  g_assert_cmpstr (dn, ==, "made");

  /* Taken ids. */
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "CreateSource", &e, NULL, "sa{sv}", "made", 1, "Exec", "s",
                                 "true"), <, 0);
  g_assert_cmpstr (e.name, ==, ERR ("AlreadyExists"));
  sd_bus_error_free (&e);
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "CreateSource", &e, NULL, "sa{sv}", "filed", 1, "Exec", "s",
                                 "true"), <, 0);
  g_assert_cmpstr (e.name, ==, ERR ("AlreadyExists"));
  sd_bus_error_free (&e);

  /* Bad settings name the key. */
  struct { const char *key; const char *type; const void *value; } bad[] = {
    { "Bogus", "s", "x" },
    { "StopTimeoutSec", "s", "10" },
    { "Type", "s", "rsync" },
    { "InitialState", "s", "running" },
    { "CronExpression", "s", "61 * * * *" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "CreateSource", &e, NULL, "sa{sv}", "x", 2, "Exec", "s",
                                     "true", bad[i].key, bad[i].type, bad[i].value), <, 0);
      g_assert_cmpstr (e.name, ==, "org.freedesktop.DBus.Error.InvalidArgs");
      g_assert_nonnull (strstr (e.message, bad[i].key));
      sd_bus_error_free (&e);
    }
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "CreateSource", &e, NULL, "sa{sv}", "x", 1, "MaxFailures",
                                 "i", -1), <, 0);
  g_assert_cmpstr (e.name, ==, "org.freedesktop.DBus.Error.InvalidArgs");
  g_assert_nonnull (strstr (e.message, "MaxFailures"));
  sd_bus_error_free (&e);
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "CreateSource", &e, NULL, "sa{sv}", "x", 0), <, 0);
  g_assert_cmpstr (e.name, ==, "org.freedesktop.DBus.Error.InvalidArgs");
  g_assert_nonnull (strstr (e.message, "Exec"));
  sd_bus_error_free (&e);
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "GetSource", &e, NULL, "s", "x"), <, 0);
  sd_bus_error_free (&e);

  /* Remove: file-defined sources belong to the configuration. */
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "RemoveSource", &e, NULL, "s", "filed"), <, 0);
  g_assert_cmpstr (e.name, ==, ERR ("NotSupported"));
  g_assert_nonnull (strstr (e.message, "filed.source"));
  sd_bus_error_free (&e);
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "RemoveSource", &e, NULL, "s", "ghost"), <, 0);
  g_assert_cmpstr (e.name, ==, ERR ("NoSuchSource"));
  sd_bus_error_free (&e);

  harness_clear_signals (h);
  harness_call (h, MGR_PATH, MGR_IFACE, "RemoveSource", NULL, NULL, "s", "made");
  g_assert_cmpuint (harness_count_member (h, "InterfacesRemoved"), ==, 1);
  g_assert_false (pid_alive (pid));
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "GetSource", &e, NULL, "s", "made"), <, 0);
  g_assert_cmpstr (e.name, ==, ERR ("NoSuchSource"));
  sd_bus_error_free (&e);

  /* It stays gone across a restart; created ones persist. */
  g_autofree char *p2 = create_source (h, "kept", "sleep 1000", "paused");
  harness_kill (h, SIGTERM);
  harness_start (h, NULL);
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "GetSource", &e, NULL, "s", "made"), <, 0);
  sd_bus_error_free (&e);
  g_clear_pointer (&st, g_free);
  st = harness_get_s (h, "kept", "Status");
  g_assert_cmpstr (st, ==, "paused");
}

static void
test_list_sources (void)
{
  g_autoptr (Harness) h = harness_new ();
  sd_bus_message *reply = NULL;
  const char *id, *status, *path;
  guint64 paused_at;
  guint n = 0;

  for (int i = 0; i < 80; i++)
    {
      g_autofree char *sid = g_strdup_printf ("src%02d", i);
      harness_write_definition (h, sid, "[Source]\nExec=true\nInitialState=stopped\n");
    }
  /* Small enough that 80 sources do not fit in one message. */
  harness_start (h, "--max-message-size=8192", NULL);

  harness_call (h, MGR_PATH, MGR_IFACE, "ListSourcesPaged", NULL, &reply, "su", "", 7);
  g_assert_cmpint (sd_bus_message_enter_container (reply, 'a', "(ssto)"), >=, 0);
  while (sd_bus_message_read (reply, "(ssto)", &id, &status, &paused_at, &path) > 0)
    {
      g_autofree char *want = g_strdup_printf ("src%02u", n);
      g_assert_cmpstr (id, ==, want);
      g_assert_cmpstr (status, ==, "stopped");
      n++;
    }
  sd_bus_message_unref (reply);
  g_assert_cmpuint (n, ==, 7);

  /* Page through everything. */
  g_autofree char *after = g_strdup ("");
  guint total = 0;
  for (;;)
    {
      guint page = 0;
      harness_call (h, MGR_PATH, MGR_IFACE, "ListSourcesPaged", NULL, &reply, "su", after, 8);
      g_assert_cmpint (sd_bus_message_enter_container (reply, 'a', "(ssto)"), >=, 0);
      while (sd_bus_message_read (reply, "(ssto)", &id, &status, &paused_at, &path) > 0)
        {
          g_free (after);
          after = g_strdup (id);
          page++;
        }
      sd_bus_message_unref (reply);
      if (page == 0)
        break;
      total += page;
    }
  g_assert_cmpuint (total, ==, 80);

  /* What would not fit is refused, not sent. */
  sd_bus_error e = SD_BUS_ERROR_NULL;
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "ListSources", &e, NULL, NULL), <, 0);
  g_assert_cmpstr (e.name, ==, ERR ("TooLarge"));
  g_assert_nonnull (strstr (e.message, "80 sources"));
  sd_bus_error_free (&e);
  g_assert_cmpint (harness_call (h, MGR_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", &e, NULL,
                                 NULL), <, 0);
  g_assert_cmpstr (e.name, ==, ERR ("TooLarge"));
  sd_bus_error_free (&e);
  /* ... and the daemon is still on the bus. */
  harness_call (h, MGR_PATH, MGR_IFACE, "GetSource", NULL, NULL, "s", "src00");
}

static void
test_managed_objects_and_nsources (void)
{
  g_autoptr (Harness) h = start_with ("one", sleeper);
  sd_bus_message *reply = NULL;
  guint32 n = 0;
  guint objects = 0;

  harness_write_definition (h, "two", sleeper);
  harness_call (h, MGR_PATH, MGR_IFACE, "Reload", NULL, NULL, NULL);
  g_assert_cmpint (sd_bus_get_property_trivial (h->client, "org.sourced.Sourced1", MGR_PATH, MGR_IFACE, "NSources",
                                                NULL, 'u', &n), >=, 0);
  g_assert_cmpuint (n, ==, 2);

  harness_call (h, MGR_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", NULL, &reply, NULL);
  g_assert_cmpint (sd_bus_message_enter_container (reply, 'a', "{oa{sa{sv}}}"), >=, 0);
  while (sd_bus_message_enter_container (reply, 'e', "oa{sa{sv}}") > 0)
    {
      const char *path;
      g_assert_cmpint (sd_bus_message_read (reply, "o", &path), >=, 0);
      g_assert_true (g_str_has_prefix (path, "/org/sourced/Sourced1/source/"));
      g_assert_cmpint (sd_bus_message_skip (reply, "a{sa{sv}}"), >=, 0);
      g_assert_cmpint (sd_bus_message_exit_container (reply), >=, 0);
      objects++;
    }
  sd_bus_message_unref (reply);
  g_assert_cmpuint (objects, ==, 2);
}

/* ---- Reload ---------------------------------------------------------- */

static gboolean
has_source_added (gpointer h)
{
  sd_bus_error e = SD_BUS_ERROR_NULL;
  int r = harness_call (h, MGR_PATH, MGR_IFACE, "GetSource", &e, NULL, "s", "added");

  sd_bus_error_free (&e);
  return r >= 0;
}

static gboolean
pid_gone (gpointer pid)
{
  return !pid_alive (GPOINTER_TO_UINT (pid));
}

static void
test_reload (void)
{
  g_autoptr (Harness) h = start_with ("keep", sleeper);
  sd_bus_error e = SD_BUS_ERROR_NULL;
  g_autofree char *dn = NULL;

  harness_write_definition (h, "gone", sleeper);
  harness_call (h, MGR_PATH, MGR_IFACE, "Reload", NULL, NULL, NULL);
  guint32 gone_pid = harness_get_u (h, "gone", "MainPID");
  g_assert_true (pid_alive (gone_pid));
  harness_source_call_ok (h, "keep", "Pause");
  guint64 paused_at = harness_get_t (h, "keep", "PausedAt");

  harness_clear_signals (h);
  harness_remove_definition (h, "gone");
  harness_write_definition (h, "keep", "[Source]\nDisplayName=Kept\nExec=sleep 1000\n");
  harness_write_definition (h, "added", "[Source]\nExec=sleep 1000\n");
  /* SIGHUP is Reload. */
  kill (h->daemon_pid, SIGHUP);
  g_assert_true (harness_wait_until (has_source_added, h, 5000));
  g_assert_true (harness_wait_status (h, "added", "active", 2000));
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "GetSource", &e, NULL, "s", "gone"), <, 0);
  sd_bus_error_free (&e);
  g_assert_true (harness_wait_until (pid_gone, GUINT_TO_POINTER (gone_pid), 2000));
  /* Control state survives a reload; the definition change shows. */
  g_assert_cmpuint (harness_get_t (h, "keep", "PausedAt"), ==, paused_at);
  dn = harness_get_s (h, "keep", "DisplayName");
  g_assert_cmpstr (dn, ==, "Kept");
  g_assert_cmpuint (harness_count_changed (h, "keep", "DisplayName"), ==, 1);
  g_assert_cmpuint (harness_count_member (h, "InterfacesAdded"), ==, 1);
  g_assert_cmpuint (harness_count_member (h, "InterfacesRemoved"), ==, 1);
}

/* ---- Persistence ----------------------------------------------------- */

static void
test_persist_clean_restart (void)
{
  g_autoptr (Harness) h = start_with ("p", sleeper);
  g_autofree char *st = NULL;

  harness_write_definition (h, "s", sleeper);
  harness_call (h, MGR_PATH, MGR_IFACE, "Reload", NULL, NULL, NULL);
  harness_source_call_ok (h, "p", "Pause");
  harness_source_call_ok (h, "s", "Stop");
  harness_call (h, MGR_PATH, MGR_IFACE, "Pause", NULL, NULL, NULL);
  guint64 paused_at = harness_get_t (h, "p", "PausedAt");
  guint64 created = harness_get_t (h, "p", "CreatedAt");
  guint64 gate = harness_manager_get_t (h, "PausedAt");
  guint32 pid = harness_get_u (h, "p", "MainPID");

  g_assert_cmpint (harness_kill (h, SIGTERM), ==, 0);
  /* Clean shutdown stops the workers. */
  g_assert_false (pid_alive (pid));
  g_autofree char *log = harness_log (h);
  g_assert_nonnull (strstr (log, "stopping workers"));

  harness_start (h, NULL);
  g_assert_cmpuint (harness_get_t (h, "p", "PausedAt"), ==, paused_at);
  g_assert_cmpuint (harness_get_t (h, "p", "CreatedAt"), ==, created);
  g_assert_cmpuint (harness_manager_get_t (h, "PausedAt"), ==, gate);
  st = harness_get_s (h, "p", "Status");
  g_assert_cmpstr (st, ==, "paused");
  g_clear_pointer (&st, g_free);
  st = harness_get_s (h, "s", "Status");
  g_assert_cmpstr (st, ==, "stopped");
}

static void
test_persist_kill9 (void)
{
  /* A reply means it is on disk: kill -9 right after each one. */
  g_autoptr (Harness) h = start_with ("k", "[Source]\nExec=sleep 1000\n");

  for (int i = 0; i < 10; i++)
    {
      gboolean pause = i % 2 == 0;
      harness_source_call_ok (h, "k", pause ? "Pause" : "Unpause");
      guint64 expect = harness_get_t (h, "k", "PausedAt");
      g_assert_true (pause ? expect != 0 : expect == 0);
      harness_kill (h, SIGKILL);
      harness_start (h, NULL);
      g_assert_cmpuint (harness_get_t (h, "k", "PausedAt"), ==, expect);
      g_autofree char *st = harness_get_s (h, "k", "Status");
      g_assert_cmpstr (st, ==, pause ? "paused" : "active");
    }
  /* Workers die with the daemon (PR_SET_PDEATHSIG): only one is left. */
  guint32 pid = harness_get_u (h, "k", "MainPID");
  g_assert_true (pid_alive (pid));
}

static void
test_initial_state_only_first_time (void)
{
  g_autoptr (Harness) h = start_with ("i", "[Source]\nExec=sleep 1000\nInitialState=paused\n");
  g_autofree char *st = harness_get_s (h, "i", "Status");

  g_assert_cmpstr (st, ==, "paused");
  harness_source_call_ok (h, "i", "Unpause");
  harness_kill (h, SIGKILL);
  harness_start (h, NULL);
  g_clear_pointer (&st, g_free);
  st = harness_get_s (h, "i", "Status");
  g_assert_cmpstr (st, ==, "active");
}

static void
test_corrupt_store_moved_aside (void)
{
  g_autoptr (Harness) h = start_with ("c", sleeper);
  g_autofree char *snapshot = g_build_filename (h->state_dir, "state.ini", NULL);
  g_autoptr (GDir) dir = NULL;
  const char *name;
  gboolean found = FALSE;

  harness_source_call_ok (h, "c", "Pause");
  harness_kill (h, SIGTERM);
  g_assert_true (g_file_set_contents (snapshot, "[Store]\nVersion=1\n[Source c]\nPausedAt=12", -1, NULL));
  harness_start (h, NULL);

  g_autofree char *log = harness_log (h);
  g_assert_nonnull (strstr (log, "corrupt"));
  dir = g_dir_open (h->state_dir, 0, NULL);
  while ((name = g_dir_read_name (dir)))
    if (g_str_has_prefix (name, "state.ini.corrupt-"))
      found = TRUE;
  g_assert_true (found);
  /* Started from the definitions, and serving. */
  g_autofree char *st = harness_get_s (h, "c", "Status");
  g_assert_cmpstr (st, ==, "active");
  harness_source_call_ok (h, "c", "Pause");
  harness_kill (h, SIGKILL);
  harness_start (h, NULL);
  g_assert_cmpuint (harness_get_t (h, "c", "PausedAt"), !=, 0);
}

static void
test_torn_journal_tail (void)
{
  g_autoptr (Harness) h = start_with ("t", sleeper);
  g_autofree char *journal = g_build_filename (h->state_dir, "state.journal", NULL);
  g_autofree char *data = NULL;
  gsize len;

  harness_source_call_ok (h, "t", "Pause");
  guint64 paused_at = harness_get_t (h, "t", "PausedAt");
  harness_kill (h, SIGKILL);
  /* A crash in the middle of the next append leaves half a transaction. */
  g_assert_true (g_file_get_contents (journal, &data, &len, NULL));
  g_autofree char *torn = g_strconcat (data, "#@txn 99 500 abcdef\n[Source t]\nPausedAt=1", NULL);
  g_assert_true (g_file_set_contents (journal, torn, -1, NULL));
  harness_start (h, NULL);
  g_assert_cmpuint (harness_get_t (h, "t", "PausedAt"), ==, paused_at);
  g_autofree char *log = harness_log (h);
  g_assert_nonnull (strstr (log, "incomplete transaction"));
}

static void
test_bad_definition_files (void)
{
  g_autoptr (Harness) h = harness_new ();
  sd_bus_error e = SD_BUS_ERROR_NULL;

  harness_write_definition (h, "good", sleeper);
  harness_write_definition (h, "garbage", "[Source]\nExec=true\nthis is not a key file\n");
  harness_write_definition (h, "unknown", "[Source]\nExec=true\nColour=blue\n");
  harness_write_definition (h, "noexec", "[Source]\nDisplayName=x\n");
  harness_write_definition (h, "bad id!", sleeper);
  harness_start (h, NULL);

  g_autofree char *log = harness_log (h);
  g_assert_nonnull (strstr (log, "garbage.source:3:"));
  g_assert_nonnull (strstr (log, "unknown.source:3: Unknown setting 'Colour'"));
  g_assert_nonnull (strstr (log, "noexec.source:"));
  g_assert_nonnull (strstr (log, "bad id!.source"));
  g_autofree char *st = harness_get_s (h, "good", "Status");
  g_assert_cmpstr (st, ==, "active");
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "GetSource", &e, NULL, "s", "garbage"), <, 0);
  sd_bus_error_free (&e);
}

static void
test_persist_failed_changes_nothing (void)
{
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *fault = g_build_filename (h->dir, "fault", NULL);
  g_autofree char *st = NULL;
  sd_bus_error e = SD_BUS_ERROR_NULL;
  const char *env[] = { "SOURCED_FAULT_FILE", fault, NULL };

  h->extra_env = g_strdupv ((char **) env);
  harness_write_definition (h, "f", sleeper);
  harness_write_definition (h, "other", sleeper);
  harness_start (h, NULL);
  harness_source_call_ok (h, "other", "Pause");
  guint64 other_paused = harness_get_t (h, "other", "PausedAt");

  g_assert_true (g_file_set_contents (fault, "", -1, NULL));
  harness_clear_signals (h);
  g_autofree char *f_path = source_path ("f");
  g_assert_cmpint (harness_call (h, f_path, SRC_IFACE, "Pause", &e, NULL, NULL), <, 0);
  g_assert_cmpstr (e.name, ==, ERR ("PersistFailed"));
  sd_bus_error_free (&e);
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "CreateSource", &e, NULL, "sa{sv}", "new", 1, "Exec", "s",
                                 "true"), <, 0);
  g_assert_cmpstr (e.name, ==, ERR ("PersistFailed"));
  sd_bus_error_free (&e);
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "Pause", &e, NULL, NULL), <, 0);
  g_assert_cmpstr (e.name, ==, ERR ("PersistFailed"));
  sd_bus_error_free (&e);
  /* A Reload that cannot be persisted adds nothing (and, under ASan,
   * leaks nothing: the changes it read are freed with the failed call). */
  harness_write_definition (h, "late", sleeper);
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "Reload", &e, NULL, NULL), <, 0);
  g_assert_cmpstr (e.name, ==, ERR ("PersistFailed"));
  sd_bus_error_free (&e);
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "GetSource", &e, NULL, "s", "late"), <, 0);
  sd_bus_error_free (&e);

  /* Nothing was applied, nothing announced, nothing else touched. */
  g_assert_cmpuint (harness_get_t (h, "f", "PausedAt"), ==, 0);
  st = harness_get_s (h, "f", "Status");
  g_assert_cmpstr (st, ==, "active");
  g_assert_cmpuint (harness_manager_get_t (h, "PausedAt"), ==, 0);
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "GetSource", &e, NULL, "s", "new"), <, 0);
  sd_bus_error_free (&e);
  g_assert_cmpuint (harness_count_changed (h, "f", NULL), ==, 0);
  g_assert_cmpuint (harness_count_member (h, "InterfacesAdded"), ==, 0);
  g_assert_cmpuint (harness_get_t (h, "other", "PausedAt"), ==, other_paused);

  /* A clean exit, so that LeakSanitizer looks at what the failures left. */
  harness_remove_definition (h, "late");
  g_assert_true (WIFEXITED (harness_kill (h, SIGTERM)));
  g_autofree char *log = harness_log (h);
  g_assert_null (strstr (log, "ERROR: LeakSanitizer"));
  harness_start (h, NULL);

  /* Room again: it works, and survives a crash. */
  g_assert_cmpint (unlink (fault), ==, 0);
  harness_source_call_ok (h, "f", "Pause");
  harness_kill (h, SIGKILL);
  harness_start (h, NULL);
  g_assert_cmpuint (harness_get_t (h, "f", "PausedAt"), !=, 0);
  g_assert_cmpuint (harness_get_t (h, "other", "PausedAt"), ==, other_paused);
}

static void
test_state_dir_unusable (void)
{
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *file = g_build_filename (h->dir, "not-a-dir", NULL);
  g_autofree char *state_arg = g_strdup_printf ("--state-dir=%s/sub", file);
  sd_bus_error e = SD_BUS_ERROR_NULL;

  /* The state directory lies below a regular file: even root cannot use it. */
  g_assert_true (g_file_set_contents (file, "", -1, NULL));
  harness_write_definition (h, "u", sleeper);
  harness_start (h, state_arg, NULL);
  g_autofree char *u_path = source_path ("u");
  g_assert_cmpint (harness_call (h, u_path, SRC_IFACE, "Pause", &e, NULL, NULL), <, 0);
  g_assert_cmpstr (e.name, ==, ERR ("PersistFailed"));
  g_assert_nonnull (strstr (e.message, "not-a-dir"));
  sd_bus_error_free (&e);
  g_assert_cmpuint (harness_get_t (h, "u", "PausedAt"), ==, 0);
}

/* ---- Introspection ----------------------------------------------------- */

static char *
interface_xml (GDBusNodeInfo *node, const char *name)
{
  GDBusInterfaceInfo *iface = g_dbus_node_info_lookup_interface (node, name);
  GString *s = g_string_new (NULL);

  g_assert_nonnull (iface);
  g_dbus_interface_info_generate_xml (iface, 0, s);
  return g_string_free (s, FALSE);
}

static void
check_introspection (Harness *h, const char *path, const char *iface, const char *file)
{
  sd_bus_message *reply = NULL;
  const char *xml;
  g_autofree char *file_xml = NULL;
  g_autofree char *file_path = g_build_filename (g_getenv ("SOURCED_INTROSPECTION_DIR"), file, NULL);
  g_autoptr (GError) error = NULL;

  harness_call (h, path, "org.freedesktop.DBus.Introspectable", "Introspect", NULL, &reply, NULL);
  g_assert_cmpint (sd_bus_message_read (reply, "s", &xml), >=, 0);
  g_autoptr (GDBusNodeInfo) live = g_dbus_node_info_new_for_xml (xml, &error);
  g_assert_no_error (error);
  sd_bus_message_unref (reply);
  g_assert_true (g_file_get_contents (file_path, &file_xml, NULL, NULL));
  g_autoptr (GDBusNodeInfo) shipped = g_dbus_node_info_new_for_xml (file_xml, &error);
  g_assert_no_error (error);

  g_autofree char *a = interface_xml (live, iface);
  g_autofree char *b = interface_xml (shipped, iface);
  g_assert_cmpstr (a, ==, b);
}

static void
test_introspection_matches_xml (void)
{
  g_autoptr (Harness) h = start_with ("i", sleeper);

  check_introspection (h, MGR_PATH, MGR_IFACE, "org.sourced.Sourced1.Manager.xml");
  g_autofree char *path = source_path ("i");
  check_introspection (h, path, SRC_IFACE, "org.sourced.Sourced1.Source.xml");
}

/* A daemon with nothing to do sleeps: it used to burn a whole core,
 * waking its own main loop from every poll. */
static void
test_idle_daemon_sleeps (void)
{
  g_autoptr (Harness) h = harness_new ();

  harness_write_definition (h, "running", sleeper);
  harness_write_definition (h, "hourly", "[Source]\nExec=true\nFrequencyMinutes=60\n");
  harness_write_definition (h, "stopped", "[Source]\nExec=true\nInitialState=stopped\n");
  harness_start (h, NULL);
  g_assert_true (harness_wait_status (h, "running", "active", 5000));
  /* A round trip first, so that the start-up work is over. */
  g_autofree char *status = harness_get_s (h, "stopped", "Status");
  g_assert_cmpstr (status, ==, "stopped");

  double before = harness_process_cpu_seconds (h->daemon_pid);
  g_usleep (G_USEC_PER_SEC);
  double used = harness_process_cpu_seconds (h->daemon_pid) - before;
  g_test_message ("CPU used in 1 s idle: %.2f s", used);
  g_assert_cmpfloat (used, <=, 0.05);
}

static void
test_version_and_help (void)
{
  g_autofree char *out = NULL;
  int status;
  const char *argv[] = { g_getenv ("SOURCED_BINARY"), "--version", NULL };

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, 0, NULL, NULL, &out, NULL, &status, NULL));
  g_assert_true (g_str_has_prefix (out, "sourced "));
  g_clear_pointer (&out, g_free);
  argv[1] = "--help";
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, 0, NULL, NULL, &out, NULL, &status, NULL));
  g_assert_nonnull (strstr (out, "--state-dir"));
  g_assert_nonnull (strstr (out, "--session"));
  argv[1] = "--bogus";
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL, NULL,
                               &status, NULL));
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 2);
}

/* ---- Sinks ------------------------------------------------------------------ */

static void check_create_refused (Harness *h, const char *key, const char *value, const char *error_name,
                                  const char *reason, const char *secret);

/* CreateSource with Sink=@sink: InvalidArgs naming the reason, nothing made. */
static void
check_sink_refused (Harness *h, const char *sink, const char *reason)
{
  check_create_refused (h, "Sink", sink, "org.freedesktop.DBus.Error.InvalidArgs", reason, NULL);
}

static void
test_sink_rules (void)
{
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *journal = g_build_filename (h->state_dir, "state.journal", NULL);
  g_autofree char *dotdot = g_build_filename (h->state_dir, "sinks", "..", "state.journal", NULL);
  g_autofree char *link = g_build_filename (h->dir, "elsewhere", NULL);
  g_autofree char *via_link = g_build_filename (link, "state.snapshot", NULL);
  g_autofree char *in_sinks = g_build_filename (h->state_dir, "sinks", "ok.jsonl", NULL);
  g_autofree char *def = g_strdup_printf ("[Source]\nExec=sleep 1000\nSink=%s\n", journal);
  g_autofree char *log = NULL;
  g_autofree char *expected = NULL;
  sd_bus_error e = SD_BUS_ERROR_NULL;

  harness_write_definition (h, "filed", def);
  harness_start (h, NULL);

  /* A definition file: skipped, with file and line. */
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "GetSource", &e, NULL, "s", "filed"), <, 0);
  sd_bus_error_free (&e);
  log = harness_log (h);
  expected = g_strdup_printf ("filed.source:3: Invalid setting 'Sink': %s lies inside sourced's state directory",
                              journal);
  if (!strstr (log, expected))
    g_error ("expected '%s' in the log:\n%s", expected, log);

  /* CreateSource: InvalidArgs naming the reason, nothing created. */
  check_sink_refused (h, journal, "state directory");
  check_sink_refused (h, dotdot, "state directory");
  check_sink_refused (h, h->state_dir, "state directory");
  /* A link into the state directory (which exists once written to). */
  g_assert_no_errno (g_mkdir_with_parents (h->state_dir, 0700));
  g_assert_no_errno (symlink (h->state_dir, link));
  check_sink_refused (h, via_link, "state directory");
  check_sink_refused (h, "/proc/self/mem", "under /proc");
  check_sink_refused (h, "/sys/kernel/notes", "under /sys");
  check_sink_refused (h, "/dev/full", "under /dev");
  check_sink_refused (h, "relative.jsonl", "not an absolute path");

  /* Allowed: the state directory's sinks/, and /dev/null. */
  harness_call (h, MGR_PATH, MGR_IFACE, "CreateSource", NULL, NULL, "sa{sv}", "insinks", 2, "Exec", "s", "sleep 1000",
                "Sink", "s", in_sinks);
  harness_call (h, MGR_PATH, MGR_IFACE, "CreateSource", NULL, NULL, "sa{sv}", "devnull", 2, "Exec", "s", "yes",
                "Sink", "s", "/dev/null");
  g_autofree char *st = harness_get_s (h, "devnull", "Status");
  g_assert_cmpstr (st, ==, "active");

  /* What it opens must be a file or a FIFO: a directory pauses the source
   * with the reason. */
  harness_call (h, MGR_PATH, MGR_IFACE, "CreateSource", NULL, NULL, "sa{sv}", "todir", 2, "Exec", "s", "sleep 1000",
                "Sink", "s", h->dir);
  g_assert_true (harness_wait_status (h, "todir", "paused", 5000));
  g_autofree char *err = harness_get_s (h, "todir", "LastError");
  g_assert_nonnull (strstr (err, h->dir));

  /* The store was not touched by any worker. */
  harness_kill (h, SIGTERM);
  harness_start (h, NULL);
  g_free (st);
  st = harness_get_s (h, "insinks", "Status");
  g_assert_cmpstr (st, ==, "active");
  g_free (log);
  log = harness_log (h);
  g_assert_null (strstr (log, "incomplete transaction"));
}

/* CreateSource with @settings (Exec added): refused with @error_name, the
 * message naming @key and holding @reason and not @secret; nothing made. */
static void
check_create_refused (Harness *h, const char *key, const char *value, const char *error_name, const char *reason,
                      const char *secret)
{
  sd_bus_error e = SD_BUS_ERROR_NULL;

  if (harness_call (h, MGR_PATH, MGR_IFACE, "CreateSource", &e, NULL, "sa{sv}", "pg", 2, "Exec", "s", "sleep 1000", key,
                    "s", value) >= 0)
    g_error ("%s=%s was accepted", key, value);
  g_assert_cmpstr (e.name, ==, error_name);
  g_autofree char *named = g_strdup_printf ("'%s'", key);
  if (!strstr (e.message, named) || !strstr (e.message, reason))
    g_error ("%s=%s: expected %s and '%s' in '%s'", key, value, named, reason, e.message);
  if (secret && strstr (e.message, secret))
    g_error ("%s=%s: the message repeats the secret: '%s'", key, value, e.message);
  sd_bus_error_free (&e);
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "GetSource", &e, NULL, "s", "pg"), <, 0);
  g_assert_cmpstr (e.name, ==, ERR ("NoSuchSource"));
  sd_bus_error_free (&e);
}

/* Sink=postgresql://… (issue 20): checked as the contract says, with
 * libpq's own parser, before this version refuses to deliver there. */
static void
test_postgresql_sink_checked (void)
{
  g_autoptr (Harness) h = harness_new ();
  sd_bus_error e = SD_BUS_ERROR_NULL;

  harness_write_definition (h, "pgfile", "[Source]\nExec=sleep 1000\nSink=postgres://loader:s3cret@db/warehouse\n");
  harness_write_definition (h, "badschema", "[Source]\nExec=sleep 1000\nSchema=Sales-EU\n");
  harness_start (h, NULL);

  /* A password in the URI, in any of libpq's forms: InvalidArgs, and the
   * password is not repeated. */
  check_create_refused (h, "Sink", "postgresql://loader:s3cret@localhost/warehouse",
                        "org.freedesktop.DBus.Error.InvalidArgs", "password", "s3cret");
  check_create_refused (h, "Sink", "postgres:///warehouse?password=s3cret&host=/run/postgresql",
                        "org.freedesktop.DBus.Error.InvalidArgs", "password", "s3cret");
  /* Malformed: libpq's parser says why. */
  check_create_refused (h, "Sink", "postgresql://localhost/warehouse?nosuchoption=1",
                        "org.freedesktop.DBus.Error.InvalidArgs", "not a valid PostgreSQL connection URI", NULL);
  /* …and never quotes a password back, even in a URI that does not parse. */
  check_create_refused (h, "Sink", "postgresql://loader:s3cret@localhost:notaport/warehouse",
                        "org.freedesktop.DBus.Error.InvalidArgs", "'Sink'", "s3cret");
  check_create_refused (h, "Sink", "postgresql:///warehouse?password=s3cret&s3cret=1",
                        "org.freedesktop.DBus.Error.InvalidArgs", "not a valid PostgreSQL connection URI", "s3cret");
  /* A schema that is no PostgreSQL name, or one without a PostgreSQL sink. */
  check_create_refused (h, "Schema", "Sales-EU", "org.freedesktop.DBus.Error.InvalidArgs", "PostgreSQL name", NULL);
  check_create_refused (h, "Schema", "sales", "org.freedesktop.DBus.Error.InvalidArgs", "PostgreSQL Sink", NULL);
  /* A good URI is taken, and shown as it was given. A relative path or a
   * URI of another scheme is neither a file nor PostgreSQL. */
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "CreateSource", NULL, NULL, "sa{sv}", "pgok", 3, "Exec", "s",
                                 "sleep 1000", "Sink", "s", "postgresql:///warehouse?host=/nonexistent", "InitialState",
                                 "s", "stopped"),
                   >=, 0);
  g_autofree char *sink = harness_get_s (h, "pgok", "Sink");
  g_assert_cmpstr (sink, ==, "postgresql:///warehouse?host=/nonexistent");
  check_sink_refused (h, "relative/x.jsonl", "absolute");
  check_sink_refused (h, "mysql://db/warehouse", "absolute");

  /* Definition files: skipped with file and line, the password not logged. */
  g_autofree char *log = harness_log (h);
  g_assert_nonnull (strstr (log, "pgfile.source:3: Invalid setting 'Sink': a password in the URI is refused"));
  g_assert_nonnull (strstr (log, "badschema.source:3: Invalid value"));
  g_assert_null (strstr (log, "s3cret"));
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "GetSource", &e, NULL, "s", "pgfile"), <, 0);
  sd_bus_error_free (&e);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sourced/pause-unpause", test_pause_unpause);
  g_test_add_func ("/sourced/idle-daemon-sleeps", test_idle_daemon_sleeps);
  g_test_add_func ("/sourced/pause-stopped-comes-up-paused", test_pause_stopped_source_comes_up_paused);
  g_test_add_func ("/sourced/paused-at-set", test_paused_at_set);
  g_test_add_func ("/sourced/start-stop", test_start_stop);
  g_test_add_func ("/sourced/stop-timeout-kills", test_stop_timeout_kills);
  g_test_add_func ("/sourced/spawn-failure", test_spawn_failure_and_stop_from_failed);
  g_test_add_func ("/sourced/backoff-system-pause", test_restart_backoff_then_system_pause);
  g_test_add_func ("/sourced/run-job", test_run_job);
  g_test_add_func ("/sourced/manager-gate", test_manager_gate);
  g_test_add_func ("/sourced/get-source-bad-ids", test_get_source_and_bad_ids);
  g_test_add_func ("/sourced/create-remove", test_create_remove);
  g_test_add_func ("/sourced/sink-rules", test_sink_rules);
  g_test_add_func ("/sourced/postgresql-sink-checked", test_postgresql_sink_checked);
  g_test_add_func ("/sourced/list-sources-too-large", test_list_sources);
  g_test_add_func ("/sourced/managed-objects", test_managed_objects_and_nsources);
  g_test_add_func ("/sourced/reload", test_reload);
  g_test_add_func ("/sourced/persist-clean-restart", test_persist_clean_restart);
  g_test_add_func ("/sourced/persist-kill9", test_persist_kill9);
  g_test_add_func ("/sourced/initial-state-once", test_initial_state_only_first_time);
  g_test_add_func ("/sourced/corrupt-store", test_corrupt_store_moved_aside);
  g_test_add_func ("/sourced/torn-journal", test_torn_journal_tail);
  g_test_add_func ("/sourced/bad-definitions", test_bad_definition_files);
  g_test_add_func ("/sourced/persist-failed", test_persist_failed_changes_nothing);
  g_test_add_func ("/sourced/state-dir-unusable", test_state_dir_unusable);
  g_test_add_func ("/sourced/introspection", test_introspection_matches_xml);
  g_test_add_func ("/sourced/version-help", test_version_and_help);
  return g_test_run ();
}
