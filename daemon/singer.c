/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "singer.h"

#include "sourced-error.h"

void
singer_message_clear (SingerMessage *msg)
{
  g_clear_pointer (&msg->state, g_free);
}

static char *
compact (JsonNode *node)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();

  json_generator_set_root (gen, node);
  return json_generator_to_data (gen, NULL);
}

static gboolean
invalid (GError **error, const char *what)
{
  g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS, "not a Singer message: %s", what);
  return FALSE;
}

static gboolean
has_string (JsonObject *obj, const char *member)
{
  JsonNode *node = json_object_get_member (obj, member);
  return node && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING;
}

static gboolean
has_object (JsonObject *obj, const char *member)
{
  JsonNode *node = json_object_get_member (obj, member);
  return node && JSON_NODE_HOLDS_OBJECT (node);
}

gboolean
singer_parse_line (JsonParser *parser, const char *line, gsize length, SingerMessage *msg, GError **error)
{
  g_autoptr (GError) local = NULL;
  JsonNode *root;
  JsonObject *obj;
  const char *type;

  msg->type = SINGER_MESSAGE_OTHER;
  msg->state = NULL;
  if (length > G_MAXSSIZE || !json_parser_load_from_data (parser, line, (gssize) length, &local))
    {
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS, "not a Singer message: %s",
                   local ? local->message : "too long");
      return FALSE;
    }
  root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root))
    return invalid (error, "not a JSON object");
  obj = json_node_get_object (root);
  if (!has_string (obj, "type"))
    return invalid (error, "no \"type\"");
  type = json_object_get_string_member (obj, "type");

  if (g_str_equal (type, "RECORD"))
    {
      if (!has_string (obj, "stream") || !has_object (obj, "record"))
        return invalid (error, "RECORD without \"stream\" or \"record\" object");
      msg->type = SINGER_MESSAGE_RECORD;
    }
  else if (g_str_equal (type, "SCHEMA"))
    {
      if (!has_string (obj, "stream") || !has_object (obj, "schema"))
        return invalid (error, "SCHEMA without \"stream\" or \"schema\" object");
      msg->type = SINGER_MESSAGE_SCHEMA;
    }
  else if (g_str_equal (type, "STATE"))
    {
      JsonNode *value = json_object_get_member (obj, "value");
      if (!value)
        return invalid (error, "STATE without \"value\"");
      msg->type = SINGER_MESSAGE_STATE;
      msg->state = compact (value);
    }
  return TRUE;
}

char *
singer_normalize_state (JsonParser *parser, const char *text, gsize length, GError **error)
{
  g_autoptr (GError) local = NULL;
  JsonNode *root;

  if (length > G_MAXSSIZE || !json_parser_load_from_data (parser, text, (gssize) length, &local))
    {
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS, "not JSON: %s",
                   local ? local->message : "too long");
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (!root)
    {
      g_set_error_literal (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS, "empty");
      return NULL;
    }
  return compact (root);
}
