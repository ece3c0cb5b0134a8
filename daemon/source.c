/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "source.h"

#include <string.h>

#include "pump.h"

Source *
source_new (const char *id, SourceSettings *settings, const char *definition_file)
{
  Source *src = g_new0 (Source, 1);

  src->ref_count = 1;
  src->id = g_strdup (id);
  src->settings = settings;
  src->definition_file = g_strdup (definition_file);
  src->control.last_exit_status = 0;
  src->run = SOURCE_RUN_STOPPED;
  src->status = SOURCE_STATUS_STOPPED;
  return src;
}

Source *
source_ref (Source *src)
{
  src->ref_count++;
  return src;
}

void
source_control_clear (SourceControl *c)
{
  g_clear_pointer (&c->bookmark, g_free);
  g_clear_pointer (&c->sink_path, g_free);
}

void
source_control_copy (SourceControl *to, const SourceControl *from)
{
  g_free (to->bookmark);
  g_free (to->sink_path);
  *to = *from;
  to->bookmark = g_strdup (from->bookmark);
  to->sink_path = g_strdup (from->sink_path);
}

void
source_unref (Source *src)
{
  if (!src || --src->ref_count > 0)
    return;
  g_assert (src->worker == NULL);
  pump_free (src->pump);
  g_free (src->exit_last_line);
  g_free (src->broken);
  g_free (src->id);
  source_settings_free (src->settings);
  g_free (src->definition_file);
  source_control_clear (&src->control);
  if (src->rollback)
    {
      source_control_clear (src->rollback);
      g_free (src->rollback);
    }
  g_free (src->last_error);
  g_clear_pointer (&src->start_waiters, g_ptr_array_unref);
  g_clear_pointer (&src->stop_waiters, g_ptr_array_unref);
  g_free (src);
}

const char *
source_status_to_string (SourceStatus status)
{
  static const char *const names[] = { "stopped", "starting", "active", "paused", "stopping", "failed", "restarting" };
  return names[status];
}

const char *
source_display_name (const Source *src)
{
  return src->settings->display_name ? src->settings->display_name : src->id;
}

gboolean
source_is_paused (const Source *src)
{
  return src->control.paused_at != 0 || src->control.system_paused_at != 0;
}

gboolean
source_is_scheduled (const Source *src)
{
  return src->settings->frequency_minutes > 0 || src->settings->cron_expression != NULL;
}

void
source_refresh (Source *src, gboolean gate_paused)
{
  SourceStatus status;
  gboolean active;

  switch (src->run)
    {
    case SOURCE_RUN_STARTING: status = SOURCE_STATUS_STARTING; break;
    case SOURCE_RUN_RUNNING:
      /* The user's pause says more than the retry: a paused source is
       * "paused" whether or not its worker is being restarted. */
      status = source_is_paused (src) ? SOURCE_STATUS_PAUSED
               : src->retrying        ? SOURCE_STATUS_RESTARTING
                                      : SOURCE_STATUS_ACTIVE;
      break;
    case SOURCE_RUN_STOPPING: status = SOURCE_STATUS_STOPPING; break;
    case SOURCE_RUN_FAILED: status = SOURCE_STATUS_FAILED; break;
    case SOURCE_RUN_STOPPED: default: status = SOURCE_STATUS_STOPPED; break;
    }
  /* Feldera: a connector is active only when it and the pipeline run. */
  active = status == SOURCE_STATUS_ACTIVE && !gate_paused;

  if (status != src->status)
    {
      src->status = status;
      src->changed |= SOURCE_PROP_STATUS;
    }
  if (active != src->active)
    {
      src->active = active;
      src->changed |= SOURCE_PROP_ACTIVE;
    }
  if (src->hooks && src->hooks->refresh)
    src->hooks->refresh (src, gate_paused);
}

SourceEdit
source_edit_begin (Source *src)
{
  if (!src->rollback)
    {
      src->rollback = g_new0 (SourceControl, 1);
      source_control_copy (src->rollback, &src->control);
    }
  return (SourceEdit){ src };
}

