/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "sourced.h"

/* The observer that turns what became durable into D-Bus signals
 * (PropertiesChanged, InterfacesAdded/Removed), and tells the data plane
 * when a bus message waits. main.c hands it to the daemon object. */
extern const SourcedObserver bus_signals_observer;

/* Emits PropertiesChanged for what @src->changed says, once, and clears
 * it; nothing while the change waits for its commit. The observer's
 * source_changed, as the two below are its source_added and
 * source_removed. */
void bus_signals_source_changed (Sourced *d, Source *src);
void bus_signals_source_added (Sourced *d, Source *src);
void bus_signals_source_removed (Sourced *d, Source *src);

/* Called after each dispatch: notices a bus that has stopped taking our
 * messages (a subscriber that does not read makes dbus-daemon stop reading
 * us) and one that takes them again. While it is stalled, signals are held
 * and coalesced per object; when it reads again, each object's last state
 * goes out once. */
void bus_signals_check_backlog (Sourced *d);
/* Drops what is held (at exit). */
void bus_signals_clear (Sourced *d);

/* PropertiesChanged for one Manager property. */
void bus_signals_manager_changed (Sourced *d, const char *property);
/* After the gate (Manager.PausedAt) changed and was persisted: every
 * source's Active is recomputed and announced. */
void bus_signals_gate_changed (Sourced *d);
