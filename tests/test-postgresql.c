/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The PostgreSQL sink against a real server: a cluster of the test's own
 * (pg-cluster.c), the real daemon on a private bus, real taps. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib.h>

#include "harness.h"
#include "pg-cluster.h"

#define SRC_IFACE "org.sourced.Sourced1.Source"
#define MGR_PATH "/org/sourced/Sourced1"
#define MGR_IFACE "org.sourced.Sourced1.Manager"

static char *
tap (const char *name)
{
  return g_build_filename (g_getenv ("SOURCED_TEST_TAPS"), name, NULL);
}

/* A definition delivering into @c's database. */
static char *
definition (PgCluster *c, const char *type, const char *exec, const char *extra)
{
  g_autofree char *uri = pg_cluster_uri (c);

  return g_strdup_printf ("[Source]\nType=%s\nExec=%s\nSink=%s\nRestartSec=1\n%s", type, exec, uri, extra ? extra : "");
}

typedef struct {
  PgCluster *c;
  const char *sql;
  gint64 at_least;
} QueryWait;

static gboolean
query_reaches (gpointer data)
{
  QueryWait *w = data;
  g_autofree char *v = NULL;

  return pg_cluster_try_query (w->c, w->sql, &v) && v[0] && g_ascii_strtoll (v, NULL, 10) >= w->at_least;
}

/* Waits until @sql (one integer) reaches @at_least. */
static gboolean
wait_query (PgCluster *c, const char *sql, gint64 at_least, guint timeout_ms)
{
  QueryWait w = { c, sql, at_least };

  return harness_wait_until (query_reaches, &w, timeout_ms);
}

typedef struct {
  Harness *h;
  const char *id;
  const char *prop;
  const char *needle;
} StringWait;

static gboolean
string_contains (gpointer data)
{
  StringWait *w = data;
  g_autofree char *v = harness_get_s (w->h, w->id, w->prop);

  return strstr (v, w->needle) != NULL;
}

static gboolean
wait_string (Harness *h, const char *id, const char *prop, const char *needle, guint timeout_ms)
{
  StringWait w = { h, id, prop, needle };

  return harness_wait_until (string_contains, &w, timeout_ms);
}

#define BOOKMARK_N "(SELECT coalesce((bookmark #>> '{bookmarks,counter,n}')::bigint, 0) FROM %s.sourced_checkpoints)"

/* ---- Exactly once under crashes ------------------------------------------ */

/* 200,000 records, a STATE every 1,000, into an appended table (no key: a
 * duplicate would stay), while sourced is killed with SIGKILL ten times and
 * PostgreSQL stopped with pg_ctl stop -m immediate five times, at random
 * moments. Every id is in the table once, and the bookmark in the
 * checkpoint row is the last one. */
static void
test_exactly_once_under_crashes (void)
{
  g_autoptr (PgCluster) c = pg_cluster_new ();
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *counter = tap ("tap-counter");
  g_autofree char *exec = g_strdup_printf ("%s --count 200000 --every 1000 --no-key --state-sleep 0.2", counter);
  g_autofree char *def = definition (c, "singer", exec, NULL);
  GRand *rand = g_rand_new_with_seed (20261206);
  /* ten K (sourced killed), five P (PostgreSQL stopped), shuffled */
  char plan[] = "KKKKKKKKKKPPPPP";
  gint64 rows = 0;
  guint kills = 0, crashes = 0;

  for (int i = (int) strlen (plan) - 1; i > 0; i--)
    {
      int j = g_rand_int_range (rand, 0, i + 1);
      char t = plan[i];
      plan[i] = plan[j];
      plan[j] = t;
    }
  harness_write_definition (h, "crash", def);
  harness_start (h, NULL);

  for (const char *step = plan; *step; step++)
    {
      /* Mid-stream: some rows more than at the last blow. */
      gint64 target = rows + g_rand_int_range (rand, 2000, 9000);
      g_assert_true (wait_query (c, "SELECT count(*) FROM crash.counter", target, 60000));
      g_usleep (g_rand_int_range (rand, 0, 80) * 1000);
      if (*step == 'K')
        {
          int status = harness_kill (h, SIGKILL);
          g_assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
          kills++;
          harness_start (h, NULL);
        }
      else
        {
          pg_cluster_crash (c);
          crashes++;
          pg_cluster_start (c);
        }
      rows = pg_cluster_query_int (c, "SELECT count(*) FROM crash.counter");
      g_test_message ("%c: %" G_GINT64_FORMAT " rows", *step, rows);
    }
  g_rand_free (rand);
  g_assert_cmpuint (kills, ==, 10);
  g_assert_cmpuint (crashes, ==, 5);
  g_assert_true (rows < 200000); /* every blow fell mid-stream */

  g_autofree char *bookmark_sql = g_strdup_printf ("SELECT " BOOKMARK_N, "crash");
  g_assert_true (wait_query (c, bookmark_sql, 200000, 120000));
  g_assert_cmpint (pg_cluster_query_int (c, "SELECT count(*) FROM crash.counter"), ==, 200000);
  g_assert_cmpint (pg_cluster_query_int (c, "SELECT count(DISTINCT n) FROM crash.counter"), ==, 200000);
  g_assert_cmpint (pg_cluster_query_int (c, "SELECT max(n) FROM crash.counter"), ==, 200000);
  g_assert_cmpint (pg_cluster_query_int (c, bookmark_sql), ==, 200000);
  /* The tap resumed from the database's bookmark: the sequence only grew. */
  g_assert_cmpint (pg_cluster_query_int (c, "SELECT count(*) FROM (SELECT n, _sdc_sequence < lag(_sdc_sequence) "
                                            "OVER (ORDER BY n) AS back FROM crash.counter) x WHERE back"),
                   ==, 0);
  g_autofree char *bookmark = harness_get_s (h, "crash", "Bookmark");
  g_assert_nonnull (strstr (bookmark, "200000"));
}