/* The source of an edit that is still open: its change is tracked. */
static Source *
edited (SourceEdit e)
{
  g_assert (e.src && e.src->rollback);
  return e.src;
}

void
source_init_control (Source *src, guint64 now)
{
  g_assert (src->daemon == NULL);
  src->control.created_at = now;
  src->control.updated_at = now;
  src->control.started = src->settings->initial_state != INITIAL_STATE_STOPPED;
  /* Feldera: a connector can be created paused. */
  if (src->settings->initial_state == INITIAL_STATE_PAUSED)
    src->control.paused_at = now;
}

void
source_take_control (Source *src, SourceControl *stored)
{
  g_assert (src->daemon == NULL);
  source_control_clear (&src->control);
  src->control = *stored;
  memset (stored, 0, sizeof *stored);
  source_restore_counters (src);
}

static void
touch (Source *src, guint64 now)
{
  if (src->control.updated_at != now)
    {
      src->control.updated_at = now;
      src->changed |= SOURCE_PROP_UPDATED_AT;
    }
}

void
source_set_paused_at (SourceEdit e, guint64 paused_at, guint64 now)
{
  Source *src = edited (e);

  if (src->control.paused_at != paused_at)
    {
      src->control.paused_at = paused_at;
      src->changed |= SOURCE_PROP_PAUSED_AT;
    }
  /* Unpausing clears the daemon's own pause too (Stitch: null unpauses). */
  if (paused_at == 0 && src->control.system_paused_at != 0)
    {
      src->control.system_paused_at = 0;
      src->changed |= SOURCE_PROP_SYSTEM_PAUSED_AT;
    }
  touch (src, now);
}

void
source_set_system_paused_at (SourceEdit e, guint64 at, guint64 now)
{
  Source *src = edited (e);

  if (src->control.system_paused_at != at)
    {
      src->control.system_paused_at = at;
      src->changed |= SOURCE_PROP_SYSTEM_PAUSED_AT;
    }
  touch (src, now);
}

void
source_set_started (SourceEdit e, gboolean started, guint64 now)
{
  Source *src = edited (e);

  src->control.started = started;
  touch (src, now);
}

void
source_set_last_job_started_at (SourceEdit e, guint64 at)
{
  Source *src = edited (e);

  if (src->control.last_job_started_at != at)
    {
      src->control.last_job_started_at = at;
      src->changed |= SOURCE_PROP_LAST_JOB_STARTED_AT;
    }
}

void
source_set_last_exit_status (SourceEdit e, gint status)
{
  Source *src = edited (e);

  if (src->control.last_exit_status != status)
    {
      src->control.last_exit_status = status;
      src->changed |= SOURCE_PROP_LAST_EXIT_STATUS;
    }
}

void
source_set_last_error (Source *src, const char *error)
{
  if (error && !error[0])
    error = NULL;
  if (g_strcmp0 (src->last_error, error) != 0)
    {
      g_free (src->last_error);
      src->last_error = g_strdup (error);
      src->changed |= SOURCE_PROP_LAST_ERROR;
    }
}

void
source_set_run (Source *src, SourceRun run)
{
  src->run = run;
}

void
source_set_next_run_at (Source *src, guint64 at)
{
  if (src->next_run_at != at)
    {
      src->next_run_at = at;
      src->changed |= SOURCE_PROP_NEXT_RUN_AT;
    }
}

void
source_set_retrying (Source *src, gboolean retrying, guint64 next_retry_at)
{
  src->retrying = retrying;
  if (src->next_retry_at != next_retry_at)
    {
      src->next_retry_at = next_retry_at;
      src->changed |= SOURCE_PROP_NEXT_RETRY_AT;
    }
}

void
source_set_n_restarts (Source *src, guint n)
{
  if (src->n_restarts != n)
    {
      src->n_restarts = n;
      src->changed |= SOURCE_PROP_N_RESTARTS;
    }
}

const char *
source_sink (const Source *src)
{
  return src->settings->sink ? src->settings->sink : "";
}

