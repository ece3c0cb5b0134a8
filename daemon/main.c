/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sourced: supervises data sources, each a D-Bus object with
 * Pause/Unpause/Start/Stop, its control state persisted durably. */
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <glib-unix.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "config.h"
#include "bus-glib.h"
#include "bus-name.h"
#include "bus-signals.h"
#include "auth.h"
#include "commit.h"
#include "fd-limits.h"
#include "io-watch.h"
#include "load.h"
#include "manager-bus.h"
#include "source-bus.h"
#include "sourced-error.h"
#include "supervisor.h"
#include "spawner.h"

static gint
compare_ids (gconstpointer a, gconstpointer b, gpointer user_data)
{
  return strcmp (a, b);
}

static gboolean opt_system, opt_session, opt_verbose, opt_version;
static char *opt_config_dir, *opt_state_dir;
static gint64 opt_max_message_size;
static gint opt_max_sources = 1000000;
static char *opt_group;
static gdouble opt_rate_limit = 100;
static gint opt_name_wait_sec = 30;
/* At exit, what is still queued for the bus gets this long to go out. */
#define EXIT_FLUSH_USEC (3 * G_USEC_PER_SEC)

static GOptionEntry options[] = {
  { "system", 0, 0, G_OPTION_ARG_NONE, &opt_system, "Serve on the system bus (default)", NULL },
  { "session", 0, 0, G_OPTION_ARG_NONE, &opt_session, "Serve on the session bus, with per-user directories", NULL },
  { "config-dir", 0, 0, G_OPTION_ARG_FILENAME, &opt_config_dir, "Read sources.d/*.source from DIR", "DIR" },
  { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &opt_state_dir, "Keep the control state in DIR", "DIR" },
  { "max-message-size", 0, 0, G_OPTION_ARG_INT64, &opt_max_message_size,
    "Never send a message larger than BYTES (default: 32 MiB, the system bus's limit)", "BYTES" },
  { "max-sources", 0, 0, G_OPTION_ARG_INT, &opt_max_sources, "Take at most N sources (default: 1000000)", "N" },
  { "group", 0, 0, G_OPTION_ARG_STRING, &opt_group,
    "Without polkit, let members of GROUP change sources (default: sourced)", "GROUP" },
  { "rate-limit", 0, 0, G_OPTION_ARG_DOUBLE, &opt_rate_limit,
    "Changing calls a second per non-root caller, 0 for no limit (default: 100)", "N" },
  { "name-wait", 0, 0, G_OPTION_ARG_INT, &opt_name_wait_sec,
    "Wait up to SEC for the bus name while another sourced still holds it, 0 not to wait (default: 30)", "SEC" },
  { "verbose", 'v', 0, G_OPTION_ARG_NONE, &opt_verbose, "Log debug messages too", NULL },
  { "version", 0, 0, G_OPTION_ARG_NONE, &opt_version, "Print the version and exit", NULL },
  { NULL }
};

/* The first directory of a systemd-style list ("a:b"). */
static char *
first_dir (const char *list)
{
  g_auto (GStrv) parts = g_strsplit (list, ":", 2);
  return g_strdup (parts[0]);
}

static void
choose_directories (Sourced *d)
{
  const char *env;

  if (opt_config_dir)
    d->config_dir = g_strdup (opt_config_dir);
  else if (opt_session)
    d->config_dir = g_build_filename (g_get_user_config_dir (), "sourced", NULL);
  else if ((env = g_getenv ("CONFIGURATION_DIRECTORY")) && *env)
    d->config_dir = first_dir (env);
  else
    d->config_dir = g_build_filename (SOURCED_SYSCONFDIR, "sourced", NULL);

  if (opt_state_dir)
    d->state_dir = g_strdup (opt_state_dir);
  else if (opt_session)
    d->state_dir = g_build_filename (g_get_user_state_dir (), "sourced", NULL);
  else if ((env = g_getenv ("STATE_DIRECTORY")) && *env)
    d->state_dir = first_dir (env);
  else
    d->state_dir = g_build_filename (SOURCED_LOCALSTATEDIR, "lib", "sourced", NULL);
}

static void
after_dispatch (gpointer user_data)
{
  Sourced *d = user_data;

  commit_flush (d);
  bus_signals_check_backlog (d);
}

