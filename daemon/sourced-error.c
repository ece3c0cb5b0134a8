/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sourced-error.h"

#include <errno.h>

/* Not G_DEFINE_QUARK: its cache is writable file-scope state, and errors
 * are rare enough for GLib's own quark table to answer each time. */
GQuark
sourced_error_quark (void)
{
  return g_quark_from_static_string ("sourced-error-quark");
}

static const struct {
  SourcedError code;
  const char *name;
  int errnum;
} error_map[] = {
  { SOURCED_ERROR_FAILED, "org.freedesktop.DBus.Error.Failed", EIO },
  { SOURCED_ERROR_NO_SUCH_SOURCE, "org.sourced.Sourced1.Error.NoSuchSource", ENOENT },
  { SOURCED_ERROR_NOT_STOPPABLE, "org.sourced.Sourced1.Error.NotStoppable", EBUSY },
  { SOURCED_ERROR_ALREADY_EXISTS, "org.sourced.Sourced1.Error.AlreadyExists", EEXIST },
  { SOURCED_ERROR_NOT_SUPPORTED, "org.sourced.Sourced1.Error.NotSupported", EOPNOTSUPP },
  { SOURCED_ERROR_TOO_LARGE, "org.sourced.Sourced1.Error.TooLarge", E2BIG },
  { SOURCED_ERROR_PERSIST_FAILED, "org.sourced.Sourced1.Error.PersistFailed", EIO },
  { SOURCED_ERROR_INVALID_ARGS, "org.freedesktop.DBus.Error.InvalidArgs", EINVAL },
  { SOURCED_ERROR_ACCESS_DENIED, "org.freedesktop.DBus.Error.AccessDenied", EACCES },
  { SOURCED_ERROR_UNKNOWN_OBJECT, "org.freedesktop.DBus.Error.UnknownObject", ENOENT },
  { SOURCED_ERROR_PROPERTY_READ_ONLY, "org.freedesktop.DBus.Error.PropertyReadOnly", EROFS },
  { SOURCED_ERROR_UNKNOWN_PROPERTY, "org.freedesktop.DBus.Error.UnknownProperty", ENOENT },
  { SOURCED_ERROR_CANCELLED, "org.sourced.Sourced1.Error.Cancelled", ECANCELED },
  { SOURCED_ERROR_LIMITS_EXCEEDED, "org.freedesktop.DBus.Error.LimitsExceeded", EMFILE },
  { SOURCED_ERROR_SINK_UNAVAILABLE, "org.freedesktop.DBus.Error.Failed", EIO },
};

const char *
sourced_error_to_dbus_name (SourcedError code)
{
  for (gsize i = 0; i < G_N_ELEMENTS (error_map); i++)
    if (error_map[i].code == code)
      return error_map[i].name;
  return "org.freedesktop.DBus.Error.Failed";
}

int
sourced_error_to_bus (const GError *error, sd_bus_error *ret)
{
  const char *name = "org.freedesktop.DBus.Error.Failed";
  int errnum = EIO;

  if (error->domain == SOURCED_ERROR)
    for (gsize i = 0; i < G_N_ELEMENTS (error_map); i++)
      if (error_map[i].code == (SourcedError) error->code)
        {
          name = error_map[i].name;
          errnum = error_map[i].errnum;
          break;
        }

  sd_bus_error_set (ret, name, error->message);
  return -errnum;
}

static int G_GNUC_PRINTF (3, 0)
set_bus_valist (sd_bus_error *ret, SourcedError code, const char *format, va_list ap)
{
  g_autoptr (GError) error = g_error_new_valist (SOURCED_ERROR, (gint) code, format, ap);
  return sourced_error_to_bus (error, ret);
}

int
sourced_error_set_bus (sd_bus_error *ret, SourcedError code, const char *format, ...)
{
  va_list ap;
  int r;

  va_start (ap, format);
  r = set_bus_valist (ret, code, format, ap);
  va_end (ap);
  return r;
}

int
sourced_error_reply_code (sd_bus_message *call, SourcedError code, const char *format, ...)
{
  sd_bus_error e = SD_BUS_ERROR_NULL;
  va_list ap;
  int r;

  va_start (ap, format);
  set_bus_valist (&e, code, format, ap);
  va_end (ap);
  r = sd_bus_reply_method_error (call, &e);
  sd_bus_error_free (&e);
  return r;
}

int
sourced_error_reply (sd_bus_message *call, const GError *error)
{
  sd_bus_error e = SD_BUS_ERROR_NULL;
  int r;

  sourced_error_to_bus (error, &e);
  r = sd_bus_reply_method_error (call, &e);
  sd_bus_error_free (&e);
  return r;
}
