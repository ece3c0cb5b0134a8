/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "source-bus.h"

#include "bus-signals.h"

#include "auth.h"
#include "commit.h"
#include "sourced-error.h"
#include "supervisor.h"
#include "worker.h"

/* Handlers get the Source as userdata from the find callback, and the
 * daemon through its back-pointer. */

static int
find_source (sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
             sd_bus_error *error)
{
  Sourced *d = userdata;
  g_autofree char *id = NULL;
  Source *src;

  if (sd_bus_path_decode (path, SOURCED_SOURCE_PREFIX, &id) <= 0)
    return 0;
  src = sourced_lookup (d, id);
  if (!src)
    return 0;
  *found = src;
  return 1;
}

static gboolean
add_path (gpointer key, gpointer value, gpointer user_data)
{
  Source *src = value;

  if (!src->removed && !src->is_new)
    g_ptr_array_add (user_data, source_bus_path (src->id));
  return FALSE;
}

static int
enumerate_sources (sd_bus *bus, const char *prefix, void *userdata, char ***nodes, sd_bus_error *error)
{
  Sourced *d = userdata;
  GPtrArray *paths = g_ptr_array_new ();

  g_tree_foreach (d->sources, add_path, paths);
  g_ptr_array_add (paths, NULL);
  /* sd-bus frees the list with free(); GLib's allocator is malloc. */
  *nodes = (char **) g_ptr_array_free (paths, FALSE);
  return 1;
}

/* One getter per property: a new property gets its own line here and in
 * the vtable, and cannot fall into another's branch. */
#define GETTER(name, sig, expr)                                                                                  \
  static int name (sd_bus *bus, const char *path, const char *interface, const char *property,                   \
                   sd_bus_message *reply, void *userdata, sd_bus_error *error)                                   \
  {                                                                                                            \
    Source *src = userdata;                                                                                    \
    return sd_bus_message_append (reply, sig, (expr));                                                         \
  }

GETTER (get_id, "s", src->id)
GETTER (get_display_name, "s", source_display_name (src))
GETTER (get_type, "s", source_type_to_string (src->settings->type))
GETTER (get_status, "s", source_status_to_string (src->status))
GETTER (get_paused_at, "t", src->control.paused_at)
GETTER (get_system_paused_at, "t", src->control.system_paused_at)
GETTER (get_active, "b", (int) src->active)
GETTER (get_created_at, "t", src->control.created_at)
GETTER (get_updated_at, "t", src->control.updated_at)
GETTER (get_frequency_minutes, "u", src->settings->frequency_minutes)
GETTER (get_cron_expression, "s", src->settings->cron_expression ? src->settings->cron_expression : "")
GETTER (get_last_error, "s", src->last_error ? src->last_error : "")
GETTER (get_main_pid, "u", src->worker && !src->finishing ? (guint32) worker_get_pid (src->worker) : 0u)
GETTER (get_records_delivered, "t", src->records_delivered)
GETTER (get_bytes_delivered, "t", src->bytes_delivered)
GETTER (get_last_record_at, "t", src->last_record_at)
GETTER (get_bookmark, "s", src->control.bookmark ? src->control.bookmark : "")
GETTER (get_next_run_at, "t", src->next_run_at)
GETTER (get_last_job_started_at, "t", src->control.last_job_started_at)
GETTER (get_last_exit_status, "i", src->control.last_exit_status)
GETTER (get_n_restarts, "u", (guint32) src->n_restarts)
GETTER (get_next_retry_at, "t", src->next_retry_at)
GETTER (get_sink, "s", source_sink (src))

/* Never called: Set is handled in source_bus_handle_set() so that its reply,
 * like every method's, waits for the group commit. sd-bus needs a setter to
 * advertise the property as writable. */
static int
set_property_unused (sd_bus *bus, const char *path, const char *interface, const char *property,
                     sd_bus_message *value, void *userdata, sd_bus_error *error)
{
  return sourced_error_set_bus (error, SOURCED_ERROR_FAILED, "Internal error: Set bypassed the filter");
}