/* ---- Tables from SCHEMA messages ------------------------------------------ */

static char *
write_messages (Harness *h, const char *name, const char *text)
{
  char *path = g_build_filename (h->dir, name, NULL);

  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  return path;
}

static void
test_tables_from_schema (void)
{
  g_autoptr (PgCluster) c = pg_cluster_new ();
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *replay = tap ("tap-replay");
  g_autofree char *file = write_messages (
      h, "shop.jsonl",
      "{\"type\":\"SCHEMA\",\"stream\":\"users\",\"key_properties\":[\"id\"],\"schema\":{\"properties\":{"
      "\"id\":{\"type\":\"integer\"},\"name\":{\"type\":[\"null\",\"string\"]},\"score\":{\"type\":\"integer\"},"
      "\"created\":{\"type\":\"string\",\"format\":\"date-time\"},\"born\":{\"type\":\"string\",\"format\":\"date\"},"
      "\"tags\":{\"type\":\"array\"},\"vip\":{\"type\":\"boolean\"},\"misc\":{\"type\":[\"string\",\"integer\"]}}}}\n"
      "{\"type\":\"RECORD\",\"stream\":\"users\",\"record\":{\"id\":1,\"name\":\"ann\",\"score\":3,"
      "\"created\":\"2026-12-01T10:00:00Z\",\"born\":\"1990-02-03\",\"tags\":[\"a\"],\"vip\":true,\"misc\":7}}\n"
      "{\"type\":\"RECORD\",\"stream\":\"users\",\"record\":{\"id\":2,\"name\":null,\"score\":5}}\n"
      "{\"type\":\"RECORD\",\"stream\":\"users\",\"record\":{\"id\":1,\"name\":\"ann2\",\"score\":4}}\n"
      "{\"type\":\"SCHEMA\",\"stream\":\"events\",\"key_properties\":[],\"schema\":{\"properties\":{"
      "\"kind\":{\"type\":\"string\"}}}}\n"
      "{\"type\":\"RECORD\",\"stream\":\"events\",\"record\":{\"kind\":\"tab\\there\"}}\n"
      "{\"type\":\"RECORD\",\"stream\":\"events\",\"record\":{\"kind\":\"tab\\there\"}}\n"
      "not a Singer message\n"
      "{\"type\":\"STATE\",\"value\":{\"step\":1}}\n"
      "{\"type\":\"SCHEMA\",\"stream\":\"users\",\"key_properties\":[\"id\"],\"schema\":{\"properties\":{"
      "\"id\":{\"type\":\"integer\"},\"name\":{\"type\":[\"null\",\"string\"]},\"score\":{\"type\":\"number\"},"
      "\"email\":{\"type\":\"string\"}}}}\n"
      "{\"type\":\"RECORD\",\"stream\":\"users\",\"record\":{\"id\":3,\"name\":\"cy\",\"score\":1.5,\"email\":\"c@x\"}}"
      "\n"
      "{\"type\":\"RECORD\",\"stream\":\"users\",\"record\":{\"id\":2,\"score\":0.1}}\n"
      "{\"type\":\"STATE\",\"value\":{\"step\":2}}\n");
  g_autofree char *exec = g_strdup_printf ("%s %s", replay, file);
  g_autofree char *def = definition (c, "singer", exec, "Schema=shop\n");

  harness_write_definition (h, "s", def);
  harness_start (h, NULL);
  g_assert_true (
      wait_query (c, "SELECT batches FROM shop.sourced_checkpoints WHERE bookmark = '{\"step\":2}'", 1, 20000));

  /* Keyed: upserted, the last record of a key wins; widened to numeric. */
  g_assert_cmpint (pg_cluster_query_int (c, "SELECT count(*) FROM shop.users"), ==, 3);
  g_autofree char *name1 = pg_cluster_query (c, "SELECT name FROM shop.users WHERE id = 1");
  g_assert_cmpstr (name1, ==, "ann2");
  g_autofree char *score2 = pg_cluster_query (c, "SELECT score FROM shop.users WHERE id = 2");
  g_assert_cmpstr (score2, ==, "0.1");
  g_autofree char *email = pg_cluster_query (c, "SELECT email FROM shop.users WHERE id = 3");
  g_assert_cmpstr (email, ==, "c@x");
  g_autofree char *types = pg_cluster_query (
      c, "SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position) FROM "
         "information_schema.columns WHERE table_schema = 'shop' AND table_name = 'users'");
  g_assert_cmpstr (types, ==,
                   "id:bigint,name:text,score:numeric,created:timestamp with time zone,born:date,tags:jsonb,"
                   "vip:boolean,misc:jsonb,_sdc_batched_at:timestamp with time zone,_sdc_sequence:bigint,email:text");
  g_autofree char *pk = pg_cluster_query (c, "SELECT string_agg(a.attname, ',') FROM pg_index i JOIN pg_attribute a "
                                             "ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
                                             "WHERE i.indrelid = 'shop.users'::regclass AND i.indisprimary");
  g_assert_cmpstr (pk, ==, "id");
  /* Appended: both events, the tab kept. */
  g_assert_cmpint (pg_cluster_query_int (c, "SELECT count(*) FROM shop.events WHERE kind = E'tab\\there'"), ==, 2);
  g_assert_cmpint (pg_cluster_query_int (c, "SELECT count(*) FROM shop.users WHERE _sdc_sequence IS NULL "
                                            "OR _sdc_batched_at IS NULL"),
                   ==, 0);
  /* The record that does not parse is said, with its line, and skipped. */
  g_autofree char *log = harness_log (h);
  g_assert_nonnull (strstr (log, "s: line 8 of the tap's output is not a Singer message; skipped"));
  g_autofree char *bookmark = harness_get_s (h, "s", "Bookmark");
  g_assert_cmpstr (bookmark, ==, "{\"step\":2}");
  g_assert_cmpuint (harness_get_t (h, "s", "RecordsDelivered"), ==, 7);

  /* sourcectl shows the sink and when it last committed. */
  g_auto (GStrv) env = g_environ_setenv (g_get_environ (), "DBUS_SESSION_BUS_ADDRESS", h->bus_address, TRUE);
  const char *argv[] = { g_getenv ("SOURCECTL_BINARY"), "--user", "status", "s", NULL };
  g_autofree char *out = NULL;
  int status;
  g_assert_true (
      g_spawn_sync (NULL, (char **) argv, env, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL, &status, NULL));
  g_autofree char *uri = pg_cluster_uri (c);
  g_autofree char *line = g_strdup_printf ("Sink: %s (last commit ", uri);
  g_assert_nonnull (strstr (out, line));
  g_assert_null (strstr (out, "(last commit never"));
}

