/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sourcectl against the real daemon on a private bus: output, exit codes,
 * JSON field by field, monitor, bad usage. */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>
#include <glib-unix.h>
#include <json-glib/json-glib.h>

#include "harness.h"

#define MGR_PATH "/org/sourced/Sourced1"
#define MGR_IFACE "org.sourced.Sourced1.Manager"

static const char *
sourcectl_binary (void)
{
  const char *b = g_getenv ("SOURCECTL_BINARY");
  g_assert_nonnull (b);
  return b;
}

static char **
cli_env (Harness *h)
{
  char **env = g_get_environ ();
  env = g_environ_setenv (env, "DBUS_SESSION_BUS_ADDRESS", h ? h->bus_address : "unix:path=/nonexistent", TRUE);
  env = g_environ_unsetenv (env, "NO_COLOR");
  return env;
}

/* Runs sourcectl --user ARGS… (NULL-terminated) and returns what it did. */
static HarnessRun
run (Harness *h, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_auto (GStrv) env = cli_env (h);
  g_autoptr (GError) error = NULL;
  HarnessRun r = { 0 };
  int wait_status;
  va_list ap;
  const char *a;

  g_ptr_array_add (argv, (char *) sourcectl_binary ());
  g_ptr_array_add (argv, (gpointer) "--user");
  va_start (ap, h);
  while ((a = va_arg (ap, const char *)))
    g_ptr_array_add (argv, (char *) a);
  va_end (ap);
  g_ptr_array_add (argv, NULL);
  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, env, G_SPAWN_DEFAULT, NULL, NULL, &r.out, &r.err,
                               &wait_status, &error));
  g_assert_no_error (error);
  g_assert_true (WIFEXITED (wait_status));
  r.status = WEXITSTATUS (wait_status);
  /* Not a terminal: never a colour escape. */
  g_assert_null (strchr (r.out, '\033'));
  return r;
}

static JsonNode *
parse_json (const char *text)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;

  if (!json_parser_load_from_data (parser, text, -1, &error))
    g_error ("not JSON (%s): %s", error->message, text);
  return json_node_copy (json_parser_get_root (parser));
}

static Harness *
start (void)
{
  Harness *h = harness_new ();
  harness_write_definition (h, "shop", "[Source]\nDisplayName=Shopify\nExec=sleep 1000\n");
  harness_write_definition (h, "hourly", "[Source]\nExec=sleep 0.2\nFrequencyMinutes=60\nInitialState=paused\n");
  harness_start (h, NULL);
  return h;
}

static guint64
iso_to_usec (const char *iso)
{
  g_autoptr (GDateTime) dt = g_date_time_new_from_iso8601 (iso, NULL);
  g_assert_nonnull (dt);
  return (guint64) g_date_time_to_unix (dt) * G_USEC_PER_SEC;
}

/* ---- reading ---------------------------------------------------------- */

