/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

/* Where a Sink= may point. A worker's lines are appended to the sink, so a
 * sink inside sourced's own state (its journal, its snapshot) would let
 * worker output corrupt acknowledged changes, and one under /proc, /sys or
 * /dev writes into the kernel. Refused (SOURCED_ERROR_INVALID_ARGS, a
 * message naming the rule):
 *  - a relative path;
 *  - a path inside @state_dir other than its sinks/ folder (@state_dir may
 *    be NULL: that rule is then skipped);
 *  - a path under /proc, /sys or /dev, except /dev/null.
 * The path is checked as written and, when it or a parent exists, with its
 * symbolic links resolved. */
gboolean sink_path_check (const char *path, const char *state_dir, GError **error);

/* Once opened: a sink must be a regular file or a FIFO (or /dev/null). */
gboolean sink_fd_check (int fd, const char *path, GError **error);

/* A PostgreSQL sink: Sink=postgresql://… or postgres://… (a libpq
 * connection URI). */
gboolean sink_is_postgresql (const char *sink);

/* Any Sink= value: a PostgreSQL URI must parse (libpq's own parser) and
 * hold no password (passwords come from a passfile: PGPASSFILE, for the
 * system service a systemd credential); anything else is a file path and
 * goes through sink_path_check(). Errors name the setting and never repeat
 * a password. */
gboolean sink_check (const char *sink, const char *state_dir, GError **error);
