/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pg-sink.h"

#include <stdlib.h>
#include <string.h>
#include <json-glib/json-glib.h>
#include <libpq-fe.h>

#include "io-watch.h"
#include "json-scan.h"
#include "pg-sql.h"

typedef struct {
  char *name;
  PgColType type;
} Column;

/* A Singer stream as its last SCHEMA made it, in this connection. */
typedef struct {
  char *name;
  GPtrArray *columns; /* Column *, the SCHEMA's properties in order */
  char *copy_sql;     /* into the table, or into the stage if keyed */
  char *merge_sql;    /* keyed: the stage into the table, last one wins */
  gboolean staged;    /* the stage holds rows not merged yet */
  char *table_label;  /* schema.table, for messages */
  GHashTable *index;  /* column name → its position + 1 */
} Stream;

typedef enum {
  OP_QUERY,
  OP_COPY_IN,
  OP_COPY_END,
  OP_COMMIT,
} OpKind;

typedef struct Op Op;
typedef void (*OpHandler) (PgSink *s, Op *op, PGresult *result);

struct Op {
  OpKind kind;
  char *sql;
  GStrv params; /* NULL entries are SQL nulls: see n_params */
  int n_params;
  OpHandler handler;
  gpointer data;
  GDestroyNotify destroy;
  Stream *stream; /* OP_COPY_IN into a stream (NULL: the exec table) */
};

typedef enum {
  CONN_OFF,
  CONN_CONNECTING,
  CONN_UP,
} ConnState;

typedef enum {
  LINE_TAKEN,
  LINE_WAIT, /* work was queued first: the line comes again */
  LINE_STOP, /* the sink stopped (refused, or lost) */
} LineResult;

struct PgSink {
  const PgSinkCallbacks *cb;
  gpointer owner;
  IoWatcher *io;

  char *conninfo;
  char *schema;
  char *source_id;
  char *owner_name;
  gboolean singer;
  guint commit_ms;
  guint stall_ms;
  char *q_checkpoints; /* "schema".sourced_checkpoints */
  char *q_exec;        /* "schema"."id" */

  PGconn *conn;
  ConnState state;
  guint watch;
  int watch_fd;
  GIOCondition watch_cond;
  guint stall_timer;
  guint commit_timer;

  GQueue ops;
  Op *current;
  GString *result_error; /* the first error of the current op */
  PGresult *result;      /* its last good result */
  gboolean flush_pending;
  gboolean wants_write;
  gboolean writing; /* inside pg_sink_write() */

  /* The open transaction. */
  gboolean in_txn;
  gboolean copy_open;  /* a COPY is open (or its COPY_IN queued) … */
  Stream *copy_stream; /* … into this stream, or the exec table (NULL) */
  guint64 txn_rows;
  gint64 txn_started;
  guint64 pending_bytes; /* input taken since the last commit was queued */
  guint64 rows_at_state;
  char *last_state; /* the last STATE of the transaction */

  /* The COMMIT queued or in flight, and one whose answer was lost. */
  gboolean commit_sent;
  guint64 c_rows, c_bytes;
  char *c_bookmark;
  gboolean unknown;
  guint64 u_rows, u_bytes;
  gint64 u_batches;
  char *u_bookmark;

  /* The checkpoint row as this daemon knows it. */
  gint64 epoch;
  gint64 batches;
  char *bookmark;
  gboolean takeover_wanted;
  gboolean reading_checkpoint;
  gboolean run_ready;
  gboolean in_run;

  gboolean held;
  gboolean closing;

  GHashTable *streams; /* name → Stream */
  guint stage_counter;
  gint64 sequence;
  guint64 line_no;
  JsonParser *parser;
  GString *row;
  GString *scratch;
  GArray *values; /* JsonSpan per column of the record in hand; kind -1: absent */
};

static void kick (PgSink *s);
static void fail (PgSink *s, const char *message);
static void read_checkpoint (PgSink *s);

static void
stream_free (Stream *st)
{
  for (guint i = 0; st->columns && i < st->columns->len; i++)
    {
      Column *c = st->columns->pdata[i];
      g_free (c->name);
      g_free (c);
    }
  if (st->columns)
    g_ptr_array_unref (st->columns);
  g_free (st->name);
  g_free (st->copy_sql);
  g_free (st->merge_sql);
  g_free (st->table_label);
  if (st->index)
    g_hash_table_unref (st->index);
  g_free (st);
}

static void
op_free (Op *op)
{
  if (op->destroy)
    op->destroy (op->data);
  g_free (op->sql);
  g_strfreev (op->params);
  g_free (op);
}

static Op *
enqueue (PgSink *s, OpKind kind, char *sql /* owned */, OpHandler handler)
{
  Op *op = g_new0 (Op, 1);

  op->kind = kind;
  op->sql = sql;
  op->handler = handler;
  g_queue_push_tail (&s->ops, op);
  return op;
}

/* Params: NULL-terminated list of (possibly NULL) strings, @n of them. */
static Op *
enqueue_params (PgSink *s, char *sql, OpHandler handler, int n, ...)
{
  Op *op = enqueue (s, OP_QUERY, sql, handler);
  va_list ap;

  op->n_params = n;
  op->params = g_new0 (char *, n + 1);
  va_start (ap, n);
  for (int i = 0; i < n; i++)
    op->params[i] = g_strdup (va_arg (ap, const char *));
  va_end (ap);
  return op;
}

PgSink *
pg_sink_new (const PgSinkCallbacks *callbacks, gpointer owner, IoWatcher *io)
{
  PgSink *s = g_new0 (PgSink, 1);

  s->cb = callbacks;
  s->owner = owner;
  s->io = io;
  s->watch_fd = -1;
  s->takeover_wanted = TRUE;
  g_queue_init (&s->ops);
  s->streams = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) stream_free);
  s->parser = json_parser_new_immutable ();
  s->row = g_string_sized_new (256);
  s->scratch = g_string_sized_new (64);
  s->values = g_array_new (FALSE, FALSE, sizeof (JsonSpan));
  return s;
}

/* ---- The connection ------------------------------------------------------ */

static void
clear_timer (guint *id)
{
  if (*id)
    {
      g_source_remove (*id);
      *id = 0;
    }
}

static gboolean on_socket (gint fd, GIOCondition cond, gpointer user_data);

static void
set_watch (PgSink *s, GIOCondition cond)
{
  int fd = s->conn ? PQsocket (s->conn) : -1;

  if (s->watch && fd == s->watch_fd && cond == s->watch_cond)
    return;
  if (s->watch)
    io_watch_remove (s->io, s->watch);
  s->watch = 0;
  s->watch_fd = fd;
  s->watch_cond = cond;
  if (fd >= 0)
    s->watch = io_watch_add (s->io, fd, cond | G_IO_HUP | G_IO_ERR, on_socket, s);
}