static gboolean
quit_loop (gpointer user_data)
{
  Sourced *d = user_data;
  g_main_loop_quit (d->loop);
  return G_SOURCE_REMOVE;
}

static void
begin_shutdown (Sourced *d, const char *why)
{
  if (d->shutting_down)
    return;
  d->shutting_down = TRUE;
  g_message ("%s; stopping workers", why);
  sd_notify (0, "STOPPING=1\nSTATUS=Stopping workers");
  supervisor_shutdown (d, quit_loop, d);
}

static void
on_disconnect (gpointer user_data)
{
  Sourced *d = user_data;
  d->exit_code = EXIT_FAILURE;
  begin_shutdown (d, "Lost the bus connection");
}

static gboolean
on_sigterm (gpointer user_data)
{
  begin_shutdown (user_data, "Received a termination request");
  return G_SOURCE_CONTINUE;
}

static void
done_sighup_reload (Sourced *d, sd_bus_message *call, Source *src, gpointer user_data)
{
  g_autoptr (LoadChanges) changes = user_data;
  supervisor_apply (d, changes->removed, changes->added, NULL, NULL);
  g_message ("Reloaded definitions: %u added, %u removed", changes->added->len, changes->removed->len);
}

static gboolean
on_sighup (gpointer user_data)
{
  Sourced *d = user_data;
  LoadChanges *changes;

  sd_notify (0, "RELOADING=1");
  changes = load_reload (d);
  commit_add_full (d, NULL, NULL, done_sighup_reload, changes, (GDestroyNotify) load_changes_free);
  commit_schedule (d);
  sd_notify (0, "READY=1");
  return G_SOURCE_CONTINUE;
}

static gboolean
on_watchdog (gpointer user_data)
{
  sd_notify (0, "WATCHDOG=1");
  return G_SOURCE_CONTINUE;
}

static gboolean
start_one (gpointer key, gpointer value, gpointer user_data)
{
  Source *src = value;
  if (src->control.started)
    supervisor_start (user_data, src, NULL, NULL);
  return FALSE;
}

static int
open_bus (Sourced *d, GError **error)
{
  int r = opt_session ? sd_bus_open_user (&d->bus) : sd_bus_open_system (&d->bus);
  if (r < 0)
    {
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_FAILED, "Cannot connect to the %s bus: %s",
                   opt_session ? "session" : "system", g_strerror (-r));
      return r;
    }
  if ((r = manager_bus_register (d)) < 0 || (r = source_bus_register (d)) < 0)
    {
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_FAILED, "Cannot register objects: %s", g_strerror (-r));
      return r;
    }
  if (!bus_name_acquire (d->bus, SOURCED_BUS_NAME, (guint64) opt_name_wait_sec * G_USEC_PER_SEC, error))
    return -EEXIST;
  return 0;
}


/* Step 1: the command line. -1 to go on, or the exit code. */
static int
parse_options (int *argc, char ***argv)
{
  g_autoptr (GOptionContext) octx = g_option_context_new ("- supervise data sources over D-Bus");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (octx, options, NULL);
  g_option_context_set_summary (octx,
                                "Exposes each data source as a D-Bus object under /org/sourced/Sourced1 on the "
                                "bus name " SOURCED_BUS_NAME ".");
  if (!g_option_context_parse (octx, argc, argv, &error))
    {
      fprintf (stderr, "sourced: %s (see --help)\n", error->message);
      return 2;
    }
  if (opt_version)
    {
      printf ("sourced %s\n", SOURCED_VERSION);
      return 0;
    }
  if (opt_system && opt_session)
    {
      fprintf (stderr, "sourced: --system and --session exclude each other\n");
      return 2;
    }
  if (opt_max_message_size < 0 || (opt_max_message_size > 0 && opt_max_message_size < 8192))
    {
      fprintf (stderr, "sourced: --max-message-size must be at least 8192\n");
      return 2;
    }
  if (opt_max_sources < 1)
    {
      fprintf (stderr, "sourced: --max-sources must be at least 1\n");
      return 2;
    }
  if (opt_name_wait_sec < 0)
    {
      fprintf (stderr, "sourced: --name-wait must not be negative\n");
      return 2;
    }
  if (opt_rate_limit < 0)
    {
      fprintf (stderr, "sourced: --rate-limit must not be negative\n");
      return 2;
    }
  return -1;
}

