/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

#include "sourced-api.h"

/* One error domain for everything sourced reports to clients, made from the
 * one table of errors (SOURCED_ERRORS in common/sourced-api.h), so handlers
 * never spell error names themselves. */
#define SOURCED_ERROR (sourced_error_quark ())


GQuark sourced_error_quark (void);


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
