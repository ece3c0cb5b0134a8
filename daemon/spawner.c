/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "spawner.h"

#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib-unix.h>

#define REQUEST_MAX (64 * 1024)

/* Helper -> sourced. */
typedef enum {
  REPLY_SPAWNED = 1, /* pid runs (its exec succeeded) */
  REPLY_FAILED,      /* value: errno; stage: 0 fork, 1 exec */
  REPLY_EXITED,      /* pid ended; value: its wait status */
} ReplyType;

typedef struct {
  gint32 type;
  gint32 pid;
  gint32 value;
  gint32 stage;
  guint32 id; /* of the request answered (REPLY_SPAWNED, REPLY_FAILED) */
} Reply;

/* A request: its id, then the command line's strings, each ended by NUL. */

typedef struct {
  SpawnerExitFunc func;
  gpointer user_data;
} Watch;

/* One helper a core, up to MAX_HELPERS: each waits for its child's exec
 * (vfork), so two of them exec two workers at once. */
#define MAX_HELPERS 4

/* sourced's end of the helpers: one per daemon (d->spawner). */
struct Spawner {
  int helper_socks[MAX_HELPERS];
  guint helper_watches[MAX_HELPERS];
  guint n_helpers;
  GHashTable *watches;   /* pid -> Watch* */
  GArray *early_exits;   /* Reply: exits read while waiting for a reply */
  GArray *early_answers; /* Reply: answers read while waiting for another one */
  guint32 last_id;
  guint early_exits_idle;
};

/* ---- The helper (a forked child; no GLib from here on) --------------------- */

static void
send_reply (int sock, guint32 id, gint32 type, gint32 pid, gint32 value, gint32 stage)
{
  Reply r = { type, pid, value, stage, id };

  while (send (sock, &r, sizeof r, MSG_NOSIGNAL) < 0 && errno == EINTR)
    ;
}

/* The child's side, between vfork() and exec: it shares the helper's
 * memory until then, so it only makes system calls and writes its errno
 * where the helper will read it. The helper's RLIMIT_NOFILE is the
 * workers' already, and it has no signal handlers (those die with the
 * exec): only SIGPIPE's disposition and the mask need resetting. */
static void
exec_child (char **argv, const int *fds, pid_t helper, volatile int *exec_errno)
{
  sigset_t none;

  /* Own process group, so Stop reaches everything the worker starts. */
  setpgid (0, 0);
  /* Never outlive the helper, which never outlives sourced. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  if (getppid () != helper)
    _exit (127);
  signal (SIGPIPE, SIG_DFL);
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
  for (int i = 0; i < 3; i++)
    if (dup2 (fds[i], i) < 0)
      goto fail;
  execvp (argv[0], argv);
fail:
  *exec_errno = errno;
  _exit (127);
}

static void
spawn_one (int sock, guint32 id, char *buf, size_t len, const int *fds)
{
  char *argv[1024];
  size_t n = 0;
  volatile int exec_errno = 0;
  pid_t helper = getpid ();
  pid_t pid;

  for (size_t at = 0; at < len && n < G_N_ELEMENTS (argv) - 1; at += strlen (buf + at) + 1)
    argv[n++] = buf + at;
  argv[n] = NULL;
  if (n == 0)
    {
      send_reply (sock, id, REPLY_FAILED, 0, EINVAL, 0);
      return;
    }
  /* vfork: no copy of the helper's page tables, and the helper waits
   * until the exec has happened or failed, which is what it reports. */
  pid = vfork ();
  if (pid == 0)
    exec_child (argv, fds, helper, &exec_errno);
  /* Its group from this side too, as shells do: where vfork is a plain
   * fork (valgrind), the child may not have got to its setpgid yet when
   * the worker is reported running. (EACCES once it has exec'd: done.) */
  if (pid > 0)
    setpgid (pid, pid);
  if (pid < 0)
    send_reply (sock, id, REPLY_FAILED, 0, errno, 0);
  else if (exec_errno)
    {
      waitpid (pid, NULL, 0);
      send_reply (sock, id, REPLY_FAILED, 0, exec_errno, 1);
    }
  else
    send_reply (sock, id, REPLY_SPAWNED, pid, 0, 0);
}

