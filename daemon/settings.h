/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

/* What a source is: the keys of a definition file or of CreateSource's
 * settings. Control state (pause, started, timestamps) is elsewhere. */

typedef enum {
  SOURCE_TYPE_EXEC,
  SOURCE_TYPE_SINGER,
} SourceType;

typedef enum {
  INITIAL_STATE_ACTIVE,
  INITIAL_STATE_PAUSED,
  INITIAL_STATE_STOPPED,
} InitialState;

#define SOURCE_ID_MAX 64
#define SETTINGS_STRING_MAX 4096
#define DEFAULT_STOP_TIMEOUT_SEC 10
#define DEFAULT_RESTART_SEC 1
#define DEFAULT_MAX_FAILURES 5

typedef struct {
  char *display_name;   /* NULL: the id */
  SourceType type;
  char *exec;
  guint frequency_minutes;
  char *cron_expression; /* NULL: none */
  InitialState initial_state;
  char *sink;
  char *schema; /* PostgreSQL sinks: their schema; NULL: the id */
  char *target;
  guint stop_timeout_sec;
  guint restart_sec;
  guint max_failures;
} SourceSettings;

gboolean source_id_is_valid (const char *id);
/* Fills @error with InvalidArgs naming the id and the rule it breaks. */
gboolean source_id_check (const char *id, GError **error);

SourceSettings *source_settings_new (void);
void source_settings_free (SourceSettings *settings);
SourceSettings *source_settings_copy (const SourceSettings *settings);
gboolean source_settings_equal (const SourceSettings *a, const SourceSettings *b);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SourceSettings, source_settings_free)

/* The D-Bus type of a settings key ('s' or 'u'), or 0 if the key is unknown. */
char source_settings_key_type (const char *key);

/* Sets a key from its text form, as written in a definition file. */
gboolean source_settings_set_from_text (SourceSettings *settings,
                                        const char *key,
                                        const char *text,
                                        GError **error);
/* Sets a key from a typed value: @type is the D-Bus type the caller sent,
 * @value points at a `const char *` for 's' or a `guint32` for 'u'. */
gboolean source_settings_set_typed (SourceSettings *settings,
                                    const char *key,
                                    char type,
                                    const void *value,
                                    GError **error);
/* Checks what no single key can: Exec present, no conflicting keys. */
gboolean source_settings_validate (const SourceSettings *settings, GError **error);

/* Writes every key that differs from the default as text into @kf's
 * @group, readable back with source_settings_set_from_text(). */
void source_settings_to_keyfile (const SourceSettings *settings, GKeyFile *kf, const char *group);

const char *source_type_to_string (SourceType type);
const char *initial_state_to_string (InitialState state);
