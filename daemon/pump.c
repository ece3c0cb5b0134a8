/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pump.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>

#include "io-watch.h"
#include "pg-sink.h"
#include "singer.h"
#include "sink-rules.h"
#include "source.h"
#include "sourced-error.h"
#include "worker.h"

/* Work per wake-up before going back to the main loop: the bus is served
 * at a higher priority, so a control call waits for at most one such turn
 * of each busy source. */
#define WAKEUP_BUDGET_USEC 500

typedef enum {
  SINK_FILE,       /* a JSON-lines file (Sink=, or the default one) */
  SINK_TARGET,     /* a Target= command's stdin */
  SINK_POSTGRESQL, /* PostgreSQL, through pg-sink.c */
} SinkKind;

/* A JSON-lines file, cut back to the last checkpoint when a Singer run
 * starts; a STATE is a checkpoint once what came before it is on disk. */
typedef struct {
  int fd;
  char *path;
  char *state_dir;
  guint64 offset;
} FileSink;

/* A Target= command: records go to its stdin, and what it echoes on its
 * stdout (the STATEs it has stored) becomes the bookmark. */
typedef struct {
  Worker *worker;
  int in;
  guint in_watch;
  int out;
  guint out_watch;
  GString *line; /* an echoed line, not yet complete */
} TargetSink;

struct Pump {
  Source *src; /* the owner; not a reference */
  Spawner *spawner; /* the daemon's, for a Target= */
  IoWatcher *io;    /* the daemon's descriptor watches */
  const PumpCallbacks *cb;
  SourceType type;
  JsonParser *parser;
  guint64 line_no; /* of the worker's output in this run, for log lines */

  /* The worker's stdout. */
  int in_fd;
  guint in_watch;
  gboolean pipe_grown; /* grown (or tried) once the worker filled it */
  GByteArray *in; /* read, not yet cut into records */

  /* Cut into lines, not yet written. out_other_ends holds where each line
   * that is not a record (SCHEMA, STATE passed to a target, …) ends, so that
   * RecordsDelivered counts records only. */
  GByteArray *out;
  GArray *out_other_ends; /* gsize */
  /* Records in out that came one line at a time (all of them in a Singer
   * run), so that a checkpoint knows its count without rescanning out. */
  guint64 out_records;

  /* Where the records go: one of two small sinks, said by kind. */
  SinkKind kind;
  FileSink file;

  /* A STATE waiting for the bytes before it to be written. */
  gboolean ckpt_pending;
  guint64 ckpt_offset;
  char *ckpt_state;
  guint64 ckpt_records;
  guint64 ckpt_bytes;

  TargetSink target;

  /* PostgreSQL: out[0, pg_sent) is in the open transaction. An exec
   * source's lines stay in out until they commit (sent again after a lost
   * connection); a Singer source's go at once (its tap sends them again). */
  PgSink *pg;
  gsize pg_sent;
  gboolean in_run_pg; /* a run began and has not ended */
  guint pg_idle;      /* the rest of a delivery cut short by its budget */
  gboolean pg_lost;   /* the connection is gone: nothing is taken */

  gboolean flowing;
  gboolean sink_failed; /* reported; retried when flowing is set again */

  gboolean finishing;
  void (*done) (Source *src);
};

static void update_watches (Pump *p);
static void try_finish (Pump *p);

Pump *
pump_new (Source *src, const PumpCallbacks *callbacks, Spawner *spawner, IoWatcher *io)
{
  Pump *p = g_new0 (Pump, 1);

  p->src = src;
  p->spawner = spawner;
  p->io = io;
  p->cb = callbacks;
  p->parser = json_parser_new_immutable ();
  p->in_fd = -1;
  p->in = g_byte_array_new ();
  p->out = g_byte_array_new ();
  p->out_other_ends = g_array_new (FALSE, FALSE, sizeof (gsize));
  p->file.fd = -1;
  p->target.in = -1;
  p->target.out = -1;
  p->target.line = g_string_new (NULL);
  return p;
}

static void
clear_watch (Pump *p, guint *id)
{
  if (*id)
    {
      io_watch_remove (p->io, *id);
      *id = 0;
    }
}

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    {
      close (*fd);
      *fd = -1;
    }
}

static void
drop_target (Pump *p)
{
  clear_watch (p, &p->target.in_watch);
  clear_watch (p, &p->target.out_watch);
  close_fd (&p->target.in);
  close_fd (&p->target.out);
  if (p->target.worker)
    {
      /* Still running (only when the source goes away): it dies alone. */
      worker_kill (p->target.worker, SIGKILL);
      worker_detach (p->target.worker);
      p->target.worker = NULL;
    }
}