void
source_log (const Source *src, GLogLevelFlags level, const char *format, ...)
{
  g_autofree char *text = NULL;
  va_list ap;

  va_start (ap, format);
  text = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_log_structured (G_LOG_DOMAIN, level, "SOURCE_ID", src->id, "MESSAGE", "%s: %s", src->id, text);
}

void
source_set_bookmark (SourceEdit e, const char *bookmark)
{
  Source *src = edited (e);

  if (g_strcmp0 (src->control.bookmark, bookmark) != 0)
    {
      g_free (src->control.bookmark);
      src->control.bookmark = g_strdup (bookmark);
      src->changed |= SOURCE_PROP_BOOKMARK;
    }
}

void
source_save_counters (SourceEdit e)
{
  source_save_delivered (e, e.src->records_delivered, e.src->bytes_delivered);
}

void
source_save_delivered (SourceEdit e, guint64 records, guint64 bytes)
{
  Source *src = edited (e);

  src->control.records_delivered = records;
  src->control.bytes_delivered = bytes;
  src->control.last_record_at = src->last_record_at;
}

void
source_set_checkpoint (SourceEdit e, const char *sink_path, guint64 offset)
{
  Source *src = edited (e);

  if (src->control.sink_path != sink_path)
    {
      g_free (src->control.sink_path);
      src->control.sink_path = g_strdup (sink_path);
    }
  src->control.sink_offset = offset;
}

void
source_restore_counters (Source *src)
{
  src->records_delivered = src->control.records_delivered;
  src->bytes_delivered = src->control.bytes_delivered;
  src->last_record_at = src->control.last_record_at;
}

void
source_set_settings (Source *src, SourceSettings *settings)
{
  SourceSettings *old = src->settings;

  src->settings = settings;
  if (g_strcmp0 (old->display_name, settings->display_name) != 0)
    src->changed |= SOURCE_PROP_DISPLAY_NAME;
  if (old->type != settings->type)
    src->changed |= SOURCE_PROP_TYPE;
  if (old->frequency_minutes != settings->frequency_minutes)
    src->changed |= SOURCE_PROP_FREQUENCY_MINUTES;
  if (g_strcmp0 (old->cron_expression, settings->cron_expression) != 0)
    src->changed |= SOURCE_PROP_CRON_EXPRESSION;
  if (g_strcmp0 (old->sink, settings->sink) != 0)
    src->changed |= SOURCE_PROP_SINK;
  source_settings_free (old);
}

void
source_commit_change (Source *src)
{
  if (!src->rollback)
    return;
  source_control_clear (src->rollback);
  g_clear_pointer (&src->rollback, g_free);
}

void
source_rollback_change (Source *src, gboolean gate_paused)
{
  if (!src->rollback)
    return;
  source_control_clear (&src->control);
  src->control = *src->rollback;
  g_clear_pointer (&src->rollback, g_free);
  source_refresh (src, gate_paused);
  /* Nothing of the failed change was announced, so nothing is to undo. */
  src->changed = 0;
}

GStrv
source_prop_names (guint mask)
{
  static const char *const names[] = {
#define SOURCE_PROP_NAME(bit, name, ...) [SOURCE_PROP_INDEX_##bit] = name,
    SOURCE_PROPERTIES (SOURCE_PROP_NAME)
#undef SOURCE_PROP_NAME
  };
  GPtrArray *out = g_ptr_array_new ();

  mask &= SOURCE_PROPS_EMITTING;
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (mask & (1u << i))
      g_ptr_array_add (out, g_strdup (names[i]));
  g_ptr_array_add (out, NULL);
  return (GStrv) g_ptr_array_free (out, FALSE);
}

char *
source_store_group (const char *id)
{
  return g_strconcat ("Source ", id, NULL);
}

void
source_to_keyfile (const Source *src, GKeyFile *kf)
{
  source_state_to_keyfile (src, &src->control, src->removed, kf);
}

