/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Throughput into PostgreSQL, against psql in the same run, on a cluster of
 * the benchmark's own (pg-cluster.c):
 *   - append: N Singer RECORDs (5 columns: integer id, string, number,
 *     date-time, object; a STATE every 1,000), fed by a tap that only
 *     copies a prepared file, into a stream without key; the reference is
 *     psql -c "\copy … from file.csv" of the same rows into an identical
 *     table;
 *   - upsert: the same rows with key_properties [id]; the reference is a
 *     psql script that copies into a staging table and runs INSERT … ON
 *     CONFLICT, in one transaction.
 * Each is timed from Start until the checkpoint row holds the last STATE,
 * and printed as sourced's rate ÷ psql's, with sourced's CPU time (where
 * the time goes: sourced's parsing and formatting, or the server).
 *
 *   build/tests/bench-postgresql [N]     (default: 1000000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../harness.h"
#include "../pg-cluster.h"
#include <libpq-fe.h>

static void
write_inputs (const char *jsonl, const char *csv, guint n)
{
  FILE *j = fopen (jsonl, "w"), *c = fopen (csv, "w");

  g_assert_true (j && c);
  fputs ("{\"type\":\"SCHEMA\",\"stream\":\"rows\",\"key_properties\":[],\"schema\":{\"properties\":{"
         "\"id\":{\"type\":\"integer\"},\"name\":{\"type\":\"string\"},\"amount\":{\"type\":\"number\"},"
         "\"at\":{\"type\":\"string\",\"format\":\"date-time\"},\"extra\":{\"type\":\"object\"}}}}\n",
         j);
  for (guint i = 1; i <= n; i++)
    {
      fprintf (j,
               "{\"type\":\"RECORD\",\"stream\":\"rows\",\"record\":{\"id\":%u,\"name\":\"customer %u\","
               "\"amount\":%u.25,\"at\":\"2026-12-06T10:%02u:%02uZ\",\"extra\":{\"tier\":%u,\"tag\":\"t%u\"}}}\n",
               i, i, i % 100000, (i / 60) % 60, i % 60, i % 7, i % 13);
      fprintf (c, "%u,customer %u,%u.25,2026-12-06T10:%02u:%02uZ,\"{\"\"tier\"\":%u,\"\"tag\"\":\"\"t%u\"\"}\",%u\n", i,
               i, i % 100000, (i / 60) % 60, i % 60, i % 7, i % 13, i);
      if (i % 1000 == 0 || i == n)
        fprintf (j, "{\"type\":\"STATE\",\"value\":{\"id\":%u}}\n", i);
    }
  fclose (j);
  fclose (c);
}

/* psql with -c COMMAND or -f FILE, in one transaction; its wall time. */
static double
psql (PgCluster *c, const char *how, const char *what)
{
  g_autofree char *conninfo = g_strdup_printf ("host=%s user=postgres dbname=postgres", c->dir);
  const char *argv[] = { "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-d", conninfo, how, what, NULL };
  gint64 t0 = g_get_monotonic_time ();
  int status;

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, &status, NULL));
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  return (g_get_monotonic_time () - t0) / 1e6;
}

#define TABLE_SQL                                                                                                      \
  "(id bigint %s, name text, amount numeric, at timestamptz, extra jsonb, "                                            \
  "_sdc_batched_at timestamptz NOT NULL DEFAULT now(), _sdc_sequence bigint NOT NULL)"

static double
reference (PgCluster *c, const char *csv, gboolean keyed)
{
  g_autofree char *cols = g_strdup_printf (TABLE_SQL, keyed ? "PRIMARY KEY" : "");
  g_autofree char *create = g_strdup_printf ("DROP SCHEMA IF EXISTS ref CASCADE; CREATE SCHEMA ref; "
                                             "CREATE TABLE ref.rows %s",
                                             cols);
  g_autofree char *copy = NULL;

  pg_cluster_exec (c, create);
  if (!keyed)
    {
      copy = g_strdup_printf (
          "\\copy ref.rows (id, name, amount, at, extra, _sdc_sequence) from '%s' with (format csv)", csv);
      return psql (c, "-c", copy);
    }
  /* psql -c takes one backslash command or SQL, not both: a script. */
  g_autofree char *script = g_strdup_printf (
      "CREATE TEMP TABLE stage (LIKE ref.rows INCLUDING DEFAULTS);\n"
      "\\copy stage (id, name, amount, at, extra, _sdc_sequence) from '%s' with (format csv)\n"
      "INSERT INTO ref.rows SELECT DISTINCT ON (id) * FROM stage ORDER BY id, _sdc_sequence DESC "
      "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, amount = EXCLUDED.amount, at = EXCLUDED.at, "
      "extra = EXCLUDED.extra, _sdc_batched_at = EXCLUDED._sdc_batched_at, _sdc_sequence = EXCLUDED._sdc_sequence;\n",
      csv);
  g_autofree char *path = g_strdup_printf ("%s.sql", csv);
  g_assert_true (g_file_set_contents (path, script, -1, NULL));
  return psql (c, "-f", path);
}

