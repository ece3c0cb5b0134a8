/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib-unix.h>

#include "io-watch.h"
#include "sourced-error.h"
#include "spawner.h"

#define STDERR_LINE_MAX 1024

struct Worker {
  Spawner *spawner;
  IoWatcher *io;
  char *source_id;
  char *log_tag; /* "<id>" or "<id> (target)" */
  int stdin_fd;
  int stdout_fd;
  pid_t pid;         /* 0 until worker_spawn_finish() */
  char *argv0;
  guint32 request;   /* the spawn helper's, until the pid is known */
  gboolean watching; /* its exit is still to come */
  int stderr_fd;
  guint stderr_watch;
  GString *stderr_partial;
  char *last_line;
  gint64 started;
  gboolean exited;
  gboolean detached;
  WorkerExitFunc on_exit;
  gpointer user_data;
};

static void
log_stderr_line (Worker *w, const char *line)
{
  g_log_structured (G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE,
                    "SOURCE_ID", w->source_id,
                    "MESSAGE", "%s: %s", w->log_tag, line);
  g_free (w->last_line);
  w->last_line = g_strdup (line);
}

/* Reads what is available: 1 if something was read, 0 if nothing is there
 * for now, -1 at end of file or on error. */
static int
read_stderr (Worker *w)
{
  char buf[4096];
  ssize_t n = read (w->stderr_fd, buf, sizeof buf);

  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return errno == EINTR ? 1 : 0;
  if (n <= 0)
    {
      if (w->stderr_partial->len)
        log_stderr_line (w, w->stderr_partial->str);
      g_string_truncate (w->stderr_partial, 0);
      return -1;
    }
  for (ssize_t i = 0; i < n; i++)
    {
      if (buf[i] == '\n')
        {
          log_stderr_line (w, w->stderr_partial->str);
          g_string_truncate (w->stderr_partial, 0);
        }
      else if (w->stderr_partial->len < STDERR_LINE_MAX)
        g_string_append_c (w->stderr_partial, buf[i]);
    }
  return 1;
}

static gboolean
on_stderr (gint fd, GIOCondition cond, gpointer user_data)
{
  Worker *w = user_data;

  if (read_stderr (w) >= 0)
    return G_SOURCE_CONTINUE;
  w->stderr_watch = 0;
  return G_SOURCE_REMOVE;
}

/* The main process has exited: what it wrote is in the pipe already. Read
 * that, and stop watching (a grandchild may still hold the pipe open; its
 * output is not this worker's any more). */
static void
drain_stderr (Worker *w)
{
  if (!w->stderr_watch)
    return;
  while (read_stderr (w) > 0)
    ;
  if (w->stderr_partial->len)
    log_stderr_line (w, w->stderr_partial->str);
  g_string_truncate (w->stderr_partial, 0);
  io_watch_remove (w->io, w->stderr_watch);
  w->stderr_watch = 0;
}

static void
on_child_exit (pid_t pid, int wait_status, gpointer user_data)
{
  Worker *w = user_data;

  w->watching = FALSE;
  w->exited = TRUE;
  drain_stderr (w);
  /* Whatever the main process left behind in its group goes with it. */
  if (kill (-w->pid, SIGKILL) < 0 && errno != ESRCH)
    g_debug ("%s: could not kill the rest of process group %d: %s", w->source_id, w->pid, g_strerror (errno));
  if (w->detached)
    worker_free (w);
  else
    w->on_exit (w, wait_status, w->user_data);
}

/* Out of descriptors or processes (fork's EAGAIN: TasksMax) is sourced's
 * own shortage, not the worker's fault. */
static void
set_spawn_error (GError **error, const char *argv0, const GError *local)
{
  gboolean shortage = g_error_matches (local, G_SPAWN_ERROR, G_SPAWN_ERROR_FORK) ||
                      g_error_matches (local, G_SPAWN_ERROR, G_SPAWN_ERROR_MFILE);

  g_set_error (error, SOURCED_ERROR, shortage ? SOURCED_ERROR_LIMITS_EXCEEDED : SOURCED_ERROR_FAILED,
               "cannot run '%s': %s", argv0, local->message);
}

/* A pipe for the worker's end @child_end (0 read, 1 write); *ours gets the
 * other end, non-blocking. Both close-on-exec. */
static gboolean
make_pipe (int *ours, int *theirs, int child_end)
{
  int p[2];

  if (pipe2 (p, O_CLOEXEC) < 0)
    return FALSE;
  *theirs = p[child_end];
  *ours = p[1 - child_end];
  g_unix_set_fd_nonblocking (*ours, TRUE, NULL);
  return TRUE;
}

static void
close_all (int *fds, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (fds[i] >= 0)
      {
        close (fds[i]);
        fds[i] = -1;
      }
}

