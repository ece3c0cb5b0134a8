/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "source-info.h"

#include "output.h"

#define PAGE 1000

void
source_info_free (SourceInfo *s)
{
  if (!s)
    return;
  g_free (s->path);
  g_free (s->id);
  g_free (s->display_name);
  g_free (s->type);
  g_free (s->status);
  g_free (s->sink);
  g_free (s->cron_expression);
  g_free (s->last_error);
  g_free (s->bookmark);
  g_free (s);
}

static gboolean
is_timestamp (const char *property)
{
  return g_str_has_suffix (property, "At");
}

typedef struct {
  const char *name;
  char type;
  gsize offset;
} Field;

#define F(name, type, member) { name, type, G_STRUCT_OFFSET (SourceInfo, member) }
static const Field fields[] = {
  F ("Id", 's', id),
  F ("DisplayName", 's', display_name),
  F ("Type", 's', type),
  F ("Status", 's', status),
  F ("CronExpression", 's', cron_expression),
  F ("LastError", 's', last_error),
  F ("Bookmark", 's', bookmark),
  F ("Active", 'b', active),
  F ("FrequencyMinutes", 'u', frequency_minutes),
  F ("MainPID", 'u', main_pid),
  F ("LastExitStatus", 'i', last_exit_status),
  F ("PausedAt", 't', paused_at),
  F ("SystemPausedAt", 't', system_paused_at),
  F ("CreatedAt", 't', created_at),
  F ("UpdatedAt", 't', updated_at),
  F ("RecordsDelivered", 't', records_delivered),
  F ("BytesDelivered", 't', bytes_delivered),
  F ("LastRecordAt", 't', last_record_at),
  F ("NextRunAt", 't', next_run_at),
  F ("LastJobStartedAt", 't', last_job_started_at),
  F ("NRestarts", 'u', n_restarts),
  F ("NextRetryAt", 't', next_retry_at),
  F ("Sink", 's', sink),
};

static int
read_field (sd_bus_message *m, const Field *f, SourceInfo *s)
{
  char sig[2] = { f->type, 0 };
  gpointer at = G_STRUCT_MEMBER_P (s, f->offset);
  int r;

  r = sd_bus_message_enter_container (m, 'v', sig);
  if (r < 0)
    return r;
  if (f->type == 's')
    {
      const char *v;
      r = sd_bus_message_read_basic (m, 's', &v);
      if (r >= 0)
        {
          g_free (*(char **) at);
          *(char **) at = g_strdup (v);
        }
    }
  else if (f->type == 'b')
    {
      int v;
      r = sd_bus_message_read_basic (m, 'b', &v);
      if (r >= 0)
        *(gboolean *) at = v != 0;
    }
  else
    r = sd_bus_message_read_basic (m, f->type, at);
  if (r < 0)
    return r;
  return sd_bus_message_exit_container (m);
}

/* Reads an a{sv} of Source properties (GetAll's reply, or one entry of
 * GetSourcesPaged) at the current position of @reply. */
static int
read_properties (sd_bus_message *reply, const char *path, SourceInfo **out)
{
  g_autoptr (SourceInfo) s = g_new0 (SourceInfo, 1);
  int r;

  s->path = g_strdup (path);
  r = sd_bus_message_enter_container (reply, 'a', "{sv}");
  while (r >= 0 && (r = sd_bus_message_enter_container (reply, 'e', "sv")) > 0)
    {
      const char *name;
      const Field *f = NULL;

      if ((r = sd_bus_message_read_basic (reply, 's', &name)) < 0)
        break;
      for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
        if (g_str_equal (fields[i].name, name))
          f = &fields[i];
      r = f ? read_field (reply, f, s) : sd_bus_message_skip (reply, "v");
      if (r < 0)
        break;
      if ((r = sd_bus_message_exit_container (reply)) < 0)
        break;
    }
  if (r >= 0)
    r = sd_bus_message_exit_container (reply);
  if (r < 0)
    return r;
  /* Strings the daemon always sends; guard against an older one. */
  if (!s->id)
    s->id = g_strdup ("");
  if (!s->status)
    s->status = g_strdup ("stopped");
  *out = g_steal_pointer (&s);
  return 0;
}

int
source_info_get_path (sd_bus *bus, const char *path, SourceInfo **out, sd_bus_error *error)
{
  sd_bus_message *reply = NULL;
  int r;

  r = sd_bus_call_method (bus, SOURCED_BUS_NAME, path, "org.freedesktop.DBus.Properties", "GetAll", error, &reply,
                          "s", SOURCED_SOURCE_IFACE);
  if (r < 0)
    return r;
  r = read_properties (reply, path, out);
  sd_bus_message_unref (reply);
  if (r < 0)
    return sd_bus_error_set_errnof (error, -r, "Cannot parse the properties of %s: %s", path, g_strerror (-r));
  return 0;
}

