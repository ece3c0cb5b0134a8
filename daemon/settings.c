/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "settings.h"

#include <stdlib.h>
#include <errno.h>

#include "scheduler.h"
#include "sink-rules.h"
#include "sourced-error.h"

gboolean
source_id_is_valid (const char *id)
{
  return source_id_check (id, NULL);
}

gboolean
source_id_check (const char *id, GError **error)
{
  gsize len = strlen (id);

  if (len == 0)
    {
      g_set_error_literal (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                           "Invalid source id '': an id is 1 to 64 characters");
      return FALSE;
    }
  if (len > SOURCE_ID_MAX)
    {
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                   "Invalid source id '%.*s…': longer than %d characters",
                   16, id, SOURCE_ID_MAX);
      return FALSE;
    }
  if (id[0] == '.' || id[0] == '-')
    {
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                   "Invalid source id '%s': must not start with '%c'", id, id[0]);
      return FALSE;
    }
  for (const char *p = id; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '.' && *p != '_' && *p != '-')
      {
        g_autofree char *shown = g_strescape (id, NULL);
        g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                     "Invalid source id '%s': only A-Z, a-z, 0-9, '.', '_' and '-' are allowed",
                     shown);
        return FALSE;
      }
  return TRUE;
}

SourceSettings *
source_settings_new (void)
{
  SourceSettings *s = g_new0 (SourceSettings, 1);
  s->type = SOURCE_TYPE_EXEC;
  s->initial_state = INITIAL_STATE_ACTIVE;
  s->stop_timeout_sec = DEFAULT_STOP_TIMEOUT_SEC;
  s->restart_sec = DEFAULT_RESTART_SEC;
  s->max_failures = DEFAULT_MAX_FAILURES;
  return s;
}

void
source_settings_free (SourceSettings *s)
{
  if (!s)
    return;
  g_free (s->display_name);
  g_free (s->exec);
  g_free (s->cron_expression);
  g_free (s->sink);
  g_free (s->target);
  g_free (s->schema);
  g_free (s);
}

SourceSettings *
source_settings_copy (const SourceSettings *s)
{
  SourceSettings *c = g_memdup2 (s, sizeof *s);
  c->display_name = g_strdup (s->display_name);
  c->exec = g_strdup (s->exec);
  c->cron_expression = g_strdup (s->cron_expression);
  c->sink = g_strdup (s->sink);
  c->target = g_strdup (s->target);
  c->schema = g_strdup (s->schema);
  return c;
}

gboolean
source_settings_equal (const SourceSettings *a, const SourceSettings *b)
{
  /* One setting a line. */
  /* clang-format off */
  return g_strcmp0 (a->display_name, b->display_name) == 0 &&
         a->type == b->type &&
         g_strcmp0 (a->exec, b->exec) == 0 &&
         a->frequency_minutes == b->frequency_minutes &&
         g_strcmp0 (a->cron_expression, b->cron_expression) == 0 &&
         a->initial_state == b->initial_state &&
         g_strcmp0 (a->sink, b->sink) == 0 &&
         g_strcmp0 (a->schema, b->schema) == 0 &&
         g_strcmp0 (a->target, b->target) == 0 &&
         a->stop_timeout_sec == b->stop_timeout_sec &&
         a->restart_sec == b->restart_sec &&
         a->max_failures == b->max_failures;
  /* clang-format on */
}

const char *
source_type_to_string (SourceType type)
{
  return type == SOURCE_TYPE_SINGER ? "singer" : "exec";
}

const char *
initial_state_to_string (InitialState state)
{
  switch (state)
    {
    case INITIAL_STATE_PAUSED: return "paused";
    case INITIAL_STATE_STOPPED: return "stopped";
    case INITIAL_STATE_ACTIVE: default: return "active";
    }
}

/* One row per key: its D-Bus type and where it lives. String keys are
 * checked by set_string_key(); unsigned ones carry their bounds here. */
typedef struct {
  const char *key;
  char type;
  gsize offset;
  guint min, max;
} SettingsKey;

#define OFF(field) G_STRUCT_OFFSET (SourceSettings, field)