static void
forget_transaction (PgSink *s)
{
  /* What the transaction made is gone with it, tables included: the next
   * SCHEMA makes them again. */
  s->in_txn = FALSE;
  s->copy_open = FALSE;
  s->copy_stream = NULL;
  s->txn_rows = 0;
  s->rows_at_state = 0;
  g_clear_pointer (&s->last_state, g_free);
  g_hash_table_remove_all (s->streams);
  clear_timer (&s->commit_timer);
}

static void
close_conn (PgSink *s)
{
  Op *op;

  if (s->watch)
    io_watch_remove (s->io, s->watch);
  s->watch = 0;
  s->watch_fd = -1;
  clear_timer (&s->stall_timer);
  g_clear_pointer (&s->conn, PQfinish);
  s->state = CONN_OFF;
  while ((op = g_queue_pop_head (&s->ops)))
    op_free (op);
  g_clear_pointer (&s->current, op_free);
  g_clear_pointer (&s->result, PQclear);
  if (s->result_error)
    g_string_truncate (s->result_error, 0);
  s->flush_pending = FALSE;
  s->reading_checkpoint = FALSE;
  s->run_ready = FALSE;
  s->pending_bytes = 0;
  forget_transaction (s);
}

static gboolean
on_stall (gpointer user_data)
{
  PgSink *s = user_data;
  g_autofree char *msg = g_strdup_printf ("PostgreSQL has not answered for %u s", s->stall_ms / 1000);

  s->stall_timer = 0;
  fail (s, msg);
  return G_SOURCE_REMOVE;
}

/* Armed while sourced waits for the server (a connection, an answer, a
 * full socket); any progress starts it again. */
static void
rearm_stall (PgSink *s)
{
  clear_timer (&s->stall_timer);
  if (s->state == CONN_CONNECTING || s->current || s->flush_pending)
    s->stall_timer = g_timeout_add (MAX (s->stall_ms, 1u), on_stall, s);
}

/* Everything not committed is rolled back (the connection closes); a
 * COMMIT without an answer may have happened or not: the checkpoint row
 * says which, at the next read. */
static void
fail (PgSink *s, const char *message)
{
  g_autofree char *msg = g_strstrip (g_strdup (message));
  gboolean was_committing = s->commit_sent;

  if (s->commit_sent)
    {
      s->unknown = TRUE;
      s->u_rows = s->c_rows;
      s->u_bytes = s->c_bytes;
      s->u_batches = s->batches + 1;
      g_free (s->u_bookmark);
      s->u_bookmark = g_steal_pointer (&s->c_bookmark);
      s->commit_sent = FALSE;
    }
  close_conn (s);
  if (s->closing)
    return;
  if (was_committing)
    s->cb->settled (s->owner);
  s->cb->lost (s->owner, msg);
}

static void
flush (PgSink *s)
{
  int r = PQflush (s->conn);

  if (r < 0)
    {
      fail (s, PQerrorMessage (s->conn));
      return;
    }
  s->flush_pending = r == 1;
  set_watch (s, s->flush_pending ? G_IO_IN | G_IO_OUT : G_IO_IN);
  rearm_stall (s);
}

static void
on_notice (void *user_data, const char *message)
{
  PgSink *s = user_data;

  /* "already exists, skipping" and the like: not for the journal. */
  g_debug ("%s: PostgreSQL: %s", s->source_id, message);
}

static void
connected (PgSink *s)
{
  g_autofree char *q_schema = pg_quote_ident (s->schema);
  GString *sql = g_string_new (NULL);

  PQsetnonblocking (s->conn, 1);
  PQsetNoticeProcessor (s->conn, on_notice, s);
  s->state = CONN_UP;
  set_watch (s, G_IO_IN);
  /* Timestamps without a zone mean UTC, as sourced's checks read them. */
  g_string_append_printf (sql,
                          "SET TimeZone TO 'UTC';"
                          "CREATE SCHEMA IF NOT EXISTS %s;"
                          "CREATE TABLE IF NOT EXISTS %s (source_id text PRIMARY KEY, epoch bigint NOT NULL, "
                          "owner text NOT NULL, bookmark jsonb, batches bigint NOT NULL DEFAULT 0, "
                          "updated_at timestamptz NOT NULL DEFAULT now());",
                          q_schema, s->q_checkpoints);
  if (!s->singer)
    g_string_append_printf (sql,
                            "CREATE TABLE IF NOT EXISTS %s (_sdc_sequence bigint NOT NULL, "
                            "_sdc_batched_at timestamptz NOT NULL DEFAULT now(), record jsonb NOT NULL);",
                            s->q_exec);
  enqueue (s, OP_QUERY, g_string_free (sql, FALSE), NULL);
  read_checkpoint (s);
  kick (s);
}

static void
poll_connect (PgSink *s)
{
  switch (PQconnectPoll (s->conn))
    {
    case PGRES_POLLING_READING:
      set_watch (s, G_IO_IN);
      break;
    case PGRES_POLLING_WRITING:
      set_watch (s, G_IO_OUT);
      break;
    case PGRES_POLLING_OK:
      connected (s);
      break;
    case PGRES_POLLING_FAILED:
    default:
      fail (s, PQerrorMessage (s->conn));
      break;
    }
}

static void
connect_start (PgSink *s)
{
  const char *keys[] = { "dbname", "application_name", "client_encoding", NULL };
  const char *values[] = { s->conninfo, "sourced", "UTF8", NULL };

  close_conn (s);
  /* expand_dbname: the URI is parsed as a whole, the other two added. The
   * host name is looked up here, synchronously, as libpq does: a
   * numeric hostaddr= or a Unix socket avoids that wait. */
  s->conn = PQconnectStartParams (keys, values, 1);
  if (!s->conn)
    {
      fail (s, "out of memory");
      return;
    }
  if (PQstatus (s->conn) == CONNECTION_BAD)
    {
      fail (s, PQerrorMessage (s->conn));
      return;
    }
  s->state = CONN_CONNECTING;
  set_watch (s, G_IO_OUT);
  rearm_stall (s);
}

/* ---- Commands ------------------------------------------------------------ */

static void finish_op (PgSink *s);

static void
kick (PgSink *s)
{
  while (s->state == CONN_UP && !s->current && !s->flush_pending)
    {
      Op *op = g_queue_peek_head (&s->ops);
      int ok = 1;

      if (!op)
        {
          if (s->closing)
            {
              close_conn (s);
              return;
            }
          /* Not from inside pg_sink_write(): the pump would be asked for
           * lines while it is handing some over. */
          if (s->wants_write && s->in_run && !s->writing)
            {
              s->wants_write = FALSE;
              s->cb->writable (s->owner);
            }
          return;
        }
      /* Pause at the database's edge: nothing commits while held. */
      if (op->kind == OP_COMMIT && s->held)
        return;
      g_queue_pop_head (&s->ops);
      s->current = op;
      switch (op->kind)
        {
        case OP_QUERY:
          if (op->params)
            ok = PQsendQueryParams (s->conn, op->sql, op->n_params, NULL, (const char *const *) op->params, NULL, NULL,
                                    0);
          else
            ok = PQsendQuery (s->conn, op->sql);
          break;
        case OP_COPY_IN:
          ok = PQsendQuery (s->conn, op->sql);
          break;
        case OP_COMMIT:
          s->commit_sent = TRUE;
          ok = PQsendQuery (s->conn, "COMMIT");
          break;
        case OP_COPY_END:
          ok = PQputCopyEnd (s->conn, NULL) >= 0;
          break;
        }
      if (!ok)
        {
          fail (s, PQerrorMessage (s->conn));
          return;
        }
      flush (s);
    }
}