static void
test_list (void)
{
  g_autoptr (Harness) h = start ();
  g_auto (HarnessRun) table = run (h, "list", NULL);
  g_auto (HarnessRun) bare = run (h, "list", "--no-legend", NULL);
  g_auto (HarnessRun) ids = run (h, "list", "--quiet", NULL);
  g_auto (HarnessRun) json = run (h, "list", "--json", NULL);
  g_autoptr (JsonNode) root = NULL;
  g_auto (GStrv) lines = NULL;

  g_assert_cmpint (table.status, ==, 0);
  lines = g_strsplit (table.out, "\n", -1);
  g_assert_true (g_str_has_prefix (lines[0], "ID"));
  g_assert_nonnull (strstr (lines[0], "STATUS"));
  g_assert_nonnull (strstr (lines[0], "SCHEDULE"));
  /* Sorted by id, columns aligned under their headers. */
  g_assert_true (g_str_has_prefix (lines[1], "hourly"));
  g_assert_true (g_str_has_prefix (lines[2], "shop"));
  g_assert_cmpint (strstr (lines[1], "paused") - lines[1], ==, strstr (lines[0], "STATUS") - lines[0]);
  g_assert_cmpint (strstr (lines[2], "active") - lines[2], ==, strstr (lines[0], "STATUS") - lines[0]);
  g_assert_nonnull (strstr (lines[1], "every 60 min"));
  g_assert_nonnull (strstr (lines[2], "continuous"));
  g_assert_nonnull (strstr (lines[2], "Shopify"));
  g_assert_nonnull (strstr (table.out, "\n2 sources listed.\n"));

  g_assert_true (g_str_has_prefix (bare.out, "hourly"));
  g_assert_null (strstr (bare.out, "listed"));
  g_assert_cmpstr (ids.out, ==, "hourly\nshop\n");

  /* JSON: the Stitch source object, field by field. */
  g_assert_cmpint (json.status, ==, 0);
  root = parse_json (json.out);
  JsonArray *array = json_node_get_array (root);
  g_assert_cmpuint (json_array_get_length (array), ==, 2);
  JsonObject *hourly = json_array_get_object_element (array, 0);
  JsonObject *shop = json_array_get_object_element (array, 1);
  g_assert_cmpstr (json_object_get_string_member (shop, "id"), ==, "shop");
  g_assert_cmpstr (json_object_get_string_member (shop, "display_name"), ==, "Shopify");
  g_assert_cmpstr (json_object_get_string_member (shop, "type"), ==, "exec");
  g_assert_cmpstr (json_object_get_string_member (shop, "status"), ==, "active");
  g_assert_true (json_object_get_boolean_member (shop, "active"));
  g_assert_true (json_node_is_null (json_object_get_member (shop, "paused_at")));
  g_assert_true (json_node_is_null (json_object_get_member (shop, "system_paused_at")));
  g_assert_true (json_node_is_null (json_object_get_member (shop, "schedule")));
  g_assert_cmpuint (iso_to_usec (json_object_get_string_member (shop, "created_at")), ==,
                    harness_get_t (h, "shop", "CreatedAt") / G_USEC_PER_SEC * G_USEC_PER_SEC);
  g_assert_cmpuint (json_object_get_int_member (shop, "main_pid"), ==, harness_get_u (h, "shop", "MainPID"));
  JsonObject *counters = json_object_get_object_member (shop, "counters");
  g_assert_cmpint (json_object_get_int_member (counters, "records_delivered"), ==, 0);

  g_assert_cmpstr (json_object_get_string_member (hourly, "status"), ==, "paused");
  g_assert_cmpuint (iso_to_usec (json_object_get_string_member (hourly, "paused_at")), ==,
                    harness_get_t (h, "hourly", "PausedAt") / G_USEC_PER_SEC * G_USEC_PER_SEC);
  JsonObject *schedule = json_object_get_object_member (hourly, "schedule");
  g_assert_cmpstr (json_object_get_string_member (schedule, "type"), ==, "interval");
  g_assert_cmpint (json_object_get_int_member (schedule, "frequency_in_minutes"), ==, 60);
  g_assert_true (json_node_is_null (json_object_get_member (schedule, "cron_expression")));
}