void
pump_free (Pump *p)
{
  if (!p)
    return;
  clear_watch (p, &p->in_watch);
  close_fd (&p->in_fd);
  close_fd (&p->file.fd);
  drop_target (p);
  pg_sink_free (p->pg);
  g_clear_handle_id (&p->pg_idle, g_source_remove);
  g_byte_array_unref (p->in);
  g_byte_array_unref (p->out);
  g_array_unref (p->out_other_ends);
  g_string_free (p->target.line, TRUE);
  g_free (p->file.path);
  g_free (p->file.state_dir);
  g_free (p->ckpt_state);
  g_object_unref (p->parser);
  g_free (p);
}

/* ---- Delivery ---------------------------------------------------------- */

/* Counts '\n' eight bytes at a time: a memchr() per line costs a call per
 * record, which for short records (`yes`) made counting the main cost of
 * delivery. */
static guint64
count_lines (const guint8 *data, gsize len)
{
  const guint64 low7 = G_GUINT64_CONSTANT (0x7f7f7f7f7f7f7f7f);
  const guint64 newlines = G_GUINT64_CONSTANT (0x0a0a0a0a0a0a0a0a);
  guint64 lines = 0;
  gsize i = 0;

  for (; i + 8 <= len; i += 8)
    {
      guint64 w, x, t;
      memcpy (&w, data + i, 8);
      x = w ^ newlines; /* a zero byte where there was a '\n' */
      t = ~(((x & low7) + low7) | x | low7); /* exactly those bytes: 0x80 */
      lines += (guint64) __builtin_popcountll (t);
    }
  for (; i < len; i++)
    lines += data[i] == '\n';
  return lines;
}

/* @n bytes of out have reached the sink: count them and let them go. */
static void
consume_out (Pump *p, gsize n)
{
  guint64 lines = count_lines (p->out->data, n), others = 0, records;
  guint i, keep;

  for (i = 0; i < p->out_other_ends->len && g_array_index (p->out_other_ends, gsize, i) <= n; i++)
    others++;
  g_array_remove_range (p->out_other_ends, 0, i);
  keep = p->out_other_ends->len;
  for (i = 0; i < keep; i++)
    g_array_index (p->out_other_ends, gsize, i) -= n;
  g_byte_array_remove_range (p->out, 0, (guint) n);

  records = lines - others;
  p->out_records = p->out_records > records ? p->out_records - records : 0;
  if (p->cb->delivered)
    p->cb->delivered (p->src, records, n);
}

static void
report_sink_failure (Pump *p, const char *what, int err)
{
  g_autofree char *msg = g_strdup_printf ("Cannot %s sink %s: %s; %" G_GSIZE_FORMAT
                                          " bytes are held until the source is unpaused",
                                          what, p->file.path, g_strerror (err), (gsize) p->out->len);
  p->sink_failed = TRUE;
  p->cb->sink_failed (p->src, msg);
}

static gboolean
write_file (Pump *p)
{
  while (p->out->len > 0)
    {
      ssize_t n = write (p->file.fd, p->out->data, MIN (p->out->len, (gsize) 1 << 30));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          report_sink_failure (p, "write", n < 0 ? errno : ENOSPC);
          return FALSE;
        }
      p->file.offset += (guint64) n;
      consume_out (p, (gsize) n);
    }
  if (p->ckpt_pending && p->file.offset >= p->ckpt_offset)
    {
      /* The checkpoint promises these bytes: they go to disk first. */
      if (fdatasync (p->file.fd) < 0)
        {
          report_sink_failure (p, "sync", errno);
          return FALSE;
        }
      p->ckpt_pending = FALSE;
      p->cb->checkpoint (p->src, p->file.path, p->ckpt_offset, p->ckpt_state, p->ckpt_records, p->ckpt_bytes);
    }
  return TRUE;
}

static gboolean on_target_writable (gint fd, GIOCondition cond, gpointer user_data);

