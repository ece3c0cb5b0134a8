/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Outcomes to bus signals: the one place where the layers below (commit,
 * supervisor) meet the bus, through the SourcedObserver they are given. */
#include "bus-signals.h"

#include "bus-glib.h"

char *
source_bus_path (const char *id)
{
  char *path = NULL;

  if (sd_bus_path_encode (SOURCED_SOURCE_PREFIX, id, &path) < 0)
    g_error ("Out of memory");
  return path;
}

static gboolean
bus_ready (Sourced *d)
{
  return d->bus != NULL;
}

void
source_bus_emit_changes (Sourced *d, Source *src)
{
  g_auto (GStrv) names = NULL;
  g_autofree char *path = NULL;

  /* A change waiting for its commit is announced by the commit, once it is
   * durable (or never, if it fails). */
  if (!src->changed || src->rollback)
    return;
  if (!bus_ready (d) || src->is_new || src->removed)
    {
      src->changed = 0;
      return;
    }
  names = source_prop_names (src->changed);
  src->changed = 0;
  path = source_bus_path (src->id);
  int r = sd_bus_emit_properties_changed_strv (d->bus, path, SOURCED_SOURCE_IFACE, names);
  if (r < 0)
    g_warning ("Could not emit PropertiesChanged for %s: %s", src->id, g_strerror (-r));
}

static void
emit_interface (Sourced *d, Source *src, gboolean added)
{
  g_autofree char *path = NULL;
  int r;

  if (!bus_ready (d))
    return;
  path = source_bus_path (src->id);
  r = added ? sd_bus_emit_interfaces_added (d->bus, path, SOURCED_SOURCE_IFACE, NULL)
            : sd_bus_emit_interfaces_removed (d->bus, path, SOURCED_SOURCE_IFACE, NULL);
  if (r < 0)
    g_warning ("Could not emit Interfaces%s for %s: %s", added ? "Added" : "Removed", src->id, g_strerror (-r));
}

void
source_bus_emit_added (Sourced *d, Source *src)
{
  emit_interface (d, src, TRUE);
}

void
source_bus_emit_removed (Sourced *d, Source *src)
{
  emit_interface (d, src, FALSE);
}

void
manager_bus_emit (Sourced *d, const char *property)
{
  if (d->bus)
    sd_bus_emit_properties_changed (d->bus, SOURCED_MANAGER_PATH, SOURCED_MANAGER_IFACE, property, NULL);
}

static gboolean
refresh_one (gpointer key, gpointer value, gpointer user_data)
{
  Sourced *d = user_data;
  Source *src = value;

  source_refresh (src, d->paused_at != 0);
  source_bus_emit_changes (d, src);
  return FALSE;
}

void
manager_bus_gate_changed (Sourced *d)
{
  manager_bus_emit (d, "PausedAt");
  g_tree_foreach (d->sources, refresh_one, d);
}

static void
on_count_changed (Sourced *d)
{
  manager_bus_emit (d, "NSources");
}

static gboolean
on_control_waiting (Sourced *d)
{
  return d->bus_source && bus_glib_source_has_input (d->bus_source);
}

const SourcedObserver bus_signals_observer = {
  .source_changed = source_bus_emit_changes,
  .source_added = source_bus_emit_added,
  .source_removed = source_bus_emit_removed,
  .gate_changed = manager_bus_gate_changed,
  .count_changed = on_count_changed,
  .control_waiting = on_control_waiting,
};
