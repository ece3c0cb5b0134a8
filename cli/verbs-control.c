/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The verbs that act on sources: pause, unpause, start, restart, stop,
 * run, remove. Each is an Action; what an action calls on the bus, for one
 * source and for a glob, is in its row of the actions table. */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include <glib/gi18n.h>

#include "output.h"
#include "source-info.h"
#include "sourcectl.h"

typedef enum {
  ACTION_PAUSE, /* Pause, or PausedAt with --at */
  ACTION_UNPAUSE,
  ACTION_START,   /* Start, unless it runs already (systemctl start) */
  ACTION_RESTART, /* Start: restarts a running source */
  ACTION_STOP,
  ACTION_RUN_JOB,
  ACTION_REMOVE,
} Action;

static const struct {
  /* The Manager's bulk method that does it for the ids and globs in one
   * durable change; NULL: globs are expanded here and done one by one. */
  const char *bulk_method;
  /* Leave sources that run already alone (start, not restart). */
  gboolean skip_running;
} actions[] = {
  /* A row per action. */
  /* clang-format off */
  [ACTION_PAUSE] = { "PauseSources", FALSE },
  [ACTION_UNPAUSE] = { "UnpauseSources", FALSE },
  [ACTION_START] = { "StartSources", TRUE },
  [ACTION_RESTART] = { "StartSources", FALSE },
  [ACTION_STOP] = { "StopSources", FALSE },
  [ACTION_RUN_JOB] = { NULL, FALSE },
  [ACTION_REMOVE] = { NULL, FALSE },
  /* clang-format on */
};

/* Running, for `start`: what Start would restart. */
static gboolean
is_running (const char *status)
{
  return g_str_equal (status, "active") || g_str_equal (status, "paused") || g_str_equal (status, "starting");
}

static gboolean
has_glob (Ctl *ctl)
{
  for (int i = 0; i < ctl->n_args; i++)
    if (strpbrk (ctl->args[i], "*?["))
      return TRUE;
  return FALSE;
}

/* One call of a Manager bulk method (PauseSources, …) for all the
 * patterns: one durable change on the daemon's side. Rows that failed are
 * reported one a line; the exit status is that of the first. */
static int
call_bulk (Ctl *ctl, const char *member, char **patterns)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  sd_bus_message *m = NULL, *reply = NULL;
  const char *id, *outcome, *message;
  int ret = EXIT_OK, r;

  r = sd_bus_message_new_method_call (ctl->bus, &m, SOURCED_BUS_NAME, SOURCED_MANAGER_PATH, SOURCED_MANAGER_IFACE,
                                      member);
  if (r >= 0)
    r = sd_bus_message_append_strv (m, patterns);
  if (r >= 0)
    r = sd_bus_call (ctl->bus, m, 0, &error, &reply);
  sd_bus_message_unref (m);
  if (r < 0)
    {
      /* NoSuchSource names the pattern that matched nothing. */
      if (sourced_error_from_dbus_name (error.name) == SOURCED_ERROR_NO_SUCH_SOURCE)
        {
          fprintf (stderr, "sourcectl: %s\n", error.message);
          ret = EXIT_NO_SOURCE;
        }
      else
        ret = sourcectl_report (NULL, &error, r);
      sd_bus_error_free (&error);
      return ret;
    }
  r = sd_bus_message_enter_container (reply, 'a', "(sss)");
  while (r >= 0 && (r = sd_bus_message_read (reply, "(sss)", &id, &outcome, &message)) > 0)
    {
      if (g_str_equal (outcome, "done") || g_str_equal (outcome, "unchanged"))
        continue;
      sd_bus_error row = SD_BUS_ERROR_MAKE_CONST (outcome, message);
      int code = sourcectl_report (id, &row, -EIO);
      if (ret == EXIT_OK)
        ret = code;
    }
  sd_bus_message_unref (reply);
  return r < 0 ? sourcectl_report (NULL, NULL, r) : ret;
}

/* The ids of all sources matching the patterns in ctl->args (fnmatch), in
 * id order; with @not_running, only those not running already. NULL after
 * reporting an error (a pattern matching nothing: exit 4). */
static GPtrArray *
expand (Ctl *ctl, gboolean not_running, int *ret)
{
  g_autoptr (GPtrArray) infos = NULL;
  g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  sd_bus_error error = SD_BUS_ERROR_NULL;
  int r = source_info_get_all (ctl->bus, &infos, &error);

  if (r < 0)
    {
      *ret = sourcectl_report (NULL, &error, r);
      sd_bus_error_free (&error);
      return NULL;
    }
  for (int i = 0; i < ctl->n_args; i++)
    {
      gboolean hit = FALSE;
      for (guint k = 0; k < infos->len; k++)
        hit |= fnmatch (ctl->args[i], ((SourceInfo *) infos->pdata[k])->id, 0) == 0;
      if (!hit)
        {
          fprintf (stderr, _ ("sourcectl: no source matches '%s'\n"), ctl->args[i]);
          *ret = EXIT_NO_SOURCE;
          return NULL;
        }
    }
  for (guint k = 0; k < infos->len; k++)
    {
      SourceInfo *s = infos->pdata[k];
      gboolean hit = FALSE;
      for (int i = 0; i < ctl->n_args && !hit; i++)
        hit = fnmatch (ctl->args[i], s->id, 0) == 0;
      if (hit && !(not_running && is_running (s->status)))
        g_ptr_array_add (ids, g_strdup (s->id));
    }
  *ret = EXIT_OK;
  return g_steal_pointer (&ids);
}