static gboolean
write_target (Pump *p)
{
  while (p->out->len > 0)
    {
      ssize_t n;

      if (p->target.in < 0)
        return FALSE; /* the target is gone; held for the next one */
      n = write (p->target.in, p->out->data, p->out->len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return FALSE; /* the target is busy: backpressure */
      if (n < 0)
        {
          g_autofree char *msg = g_strdup_printf ("Cannot write to the target: %s", g_strerror (errno));
          close_fd (&p->target.in);
          p->cb->broken (p->src, msg);
          return FALSE;
        }
      consume_out (p, (gsize) n);
    }
  return TRUE;
}

static gboolean on_pg_continue (gpointer user_data);

/* Lines cost work here (a file sink's write does not): handed over a slice
 * at a time, for at most a wake-up's budget, and the rest from an idle
 * callback, below the bus, so that a control call never waits behind a
 * megabyte of records. */
#define PG_SLICE (64 * 1024)

static gboolean
write_postgresql (Pump *p)
{
  gint64 until = g_get_monotonic_time () + WAKEUP_BUDGET_USEC;

  while (p->pg_sent < p->out->len)
    {
      gsize n;

      if (g_get_monotonic_time () >= until || (p->cb->should_yield && p->cb->should_yield (p->src)))
        {
          if (!p->pg_idle)
            p->pg_idle = g_idle_add_full (G_PRIORITY_DEFAULT, on_pg_continue, p, NULL);
          return FALSE;
        }
      n = pg_sink_write (p->pg, (const char *) p->out->data + p->pg_sent,
                         MIN (p->out->len - p->pg_sent, (gsize) PG_SLICE));
      if (n == 0 && p->out->len - p->pg_sent > PG_SLICE && !memchr (p->out->data + p->pg_sent, '\n', PG_SLICE))
        n = pg_sink_write (p->pg, (const char *) p->out->data + p->pg_sent, p->out->len - p->pg_sent); /* a long line */
      if (n == 0)
        return FALSE; /* busy (or gone): backpressure */
      if (p->type == SOURCE_TYPE_SINGER)
        g_byte_array_remove_range (p->out, 0, (guint) n);
      else
        p->pg_sent += n;
    }
  return TRUE;
}

/* What is cut and not yet handed to the sink. */
static gsize
out_pending (Pump *p)
{
  if (p->kind == SINK_POSTGRESQL)
    {
      /* An exec source's uncommitted lines are bounded too. */
      if (p->type == SOURCE_TYPE_EXEC && p->out->len >= PG_SINK_EXEC_BATCH_BYTES + PUMP_READ_CHUNK)
        return p->out->len;
      return p->out->len - p->pg_sent;
    }
  return p->out->len;
}

/* Writes what is cut; TRUE when nothing is left. Only while flowing. */
static gboolean
deliver (Pump *p)
{
  if (!p->flowing)
    return out_pending (p) == 0;
  if (p->kind == SINK_POSTGRESQL)
    return write_postgresql (p);
  if (p->out->len == 0 && !p->ckpt_pending)
    return TRUE;
  if (p->kind == SINK_TARGET)
    return write_target (p);
  if (p->file.fd < 0)
    return FALSE;
  return write_file (p);
}

/* ---- Cutting records --------------------------------------------------- */

static void
append_line (Pump *p, const guint8 *line, gsize len, gboolean is_record)
{
  g_byte_array_append (p->out, line, (guint) len);
  g_byte_array_append (p->out, (const guint8 *) "\n", 1);
  if (is_record)
    p->out_records++;
  else
    {
      gsize end = p->out->len;
      g_array_append_val (p->out_other_ends, end);
    }
}

static void
cut_singer_line (Pump *p, const guint8 *line, gsize len)
{
  g_autoptr (GError) error = NULL;
  SingerMessage msg;

  p->line_no++;
  if (len == 0)
    return;
  if (!singer_parse_line (p->parser, (const char *) line, len, &msg, &error))
    {
      /* Not data: nothing a sink could use. Said, and skipped. */
      g_warning ("%s: line %" G_GUINT64_FORMAT " of the tap's output skipped: %s", p->src->id, p->line_no,
                 error->message);
      return;
    }
  switch (msg.type)
    {
    case SINGER_MESSAGE_RECORD:
      append_line (p, line, len, TRUE);
      break;
    case SINGER_MESSAGE_STATE:
      if (p->kind == SINK_TARGET)
        {
          /* The target echoes it once it has stored what came before. */
          append_line (p, line, len, FALSE);
          break;
        }
      p->ckpt_pending = TRUE;
      p->ckpt_offset = p->file.offset + p->out->len;
      p->ckpt_bytes = p->src->bytes_delivered + p->out->len;
      p->ckpt_records = p->src->records_delivered + p->out_records;
      g_free (p->ckpt_state);
      p->ckpt_state = g_steal_pointer (&msg.state);
      break;
    case SINGER_MESSAGE_SCHEMA:
    case SINGER_MESSAGE_OTHER:
    default:
      append_line (p, line, len, FALSE);
      break;
    }
  singer_message_clear (&msg);
}

/* Moves the complete lines of in to out. @final: the worker is gone, an
 * unterminated last line is all there will be. FALSE if the worker broke
 * the rules (a line too long). */
static gboolean
cut_records (Pump *p, gboolean final)
{
  const guint8 *data = p->in->data;
  gsize len = p->in->len, used = 0;

  if (p->type == SOURCE_TYPE_EXEC || p->kind == SINK_POSTGRESQL)
    {
      /* Lines are records as they are: no per-line work (PostgreSQL reads
       * Singer's messages itself). */
      const guint8 *last = len ? memrchr (data, '\n', len) : NULL;
      if (last)
        {
          used = (gsize) (last - data) + 1;
          if (p->out->len == 0 && used == len && !final)
            {
              /* Whole lines only: hand the buffer over instead of copying
               * it (the common case for a fast worker). */
              GByteArray *tmp = p->out;
              p->out = p->in;
              p->in = tmp;
              return TRUE;
            }
          g_byte_array_append (p->out, data, (guint) used);
        }
      if (final && used < len)
        {
          append_line (p, data + used, len - used, TRUE);
          used = len;
        }
    }
  else
    {
      while (used < len)
        {
          const guint8 *nl = memchr (data + used, '\n', len - used);
          gsize line_len;

          if (!nl && !final)
            break;
          line_len = nl ? (gsize) (nl - (data + used)) : len - used;
          if (line_len && data[used + line_len - 1] == '\r')
            line_len--;
          cut_singer_line (p, data + used, line_len);
          used += (nl ? (gsize) (nl - (data + used)) + 1 : len - used);
        }
    }
  g_byte_array_remove_range (p->in, 0, (guint) used);
  if (p->in->len > PUMP_LINE_MAX)
    {
      g_autofree char *msg = g_strdup_printf ("The worker wrote a line longer than %d MiB; a record must be one line",
                                              PUMP_LINE_MAX >> 20);
      g_byte_array_set_size (p->in, 0);
      p->cb->broken (p->src, msg);
      return FALSE;
    }
  return TRUE;
}

/* The worker filled its pipe: it is a fast one, and a bigger pipe means
 * fewer wake-ups and bigger reads. Only then, because every pipe page
 * counts against the user's budget (/proc/sys/fs/pipe-user-pages-soft,
 * 64 MiB by default): an unprivileged sourced that gave a megabyte to each
 * of a thousand idle workers would use it up, and the kernel would then
 * refuse to grow any pipe (EPERM) and give new ones a single page. Past
 * the budget, a pipe stays as it is; delivery works, with more wake-ups. */
static void
grow_pipe (Pump *p)
{
  p->pipe_grown = TRUE;
  if (fcntl (p->in_fd, F_SETPIPE_SZ, PUMP_PIPE_SIZE) < 0)
    g_message ("%s: the worker's pipe stays at %d KiB: %s (the sourced user's pipe budget, "
               "/proc/sys/fs/pipe-user-pages-soft, is used up)",
               p->src->id, MAX (fcntl (p->in_fd, F_GETPIPE_SZ), 0) / 1024, g_strerror (errno));
}

/* One read(): >0 bytes read, 0 at end of file, -1 nothing for now. */
static gssize
read_some (Pump *p)
{
  guint old = p->in->len;
  int avail = 0;
  gsize want;
  ssize_t n;

  /* As much as is there, up to a chunk: a fast worker is read in big
   * gulps, a slow one does not make sourced hold a megabyte for it. */
  if (ioctl (p->in_fd, FIONREAD, &avail) < 0 || avail <= 0)
    avail = 4096;
  else if (!p->pipe_grown && avail >= fcntl (p->in_fd, F_GETPIPE_SZ))
    grow_pipe (p);
  want = MIN ((gsize) avail, (gsize) PUMP_READ_CHUNK);
  g_byte_array_set_size (p->in, old + (guint) want);
  do
    n = read (p->in_fd, p->in->data + old, want);
  while (n < 0 && errno == EINTR);
  g_byte_array_set_size (p->in, old + (n > 0 ? (guint) n : 0));
  if (n < 0 && errno != EAGAIN)
    g_warning ("%s: cannot read the worker's output: %s", p->src->id, g_strerror (errno));
  return n < 0 ? (errno == EAGAIN ? -1 : 0) : n;
}

static gboolean
on_input (gint fd, GIOCondition cond, gpointer user_data)
{
  Pump *p = user_data;
  guint self = p->in_watch;
  gint64 until = g_get_monotonic_time () + WAKEUP_BUDGET_USEC;

  /* Control first: with a call waiting, not even one read. */
  if (p->cb->should_yield && p->cb->should_yield (p->src))
    return G_SOURCE_CONTINUE;
  for (int i = 0; p->flowing && p->in_watch == self && (i == 0 || g_get_monotonic_time () < until); i++)
    {
      gssize n = read_some (p);
      if (n < 0)
        break;
      if (n == 0)
        {
          /* End of file before the worker's exit: pump_finish() takes the
           * rest. Stop polling a pipe that stays readable. */
          if (p->in_watch == self)
            p->in_watch = 0;
          return G_SOURCE_REMOVE;
        }
      if (!cut_records (p, FALSE) || !deliver (p))
        break;
    }
  if (p->in_watch != self)
    return G_SOURCE_REMOVE; /* removed meanwhile (held, or a sink failure) */
  if (!p->flowing || out_pending (p) > 0)
    {
      p->in_watch = 0;
      update_watches (p);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
on_target_writable (gint fd, GIOCondition cond, gpointer user_data)
{
  Pump *p = user_data;

  p->target.in_watch = 0;
  if (deliver (p))
    try_finish (p);
  update_watches (p);
  return G_SOURCE_REMOVE;
}

/* Reads only while flowing, and only once what was cut is written: that is
 * what makes the pipe fill up and the worker wait. */
static void
update_watches (Pump *p)
{
  gboolean to_target = p->target.in >= 0;

  if (!p->flowing)
    {
      clear_watch (p, &p->in_watch);
      clear_watch (p, &p->target.in_watch);
      return;
    }
  if (out_pending (p) > 0)
    {
      clear_watch (p, &p->in_watch);
      if (to_target && !p->target.in_watch)
        p->target.in_watch = io_watch_add (p->io, p->target.in, G_IO_OUT | G_IO_ERR | G_IO_HUP, on_target_writable, p);
      return;
    }
  clear_watch (p, &p->target.in_watch);
  if (p->in_fd >= 0 && !p->in_watch && !p->finishing)
    p->in_watch = io_watch_add (p->io, p->in_fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_input, p);
}

/* After a failure, the file is opened again: whoever made room may have
 * replaced it, remounted its file system, or fixed its permissions. */
static gboolean
reopen_file (Pump *p)
{
  g_autoptr (GError) error = NULL;
  struct stat st;
  int fd;

  if (!sink_path_check (p->file.path, p->file.state_dir, &error))
    {
      p->sink_failed = TRUE;
      p->cb->sink_failed (p->src, error->message);
      return FALSE;
    }
  fd = open (p->file.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0640);
  if (fd < 0)
    {
      report_sink_failure (p, "open", errno);
      return FALSE;
    }
  if (!sink_fd_check (fd, p->file.path, &error))
    {
      close (fd);
      p->sink_failed = TRUE;
      p->cb->sink_failed (p->src, error->message);
      return FALSE;
    }
  g_unix_set_fd_nonblocking (fd, FALSE, NULL);
  close_fd (&p->file.fd);
  p->file.fd = fd;
  if (fstat (fd, &st) == 0 && S_ISREG (st.st_mode))
    p->file.offset = (guint64) st.st_size;
  return TRUE;
}

void
pump_set_flowing (Pump *p, gboolean flowing)
{
  if (p->flowing == flowing && !(flowing && p->sink_failed))
    return;
  p->flowing = flowing;
  /* Pause at the database's edge: while the data is held, no COMMIT goes. */
  if (p->pg)
    pg_sink_hold (p->pg, !p->flowing);
  if (flowing)
    {
      if (p->sink_failed && p->file.path && !reopen_file (p))
        {
          update_watches (p);
          return;
        }
      p->sink_failed = FALSE;
      /* What was held goes first, in order. */
      if (deliver (p))
        try_finish (p);
    }
  update_watches (p);
}

/* ---- Target ------------------------------------------------------------ */

static void
target_line (Pump *p, const char *line, gsize len)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *state = NULL;

  if (len == 0)
    return;
  state = singer_normalize_state (p->parser, line, len, &error);
  if (!state)
    {
      g_warning ("%s: the target wrote something that is not a state, ignored: %s", p->src->id, error->message);
      return;
    }
  p->cb->target_bookmark (p->src, state);
}

static gboolean
read_target_output (Pump *p)
{
  char buf[8192];
  ssize_t n;

  while ((n = read (p->target.out, buf, sizeof buf)) != 0)
    {
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return errno == EAGAIN;
        }
      for (ssize_t i = 0; i < n; i++)
        {
          if (buf[i] != '\n')
            {
              if (p->target.line->len < PUMP_LINE_MAX)
                g_string_append_c (p->target.line, buf[i]);
              continue;
            }
          target_line (p, p->target.line->str, p->target.line->len);
          g_string_truncate (p->target.line, 0);
        }
    }
  target_line (p, p->target.line->str, p->target.line->len);
  g_string_truncate (p->target.line, 0);
  return FALSE;
}

static gboolean
on_target_output (gint fd, GIOCondition cond, gpointer user_data)
{
  Pump *p = user_data;

  if (read_target_output (p))
    return G_SOURCE_CONTINUE;
  p->target.out_watch = 0;
  return G_SOURCE_REMOVE;
}

static void
on_target_exit (Worker *w, int wait_status, gpointer user_data)
{
  Pump *p = user_data;
  g_autofree char *how = worker_describe_exit (wait_status);
  const char *last = worker_last_stderr_line (w);

  /* Its last words on stdout may be the final state. */
  if (p->target.out >= 0)
    read_target_output (p);
  clear_watch (p, &p->target.out_watch);
  close_fd (&p->target.out);
  clear_watch (p, &p->target.in_watch);
  close_fd (&p->target.in);
  p->target.worker = NULL;

  g_autofree char *msg = g_strdup_printf ("The target %s%s%s", how, last[0] ? ": " : "", last);
  gboolean failed = !p->finishing || worker_exit_code (wait_status) != 0;
  worker_free (w);
  /* Before the end of its input, or with an error: the run failed, and
   * the bookmark stays at what the target last confirmed. */
  if (failed)
    p->cb->broken (p->src, msg);
  try_finish (p);
}

static gboolean
open_target (Pump *p, const char *command_line, GError **error)
{
  WorkerSpec spec = {
    .spawner = p->spawner,
    .io = p->io,
    .source_id = p->src->id,
    .role = "target",
    .command_line = command_line,
    .stdin_pipe = TRUE,
    .stdout_pipe = TRUE,
  };
  Worker *w = worker_spawn (&spec, on_target_exit, p, error);

  if (!w)
    return FALSE;
  p->target.worker = w;
  p->target.in = worker_steal_stdin_fd (w);
  p->target.out = worker_steal_stdout_fd (w);
  p->target.out_watch = io_watch_add (p->io, p->target.out, G_IO_IN | G_IO_HUP | G_IO_ERR, on_target_output, p);
  return TRUE;
}

void
pump_kill_target (Pump *p, int sig)
{
  if (p->target.worker)
    worker_kill (p->target.worker, sig);
}

/* ---- Runs -------------------------------------------------------------- */

static gboolean
open_file (Pump *p, const PumpSetup *setup, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (setup->sink_path);
  struct stat st;
  int fd;

  /* Opened afresh for every run: the file may have been rotated or
   * replaced since the last one. */
  close_fd (&p->file.fd);
  g_free (p->file.path);
  p->file.path = g_strdup (setup->sink_path);
  g_free (p->file.state_dir);
  p->file.state_dir = g_strdup (setup->state_dir);
  if (g_mkdir_with_parents (dir, 0750) < 0 && errno != EEXIST)
    {
      int err = errno;
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_FAILED, "Cannot create the directory of sink %s: %s",
                   setup->sink_path, g_strerror (err));
      return FALSE;
    }
  /* Checked again at every open: a link may have been put in its way since
   * the definition was read. */
  if (!sink_path_check (setup->sink_path, setup->state_dir, error))
    return FALSE;
  fd = open (setup->sink_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0640);
  if (fd < 0)
    {
      int err = errno;
      /* Out of descriptors is sourced's shortage, not the sink's fault. */
      g_set_error (error, SOURCED_ERROR,
                   err == EMFILE || err == ENFILE ? SOURCED_ERROR_LIMITS_EXCEEDED : SOURCED_ERROR_FAILED,
                   "Cannot open sink %s: %s", setup->sink_path, g_strerror (err));
      return FALSE;
    }
  if (!sink_fd_check (fd, setup->sink_path, error))
    {
      close (fd);
      return FALSE;
    }
  /* Blocking writes: a FIFO whose reader is slow holds the worker back. */
  g_unix_set_fd_nonblocking (fd, FALSE, NULL);
  p->file.fd = fd;
  if (fstat (fd, &st) < 0)
    st.st_size = 0;
  p->file.offset = S_ISREG (st.st_mode) ? (guint64) st.st_size : 0;

  if (setup->type == SOURCE_TYPE_SINGER && S_ISREG (st.st_mode) &&
      g_strcmp0 (setup->checkpoint_path, setup->sink_path) == 0)
    {
      if (p->file.offset > setup->checkpoint_offset)
        {
          /* Written after the last checkpoint: the tap, resuming from that
           * bookmark, sends these records again. */
          g_message ("%s: cutting sink %s back from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT
                     " bytes, its last checkpoint",
                     p->src->id, setup->sink_path, p->file.offset, setup->checkpoint_offset);
          if (ftruncate (fd, (off_t) setup->checkpoint_offset) < 0 || fdatasync (fd) < 0)
            {
              int err = errno;
              g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_FAILED, "Cannot cut sink %s back to its checkpoint: %s",
                           setup->sink_path, g_strerror (err));
              return FALSE;
            }
          p->file.offset = setup->checkpoint_offset;
        }
      else if (p->file.offset < setup->checkpoint_offset)
        g_warning ("%s: sink %s is shorter (%" G_GUINT64_FORMAT " bytes) than its last checkpoint (%" G_GUINT64_FORMAT
                   "); was it truncated or rotated? Appending at its end",
                   p->src->id, setup->sink_path, p->file.offset, setup->checkpoint_offset);
    }
  return TRUE;
}