void
source_state_to_keyfile (const Source *src, const SourceControl *c, gboolean removed, GKeyFile *kf)
{
  g_autofree char *group = source_store_group (src->id);

  if (removed)
    {
      g_key_file_set_boolean (kf, group, "Removed", TRUE);
      return;
    }
  /* Only what differs from the defaults: at 100,000 sources, every key
   * costs memory when the store is loaded. A group is always rewritten
   * whole, so a missing key reliably means "default". */
  g_key_file_set_string (kf, group, "Origin", src->definition_file ? "file" : "created");
  if (c->started)
    g_key_file_set_boolean (kf, group, "Started", TRUE);
  if (c->paused_at)
    g_key_file_set_uint64 (kf, group, "PausedAt", c->paused_at);
  if (c->system_paused_at)
    g_key_file_set_uint64 (kf, group, "SystemPausedAt", c->system_paused_at);
  g_key_file_set_uint64 (kf, group, "CreatedAt", c->created_at);
  g_key_file_set_uint64 (kf, group, "UpdatedAt", c->updated_at);
  if (c->last_job_started_at)
    g_key_file_set_uint64 (kf, group, "LastJobStartedAt", c->last_job_started_at);
  if (c->last_exit_status)
    g_key_file_set_integer (kf, group, "LastExitStatus", c->last_exit_status);
  if (c->bookmark)
    g_key_file_set_string (kf, group, "Bookmark", c->bookmark);
  if (c->sink_path)
    {
      g_key_file_set_string (kf, group, "SinkPath", c->sink_path);
      g_key_file_set_uint64 (kf, group, "SinkOffset", c->sink_offset);
    }
  if (c->records_delivered)
    g_key_file_set_uint64 (kf, group, "RecordsDelivered", c->records_delivered);
  if (c->bytes_delivered)
    g_key_file_set_uint64 (kf, group, "BytesDelivered", c->bytes_delivered);
  if (c->last_record_at)
    g_key_file_set_uint64 (kf, group, "LastRecordAt", c->last_record_at);
  if (!src->definition_file)
    source_settings_to_keyfile (src->settings, kf, group);
}

/* A string as GKeyFile writes a value set with g_key_file_set_string(),
 * so that g_key_file_get_string() reads it back unchanged. */
static void
append_escaped (GString *out, const char *value)
{
  gboolean leading = TRUE;

  for (const char *p = value; *p; p++)
    {
      if (*p == ' ' && leading)
        {
          g_string_append (out, "\\s");
          continue;
        }
      leading = FALSE;
      switch (*p)
        {
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\\': g_string_append (out, "\\\\"); break;
        default: g_string_append_c (out, *p); break;
        }
    }
}

void
source_to_text (const Source *src, GString *out)
{
  source_state_to_text (src, &src->control, src->removed, out);
}