int
source_info_get_all (sd_bus *bus, GPtrArray **out, sd_bus_error *error)
{
  g_autoptr (GPtrArray) infos = g_ptr_array_new_with_free_func ((GDestroyNotify) source_info_free);
  g_autofree char *after = g_strdup ("");

  /* Pages of every property of every source: one round trip per page
   * instead of one per source. */
  do
    {
      sd_bus_message *reply = NULL;
      const char *path, *next;
      int r;

      r = sd_bus_call_method (bus, SOURCED_BUS_NAME, SOURCED_MANAGER_PATH, SOURCED_MANAGER_IFACE, "GetSourcesPaged",
                              error, &reply, "su", after, (guint32) G_MAXUINT32);
      if (r < 0)
        return r;
      r = sd_bus_message_enter_container (reply, 'a', "(oa{sv})");
      while (r >= 0 && (r = sd_bus_message_enter_container (reply, 'r', "oa{sv}")) > 0)
        {
          SourceInfo *info = NULL;
          if ((r = sd_bus_message_read_basic (reply, 'o', &path)) < 0 || (r = read_properties (reply, path, &info)) < 0)
            break;
          g_ptr_array_add (infos, info);
          r = sd_bus_message_exit_container (reply);
        }
      if (r >= 0)
        r = sd_bus_message_exit_container (reply);
      if (r >= 0)
        r = sd_bus_message_read_basic (reply, 's', &next);
      if (r >= 0)
        {
          g_free (after);
          after = g_strdup (next);
        }
      sd_bus_message_unref (reply);
      if (r < 0)
        return sd_bus_error_set_errnof (error, -r, "Cannot parse GetSourcesPaged: %s", g_strerror (-r));
    }
  while (after[0]);
  *out = g_steal_pointer (&infos);
  return 0;
}

int
source_info_get (sd_bus *bus, const char *id, SourceInfo **out, sd_bus_error *error)
{
  sd_bus_message *reply = NULL;
  const char *path;
  g_autofree char *owned = NULL;
  int r;

  r = sd_bus_call_method (bus, SOURCED_BUS_NAME, SOURCED_MANAGER_PATH, SOURCED_MANAGER_IFACE, "GetSource", error,
                          &reply, "s", id);
  if (r < 0)
    return r;
  r = sd_bus_message_read (reply, "o", &path);
  if (r >= 0)
    owned = g_strdup (path);
  sd_bus_message_unref (reply);
  if (r < 0)
    return r;
  return source_info_get_path (bus, owned, out, error);
}

static void
add_time (JsonBuilder *b, const char *key, guint64 usec)
{
  g_autofree char *iso = output_iso8601 (usec);

  json_builder_set_member_name (b, key);
  if (iso)
    json_builder_add_string_value (b, iso);
  else
    json_builder_add_null_value (b);
}

static void
add_string_or_null (JsonBuilder *b, const char *key, const char *value)
{
  json_builder_set_member_name (b, key);
  if (value && *value)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

JsonNode *
source_info_to_json (const SourceInfo *s)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, s->id);
  add_string_or_null (b, "display_name", s->display_name);
  add_string_or_null (b, "type", s->type);
  add_string_or_null (b, "status", s->status);
  json_builder_set_member_name (b, "active");
  json_builder_add_boolean_value (b, s->active);
  add_time (b, "paused_at", s->paused_at);
  add_time (b, "system_paused_at", s->system_paused_at);
  add_time (b, "created_at", s->created_at);
  add_time (b, "updated_at", s->updated_at);

  /* Stitch: schedule null for a continuous source. */
  json_builder_set_member_name (b, "schedule");
  if (s->cron_expression && *s->cron_expression)
    {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "type");
      json_builder_add_string_value (b, "cron");
      json_builder_set_member_name (b, "cron_expression");
      json_builder_add_string_value (b, s->cron_expression);
      json_builder_set_member_name (b, "frequency_in_minutes");
      json_builder_add_null_value (b);
      add_time (b, "next_run_at", s->next_run_at);
      json_builder_end_object (b);
    }
  else if (s->frequency_minutes)
    {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "type");
      json_builder_add_string_value (b, "interval");
      json_builder_set_member_name (b, "cron_expression");
      json_builder_add_null_value (b);
      json_builder_set_member_name (b, "frequency_in_minutes");
      json_builder_add_int_value (b, s->frequency_minutes);
      add_time (b, "next_run_at", s->next_run_at);
      json_builder_end_object (b);
    }
  else
    json_builder_add_null_value (b);
  add_time (b, "last_job_started_at", s->last_job_started_at);

  json_builder_set_member_name (b, "counters");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "records_delivered");
  json_builder_add_int_value (b, (gint64) s->records_delivered);
  json_builder_set_member_name (b, "bytes_delivered");
  json_builder_add_int_value (b, (gint64) s->bytes_delivered);
  add_time (b, "last_record_at", s->last_record_at);
  json_builder_end_object (b);

  /* The bookmark is JSON itself: embedded, not quoted. */
  json_builder_set_member_name (b, "bookmark");
  {
    g_autoptr (JsonParser) p = json_parser_new ();
    if (s->bookmark && *s->bookmark && json_parser_load_from_data (p, s->bookmark, -1, NULL) &&
        json_parser_get_root (p))
      json_builder_add_value (b, json_node_copy (json_parser_get_root (p)));
    else
      json_builder_add_null_value (b);
  }
  json_builder_set_member_name (b, "main_pid");
  json_builder_add_int_value (b, s->main_pid);
  json_builder_set_member_name (b, "last_exit_status");
  json_builder_add_int_value (b, s->last_exit_status);
  add_string_or_null (b, "last_error", s->last_error);
  json_builder_set_member_name (b, "n_restarts");
  json_builder_add_int_value (b, s->n_restarts);
  add_time (b, "next_retry_at", s->next_retry_at);
  add_string_or_null (b, "sink", s->sink);
  json_builder_set_member_name (b, "object_path");
  json_builder_add_string_value (b, s->path);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

