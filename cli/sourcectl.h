/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What sourcectl's verbs share: the exit codes, the options given, and the
 * one way an error is reported. The verb table and main() are in
 * sourcectl.c; the verbs are in one file per group:
 *   verbs-read.c     list, status, show
 *   verbs-control.c  pause, unpause, start, restart, stop, run, remove
 *   verbs-manage.c   create, reload, pause-all, unpause-all
 *   monitor.c        monitor */

#include <glib.h>
#include <json-glib/json-glib.h>
#include <systemd/sd-bus.h>

#include "sourced-api.h"

/* Exit codes, documented in --help and the README. The error table
 * (SOURCED_ERRORS) names the one that goes with each D-Bus error. */
enum {
  EXIT_OK = 0,
  EXIT_FAIL = 1,
  EXIT_USAGE = 2,
  EXIT_NO_SOURCE = 4,
  EXIT_NOT_STOPPABLE = 5,
};

enum {
  OPT_JSON = 1 << 0,
  OPT_NO_LEGEND = 1 << 1,
  OPT_QUIET = 1 << 2,
  OPT_AT = 1 << 3,
  OPT_CREATE = 1 << 4, /* --exec --type --frequency --cron --paused --stopped --sink --target --name */
  OPT_LINES = 1 << 5,
};

typedef struct {
  sd_bus *bus;
  const char *bus_name; /* "system", "user", or the host */
  guint given;          /* OPT_* that were on the command line */
  gboolean json;
  gboolean no_legend;
  gboolean quiet;
  const char *at;
  guint lines; /* journal lines under status */
  gboolean remote;
  const char *exec, *type, *cron, *sink, *target, *name;
  guint32 frequency;
  gboolean has_frequency, paused, stopped;
  char **args; /* after the command */
  int n_args;
} Ctl;

/* One line on stderr, and the exit code that goes with it (for @id, or
 * none): the error's own from the table, or EXIT_FAIL. @bus_label names
 * the bus in "sourced is not running" (set once, by main). */
int sourcectl_report (const char *id, const sd_bus_error *error, int r);
void sourcectl_set_bus_label (const char *label);
/* "sourcectl: <message>" and a pointer to --help; returns EXIT_USAGE. */
int sourcectl_usage_error (const char *fmt, ...) G_GNUC_PRINTF (1, 2);
/* @node as JSON on stdout (indented on a terminal). */
void sourcectl_print_json (JsonNode *node);

/* The verbs (each returns an exit code). */
int verb_list (Ctl *ctl);
int verb_status (Ctl *ctl);
int verb_show (Ctl *ctl);
int verb_pause (Ctl *ctl);
int verb_unpause (Ctl *ctl);
int verb_start (Ctl *ctl);
int verb_restart (Ctl *ctl);
int verb_stop (Ctl *ctl);
int verb_run (Ctl *ctl);
int verb_remove (Ctl *ctl);
int verb_create (Ctl *ctl);
int verb_reload (Ctl *ctl);
int verb_pause_all (Ctl *ctl);
int verb_unpause_all (Ctl *ctl);
int verb_monitor (Ctl *ctl);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (sd_bus_message, sd_bus_message_unref)