void
source_bus_apply_paused_at (Sourced *d, Source *src, guint64 paused_at)
{
  if (src->control.paused_at == paused_at && (paused_at != 0 || src->control.system_paused_at == 0))
    return; /* nothing changes: no write, no signal */
  commit_track_source (d, src);
  source_set_paused_at (src, paused_at, sourced_now (src->daemon));
  source_refresh (src, d->paused_at != 0);
}

static void
done_unpause (Sourced *d, sd_bus_message *call, Source *src, gpointer user_data)
{
  supervisor_resume (d, src);
  if (call)
    sd_bus_reply_method_return (call, NULL);
}

static int
method_pause (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  Source *src = userdata;
  AUTH_OR_RETURN (src->daemon, m, AUTH_CONTROL, error);

  if (src->control.paused_at == 0)
    source_bus_apply_paused_at (src->daemon, src, sourced_now (src->daemon));
  commit_add (src->daemon, m, src, NULL, NULL);
  return 1;
}

static int
method_unpause (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  Source *src = userdata;
  AUTH_OR_RETURN (src->daemon, m, AUTH_CONTROL, error);

  source_bus_apply_paused_at (src->daemon, src, 0);
  commit_add (src->daemon, m, src, done_unpause, NULL);
  return 1;
}

static void
on_supervisor_done (Sourced *d, Source *src, const GError *error, gpointer user_data)
{
  g_autoptr (sd_bus_message) call = user_data;

  if (error)
    sourced_error_reply (call, error);
  else
    sd_bus_reply_method_return (call, NULL);
}

static void
done_start (Sourced *d, sd_bus_message *call, Source *src, gpointer user_data)
{
  supervisor_start (d, src, on_supervisor_done, sd_bus_message_ref (call));
}

static void
done_stop (Sourced *d, sd_bus_message *call, Source *src, gpointer user_data)
{
  supervisor_stop (d, src, on_supervisor_done, sd_bus_message_ref (call));
}

void
source_bus_apply_start (Sourced *d, Source *src, guint64 now)
{
  commit_track_source (d, src);
  source_set_started (src, TRUE, now);
  /* A daemon-made pause (repeated failures) ends with an explicit Start;
   * the user's own pause stays as it is. */
  if (src->control.system_paused_at)
    source_set_system_paused_at (src, 0, now);
  source_refresh (src, d->paused_at != 0);
}

static int
method_start (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  Source *src = userdata;
  AUTH_OR_RETURN (src->daemon, m, AUTH_CONTROL, error);

  source_bus_apply_start (src->daemon, src, sourced_now (src->daemon));
  commit_add (src->daemon, m, src, done_start, NULL);
  return 1;
}

static int
method_stop (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  Source *src = userdata;
  AUTH_OR_RETURN (src->daemon, m, AUTH_CONTROL, error);

  if (src->status == SOURCE_STATUS_STOPPED || src->status == SOURCE_STATUS_STOPPING)
    return sourced_error_set_bus (error, SOURCED_ERROR_NOT_STOPPABLE,
                              "Unable to stop source '%s': not in a stoppable state", src->id);
  commit_track_source (src->daemon, src);
  source_set_started (src, FALSE, sourced_now (src->daemon));
  commit_add (src->daemon, m, src, done_stop, NULL);
  return 1;
}

static void
done_run_job (Sourced *d, sd_bus_message *call, Source *src, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  guint64 started = 0;

  if (!supervisor_run_job (d, src, &started, &error))
    sourced_error_reply (call, error);
  else
    sd_bus_reply_method_return (call, "t", started);
}

