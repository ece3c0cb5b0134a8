/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What sourcectl's verbs share: the exit codes, the options given, and the
 * one way an error is reported. The verbs are in sourcectl.c, and
 * monitor in monitor.c. */

#include <glib.h>
#include <systemd/sd-bus.h>

/* Exit codes, documented in --help and the README. */
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
 * none). */
int sourcectl_report (const char *id, const sd_bus_error *error, int r);

int cmd_monitor (Ctl *ctl);
