/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/* One line of the Singer spec (https://github.com/singer-io/getting-started,
 * SPEC.md): a JSON object whose "type" is SCHEMA, RECORD, STATE, or a newer
 * message such as ACTIVATE_VERSION or BATCH that sourced passes on. */

typedef enum {
  SINGER_MESSAGE_SCHEMA,
  SINGER_MESSAGE_RECORD,
  SINGER_MESSAGE_STATE,
  SINGER_MESSAGE_OTHER, /* a type sourced does not interpret: passed on */
} SingerMessageType;

typedef struct {
  SingerMessageType type;
  char *state; /* STATE only: its "value", as compact JSON */
} SingerMessage;

void singer_message_clear (SingerMessage *msg);

/* Parses one line (without its newline). @parser is reused across calls to
 * save allocations. On error, says what is wrong with the message. */
gboolean singer_parse_line (JsonParser *parser, const char *line, gsize length, SingerMessage *msg,
                            GError **error);

/* Checks that @text is one JSON value (a target's echoed state); returns it
 * in compact form. */
char *singer_normalize_state (JsonParser *parser, const char *text, gsize length, GError **error);