static void
reap (int sock)
{
  pid_t pid;
  int status;

  while ((pid = waitpid (-1, &status, WNOHANG)) > 0)
    send_reply (sock, 0, REPLY_EXITED, pid, status, 0);
}

G_GNUC_NORETURN static void
helper_main (int sock, pid_t parent, rlim_t nofile)
{
  char *buf = malloc (REQUEST_MAX); /* once, for the helper's life */
  sigset_t chld;
  int sfd;

  prctl (PR_SET_PDEATHSIG, SIGKILL);
  if (getppid () != parent)
    _exit (0);
  prctl (PR_SET_NAME, "sourced-spawn");
  signal (SIGPIPE, SIG_IGN);
  /* What every worker starts with; the helper needs a handful. */
  {
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > nofile)
      {
        rl.rlim_cur = nofile;
        setrlimit (RLIMIT_NOFILE, &rl);
      }
  }
  sigemptyset (&chld);
  sigaddset (&chld, SIGCHLD);
  sigprocmask (SIG_BLOCK, &chld, NULL);
  sfd = signalfd (-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0)
    _exit (1);

  for (;;)
    {
      struct pollfd p[2] = { { sock, POLLIN, 0 }, { sfd, POLLIN, 0 } };
      char control[CMSG_SPACE (3 * sizeof (int))];
      struct iovec iov = { buf, REQUEST_MAX - 1 };
      struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                            .msg_controllen = sizeof control };
      struct cmsghdr *cmsg;
      int fds[3] = { -1, -1, -1 };
      ssize_t n;

      if (poll (p, 2, -1) < 0)
        continue;
      if (p[1].revents)
        {
          struct signalfd_siginfo si;
          while (read (sfd, &si, sizeof si) > 0)
            ;
          reap (sock);
        }
      if (!p[0].revents)
        continue;
      n = recvmsg (sock, &msg, MSG_CMSG_CLOEXEC);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
        _exit (0); /* sourced is gone */
      if (n < 0)
        continue;
      for (cmsg = CMSG_FIRSTHDR (&msg); cmsg; cmsg = CMSG_NXTHDR (&msg, cmsg))
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS &&
            cmsg->cmsg_len == CMSG_LEN (3 * sizeof (int)))
          memcpy (fds, CMSG_DATA (cmsg), sizeof fds);
      buf[n] = '\0';
      if (n < (ssize_t) sizeof (guint32))
        _exit (1); /* not sourced talking */
      guint32 id;
      memcpy (&id, buf, sizeof id);
      if (fds[0] < 0 || fds[1] < 0 || fds[2] < 0)
        send_reply (sock, id, REPLY_FAILED, 0, EBADF, 0);
      else
        spawn_one (sock, id, buf + sizeof id, (size_t) n - sizeof id, fds);
      for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
          close (fds[i]);
      /* No reap here: waitpid(-1) walks every child, and SIGCHLD keeps
       * the signalfd readable until the next poll anyway. */
    }
}

/* ---- sourced's side ------------------------------------------------------- */

static void
dispatch_exit (Spawner *s, const Reply *r)
{
  Watch *w = g_hash_table_lookup (s->watches, GINT_TO_POINTER (r->pid));
  Watch copy;

  if (!w)
    return;
  copy = *w;
  g_hash_table_remove (s->watches, GINT_TO_POINTER (r->pid));
  copy.func (r->pid, r->value, copy.user_data);
}

static gboolean
on_early_exits (gpointer user_data)
{
  Spawner *s = user_data;
  g_autoptr (GArray) exits = g_steal_pointer (&s->early_exits);

  s->early_exits_idle = 0;
  for (guint i = 0; exits && i < exits->len; i++)
    dispatch_exit (s, &g_array_index (exits, Reply, i));
  return G_SOURCE_REMOVE;
}

