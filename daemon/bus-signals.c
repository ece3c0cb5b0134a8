/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Outcomes to bus signals: the one place where the layers below (commit,
 * supervisor) meet the bus, through the SourcedObserver they are given. */
#include "bus-signals.h"

#include <sys/ioctl.h>
#include <linux/sockios.h>

#include "bus-glib.h"

/* The bus counts as stalled when our queue has not shrunk for this long:
 * a live bus takes a message within milliseconds, even a bulk call's
 * 50,000 signals within a second or two. */
#define STALL_USEC (2 * G_USEC_PER_SEC)
#define BACKLOG_CHECK_MS 250

static gboolean
bus_ready (Sourced *d)
{
  return d->bus != NULL;
}

static gboolean on_backlog_timer (gpointer user_data);

/* Signals go out from the commit's idle, after the dispatch that caused
 * them: whatever queued one makes sure the queue is looked at. */
static void
watch_backlog (Sourced *d)
{
  if (!d->backlog_timer)
    d->backlog_timer = g_timeout_add (BACKLOG_CHECK_MS, on_backlog_timer, d);
}

void
bus_signals_source_changed (Sourced *d, Source *src)
{
  g_auto (GStrv) names = NULL;
  g_autofree char *path = NULL;

  /* A change waiting for its commit is announced by the commit, once it is
   * durable (or never, if it fails). */
  if (!src->changed || src->rollback)
    return;
  if (!(src->changed & SOURCE_PROPS_EMITTING))
    {
      src->changed = 0; /* counters only: they are read, not signalled */
      return;
    }
  if (!bus_ready (d) || src->is_new || src->removed)
    {
      src->changed = 0;
      return;
    }
  if (d->bus_stalled)
    {
      /* Held: the union of what changed, sent as the last state later. */
      gpointer old = NULL;
      if (!d->held_changes)
        d->held_changes = g_hash_table_new_full (NULL, NULL, (GDestroyNotify) source_unref, NULL);
      if (g_hash_table_lookup_extended (d->held_changes, src, NULL, &old))
        {
          d->held_coalesced++;
          g_hash_table_insert (d->held_changes, source_ref (src), GUINT_TO_POINTER (GPOINTER_TO_UINT (old) | src->changed));
        }
      else
        g_hash_table_insert (d->held_changes, source_ref (src), GUINT_TO_POINTER (src->changed));
      src->changed = 0;
      return;
    }
  names = source_prop_names (src->changed);
  src->changed = 0;
  path = sourced_source_path (src->id);
  int r = sd_bus_emit_properties_changed_strv (d->bus, path, SOURCED_SOURCE_IFACE, names);
  watch_backlog (d);
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
  path = sourced_source_path (src->id);
  r = added ? sd_bus_emit_interfaces_added (d->bus, path, SOURCED_SOURCE_IFACE, NULL)
            : sd_bus_emit_interfaces_removed (d->bus, path, SOURCED_SOURCE_IFACE, NULL);
  if (r < 0)
    g_warning ("Could not emit Interfaces%s for %s: %s", added ? "Added" : "Removed", src->id, g_strerror (-r));
}

void
bus_signals_source_added (Sourced *d, Source *src)
{
  emit_interface (d, src, TRUE);
}

void
bus_signals_source_removed (Sourced *d, Source *src)
{
  emit_interface (d, src, FALSE);
}

void
bus_signals_manager_changed (Sourced *d, const char *property)
{
  if (!d->bus)
    return;
  if (d->bus_stalled)
    {
      d->held_manager |= g_str_equal (property, "PausedAt") ? 1 : 2;
      return;
    }
  sd_bus_emit_properties_changed (d->bus, SOURCED_MANAGER_PATH, SOURCED_MANAGER_IFACE, property, NULL);
  watch_backlog (d);
}

