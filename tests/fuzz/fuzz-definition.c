/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target: the definition-file parser (sources.d/*.source). */
#include <stdint.h>

#include "definition.h"

static void
quiet (const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer user_data)
{
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  SourceSettings *settings;

  g_log_set_default_handler (quiet, NULL);
  settings = definition_parse ("fuzz.source", (const char *) data, size, "/var/lib/sourced", &error);
  /* Either settings or an error that names the file. */
  g_assert ((settings != NULL) != (error != NULL));
  if (error)
    g_assert (g_str_has_prefix (error->message, "fuzz.source:"));
  if (settings)
    source_settings_free (settings);
  return 0;
}