static const SettingsKey settings_keys[] = {
  { "DisplayName", 's', OFF (display_name), 0, 0 },
  { "Type", 's', 0, 0, 0 },
  { "Exec", 's', OFF (exec), 0, 0 },
  { "FrequencyMinutes", 'u', OFF (frequency_minutes), 0, 527040 /* a leap year */ },
  { "CronExpression", 's', OFF (cron_expression), 0, 0 },
  { "InitialState", 's', 0, 0, 0 },
  { "Sink", 's', OFF (sink), 0, 0 },
  { "Schema", 's', OFF (schema), 0, 0 },
  { "Target", 's', OFF (target), 0, 0 },
  { "StopTimeoutSec", 'u', OFF (stop_timeout_sec), 0, 3600 },
  { "RestartSec", 'u', OFF (restart_sec), 1, 300 },
  { "MaxFailures", 'u', OFF (max_failures), 0, 1000 },
};

static const SettingsKey *
find_key (const char *key)
{
  for (gsize i = 0; i < G_N_ELEMENTS (settings_keys); i++)
    if (g_str_equal (settings_keys[i].key, key))
      return &settings_keys[i];
  return NULL;
}

char
source_settings_key_type (const char *key)
{
  const SettingsKey *k = find_key (key);
  return k ? k->type : 0;
}

static gboolean
bad_value (GError **error, const char *key, const char *value, const char *why)
{
  g_autofree char *shown = g_strescape (value, NULL);
  g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
               "Invalid value '%s' for setting '%s': %s", shown, key, why);
  return FALSE;
}

/* A schema name PostgreSQL takes unquoted, as Singer targets name theirs. */
static gboolean
schema_name_is_valid (const char *name)
{
  gsize len = strlen (name);

  if (len == 0 || len > 63 || g_ascii_isdigit (name[0]))
    return FALSE;
  for (const char *c = name; *c; c++)
    if (!(g_ascii_islower (*c) || g_ascii_isdigit (*c) || *c == '_'))
      return FALSE;
  return TRUE;
}

static gboolean
set_string_key (SourceSettings *s, const SettingsKey *k, const char *value, GError **error)
{
  if (strlen (value) > SETTINGS_STRING_MAX)
    {
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                   "Invalid value for setting '%s': longer than %d bytes",
                   k->key, SETTINGS_STRING_MAX);
      return FALSE;
    }
  if (!g_utf8_validate (value, -1, NULL))
    return bad_value (error, k->key, value, "not valid UTF-8");

  if (g_str_equal (k->key, "Type"))
    {
      if (g_str_equal (value, "exec"))
        s->type = SOURCE_TYPE_EXEC;
      else if (g_str_equal (value, "singer"))
        s->type = SOURCE_TYPE_SINGER;
      else
        return bad_value (error, k->key, value, "expected 'exec' or 'singer'");
      return TRUE;
    }
  if (g_str_equal (k->key, "InitialState"))
    {
      if (g_str_equal (value, "active"))
        s->initial_state = INITIAL_STATE_ACTIVE;
      else if (g_str_equal (value, "paused"))
        s->initial_state = INITIAL_STATE_PAUSED;
      else if (g_str_equal (value, "stopped"))
        s->initial_state = INITIAL_STATE_STOPPED;
      else
        return bad_value (error, k->key, value, "expected 'active', 'paused' or 'stopped'");
      return TRUE;
    }
  if (g_str_equal (k->key, "Exec") || g_str_equal (k->key, "Target"))
    {
      g_auto (GStrv) argv = NULL;
      g_autoptr (GError) local = NULL;
      if (!g_shell_parse_argv (value, NULL, &argv, &local))
        return bad_value (error, k->key, value, local->message);
    }
  if (g_str_equal (k->key, "CronExpression") && value[0] != '\0')
    {
      g_autoptr (GError) local = NULL;
      g_autoptr (CronSchedule) cron = cron_schedule_parse (value, &local);
      if (!cron)
        return bad_value (error, k->key, value, local->message);
    }
  /* The rules that need no state directory (absolute, not the kernel's);
   * the state directory's own rule is checked where it is known. */
  if (g_str_equal (k->key, "Sink") && value[0] != '\0' && !sink_check (value, NULL, error))
    return FALSE;
  if (g_str_equal (k->key, "Schema") && value[0] != '\0' && !schema_name_is_valid (value))
    return bad_value (error, k->key, value,
                      "expected a PostgreSQL name: lower-case letters, digits and '_', not starting with a digit, "
                      "at most 63 bytes");

  char **field = G_STRUCT_MEMBER_P (s, k->offset);
  g_free (*field);
  *field = value[0] ? g_strdup (value) : NULL;
  return TRUE;
}

