/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "sourced.h"

/* org.sourced.Sourced1.Source: one fallback vtable under
 * /org/sourced/Sourced1/source, a find callback and a node enumerator, so
 * no source costs a registration of its own. */

int source_bus_register (Sourced *d);

/* Appends every property of @src as an a{sv}, exactly as GetAll gives it. */
int source_bus_append_all (sd_bus_message *reply, Source *src);
/* An upper bound of what source_bus_append_all() adds, in bytes, with the
 * source's object path; computed from SOURCE_PROPERTIES. */
gsize source_bus_size_bound (const Source *src);

/* The model changes of a Pause/Unpause/PausedAt (0 unpauses) and of a
 * Start, tracked for the commit being collected; shared with the bulk
 * methods (bulk-bus.c). */
void source_bus_apply_paused_at (Sourced *d, Source *src, guint64 paused_at);
void source_bus_apply_start (Sourced *d, Source *src, guint64 now);

/* From the bus filter: Properties.Set on a source. Returns 1 if handled. */
int source_bus_handle_set (Sourced *d, sd_bus_message *m);

/* The interface's table: properties, methods, and what each signals. */
extern const sd_bus_vtable source_bus_vtable[];
