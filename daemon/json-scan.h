/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

/* A JSON scanner for the hot path of the PostgreSQL sink: it checks one
 * value completely (RFC 8259 grammar; the caller checks UTF-8) and reports
 * where each member of an object lies in the text, without building a
 * tree. A Singer RECORD is scanned this way, its values copied as they are
 * written (a number keeps every digit it was sent with); json-glib, which
 * builds a GObject tree with a hash table per object, cost most of
 * sourced's time on that path. Everything else still goes through
 * json-glib. */

typedef enum {
  JSON_SPAN_STRING,  /* start/len include the quotes */
  JSON_SPAN_INTEGER, /* a number without fraction or exponent */
  JSON_SPAN_NUMBER,  /* with a fraction or an exponent */
  JSON_SPAN_TRUE,
  JSON_SPAN_FALSE,
  JSON_SPAN_NULL,
  JSON_SPAN_OBJECT,
  JSON_SPAN_ARRAY,
} JsonSpanKind;

typedef struct {
  JsonSpanKind kind;
  const char *start;
  gsize len;
} JsonSpan;

/* Whether @text is exactly one JSON value (with whitespace around it). */
gboolean json_scan_value (const char *text, gsize len, JsonSpan *value);

/* Calls @member for each member of the object @object (a span that
 * json_scan_value() or this function gave), in order: @key is the key's
 * span (a string). Stops when @member returns FALSE. */
typedef gboolean (*JsonScanMember) (const JsonSpan *key, const JsonSpan *value, gpointer user_data);
void json_scan_members (const JsonSpan *object, JsonScanMember member, gpointer user_data);

/* Whether the string span @s, unquoted, equals @text (no escapes in @s:
 * a key with escapes never matches, the caller falls back). */
gboolean json_span_equals (const JsonSpan *s, const char *text);
/* The string span's value, unescaped, appended to @out; FALSE if it holds
 * a NUL (\u0000), which no PostgreSQL text can. */
gboolean json_span_unescape (const JsonSpan *s, GString *out);