static gboolean
set_uint_key (SourceSettings *s, const SettingsKey *k, guint32 value, GError **error)
{
  if (value < k->min || value > k->max)
    {
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                   "Invalid value %u for setting '%s': expected %u to %u",
                   value, k->key, k->min, k->max);
      return FALSE;
    }
  G_STRUCT_MEMBER (guint, s, k->offset) = value;
  return TRUE;
}

static gboolean
unknown_key (GError **error, const char *key)
{
  g_autofree char *shown = g_strescape (key, NULL);
  g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
               "Unknown setting '%s'", shown);
  return FALSE;
}

gboolean
source_settings_set_from_text (SourceSettings *s, const char *key, const char *text, GError **error)
{
  const SettingsKey *k = find_key (key);

  if (!k)
    return unknown_key (error, key);
  if (k->type == 's')
    return set_string_key (s, k, text, error);

  /* Unsigned numbers: decimal digits only, no sign, no junk after. */
  char *end = NULL;
  errno = 0;
  guint64 v = g_ascii_strtoull (text, &end, 10);
  if (text[0] == '\0' || !g_ascii_isdigit (text[0]) || *end != '\0' || errno != 0 || v > G_MAXUINT32)
    return bad_value (error, key, text, "expected an unsigned number");
  return set_uint_key (s, k, (guint32) v, error);
}

gboolean
source_settings_set_typed (SourceSettings *s, const char *key, char type, const void *value, GError **error)
{
  const SettingsKey *k = find_key (key);

  if (!k)
    return unknown_key (error, key);
  if (type != k->type)
    {
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                   "Wrong type for setting '%s': expected '%c', got '%c'", key, k->type, type);
      return FALSE;
    }
  if (k->type == 's')
    return set_string_key (s, k, *(const char *const *) value, error);
  return set_uint_key (s, k, *(const guint32 *) value, error);
}

gboolean
source_settings_validate (const SourceSettings *s, GError **error)
{
  if (!s->exec)
    {
      g_set_error_literal (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                           "Missing setting 'Exec': a source needs a command to run");
      return FALSE;
    }
  if (s->frequency_minutes > 0 && s->cron_expression)
    {
      g_set_error_literal (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                           "Invalid setting 'CronExpression': a source has either FrequencyMinutes or CronExpression, not both");
      return FALSE;
    }
  if (s->sink && s->target)
    {
      g_set_error_literal (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                           "Invalid setting 'Target': a source has either Sink or Target, not both");
      return FALSE;
    }
  if (s->schema && !sink_is_postgresql (s->sink))
    {
      g_set_error_literal (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                           "Invalid setting 'Schema': it names the database schema of a PostgreSQL Sink, and this "
                           "source's sink is a file");
      return FALSE;
    }
  return TRUE;
}

void
source_settings_to_keyfile (const SourceSettings *s, GKeyFile *kf, const char *group)
{
  g_autoptr (SourceSettings) def = source_settings_new ();

  for (gsize i = 0; i < G_N_ELEMENTS (settings_keys); i++)
    {
      const SettingsKey *k = &settings_keys[i];
      if (g_str_equal (k->key, "Type"))
        {
          if (s->type != def->type)
            g_key_file_set_string (kf, group, k->key, source_type_to_string (s->type));
        }
      else if (g_str_equal (k->key, "InitialState"))
        {
          if (s->initial_state != def->initial_state)
            g_key_file_set_string (kf, group, k->key, initial_state_to_string (s->initial_state));
        }
      else if (k->type == 's')
        {
          const char *v = G_STRUCT_MEMBER (const char *, s, k->offset);
          if (v)
            g_key_file_set_string (kf, group, k->key, v);
        }
      else
        {
          guint v = G_STRUCT_MEMBER (guint, s, k->offset);
          if (v != G_STRUCT_MEMBER (guint, def, k->offset))
            g_key_file_set_uint64 (kf, group, k->key, v);
        }
    }
}