static void
read_results (PgSink *s)
{
  if (!PQconsumeInput (s->conn))
    {
      fail (s, PQerrorMessage (s->conn));
      return;
    }
  while (s->current && !PQisBusy (s->conn))
    {
      PGresult *r = PQgetResult (s->conn);
      ExecStatusType st;

      if (!r)
        {
          finish_op (s);
          if (s->state != CONN_UP)
            return;
          continue;
        }
      st = PQresultStatus (r);
      if (st == PGRES_COPY_IN)
        {
          /* COPY is open: its op is done, rows may come. */
          g_clear_pointer (&s->result, PQclear);
          s->result = r;
          finish_op (s);
          if (s->state != CONN_UP)
            return;
          continue;
        }
      if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR)
        {
          if (!s->result_error)
            s->result_error = g_string_new (NULL);
          if (s->result_error->len == 0)
            g_string_append (s->result_error, PQresultErrorMessage (r));
          PQclear (r);
          continue;
        }
      g_clear_pointer (&s->result, PQclear);
      s->result = r;
    }
  if (PQstatus (s->conn) == CONNECTION_BAD)
    fail (s, PQerrorMessage (s->conn));
}

static void
finish_op (PgSink *s)
{
  Op *op = g_steal_pointer (&s->current);
  PGresult *r = g_steal_pointer (&s->result);

  rearm_stall (s);
  if (s->result_error && s->result_error->len)
    {
      g_autofree char *msg = g_strdup (s->result_error->str);
      g_string_truncate (s->result_error, 0);
      if (op->kind == OP_COMMIT)
        s->commit_sent = FALSE; /* answered: it did not commit */
      PQclear (r);
      op_free (op);
      fail (s, msg);
      return;
    }
  if (op->handler)
    op->handler (s, op, r);
  PQclear (r);
  op_free (op);
  if (s->state == CONN_UP)
    kick (s);
}

static gboolean
on_socket (gint fd, GIOCondition cond, gpointer user_data)
{
  PgSink *s = user_data;
  guint self = s->watch;

  if (s->state == CONN_CONNECTING)
    poll_connect (s);
  else if (s->state == CONN_UP)
    {
      if (cond & G_IO_OUT)
        {
          flush (s);
          if (s->state == CONN_UP && !s->flush_pending)
            kick (s);
        }
      if (s->state == CONN_UP && (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR)))
        {
          read_results (s);
          if (s->state == CONN_UP)
            kick (s);
        }
    }
  return s->watch == self ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* ---- The checkpoint row ------------------------------------------------ */

static void
checkpoint_done (PgSink *s, gint64 db_batches, const char *bookmark)
{
  s->reading_checkpoint = FALSE;
  g_free (s->bookmark);
  s->bookmark = g_strdup (bookmark);
  if (s->unknown)
    {
      /* The COMMIT whose answer was lost: the row counts it if it
       * happened. */
      s->unknown = FALSE;
      if (db_batches >= s->u_batches)
        s->cb->committed (s->owner, s->u_bookmark, s->u_rows, s->u_bytes);
      g_clear_pointer (&s->u_bookmark, g_free);
    }
  s->batches = db_batches;
  s->run_ready = TRUE;
  s->cb->ready (s->owner);
}

static void
on_takeover (PgSink *s, Op *op, PGresult *r)
{
  if (PQntuples (r) != 1)
    {
      fail (s, "the checkpoint row could not be taken over");
      return;
    }
  s->epoch = g_ascii_strtoll (PQgetvalue (r, 0, 0), NULL, 10);
  s->takeover_wanted = FALSE;
  g_message ("%s: took the source over in %s (epoch %" G_GINT64_FORMAT ")", s->source_id, s->q_checkpoints, s->epoch);
  checkpoint_done (s, g_ascii_strtoll (PQgetvalue (r, 0, 2), NULL, 10),
                   PQgetisnull (r, 0, 1) ? NULL : PQgetvalue (r, 0, 1));
}

static void
fenced (PgSink *s, const char *owner, gint64 epoch)
{
  g_autofree char *msg = g_strdup_printf ("Source '%s' was taken over by %s (epoch %" G_GINT64_FORMAT
                                          " in %s); this daemon stopped delivering it: Unpause or Start takes it back",
                                          s->source_id, owner ? owner : "another daemon", epoch, s->q_checkpoints);

  s->closing = TRUE; /* no lost() for the close */
  close_conn (s);
  s->closing = FALSE;
  s->takeover_wanted = TRUE;
  s->cb->stopped (s->owner, msg);
}

static void
on_checkpoint_row (PgSink *s, Op *op, PGresult *r)
{
  gint64 epoch;

  if (PQntuples (r) != 1)
    {
      /* The row is gone (an administrator's DELETE): take it again. */
      s->takeover_wanted = TRUE;
      s->reading_checkpoint = FALSE;
      read_checkpoint (s);
      return;
    }
  epoch = g_ascii_strtoll (PQgetvalue (r, 0, 0), NULL, 10);
  if (epoch != s->epoch)
    {
      fenced (s, PQgetvalue (r, 0, 1), epoch);
      return;
    }
  checkpoint_done (s, g_ascii_strtoll (PQgetvalue (r, 0, 3), NULL, 10),
                   PQgetisnull (r, 0, 2) ? NULL : PQgetvalue (r, 0, 2));
}

static void
read_checkpoint (PgSink *s)
{
  if (s->reading_checkpoint)
    return;
  s->reading_checkpoint = TRUE;
  s->run_ready = FALSE;
  if (s->takeover_wanted || s->epoch == 0)
    enqueue_params (s,
                    g_strdup_printf ("INSERT INTO %s AS c (source_id, epoch, owner) VALUES ($1, 1, $2) "
                                     "ON CONFLICT (source_id) DO UPDATE SET epoch = c.epoch + 1, "
                                     "owner = EXCLUDED.owner, updated_at = now() "
                                     "RETURNING epoch, bookmark::text, batches",
                                     s->q_checkpoints),
                    on_takeover, 2, s->source_id, s->owner_name);
  else
    enqueue_params (
        s,
        g_strdup_printf ("SELECT epoch, owner, bookmark::text, batches FROM %s WHERE source_id = $1", s->q_checkpoints),
        on_checkpoint_row, 1, s->source_id);
}

