/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib/gstdio.h>

static const char *
sourced_binary (void)
{
  const char *b = g_getenv ("SOURCED_BINARY");
  g_assert_nonnull (b);
  return b;
}

static void
signal_free (Signal *s)
{
  g_free (s->path);
  g_free (s->member);
  g_strfreev (s->props);
  g_free (s);
}

static int
on_signal (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  Harness *h = userdata;
  Signal *s = g_new0 (Signal, 1);
  const char *iface;

  s->path = g_strdup (sd_bus_message_get_path (m));
  s->member = g_strdup (sd_bus_message_get_member (m));
  if (g_str_equal (s->member, "PropertiesChanged"))
    {
      GPtrArray *names = g_ptr_array_new ();
      g_assert_cmpint (sd_bus_message_read (m, "s", &iface), >=, 0);
      g_assert_cmpint (sd_bus_message_enter_container (m, 'a', "{sv}"), >=, 0);
      while (sd_bus_message_enter_container (m, 'e', "sv") > 0)
        {
          const char *name;
          g_assert_cmpint (sd_bus_message_read (m, "s", &name), >=, 0);
          g_ptr_array_add (names, g_strdup (name));
          g_assert_cmpint (sd_bus_message_skip (m, "v"), >=, 0);
          g_assert_cmpint (sd_bus_message_exit_container (m), >=, 0);
        }
      g_ptr_array_add (names, NULL);
      s->props = (GStrv) g_ptr_array_free (names, FALSE);
    }
  else if (g_str_equal (s->member, "InterfacesAdded") || g_str_equal (s->member, "InterfacesRemoved"))
    {
      const char *obj;
      g_assert_cmpint (sd_bus_message_read (m, "o", &obj), >=, 0);
      g_free (s->path);
      s->path = g_strdup (obj);
    }
  g_ptr_array_add (h->signals, s);
  return 0;
}

/* A test that aborts must not leave its bus behind. */
static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static void
start_bus (Harness *h, const char *extra_conf)
{
  g_autofree char *conf = g_build_filename (h->dir, "bus.conf", NULL);
  g_autofree char *sock = g_build_filename (h->dir, "bus", NULL);
  g_autofree char *text = g_strdup_printf (
    "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN\"\n"
    " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
    "<busconfig><type>%s</type><listen>unix:path=%s</listen><auth>EXTERNAL</auth>\n"
    /* Any user may connect: the authorization tests call as nobody. */
    "<policy context=\"default\"><allow user=\"*\"/><allow send_destination=\"*\" eavesdrop=\"true\"/>"
    "<allow eavesdrop=\"true\"/>"
    "<allow own=\"*\"/></policy>\n"
    /* The system bus's limits (dbus-daemon's defaults for it). */
    "<limit name=\"max_message_size\">33554432</limit>\n"
    "<limit name=\"max_incoming_bytes\">133169152</limit>\n"
    "%s</busconfig>\n", h->system_bus ? "system" : "session", sock, extra_conf ? extra_conf : "");
  const char *argv[] = { "dbus-daemon", "--nofork", "--print-address=1", NULL, NULL };
  g_autofree char *conf_arg = g_strdup_printf ("--config-file=%s", conf);
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) address = g_string_new (NULL);
  int out_fd = -1;
  char c;

  g_assert_true (g_file_set_contents (conf, text, -1, NULL));
  argv[3] = conf_arg;
  g_assert_true (g_spawn_async_with_pipes (NULL, (char **) argv, NULL,
                                           G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDERR_TO_DEV_NULL,
                                           die_with_parent, NULL, &h->bus_pid, NULL, &out_fd, NULL, &error));
  g_assert_no_error (error);
  /* dbus-daemon prints its address once it listens: connecting as soon as
   * the socket file exists could fall between its bind() and listen(), and
   * be refused. */
  while (read (out_fd, &c, 1) == 1 && c != '\n')
    g_string_append_c (address, c);
  close (out_fd);
  g_assert_true (g_str_has_prefix (address->str, "unix:path="));
  h->bus_address = g_strdup_printf ("unix:path=%s", sock);

  h->client = harness_connect (h);
  g_assert_cmpint (sd_bus_match_signal (h->client, NULL, NULL, NULL, "org.freedesktop.DBus.Properties",
                                        "PropertiesChanged", on_signal, h), >=, 0);
  g_assert_cmpint (sd_bus_match_signal (h->client, NULL, NULL, "/org/sourced/Sourced1",
                                        "org.freedesktop.DBus.ObjectManager", NULL, on_signal, h), >=, 0);
}