/* ---- PostgreSQL ---------------------------------------------------------- */

static void
on_pg_ready (gpointer owner)
{
  Pump *p = owner;

  p->cb->sink_ready (p->src);
}

static void
on_pg_committed (gpointer owner, const char *bookmark, guint64 records, guint64 bytes)
{
  Pump *p = owner;

  if (p->type == SOURCE_TYPE_EXEC)
    {
      /* Committed: these lines may go. */
      gsize n = MIN ((gsize) bytes, (gsize) p->out->len);
      g_byte_array_remove_range (p->out, 0, (guint) n);
      p->pg_sent = p->pg_sent > n ? p->pg_sent - n : 0;
    }
  p->cb->committed (p->src, bookmark, records, bytes);
  update_watches (p);
}

static void
on_pg_lost (gpointer owner, const char *message)
{
  Pump *p = owner;

  p->pg_sent = 0; /* nothing of the open transaction is in the database */
  p->pg_lost = TRUE;
  p->cb->sink_lost (p->src, message);
  try_finish (p); /* a run that was waiting for the sink is over */
}

static void
on_pg_gone (gpointer owner, const char *message)
{
  Pump *p = owner;

  p->pg_sent = 0;
  p->pg_lost = TRUE;
  p->cb->sink_gone (p->src, message);
  try_finish (p);
}