static void
keep_exit (Spawner *s, const Reply *r)
{
  if (!s->early_exits)
    s->early_exits = g_array_new (FALSE, FALSE, sizeof (Reply));
  g_array_append_val (s->early_exits, *r);
  if (!s->early_exits_idle)
    s->early_exits_idle = g_idle_add (on_early_exits, s);
}

static void
keep_answer (Spawner *s, const Reply *r)
{
  if (!s->early_answers)
    s->early_answers = g_array_new (FALSE, FALSE, sizeof (Reply));
  g_array_append_val (s->early_answers, *r);
}

static gboolean
on_helper_readable (gint fd, GIOCondition cond, gpointer user_data)
{
  Spawner *s = user_data;
  Reply r;
  ssize_t n;

  while ((n = recv (fd, &r, sizeof r, MSG_DONTWAIT)) == sizeof r)
    {
      if (r.type == REPLY_EXITED)
        dispatch_exit (s, &r);
      else
        keep_answer (s, &r); /* a spawner_receive() to come takes it */
    }
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
    {
      /* Without it no worker can start or be reaped: systemd restarts us. */
      g_critical ("The spawn helper is gone (%s); exiting", n == 0 ? "end of file" : g_strerror (errno));
      _exit (1);
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
start_helper (Spawner *s, rlim_t child_nofile, GError **error)
{
  int sv[2];
  pid_t parent = getpid (), pid;

  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    {
      g_set_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED, "Cannot create the spawn helper's socket: %s",
                   g_strerror (errno));
      return FALSE;
    }
  pid = fork ();
  if (pid < 0)
    {
      int err = errno;
      close (sv[0]);
      close (sv[1]);
      g_set_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_FORK, "Cannot fork the spawn helper: %s", g_strerror (err));
      return FALSE;
    }
  if (pid == 0)
    {
      /* Not the other helpers' ends: a helper sees sourced go away as
       * the end of its own socket. */
      close (sv[0]);
      for (guint i = 0; i < s->n_helpers; i++)
        close (s->helper_socks[i]);
      helper_main (sv[1], parent, child_nofile);
    }
  close (sv[1]);
  s->helper_watches[s->n_helpers] = g_unix_fd_add (sv[0], G_IO_IN | G_IO_HUP | G_IO_ERR, on_helper_readable, s);
  s->helper_socks[s->n_helpers++] = sv[0];
  return TRUE;
}

Spawner *
spawner_start (rlim_t child_nofile, GError **error)
{
  guint want = CLAMP (g_get_num_processors (), 1, MAX_HELPERS);
  Spawner *s = g_new0 (Spawner, 1);

  s->watches = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  for (guint i = 0; i < want; i++)
    if (!start_helper (s, child_nofile, error))
      {
        spawner_free (s);
        return NULL;
      }
  return s;
}

void
spawner_free (Spawner *s)
{
  if (!s)
    return;
  for (guint i = 0; i < s->n_helpers; i++)
    {
      g_source_remove (s->helper_watches[i]);
      close (s->helper_socks[i]); /* the helper sees the end and exits */
    }
  if (s->early_exits_idle)
    g_source_remove (s->early_exits_idle);
  g_clear_pointer (&s->early_exits, g_array_unref);
  g_clear_pointer (&s->early_answers, g_array_unref);
  g_hash_table_unref (s->watches);
  g_free (s);
}

static int
helper_for (Spawner *s, guint32 id)
{
  return s->helper_socks[id % s->n_helpers];
}