/* A SCHEMA the table cannot take: the source pauses itself, LastError names
 * table and column, nothing after the last commit is in; once the column
 * is changed, Unpause goes on from the bookmark, and nothing is lost. */
static void
test_incompatible_schema_pauses (void)
{
  g_autoptr (PgCluster) c = pg_cluster_new ();
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *replay = tap ("tap-replay");
  g_autofree char *file = write_messages (
      h, "inc.jsonl",
      "{\"type\":\"SCHEMA\",\"stream\":\"t\",\"key_properties\":[],\"schema\":{\"properties\":{\"a\":{\"type\":"
      "\"integer\"}}}}\n"
      "{\"type\":\"RECORD\",\"stream\":\"t\",\"record\":{\"a\":1}}\n"
      "{\"type\":\"STATE\",\"value\":{\"s\":1}}\n"
      "#sleep 2\n"
      "{\"type\":\"SCHEMA\",\"stream\":\"t\",\"key_properties\":[],\"schema\":{\"properties\":{\"a\":{\"type\":"
      "\"boolean\"}}}}\n"
      "{\"type\":\"RECORD\",\"stream\":\"t\",\"record\":{\"a\":false}}\n"
      "{\"type\":\"STATE\",\"value\":{\"s\":2}}\n");
  g_autofree char *exec = g_strdup_printf ("%s %s", replay, file);
  g_autofree char *def = definition (c, "singer", exec, NULL);

  harness_write_definition (h, "inc", def);
  harness_start (h, NULL);
  g_assert_true (harness_wait_status (h, "inc", "paused", 20000));
  g_assert_cmpuint (harness_get_t (h, "inc", "SystemPausedAt"), >, 0);
  g_autofree char *error = harness_get_s (h, "inc", "LastError");
  g_assert_nonnull (strstr (error, "Table inc.t, column a"));
  g_assert_nonnull (strstr (error, "boolean"));
  g_assert_nonnull (strstr (error, "bigint"));
  /* What committed before the SCHEMA (at the STATE the tap went quiet
   * after) stays; nothing after it is in. */
  g_assert_cmpint (pg_cluster_query_int (c, "SELECT count(*) FROM inc.t"), ==, 1);
  g_autofree char *bookmark = pg_cluster_query (c, "SELECT bookmark::text FROM inc.sourced_checkpoints");
  g_assert_cmpstr (bookmark, ==, "{\"s\": 1}");

  /* The administrator changes the column; Unpause resumes from the
   * bookmark, and every record arrives once. */
  pg_cluster_exec (c, "ALTER TABLE inc.t ALTER COLUMN a TYPE boolean USING a <> 0");
  harness_source_call_ok (h, "inc", "Unpause");
  g_assert_true (wait_query (c, "SELECT count(*) FROM inc.sourced_checkpoints WHERE bookmark = '{\"s\":2}'", 1, 20000));
  g_assert_true (harness_wait_status (h, "inc", "active", 5000));
  g_autofree char *rows = pg_cluster_query (c, "SELECT string_agg(a::text, ',' ORDER BY _sdc_sequence) FROM inc.t");
  /* a=1 (made true by the ALTER), then the record of the new schema. */
  g_assert_cmpstr (rows, ==, "true,false");
}

