/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Never frozen by the bus: a subscriber that stops reading, shutdown with
 * a deadline, and the name taken over from a sourced on its way out. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define MGR_PATH "/org/sourced/Sourced1"
#define MGR_IFACE "org.sourced.Sourced1.Manager"

/* dbus-daemon's limits made small, so that a stalled subscriber reaches
 * them in a few bulk calls instead of ~500,000 signals. */
#define SMALL_LIMITS                                                                                           \
  "<limit name=\"max_incoming_bytes\">1000000</limit>\n"                                                  \
  "<limit name=\"max_outgoing_bytes\">1000000</limit>\n"

/* A client that subscribes to sourced's PropertiesChanged and then never
 * reads its socket (a `busctl monitor | less` nobody scrolls). */
static sd_bus *
stalled_subscriber (Harness *h)
{
  sd_bus *bus = harness_connect (h);

  g_assert_cmpint (sd_bus_call_method (bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "AddMatch", NULL, NULL, "s",
                                       "type='signal',interface='org.freedesktop.DBus.Properties',"
                                       "path_namespace='/org/sourced/Sourced1'"),
                   >=, 0);
  return bus;
}

static int
on_ping_reply (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  int *result = userdata;
  *result = sd_bus_message_is_method_error (m, NULL) ? -1 : 1;
  return 0;
}

/* Peer.Ping to sourced from a fresh connection: how long it took, in ms,
 * or -1 if no answer came within @timeout_ms. Meanwhile the harness's own
 * client reads what comes for it (it subscribes to PropertiesChanged, and
 * must not be a second stalled subscriber): every client but the stalled
 * one reads. */
static double
ping_ms (Harness *h, guint timeout_ms)
{
  sd_bus *bus = harness_connect (h);
  sd_bus_message *m = NULL;
  gint64 t0 = g_get_monotonic_time ();
  gint64 deadline = t0 + (gint64) timeout_ms * 1000;
  int result = 0;

  g_assert_cmpint (sd_bus_message_new_method_call (bus, &m, "org.sourced.Sourced1", MGR_PATH,
                                                   "org.freedesktop.DBus.Peer", "Ping"), >=, 0);
  g_assert_cmpint (sd_bus_call_async (bus, NULL, m, on_ping_reply, &result, (uint64_t) timeout_ms * 1000), >=, 0);
  sd_bus_message_unref (m);
  while (result == 0 && g_get_monotonic_time () < deadline)
    {
      while (sd_bus_process (h->client, NULL) > 0)
        ;
      while (result == 0 && sd_bus_process (bus, NULL) > 0)
        ;
      if (result == 0)
        sd_bus_wait (bus, 5000);
    }
  double ms = (g_get_monotonic_time () - t0) / 1000.0;
  sd_bus_flush_close_unref (bus);
  return result > 0 ? ms : -1;
}

/* A bulk call that does not wait for its reply (it may be stuck). */
static void
bulk_async (sd_bus *bus, const char *method)
{
  sd_bus_message *m = NULL;

  g_assert_cmpint (sd_bus_message_new_method_call (bus, &m, "org.sourced.Sourced1", MGR_PATH, MGR_IFACE, method), >=, 0);
  g_assert_cmpint (sd_bus_message_append_strv (m, (char *[]) { (char *) "*", NULL }), >=, 0);
  g_assert_cmpint (sd_bus_call_async (bus, NULL, m, NULL, NULL, 60 * 1000 * 1000), >=, 0);
  sd_bus_message_unref (m);
  sd_bus_flush (bus);
}

typedef struct {
  const char *path;
  const char *text;
} FileHas;

static gboolean
file_has (gpointer data)
{
  FileHas *w = data;
  g_autofree char *contents = NULL;
  return g_file_get_contents (w->path, &contents, NULL, NULL) && strstr (contents, w->text);
}

static gboolean
name_owned (gpointer h)
{
  return harness_name_has_owner (h, "org.sourced.Sourced1");
}

typedef struct {
  Harness *h;
  const char *text;
} LogHas;

static gboolean
log_has (gpointer data)
{
  LogHas *w = data;
  g_autofree char *log = harness_log (w->h);
  return strstr (log, w->text) != NULL;
}

