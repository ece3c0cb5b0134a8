/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "sourced.h"

/* The observer that turns what became durable into D-Bus signals
 * (PropertiesChanged, InterfacesAdded/Removed), and tells the data plane
 * when a bus message waits. main.c hands it to the daemon object. */
extern const SourcedObserver bus_signals_observer;

/* A source's object path (sd_bus_path_encode of its id). */
char *source_bus_path (const char *id);

/* Emits PropertiesChanged for what @src->changed says, once, and clears
 * it; nothing while the change waits for its commit. */
void source_bus_emit_changes (Sourced *d, Source *src);
void source_bus_emit_added (Sourced *d, Source *src);
void source_bus_emit_removed (Sourced *d, Source *src);

/* Called after each dispatch: notices a bus that has stopped taking our
 * messages (a subscriber that does not read makes dbus-daemon stop reading
 * us) and one that takes them again. While it is stalled, signals are held
 * and coalesced per object; when it reads again, each object's last state
 * goes out once. */
void bus_signals_check_backlog (Sourced *d);
/* Drops what is held (at exit). */
void bus_signals_clear (Sourced *d);

/* PropertiesChanged for one Manager property. */
void manager_bus_emit (Sourced *d, const char *property);
/* After the gate (Manager.PausedAt) changed and was persisted: every
 * source's Active is recomputed and announced. */
void manager_bus_gate_changed (Sourced *d);