static int
method_run_job (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  Source *src = userdata;
  AUTH_OR_RETURN (src->daemon, m, AUTH_CONTROL, error);

  if (!source_is_scheduled (src))
    return sourced_error_set_bus (error, SOURCED_ERROR_NOT_SUPPORTED,
                              "Source '%s' is not scheduled (no FrequencyMinutes or CronExpression): "
                              "it runs continuously, there are no jobs to run",
                              src->id);
  if (src->run != SOURCE_RUN_RUNNING)
    return sourced_error_set_bus (error, SOURCED_ERROR_NOT_SUPPORTED,
                              "Source '%s' is %s: Start it before running a job", src->id,
                              source_status_to_string (src->status));
  if (src->job_running)
    return sd_bus_reply_method_return (m, "t", src->control.last_job_started_at);

  commit_track_source (src->daemon, src);
  source_set_last_job_started_at (src, sourced_now (src->daemon));
  commit_add (src->daemon, m, src, done_run_job, NULL);
  return 1;
}

int
source_bus_handle_set (Sourced *d, sd_bus_message *m)
{
  const char *iface, *property, *contents;
  g_autofree char *id = NULL;
  Source *src;
  guint64 value;
  char type;
  int r;

  if (sd_bus_path_decode (sd_bus_message_get_path (m), SOURCED_SOURCE_PREFIX, &id) <= 0)
    return 0;
  r = sd_bus_message_read (m, "ss", &iface, &property);
  if (r < 0 || !g_str_equal (iface, SOURCED_SOURCE_IFACE) || !(src = sourced_lookup (d, id)))
    {
      /* Not ours to decide: sd-bus answers (UnknownObject, InvalidArgs...). */
      sd_bus_message_rewind (m, TRUE);
      return 0;
    }
  if (!g_str_equal (property, "PausedAt"))
    {
      for (const sd_bus_vtable *v = source_bus_vtable; v->type != _SD_BUS_VTABLE_END; v++)
        if ((v->type == _SD_BUS_VTABLE_PROPERTY) && g_str_equal (v->x.property.member, property))
          return sourced_error_reply_code (m, SOURCED_ERROR_PROPERTY_READ_ONLY,
                                             "Property '%s' is read-only", property);
      return sourced_error_reply_code (m, SOURCED_ERROR_UNKNOWN_PROPERTY,
                                         "Unknown property '%s' on %s", property, SOURCED_SOURCE_IFACE);
    }
  r = sd_bus_message_peek_type (m, &type, &contents);
  if (r < 0 || type != 'v' || !contents || !g_str_equal (contents, "t"))
    return sourced_error_reply_code (m, SOURCED_ERROR_INVALID_ARGS,
                                       "Property 'PausedAt' is of type 't' (microseconds since the epoch), got '%s'",
                                       contents ? contents : "?");
  r = sd_bus_message_read (m, "v", "t", &value);
  if (r < 0)
    return sourced_error_reply_code (m, SOURCED_ERROR_INVALID_ARGS, "Could not read the value of 'PausedAt'");

  {
    sd_bus_error auth_error = SD_BUS_ERROR_NULL;
    r = auth_check (d, m, AUTH_CONTROL, &auth_error);
    if (r < 0)
      {
        sd_bus_reply_method_error (m, &auth_error);
        sd_bus_error_free (&auth_error);
        return 1;
      }
    if (r == 0)
      return 1; /* polkit is asked; the call comes back */
  }

  source_bus_apply_paused_at (d, src, value);
  commit_add (d, m, src, value == 0 ? done_unpause : NULL, NULL);
  return 1;
}

int
source_bus_append_all (sd_bus_message *reply, Source *src)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  int r = sd_bus_message_open_container (reply, 'a', "{sv}");

  /* The vtable is the one list of properties: the same getters GetAll
   * calls, in the same order. */
  for (const sd_bus_vtable *v = source_bus_vtable; r >= 0 && v->type != _SD_BUS_VTABLE_END; v++)
    {
      if (v->type != _SD_BUS_VTABLE_PROPERTY && v->type != _SD_BUS_VTABLE_WRITABLE_PROPERTY)
        continue;
      if ((r = sd_bus_message_open_container (reply, 'e', "sv")) < 0 ||
          (r = sd_bus_message_append (reply, "s", v->x.property.member)) < 0 ||
          (r = sd_bus_message_open_container (reply, 'v', v->x.property.signature)) < 0 ||
          (r = v->x.property.get (NULL, NULL, SOURCED_SOURCE_IFACE, v->x.property.member, reply, src, &error)) < 0 ||
          (r = sd_bus_message_close_container (reply)) < 0)
        break;
      r = sd_bus_message_close_container (reply);
    }
  sd_bus_error_free (&error);
  return r < 0 ? r : sd_bus_message_close_container (reply);
}