guint32
spawner_send (Spawner *s, const char *const *argv, const int fds[3], GError **error)
{
  g_autoptr (GString) req = g_string_new (NULL);
  guint32 id = ++s->last_id ? s->last_id : ++s->last_id; /* never 0 */
  char control[CMSG_SPACE (3 * sizeof (int))] = { 0 };
  struct iovec iov;
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
  struct cmsghdr *cmsg = CMSG_FIRSTHDR (&msg);
  ssize_t n;

  g_return_val_if_fail (s->n_helpers > 0, 0);
  g_string_append_len (req, (const char *) &id, sizeof id);
  for (guint i = 0; argv[i]; i++)
    g_string_append_len (req, argv[i], (gssize) strlen (argv[i]) + 1);
  if (req->len == sizeof id || req->len >= REQUEST_MAX)
    {
      g_set_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_TOO_BIG, "The command line is empty or too long");
      return 0;
    }
  iov.iov_base = req->str;
  iov.iov_len = req->len;
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN (3 * sizeof (int));
  memcpy (CMSG_DATA (cmsg), fds, 3 * sizeof (int));
  do
    n = sendmsg (helper_for (s, id), &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    {
      int err = errno;
      g_set_error (error, G_SPAWN_ERROR, err == EMFILE || err == ENFILE ? G_SPAWN_ERROR_MFILE : G_SPAWN_ERROR_FAILED,
                   "Cannot reach the spawn helper: %s", g_strerror (err));
      return 0;
    }
  return id;
}

/* An answer read earlier, while waiting for another one. */
static gboolean
take_early_answer (Spawner *s, guint32 id, Reply *r)
{
  for (guint i = 0; s->early_answers && i < s->early_answers->len; i++)
    if (g_array_index (s->early_answers, Reply, i).id == id)
      {
        *r = g_array_index (s->early_answers, Reply, i);
        g_array_remove_index_fast (s->early_answers, i);
        return TRUE;
      }
  return FALSE;
}

pid_t
spawner_receive (Spawner *s, guint32 id, const char *argv0, GError **error)
{
  Reply r;
  ssize_t n;

  /* The answer comes in a moment (the helper forks and waits for the
   * exec); exits that arrive first are kept for the main loop, and so are
   * the answers to other requests (a target spawned in the middle of a
   * batch of workers). */
  while (!take_early_answer (s, id, &r))
    {
      do
        n = recv (helper_for (s, id), &r, sizeof r, 0);
      while (n < 0 && errno == EINTR);
      if (n != sizeof r)
        {
          g_set_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED, "The spawn helper did not answer");
          return 0;
        }
      if (r.type == REPLY_EXITED)
        keep_exit (s, &r);
      else if (r.id == id)
        break;
      else
        keep_answer (s, &r);
    }
  if (r.type == REPLY_SPAWNED)
    return r.pid;
  if (r.stage == 0)
    g_set_error (error, G_SPAWN_ERROR, r.value == EMFILE || r.value == ENFILE ? G_SPAWN_ERROR_MFILE : G_SPAWN_ERROR_FORK,
                 "Failed to fork (%s)", g_strerror (r.value));
  else
    g_set_error (error, G_SPAWN_ERROR, r.value == ENOENT ? G_SPAWN_ERROR_NOENT : G_SPAWN_ERROR_FAILED,
                 "Failed to execute child process “%s” (%s)", argv0, g_strerror (r.value));
  return 0;
}

pid_t
spawner_spawn (Spawner *s, const char *const *argv, const int fds[3], GError **error)
{
  guint32 id = spawner_send (s, argv, fds, error);

  return id ? spawner_receive (s, id, argv[0], error) : 0;
}

guint
spawner_parallelism (Spawner *s)
{
  return s->n_helpers;
}

void
spawner_watch (Spawner *s, pid_t pid, SpawnerExitFunc func, gpointer user_data)
{
  Watch *w = g_new (Watch, 1);

  w->func = func;
  w->user_data = user_data;
  g_hash_table_replace (s->watches, GINT_TO_POINTER (pid), w);
}

void
spawner_unwatch (Spawner *s, pid_t pid)
{
  if (s && s->watches)
    g_hash_table_remove (s->watches, GINT_TO_POINTER (pid));
}