/* ---- Transactions -------------------------------------------------------- */

static void
on_commit (PgSink *s, Op *op, PGresult *r)
{
  g_autofree char *bookmark = g_steal_pointer (&s->c_bookmark);

  s->commit_sent = FALSE;
  if (!g_str_equal (PQcmdStatus (r), "COMMIT"))
    {
      fail (s, "the transaction was rolled back by the server");
      return;
    }
  s->batches++;
  if (bookmark)
    {
      g_free (s->bookmark);
      s->bookmark = g_strdup (bookmark);
    }
  s->cb->committed (s->owner, bookmark, s->c_rows, s->c_bytes);
  s->cb->settled (s->owner);
}

static void
on_fenced_owner (PgSink *s, Op *op, PGresult *r)
{
  if (PQntuples (r) == 1)
    fenced (s, PQgetvalue (r, 0, 0), g_ascii_strtoll (PQgetvalue (r, 0, 1), NULL, 10));
  else
    fenced (s, NULL, 0);
}

static void
on_checkpoint_updated (PgSink *s, Op *op, PGresult *r)
{
  Op *queued;

  if (g_str_equal (PQcmdTuples (r), "1"))
    return;
  /* Not our epoch any more: nothing of this transaction commits. */
  while ((queued = g_queue_pop_head (&s->ops)))
    op_free (queued);
  g_clear_pointer (&s->c_bookmark, g_free);
  enqueue (s, OP_QUERY, g_strdup ("ROLLBACK"), NULL);
  enqueue_params (s, g_strdup_printf ("SELECT owner, epoch FROM %s WHERE source_id = $1", s->q_checkpoints),
                  on_fenced_owner, 1, s->source_id);
}

static void
begin_txn (PgSink *s)
{
  enqueue (s, OP_QUERY, g_strdup ("BEGIN"), NULL);
  s->in_txn = TRUE;
  s->txn_rows = 0;
  s->rows_at_state = 0;
  s->txn_started = g_get_monotonic_time ();
}

static void
end_copy (PgSink *s)
{
  if (!s->copy_open)
    return;
  enqueue (s, OP_COPY_END, NULL, NULL);
  s->copy_open = FALSE;
  s->copy_stream = NULL;
}

static void
begin_commit (PgSink *s)
{
  GHashTableIter iter;
  Stream *st;
  char epoch[32];

  clear_timer (&s->commit_timer);
  end_copy (s);
  g_hash_table_iter_init (&iter, s->streams);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &st))
    if (st->staged)
      {
        enqueue (s, OP_QUERY, g_strdup (st->merge_sql), NULL);
        st->staged = FALSE;
      }
  g_snprintf (epoch, sizeof epoch, "%" G_GINT64_FORMAT, s->epoch);
  /* The fence: only while the epoch is still ours. */
  enqueue_params (s,
                  g_strdup_printf ("UPDATE %s SET bookmark = COALESCE($3::jsonb, bookmark), batches = batches + 1, "
                                   "updated_at = now() WHERE source_id = $1 AND epoch = $2::bigint",
                                   s->q_checkpoints),
                  on_checkpoint_updated, 3, s->source_id, epoch, s->last_state);
  enqueue (s, OP_COMMIT, NULL, on_commit);
  s->c_rows = s->txn_rows;
  s->c_bytes = s->pending_bytes;
  g_free (s->c_bookmark);
  s->c_bookmark = g_steal_pointer (&s->last_state);
  s->pending_bytes = 0;
  s->in_txn = FALSE;
  s->txn_rows = 0;
  s->rows_at_state = 0;
}

static void
rollback (PgSink *s)
{
  if (!s->in_txn)
    return;
  enqueue (s, OP_QUERY, g_strdup ("ROLLBACK"), NULL);
  forget_transaction (s);
}

static gboolean
on_commit_timer (gpointer user_data)
{
  PgSink *s = user_data;

  s->commit_timer = 0;
  /* Only at a STATE with nothing after it (Singer), or any time (exec). */
  if (s->in_txn && s->state == CONN_UP && (s->singer ? s->last_state && s->txn_rows == s->rows_at_state : TRUE))
    {
      begin_commit (s);
      kick (s);
    }
  return G_SOURCE_REMOVE;
}

static void
arm_commit_timer (PgSink *s)
{
  if (!s->commit_timer)
    s->commit_timer = g_timeout_add (MAX (s->commit_ms, 1u), on_commit_timer, s);
}

/* ---- Lines --------------------------------------------------------------- */

static LineResult
refuse (PgSink *s, const char *message)
{
  g_autofree char *msg = g_strdup (message);

  s->closing = TRUE;
  close_conn (s);
  s->closing = FALSE;
  s->cb->stopped (s->owner, msg);
  return LINE_STOP;
}

static gint64
next_sequence (PgSink *s)
{
  /* Increasing per source, across runs and daemons too as long as their
   * clocks agree: nanoseconds-ish from the wall clock, and never the same
   * twice. */
  gint64 now = g_get_real_time () * 1000;

  s->sequence = MAX (s->sequence + 1, now);
  return s->sequence;
}

static LineResult
put_row (PgSink *s)
{
  int r = PQputCopyData (s->conn, s->row->str, (int) s->row->len);

  if (r < 0)
    {
      fail (s, PQerrorMessage (s->conn));
      return LINE_STOP;
    }
  if (r == 0)
    {
      flush (s); /* full: the line comes again once the socket drains */
      return LINE_WAIT;
    }
  s->txn_rows++;
  return LINE_TAKEN;
}

static LineResult
ensure_copy (PgSink *s, Stream *st, const char *sql)
{
  if (!s->in_txn)
    begin_txn (s);
  if (s->copy_open && s->copy_stream == st)
    return LINE_TAKEN;
  end_copy (s);
  Op *op = enqueue (s, OP_COPY_IN, g_strdup (sql), NULL);
  op->stream = st;
  s->copy_open = TRUE;
  s->copy_stream = st;
  return LINE_WAIT;
}