/* Polls over one connection, every 10 ms: a new connection per poll
 * would cost the server a fork each time, and slow the run it measures. */
static void
wait_checkpoint (PgCluster *c, const char *sql)
{
  g_autofree char *conninfo = g_strdup_printf ("host=%s user=postgres dbname=postgres", c->dir);
  PGconn *conn = PQconnectdb (conninfo);

  g_assert_cmpint (PQstatus (conn), ==, CONNECTION_OK);
  for (;;)
    {
      PGresult *r = PQexec (conn, sql);
      gboolean done = PQresultStatus (r) == PGRES_TUPLES_OK && PQntuples (r) == 1 && PQgetvalue (r, 0, 0)[0] == 't';
      PQclear (r);
      if (done)
        break;
      g_usleep (10 * 1000);
    }
  PQfinish (conn);
}

static double
through_sourced (PgCluster *c, const char *jsonl, guint n, gboolean keyed, double *cpu)
{
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *uri = pg_cluster_uri (c);
  g_autofree char *input = NULL;
  g_autofree char *def = NULL;
  g_autofree char *done_sql = NULL;
  gint64 t0;
  double cpu0;

  if (keyed)
    {
      /* The same file with key_properties [id]. */
      g_autofree char *text = NULL;
      gsize len;
      g_assert_true (g_file_get_contents (jsonl, &text, &len, NULL));
      char *key = strstr (text, "\"key_properties\":[]");
      g_autoptr (GString) s = g_string_new_len (text, key - text);
      g_string_append (s, "\"key_properties\":[\"id\"]");
      g_string_append (s, key + strlen ("\"key_properties\":[]"));
      input = g_build_filename (h->dir, "keyed.jsonl", NULL);
      g_assert_true (g_file_set_contents (input, s->str, (gssize) s->len, NULL));
    }
  else
    input = g_strdup (jsonl);
  /* The tap only copies the file; RestartSec keeps it from running twice. */
  def = g_strdup_printf ("[Source]\nType=singer\nExec=/bin/sh -c 'exec cat %s'\nSink=%s\nSchema=bench\n"
                         "InitialState=stopped\nRestartSec=300\n",
                         input, uri);
  pg_cluster_exec (c, "DROP SCHEMA IF EXISTS bench CASCADE");
  harness_write_definition (h, "rows", def);
  harness_start (h, NULL);
  done_sql = g_strdup_printf ("SELECT coalesce(bookmark = '{\"id\": %u}', false) FROM bench.sourced_checkpoints", n);
  cpu0 = harness_process_cpu_seconds (h->daemon_pid);
  t0 = g_get_monotonic_time ();
  harness_source_call_ok (h, "rows", "Start");
  wait_checkpoint (c, done_sql);
  double secs = (g_get_monotonic_time () - t0) / 1e6;
  *cpu = harness_process_cpu_seconds (h->daemon_pid) - cpu0;
  g_autofree char *count = g_strdup_printf ("%u", n);
  g_autofree char *rows = pg_cluster_query (c, "SELECT count(*) FROM bench.rows");
  g_assert_cmpstr (rows, ==, count);
  return secs;
}

int
main (int argc, char **argv)
{
  guint n = argc > 1 ? (guint) atoi (argv[1]) : 1000000;
  g_autoptr (PgCluster) c = NULL;
  g_autofree char *dir = g_dir_make_tmp ("sourced-bench-pg-XXXXXX", NULL);
  g_autofree char *jsonl = g_build_filename (dir, "rows.jsonl", NULL);
  g_autofree char *csv = g_build_filename (dir, "rows.csv", NULL);

  if (!g_getenv ("SOURCED_BINARY"))
    g_setenv ("SOURCED_BINARY", "build/daemon/sourced", TRUE);
  g_assert_cmpint (chmod (dir, 0755), ==, 0);
  write_inputs (jsonl, csv, n);
  c = pg_cluster_new ();
  for (int keyed = 0; keyed <= 1; keyed++)
    {
      double cpu = 0;
      double ref = reference (c, csv, keyed);
      double ours = through_sourced (c, jsonl, n, keyed, &cpu);
      printf ("%-7s %u rows: psql %.2f s (%.0f rows/s), sourced %.2f s (%.0f rows/s, %.2f s of its CPU): "
              "ratio %.2f (target %s)\n",
              keyed ? "upsert" : "append", n, ref, n / ref, ours, n / ours, cpu, ref / ours, keyed ? "≥ 0.5" : "≥ 0.7");
      fflush (stdout);
    }
  g_autofree char *rm = g_strdup_printf ("rm -rf '%s'", dir);
  return system (rm) == 0 ? 0 : 1;
}