/* Step 2: where log lines go. Under systemd: the journal, with structured
 * fields. */
static void
setup_logging (void)
{
  if (opt_verbose)
    g_setenv ("G_MESSAGES_DEBUG", "all", TRUE);
  if (g_log_writer_is_journald (fileno (stderr)))
    g_log_set_writer_func (g_log_writer_journald, NULL, NULL);
}

/* PostgreSQL passwords come from a passfile, for the system service a
 * systemd credential: with LoadCredential=pgpass:… in a drop-in, libpq
 * reads $CREDENTIALS_DIRECTORY/pgpass, unless PGPASSFILE says otherwise. */
static void
setup_credentials (void)
{
  const char *dir = g_getenv ("CREDENTIALS_DIRECTORY");
  g_autofree char *pgpass = NULL;

  if (!dir || !*dir || g_getenv ("PGPASSFILE"))
    return;
  pgpass = g_build_filename (dir, "pgpass", NULL);
  if (g_file_test (pgpass, G_FILE_TEST_EXISTS))
    {
      g_setenv ("PGPASSFILE", pgpass, TRUE);
      g_message ("PostgreSQL passwords from the credential %s", pgpass);
    }
}

/* Step 3: the daemon object without the bus: the spawner (before any
 * worker's descriptor exists: its table stays small, which is what makes
 * spawning from it cheap), the store, the supervisor, authorization. */
static gboolean
setup_daemon (Sourced *d, rlim_t *child_nofile, GError **error)
{
  *child_nofile = fd_limits_raise ();
  setup_credentials ();
  d->spawner = spawner_start (*child_nofile, error);
  if (!d->spawner)
    return FALSE;
  d->io = io_watcher_new ();
  d->status_sources = G_MAXUINT;
  d->sources = g_tree_new_full (compare_ids, NULL, NULL, (GDestroyNotify) source_unref);
  d->max_message_size = opt_max_message_size ? (guint64) opt_max_message_size : SOURCED_DEFAULT_MAX_MESSAGE_SIZE;
  d->loop = g_main_loop_new (NULL, FALSE);
  choose_directories (d);
  d->store = store_new (d->state_dir);
  if (g_getenv ("SOURCED_FAULT_FILE"))
    store_set_fault_file (d->store, g_getenv ("SOURCED_FAULT_FILE"));
  supervisor_init (d);
  d->max_sources = (guint) opt_max_sources;
  /* Only the system bus has callers of other users; the session bus
   * admits its owner alone. */
  AuthConfig auth = {
    .enabled = !opt_session,
    .group = opt_group ? opt_group : "sourced",
    .rate = opt_rate_limit,
    .burst = MAX (opt_rate_limit * 2, 1),
  };
  auth_init (d, &auth);
  return TRUE;
}

/* Step 4: the sources from the store and the definition files. First
 * sight of a definition file: its InitialState is persisted before anyone
 * can see it. */
static void
load_sources (Sourced *d)
{
  g_autoptr (GError) error = NULL;

  g_message ("sourced %s starting: config %s, state %s, %s bus", SOURCED_VERSION, d->config_dir, d->state_dir,
             opt_session ? "session" : "system");
  load_initial (d);
  if (!commit_flush_sync (d, &error))
    g_warning ("Cannot persist the initial state of new sources: %s", error->message);
}

/* Step 5: on the bus, in the main loop, with the signals handled. */
static gboolean
connect_bus (Sourced *d, GError **error)
{
  if (open_bus (d, error) < 0)
    return FALSE;
  d->bus_source = bus_glib_source_new (d->bus, after_dispatch, on_disconnect, d);
  /* Control comes first: a call waiting on the bus is dispatched before
   * the next turn of any worker's data (default priority) or launch. */
  g_source_set_priority (d->bus_source, G_PRIORITY_DEFAULT - 10);
  g_source_attach (d->bus_source, NULL);

  g_unix_signal_add (SIGTERM, on_sigterm, d);
  g_unix_signal_add (SIGINT, on_sigterm, d);
  g_unix_signal_add (SIGHUP, on_sighup, d);
  signal (SIGPIPE, SIG_IGN);
  return TRUE;
}