Worker *
worker_spawn_begin (const WorkerSpec *spec, WorkerExitFunc on_exit, gpointer user_data, GError **error)
{
  g_auto (GStrv) parsed = NULL;
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  g_auto (GStrv) argv = NULL;
  g_autoptr (GError) local = NULL;
  Worker *w;
  int ours[3] = { -1, -1, -1 };   /* stdin (write), stdout (read), stderr (read) */
  int theirs[3] = { -1, -1, -1 }; /* the worker's 0, 1, 2 */
  gboolean ok;
  guint32 request;

  if (!g_shell_parse_argv (spec->command_line, NULL, &parsed, &local))
    {
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_FAILED, "cannot parse %s: %s",
                   spec->role ? "Target" : "Exec", local->message);
      return NULL;
    }
  g_strv_builder_addv (builder, (const char **) parsed);
  if (spec->extra_args)
    g_strv_builder_addv (builder, (const char **) spec->extra_args);
  argv = g_strv_builder_end (builder);

  ok = (spec->stdin_pipe ? make_pipe (&ours[0], &theirs[0], 0)
                         : (theirs[0] = open ("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) &&
       (spec->stdout_pipe ? make_pipe (&ours[1], &theirs[1], 1)
                          : (theirs[1] = open ("/dev/null", O_WRONLY | O_CLOEXEC)) >= 0) &&
       make_pipe (&ours[2], &theirs[2], 1);
  if (!ok)
    {
      int err = errno;
      close_all (ours, 3);
      close_all (theirs, 3);
      g_set_error (error, SOURCED_ERROR,
                   err == EMFILE || err == ENFILE ? SOURCED_ERROR_LIMITS_EXCEEDED : SOURCED_ERROR_FAILED,
                   "cannot run '%s': cannot make its pipes: %s", argv[0], g_strerror (err));
      return NULL;
    }
  /* stderr carries log lines, read as they come: one page is plenty, and
   * every page counts against the user's pipe budget
   * (/proc/sys/fs/pipe-user-pages-soft), which a thousand workers of the
   * unprivileged sourced user would otherwise use up. */
  (void) fcntl (ours[2], F_SETPIPE_SZ, 4096);

  request = spawner_send (spec->spawner, (const char *const *) argv, theirs, &local);
  close_all (theirs, 3);
  if (!request)
    {
      close_all (ours, 3);
      set_spawn_error (error, argv[0], local);
      return NULL;
    }

  w = g_new0 (Worker, 1);
  w->argv0 = g_strdup (argv[0]);
  w->request = request;
  w->spawner = spec->spawner;
  w->io = spec->io;
  w->source_id = g_strdup (spec->source_id);
  w->log_tag = spec->role ? g_strdup_printf ("%s (%s)", spec->source_id, spec->role) : g_strdup (spec->source_id);
  w->on_exit = on_exit;
  w->user_data = user_data;
  w->started = g_get_monotonic_time ();
  w->stdin_fd = ours[0];
  w->stdout_fd = ours[1];
  w->stderr_fd = ours[2];
  w->stderr_partial = g_string_new (NULL);
  return w;
}

gboolean
worker_spawn_finish (Worker *w, GError **error)
{
  g_autoptr (GError) local = NULL;

  w->pid = spawner_receive (w->spawner, w->request, w->argv0, &local);
  if (w->pid == 0)
    {
      set_spawn_error (error, w->argv0, local);
      return FALSE;
    }
  w->started = g_get_monotonic_time ();
  w->stderr_watch = io_watch_add (w->io, w->stderr_fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stderr, w);
  w->watching = TRUE;
  spawner_watch (w->spawner, w->pid, on_child_exit, w);
  return TRUE;
}

Worker *
worker_spawn (const WorkerSpec *spec, WorkerExitFunc on_exit, gpointer user_data, GError **error)
{
  Worker *w = worker_spawn_begin (spec, on_exit, user_data, error);

  if (w && !worker_spawn_finish (w, error))
    g_clear_pointer (&w, worker_free);
  return w;
}

int
worker_steal_stdin_fd (Worker *w)
{
  int fd = w->stdin_fd;
  w->stdin_fd = -1;
  return fd;
}

int
worker_steal_stdout_fd (Worker *w)
{
  int fd = w->stdout_fd;
  w->stdout_fd = -1;
  return fd;
}

pid_t
worker_get_pid (Worker *w)
{
  return w->pid;
}

gint64
worker_get_started_monotonic (Worker *w)
{
  return w->started;
}

void
worker_detach (Worker *w)
{
  if (w->exited)
    worker_free (w);
  else
    w->detached = TRUE;
}

void
worker_kill (Worker *w, int sig)
{
  if (w->exited || w->pid <= 0)
    return; /* (kill (0) or kill (-0) would reach sourced's own group) */
  if (kill (-w->pid, sig) < 0 && errno == ESRCH)
    kill (w->pid, sig);
}

const char *
worker_last_stderr_line (Worker *w)
{
  return w->last_line ? w->last_line : "";
}

void
worker_free (Worker *w)
{
  if (!w)
    return;
  g_assert (!w->watching);
  if (w->stderr_watch)
    io_watch_remove (w->io, w->stderr_watch);
  if (w->stderr_fd >= 0)
    close (w->stderr_fd);
  if (w->stdin_fd >= 0)
    close (w->stdin_fd);
  if (w->stdout_fd >= 0)
    close (w->stdout_fd);
  g_string_free (w->stderr_partial, TRUE);
  g_free (w->last_line);
  g_free (w->source_id);
  g_free (w->argv0);
  g_free (w->log_tag);
  g_free (w);
}

char *
worker_describe_exit (int wait_status)
{
  if (WIFEXITED (wait_status))
    return g_strdup_printf ("exited with status %d", WEXITSTATUS (wait_status));
  if (WIFSIGNALED (wait_status))
    return g_strdup_printf ("killed by signal %d (%s)", WTERMSIG (wait_status), g_strsignal (WTERMSIG (wait_status)));
  return g_strdup ("ended");
}

int
worker_exit_code (int wait_status)
{
  if (WIFEXITED (wait_status))
    return WEXITSTATUS (wait_status);
  if (WIFSIGNALED (wait_status))
    return -WTERMSIG (wait_status);
  return -1;
}