/* @action on the source at @path (@id, for messages). */
static int
act_on_one (Ctl *ctl, Action action, const char *id, const char *path, sd_bus_error *error)
{
  switch (action)
    {
    case ACTION_PAUSE:
      if (ctl->at)
        {
          guint64 at = 0;
          output_parse_time (ctl->at, &at);
          return sd_bus_set_property (ctl->bus, SOURCED_BUS_NAME, path, SOURCED_SOURCE_IFACE, "PausedAt", error, "t",
                                      at);
        }
      return sd_bus_call_method (ctl->bus, SOURCED_BUS_NAME, path, SOURCED_SOURCE_IFACE, "Pause", error, NULL, NULL);
    case ACTION_UNPAUSE:
      return sd_bus_call_method (ctl->bus, SOURCED_BUS_NAME, path, SOURCED_SOURCE_IFACE, "Unpause", error, NULL, NULL);
    case ACTION_START:
    case ACTION_RESTART:
      if (actions[action].skip_running)
        {
          /* Like systemctl start: a running source is left alone (the
           * D-Bus Start would restart it; that is `restart`). */
          g_autofree char *status = NULL;
          int r = sd_bus_get_property_string (ctl->bus, SOURCED_BUS_NAME, path, SOURCED_SOURCE_IFACE, "Status", error,
                                              &status);
          if (r < 0 || is_running (status))
            return r;
        }
      return sd_bus_call_method (ctl->bus, SOURCED_BUS_NAME, path, SOURCED_SOURCE_IFACE, "Start", error, NULL, NULL);
    case ACTION_STOP:
      return sd_bus_call_method (ctl->bus, SOURCED_BUS_NAME, path, SOURCED_SOURCE_IFACE, "Stop", error, NULL, NULL);
    case ACTION_RUN_JOB:
      {
        g_autoptr (sd_bus_message) reply = NULL;
        guint64 started = 0;
        int r = sd_bus_call_method (ctl->bus, SOURCED_BUS_NAME, path, SOURCED_SOURCE_IFACE, "RunJob", error, &reply,
                                    NULL);
        if (r >= 0 && (r = sd_bus_message_read (reply, "t", &started)) >= 0)
          {
            g_autofree char *t = output_iso8601 (started);
            printf (_ ("%s: job started at %s\n"), id, t ? t : "?");
          }
        return r;
      }
    case ACTION_REMOVE:
      return sd_bus_call_method (ctl->bus, SOURCED_BUS_NAME, SOURCED_MANAGER_PATH, SOURCED_MANAGER_IFACE,
                                 "RemoveSource", error, NULL, "s", id);
    }
  g_assert_not_reached ();
}

static int
act (Ctl *ctl, Action action)
{
  int ret = EXIT_OK;

  /* Globs (systemctl style) go to the Manager's bulk method in one call
   * where there is one; the rest are expanded here and done one by one.
   * A time (--at) has no bulk method either. */
  if (has_glob (ctl))
    {
      const char *bulk = ctl->at ? NULL : actions[action].bulk_method;
      if (bulk && !actions[action].skip_running)
        return call_bulk (ctl, bulk, ctl->args);
      g_autoptr (GPtrArray) ids = expand (ctl, actions[action].skip_running, &ret);
      if (!ids)
        return ret;
      if (bulk)
        {
          if (ids->len == 0)
            return EXIT_OK; /* all running already */
          g_ptr_array_add (ids, NULL);
          return call_bulk (ctl, bulk, (char **) ids->pdata);
        }
      Ctl each = *ctl;
      each.args = (char **) ids->pdata;
      each.n_args = (int) ids->len;
      return act (&each, action);
    }

  for (int i = 0; i < ctl->n_args; i++)
    {
      sd_bus_error error = SD_BUS_ERROR_NULL;
      g_autoptr (sd_bus_message) reply = NULL;
      const char *path;
      int r;

      /* GetSource first: an unknown id is "not found", not a bad path. */
      r = sd_bus_call_method (ctl->bus, SOURCED_BUS_NAME, SOURCED_MANAGER_PATH, SOURCED_MANAGER_IFACE, "GetSource",
                              &error, &reply, "s", ctl->args[i]);
      if (r >= 0 && (r = sd_bus_message_read (reply, "o", &path)) >= 0)
        r = act_on_one (ctl, action, ctl->args[i], path, &error);
      if (r < 0)
        {
          int code = sourcectl_report (ctl->args[i], &error, r);
          if (ret == EXIT_OK)
            ret = code;
        }
      sd_bus_error_free (&error);
    }
  return ret;
}

int
verb_pause (Ctl *ctl)
{
  return act (ctl, ACTION_PAUSE);
}
int
verb_unpause (Ctl *ctl)
{
  return act (ctl, ACTION_UNPAUSE);
}
int
verb_start (Ctl *ctl)
{
  return act (ctl, ACTION_START);
}
int
verb_restart (Ctl *ctl)
{
  return act (ctl, ACTION_RESTART);
}
int
verb_stop (Ctl *ctl)
{
  return act (ctl, ACTION_STOP);
}
int
verb_run (Ctl *ctl)
{
  return act (ctl, ACTION_RUN_JOB);
}
int
verb_remove (Ctl *ctl)
{
  return act (ctl, ACTION_REMOVE);
}
