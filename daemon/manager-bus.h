/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "sourced.h"

/* org.sourced.Sourced1.Manager at /org/sourced/Sourced1, the object manager
 * there, and the bus filter that keeps replies under the bus's size limit. */
int manager_bus_register (Sourced *d);

extern const sd_bus_vtable manager_bus_vtable[];