/* Step 6: the workers queued, the watchdog armed, READY told. Workers are
 * launched from the main loop, a slice at a time: READY and the bus do not
 * wait for thousands of them. */
static void
go_ready (Sourced *d, rlim_t child_nofile)
{
  guint64 watchdog_usec = 0;

  g_tree_foreach (d->sources, start_one, d);
  if (sd_watchdog_enabled (0, &watchdog_usec) > 0 && watchdog_usec > 0)
    g_timeout_add_full (G_PRIORITY_HIGH, MAX (watchdog_usec / 2000, 1), on_watchdog, d, NULL);
  if (supervisor_launches_pending (d))
    sd_notifyf (0, "READY=1\nSTATUS=Starting %u of %u sources", supervisor_launches_pending (d), d->n_sources);
  else
    {
      d->status_sources = d->n_sources;
      sd_notifyf (0, "READY=1\nSTATUS=Supervising %u sources", d->n_sources);
    }
  g_message ("Ready: %u sources, %u to start; descriptors: %llu (workers get %llu)", d->n_sources,
             supervisor_launches_pending (d), (unsigned long long) fd_limits_current (),
             (unsigned long long) child_nofile);
}

/* Step 8: off the bus. No new calls from here on; what is still queued is
 * flushed (every acknowledged change is on disk already), for at most
 * EXIT_FLUSH_USEC: a subscriber that stopped reading can make dbus-daemon
 * stop reading us, and a flush without a limit (or a release that waits
 * for its reply) then held the old process, and the name, until systemd
 * killed it. */
static void
disconnect_bus (Sourced *d)
{
  g_autoptr (GError) error = NULL;

  if (d->bus_source)
    {
      g_source_destroy (d->bus_source);
      g_clear_pointer (&d->bus_source, g_source_unref);
    }
  if (!commit_flush_sync (d, &error))
    g_warning ("Final commit failed: %s", error->message);
  if (d->bus)
    {
      guint64 left = 0;
      if (!bus_name_release_and_flush (d->bus, SOURCED_BUS_NAME, EXIT_FLUSH_USEC, &left))
        g_warning ("The bus took nothing for %u s; leaving %" G_GUINT64_FORMAT " messages unsent",
                   (unsigned) (EXIT_FLUSH_USEC / G_USEC_PER_SEC), left);
    }
  bus_signals_clear (d);
}

/* Step 9, whatever step was reached: everything freed, in order. */
static void
teardown (Sourced *d)
{
  /* The sources first: their pumps and workers let go of their watches. */
  g_clear_pointer (&d->sources, g_tree_unref);
  g_clear_pointer (&d->io, io_watcher_free);
  g_clear_pointer (&d->spawner, spawner_free);
  g_clear_pointer (&d->bus, sd_bus_close_unref);
  g_clear_pointer (&d->store, store_free);
  g_clear_pointer (&d->loop, g_main_loop_unref);
  auth_shutdown (d);
  g_clear_pointer (&d->config_dir, g_free);
  g_clear_pointer (&d->state_dir, g_free);
}

/* Steps 3 to 8 (hostnamed's run()); main() has the options and the
 * teardown. */
static int
run (Sourced *d)
{
  g_autoptr (GError) error = NULL;
  rlim_t child_nofile;

  if (!setup_daemon (d, &child_nofile, &error))
    {
      g_critical ("%s", error->message);
      return EXIT_FAILURE;
    }
  load_sources (d);
  if (!connect_bus (d, &error))
    {
      g_critical ("%s", error->message);
      sd_notifyf (0, "STATUS=%s\nERRNO=%d", error->message, EIO);
      return EXIT_FAILURE;
    }
  go_ready (d, child_nofile);
  g_main_loop_run (d->loop); /* step 7 */
  disconnect_bus (d);
  g_message ("Stopped");
  return d->exit_code;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  Sourced daemon = { .observer = &bus_signals_observer };
  int ret;

  setlocale (LC_ALL, "");
  ret = parse_options (&argc, &argv);
  if (ret >= 0)
    return ret;
  if (!clock_init_from_env (&daemon.clock, &error))
    {
      fprintf (stderr, "sourced: %s\n", error->message);
      return 2;
    }
  setup_logging ();
  ret = run (&daemon);
  teardown (&daemon);
  return ret;
}
