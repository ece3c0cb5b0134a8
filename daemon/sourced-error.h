/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

/* One error domain for everything sourced reports to clients; one table maps
 * each code to its D-Bus name (see sourced-error.c), so handlers never spell
 * error names themselves. */
#define SOURCED_ERROR (sourced_error_quark ())

typedef enum {
  SOURCED_ERROR_FAILED,
  SOURCED_ERROR_NO_SUCH_SOURCE,
  SOURCED_ERROR_NOT_STOPPABLE,
  SOURCED_ERROR_ALREADY_EXISTS,
  SOURCED_ERROR_NOT_SUPPORTED,
  SOURCED_ERROR_TOO_LARGE,
  SOURCED_ERROR_PERSIST_FAILED,
  SOURCED_ERROR_INVALID_ARGS,
  SOURCED_ERROR_ACCESS_DENIED,
  SOURCED_ERROR_UNKNOWN_OBJECT,
  SOURCED_ERROR_PROPERTY_READ_ONLY,
  SOURCED_ERROR_UNKNOWN_PROPERTY,
  /* A Start overtaken by a later Stop, or the reverse. */
  SOURCED_ERROR_CANCELLED,
  /* sourced's own resources (descriptors, processes) are used up. */
  SOURCED_ERROR_LIMITS_EXCEEDED,
  /* A source's Sink= takes nothing (it cannot be opened, the disk is
   * full): the source is paused, not failed. Reaches clients as Failed. */
  SOURCED_ERROR_SINK_UNAVAILABLE,
} SourcedError;

GQuark sourced_error_quark (void);

const char *sourced_error_to_dbus_name (SourcedError code);

/* Turns a GError into an sd_bus_error at the bus edge. Errors from other
 * domains become org.freedesktop.DBus.Error.Failed with the same message.
 * Returns the negative errno sd-bus callbacks are expected to return. */
int sourced_error_to_bus (const GError *error, sd_bus_error *ret);

/* Sets @ret to the D-Bus error of @code with a printf-style message, the
 * name taken from the table; returns the negative errno to hand back to
 * sd-bus. The one way handlers set a contract error. */
int sourced_error_set_bus (sd_bus_error *ret, SourcedError code, const char *format, ...) G_GNUC_PRINTF (3, 4);

/* Replies to @call with @error. */
int sourced_error_reply (sd_bus_message *call, const GError *error);
/* Replies to @call with the D-Bus error of @code (from the table) and a
 * printf-style message. */
int sourced_error_reply_code (sd_bus_message *call, SourcedError code, const char *format, ...) G_GNUC_PRINTF (3, 4);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (sd_bus, sd_bus_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (sd_bus_message, sd_bus_message_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (sd_bus_slot, sd_bus_slot_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (sd_bus_creds, sd_bus_creds_unref)