/* The bus reads again: each held object's last state, once. */
static void
send_held (Sourced *d)
{
  GHashTableIter iter;
  gpointer key, mask;
  guint sent = 0;
  guint held_manager = d->held_manager;

  d->bus_stalled = FALSE;
  d->held_manager = 0;
  if (held_manager & 1)
    bus_signals_manager_changed (d, "PausedAt");
  if (held_manager & 2)
    bus_signals_manager_changed (d, "NSources");
  if (d->held_changes)
    {
      g_autoptr (GHashTable) held = g_steal_pointer (&d->held_changes);
      g_hash_table_iter_init (&iter, held);
      while (g_hash_table_iter_next (&iter, &key, &mask))
        {
          Source *src = key;
          src->changed |= GPOINTER_TO_UINT (mask);
          if (!src->removed && !src->is_new)
            sent++;
          bus_signals_source_changed (d, src);
        }
    }
  g_message ("The bus takes sourced's messages again after %.1f s: sent the last state of %u source%s "
             "(%" G_GUINT64_FORMAT " earlier changes folded into them)",
             (g_get_monotonic_time () - d->stalled_since) / (double) G_USEC_PER_SEC, sent, sent == 1 ? "" : "s",
             d->held_coalesced);
  d->held_coalesced = 0;
}

/* What we sent that the bus has not read yet: the bytes still in the
 * socket (SIOCOUTQ) plus, weighed as their usual size, the messages sd-bus
 * could not even write into it. The socket alone holds hundreds of
 * kilobytes, so a stalled bus may leave sd-bus's own queue empty. */
static guint64
unread_by_bus (Sourced *d)
{
  uint64_t queued = 0;
  int outq = 0;

  if (sd_bus_get_n_queued_write (d->bus, &queued) < 0)
    queued = 0;
  if (ioctl (sd_bus_get_fd (d->bus), SIOCOUTQ, &outq) < 0)
    outq = 0;
  return (guint64) MAX (outq, 0) + queued * 256;
}

void
bus_signals_check_backlog (Sourced *d)
{
  guint64 queued;
  gint64 now = g_get_monotonic_time ();

  if (!d->bus)
    return;
  queued = unread_by_bus (d);
  /* The clock of a stall starts when a backlog appears, and again each
   * time the bus takes some of it. */
  if (queued == 0 || d->backlog_last == 0 || queued < d->backlog_last)
    d->backlog_progress = now;
  d->backlog_last = queued;
  if (!d->bus_stalled && queued > 0 && now - d->backlog_progress >= STALL_USEC)
    {
      d->bus_stalled = TRUE;
      d->stalled_since = d->backlog_progress;
      g_warning ("The bus has read none of sourced's last %" G_GUINT64_FORMAT " bytes for %.1f s: a client "
                 "subscribed to its signals has probably stopped reading them, and dbus-daemon stops reading a "
                 "sender whose undelivered messages reach its max_incoming_bytes. Replies wait; signals are held "
                 "and coalesced per source until the bus reads again",
                 (guint64) queued, (now - d->backlog_progress) / (double) G_USEC_PER_SEC);
    }
  else if (d->bus_stalled && queued == 0)
    send_held (d);
  /* Looked at again while anything waits: nothing else may wake us. */
  if (queued > 0 || d->bus_stalled)
    watch_backlog (d);
}

static gboolean
on_backlog_timer (gpointer user_data)
{
  Sourced *d = user_data;

  d->backlog_timer = 0;
  bus_signals_check_backlog (d);
  return G_SOURCE_REMOVE;
}

void
bus_signals_clear (Sourced *d)
{
  g_clear_handle_id (&d->backlog_timer, g_source_remove);
  g_clear_pointer (&d->held_changes, g_hash_table_unref);
}

static gboolean
refresh_one (gpointer key, gpointer value, gpointer user_data)
{
  Sourced *d = user_data;
  Source *src = value;

  source_refresh (src, d->paused_at != 0);
  bus_signals_source_changed (d, src);
  return FALSE;
}

void
bus_signals_gate_changed (Sourced *d)
{
  bus_signals_manager_changed (d, "PausedAt");
  g_tree_foreach (d->sources, refresh_one, d);
}

static void
on_count_changed (Sourced *d)
{
  bus_signals_manager_changed (d, "NSources");
}

static gboolean
on_control_waiting (Sourced *d)
{
  return d->bus_source && bus_glib_source_has_input (d->bus_source);
}

const SourcedObserver bus_signals_observer = {
  .source_changed = bus_signals_source_changed,
  .source_added = bus_signals_source_added,
  .source_removed = bus_signals_source_removed,
  .gate_changed = bus_signals_gate_changed,
  .count_changed = on_count_changed,
  .control_waiting = on_control_waiting,
};
