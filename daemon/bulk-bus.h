/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "sourced.h"

/* The Manager's bulk control: PauseSources, UnpauseSources, StartSources,
 * StopSources (as patterns) -> a(sss). Patterns are ids or shell globs
 * (fnmatch), as systemctl takes unit globs; a pattern that matches nothing
 * is NoSuchSource and changes nothing. All matched sources change in one
 * durable commit (one fdatasync): all, or none and PersistFailed. The reply
 * has a row per matched source, in id order: (id, "done" | "unchanged" |
 * an error name, message); Start and Stop reply once every worker runs or
 * has exited, as the single calls do. Authorized once per call. */

/* fnmatch (pattern, id, 0) == 0 for ASCII ids, without its locale cost. */
gboolean bulk_glob_match (const char *pattern, const char *id);

int bulk_bus_pause (sd_bus_message *m, void *userdata, sd_bus_error *error);
int bulk_bus_unpause (sd_bus_message *m, void *userdata, sd_bus_error *error);
int bulk_bus_start (sd_bus_message *m, void *userdata, sd_bus_error *error);
int bulk_bus_stop (sd_bus_message *m, void *userdata, sd_bus_error *error);