static gboolean
wait_log (Harness *h, const char *text, guint timeout_ms)
{
  LogHas w = { h, text };
  return harness_wait_until (log_has, &w, timeout_ms);
}

/* The harness's own client subscribes to PropertiesChanged too: it reads
 * what has come for it, or it would be a second stalled subscriber. */
static void
drain_harness_client (Harness *h)
{
  while (sd_bus_process (h->client, NULL) > 0)
    ;
}

static gboolean
log_drained_has (gpointer data)
{
  LogHas *w = data;
  drain_harness_client (w->h);
  return log_has (w);
}

static gboolean
ping_answers (gpointer h)
{
  drain_harness_client (h);
  return ping_ms (h, 200) >= 0;
}

#define N_SOURCES 2000

static Harness *
start_many (void)
{
  Harness *h = harness_new_with_bus_conf (FALSE, SMALL_LIMITS);

  for (int i = 0; i < N_SOURCES; i++)
    {
      g_autofree char *id = g_strdup_printf ("s%04d", i);
      harness_write_definition (h, id, "[Source]\nExec=sleep 1000\nInitialState=stopped\n");
    }
  harness_start (h, NULL);
  return h;
}

/* Bulk calls until dbus-daemon stops reading sourced (its undelivered
 * signals to the stalled subscriber reached max_incoming_bytes) and
 * sourced notices. */
static void
stall_the_bus (Harness *h, sd_bus *caller)
{
  /* One call at a time (calls that come together share a commit, and a
   * Pause and an Unpause in one commit change nothing): until one gets no
   * answer. */
  for (int i = 0; i < 20; i++)
    {
      sd_bus_message *m = NULL;
      int r;
      g_assert_cmpint (sd_bus_message_new_method_call (caller, &m, "org.sourced.Sourced1", MGR_PATH, MGR_IFACE,
                                                       i % 2 ? "UnpauseSources" : "PauseSources"), >=, 0);
      g_assert_cmpint (sd_bus_message_append_strv (m, (char *[]) { (char *) "*", NULL }), >=, 0);
      r = sd_bus_call (caller, m, 2 * G_USEC_PER_SEC, NULL, NULL);
      sd_bus_message_unref (m);
      if (r < 0)
        break;
    }
  if (!wait_log (h, "The bus has read none of sourced's last", 10000))
    {
      g_autofree char *log = harness_log (h);
      g_error ("sourced did not notice the stalled bus (Ping: %.1f ms); its log:\n%s", ping_ms (h, 1000), log);
    }
}

static void
test_stalled_subscriber (void)
{
  g_autoptr (Harness) h = start_many ();
  sd_bus *stalled = stalled_subscriber (h);
  sd_bus *caller = harness_connect (h);

  stall_the_bus (h, caller);
  /* What dbus-daemon does to everyone: sourced's replies wait behind its
   * undelivered signals. (dbus-broker disconnects the subscriber instead;
   * see the host suite.) */
  double during = ping_ms (h, 1000);
  g_test_message ("Ping while the subscriber does not read: %s", during < 0 ? "no answer within 1 s" : "answered");
  /* More changes while stalled: held and folded, not queued one by one. */
  bulk_async (caller, "PauseSources");
  bulk_async (caller, "UnpauseSources");
  bulk_async (caller, "PauseSources");

  /* The subscriber goes (or drains): sourced answers again at once, and
   * what it sends is each source's last state, not the history. */
  sd_bus_close_unref (stalled);
  gint64 t0 = g_get_monotonic_time ();
  g_assert_true (harness_wait_until (ping_answers, h, 10000));
  g_test_message ("first Ping answered %.0f ms after the subscriber went", (g_get_monotonic_time () - t0) / 1000.0);
  LogHas again = { h, "The bus takes sourced's messages again" };
  g_assert_true (harness_wait_until (log_drained_has, &again, 10000));
  drain_harness_client (h);
  double after = ping_ms (h, 1000);
  g_test_message ("then Ping: %.1f ms", after);
  g_assert_cmpfloat (after, >=, 0);
  g_assert_cmpfloat (after, <, 1000);
  g_assert_cmpuint (harness_get_t (h, "s0000", "PausedAt"), !=, 0);
  g_assert_cmpuint (harness_get_t (h, "s1999", "PausedAt"), !=, 0);
  sd_bus_flush_close_unref (caller);
}

