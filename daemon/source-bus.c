/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "source-bus.h"

#include "bus-signals.h"

#include "auth.h"
#include "bus-props.h"
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
    g_ptr_array_add (user_data, sourced_source_path (src->id));
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

/* A getter per line of SOURCE_PROPERTIES (source-props.h). */
#define SOURCE_PROP_GETTER(bit, name, sig, kind, value)                                                                \
  static int get_##bit (sd_bus *bus, const char *path, const char *interface, const char *property,                    \
                        sd_bus_message *reply, void *userdata, sd_bus_error *error)                                    \
  {                                                                                                                    \
    const Source *src = userdata;                                                                                      \
    return sd_bus_message_append (reply, sig, (value));                                                                \
  }
SOURCE_PROPERTIES (SOURCE_PROP_GETTER)
#undef SOURCE_PROP_GETTER

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
  SourceEdit e = commit_track_source (d, src);
  source_set_paused_at (e, paused_at, sourced_now (src->daemon));
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
  SourceEdit e = commit_track_source (d, src);
  source_set_started (e, TRUE, now);
  /* A daemon-made pause (repeated failures) ends with an explicit Start;
   * the user's own pause stays as it is. */
  if (src->control.system_paused_at)
    source_set_system_paused_at (e, 0, now);
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
  source_set_started (commit_track_source (src->daemon, src), FALSE, sourced_now (src->daemon));
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

  source_set_last_job_started_at (commit_track_source (src->daemon, src), sourced_now (src->daemon));
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

/* What a value of a property adds to an a{sv}: a string its length, NUL and
 * alignment; anything else at most 8 bytes. */
static gsize
value_size_string (const char *s)
{
  return 4 + strlen (s) + 1 + 3;
}

static gsize
value_size_fixed (guint64 v)
{
  return 8;
}

#define VALUE_SIZE(v)                                                                                                  \
  _Generic((v), char * : value_size_string, const char * : value_size_string, default : value_size_fixed) (v)

gsize
source_bus_size_bound (const Source *src)
{
  /* The object path (sd_bus_path_encode makes at most 3 bytes of each id
   * byte), the array's length and padding. */
  gsize size = strlen (SOURCED_SOURCE_PREFIX) + 1 + 3 * strlen (src->id) + 1 + 4 + 16;

  /* Each entry: up to 7 bytes to its 8-byte boundary, the name with length
   * and NUL, a one-letter signature (3 bytes), up to 7 bytes of padding,
   * the value. */
#define SOURCE_PROP_SIZE(bit, name, sig, kind, value) size += 7 + 4 + sizeof (name) + 3 + 7 + VALUE_SIZE (value);
  SOURCE_PROPERTIES (SOURCE_PROP_SIZE)
#undef SOURCE_PROP_SIZE
  return size;
}

const sd_bus_vtable source_bus_vtable[] = {
  SD_BUS_VTABLE_START (0),
#define SOURCE_PROP_VTABLE(bit, name, sig, kind, value)                                                                \
  BUS_PROP_VTABLE_##kind (name, sig, get_##bit, set_property_unused),
  SOURCE_PROPERTIES (SOURCE_PROP_VTABLE)
#undef SOURCE_PROP_VTABLE
  /* The rows above are a macro, not a call these continue. */
  /* clang-format off */
  SD_BUS_METHOD_WITH_ARGS ("Pause", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_pause, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("Unpause", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_unpause, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("Start", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_start, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("Stop", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_stop, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("RunJob", SD_BUS_NO_ARGS, SD_BUS_RESULT ("t", job_started_at), method_run_job,
                           SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_VTABLE_END,
  /* clang-format on */
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