/* ---- Exec sources ----------------------------------------------------------- */

static void
test_exec_lines_as_jsonb (void)
{
  g_autoptr (PgCluster) c = pg_cluster_new ();
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *lines = write_messages (h, "lines.txt", "{\"a\": 1}\n[1, 2]\nnot json\n\"tab\\there\"\n42\n");
  g_autofree char *exec = g_strdup_printf ("/bin/sh -c 'cat %s; exec sleep 1000'", lines);
  g_autofree char *def = definition (c, "exec", exec, NULL);

  harness_write_definition (h, "lines", def);
  harness_start (h, NULL);
  g_assert_true (wait_query (c, "SELECT count(*) FROM lines.lines", 4, 20000));
  g_autofree char *records = pg_cluster_query (c, "SELECT string_agg(record::text, '|' ORDER BY _sdc_sequence) "
                                                  "FROM lines.lines");
  g_assert_cmpstr (records, ==, "{\"a\": 1}|[1, 2]|\"tab\\there\"|42");
  g_autofree char *log = harness_log (h);
  g_assert_nonnull (strstr (log, "lines: line 3 of the worker's output is not JSON; skipped"));
  g_assert_true (harness_wait_t (h, "lines", "RecordsDelivered", 4, 5000));
  g_assert_cmpuint (harness_get_t (h, "lines", "RecordsDelivered"), ==, 4);
}

/* A scheduled source's job waits for the database, then runs: its lines
 * commit when it exits. */
