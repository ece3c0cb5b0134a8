/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sourced-api.h"

#include <stddef.h>
#include <string.h>

static const char *const error_names[] = {
#define SOURCED_ERROR_NAME(code, name, errnum, exit_code) [SOURCED_ERROR_##code] = name,
  SOURCED_ERRORS (SOURCED_ERROR_NAME)
#undef SOURCED_ERROR_NAME
};

const char *
sourced_error_dbus_name (SourcedError code)
{
  if ((unsigned) code >= SOURCED_N_ERRORS)
    code = SOURCED_ERROR_FAILED;
  return error_names[code];
}

int
sourced_error_from_dbus_name (const char *name)
{
  if (!name)
    return -1;
  for (int i = 0; i < SOURCED_N_ERRORS; i++)
    if (strcmp (error_names[i], name) == 0)
      return i;
  return -1;
}

int
sourced_sink_is_postgresql (const char *sink)
{
  return sink && (strncmp (sink, "postgresql://", 13) == 0 || strncmp (sink, "postgres://", 11) == 0);
}