static void
on_pg_writable (gpointer owner)
{
  Pump *p = owner;

  if (deliver (p))
    try_finish (p);
  update_watches (p);
}

static void
on_pg_settled (gpointer owner)
{
  Pump *p = owner;

  if (p->cb->settled)
    p->cb->settled (p->src);
}

static const PgSinkCallbacks pg_callbacks = {
  .ready = on_pg_ready,
  .committed = on_pg_committed,
  .lost = on_pg_lost,
  .stopped = on_pg_gone,
  .writable = on_pg_writable,
  .settled = on_pg_settled,
};

static gboolean
on_pg_continue (gpointer user_data)
{
  Pump *p = user_data;

  p->pg_idle = 0;
  on_pg_writable (p);
  return G_SOURCE_REMOVE;
}

static gboolean
prepare_postgresql (Pump *p, const PumpSetup *setup)
{
  PgSinkSetup ps = {
    .conninfo = setup->postgresql,
    .schema = setup->schema,
    .source_id = p->src->id,
    .owner_name = setup->owner_name,
    .singer = setup->type == SOURCE_TYPE_SINGER,
    .commit_ms = setup->commit_ms,
    .stall_ms = setup->stall_ms,
  };

  if (!p->pg)
    p->pg = pg_sink_new (&pg_callbacks, p, p->io);
  return pg_sink_prepare (p->pg, &ps);
}