static void
test_scheduled_job (void)
{
  g_autoptr (PgCluster) c = pg_cluster_new ();
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *lines = write_messages (h, "job.txt", "{\"run\": 1}\n{\"run\": 2}\n{\"run\": 3}\n");
  g_autofree char *exec = g_strdup_printf ("/bin/cat %s", lines);
  g_autofree char *def = definition (c, "exec", exec, "FrequencyMinutes=60\n");
  sd_bus_message *reply = NULL;

  harness_write_definition (h, "job", def);
  harness_start (h, NULL);
  g_assert_true (harness_wait_status (h, "job", "active", 10000));
  g_autofree char *path = source_path ("job");
  g_assert_cmpint (harness_call (h, path, SRC_IFACE, "RunJob", NULL, &reply, NULL), >=, 0);
  sd_bus_message_unref (reply);
  g_assert_true (wait_query (c, "SELECT count(*) FROM job.job", 3, 20000));
  g_assert_true (harness_wait_t (h, "job", "RecordsDelivered", 3, 5000));
  g_assert_cmpint (pg_cluster_query_int (c, "SELECT count(*) FROM job.job"), ==, 3);
  g_assert_cmpuint (harness_get_u (h, "job", "MainPID"), ==, 0);
}

/* ---- Fencing ------------------------------------------------------------------ */

static void
set_owner (Harness *h, const char *owner)
{
  g_strfreev (h->extra_env);
  h->extra_env = g_new0 (char *, 3);
  h->extra_env[0] = g_strdup ("SOURCED_PG_OWNER");
  h->extra_env[1] = g_strdup (owner);
}

/* Two daemons on two buses, one database, one source id. The second takes
 * the source over while the first is frozen (SIGSTOP) mid-stream; the
 * first, continued, commits nothing more, pauses itself and names the new
 * owner. No id is committed twice. */
static void
test_fencing_two_daemons (void)
{
  g_autoptr (PgCluster) c = pg_cluster_new ();
  g_autoptr (Harness) a = harness_new ();
  g_autoptr (Harness) b = harness_new ();
  g_autofree char *counter = tap ("tap-counter");
  g_autofree char *exec = g_strdup_printf ("%s --count 30000 --every 100 --no-key --state-sleep 0.01", counter);
  g_autofree char *def = definition (c, "singer", exec, "Schema=shared\n");

  set_owner (a, "host-a");
  set_owner (b, "host-b");
  harness_write_definition (a, "shared", def);
  harness_write_definition (b, "shared", def);
  harness_start (a, NULL);
  g_assert_true (wait_query (c, "SELECT count(*) FROM shared.counter", 2000, 30000));
  g_autofree char *owner_a = pg_cluster_query (c, "SELECT owner FROM shared.sourced_checkpoints");
  g_assert_cmpstr (owner_a, ==, "host-a");

  /* Frozen in the middle of a batch. */
  kill (a->daemon_pid, SIGSTOP);
  harness_start (b, NULL);
  g_assert_true (wait_query (c, "SELECT count(*) FROM shared.sourced_checkpoints WHERE owner = 'host-b'", 1, 30000));
  gint64 at_takeover = pg_cluster_query_int (c, "SELECT count(*) FROM shared.counter");
  g_assert_true (wait_query (c, "SELECT count(*) FROM shared.counter", at_takeover + 500, 30000));
  kill (a->daemon_pid, SIGCONT);

  g_assert_true (harness_wait_status (a, "shared", "paused", 30000));
  g_assert_cmpuint (harness_get_t (a, "shared", "SystemPausedAt"), >, 0);
  g_assert_true (wait_string (a, "shared", "LastError", "taken over by host-b", 5000));
  g_assert_true (harness_wait_status (b, "shared", "active", 5000));

  g_autofree char *done = g_strdup_printf ("SELECT " BOOKMARK_N, "shared");
  g_assert_true (wait_query (c, done, 30000, 120000));
  g_assert_cmpint (pg_cluster_query_int (c, "SELECT count(*) FROM shared.counter"), ==, 30000);
  g_assert_cmpint (pg_cluster_query_int (c, "SELECT count(DISTINCT n) FROM shared.counter"), ==, 30000);
  g_autofree char *owner = pg_cluster_query (c, "SELECT owner FROM shared.sourced_checkpoints");
  g_assert_cmpstr (owner, ==, "host-b");

  /* Unpause takes it back: epoch and owner move to A. */
  gint64 epoch = pg_cluster_query_int (c, "SELECT epoch FROM shared.sourced_checkpoints");
  harness_source_call_ok (a, "shared", "Unpause");
  g_assert_true (wait_query (c, "SELECT count(*) FROM shared.sourced_checkpoints WHERE owner = 'host-a'", 1, 20000));
  g_assert_cmpint (pg_cluster_query_int (c, "SELECT epoch FROM shared.sourced_checkpoints"), >, epoch);
  g_assert_true (harness_wait_status (b, "shared", "paused", 30000) ||
                 pg_cluster_query_int (c, "SELECT count(*) FROM shared.counter") == 30000);
}

