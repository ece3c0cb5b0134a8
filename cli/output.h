/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

/* How sourcectl writes for people: colours only on a terminal (and never
 * with NO_COLOR), timestamps as ISO 8601 UTC with a relative age. */

void output_init (void);
gboolean output_use_color (void);

/* "●" in the colour of @status, or "" when not colouring. */
const char *output_status_dot (const char *status);
const char *output_status_color (const char *status);
const char *output_color_reset (void);

/* "2019-06-01T00:00:00Z", or NULL for 0. */
char *output_iso8601 (guint64 usec);
/* "2019-06-01T00:00:00Z (7 years ago)" / "(in 5 min)"; "never" for 0. */
char *output_timestamp (guint64 usec, guint64 now);
/* "3 min ago", "in 2 h" relative to @now. */
char *output_relative (guint64 usec, guint64 now);

/* Parses ISO 8601 (UTC when no zone is given) or "now" into µs. */
gboolean output_parse_time (const char *text, guint64 *usec);

/* An aligned table: add rows of @n_columns strings, then print. Cells may
 * carry an invisible prefix (a colour) given separately. */
typedef struct Table Table;
Table *table_new (guint n_columns, const char *const *headers);
void table_add_row (Table *table, const char *const *cells);
void table_print (Table *table, gboolean legend_header);
void table_free (Table *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Table, table_free)