/* The sink is ready: lines may go, all of out counting as uncommitted. */
static void
begin_postgresql_run (Pump *p)
{
  pg_sink_begin_run (p->pg);
  pg_sink_hold (p->pg, !p->flowing);
  p->in_run_pg = TRUE;
  p->pg_lost = FALSE;
  p->pg_sent = 0;
}

static gboolean
open_postgresql (Pump *p, const PumpSetup *setup, GError **error)
{
  if (p->in_run_pg)
    {
      /* The last run did not finish through pump_finish(). */
      p->in_run_pg = FALSE;
      pg_sink_end_run (p->pg);
    }
  if (!prepare_postgresql (p, setup))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_PENDING, "waiting for PostgreSQL");
      return FALSE;
    }
  begin_postgresql_run (p);
  return TRUE;
}

const char *
pump_sink_bookmark (Pump *p)
{
  return p->pg ? pg_sink_bookmark (p->pg) : NULL;
}

void
pump_request_takeover (Pump *p)
{
  if (p->pg)
    pg_sink_want_takeover (p->pg);
}

gboolean
pump_sink_reconnect (Pump *p, const PumpSetup *setup)
{
  if (!prepare_postgresql (p, setup))
    return FALSE;
  begin_postgresql_run (p);
  if (deliver (p))
    try_finish (p);
  update_watches (p);
  return TRUE;
}