/* Stopping while the bus reads nothing: the last messages get a few
 * seconds, the name is released without waiting for an answer, and the
 * process exits; it never waits for the subscriber. */
static void
test_stop_while_stalled (void)
{
  g_autoptr (Harness) h = start_many ();
  sd_bus *stalled = stalled_subscriber (h);
  sd_bus *caller = harness_connect (h);

  stall_the_bus (h, caller);
  gint64 t0 = g_get_monotonic_time ();
  int status = 0;
  /* Not harness_kill(): its round trip on the harness's client, which
   * subscribes too and is over the small limits, would wait behind the
   * signals queued for it. */
  kill (h->daemon_pid, SIGTERM);
  g_assert_cmpint (waitpid (h->daemon_pid, &status, 0), ==, h->daemon_pid);
  h->daemon_pid = 0;
  double secs = (g_get_monotonic_time () - t0) / (double) G_USEC_PER_SEC;
  g_test_message ("sourced exited %.1f s after SIGTERM", secs);
  g_assert_true (WIFEXITED (status));
  /* Before, a blocking ReleaseName waited out its 25 s timeout here. */
  g_assert_cmpfloat (secs, <, 5);
  g_autofree char *log = harness_log (h);
  g_assert_nonnull (strstr (log, "Stopped"));
  sd_bus_close_unref (stalled);
  sd_bus_close_unref (caller);
  drain_harness_client (h);
}

/* A new sourced while the old one still holds the name (a restart racing
 * the old process's exit, D-Bus activation racing a start): it waits in
 * the bus's queue and takes the name when the old one goes, instead of
 * failing with "another sourced runs already". --name-wait=0 fails at
 * once, as before. */
static void
test_name_taken_over (void)
{
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *other_state = g_build_filename (h->dir, "other-state", NULL);
  g_autofree char *other_log = g_build_filename (h->dir, "other.log", NULL);
  g_autofree char *state_arg = g_strdup_printf ("--state-dir=%s", other_state);
  g_autofree char *config_arg = g_strdup_printf ("--config-dir=%s", h->config_dir);
  g_auto (GStrv) env = g_environ_setenv (g_get_environ (), "DBUS_SESSION_BUS_ADDRESS", h->bus_address, TRUE);
  g_autoptr (GError) error = NULL;
  GPid second;
  int status;

  harness_write_definition (h, "one", "[Source]\nExec=sleep 1000\n");
  harness_start (h, NULL);
  {
    const char *argv[] = { g_getenv ("SOURCED_BINARY"), "--session", config_arg, state_arg, "--name-wait=0", NULL };
    g_autofree char *err = NULL;
    g_assert_true (g_spawn_sync (NULL, (char **) argv, env, G_SPAWN_DEFAULT, NULL, NULL, NULL, &err, &status, &error));
    g_assert_no_error (error);
    g_assert_false (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    g_assert_nonnull (strstr (err, "another sourced runs already"));
  }
  {
    g_autofree char *cmd = g_strdup_printf ("exec '%s' --session '%s' '%s' --name-wait=20 >'%s' 2>&1",
                                            g_getenv ("SOURCED_BINARY"), config_arg, state_arg, other_log);
    const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    g_assert_true (g_spawn_async (NULL, (char **) argv, env, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &second, &error));
    g_assert_no_error (error);
  }
  FileHas waiting = { other_log, "is held by another connection; waiting up to 20 s" };
  g_assert_true (harness_wait_until (file_has, &waiting, 10000));
  /* The old one goes; the new one takes over and serves. */
  harness_kill (h, SIGTERM);
  g_assert_true (harness_wait_until (name_owned, h, 10000));
  g_autofree char *st = harness_get_s (h, "one", "Status");
  g_assert_cmpstr (st, ==, "active");
  kill (second, SIGTERM);
  waitpid (second, &status, 0);
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/bus/stalled-subscriber", test_stalled_subscriber);
  g_test_add_func ("/bus/stop-while-stalled", test_stop_while_stalled);
  g_test_add_func ("/bus/name-taken-over", test_name_taken_over);
  return g_test_run ();
}
