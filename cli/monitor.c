/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sourcectl monitor: one line (or JSON object) per change until Ctrl-C. */
#include <stdio.h>
#include <string.h>
#include <json-glib/json-glib.h>

#include "output.h"
#include "source-info.h"
#include "sourcectl.h"

static char *
now_iso (void)
{
  return output_iso8601 ((guint64) g_get_real_time ());
}

static char *
id_of (const char *path)
{
  char *id = NULL;

  if (g_str_equal (path, SOURCED_MANAGER_PATH))
    return NULL;
  if (sd_bus_path_decode (path, SOURCED_MANAGER_PATH "/source", &id) <= 0)
    return NULL;
  return id;
}

static void
emit_event (Ctl *ctl, const char *event, const char *path, JsonObject *props, const char *text)
{
  g_autofree char *time = now_iso ();
  g_autofree char *id = id_of (path);

  if (ctl->json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      g_autoptr (JsonGenerator) gen = json_generator_new ();
      g_autoptr (JsonNode) root = NULL;
      g_autofree char *line = NULL;

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "time");
      json_builder_add_string_value (b, time);
      json_builder_set_member_name (b, "event");
      json_builder_add_string_value (b, event);
      json_builder_set_member_name (b, "object");
      json_builder_add_string_value (b, id ? "source" : "manager");
      json_builder_set_member_name (b, "id");
      if (id)
        json_builder_add_string_value (b, id);
      else
        json_builder_add_null_value (b);
      if (props)
        {
          json_builder_set_member_name (b, "properties");
          JsonNode *n = json_node_new (JSON_NODE_OBJECT);
          json_node_set_object (n, props);
          json_builder_add_value (b, n);
        }
      json_builder_end_object (b);
      root = json_builder_get_root (b);
      json_generator_set_root (gen, root);
      line = json_generator_to_data (gen, NULL);
      printf ("%s\n", line);
    }
  else
    printf ("%s %s %s%s%s\n", time, id ? id : "(manager)", event, text && *text ? ": " : "", text ? text : "");
  fflush (stdout);
}

static int
on_properties_changed (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  Ctl *ctl = userdata;
  g_autoptr (JsonObject) props = json_object_new ();
  g_autoptr (GString) text = g_string_new (NULL);
  guint64 now = (guint64) g_get_real_time ();
  const char *iface;
  int r;

  if ((r = sd_bus_message_read (m, "s", &iface)) < 0 || !g_str_has_prefix (iface, "org.sourced.Sourced1."))
    return 0;
  r = sd_bus_message_enter_container (m, 'a', "{sv}");
  while (r >= 0 && (r = sd_bus_message_enter_container (m, 'e', "sv")) > 0)
    {
      const char *name;
      g_autofree char *key = NULL;
      JsonNode *node = NULL;

      if ((r = sd_bus_message_read_basic (m, 's', &name)) < 0)
        break;
      r = source_info_variant_to_json (m, name, &node);
      if (r < 0)
        break;
      key = source_info_json_key (name);
      if (text->len)
        g_string_append_c (text, ' ');
      if (JSON_NODE_HOLDS_NULL (node))
        g_string_append_printf (text, "%s=", name);
      else if (json_node_get_value_type (node) == G_TYPE_STRING)
        g_string_append_printf (text, "%s=%s", name, json_node_get_string (node));
      else if (json_node_get_value_type (node) == G_TYPE_BOOLEAN)
        g_string_append_printf (text, "%s=%s", name, json_node_get_boolean (node) ? "yes" : "no");
      else
        g_string_append_printf (text, "%s=%" G_GINT64_FORMAT, name, json_node_get_int (node));
      json_object_set_member (props, key, node);
      r = sd_bus_message_exit_container (m);
    }
  (void) now;
  if (r < 0)
    return 0;
  emit_event (ctl, "changed", sd_bus_message_get_path (m), props, text->str);
  return 0;
}

static int
on_interfaces (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  Ctl *ctl = userdata;
  const char *path;
  gboolean added = g_str_equal (sd_bus_message_get_member (m), "InterfacesAdded");

  if (sd_bus_message_read (m, "o", &path) < 0)
    return 0;
  emit_event (ctl, added ? "added" : "removed", path, NULL, NULL);
  return 0;
}

int
verb_monitor (Ctl *ctl)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  int r;

  r = sd_bus_match_signal (ctl->bus, NULL, SOURCED_BUS_NAME, NULL, "org.freedesktop.DBus.Properties",
                           "PropertiesChanged", on_properties_changed, ctl);
  if (r >= 0)
    r = sd_bus_match_signal (ctl->bus, NULL, SOURCED_BUS_NAME, SOURCED_MANAGER_PATH,
                             "org.freedesktop.DBus.ObjectManager", "InterfacesAdded", on_interfaces, ctl);
  if (r >= 0)
    r = sd_bus_match_signal (ctl->bus, NULL, SOURCED_BUS_NAME, SOURCED_MANAGER_PATH,
                             "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved", on_interfaces, ctl);
  if (r < 0)
    return sourcectl_report (NULL, &error, r);
  /* The matches are in place: from here on, no change is missed. */
  fprintf (stderr, "Monitoring sourced on the %s bus. Press Ctrl-C to stop.\n", ctl->bus_name);
  for (;;)
    {
      r = sd_bus_process (ctl->bus, NULL);
      if (r < 0)
        {
          fprintf (stderr, "sourcectl: lost the bus: %s\n", g_strerror (-r));
          return EXIT_FAIL;
        }
      if (r > 0)
        continue;
      r = sd_bus_wait (ctl->bus, UINT64_MAX);
      if (r < 0 && r != -EINTR)
        {
          fprintf (stderr, "sourcectl: lost the bus: %s\n", g_strerror (-r));
          return EXIT_FAIL;
        }
    }
}

/* ---- Commands and options ------------------------------------------------- */