static LineResult
singer_record (PgSink *s, JsonObject *msg)
{
  const char *name = json_object_get_string_member_with_default (msg, "stream", "");
  Stream *st = g_hash_table_lookup (s->streams, name);
  JsonNode *rec = json_object_get_member (msg, "record");
  JsonObject *record;
  LineResult r;

  if (!st)
    {
      g_warning ("%s: line %" G_GUINT64_FORMAT ": a RECORD of stream '%s' before its SCHEMA; skipped", s->source_id,
                 s->line_no, name);
      return LINE_TAKEN;
    }
  if (!rec || !JSON_NODE_HOLDS_OBJECT (rec))
    {
      g_warning ("%s: line %" G_GUINT64_FORMAT ": a RECORD without a record object; skipped", s->source_id, s->line_no);
      return LINE_TAKEN;
    }
  if ((r = ensure_copy (s, st, st->copy_sql)) != LINE_TAKEN)
    return r;
  record = json_node_get_object (rec);
  g_string_truncate (s->row, 0);
  for (guint i = 0; i < st->columns->len; i++)
    {
      Column *c = st->columns->pdata[i];
      const char *why = NULL;
      if (!pg_copy_value (s->row, c->type, json_object_get_member (record, c->name), &why))
        {
          g_autofree char *m = g_strdup_printf ("Table %s, column %s (%s): the record on line %" G_GUINT64_FORMAT
                                                " of the tap's output does not fit: %s",
                                                st->table_label, c->name, pg_col_type_sql (c->type), s->line_no, why);
          return refuse (s, m);
        }
      g_string_append_c (s->row, '\t');
    }
  pg_append_int64 (s->row, next_sequence (s));
  g_string_append_c (s->row, '\n');
  r = put_row (s);
  if (r == LINE_TAKEN && st->merge_sql)
    st->staged = TRUE;
  return r;
}

typedef struct {
  char *name;
  GPtrArray *columns; /* Column * */
  GStrv keys;
} PendingSchema;

static void
pending_schema_free (PendingSchema *p)
{
  for (guint i = 0; i < p->columns->len; i++)
    {
      Column *c = p->columns->pdata[i];
      g_free (c->name);
      g_free (c);
    }
  g_ptr_array_unref (p->columns);
  g_strfreev (p->keys);
  g_free (p->name);
  g_free (p);
}

static gboolean
is_sdc (const char *name)
{
  return g_str_equal (name, "_sdc_batched_at") || g_str_equal (name, "_sdc_sequence");
}

/* The table as it is (from the catalog) against what the SCHEMA wants: the
 * DDL that makes them agree, or a refusal. */
static void
on_catalog (PgSink *s, Op *op, PGresult *r)
{
  PendingSchema *p = op->data;
  g_autofree char *q_schema = pg_quote_ident (s->schema);
  g_autofree char *q_name = pg_quote_ident (p->name);
  g_autofree char *table = g_strdup_printf ("%s.%s", q_schema, q_name);
  g_autofree char *label = g_strdup_printf ("%s.%s", s->schema, p->name);
  g_autoptr (GHashTable) have = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GPtrArray) have_keys = g_ptr_array_new ();
  g_autoptr (GString) ddl = g_string_new (NULL);
  g_autoptr (GString) cols = g_string_new (NULL);
  Stream *st;
  int n = PQntuples (r);

  for (int i = 0; i < n; i++)
    {
      g_hash_table_insert (have, PQgetvalue (r, i, 0),
                           GINT_TO_POINTER (pg_col_type_from_typname (PQgetvalue (r, i, 1)) + 1));
      if (PQgetvalue (r, i, 2)[0] == 't')
        g_ptr_array_add (have_keys, PQgetvalue (r, i, 0));
    }
  for (guint k = 0; p->keys && p->keys[k]; k++)
    {
      gboolean known = FALSE;
      for (guint i = 0; i < p->columns->len; i++)
        known |= g_str_equal (((Column *) p->columns->pdata[i])->name, p->keys[k]);
      if (!known)
        {
          g_autofree char *m = g_strdup_printf ("Table %s: key property '%s' is not among the stream's properties",
                                                label, p->keys[k]);
          refuse (s, m);
          return;
        }
    }

  if (n == 0)
    {
      g_string_append_printf (ddl, "CREATE TABLE %s (", table);
      for (guint i = 0; i < p->columns->len; i++)
        {
          Column *c = p->columns->pdata[i];
          g_autofree char *q = pg_quote_ident (c->name);
          g_string_append_printf (ddl, "%s %s, ", q, pg_col_type_sql (c->type));
        }
      g_string_append (ddl, "_sdc_batched_at timestamptz NOT NULL DEFAULT now(), _sdc_sequence bigint NOT NULL");
      if (p->keys && p->keys[0])
        {
          g_string_append (ddl, ", PRIMARY KEY (");
          for (guint k = 0; p->keys[k]; k++)
            {
              g_autofree char *q = pg_quote_ident (p->keys[k]);
              g_string_append_printf (ddl, "%s%s", k ? ", " : "", q);
            }
          g_string_append (ddl, ")");
        }
      g_string_append (ddl, ");");
    }
  else
    {
      guint n_keys = p->keys ? g_strv_length (p->keys) : 0;
      gboolean same_keys = n_keys == have_keys->len;
      for (guint k = 0; same_keys && k < n_keys; k++)
        same_keys = g_ptr_array_find_with_equal_func (have_keys, p->keys[k], g_str_equal, NULL);
      if (!same_keys)
        {
          g_autofree char *m = g_strdup_printf ("Table %s: its primary key differs from the stream's key_properties",
                                                label);
          refuse (s, m);
          return;
        }
      for (guint i = 0; i < p->columns->len; i++)
        {
          Column *c = p->columns->pdata[i];
          g_autofree char *q = pg_quote_ident (c->name);
          gpointer found = g_hash_table_lookup (have, c->name);
          PgColType old = found ? (PgColType) (GPOINTER_TO_INT (found) - 1) : c->type;

          if (!found)
            {
              g_string_append_printf (ddl, "ALTER TABLE %s ADD COLUMN %s %s;", table, q, pg_col_type_sql (c->type));
              continue;
            }
          switch (pg_col_type_change (old, c->type))
            {
            case PG_CHANGE_NONE:
              c->type = old; /* written as the column is: numeric stays numeric */
              break;
            case PG_CHANGE_WIDEN:
              g_message ("%s: widening column %s of table %s from %s to %s", s->source_id, c->name, label,
                         pg_col_type_sql (old), pg_col_type_sql (c->type));
              g_string_append_printf (ddl, "ALTER TABLE %s ALTER COLUMN %s TYPE %s;", table, q,
                                      pg_col_type_sql (c->type));
              break;
            case PG_CHANGE_INCOMPATIBLE:
            default:
              {
                /* A type sourced does not write is named as the catalog has it. */
                const char *have_name = pg_col_type_sql (old);
                for (int row = 0; old == PG_COL_OTHER && row < n; row++)
                  if (g_str_equal (PQgetvalue (r, row, 0), c->name))
                    have_name = PQgetvalue (r, row, 1);
                g_autofree char *m = g_strdup_printf ("Table %s, column %s: the stream's SCHEMA now makes it %s, but "
                                                      "the column is %s; change or drop the column, then Unpause",
                                                      label, c->name, pg_col_type_sql (c->type), have_name);
                refuse (s, m);
                return;
              }
            }
        }
      if (!g_hash_table_contains (have, "_sdc_batched_at"))
        g_string_append_printf (ddl, "ALTER TABLE %s ADD COLUMN _sdc_batched_at timestamptz DEFAULT now();", table);
      if (!g_hash_table_contains (have, "_sdc_sequence"))
        g_string_append_printf (ddl, "ALTER TABLE %s ADD COLUMN _sdc_sequence bigint;", table);
    }

  st = g_new0 (Stream, 1);
  st->name = g_strdup (p->name);
  st->table_label = g_steal_pointer (&label);
  st->columns = g_steal_pointer (&p->columns);
  p->columns = g_ptr_array_new ();
  st->index = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < st->columns->len; i++)
    {
      Column *col = st->columns->pdata[i];
      g_autofree char *q = pg_quote_ident (col->name);
      g_string_append_printf (cols, "%s, ", q);
      g_hash_table_insert (st->index, col->name, GUINT_TO_POINTER (i + 1));
    }
  g_string_append (cols, "_sdc_sequence");
  if (p->keys && p->keys[0])
    {
      g_autofree char *stage_name = g_strdup_printf ("_sourced_stage_%u", ++s->stage_counter);
      g_autofree char *stage = g_strdup_printf ("pg_temp.%s", stage_name);
      g_autoptr (GString) keys = g_string_new (NULL);
      g_autoptr (GString) set = g_string_new (NULL);

      for (guint k = 0; p->keys[k]; k++)
        {
          g_autofree char *q = pg_quote_ident (p->keys[k]);
          g_string_append_printf (keys, "%s%s", k ? ", " : "", q);
        }
      for (guint i = 0; i < st->columns->len; i++)
        {
          const char *name = ((Column *) st->columns->pdata[i])->name;
          g_autofree char *q = pg_quote_ident (name);
          if (!g_strv_contains ((const char *const *) p->keys, name))
            g_string_append_printf (set, "%s = EXCLUDED.%s, ", q, q);
        }
      g_string_append (set, "_sdc_batched_at = EXCLUDED._sdc_batched_at, _sdc_sequence = EXCLUDED._sdc_sequence");
      /* The stage has the table's columns and defaults; it empties itself
       * at every commit. */
      g_string_append_printf (ddl,
                              "DROP TABLE IF EXISTS %s; CREATE TEMP TABLE %s (LIKE %s INCLUDING DEFAULTS) "
                              "ON COMMIT DELETE ROWS;",
                              stage, stage_name, table);
      st->copy_sql = g_strdup_printf ("COPY %s (%s) FROM STDIN", stage, cols->str);
      /* Several records of one key in a batch: the last one wins. */
      st->merge_sql = g_strdup_printf ("INSERT INTO %s AS t (%s, _sdc_batched_at) "
                                       "SELECT DISTINCT ON (%s) %s, _sdc_batched_at FROM %s "
                                       "ORDER BY %s, _sdc_sequence DESC "
                                       "ON CONFLICT (%s) DO UPDATE SET %s; TRUNCATE %s",
                                       table, cols->str, keys->str, cols->str, stage, keys->str, keys->str, set->str,
                                       stage);
    }
  else
    st->copy_sql = g_strdup_printf ("COPY %s (%s) FROM STDIN", table, cols->str);
  g_hash_table_replace (s->streams, st->name, st);
  if (ddl->len)
    enqueue (s, OP_QUERY, g_string_free (g_steal_pointer (&ddl), FALSE), NULL);
}