gboolean
pump_commit_in_flight (Pump *p)
{
  return p->pg && pg_sink_commit_in_flight (p->pg);
}

void
pump_close_sink (Pump *p)
{
  if (p->pg)
    {
      p->in_run_pg = FALSE;
      pg_sink_close (p->pg);
    }
}

gboolean
pump_open (Pump *p, const PumpSetup *setup, GError **error)
{
  g_return_val_if_fail (!p->finishing, FALSE);

  p->type = setup->type;
  p->line_no = 0;
  clear_watch (p, &p->in_watch);
  close_fd (&p->in_fd);
  if (setup->type == SOURCE_TYPE_SINGER && (p->in->len || p->out->len))
    {
      /* The tap resumes from the bookmark, which comes before all of it. */
      g_debug ("%s: %u held bytes dropped, the tap sends them again", p->src->id, p->in->len + p->out->len);
      g_byte_array_set_size (p->in, 0);
      g_byte_array_set_size (p->out, 0);
      g_array_set_size (p->out_other_ends, 0);
      p->out_records = 0;
    }
  p->ckpt_pending = FALSE;
  p->sink_failed = FALSE;
  drop_target (p);
  if (setup->postgresql)
    {
      close_fd (&p->file.fd);
      g_clear_pointer (&p->file.path, g_free);
      p->kind = SINK_POSTGRESQL;
      return open_postgresql (p, setup, error);
    }
  if (p->pg)
    pg_sink_close (p->pg); /* the sink is a file or target now */
  if (setup->target)
    {
      p->kind = SINK_TARGET;
      close_fd (&p->file.fd);
      g_clear_pointer (&p->file.path, g_free);
      return open_target (p, setup->target, error);
    }
  p->kind = SINK_FILE;
  return open_file (p, setup, error);
}