void
source_state_to_text (const Source *src, const SourceControl *c, gboolean removed, GString *out)
{
  if (!removed && !src->definition_file)
    {
      /* A created source carries its settings: the general path. */
      g_autoptr (GKeyFile) kf = g_key_file_new ();
      g_autofree char *text = NULL;
      gsize length;

      source_state_to_keyfile (src, c, removed, kf);
      text = g_key_file_to_data (kf, &length, NULL);
      g_string_append_len (out, text, (gssize) length);
      if (length && text[length - 1] != '\n')
        g_string_append_c (out, '\n');
      g_string_append_c (out, '\n');
      return;
    }
  /* The same keys as source_to_keyfile(), written directly: this runs for
   * every change and for every source of a snapshot. */
  g_string_append_printf (out, "[Source %s]\n", src->id);
  if (removed)
    {
      g_string_append (out, "Removed=true\n\n");
      return;
    }
  g_string_append (out, "Origin=file\n");
  if (c->started)
    g_string_append (out, "Started=true\n");
  if (c->paused_at)
    g_string_append_printf (out, "PausedAt=%" G_GUINT64_FORMAT "\n", c->paused_at);
  if (c->system_paused_at)
    g_string_append_printf (out, "SystemPausedAt=%" G_GUINT64_FORMAT "\n", c->system_paused_at);
  g_string_append_printf (out, "CreatedAt=%" G_GUINT64_FORMAT "\nUpdatedAt=%" G_GUINT64_FORMAT "\n", c->created_at,
                          c->updated_at);
  if (c->last_job_started_at)
    g_string_append_printf (out, "LastJobStartedAt=%" G_GUINT64_FORMAT "\n", c->last_job_started_at);
  if (c->last_exit_status)
    g_string_append_printf (out, "LastExitStatus=%d\n", c->last_exit_status);
  if (c->bookmark)
    {
      g_string_append (out, "Bookmark=");
      append_escaped (out, c->bookmark);
      g_string_append_c (out, '\n');
    }
  if (c->sink_path)
    {
      g_string_append (out, "SinkPath=");
      append_escaped (out, c->sink_path);
      g_string_append_printf (out, "\nSinkOffset=%" G_GUINT64_FORMAT "\n", c->sink_offset);
    }
  if (c->records_delivered)
    g_string_append_printf (out, "RecordsDelivered=%" G_GUINT64_FORMAT "\n", c->records_delivered);
  if (c->bytes_delivered)
    g_string_append_printf (out, "BytesDelivered=%" G_GUINT64_FORMAT "\n", c->bytes_delivered);
  if (c->last_record_at)
    g_string_append_printf (out, "LastRecordAt=%" G_GUINT64_FORMAT "\n", c->last_record_at);
  g_string_append_c (out, '\n');
}

void
source_control_from_keyfile (SourceControl *c, GKeyFile *kf, const char *group)
{
  /* One pass over the keys the group has. Asking GKeyFile for a missing
   * key builds a translated GError each time, and most keys are missing
   * (only non-default ones are stored): at 100,000 sources that alone cost
   * half a second of startup. */
  g_auto (GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);
  g_autofree char *bookmark = NULL, *sink_path = NULL;

  c->started = FALSE;
  c->paused_at = c->system_paused_at = c->created_at = c->updated_at = 0;
  c->last_job_started_at = 0;
  c->last_exit_status = 0;
  c->sink_offset = c->records_delivered = c->bytes_delivered = c->last_record_at = 0;
  for (guint i = 0; keys && keys[i]; i++)
    {
      const char *k = keys[i];
      g_autofree char *v = g_key_file_get_value (kf, group, k, NULL);
      guint64 u = v ? g_ascii_strtoull (v, NULL, 10) : 0;

      if (!v)
        continue;
      if (g_str_equal (k, "Started"))
        c->started = g_str_equal (v, "true");
      else if (g_str_equal (k, "PausedAt"))
        c->paused_at = u;
      else if (g_str_equal (k, "SystemPausedAt"))
        c->system_paused_at = u;
      else if (g_str_equal (k, "CreatedAt"))
        c->created_at = u;
      else if (g_str_equal (k, "UpdatedAt"))
        c->updated_at = u;
      else if (g_str_equal (k, "LastJobStartedAt"))
        c->last_job_started_at = u;
      else if (g_str_equal (k, "LastExitStatus"))
        c->last_exit_status = (gint) g_ascii_strtoll (v, NULL, 10);
      else if (g_str_equal (k, "Bookmark"))
        bookmark = g_key_file_get_string (kf, group, k, NULL);
      else if (g_str_equal (k, "SinkPath"))
        sink_path = g_key_file_get_string (kf, group, k, NULL);
      else if (g_str_equal (k, "SinkOffset"))
        c->sink_offset = u;
      else if (g_str_equal (k, "RecordsDelivered"))
        c->records_delivered = u;
      else if (g_str_equal (k, "BytesDelivered"))
        c->bytes_delivered = u;
      else if (g_str_equal (k, "LastRecordAt"))
        c->last_record_at = u;
    }
  g_free (c->bookmark);
  c->bookmark = g_steal_pointer (&bookmark);
  g_free (c->sink_path);
  c->sink_path = g_steal_pointer (&sink_path);
}
