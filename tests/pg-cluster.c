/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pg-cluster.h"

#include <glob.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <libpq-fe.h>

static char *
find_bindir (void)
{
  glob_t g;
  char *dir = NULL;

  /* Debian keeps the server's programs per major version. */
  if (glob ("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) == 0 && g.gl_pathc > 0)
    dir = g_path_get_dirname (g.gl_pathv[g.gl_pathc - 1]);
  globfree (&g);
  if (!dir)
    g_error ("No PostgreSQL server found (/usr/lib/postgresql/*/bin/initdb): install the postgresql package");
  return dir;
}

static void
run (PgCluster *c, const char *what, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *out = NULL, *err = NULL;
  g_autoptr (GError) error = NULL;
  int status = 0;
  va_list ap;
  const char *arg;

  if (getuid () == 0)
    {
      g_ptr_array_add (argv, g_strdup ("runuser"));
      g_ptr_array_add (argv, g_strdup ("-u"));
      g_ptr_array_add (argv, g_strdup (c->run_as));
      g_ptr_array_add (argv, g_strdup ("--"));
    }
  g_ptr_array_add (argv, g_build_filename (c->bindir, what, NULL));
  va_start (ap, what);
  while ((arg = va_arg (ap, const char *)))
    g_ptr_array_add (argv, g_strdup (arg));
  va_end (ap);
  g_ptr_array_add (argv, NULL);
  if (!g_spawn_sync ("/", (char **) argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, &error))
    g_error ("%s: %s", what, error->message);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("%s failed: %s%s", what, out, err);
}

PgCluster *
pg_cluster_new (void)
{
  PgCluster *c = g_new0 (PgCluster, 1);
  g_autofree char *data = NULL;
  g_autofree char *conf = NULL;
  g_autofree char *settings = NULL;
  g_autoptr (GError) error = NULL;

  c->bindir = find_bindir ();
  c->dir = g_dir_make_tmp ("sourced-pg-XXXXXX", &error);
  g_assert_no_error (error);
  c->run_as = g_strdup ("nobody");
  if (getuid () == 0)
    {
      struct passwd *pw = getpwnam (c->run_as);
      g_assert_nonnull (pw);
      g_assert_cmpint (chown (c->dir, pw->pw_uid, pw->pw_gid), ==, 0);
    }
  g_assert_cmpint (chmod (c->dir, 0755), ==, 0);
  data = g_build_filename (c->dir, "data", NULL);
  run (c, "initdb", "--no-sync", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "-D", data, NULL);
  conf = g_build_filename (data, "postgresql.conf", NULL);
  settings = g_strdup_printf ("listen_addresses = ''\nunix_socket_directories = '%s'\nfsync = on\n"
                              "max_connections = 40\nshared_buffers = 32MB\n",
                              c->dir);
  {
    FILE *f = fopen (conf, "a");
    g_assert_nonnull (f);
    fputs (settings, f);
    fclose (f);
  }
  pg_cluster_start (c);
  return c;
}

void
pg_cluster_start (PgCluster *c)
{
  g_autofree char *data = g_build_filename (c->dir, "data", NULL);
  g_autofree char *log = g_build_filename (c->dir, "server.log", NULL);

  run (c, "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "start", NULL);
}

void
pg_cluster_crash (PgCluster *c)
{
  g_autofree char *data = g_build_filename (c->dir, "data", NULL);

  run (c, "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop", NULL);
}

pid_t
pg_cluster_pid (PgCluster *c)
{
  g_autofree char *path = g_build_filename (c->dir, "data", "postmaster.pid", NULL);
  g_autofree char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return 0;
  return (pid_t) g_ascii_strtoll (text, NULL, 10);
}

void
pg_cluster_free (PgCluster *c)
{
  g_autofree char *data = NULL;
  g_autofree char *cmd = NULL;

  if (!c)
    return;
  data = g_build_filename (c->dir, "data", NULL);
  if (pg_cluster_pid (c) > 0)
    {
      kill (pg_cluster_pid (c), SIGCONT);
      run (c, "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop", NULL);
    }
  cmd = g_strdup_printf ("rm -rf '%s'", c->dir);
  g_assert_cmpint (system (cmd), ==, 0);
  g_free (c->dir);
  g_free (c->bindir);
  g_free (c->run_as);
  g_free (c);
}

char *
pg_cluster_uri (PgCluster *c)
{
  return g_strdup_printf ("postgresql:///postgres?host=%s&user=postgres", c->dir);
}

gboolean
pg_cluster_try_query (PgCluster *c, const char *sql, char **value)
{
  g_autofree char *conninfo = g_strdup_printf ("host=%s user=postgres dbname=postgres connect_timeout=5", c->dir);
  PGconn *conn = PQconnectdb (conninfo);
  PGresult *r;
  gboolean ok;

  if (PQstatus (conn) != CONNECTION_OK)
    {
      PQfinish (conn);
      return FALSE;
    }
  r = PQexec (conn, sql);
  ok = PQresultStatus (r) == PGRES_TUPLES_OK || PQresultStatus (r) == PGRES_COMMAND_OK;
  if (!ok)
    g_test_message ("%s: %s", sql, PQresultErrorMessage (r));
  if (ok && value)
    *value = g_strdup (PQresultStatus (r) == PGRES_TUPLES_OK && PQntuples (r) > 0 ? PQgetvalue (r, 0, 0) : "");
  PQclear (r);
  PQfinish (conn);
  return ok;
}

char *
pg_cluster_query (PgCluster *c, const char *sql)
{
  char *value = NULL;

  if (!pg_cluster_try_query (c, sql, &value))
    g_error ("query failed: %s", sql);
  return value;
}

gint64
pg_cluster_query_int (PgCluster *c, const char *sql)
{
  g_autofree char *v = pg_cluster_query (c, sql);

  return g_ascii_strtoll (v, NULL, 10);
}

void
pg_cluster_exec (PgCluster *c, const char *sql)
{
  g_free (pg_cluster_query (c, sql));
}