gsize
source_bus_size_bound (Source *src)
{
  const char *strings[] = { src->id, source_display_name (src), src->settings->cron_expression, src->last_error,
                            src->control.bookmark, src->settings->sink };
  /* Names, signatures, fixed-size values and padding of the 23 entries
   * take under 1 KiB; the object path is at most 3 bytes an id byte. */
  gsize size = 1024 + 3 * strlen (src->id) + 64;

  for (gsize i = 0; i < G_N_ELEMENTS (strings); i++)
    size += strings[i] ? strlen (strings[i]) + 8 : 8;
  return size;
}

#define PROP(name, sig, getter) SD_BUS_PROPERTY (name, sig, getter, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE)
#define PROP_NOSIGNAL(name, sig, getter) SD_BUS_PROPERTY (name, sig, getter, 0, 0)

const sd_bus_vtable source_bus_vtable[] = {
  SD_BUS_VTABLE_START (0),
  SD_BUS_PROPERTY ("Id", "s", get_id, 0, SD_BUS_VTABLE_PROPERTY_CONST),
  PROP ("DisplayName", "s", get_display_name),
  PROP ("Type", "s", get_type),
  PROP ("Status", "s", get_status),
  SD_BUS_WRITABLE_PROPERTY ("PausedAt", "t", get_paused_at, set_property_unused, 0,
                            SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE | SD_BUS_VTABLE_UNPRIVILEGED),
  PROP ("SystemPausedAt", "t", get_system_paused_at),
  PROP ("Active", "b", get_active),
  PROP ("CreatedAt", "t", get_created_at),
  PROP ("UpdatedAt", "t", get_updated_at),
  PROP ("FrequencyMinutes", "u", get_frequency_minutes),
  PROP ("CronExpression", "s", get_cron_expression),
  PROP ("LastError", "s", get_last_error),
  PROP ("MainPID", "u", get_main_pid),
  PROP_NOSIGNAL ("RecordsDelivered", "t", get_records_delivered),
  PROP_NOSIGNAL ("BytesDelivered", "t", get_bytes_delivered),
  PROP_NOSIGNAL ("LastRecordAt", "t", get_last_record_at),
  PROP ("Bookmark", "s", get_bookmark),
  PROP ("NextRunAt", "t", get_next_run_at),
  PROP ("LastJobStartedAt", "t", get_last_job_started_at),
  PROP ("LastExitStatus", "i", get_last_exit_status),
  PROP ("NRestarts", "u", get_n_restarts),
  PROP ("NextRetryAt", "t", get_next_retry_at),
  PROP ("Sink", "s", get_sink),
  SD_BUS_METHOD_WITH_ARGS ("Pause", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_pause, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("Unpause", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_unpause, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("Start", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_start, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("Stop", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_stop, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("RunJob", SD_BUS_NO_ARGS, SD_BUS_RESULT ("t", job_started_at), method_run_job,
                           SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_VTABLE_END,
};

int
source_bus_register (Sourced *d)
{
  int r;

  r = sd_bus_add_fallback_vtable (d->bus, NULL, SOURCED_SOURCE_PREFIX, SOURCED_SOURCE_IFACE, source_bus_vtable,
                                  find_source, d);
  if (r < 0)
    return r;
  return sd_bus_add_node_enumerator (d->bus, NULL, SOURCED_SOURCE_PREFIX, enumerate_sources, d);
}
