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

/* The errno sd-bus callbacks return with each error. */
static const int error_errnos[] = {
#define SOURCED_ERROR_ERRNO(code, dbus_name, errnum, exit_code) [SOURCED_ERROR_##code] = errnum,
  SOURCED_ERRORS (SOURCED_ERROR_ERRNO)
#undef SOURCED_ERROR_ERRNO
};

int
sourced_error_to_bus (const GError *error, sd_bus_error *ret)
{
  const char *name = "org.freedesktop.DBus.Error.Failed";
  int errnum = EIO;

  if (error->domain == SOURCED_ERROR && error->code >= 0 && error->code < SOURCED_N_ERRORS)
    {
      name = sourced_error_dbus_name ((SourcedError) error->code);
      errnum = error_errnos[error->code];
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