static void
test_status_and_show (void)
{
  g_autoptr (Harness) h = start ();
  g_auto (HarnessRun) one = run (h, "status", "shop", NULL);
  g_auto (HarnessRun) all = run (h, "status", NULL);
  g_auto (HarnessRun) missing = run (h, "status", "shop", "nope", NULL);
  g_auto (HarnessRun) show = run (h, "show", "shop", NULL);
  g_auto (HarnessRun) show_json = run (h, "show", "--json", "hourly", NULL);
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *pid_line = g_strdup_printf ("Main PID: %u\n", harness_get_u (h, "shop", "MainPID"));

  g_assert_cmpint (one.status, ==, 0);
  g_assert_true (g_str_has_prefix (one.out, "shop - Shopify\n"));
  g_assert_nonnull (strstr (one.out, "Status: active (delivering)\n"));
  g_assert_nonnull (strstr (one.out, pid_line));
  g_assert_nonnull (strstr (one.out, "Created: 20")); /* ISO 8601, then (now) or (N s ago) */
  g_assert_nonnull (strstr (one.out, "Z (now)\n") ? "" : strstr (one.out, " ago)\n"));

  g_assert_cmpint (all.status, ==, 0);
  g_assert_nonnull (strstr (all.out, "2 sources; running"));
  g_assert_nonnull (strstr (all.out, "hourly\n"));
  g_assert_nonnull (strstr (all.out, "Next run: "));

  /* One unknown id: the others are still shown, the exit code says so. */
  g_assert_cmpint (missing.status, ==, 4);
  g_assert_cmpstr (missing.err, ==, "sourcectl: source 'nope' not found\n");
  g_assert_true (g_str_has_prefix (missing.out, "shop - Shopify\n"));

  /* show: every property of the interface, one per line. */
  g_assert_cmpint (show.status, ==, 0);
  const char *props[] = { "Id=shop", "DisplayName=Shopify", "Type=exec", "Status=active", "PausedAt=",
                          "SystemPausedAt=", "Active=yes", "CreatedAt=2", "UpdatedAt=2", "FrequencyMinutes=0",
                          "CronExpression=", "LastError=", "MainPID=", "RecordsDelivered=0", "BytesDelivered=0",
                          "LastRecordAt=", "Bookmark=", "NextRunAt=", "LastJobStartedAt=", "LastExitStatus=0",
                          "NRestarts=0", "NextRetryAt=", "Sink=" };
  g_auto (GStrv) lines = g_strsplit (show.out, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, G_N_ELEMENTS (props) + 1);
  for (guint i = 0; i < G_N_ELEMENTS (props); i++)
    {
      g_autofree char *needle = g_strconcat ("\n", props[i], NULL);
      g_autofree char *hay = g_strconcat ("\n", show.out, NULL);
      if (!strstr (hay, needle))
        g_error ("show lacks %s:\n%s", props[i], show.out);
    }

  g_assert_cmpint (show_json.status, ==, 0);
  root = parse_json (show_json.out);
  JsonObject *obj = json_node_get_object (root);
  g_assert_cmpstr (json_object_get_string_member (obj, "Id"), ==, "hourly");
  g_assert_cmpint (json_object_get_int_member (obj, "FrequencyMinutes"), ==, 60);
  g_assert_false (json_object_get_boolean_member (obj, "Active"));
  g_assert_true (json_node_is_null (json_object_get_member (obj, "LastJobStartedAt")));
  g_assert_nonnull (json_object_get_string_member (obj, "NextRunAt"));
}

/* ---- changing --------------------------------------------------------- */

