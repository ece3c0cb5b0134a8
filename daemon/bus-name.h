/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

/* The well-known name's life on the bus: taking it when an old sourced may
 * still hold it, and letting go of it at exit without ever blocking on a
 * bus that has stopped reading our socket. */

/* Takes @name. If another connection holds it (an old sourced on its way
 * out, a restart racing D-Bus activation), waits in the bus's queue for
 * the name for up to @wait_usec, serving @bus meanwhile; fails with
 * @error after that. */
gboolean bus_name_acquire (sd_bus *bus, const char *name, guint64 wait_usec, GError **error);

/* At exit: asks the bus to release @name without waiting for the answer,
 * and writes what is queued for at most @deadline_usec. TRUE if everything
 * went out; FALSE (and how much was left, in *left) if the bus did not
 * take it in time. Closing the connection releases the name either way. */
gboolean bus_name_release_and_flush (sd_bus *bus, const char *name, guint64 deadline_usec, guint64 *left);