char *
source_info_json_key (const char *property)
{
  GString *key = g_string_new (NULL);

  if (g_str_equal (property, "MainPID"))
    return g_strdup ("main_pid");
  if (g_str_equal (property, "FrequencyMinutes"))
    return g_strdup ("frequency_in_minutes");
  for (const char *c = property; *c; c++)
    {
      if (g_ascii_isupper (*c) && c != property)
        g_string_append_c (key, '_');
      g_string_append_c (key, g_ascii_tolower (*c));
    }
  return g_string_free (key, FALSE);
}

int
source_info_variant_to_json (sd_bus_message *m, const char *property, JsonNode **out)
{
  char type;
  const char *contents;
  int r;

  r = sd_bus_message_peek_type (m, &type, &contents);
  if (r < 0)
    return r;
  r = sd_bus_message_enter_container (m, 'v', contents);
  if (r < 0)
    return r;
  JsonNode *node = json_node_new (JSON_NODE_VALUE);
  switch (contents[0])
    {
    case 's':
    case 'o':
      {
        const char *v;
        r = sd_bus_message_read_basic (m, contents[0], &v);
        if (r >= 0)
          json_node_set_string (node, v);
        break;
      }
    case 'b':
      {
        int v;
        r = sd_bus_message_read_basic (m, 'b', &v);
        if (r >= 0)
          json_node_set_boolean (node, v);
        break;
      }
    case 'u':
      {
        guint32 v;
        r = sd_bus_message_read_basic (m, 'u', &v);
        if (r >= 0)
          json_node_set_int (node, v);
        break;
      }
    case 'i':
      {
        gint32 v;
        r = sd_bus_message_read_basic (m, 'i', &v);
        if (r >= 0)
          json_node_set_int (node, v);
        break;
      }
    case 't':
      {
        guint64 v;
        r = sd_bus_message_read_basic (m, 't', &v);
        if (r < 0)
          break;
        if (is_timestamp (property))
          {
            g_autofree char *iso = output_iso8601 (v);
            if (iso)
              json_node_set_string (node, iso);
            else
              json_node_init_null (node);
          }
        else
          json_node_set_int (node, (gint64) v);
        break;
      }
    default:
      json_node_init_null (node);
      r = sd_bus_message_skip (m, contents);
    }
  if (r >= 0)
    r = sd_bus_message_exit_container (m);
  if (r < 0)
    {
      json_node_unref (node);
      return r;
    }
  *out = node;
  return 0;
}

int
source_info_variant_to_text (sd_bus_message *m, const char *property, guint64 now, char **out)
{
  g_autoptr (JsonNode) node = NULL;
  int r = source_info_variant_to_json (m, property, &node);

  if (r < 0)
    return r;
  if (JSON_NODE_HOLDS_NULL (node))
    *out = g_strdup ("");
  else if (json_node_get_value_type (node) == G_TYPE_STRING)
    *out = g_strdup (json_node_get_string (node));
  else if (json_node_get_value_type (node) == G_TYPE_BOOLEAN)
    *out = g_strdup (json_node_get_boolean (node) ? "yes" : "no");
  else
    *out = g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));
  return 0;
}

int
source_info_list_ids (sd_bus *bus, GPtrArray **out, sd_bus_error *error)
{
  g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *after = g_strdup ("");

  for (;;)
    {
      sd_bus_message *reply = NULL;
      const char *id, *status, *path;
      guint64 paused_at;
      guint n = 0;
      int r;

      r = sd_bus_call_method (bus, SOURCED_BUS_NAME, SOURCED_MANAGER_PATH, SOURCED_MANAGER_IFACE,
                              "ListSourcesPaged", error, &reply, "su", after, (guint32) PAGE);
      if (r < 0)
        return r;
      r = sd_bus_message_enter_container (reply, 'a', "(ssto)");
      while (r >= 0 && (r = sd_bus_message_read (reply, "(ssto)", &id, &status, &paused_at, &path)) > 0)
        {
          g_ptr_array_add (ids, g_strdup (id));
          n++;
        }
      if (r < 0)
        {
          sd_bus_message_unref (reply);
          return sd_bus_error_set_errnof (error, -r, "Cannot parse ListSourcesPaged: %s", g_strerror (-r));
        }
      sd_bus_message_unref (reply);
      if (n < PAGE)
        break;
      g_free (after);
      after = g_strdup (ids->pdata[ids->len - 1]);
    }
  *out = g_steal_pointer (&ids);
  return 0;
}