Harness *
harness_new (void)
{
  return harness_new_full (FALSE);
}

Harness *
harness_new_full (gboolean system_bus)
{
  return harness_new_with_bus_conf (system_bus, NULL);
}

Harness *
harness_new_with_bus_conf (gboolean system_bus, const char *extra_conf)
{
  Harness *h = g_new0 (Harness, 1);
  g_autoptr (GError) error = NULL;
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  g_autofree char *notify = NULL;

  h->dir = g_dir_make_tmp ("sourced-test-XXXXXX", &error);
  g_assert_no_error (error);
  h->config_dir = g_build_filename (h->dir, "config", NULL);
  h->state_dir = g_build_filename (h->dir, "state", NULL);
  h->log_path = g_build_filename (h->dir, "sourced.log", NULL);
  g_autofree char *defs = g_build_filename (h->config_dir, "sources.d", NULL);
  g_assert_cmpint (g_mkdir_with_parents (defs, 0755), ==, 0);
  h->signals = g_ptr_array_new_with_free_func ((GDestroyNotify) signal_free);

  notify = g_build_filename (h->dir, "notify", NULL);
  h->notify_fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (h->notify_fd, >=, 0);
  g_strlcpy (sa.sun_path, notify, sizeof sa.sun_path);
  g_assert_cmpint (bind (h->notify_fd, (struct sockaddr *) &sa, sizeof sa), ==, 0);

  h->system_bus = system_bus;
  start_bus (h, extra_conf);
  return h;
}

static void
rm_rf (const char *path)
{
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", path);
  g_assert_cmpint (system (cmd), ==, 0);
}

static gboolean
daemon_reaped (gpointer data)
{
  Harness *h = data;
  int status;

  return waitpid (h->daemon_pid, &status, WNOHANG) != 0;
}

/* A clean SIGTERM shutdown, so that a sanitizer build checks for leaks. */
static void
stop_daemon (Harness *h)
{
  kill (h->daemon_pid, SIGTERM);
  if (!harness_wait_until (daemon_reaped, h, 20000))
    {
      kill (h->daemon_pid, SIGKILL);
      waitpid (h->daemon_pid, NULL, 0);
    }
  h->daemon_pid = 0;
}

/* A sanitizer's report in the daemon's log fails the test that caused it. */
static void
check_sanitizers (Harness *h)
{
  g_autofree char *log = harness_log (h);
  const char *markers[] = { "ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error: ",
                            "WARNING: ThreadSanitizer" };

  for (guint i = 0; i < G_N_ELEMENTS (markers); i++)
    if (strstr (log, markers[i]))
      g_error ("sourced reported \"%s\"; its log:\n%s", markers[i], log);

  /* Under valgrind: every log must be empty. */
  g_autoptr (GDir) dir = g_dir_open (h->dir, 0, NULL);
  const char *name;
  guint n_logs = 0;
  while (dir && (name = g_dir_read_name (dir)))
    {
      g_autofree char *path = NULL;
      g_autofree char *text = NULL;
      if (!g_str_has_prefix (name, "valgrind-"))
        continue;
      n_logs++;
      path = g_build_filename (h->dir, name, NULL);
      /* "==pid==" lines are errors and leaks; "--pid--" lines are
       * valgrind's own notes (such as a syscall it does not know, like
       * pidfd_open, which GLib then does without). */
      if (g_file_get_contents (path, &text, NULL, NULL) && (g_str_has_prefix (text, "==") || strstr (text, "\n==")))
        g_error ("valgrind found errors or definite leaks in sourced:\n%s", text);
    }
  if (g_getenv ("SOURCED_VALGRIND"))
    g_assert_cmpuint (n_logs, >, 0);
}

