/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon object's source table: lookup, insert, forget. In the library
 * (not in main.c) so that every layer above it, and the unit tests, link
 * without the program. */
#include "sourced.h"

Source *
sourced_lookup (Sourced *d, const char *id)
{
  Source *src = g_tree_lookup (d->sources, id);
  return src && !src->removed ? src : NULL;
}

void
sourced_insert (Sourced *d, Source *src)
{
  src->daemon = d;
  src->hooks = d->source_hooks;
  g_tree_insert (d->sources, src->id, src);
  d->n_sources++;
}

void
sourced_forget (Sourced *d, Source *src)
{
  if (g_tree_lookup (d->sources, src->id) != src)
    return;
  d->n_sources--;
  g_tree_remove (d->sources, src->id);
}

void
sourced_emit_source_changed (Sourced *d, Source *src)
{
  if (d->observer && d->observer->source_changed)
    d->observer->source_changed (d, src);
}

void
sourced_emit_source_added (Sourced *d, Source *src)
{
  if (d->observer && d->observer->source_added)
    d->observer->source_added (d, src);
}

void
sourced_emit_source_removed (Sourced *d, Source *src)
{
  if (d->observer && d->observer->source_removed)
    d->observer->source_removed (d, src);
}

void
sourced_emit_gate_changed (Sourced *d)
{
  if (d->observer && d->observer->gate_changed)
    d->observer->gate_changed (d);
}

void
sourced_emit_count_changed (Sourced *d)
{
  if (d->observer && d->observer->count_changed)
    d->observer->count_changed (d);
}

gboolean
sourced_control_waiting (Sourced *d)
{
  return d->observer && d->observer->control_waiting && d->observer->control_waiting (d);
}

guint64
sourced_now (Sourced *d)
{
  return clock_now (&d->clock);
}

guint
sourced_timeout_ms (Sourced *d, guint64 usec)
{
  return clock_timeout_ms (&d->clock, usec);
}

char *
sourced_source_path (const char *id)
{
  char *path = NULL;

  if (sd_bus_path_encode (SOURCED_SOURCE_PREFIX, id, &path) < 0)
    g_error ("Out of memory");
  return path;
}