guint64
pump_sink_offset (Pump *p)
{
  return p->file.offset;
}

void
pump_attach (Pump *p, int stdout_fd)
{
  clear_watch (p, &p->in_watch);
  close_fd (&p->in_fd);
  p->in_fd = stdout_fd;
  p->pipe_grown = FALSE;
  update_watches (p);
}

static void
try_finish (Pump *p)
{
  void (*done) (Source *src);

  if (!p->finishing)
    return;
  if (p->flowing && p->out->len > 0 && p->target.in >= 0)
    return; /* the target is still taking what is left */
  if (p->kind == SINK_POSTGRESQL && p->flowing && out_pending (p) > 0 && p->in_run_pg && !p->pg_lost)
    return; /* PostgreSQL is still taking what is left */
  if (p->target.worker)
    {
      /* End of file tells the target to commit and echo its last state. */
      clear_watch (p, &p->target.in_watch);
      close_fd (&p->target.in);
      return; /* on_target_exit() comes back here */
    }
  done = p->done;
  p->finishing = FALSE;
  p->done = NULL;
  if (p->kind == SINK_POSTGRESQL && p->in_run_pg)
    {
      /* What ends in a STATE (exec: everything) commits. */
      p->in_run_pg = FALSE;
      pg_sink_end_run (p->pg);
    }
  if (p->in->len == 0 && p->out->len == 0)
    {
      /* Give back what a fast worker made the buffers grow to. */
      g_byte_array_unref (p->in);
      g_byte_array_unref (p->out);
      p->in = g_byte_array_new ();
      p->out = g_byte_array_new ();
    }
  done (p->src);
}

void
pump_finish (Pump *p, void (*done) (Source *src), Source *src)
{
  g_assert (src == p->src);
  clear_watch (p, &p->in_watch);
  /* The worker's group is dead: what is in the pipe is all there will be
   * (bounded by the pipe's size). */
  if (p->in_fd >= 0)
    {
      while (read_some (p) > 0)
        if (p->in->len > PUMP_LINE_MAX + PUMP_READ_CHUNK && !cut_records (p, FALSE))
          break;
      close_fd (&p->in_fd);
    }
  p->finishing = TRUE;
  p->done = done;
  /* Cut now, so that an unterminated last line is not glued to the next
   * run's first one. */
  cut_records (p, TRUE);
  if (p->flowing)
    deliver (p);
  else if (p->in->len || p->out->len)
    g_message ("%s: %u bytes the worker wrote are held until the source is unpaused", p->src->id,
               p->in->len + p->out->len);
  update_watches (p);
  try_finish (p);
}