void
harness_free (Harness *h)
{
  if (h->daemon_pid > 0)
    stop_daemon (h);
  check_sanitizers (h);
  if (g_test_failed ())
    {
      g_autofree char *log = harness_log (h);
      g_test_message ("sourced's log:\n%s", log);
    }
  sd_bus_flush_close_unref (h->client);
  if (h->bus_pid > 0)
    {
      kill (h->bus_pid, SIGTERM);
      waitpid (h->bus_pid, NULL, 0);
    }
  close (h->notify_fd);
  if (!g_getenv ("SOURCED_TEST_KEEP"))
    rm_rf (h->dir);
  g_ptr_array_unref (h->signals);
  g_strfreev (h->extra_env);
  g_free (h->dir);
  g_free (h->config_dir);
  g_free (h->state_dir);
  g_free (h->bus_address);
  g_free (h->log_path);
  g_free (h);
}

void
harness_write_definition (Harness *h, const char *id, const char *contents)
{
  g_autofree char *name = g_strconcat (id, ".source", NULL);
  g_autofree char *path = g_build_filename (h->config_dir, "sources.d", name, NULL);
  g_assert_true (g_file_set_contents (path, contents, -1, NULL));
}

void
harness_remove_definition (Harness *h, const char *id)
{
  g_autofree char *name = g_strconcat (id, ".source", NULL);
  g_autofree char *path = g_build_filename (h->config_dir, "sources.d", name, NULL);
  g_assert_cmpint (g_unlink (path), ==, 0);
}

/* READY=1 comes before the workers are launched (a slice at a time); the
 * tests start from a daemon whose sources run, which its STATUS= says:
 * "Supervising N sources" once nothing waits to be launched. */
static gboolean
wait_ready (Harness *h)
{
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
  gboolean ready = FALSE;

  while (g_get_monotonic_time () < deadline)
    {
      struct pollfd p = { h->notify_fd, POLLIN, 0 };
      char buf[4096];
      ssize_t n;

      if (poll (&p, 1, 100) > 0)
        {
          n = recv (h->notify_fd, buf, sizeof buf - 1, 0);
          if (n > 0)
            {
              buf[n] = '\0';
              if (strstr (buf, "READY=1"))
                ready = TRUE;
              if (ready && strstr (buf, "STATUS=Supervising"))
                return TRUE;
            }
        }
      if (waitpid (h->daemon_pid, NULL, WNOHANG) == h->daemon_pid)
        {
          h->daemon_pid = 0;
          return FALSE;
        }
    }
  return FALSE;
}

static void
limit_nofile (gpointer user_data)
{
  Harness *h = user_data;
  struct rlimit rl = { h->nofile, h->nofile };

  if (h->nofile)
    setrlimit (RLIMIT_NOFILE, &rl);
}