static LineResult
singer_schema (PgSink *s, JsonObject *msg)
{
  const char *name = json_object_get_string_member_with_default (msg, "stream", "");
  JsonNode *schema = json_object_get_member (msg, "schema");
  JsonNode *props = schema && JSON_NODE_HOLDS_OBJECT (schema)
                        ? json_object_get_member (json_node_get_object (schema), "properties")
                        : NULL;
  JsonNode *keys = json_object_get_member (msg, "key_properties");
  Stream *old = g_hash_table_lookup (s->streams, name);
  g_autofree char *q_schema = pg_quote_ident (s->schema);
  g_autofree char *q_name = pg_quote_ident (name);
  PendingSchema *p;
  GPtrArray *key_list;
  Op *op;

  if (!name[0] || !props || !JSON_NODE_HOLDS_OBJECT (props))
    {
      g_warning ("%s: line %" G_GUINT64_FORMAT ": a SCHEMA without stream or properties; skipped", s->source_id,
                 s->line_no);
      return LINE_TAKEN;
    }
  p = g_new0 (PendingSchema, 1);
  p->name = g_strdup (name);
  p->columns = g_ptr_array_new ();
  JsonObject *po = json_node_get_object (props);
  g_autoptr (GList) members = json_object_get_members (po);
  for (GList *l = members; l; l = l->next)
    {
      Column *c;
      if (is_sdc (l->data))
        continue; /* sourced's own */
      c = g_new0 (Column, 1);
      c->name = g_strdup (l->data);
      c->type = pg_col_type_from_json_schema (json_object_get_member (po, l->data));
      g_ptr_array_add (p->columns, c);
    }
  key_list = g_ptr_array_new ();
  if (keys && JSON_NODE_HOLDS_ARRAY (keys))
    {
      JsonArray *ka = json_node_get_array (keys);
      for (guint i = 0; i < json_array_get_length (ka); i++)
        {
          JsonNode *k = json_array_get_element (ka, i);
          if (JSON_NODE_HOLDS_VALUE (k) && json_node_get_value_type (k) == G_TYPE_STRING)
            g_ptr_array_add (key_list, g_strdup (json_node_get_string (k)));
        }
    }
  g_ptr_array_add (key_list, NULL);
  p->keys = (GStrv) g_ptr_array_free (key_list, FALSE);

  if (!s->in_txn)
    begin_txn (s);
  end_copy (s);
  if (old && old->staged)
    {
      /* Its stage is made again for the new columns: merged first. */
      enqueue (s, OP_QUERY, g_strdup (old->merge_sql), NULL);
      old->staged = FALSE;
    }
  op = enqueue_params (s,
                       g_strdup ("SELECT a.attname, t.typname, coalesce(a.attnum = ANY (i.indkey), false) "
                                 "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
                                 "LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary "
                                 "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped "
                                 "ORDER BY a.attnum"),
                       on_catalog, 1, NULL);
  g_free (op->params[0]);
  op->params[0] = g_strdup_printf ("%s.%s", q_schema, q_name);
  op->data = p;
  op->destroy = (GDestroyNotify) pending_schema_free;
  return LINE_TAKEN;
}

static LineResult
singer_state (PgSink *s, JsonObject *msg)
{
  JsonNode *value = json_object_get_member (msg, "value");

  if (!value)
    return LINE_TAKEN;
  g_free (s->last_state);
  s->last_state = json_to_string (value, FALSE);
  if (!s->in_txn)
    {
      if (g_strcmp0 (s->last_state, s->bookmark) == 0)
        {
          g_clear_pointer (&s->last_state, g_free);
          return LINE_TAKEN;
        }
      /* A new bookmark and no rows: it commits alone. */
      char *state = g_steal_pointer (&s->last_state);
      begin_txn (s);
      s->last_state = state;
      begin_commit (s);
      return LINE_TAKEN;
    }
  s->rows_at_state = s->txn_rows;
  if (s->txn_rows >= PG_SINK_COMMIT_ROWS || g_get_monotonic_time () - s->txn_started >= (gint64) s->commit_ms * 1000)
    begin_commit (s);
  else
    {
      /* A tap that goes quiet after a STATE has it committed soon. */
      clear_timer (&s->commit_timer);
      arm_commit_timer (s);
    }
  return LINE_TAKEN;
}

