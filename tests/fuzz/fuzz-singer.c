/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target: one line of a Singer tap's output, and a target's
 * echoed state. */
#include <stdint.h>

#include "singer.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static JsonParser *parser;
  g_autoptr (GError) error = NULL;
  g_autofree char *state = NULL;
  SingerMessage msg;

  if (!parser)
    parser = json_parser_new_immutable ();
  if (singer_parse_line (parser, (const char *) data, size, &msg, &error))
    {
      /* A STATE always carries its value, compact and parseable again. */
      if (msg.type == SINGER_MESSAGE_STATE)
        {
          g_autoptr (GError) again = NULL;
          g_autofree char *round = singer_normalize_state (parser, msg.state, strlen (msg.state), &again);
          g_assert (round != NULL);
          g_assert (g_str_equal (round, msg.state));
        }
      singer_message_clear (&msg);
    }
  else
    g_assert (error != NULL);
  g_clear_error (&error);
  state = singer_normalize_state (parser, (const char *) data, size, &error);
  g_assert ((state != NULL) != (error != NULL));
  return 0;
}