/* ---- Pause at the database's edge ------------------------------------------ */

static void
test_pause_at_the_edge (void)
{
  g_autoptr (PgCluster) c = pg_cluster_new ();
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *counter = tap ("tap-counter");
  g_autofree char *exec = g_strdup_printf ("%s --count 1000000 --every 50 --no-key --state-sleep 0.002", counter);
  g_autofree char *def = definition (c, "singer", exec, NULL);
  const char *count_sql = "SELECT count(*) || '/' || (SELECT batches FROM edge.sourced_checkpoints) FROM edge.counter";

  harness_write_definition (h, "edge", def);
  harness_start (h, NULL);
  g_assert_true (wait_query (c, "SELECT count(*) FROM edge.counter", 1, 30000));
  for (int round = 0; round < 2; round++)
    {
      g_autofree char *before = NULL;
      g_autofree char *after = NULL;
      g_autofree char *start_sql = g_strdup_printf ("SELECT count(*) FROM edge.counter");
      gint64 now = pg_cluster_query_int (c, start_sql);

      g_assert_true (wait_query (c, start_sql, now + 1000, 30000));
      if (round == 0)
        harness_source_call_ok (h, "edge", "Pause");
      else
        harness_call (h, MGR_PATH, MGR_IFACE, "Pause", NULL, NULL, NULL);
      /* From the reply on, nothing more commits: not in the next second
       * and a half either (the commit timer is 1 s). */
      before = pg_cluster_query (c, count_sql);
      g_usleep (1500 * 1000);
      after = pg_cluster_query (c, count_sql);
      g_assert_cmpstr (before, ==, after);
      if (round == 0)
        harness_source_call_ok (h, "edge", "Unpause");
      else
        harness_call (h, MGR_PATH, MGR_IFACE, "Unpause", NULL, NULL, NULL);
      g_assert_true (wait_query (c, start_sql, g_ascii_strtoll (after, NULL, 10) + 500, 30000));
    }
}

/* ---- A database that is slow or gone ----------------------------------------- */

/* Every process of the cluster (the postmaster and its backends). */
static void
signal_cluster (PgCluster *c, int sig)
{
  pid_t master = pg_cluster_pid (c);
  DIR *proc = opendir ("/proc");
  struct dirent *e;

  g_assert_cmpint (master, >, 0);
  while ((e = readdir (proc)))
    {
      g_autofree char *path = g_strdup_printf ("/proc/%s/stat", e->d_name);
      g_autofree char *stat = NULL;
      const char *close_paren;
      int ppid = 0;
      char state;

      if (!g_ascii_isdigit (e->d_name[0]) || !g_file_get_contents (path, &stat, NULL, NULL))
        continue;
      close_paren = strrchr (stat, ')');
      if (close_paren && sscanf (close_paren + 1, " %c %d", &state, &ppid) == 2 && ppid == master)
        kill ((pid_t) atoi (e->d_name), sig);
    }
  closedir (proc);
  kill (master, sig);
}

typedef struct {
  Harness *h;
  sd_bus *bus;
  gint64 longest;
} PingWatch;

static gboolean
ping_until_restarting (gpointer data)
{
  PingWatch *p = data;
  g_autofree char *status = NULL;
  gint64 t0 = g_get_monotonic_time ();

  g_assert_cmpint (sd_bus_call_method (p->bus, "org.sourced.Sourced1", MGR_PATH, "org.freedesktop.DBus.Peer", "Ping",
                                       NULL, NULL, NULL),
                   >=, 0);
  p->longest = MAX (p->longest, g_get_monotonic_time () - t0);
  status = harness_get_s (p->h, "feed", "Status");
  return g_str_equal (status, "restarting");
}

