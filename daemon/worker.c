/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib-unix.h>

#include "sourced-error.h"

#define STDERR_LINE_MAX 1024

struct Worker {
  char *source_id;
  char *log_tag; /* "<id>" or "<id> (target)" */
  int stdin_fd;
  int stdout_fd;
  GPid pid;
  guint child_watch;
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

/* The soft descriptor limit sourced was started with, for its workers:
 * set once at start, before any worker runs. */
static rlim_t child_nofile = RLIM_INFINITY;

void
worker_set_child_nofile (rlim_t soft)
{
  child_nofile = soft;
}

static void
child_setup (gpointer user_data)
{
  pid_t parent = GPOINTER_TO_INT (user_data);
  struct rlimit rl;

  /* Own process group, so Stop reaches everything the worker started. */
  setpgid (0, 0);
  /* Never outlive sourced, even if it is killed with SIGKILL. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  if (getppid () != parent)
    _exit (127);
  /* GLib leaves these as it found them; a worker wants the defaults. */
  sigset_t all;
  sigemptyset (&all);
  sigprocmask (SIG_SETMASK, &all, NULL);
  signal (SIGPIPE, SIG_DFL);
  /* sourced raised its own soft limit; a worker gets the usual one, as
   * systemd gives it to the services it starts (select() breaks past
   * 1024). */
  if (child_nofile != RLIM_INFINITY && getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > child_nofile)
    {
      rl.rlim_cur = child_nofile;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
}

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
  g_source_remove (w->stderr_watch);
  w->stderr_watch = 0;
}

static void
on_child_exit (GPid pid, gint wait_status, gpointer user_data)
{
  Worker *w = user_data;

  w->child_watch = 0;
  w->exited = TRUE;
  drain_stderr (w);
  /* Whatever the main process left behind in its group goes with it. */
  if (kill (-w->pid, SIGKILL) < 0 && errno != ESRCH)
    g_debug ("%s: could not kill the rest of process group %d: %s", w->source_id, w->pid, g_strerror (errno));
  g_spawn_close_pid (pid);
  if (w->detached)
    worker_free (w);
  else
    w->on_exit (w, wait_status, w->user_data);
}

Worker *
worker_spawn (const WorkerSpec *spec, WorkerExitFunc on_exit, gpointer user_data, GError **error)
{
  g_auto (GStrv) parsed = NULL;
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  g_auto (GStrv) argv = NULL;
  g_autoptr (GError) local = NULL;
  GSpawnFlags flags = G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH;
  Worker *w;
  GPid pid;
  int in_fd = -1, out_fd = -1, err_fd = -1;

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
  if (!spec->stdin_pipe)
    flags |= G_SPAWN_STDIN_FROM_DEV_NULL;
  if (!spec->stdout_pipe)
    flags |= G_SPAWN_STDOUT_TO_DEV_NULL;
  if (!g_spawn_async_with_pipes (NULL, argv, NULL, flags, child_setup, GINT_TO_POINTER (getpid ()), &pid,
                                 spec->stdin_pipe ? &in_fd : NULL, spec->stdout_pipe ? &out_fd : NULL, &err_fd,
                                 &local))
    {
      /* Out of descriptors or processes (fork's EAGAIN: TasksMax) is
       * sourced's own shortage, not the worker's fault. */
      gboolean shortage = g_error_matches (local, G_SPAWN_ERROR, G_SPAWN_ERROR_FORK) ||
                          g_error_matches (local, G_SPAWN_ERROR, G_SPAWN_ERROR_MFILE) ||
                          g_error_matches (local, G_SPAWN_ERROR, G_SPAWN_ERROR_NFILE) ||
                          strstr (local->message, g_strerror (EMFILE)) || strstr (local->message, g_strerror (ENFILE));
      g_set_error (error, SOURCED_ERROR, shortage ? SOURCED_ERROR_LIMITS_EXCEEDED : SOURCED_ERROR_FAILED,
                   "cannot run '%s': %s", argv[0], local->message);
      return NULL;
    }
  /* Also from this side, so a kill right after spawn reaches the group. */
  setpgid (pid, pid);
  /* stderr carries log lines, read as they come: one page is plenty, and
   * every page counts against the user's pipe budget
   * (/proc/sys/fs/pipe-user-pages-soft), which a thousand workers of the
   * unprivileged sourced user would otherwise use up. */
  (void) fcntl (err_fd, F_SETPIPE_SZ, 4096);

  w = g_new0 (Worker, 1);
  w->source_id = g_strdup (spec->source_id);
  w->log_tag = spec->role ? g_strdup_printf ("%s (%s)", spec->source_id, spec->role) : g_strdup (spec->source_id);
  w->pid = pid;
  w->on_exit = on_exit;
  w->user_data = user_data;
  w->started = g_get_monotonic_time ();
  w->stdin_fd = in_fd;
  w->stdout_fd = out_fd;
  if (in_fd >= 0)
    g_unix_set_fd_nonblocking (in_fd, TRUE, NULL);
  if (out_fd >= 0)
    g_unix_set_fd_nonblocking (out_fd, TRUE, NULL);
  w->stderr_fd = err_fd;
  w->stderr_partial = g_string_new (NULL);
  g_unix_set_fd_nonblocking (err_fd, TRUE, NULL);
  w->stderr_watch = g_unix_fd_add (err_fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stderr, w);
  w->child_watch = g_child_watch_add (pid, on_child_exit, w);
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
  if (w->exited)
    return;
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
  g_assert (w->child_watch == 0);
  if (w->stderr_watch)
    g_source_remove (w->stderr_watch);
  if (w->stderr_fd >= 0)
    close (w->stderr_fd);
  if (w->stdin_fd >= 0)
    close (w->stdin_fd);
  if (w->stdout_fd >= 0)
    close (w->stdout_fd);
  g_string_free (w->stderr_partial, TRUE);
  g_free (w->last_line);
  g_free (w->source_id);
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