typedef struct {
  JsonSpan type, stream, record;
  guint found; /* bits: 1 type, 2 stream, 4 record */
} Envelope;

static gboolean
envelope_member (const JsonSpan *key, const JsonSpan *value, gpointer user_data)
{
  Envelope *e = user_data;

  if (json_span_equals (key, "type"))
    e->type = *value, e->found |= 1;
  else if (json_span_equals (key, "stream"))
    e->stream = *value, e->found |= 2;
  else if (json_span_equals (key, "record"))
    e->record = *value, e->found |= 4;
  return TRUE;
}

typedef struct {
  PgSink *s;
  Stream *st;
  gboolean odd; /* a key with an escape: json-glib decides */
} RecordScan;

static gboolean
record_member (const JsonSpan *key, const JsonSpan *value, gpointer user_data)
{
  RecordScan *rs = user_data;
  guint pos;

  if (memchr (key->start, '\\', key->len))
    {
      rs->odd = TRUE;
      return FALSE;
    }
  g_string_truncate (rs->s->scratch, 0);
  g_string_append_len (rs->s->scratch, key->start + 1, (gssize) key->len - 2);
  pos = GPOINTER_TO_UINT (g_hash_table_lookup (rs->st->index, rs->s->scratch->str));
  if (pos)
    g_array_index (rs->s->values, JsonSpan, pos - 1) = *value; /* a key twice: the last wins */
  return TRUE;
}

/* A RECORD, straight from the text: the columns' values are found by the
 * scanner and copied as written. */
static LineResult
singer_record_scanned (PgSink *s, const Envelope *e, gboolean *fall_back)
{
  RecordScan rs = { s, NULL, FALSE };
  LineResult r;

  g_string_truncate (s->scratch, 0);
  g_string_append_len (s->scratch, e->stream.start + 1, (gssize) e->stream.len - 2);
  rs.st = g_hash_table_lookup (s->streams, s->scratch->str);
  if (!rs.st)
    {
      g_warning ("%s: line %" G_GUINT64_FORMAT ": a RECORD of stream '%s' before its SCHEMA; skipped", s->source_id,
                 s->line_no, s->scratch->str);
      return LINE_TAKEN;
    }
  if ((r = ensure_copy (s, rs.st, rs.st->copy_sql)) != LINE_TAKEN)
    return r;
  g_array_set_size (s->values, rs.st->columns->len);
  for (guint i = 0; i < s->values->len; i++)
    g_array_index (s->values, JsonSpan, i).start = NULL;
  json_scan_members (&e->record, record_member, &rs);
  if (rs.odd)
    {
      *fall_back = TRUE;
      return LINE_TAKEN;
    }
  g_string_truncate (s->row, 0);
  for (guint i = 0; i < rs.st->columns->len; i++)
    {
      Column *c = rs.st->columns->pdata[i];
      JsonSpan *v = &g_array_index (s->values, JsonSpan, i);
      const char *why = NULL;
      if (!pg_copy_span (s->row, c->type, v->start ? v : NULL, s->scratch, &why))
        {
          g_autofree char *m = g_strdup_printf (
              "Table %s, column %s (%s): the record on line %" G_GUINT64_FORMAT " of the tap's output does not fit: %s",
              rs.st->table_label, c->name, pg_col_type_sql (c->type), s->line_no, why);
          return refuse (s, m);
        }
      g_string_append_c (s->row, '\t');
    }
  pg_append_int64 (s->row, next_sequence (s));
  g_string_append_c (s->row, '\n');
  r = put_row (s);
  if (r == LINE_TAKEN && rs.st->merge_sql)
    rs.st->staged = TRUE;
  return r;
}

static LineResult singer_line_parsed (PgSink *s, const char *line, gsize len);

static LineResult
singer_line (PgSink *s, const char *line, gsize len)
{
  Envelope e = { 0 };
  JsonSpan root;
  gboolean fall_back = FALSE;
  LineResult r;

  if (!g_utf8_validate_len (line, len, NULL) || !json_scan_value (line, len, &root) || root.kind != JSON_SPAN_OBJECT)
    {
      g_warning ("%s: line %" G_GUINT64_FORMAT " of the tap's output is not a Singer message; skipped: %s",
                 s->source_id, s->line_no,
                 !g_utf8_validate_len (line, len, NULL) ? "invalid UTF-8"
                 : root.kind != JSON_SPAN_OBJECT        ? "not a JSON object"
                                                        : "invalid JSON");
      return LINE_TAKEN;
    }
  json_scan_members (&root, envelope_member, &e);
  /* The hot path: a RECORD with a plain stream name. The rest (SCHEMA,
   * STATE, anything unusual) is read by json-glib. */
  if (e.found == 7 && json_span_equals (&e.type, "RECORD") && e.stream.kind == JSON_SPAN_STRING &&
      !memchr (e.stream.start, '\\', e.stream.len) && e.record.kind == JSON_SPAN_OBJECT)
    {
      r = singer_record_scanned (s, &e, &fall_back);
      if (!fall_back)
        return r;
    }
  return singer_line_parsed (s, line, len);
}

static LineResult
singer_line_parsed (PgSink *s, const char *line, gsize len)
{
  g_autoptr (GError) error = NULL;
  JsonNode *root;
  JsonObject *msg;
  const char *type;

  if (!json_parser_load_from_data (s->parser, line, (gssize) len, &error) ||
      !(root = json_parser_get_root (s->parser)) || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_warning ("%s: line %" G_GUINT64_FORMAT " of the tap's output is not a Singer message; skipped%s%s",
                 s->source_id, s->line_no, error ? ": " : "", error ? error->message : "");
      return LINE_TAKEN;
    }
  msg = json_node_get_object (root);
  type = json_object_get_string_member_with_default (msg, "type", "");
  if (g_str_equal (type, "RECORD"))
    return singer_record (s, msg);
  if (g_str_equal (type, "SCHEMA"))
    return singer_schema (s, msg);
  if (g_str_equal (type, "STATE"))
    return singer_state (s, msg);
  return LINE_TAKEN; /* ACTIVATE_VERSION, BATCH…: nothing for a table */
}