static void
test_database_stopped (void)
{
  g_autoptr (PgCluster) c = pg_cluster_new ();
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *def = definition (
      c, "exec", "/bin/sh -c 'i=0; while :; do i=$((i+1)); echo \"{\\\"i\\\": $i}\"; sleep 0.005; done'", NULL);
  PingWatch watch = { h, NULL, 0 };

  /* Ten times the clock: the 30 s without an answer that count as an
   * outage take three. */
  h->extra_env = g_strsplit ("SOURCED_CLOCK_RATE 10", " ", -1);
  harness_write_definition (h, "feed", def);
  harness_start (h, NULL);
  g_assert_true (wait_query (c, "SELECT count(*) FROM feed.feed", 100, 30000));

  signal_cluster (c, SIGSTOP);
  watch.bus = harness_connect (h);
  g_assert_true (harness_wait_until (ping_until_restarting, &watch, 30000));
  g_autofree char *error = harness_get_s (h, "feed", "LastError");
  g_assert_nonnull (strstr (error, "PostgreSQL"));
  g_assert_cmpuint (harness_get_t (h, "feed", "NextRetryAt") + 1, >, 0);
  printf ("# longest Ping round trip while PostgreSQL was stopped: %.1f ms\n", watch.longest / 1000.0);
  g_assert_cmpint (watch.longest, <, 500 * 1000);
  sd_bus_flush_close_unref (watch.bus);

  signal_cluster (c, SIGCONT);
  gint64 rows = pg_cluster_query_int (c, "SELECT count(*) FROM feed.feed");
  g_assert_true (wait_query (c, "SELECT count(*) FROM feed.feed", rows + 200, 60000));
  g_assert_true (harness_wait_status (h, "feed", "active", 30000));
  /* Nothing lost, nothing twice: the worker's numbers are all there. */
  harness_source_call_ok (h, "feed", "Stop");
  g_assert_cmpint (pg_cluster_query_int (c, "SELECT count(*) - count(DISTINCT record->>'i') FROM feed.feed"), ==, 0);
  g_assert_cmpint (pg_cluster_query_int (c, "SELECT max((record->>'i')::int) - count(*) FROM feed.feed"), ==, 0);
}

/* ---- Bad input at run time ------------------------------------------------------ */

static void
test_unreachable_and_refused (void)
{
  g_autoptr (PgCluster) c = pg_cluster_new ();
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *norole = g_strdup_printf (
      "[Source]\nExec=sleep 1000\nSink=postgresql:///postgres?host=%s&user=nosuchrole\n", c->dir);
  g_autofree char *nohost = g_strdup (
      "[Source]\nExec=sleep 1000\nSink=postgresql://db.invalid/warehouse?connect_timeout=2\n");

  harness_write_definition (h, "norole", norole);
  harness_write_definition (h, "nohost", nohost);
  harness_start (h, NULL);
  g_assert_true (harness_wait_status (h, "norole", "restarting", 20000));
  g_assert_true (wait_string (h, "norole", "LastError", "role \"nosuchrole\" does not exist", 5000));
  g_assert_cmpuint (harness_get_t (h, "norole", "NextRetryAt"), >, 0);
  g_assert_true (harness_wait_status (h, "nohost", "restarting", 20000));
  g_assert_true (wait_string (h, "nohost", "LastError", "db.invalid", 5000));
  /* The bus answers, and the others' state is untouched. */
  g_assert_cmpuint (harness_get_t (h, "norole", "PausedAt"), ==, 0);
  harness_source_call_ok (h, "norole", "Stop");
  g_assert_true (harness_wait_status (h, "norole", "stopped", 5000));
  g_autofree char *cleared = harness_get_s (h, "norole", "LastError");
  g_assert_cmpstr (cleared, ==, "");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/postgresql/exactly-once-under-crashes", test_exactly_once_under_crashes);
  g_test_add_func ("/postgresql/tables-from-schema", test_tables_from_schema);
  g_test_add_func ("/postgresql/incompatible-schema-pauses", test_incompatible_schema_pauses);
  g_test_add_func ("/postgresql/exec-lines-as-jsonb", test_exec_lines_as_jsonb);
  g_test_add_func ("/postgresql/scheduled-job", test_scheduled_job);
  g_test_add_func ("/postgresql/fencing-two-daemons", test_fencing_two_daemons);
  g_test_add_func ("/postgresql/pause-at-the-edge", test_pause_at_the_edge);
  g_test_add_func ("/postgresql/database-stopped", test_database_stopped);
  g_test_add_func ("/postgresql/unreachable-and-refused", test_unreachable_and_refused);
  return g_test_run ();
}
