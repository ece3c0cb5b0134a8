/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

/* Drives an sd_bus connection from the GLib main loop: a GSource that polls
 * the bus fd with the events and timeout sd-bus asks for and calls
 * sd_bus_process() when it is ready. After each round of processing,
 * @after_dispatch runs (the group commit hooks in there). The loop is quit
 * with @on_disconnect if the connection is lost. */
typedef void (*BusGlibHook) (gpointer user_data);

GSource *bus_glib_source_new (sd_bus *bus, BusGlibHook after_dispatch, BusGlibHook on_disconnect,
                              gpointer user_data);

/* TRUE if a message waits: one sd-bus has read and not dispatched yet, or
 * bytes on the socket. Work of lower priority (data, launches) checks it
 * to hand the loop back to the bus at once. */
gboolean bus_glib_source_has_input (GSource *source);