static LineResult
exec_line (PgSink *s, const char *line, gsize len)
{
  LineResult r;

  JsonSpan value;

  if (len == 0)
    return LINE_TAKEN;
  if (!g_utf8_validate_len (line, len, NULL) || !json_scan_value (line, len, &value))
    {
      g_warning ("%s: line %" G_GUINT64_FORMAT " of the worker's output is not JSON; skipped: %s", s->source_id,
                 s->line_no, g_utf8_validate_len (line, len, NULL) ? "invalid JSON" : "invalid UTF-8");
      return LINE_TAKEN;
    }
  if ((r = ensure_copy (s, NULL, NULL)) == LINE_WAIT)
    {
      Op *op = g_queue_peek_tail (&s->ops);
      op->sql = g_strdup_printf ("COPY %s (_sdc_sequence, record) FROM STDIN", s->q_exec);
      arm_commit_timer (s);
      return r;
    }
  g_string_truncate (s->row, 0);
  pg_append_int64 (s->row, next_sequence (s));
  g_string_append_c (s->row, '\t');
  pg_copy_escape (s->row, line, len);
  g_string_append_c (s->row, '\n');
  return put_row (s);
}

static gsize write_lines (PgSink *s, const char *data, gsize length);

gsize
pg_sink_write (PgSink *s, const char *data, gsize length)
{
  gsize n;

  s->writing = TRUE;
  n = write_lines (s, data, length);
  s->writing = FALSE;
  return n;
}

static gsize
write_lines (PgSink *s, const char *data, gsize length)
{
  gsize pos = 0;

  if (s->state != CONN_UP || !s->in_run || s->current || !g_queue_is_empty (&s->ops) || s->flush_pending)
    {
      s->wants_write = TRUE;
      return 0;
    }
  while (pos < length)
    {
      const char *nl = memchr (data + pos, '\n', length - pos);
      gsize len;
      LineResult r;

      if (!nl)
        break;
      len = (gsize) (nl - (data + pos));
      s->line_no++;
      r = s->singer ? singer_line (s, data + pos, len && data[pos + len - 1] == '\r' ? len - 1 : len)
                    : exec_line (s, data + pos, len);
      if (r != LINE_TAKEN)
        {
          s->line_no--;
          if (r == LINE_STOP)
            return 0; /* rolled back: none of it is in */
          break;
        }
      pos += len + 1;
      s->pending_bytes += len + 1;
      if (!s->singer && s->in_txn &&
          (s->txn_rows >= PG_SINK_COMMIT_ROWS || s->pending_bytes >= PG_SINK_EXEC_BATCH_BYTES))
        begin_commit (s);
      if (!g_queue_is_empty (&s->ops) || s->flush_pending)
        break;
    }
  if (s->state == CONN_UP && s->copy_open && g_queue_is_empty (&s->ops) && !s->flush_pending)
    flush (s);
  if (pos < length)
    s->wants_write = TRUE;
  if (s->state == CONN_UP)
    kick (s);
  return pos;
}

/* ---- Runs ---------------------------------------------------------------- */

gboolean
pg_sink_prepare (PgSink *s, const PgSinkSetup *setup)
{
  gboolean same = g_strcmp0 (s->conninfo, setup->conninfo) == 0 && g_strcmp0 (s->schema, setup->schema) == 0 &&
                  s->singer == setup->singer;

  s->closing = FALSE;
  s->commit_ms = setup->commit_ms;
  s->stall_ms = setup->stall_ms;
  g_free (s->owner_name);
  s->owner_name = g_strdup (setup->owner_name);
  if (!same || g_strcmp0 (s->source_id, setup->source_id) != 0)
    {
      /* A new place: everything known about the old one goes. */
      s->closing = TRUE;
      close_conn (s);
      s->closing = FALSE;
      g_free (s->conninfo);
      s->conninfo = g_strdup (setup->conninfo);
      g_free (s->schema);
      s->schema = g_strdup (setup->schema);
      g_free (s->source_id);
      s->source_id = g_strdup (setup->source_id);
      s->singer = setup->singer;
      g_free (s->q_checkpoints);
      g_autofree char *q_schema = pg_quote_ident (s->schema);
      g_autofree char *q_id = pg_quote_ident (s->source_id);
      s->q_checkpoints = g_strdup_printf ("%s.sourced_checkpoints", q_schema);
      g_free (s->q_exec);
      s->q_exec = g_strdup_printf ("%s.%s", q_schema, q_id);
      s->epoch = 0;
      s->unknown = FALSE;
      s->takeover_wanted = TRUE;
    }
  if (s->run_ready && !s->takeover_wanted)
    return TRUE;
  if (s->state == CONN_OFF)
    {
      connect_start (s);
      return FALSE;
    }
  if (s->state == CONN_UP)
    {
      rollback (s);
      if (s->takeover_wanted && s->reading_checkpoint)
        return FALSE; /* under way (a takeover if it was asked first) */
      read_checkpoint (s);
      kick (s);
    }
  return FALSE;
}

void
pg_sink_want_takeover (PgSink *s)
{
  s->takeover_wanted = TRUE;
  s->run_ready = FALSE;
}

void
pg_sink_begin_run (PgSink *s)
{
  s->run_ready = FALSE;
  s->in_run = TRUE;
  s->line_no = 0;
}

void
pg_sink_end_run (PgSink *s)
{
  s->in_run = FALSE;
  s->wants_write = FALSE;
  if (s->state != CONN_UP)
    return;
  if (s->in_txn)
    {
      /* Singer: up to a STATE with nothing after it commits; records after
       * the last STATE are sent again by the tap, from the bookmark. */
      if (!s->singer || (s->last_state && s->txn_rows == s->rows_at_state))
        begin_commit (s);
      else
        rollback (s);
    }
  read_checkpoint (s);
  kick (s);
}

void
pg_sink_close (PgSink *s)
{
  s->in_run = FALSE;
  s->run_ready = FALSE;
  s->closing = TRUE;
  if (s->state != CONN_UP || (!s->current && g_queue_is_empty (&s->ops)))
    close_conn (s);
}

void
pg_sink_hold (PgSink *s, gboolean hold)
{
  if (s->held == hold)
    return;
  s->held = hold;
  if (!hold && s->state == CONN_UP)
    kick (s);
}

gboolean
pg_sink_commit_in_flight (PgSink *s)
{
  return s->commit_sent;
}

const char *
pg_sink_bookmark (PgSink *s)
{
  return s->bookmark;
}

void
pg_sink_free (PgSink *s)
{
  if (!s)
    return;
  s->closing = TRUE;
  close_conn (s);
  g_hash_table_unref (s->streams);
  g_object_unref (s->parser);
  g_string_free (s->row, TRUE);
  g_string_free (s->scratch, TRUE);
  g_array_unref (s->values);
  if (s->result_error)
    g_string_free (s->result_error, TRUE);
  g_free (s->conninfo);
  g_free (s->schema);
  g_free (s->source_id);
  g_free (s->owner_name);
  g_free (s->q_checkpoints);
  g_free (s->q_exec);
  g_free (s->last_state);
  g_free (s->c_bookmark);
  g_free (s->u_bookmark);
  g_free (s->bookmark);
  g_free (s);
}