void
harness_start (Harness *h, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) env = g_get_environ ();
  g_autofree char *notify = g_build_filename (h->dir, "notify", NULL);
  g_autoptr (GError) error = NULL;
  va_list ap;
  const char *arg;
  int log_fd;

  g_assert_cmpint (h->daemon_pid, ==, 0);
  if (g_getenv ("SOURCED_VALGRIND"))
    {
      /* memcheck; only definite leaks and real errors count. --quiet: the
       * log stays empty unless there is something to say. */
      g_ptr_array_add (argv, g_strdup ("valgrind"));
      g_ptr_array_add (argv, g_strdup ("--quiet"));
      g_ptr_array_add (argv, g_strdup ("--leak-check=full"));
      g_ptr_array_add (argv, g_strdup ("--show-leak-kinds=definite"));
      g_ptr_array_add (argv, g_strdup ("--errors-for-leak-kinds=definite"));
      g_ptr_array_add (argv, g_strdup_printf ("--log-file=%s/valgrind-%%p.log", h->dir));
    }
  g_ptr_array_add (argv, g_strdup (sourced_binary ()));
  g_ptr_array_add (argv, g_strdup (h->system_bus ? "--system" : "--session"));
  g_ptr_array_add (argv, g_strdup_printf ("--config-dir=%s", h->config_dir));
  g_ptr_array_add (argv, g_strdup_printf ("--state-dir=%s", h->state_dir));
  va_start (ap, h);
  while ((arg = va_arg (ap, const char *)))
    g_ptr_array_add (argv, g_strdup (arg));
  va_end (ap);
  g_ptr_array_add (argv, NULL);

  env = g_environ_setenv (env, "DBUS_SESSION_BUS_ADDRESS", h->bus_address, TRUE);
  env = g_environ_setenv (env, "DBUS_SYSTEM_BUS_ADDRESS", h->bus_address, TRUE);
  env = g_environ_setenv (env, "NOTIFY_SOCKET", notify, TRUE);
  env = g_environ_setenv (env, "G_DEBUG", "fatal-criticals", TRUE);
  env = g_environ_setenv (env, "G_MESSAGES_DEBUG", "all", TRUE);
  for (guint i = 0; h->extra_env && h->extra_env[i]; i++)
    env = g_environ_setenv (env, h->extra_env[i], h->extra_env[i + 1], TRUE), i++;

  log_fd = open (h->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  g_assert_cmpint (log_fd, >=, 0);
  g_assert_true (g_spawn_async_with_pipes_and_fds (NULL, (const char *const *) argv->pdata,
                                                   (const char *const *) env, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH,
                                                   limit_nofile, h, -1, log_fd, log_fd, NULL, NULL, 0,
                                                   &h->daemon_pid, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  close (log_fd);
  if (!wait_ready (h))
    {
      g_autofree char *log = harness_log (h);
      g_test_message ("sourced did not become ready; log:\n%s", log);
      g_assert_not_reached ();
    }
}

int
harness_kill (Harness *h, int sig)
{
  int status = 0;

  g_assert_cmpint (h->daemon_pid, >, 0);
  kill (h->daemon_pid, sig);
  g_assert_cmpint (waitpid (h->daemon_pid, &status, 0), ==, h->daemon_pid);
  h->daemon_pid = 0;
  /* Let the bus forget the old owner before anyone calls the name again. */
  harness_sync (h);
  return status;
}

char *
harness_log (Harness *h)
{
  char *log = NULL;
  if (!g_file_get_contents (h->log_path, &log, NULL, NULL))
    return g_strdup ("");
  return log;
}

char *
source_path (const char *id)
{
  char *p = NULL;
  g_assert_cmpint (sd_bus_path_encode ("/org/sourced/Sourced1/source", id, &p), >=, 0);
  return p;
}

int
harness_call (Harness *h, const char *path, const char *iface, const char *member, sd_bus_error *error,
              sd_bus_message **reply, const char *types, ...)
{
  sd_bus_error local = SD_BUS_ERROR_NULL;
  va_list ap;
  int r;

  va_start (ap, types);
  {
    sd_bus_message *m = NULL;
    g_assert_cmpint (sd_bus_message_new_method_call (h->client, &m, "org.sourced.Sourced1", path, iface, member), >=, 0);
    if (types)
      g_assert_cmpint (sd_bus_message_appendv (m, types, ap), >=, 0);
    r = sd_bus_call (h->client, m, 30 * G_USEC_PER_SEC, error ? error : &local, reply);
    sd_bus_message_unref (m);
  }
  va_end (ap);
  if (!error && r < 0)
    g_error ("%s.%s on %s failed: %s: %s", iface, member, path, local.name, local.message);
  sd_bus_error_free (&local);
  return r;
}

void
harness_source_call_ok (Harness *h, const char *id, const char *member)
{
  g_autofree char *path = source_path (id);
  harness_call (h, path, "org.sourced.Sourced1.Source", member, NULL, NULL, NULL);
}

char *
harness_source_call_error (Harness *h, const char *id, const char *member, const char *error_name)
{
  g_autofree char *path = source_path (id);
  sd_bus_error e = SD_BUS_ERROR_NULL;
  char *msg;

  g_assert_cmpint (harness_call (h, path, "org.sourced.Sourced1.Source", member, &e, NULL, NULL), <, 0);
  g_assert_cmpstr (e.name, ==, error_name);
  msg = g_strdup (e.message);
  sd_bus_error_free (&e);
  return msg;
}

static sd_bus_message *
get_property (Harness *h, const char *path, const char *iface, const char *prop, const char *type)
{
  sd_bus_message *reply = NULL;
  sd_bus_error e = SD_BUS_ERROR_NULL;
  int r = sd_bus_get_property (h->client, "org.sourced.Sourced1", path, iface, prop, &e, &reply, type);
  if (r < 0)
    g_error ("Get %s.%s on %s: %s", iface, prop, path, e.message);
  return reply;
}

char *
harness_get_s (Harness *h, const char *id, const char *prop)
{
  g_autofree char *path = source_path (id);
  char *v = NULL;
  int r = sd_bus_get_property_string (h->client, "org.sourced.Sourced1", path, "org.sourced.Sourced1.Source", prop,
                                      NULL, &v);
  g_assert_cmpint (r, >=, 0);
  return v;
}

/* Reads a property of basic type @type into @out. */
static void
get_basic (Harness *h, const char *path, const char *iface, const char *prop, char type, void *out)
{
  const char sig[2] = { type, 0 };
  sd_bus_message *m = get_property (h, path, iface, prop, sig);
  g_assert_cmpint (sd_bus_message_read_basic (m, type, out), >=, 0);
  sd_bus_message_unref (m);
}

static void
get_source_basic (Harness *h, const char *id, const char *prop, char type, void *out)
{
  g_autofree char *path = source_path (id);
  get_basic (h, path, "org.sourced.Sourced1.Source", prop, type, out);
}

guint64
harness_get_t (Harness *h, const char *id, const char *prop)
{
  guint64 v = 0;
  get_source_basic (h, id, prop, 't', &v);
  return v;
}

guint32
harness_get_u (Harness *h, const char *id, const char *prop)
{
  guint32 v = 0;
  get_source_basic (h, id, prop, 'u', &v);
  return v;
}

gint32
harness_get_i (Harness *h, const char *id, const char *prop)
{
  gint32 v = 0;
  get_source_basic (h, id, prop, 'i', &v);
  return v;
}

gboolean
harness_get_b (Harness *h, const char *id, const char *prop)
{
  int v = 0;
  get_source_basic (h, id, prop, 'b', &v);
  return v;
}

guint64
harness_manager_get_t (Harness *h, const char *prop)
{
  guint64 v = 0;
  get_basic (h, "/org/sourced/Sourced1", "org.sourced.Sourced1.Manager", prop, 't', &v);
  return v;
}

void
harness_sync (Harness *h)
{
  /* A round trip to the bus: every message sent to us before it is queued. */
  sd_bus_message *reply = NULL;
  g_assert_cmpint (sd_bus_call_method (h->client, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "GetId", NULL, &reply, NULL), >=, 0);
  sd_bus_message_unref (reply);
  while (sd_bus_process (h->client, NULL) > 0)
    ;
}

void
harness_clear_signals (Harness *h)
{
  harness_sync (h);
  g_ptr_array_set_size (h->signals, 0);
}

guint
harness_count_changed (Harness *h, const char *id, const char *prop)
{
  g_autofree char *path = source_path (id);
  guint n = 0;

  harness_sync (h);
  for (guint i = 0; i < h->signals->len; i++)
    {
      Signal *s = h->signals->pdata[i];
      if (g_str_equal (s->member, "PropertiesChanged") && g_str_equal (s->path, path) &&
          (!prop || g_strv_contains ((const char *const *) s->props, prop)))
        n++;
    }
  return n;
}

guint
harness_count_member (Harness *h, const char *member)
{
  guint n = 0;

  harness_sync (h);
  for (guint i = 0; i < h->signals->len; i++)
    if (g_str_equal (((Signal *) h->signals->pdata[i])->member, member))
      n++;
  return n;
}

gboolean
harness_wait_until (HarnessCond cond, gpointer data, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  gulong interval = 1000;

  for (;;)
    {
      if (cond (data))
        return TRUE;
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      g_usleep (interval);
      interval = MIN (interval * 2, 20000);
    }
}

gboolean
harness_file_exists (gpointer path)
{
  return g_file_test (path, G_FILE_TEST_EXISTS);
}

typedef struct {
  Harness *h;
  const char *id;
  const char *status;
} StatusIs;

static gboolean
status_is (gpointer data)
{
  StatusIs *w = data;
  g_autofree char *s = harness_get_s (w->h, w->id, "Status");
  return g_str_equal (s, w->status);
}

gboolean
harness_wait_status (Harness *h, const char *id, const char *status, guint timeout_ms)
{
  StatusIs w = { h, id, status };
  return harness_wait_until (status_is, &w, timeout_ms);
}

gboolean
harness_name_has_owner (Harness *h, const char *name)
{
  sd_bus_message *reply = NULL;
  int has = 0;

  g_assert_cmpint (sd_bus_call_method (h->client, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "NameHasOwner", NULL, &reply, "s", name), >=, 0);
  g_assert_cmpint (sd_bus_message_read (reply, "b", &has), >=, 0);
  sd_bus_message_unref (reply);
  return has;
}

typedef struct {
  Harness *h;
  const char *id;
  const char *prop;
  guint64 at_least;
  char type; /* 't' or 'u' */
} Reached;

static gboolean
reached (gpointer data)
{
  Reached *w = data;
  guint64 v = w->type == 'u' ? harness_get_u (w->h, w->id, w->prop) : harness_get_t (w->h, w->id, w->prop);
  return v >= w->at_least;
}

gboolean
harness_wait_t (Harness *h, const char *id, const char *prop, guint64 at_least, guint timeout_ms)
{
  Reached w = { h, id, prop, at_least, 't' };
  return harness_wait_until (reached, &w, timeout_ms);
}

gboolean
harness_wait_u (Harness *h, const char *id, const char *prop, guint32 at_least, guint timeout_ms)
{
  Reached w = { h, id, prop, at_least, 'u' };
  return harness_wait_until (reached, &w, timeout_ms);
}

gboolean
pid_alive (pid_t pid)
{
  char state = harness_process_state (pid);

  /* A zombie is not alive. */
  return state != '?' && state != 'Z';
}

/* The fields of /proc/PID/stat after the command name (which may hold
 * spaces and parentheses): [0] is the state (field 3), [11] and [12] utime
 * and stime (fields 14 and 15). NULL when the process is gone. */
static GStrv
proc_stat_fields (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", pid);
  g_autofree char *stat = NULL;
  g_auto (GStrv) fields = NULL;
  const char *p;

  if (pid <= 0 || !g_file_get_contents (path, &stat, NULL, NULL) || !(p = strrchr (stat, ')')) || p[1] != ' ')
    return NULL;
  fields = g_strsplit (p + 2, " ", 14);
  return g_strv_length (fields) < 14 ? NULL : g_steal_pointer (&fields);
}

char
harness_process_state (pid_t pid)
{
  g_auto (GStrv) fields = proc_stat_fields (pid);

  return fields ? fields[0][0] : '?';
}

double
harness_process_cpu_seconds (pid_t pid)
{
  g_auto (GStrv) fields = proc_stat_fields (pid);

  if (!fields)
    return -1;
  return (double) (g_ascii_strtoull (fields[11], NULL, 10) + g_ascii_strtoull (fields[12], NULL, 10)) /
         (double) sysconf (_SC_CLK_TCK);
}

sd_bus *
harness_connect (Harness *h)
{
  sd_bus *bus = NULL;

  g_assert_cmpint (sd_bus_new (&bus), >=, 0);
  g_assert_cmpint (sd_bus_set_address (bus, h->bus_address), >=, 0);
  g_assert_cmpint (sd_bus_set_bus_client (bus, 1), >=, 0);
  g_assert_cmpint (sd_bus_start (bus), >=, 0);
  return bus;
}

void
harness_run_clear (HarnessRun *run)
{
  g_free (run->out);
  g_free (run->err);
}

guint64
harness_count_transactions (Harness *h)
{
  g_autofree char *journal = g_build_filename (h->state_dir, "state.journal", NULL);
  g_autofree char *snapshot = g_build_filename (h->state_dir, "state.ini", NULL);
  g_autofree char *data = NULL;
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  const char *last = NULL;

  if (g_file_get_contents (journal, &data, NULL, NULL))
    for (const char *p = data; (p = strstr (p, "#@txn ")); p++)
      last = p;
  if (last)
    return g_ascii_strtoull (last + 6, NULL, 10);
  if (g_key_file_load_from_file (kf, snapshot, G_KEY_FILE_NONE, NULL))
    return g_key_file_get_uint64 (kf, "Store", "JournalSeq", NULL);
  return 0;
}
