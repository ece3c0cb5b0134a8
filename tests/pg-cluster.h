/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A PostgreSQL cluster of the test's own, as the private bus is: initdb
 * into a temporary folder as an unprivileged user (PostgreSQL refuses to
 * run as root), a Unix socket in that folder, no TCP, trust for local
 * connections. Started and stopped (also crashed) by the tests. */

#include <glib.h>
#include <sys/types.h>

typedef struct {
  char *dir;    /* the folder: data/ and the socket */
  char *bindir; /* of initdb and pg_ctl */
  char *run_as; /* the user the server runs as */
} PgCluster;

PgCluster *pg_cluster_new (void);
void pg_cluster_free (PgCluster *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PgCluster, pg_cluster_free)

void pg_cluster_start (PgCluster *c);
/* pg_ctl stop -m immediate: the server dies without a checkpoint, as in a
 * crash; what it committed is in its WAL. */
void pg_cluster_crash (PgCluster *c);
/* The postmaster's pid (for SIGSTOP). */
pid_t pg_cluster_pid (PgCluster *c);
/* The sink URI for database postgres (no password: trust). */
char *pg_cluster_uri (PgCluster *c);
/* Runs @sql and returns the first field of the first row ("" if none);
 * fails the test on an error. */
char *pg_cluster_query (PgCluster *c, const char *sql);
gint64 pg_cluster_query_int (PgCluster *c, const char *sql);
/* Runs a command whose result is of no interest. */
void pg_cluster_exec (PgCluster *c, const char *sql);
/* The same, FALSE (and no failure) if the server cannot be reached. */
gboolean pg_cluster_try_query (PgCluster *c, const char *sql, char **value);
