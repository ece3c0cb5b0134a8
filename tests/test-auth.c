/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Authorization and limits: sourced on a private system-type bus, polkit
 * as python-dbusmock's polkitd template (or absent), callers as root and
 * as nobody (through sourcectl, run with nobody's credentials). */
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define MGR_PATH "/org/sourced/Sourced1"
#define MGR_IFACE "org.sourced.Sourced1.Manager"

static uid_t nobody_uid;
static gid_t nobody_gid;



/* nobody cannot reach the build tree when the checkout sits in a private
 * folder (a home folder is 0700 or 0750): it runs a copy of sourcectl from
 * a staging folder of its own, which any user can read. The copy is made
 * once per test program and removed at exit. */
static char *staged_sourcectl;
static char *staging_dir;

static void
remove_staging (void)
{
  if (staged_sourcectl)
    unlink (staged_sourcectl);
  if (staging_dir)
    rmdir (staging_dir);
}

static const char *
sourcectl_for_nobody (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize len;

  if (staged_sourcectl)
    return staged_sourcectl;
  staging_dir = g_dir_make_tmp ("sourced-auth-stage-XXXXXX", &error);
  g_assert_no_error (error);
  g_assert_no_errno (chmod (staging_dir, 0755));
  g_assert_true (g_file_get_contents (g_getenv ("SOURCECTL_BINARY"), &contents, &len, &error));
  g_assert_no_error (error);
  staged_sourcectl = g_build_filename (staging_dir, "sourcectl", NULL);
  g_assert_true (g_file_set_contents_full (staged_sourcectl, contents, (gssize) len, G_FILE_SET_CONTENTS_NONE, 0755,
                                           &error));
  g_assert_no_error (error);
  atexit (remove_staging);
  return staged_sourcectl;
}

static void
become_nobody (gpointer user_data)
{
  if (setgroups (0, NULL) < 0 || setgid (nobody_gid) < 0 || setuid (nobody_uid) < 0)
    _exit (99);
}

/* sourcectl --system ARGS… as nobody. */
static HarnessRun
as_nobody (Harness *h, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_auto (GStrv) env = g_get_environ ();
  g_autoptr (GError) error = NULL;
  HarnessRun r = { 0 };
  int wait_status;
  va_list ap;
  const char *a;

  g_ptr_array_add (argv, (char *) sourcectl_for_nobody ());
  g_ptr_array_add (argv, (gpointer) "--system");
  va_start (ap, h);
  while ((a = va_arg (ap, const char *)))
    g_ptr_array_add (argv, (char *) a);
  va_end (ap);
  g_ptr_array_add (argv, NULL);
  env = g_environ_setenv (env, "DBUS_SYSTEM_BUS_ADDRESS", h->bus_address, TRUE);
  if (!g_spawn_sync ("/", (char **) argv->pdata, env, G_SPAWN_DEFAULT, become_nobody, NULL, &r.out, &r.err,
                     &wait_status, &error))
    g_error ("cannot run sourcectl as nobody: %s", error->message);
  g_assert_true (WIFEXITED (wait_status));
  r.status = WEXITSTATUS (wait_status);
  if (r.status == 99)
    g_error ("cannot become nobody (uid %u, gid %u) to run sourcectl", (unsigned) nobody_uid, (unsigned) nobody_gid);
  return r;
}

static gboolean
polkit_on_bus (gpointer h)
{
  return harness_name_has_owner (h, "org.freedesktop.PolicyKit1");
}

static GPid
start_polkit (Harness *h)
{
  const char *argv[] = { "/usr/bin/python3", "-m", "dbusmock", "--template", "polkitd", "--system", NULL };
  g_auto (GStrv) env = g_get_environ ();
  g_autoptr (GError) error = NULL;
  GPid pid;

  env = g_environ_setenv (env, "DBUS_SYSTEM_BUS_ADDRESS", h->bus_address, TRUE);
  g_assert_true (g_spawn_async (NULL, (char **) argv, env,
                                G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, &pid,
                                &error));
  g_assert_no_error (error);
  g_assert_true (harness_wait_until (polkit_on_bus, h, 5000));
  return pid;
}

static void
stop_polkit (GPid pid)
{
  kill (pid, SIGTERM);
  waitpid (pid, NULL, 0);
}

static void
polkit_allow (Harness *h, const char *action)
{
  sd_bus_message *m = NULL;
  const char *actions[] = { action, NULL };

  g_assert_cmpint (sd_bus_message_new_method_call (h->client, &m, "org.freedesktop.PolicyKit1",
                                                   "/org/freedesktop/PolicyKit1/Authority",
                                                   "org.freedesktop.DBus.Mock", "SetAllowed"), >=, 0);
  g_assert_cmpint (sd_bus_message_append_strv (m, (char **) (action ? actions : actions + 1)), >=, 0);
  g_assert_cmpint (sd_bus_call (h->client, m, 0, NULL, NULL), >=, 0);
  sd_bus_message_unref (m);
}

static Harness *
system_harness (void)
{
  Harness *h = harness_new_full (TRUE);

  /* nobody must reach the bus socket. */
  g_assert_no_errno (chmod (h->dir, 0755));
  harness_write_definition (h, "shop", "[Source]\nExec=sleep 1000\n");
  return h;
}

/* What calling as nobody needs. Missing, the case fails with one line
 * that says how to get it: a suite that cannot test authorization must not
 * pass as if it had. */
static gboolean
need_root (void)
{
  struct passwd *pw = getpwnam ("nobody");

  if (getuid () != 0)
    {
      g_test_fail_printf ("needs root, to call as nobody: run the test command as root");
      return FALSE;
    }
  if (!pw)
    {
      g_test_fail_printf ("there is no user 'nobody' to call as: add it (useradd --system nobody)");
      return FALSE;
    }
  if (!g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_fail_printf ("needs /usr/bin/python3 with python3-dbusmock: bash tools/install-deps.sh --test");
      return FALSE;
    }
  nobody_uid = pw->pw_uid;
  nobody_gid = pw->pw_gid;
  return TRUE;
}

static void
test_polkit_decides (void)
{
  if (!need_root ())
    return;
  g_autoptr (Harness) h = system_harness ();
  GPid polkit = start_polkit (h);
  harness_start (h, NULL);

  /* control allowed, manage not. The Manager's gate is control. */
  polkit_allow (h, "org.sourced.Sourced1.control");
  {
    g_auto (HarnessRun) r = as_nobody (h, "pause", "shop", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_cmpuint (harness_get_t (h, "shop", "PausedAt"), !=, 0);
    /* Set goes through the same check. */
    g_auto (HarnessRun) s = as_nobody (h, "pause", "shop", "--at", "2019-06-01T00:00:00Z", NULL);
    g_assert_cmpint (s.status, ==, 0);
    g_assert_cmpuint (harness_get_t (h, "shop", "PausedAt"), ==, G_GUINT64_CONSTANT (1559347200000000));
  }
  {
    g_auto (HarnessRun) r = as_nobody (h, "create", "x", "--exec", "true", NULL);
    g_assert_cmpint (r.status, ==, 1);
    g_assert_true (g_str_has_prefix (r.err, "sourcectl: permission denied: "));
    g_assert_nonnull (strstr (r.err, "org.sourced.Sourced1.manage"));
    g_auto (HarnessRun) ids = as_nobody (h, "list", "--quiet", NULL);
    g_assert_cmpstr (ids.out, ==, "shop\n");
    g_auto (HarnessRun) gate = as_nobody (h, "pause-all", NULL);
    g_assert_cmpint (gate.status, ==, 0);
    g_assert_cmpuint (harness_manager_get_t (h, "PausedAt"), !=, 0);
    g_auto (HarnessRun) ungate = as_nobody (h, "unpause-all", NULL);
    g_assert_cmpint (ungate.status, ==, 0);
    g_assert_cmpuint (harness_manager_get_t (h, "PausedAt"), ==, 0);
    g_auto (HarnessRun) reload = as_nobody (h, "reload", NULL);
    g_assert_cmpint (reload.status, ==, 1);
  }

  /* Nothing allowed: denied, nothing changes, nothing is announced. */
  polkit_allow (h, NULL);
  harness_clear_signals (h);
  {
    g_auto (HarnessRun) r = as_nobody (h, "unpause", "shop", NULL);
    g_assert_cmpint (r.status, ==, 1);
    g_assert_nonnull (strstr (r.err, "Access denied to org.sourced.Sourced1.Source.Unpause"));
    g_assert_nonnull (strstr (r.err, "org.sourced.Sourced1.control"));
    g_auto (HarnessRun) stop = as_nobody (h, "stop", "shop", NULL);
    g_assert_cmpint (stop.status, ==, 1);
    harness_sync (h);
    g_assert_cmpuint (harness_get_t (h, "shop", "PausedAt"), ==, G_GUINT64_CONSTANT (1559347200000000));
    g_autofree char *st = harness_get_s (h, "shop", "Status");
    g_assert_cmpstr (st, ==, "paused");
    g_assert_cmpuint (harness_count_changed (h, "shop", NULL), ==, 0);
  }
  {
    /* Reading stays open. */
    g_auto (HarnessRun) r = as_nobody (h, "show", "shop", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_nonnull (strstr (r.out, "Status=paused\n"));
  }
  {
    /* Root is always allowed. */
    harness_call (h, MGR_PATH, MGR_IFACE, "CreateSource", NULL, NULL, "sa{sv}", "byroot", 1, "Exec", "s",
                  "sleep 100");
    harness_source_call_ok (h, "shop", "Unpause");
    g_assert_cmpuint (harness_get_t (h, "shop", "PausedAt"), ==, 0);
  }
  stop_polkit (polkit);
}

static void
test_without_polkit_the_group_decides (void)
{
  if (!need_root ())
    return;
  g_autoptr (Harness) h = system_harness ();
  struct group *gr = getgrgid (nobody_gid);
  g_assert_nonnull (gr);
  g_autofree char *group_arg = g_strdup_printf ("--group=%s", gr->gr_name);

  /* nobody's own group is the allowed one. */
  harness_start (h, group_arg, NULL);
  {
    g_auto (HarnessRun) r = as_nobody (h, "pause", "shop", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_cmpuint (harness_get_t (h, "shop", "PausedAt"), !=, 0);
  }
  harness_kill (h, SIGTERM);

  /* The default group, "sourced", nobody is not in. */
  harness_start (h, "--group=sourced-test-no-such-group", NULL);
  {
    g_auto (HarnessRun) r = as_nobody (h, "unpause", "shop", NULL);
    g_assert_cmpint (r.status, ==, 1);
    g_assert_nonnull (strstr (r.err, "not in group 'sourced-test-no-such-group' (polkit is not running)"));
    g_assert_cmpuint (harness_get_t (h, "shop", "PausedAt"), !=, 0);
  }
}

static void
test_rate_limit (void)
{
  if (!need_root ())
    return;
  g_autoptr (Harness) h = system_harness ();
  struct group *gr = getgrgid (nobody_gid);
  g_autofree char *group_arg = g_strdup_printf ("--group=%s", gr->gr_name);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();

  harness_start (h, group_arg, "--rate-limit=5", NULL);
  /* 40 calls at once from one caller: the first ten (the burst) pass, then
   * LimitsExceeded. */
  {
    g_auto (HarnessRun) r = as_nobody (h, "pause", "shop", "shop", "shop", "shop", "shop", "shop", "shop", "shop", "shop",
                                "shop", "shop", "shop", "shop", "shop", "shop", "shop", "shop", "shop", "shop",
                                "shop", "shop", "shop", "shop", "shop", "shop", "shop", "shop", "shop", "shop",
                                "shop", "shop", "shop", "shop", "shop", "shop", "shop", "shop", "shop", "shop",
                                "shop", NULL);
    g_assert_cmpint (r.status, ==, 1);
    g_assert_nonnull (strstr (r.err, "Too many changing calls from "));
    g_assert_nonnull (strstr (r.err, "at most 5 a second"));
  }
  /* Others are served meanwhile; root is not limited. */
  for (int i = 0; i < 40; i++)
    harness_source_call_ok (h, "shop", i % 2 ? "Pause" : "Unpause");
}

/* A monitor connection that sees the bus calls asking who a caller is. */
static sd_bus *
watch_identity_lookups (Harness *h)
{
  sd_bus *mon = NULL;
  sd_bus_message *m = NULL;

  g_assert_cmpint (sd_bus_new (&mon), >=, 0);
  g_assert_cmpint (sd_bus_set_address (mon, h->bus_address), >=, 0);
  g_assert_cmpint (sd_bus_set_monitor (mon, 1), >=, 0);
  g_assert_cmpint (sd_bus_set_bus_client (mon, 1), >=, 0);
  g_assert_cmpint (sd_bus_start (mon), >=, 0);
  g_assert_cmpint (sd_bus_message_new_method_call (mon, &m, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                                   "org.freedesktop.DBus.Monitoring", "BecomeMonitor"), >=, 0);
  g_assert_cmpint (sd_bus_message_append (m, "asu", 3, "type='method_call',member='GetConnectionUnixUser'",
                                          "type='method_call',member='GetConnectionCredentials'",
                                          "type='method_call',member='GetConnectionUnixProcessID'", 0), >=, 0);
  g_assert_cmpint (sd_bus_call (mon, m, 0, NULL, NULL), >=, 0);
  sd_bus_message_unref (m);
  return mon;
}

/* How many lookups the monitor has seen since the last count. */
static guint
count_identity_lookups (sd_bus *mon)
{
  guint n = 0;

  /* The lookups came before the replies the caller has; what is still on
   * its way is in the socket within a moment. */
  for (;;)
    {
      sd_bus_message *m = NULL;
      int r = sd_bus_process (mon, &m);
      g_assert_cmpint (r, >=, 0);
      if (m)
        {
          if (sd_bus_message_is_method_call (m, NULL, NULL) &&
              g_str_has_prefix (sd_bus_message_get_member (m), "GetConnection"))
            n++;
          sd_bus_message_unref (m);
        }
      if (r == 0 && sd_bus_wait (mon, 200 * 1000) == 0)
        return n;
    }
}

/* On the system bus, who the caller is is asked of the bus once per
 * connection, not for every call (which blocked the daemon for a round trip
 * each time). */
static void
test_caller_identity_asked_once (void)
{
  if (getuid () != 0)
    {
      g_test_skip ("needs root (the calls must be allowed)");
      return;
    }
  g_autoptr (Harness) h = system_harness ();
  harness_start (h, NULL);
  sd_bus *mon = watch_identity_lookups (h);

  for (int i = 0; i < 6; i++)
    harness_source_call_ok (h, "shop", i % 2 ? "Unpause" : "Pause");
  g_assert_cmpuint (harness_get_t (h, "shop", "PausedAt"), ==, 0);
  g_assert_cmpuint (count_identity_lookups (mon), ==, 1);

  /* A new connection (another sourcectl run, say) is a new caller. */
  {
    sd_bus *other = harness_connect (h);
    g_autofree char *path = source_path ("shop");
    for (int i = 0; i < 3; i++)
      g_assert_cmpint (sd_bus_call_method (other, "org.sourced.Sourced1", path, "org.sourced.Sourced1.Source",
                                           "Pause", NULL, NULL, ""), >=, 0);
    sd_bus_flush_close_unref (other);
  }
  g_assert_cmpuint (harness_get_t (h, "shop", "PausedAt"), !=, 0);
  g_assert_cmpuint (count_identity_lookups (mon), ==, 1);
  sd_bus_flush_close_unref (mon);
}

/* Limits that need no second user. */
static void
test_max_sources_and_lengths (void)
{
  g_autoptr (Harness) h = harness_new ();
  sd_bus_error e = SD_BUS_ERROR_NULL;
  g_autofree char *log = NULL;
  g_autofree char *long_exec = g_strnfill (5000, 'x');

  harness_write_definition (h, "a", "[Source]\nExec=sleep 100\n");
  harness_write_definition (h, "b", "[Source]\nExec=sleep 100\n");
  harness_write_definition (h, "c", "[Source]\nExec=sleep 100\n");
  harness_start (h, "--max-sources=2", NULL);
  log = harness_log (h);
  g_assert_nonnull (strstr (log, ".source:0: skipped: sourced already has 2 sources, the most it takes"));
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "CreateSource", &e, NULL, "sa{sv}", "d", 1, "Exec", "s",
                                 "true"), <, 0);
  g_assert_cmpstr (e.name, ==, "org.freedesktop.DBus.Error.LimitsExceeded");
  g_assert_nonnull (strstr (e.message, "--max-sources"));
  sd_bus_error_free (&e);

  harness_kill (h, SIGTERM);
  harness_remove_definition (h, "c");
  harness_start (h, NULL);
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "CreateSource", &e, NULL, "sa{sv}", "long", 1, "Exec", "s",
                                 long_exec), <, 0);
  g_assert_cmpstr (e.name, ==, "org.freedesktop.DBus.Error.InvalidArgs");
  g_assert_nonnull (strstr (e.message, "Exec"));
  g_assert_nonnull (strstr (e.message, "4096"));
  sd_bus_error_free (&e);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/auth/polkit-decides", test_polkit_decides);
  g_test_add_func ("/auth/no-polkit-group", test_without_polkit_the_group_decides);
  g_test_add_func ("/auth/rate-limit", test_rate_limit);
  g_test_add_func ("/auth/caller-identity-asked-once", test_caller_identity_asked_once);
  g_test_add_func ("/auth/max-sources-lengths", test_max_sources_and_lengths);
  return g_test_run ();
}