static void
test_pause_unpause (void)
{
  g_autoptr (Harness) h = start ();

  {
    g_auto (HarnessRun) r = run (h, "pause", "shop", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_cmpstr (r.out, ==, "");
    g_assert_cmpuint (harness_get_t (h, "shop", "PausedAt"), !=, 0);
  }
  {
    /* The Stitch example. */
    g_auto (HarnessRun) r = run (h, "pause", "shop", "--at", "2019-06-01T00:00:00Z", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_cmpuint (harness_get_t (h, "shop", "PausedAt"), ==, G_GUINT64_CONSTANT (1559347200000000));
  }
  {
    g_auto (HarnessRun) r = run (h, "unpause", "shop", "hourly", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_cmpuint (harness_get_t (h, "shop", "PausedAt"), ==, 0);
    g_assert_cmpuint (harness_get_t (h, "hourly", "PausedAt"), ==, 0);
  }
  {
    g_auto (HarnessRun) r = run (h, "pause", "shop", "--at", "yesterday", NULL);
    g_assert_cmpint (r.status, ==, 2);
    g_assert_true (g_str_has_prefix (r.err, "sourcectl: --at wants a time in ISO 8601"));
    g_assert_cmpuint (harness_get_t (h, "shop", "PausedAt"), ==, 0);
  }
  {
    /* Several ids: the known ones are paused, the exit code tells of the
     * unknown one. */
    g_auto (HarnessRun) r = run (h, "pause", "nope", "shop", NULL);
    g_assert_cmpint (r.status, ==, 4);
    g_assert_cmpstr (r.err, ==, "sourcectl: source 'nope' not found\n");
    g_assert_cmpuint (harness_get_t (h, "shop", "PausedAt"), !=, 0);
  }
  {
    g_auto (HarnessRun) r = run (h, "pause-all", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_cmpuint (harness_manager_get_t (h, "PausedAt"), !=, 0);
    g_auto (HarnessRun) l = run (h, "list", NULL);
    g_assert_nonnull (strstr (l.out, "All sources are held"));
    g_auto (HarnessRun) u = run (h, "unpause-all", NULL);
    g_assert_cmpint (u.status, ==, 0);
    g_assert_cmpuint (harness_manager_get_t (h, "PausedAt"), ==, 0);
  }
}

static void
test_start_stop_restart_run (void)
{
  g_autoptr (Harness) h = start ();
  guint32 pid = harness_get_u (h, "shop", "MainPID");

  {
    /* start leaves a running source alone; restart replaces its worker. */
    g_auto (HarnessRun) r = run (h, "start", "shop", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_cmpuint (harness_get_u (h, "shop", "MainPID"), ==, pid);
    g_auto (HarnessRun) rr = run (h, "restart", "shop", NULL);
    g_assert_cmpint (rr.status, ==, 0);
    g_assert_cmpuint (harness_get_u (h, "shop", "MainPID"), !=, pid);
    g_assert_cmpuint (harness_get_u (h, "shop", "MainPID"), !=, 0);
  }
  {
    g_auto (HarnessRun) r = run (h, "stop", "shop", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_autofree char *st = harness_get_s (h, "shop", "Status");
    g_assert_cmpstr (st, ==, "stopped");
    g_auto (HarnessRun) again = run (h, "stop", "shop", NULL);
    g_assert_cmpint (again.status, ==, 5);
    g_assert_cmpstr (again.err, ==, "sourcectl: Unable to stop source 'shop': not in a stoppable state\n");
    g_auto (HarnessRun) s = run (h, "start", "shop", NULL);
    g_assert_cmpint (s.status, ==, 0);
    g_assert_true (harness_wait_status (h, "shop", "active", 1000));
  }
  {
    g_auto (HarnessRun) r = run (h, "run", "hourly", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_true (g_str_has_prefix (r.out, "hourly: job started at 20"));
    g_assert_cmpuint (harness_get_t (h, "hourly", "LastJobStartedAt"), !=, 0);
    g_auto (HarnessRun) c = run (h, "run", "shop", NULL);
    g_assert_cmpint (c.status, ==, 1);
    g_assert_true (g_str_has_prefix (c.err, "sourcectl: Source 'shop' is not scheduled"));
  }
}

static void
test_create_remove_reload (void)
{
  g_autoptr (Harness) h = start ();

  {
    g_auto (HarnessRun) r = run (h, "create", "made", "--exec", "sleep 100", "--frequency", "30", "--paused", "--name",
                          "Made by hand", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_cmpuint (harness_get_u (h, "made", "FrequencyMinutes"), ==, 30);
    g_autofree char *name = harness_get_s (h, "made", "DisplayName");
    g_assert_cmpstr (name, ==, "Made by hand");
    g_autofree char *st = harness_get_s (h, "made", "Status");
    g_assert_cmpstr (st, ==, "paused");
  }
  {
    g_auto (HarnessRun) r = run (h, "create", "made", "--exec", "true", NULL);
    g_assert_cmpint (r.status, ==, 1);
    g_assert_nonnull (strstr (r.err, "made"));
    g_assert_nonnull (strstr (r.err, "exists"));
  }
  {
    g_auto (HarnessRun) r = run (h, "create", "bad", "--exec", "true", "--type", "csv", NULL);
    g_assert_cmpint (r.status, ==, 1);
    g_assert_nonnull (strstr (r.err, "Type"));
  }
  {
    g_auto (HarnessRun) a = run (h, "create", "x", NULL);
    g_assert_cmpint (a.status, ==, 2);
    g_assert_true (g_str_has_prefix (a.err, "sourcectl: create needs --exec COMMAND\n"));
    g_auto (HarnessRun) b = run (h, "create", "x", "--exec", "true", "--frequency", "5", "--cron", "* * * * *", NULL);
    g_assert_cmpint (b.status, ==, 2);
    g_auto (HarnessRun) c = run (h, "create", "x", "--exec", "true", "--paused", "--stopped", NULL);
    g_assert_cmpint (c.status, ==, 2);
    g_auto (HarnessRun) d = run (h, "create", "x", "--exec", "true", "--frequency", "often", NULL);
    g_assert_cmpint (d.status, ==, 2);
    g_auto (HarnessRun) ids = run (h, "list", "-q", NULL);
    g_assert_null (strstr (ids.out, "x\n"));
  }
  {
    g_auto (HarnessRun) r = run (h, "remove", "made", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_auto (HarnessRun) gone = run (h, "status", "made", NULL);
    g_assert_cmpint (gone.status, ==, 4);
    /* Files belong to whoever manages the configuration. */
    g_auto (HarnessRun) file = run (h, "remove", "shop", NULL);
    g_assert_cmpint (file.status, ==, 1);
    g_assert_nonnull (strstr (file.err, "remove the file and Reload"));
  }
  {
    harness_write_definition (h, "later", "[Source]\nExec=sleep 100\n");
    g_auto (HarnessRun) r = run (h, "reload", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_auto (HarnessRun) ids = run (h, "list", "-q", NULL);
    g_assert_cmpstr (ids.out, ==, "hourly\nlater\nshop\n");
  }
}

/* ---- monitor ---------------------------------------------------------- */

static char *
read_line (int fd)
{
  GString *line = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  char c;

  while (g_get_monotonic_time () < deadline)
    {
      ssize_t n = read (fd, &c, 1);
      if (n == 1 && c == '\n')
        return g_string_free (line, FALSE);
      if (n == 1)
        g_string_append_c (line, c);
      else if (n == 0)
        break;
      else
        {
          /* Nothing yet: wait for the monitor to write, until the deadline. */
          struct pollfd pfd = { .fd = fd, .events = POLLIN };
          poll (&pfd, 1, (int) MAX (1, (deadline - g_get_monotonic_time ()) / 1000));
        }
    }
  g_error ("no line from monitor (got '%s')", line->str);
}

static void
check_monitor (Harness *h, gboolean json)
{
  const char *argv[] = { sourcectl_binary (), "--user", "monitor", json ? "--json" : NULL, NULL };
  g_auto (GStrv) env = cli_env (h);
  g_autoptr (GError) error = NULL;
  int out_fd, err_fd;
  GPid pid;

  g_assert_true (g_spawn_async_with_pipes (NULL, (char **) argv, env, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid,
                                           NULL, &out_fd, &err_fd, &error));
  g_assert_no_error (error);
  g_unix_set_fd_nonblocking (out_fd, TRUE, NULL);
  g_unix_set_fd_nonblocking (err_fd, TRUE, NULL);
  /* It says when it listens; from then on no change is missed. */
  g_autofree char *hello = read_line (err_fd);
  g_assert_true (g_str_has_prefix (hello, "Monitoring sourced on the user bus."));

  /* A change made by another client. */
  harness_source_call_ok (h, "shop", "Pause");
  g_autofree char *line = read_line (out_fd);
  if (json)
    {
      g_autoptr (JsonNode) root = parse_json (line);
      JsonObject *obj = json_node_get_object (root);
      g_assert_cmpstr (json_object_get_string_member (obj, "event"), ==, "changed");
      g_assert_cmpstr (json_object_get_string_member (obj, "id"), ==, "shop");
      JsonObject *props = json_object_get_object_member (obj, "properties");
      g_assert_cmpstr (json_object_get_string_member (props, "status"), ==, "paused");
      g_assert_false (json_object_get_boolean_member (props, "active"));
      g_assert_nonnull (json_object_get_string_member (props, "paused_at"));
    }
  else
    {
      g_assert_nonnull (strstr (line, " shop changed: "));
      g_assert_nonnull (strstr (line, "Status=paused"));
      g_assert_nonnull (strstr (line, "PausedAt=20"));
    }
  harness_source_call_ok (h, "shop", "Unpause");
  g_free (read_line (out_fd));

  /* Sources that come and go. */
  harness_call (h, MGR_PATH, MGR_IFACE, "CreateSource", NULL, NULL, "sa{sv}", "new", 1, "Exec", "s", "sleep 100");
  g_autofree char *added = read_line (out_fd);
  if (json)
    {
      g_autoptr (JsonNode) root = parse_json (added);
      g_assert_cmpstr (json_object_get_string_member (json_node_get_object (root), "event"), ==, "added");
      g_assert_cmpstr (json_object_get_string_member (json_node_get_object (root), "id"), ==, "new");
    }
  else
    g_assert_true (g_str_has_suffix (added, " new added"));
  harness_call (h, MGR_PATH, MGR_IFACE, "RemoveSource", NULL, NULL, "s", "new");
  gboolean removed = FALSE;
  for (int i = 0; i < 4 && !removed; i++)
    {
      g_autofree char *l = read_line (out_fd);
      removed = strstr (l, json ? "\"removed\"" : " new removed") != NULL;
    }
  g_assert_true (removed);

  kill (pid, SIGINT);
  int status;
  waitpid (pid, &status, 0);
  g_spawn_close_pid (pid);
  close (out_fd);
  close (err_fd);
}

static void
test_monitor (void)
{
  g_autoptr (Harness) h = start ();

  check_monitor (h, FALSE);
  check_monitor (h, TRUE);
}

/* ---- usage ------------------------------------------------------------ */

static void
test_usage_and_help (void)
{
  g_autoptr (Harness) h = start ();

  {
    g_auto (HarnessRun) r = run (h, NULL);
    g_assert_cmpint (r.status, ==, 2);
    g_assert_cmpstr (r.err, ==, "sourcectl: no command given\nTry 'sourcectl --help'.\n");
  }
  {
    g_auto (HarnessRun) r = run (h, "frobnicate", NULL);
    g_assert_cmpint (r.status, ==, 2);
    g_assert_true (g_str_has_prefix (r.err, "sourcectl: unknown command 'frobnicate'\n"));
  }
  {
    g_auto (HarnessRun) r = run (h, "list", "--bogus", NULL);
    g_assert_cmpint (r.status, ==, 2);
    g_assert_nonnull (strstr (r.err, "--bogus"));
  }
  {
    g_auto (HarnessRun) r = run (h, "list", "extra", NULL);
    g_assert_cmpint (r.status, ==, 2);
    g_auto (HarnessRun) p = run (h, "pause", NULL);
    g_assert_cmpint (p.status, ==, 2);
    g_auto (HarnessRun) j = run (h, "stop", "shop", "--json", NULL); /* not a reading command */
    g_assert_cmpint (j.status, ==, 2);
    g_autofree char *st = harness_get_s (h, "shop", "Status");
    g_assert_cmpstr (st, ==, "active");
  }
  {
    g_auto (HarnessRun) r = run (h, "--help", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_nonnull (strstr (r.out, "Exit status:"));
    g_assert_nonnull (strstr (r.out, "  4  no such source"));
    g_assert_nonnull (strstr (r.out, "pause-all"));
    g_auto (HarnessRun) c = run (h, "pause", "--help", NULL);
    g_assert_cmpint (c.status, ==, 0);
    g_assert_true (g_str_has_prefix (c.out, "sourcectl [OPTIONS...] pause ID... [--at TIME]\n"));
    g_assert_nonnull (strstr (c.out, "--at TIME"));
    g_auto (HarnessRun) hc = run (h, "help", "create", NULL);
    g_assert_cmpint (hc.status, ==, 0);
    g_assert_nonnull (strstr (hc.out, "--frequency MIN"));
  }
  {
    /* No sourced on the bus. */
    g_autoptr (Harness) empty = harness_new ();
    harness_start (empty, NULL);
    harness_kill (empty, SIGTERM);
    g_auto (HarnessRun) r = run (empty, "list", NULL);
    g_assert_cmpint (r.status, ==, 1);
    g_assert_cmpstr (r.err, ==, "sourcectl: sourced is not running (no org.sourced.Sourced1 on the user bus)\n");
  }
}

/* The completion script offers commands and live ids. */
static void
test_bash_completion (void)
{
  g_autoptr (Harness) h = start ();
  const char *script = g_getenv ("SOURCECTL_COMPLETION");
  g_autofree char *bindir = g_path_get_dirname (sourcectl_binary ());
  g_autofree char *cmd = NULL;
  g_auto (GStrv) env = cli_env (h);
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;
  int status;

  g_assert_nonnull (script);
  g_autofree char *path = g_strconcat (bindir, ":", g_environ_getenv (env, "PATH"), NULL);
  env = g_environ_setenv (env, "PATH", path, TRUE);
  cmd = g_strdup_printf ("source '%s'; "
                         "COMP_WORDS=(sourcectl --user pa); COMP_CWORD=2; _sourcectl; echo \"${COMPREPLY[*]}\"; "
                         "COMP_WORDS=(sourcectl --user stop s); COMP_CWORD=3; _sourcectl; echo \"${COMPREPLY[*]}\"",
                         script);
  const char *argv[] = { "bash", "-c", cmd, NULL };
  g_assert_true (g_spawn_sync (NULL, (char **) argv, env, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, NULL, &status,
                               &error));
  g_assert_no_error (error);
  g_assert_cmpstr (out, ==, "pause pause-all\nshop\n");
}

/* Globs, as systemctl takes them: one bulk call on the daemon's side. */
static void
test_globs (void)
{
  g_autoptr (Harness) h = harness_new ();

  harness_write_definition (h, "shop-eu", "[Source]\nExec=sleep 1000\n");
  harness_write_definition (h, "shop-us", "[Source]\nExec=sleep 1000\n");
  harness_write_definition (h, "other", "[Source]\nExec=sleep 1000\n");
  harness_start (h, NULL);
  {
    g_auto (HarnessRun) r = run (h, "pause", "shop-*", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_cmpuint (harness_get_t (h, "shop-eu", "PausedAt"), !=, 0);
    g_assert_cmpuint (harness_get_t (h, "shop-us", "PausedAt"), !=, 0);
    g_assert_cmpuint (harness_get_t (h, "other", "PausedAt"), ==, 0);
  }
  {
    g_auto (HarnessRun) r = run (h, "unpause", "shop-?u", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_cmpuint (harness_get_t (h, "shop-eu", "PausedAt"), ==, 0);
    g_assert_cmpuint (harness_get_t (h, "shop-us", "PausedAt"), !=, 0);
  }
  {
    g_auto (HarnessRun) r = run (h, "pause", "nothing-*", NULL);
    g_assert_cmpint (r.status, ==, 4);
    g_assert_cmpstr (r.err, ==, "sourcectl: No source matches 'nothing-*'\n");
  }
  {
    g_auto (HarnessRun) r = run (h, "stop", "*", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_autofree char *st = harness_get_s (h, "other", "Status");
    g_assert_cmpstr (st, ==, "stopped");
  }
  {
    /* Stopped already: each is said, exit 5 as for one id. */
    g_auto (HarnessRun) r = run (h, "stop", "shop-*", NULL);
    g_assert_cmpint (r.status, ==, 5);
    g_assert_nonnull (strstr (r.err, "Unable to stop source 'shop-eu': not in a stoppable state"));
  }
  {
    g_auto (HarnessRun) r = run (h, "start", "shop-*", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_cmpuint (harness_get_u (h, "shop-eu", "MainPID"), !=, 0);
    g_autofree char *st = harness_get_s (h, "other", "Status");
    g_assert_cmpstr (st, ==, "stopped");
  }
  {
    /* start leaves running ones alone, globbed or not. */
    guint32 pid = harness_get_u (h, "shop-eu", "MainPID");
    g_auto (HarnessRun) r = run (h, "start", "shop-*", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_cmpuint (harness_get_u (h, "shop-eu", "MainPID"), ==, pid);
  }
}

/* A crash loop reads as one, as systemctl status shows auto-restart; the
 * journal is read by SOURCE_ID=, and where it has nothing (no journald
 * here, or nothing of this source) one line says so. */
static void
test_status_restarting (void)
{
  g_autoptr (Harness) h = harness_new ();
  harness_write_definition (h, "crash", "[Source]\nExec=/bin/sh -c \"echo one; exit 1\"\nRestartSec=1\nMaxFailures=0\n");
  harness_write_definition (h, "fine", "[Source]\nExec=sleep 1000\n");
  harness_start (h, NULL);
  g_assert_true (harness_wait_status (h, "crash", "restarting", 1500));
  {
    g_auto (HarnessRun) r = run (h, "status", "crash", "--no-pager", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_nonnull (strstr (r.out, "Status: restarting (attempt "));
    g_assert_nonnull (strstr (r.out, ", next in "));
    g_assert_nonnull (strstr (r.out, "Last error: exited with status 1\n"));
    g_assert_nonnull (strstr (r.out, "Sink: (the default file)\n"));
    /* The journal part: one line, after a blank one, at the end. */
    g_auto (GStrv) lines = g_strsplit (r.out, "\n", -1);
    guint n = g_strv_length (lines);
    g_assert_cmpuint (n, >=, 3);
    g_assert_cmpstr (lines[n - 1], ==, "");
    g_assert_true (g_str_has_prefix (lines[n - 2], "Journal: "));
    g_assert_cmpstr (lines[n - 3], ==, "");
  }
  {
    /* -n 0: no journal part. */
    g_auto (HarnessRun) r = run (h, "status", "crash", "-n", "0", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_null (strstr (r.out, "Journal"));
  }
  {
    g_auto (HarnessRun) r = run (h, "status", "crash", "--lines=many", NULL);
    g_assert_cmpint (r.status, ==, 2);
    g_assert_nonnull (strstr (r.err, "--lines wants a number"));
  }
  {
    g_auto (HarnessRun) r = run (h, "list", "--no-legend", NULL);
    g_assert_nonnull (strstr (r.out, "restarting"));
    g_autoptr (JsonNode) all = NULL;
    g_auto (HarnessRun) j = run (h, "list", "--json", NULL);
    all = parse_json (j.out);
    JsonArray *a = json_node_get_array (all);
    JsonObject *crash = json_array_get_object_element (a, 0);
    g_assert_cmpstr (json_object_get_string_member (crash, "id"), ==, "crash");
    g_assert_cmpstr (json_object_get_string_member (crash, "status"), ==, "restarting");
    g_assert_true (json_object_has_member (crash, "n_restarts"));
    g_assert_true (json_object_has_member (crash, "next_retry_at"));
    g_assert_true (json_object_get_null_member (crash, "sink"));
    JsonObject *fine = json_array_get_object_element (a, 1);
    g_assert_cmpstr (json_object_get_string_member (fine, "status"), ==, "active");
    g_assert_true (json_object_get_null_member (fine, "next_retry_at"));
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sourcectl/status-restarting", test_status_restarting);
  g_test_add_func ("/sourcectl/list", test_list);
  g_test_add_func ("/sourcectl/status-show", test_status_and_show);
  g_test_add_func ("/sourcectl/pause-unpause", test_pause_unpause);
  g_test_add_func ("/sourcectl/globs", test_globs);
  g_test_add_func ("/sourcectl/start-stop-restart-run", test_start_stop_restart_run);
  g_test_add_func ("/sourcectl/create-remove-reload", test_create_remove_reload);
  g_test_add_func ("/sourcectl/monitor", test_monitor);
  g_test_add_func ("/sourcectl/usage-help", test_usage_and_help);
  g_test_add_func ("/sourcectl/bash-completion", test_bash_completion);
  return g_test_run ();
}
