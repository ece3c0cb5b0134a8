/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "json-scan.h"

/* The SQL side of the PostgreSQL sink, without a connection: how Singer's
 * JSON Schema types become column types (as the popular Singer targets map
 * them: pipelinewise, MeltanoLabs), which type changes a table may take,
 * identifiers, and rows in COPY's text format. Pure functions, so that the
 * unit tests can hold each rule to account. */

typedef enum {
  PG_COL_TEXT,
  PG_COL_BIGINT,
  PG_COL_NUMERIC,
  PG_COL_BOOLEAN,
  PG_COL_TIMESTAMPTZ,
  PG_COL_DATE,
  PG_COL_JSONB,
  PG_COL_OTHER, /* a column someone else made, of a type sourced does not write */
} PgColType;

/* The column type's SQL name ("bigint", …). */
const char *pg_col_type_sql (PgColType type);
/* From pg_type.typname (int8, numeric, …). */
PgColType pg_col_type_from_typname (const char *typname);
/* A JSON Schema property: object and array → jsonb; string with format
 * date-time → timestamptz, date → date; integer → bigint; number →
 * numeric; boolean → boolean; string → text; several non-null types (or
 * none) → jsonb. "null" among the types changes nothing: every column but
 * the key is nullable. anyOf is read as a type list. */
PgColType pg_col_type_from_json_schema (JsonNode *property);

typedef enum {
  PG_CHANGE_NONE,        /* the column takes the new values as it is */
  PG_CHANGE_WIDEN,       /* bigint → numeric: ALTER COLUMN … TYPE */
  PG_CHANGE_INCOMPATIBLE /* anything else: the source is paused */
} PgChange;

PgChange pg_col_type_change (PgColType have, PgColType want);

/* "name" with inner quotes doubled: every identifier sourced writes is
 * quoted, so a stream called "order" or "Orders-2" is a table of that
 * name, as the tap spelled it. */
char *pg_quote_ident (const char *name);
/* '…' with inner quotes doubled (for the few literals in DDL). */
char *pg_quote_literal (const char *text);

/* Appends @text to a COPY text-format field: backslash, tab, newline and
 * carriage return escaped. */
void pg_copy_escape (GString *out, const char *text, gsize length);
/* Appends @value (NULL or a JSON null: \N) as a field of a column of
 * @type. FALSE, with *why set (static text), if the value does not fit the
 * type: nothing is appended then. */
gboolean pg_copy_value (GString *out, PgColType type, JsonNode *value, const char **why);

/* The same from a scanned value (json-scan.h; NULL: absent), copied as it
 * was written: a number keeps its digits, an object its text. @scratch is
 * working space. */
gboolean pg_copy_span (GString *out, PgColType type, const JsonSpan *value, GString *scratch, const char **why);
/* Appends @v in decimal (printf's machinery costs more than the row). */
void pg_append_int64 (GString *out, gint64 v);
