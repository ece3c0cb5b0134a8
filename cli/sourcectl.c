/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sourcectl: the command-line client of sourced, in the manner of
 * systemctl — one verb, some ids, human tables or --json. */
#include <fnmatch.h>
#include <getopt.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "journal.h"
#include "output.h"
#include "pager.h"
#include "polkit-agent.h"
#include "source-info.h"
#include "sourcectl.h"

typedef struct {
  const char *name;
  const char *usage;
  const char *summary;
  int min_args;
  int max_args; /* -1: any number */
  guint options;
  int (*run) (Ctl *ctl);
  const char *details;
} Command;

static const Command *find_command (const char *name);
static const char *bus_label = "system"; /* for messages */
static void print_command_help (const Command *cmd);

/* ---- Errors --------------------------------------------------------------- */

int
sourcectl_report (const char *id, const sd_bus_error *error, int r)
{
  if (error && sd_bus_error_is_set (error))
    {
      const char *name = error->name;

      if (g_str_equal (name, "org.sourced.Sourced1.Error.NoSuchSource"))
        {
          fprintf (stderr, "sourcectl: source '%s' not found\n", id ? id : "?");
          return EXIT_NO_SOURCE;
        }
      if (g_str_equal (name, "org.sourced.Sourced1.Error.NotStoppable"))
        {
          fprintf (stderr, "sourcectl: %s\n", error->message);
          return EXIT_NOT_STOPPABLE;
        }
      if (g_str_equal (name, "org.freedesktop.DBus.Error.ServiceUnknown") ||
          g_str_equal (name, "org.freedesktop.DBus.Error.NameHasNoOwner"))
        {
          fprintf (stderr, "sourcectl: sourced is not running (no org.sourced.Sourced1 on the %s bus)\n",
                   bus_label);
          return EXIT_FAIL;
        }
      if (g_str_equal (name, "org.freedesktop.DBus.Error.AccessDenied") ||
          g_str_equal (name, "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"))
        {
          fprintf (stderr, "sourcectl: permission denied: %s\n", error->message ? error->message : name);
          return EXIT_FAIL;
        }
      fprintf (stderr, "sourcectl: %s\n", error->message ? error->message : name);
      return EXIT_FAIL;
    }
  fprintf (stderr, "sourcectl: %s\n", g_strerror (r < 0 ? -r : r));
  return EXIT_FAIL;
}

static int
usage_error (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

static int
usage_error (const char *fmt, ...)
{
  va_list ap;

  fputs ("sourcectl: ", stderr);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputs ("\nTry 'sourcectl --help'.\n", stderr);
  return EXIT_USAGE;
}

static void
print_json (JsonNode *node)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autofree char *text = NULL;

  json_generator_set_root (gen, node);
  json_generator_set_pretty (gen, isatty (STDOUT_FILENO));
  text = json_generator_to_data (gen, NULL);
  printf ("%s\n", text);
}

/* ---- Reading -------------------------------------------------------------- */

static int
get_manager_paused_at (Ctl *ctl, guint64 *paused_at, sd_bus_error *error)
{
  return sd_bus_get_property_trivial (ctl->bus, SOURCED_BUS_NAME, SOURCED_MANAGER_PATH, SOURCED_MANAGER_IFACE,
                                      "PausedAt", error, 't', paused_at);
}

/* The sources named in args, or all of them. On a missing one, reports it
 * and remembers the exit code, and goes on with the others. */
static GPtrArray *
collect (Ctl *ctl, int *ret)
{
  g_autoptr (GPtrArray) infos = g_ptr_array_new_with_free_func ((GDestroyNotify) source_info_free);
  g_autoptr (GPtrArray) ids = NULL;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  int r;

  *ret = EXIT_OK;
  if (ctl->n_args == 0)
    {
      r = source_info_get_all (ctl->bus, &infos, &error);
      if (r >= 0)
        return g_steal_pointer (&infos);
      /* An older sourced without GetSourcesPaged: a list, then each. */
      if (!sd_bus_error_has_name (&error, SD_BUS_ERROR_UNKNOWN_METHOD))
        {
          *ret = sourcectl_report (NULL, &error, r);
          sd_bus_error_free (&error);
          return NULL;
        }
      sd_bus_error_free (&error);
      r = source_info_list_ids (ctl->bus, &ids, &error);
      if (r < 0)
        {
          *ret = sourcectl_report (NULL, &error, r);
          sd_bus_error_free (&error);
          return NULL;
        }
    }
  else
    {
      ids = g_ptr_array_new ();
      for (int i = 0; i < ctl->n_args; i++)
        g_ptr_array_add (ids, ctl->args[i]);
    }
  for (guint i = 0; i < ids->len; i++)
    {
      SourceInfo *info = NULL;
      r = source_info_get (ctl->bus, ids->pdata[i], &info, &error);
      if (r < 0)
        {
          int code = sourcectl_report (ids->pdata[i], &error, r);
          sd_bus_error_free (&error);
          if (*ret == EXIT_OK)
            *ret = code;
          /* Vanished between list and read: not the user's mistake. */
          if (ctl->n_args == 0 && code == EXIT_NO_SOURCE)
            *ret = EXIT_OK;
          continue;
        }
      g_ptr_array_add (infos, info);
    }
  return g_steal_pointer (&infos);
}

/* One JSON document: an array of Stitch-shaped source objects. */
static void
print_infos_json (GPtrArray *infos)
{
  g_autoptr (JsonNode) root = json_node_new (JSON_NODE_ARRAY);
  JsonArray *array = json_array_new ();

  for (guint i = 0; i < infos->len; i++)
    json_array_add_element (array, source_info_to_json (infos->pdata[i]));
  json_node_take_array (root, array);
  print_json (root);
}

static char *
schedule_text (const SourceInfo *s)
{
  if (s->cron_expression && *s->cron_expression)
    return g_strdup_printf ("cron %s", s->cron_expression);
  if (s->frequency_minutes)
    return g_strdup_printf ("every %u min", s->frequency_minutes);
  return g_strdup ("continuous");
}

static int
cmd_list (Ctl *ctl)
{
  const char *headers[] = { "ID", "STATUS", "ACTIVE", "PAUSED", "SCHEDULE", "RECORDS", "NAME" };
  g_autoptr (Table) table = table_new (G_N_ELEMENTS (headers), headers);
  g_autoptr (GPtrArray) infos = NULL;
  guint64 now = (guint64) g_get_real_time (), gate = 0;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  int ret;

  if (ctl->quiet)
    {
      g_autoptr (GPtrArray) ids = NULL;
      int r = source_info_list_ids (ctl->bus, &ids, &error);
      if (r < 0)
        {
          ret = sourcectl_report (NULL, &error, r);
          sd_bus_error_free (&error);
          return ret;
        }
      for (guint i = 0; i < ids->len; i++)
        printf ("%s\n", (char *) ids->pdata[i]);
      return EXIT_OK;
    }

  infos = collect (ctl, &ret);
  if (!infos)
    return ret;
  if (ctl->json)
    {
      print_infos_json (infos);
      return ret;
    }
  for (guint i = 0; i < infos->len; i++)
    {
      SourceInfo *s = infos->pdata[i];
      g_autofree char *id = g_strdup_printf ("%s%s%s%s%s", output_status_color (s->status),
                                             output_status_dot (s->status), output_use_color () ? " " : "",
                                             output_color_reset (), s->id);
      g_autofree char *status = g_strdup_printf ("%s%s%s", output_status_color (s->status), s->status,
                                                 output_color_reset ());
      g_autofree char *paused = s->paused_at || s->system_paused_at
                                  ? output_relative (s->paused_at ? s->paused_at : s->system_paused_at, now)
                                  : g_strdup ("-");
      g_autofree char *schedule = schedule_text (s);
      g_autofree char *records = g_strdup_printf ("%" G_GUINT64_FORMAT, s->records_delivered);
      if (s->system_paused_at && !s->paused_at)
        {
          g_autofree char *tmp = paused;
          paused = g_strdup_printf ("%s (by sourced)", tmp);
        }
      const char *row[] = { id, status, s->active ? "yes" : "no", paused, schedule, records,
                            s->display_name ? s->display_name : "" };
      table_add_row (table, row);
    }
  table_print (table, !ctl->no_legend);
  if (!ctl->no_legend)
    {
      printf ("\n%u source%s listed.\n", infos->len, infos->len == 1 ? "" : "s");
      if (get_manager_paused_at (ctl, &gate, NULL) >= 0 && gate)
        {
          g_autofree char *since = output_timestamp (gate, now);
          printf ("All sources are held: the Manager is paused since %s.\n", since);
        }
    }
  return ret;
}

static void
print_status (const SourceInfo *s, guint64 now)
{
  g_autofree char *schedule = schedule_text (s);

  printf ("%s%s%s%s%s", output_status_color (s->status), output_status_dot (s->status),
          output_use_color () ? " " : "", output_color_reset (), s->id);
  if (s->display_name && *s->display_name && !g_str_equal (s->display_name, s->id))
    printf (" - %s", s->display_name);
  printf ("\n");
  {
    /* As systemctl's "activating (auto-restart)": a crash loop reads as
     * one, with the attempt and when the next comes. */
    g_autofree char *detail = NULL;
    if (g_str_equal (s->status, "restarting") && s->next_retry_at)
      {
        gint64 left = ((gint64) s->next_retry_at - (gint64) now + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC;
        detail = g_strdup_printf (" (attempt %u, next in %" G_GINT64_FORMAT " s)", s->n_restarts + 1, MAX (left, 0));
      }
    else if (g_str_equal (s->status, "restarting"))
      detail = g_strdup_printf (" (attempt %u running, not delivering yet)", s->n_restarts);
    printf ("          Status: %s%s%s%s\n", output_status_color (s->status), s->status, output_color_reset (),
            detail ? detail : s->active ? " (delivering)" : "");
  }
  printf ("            Type: %s\n", s->type ? s->type : "");
  printf ("        Schedule: %s\n", schedule);
  if (s->paused_at)
    {
      g_autofree char *t = output_timestamp (s->paused_at, now);
      printf ("          Paused: since %s\n", t);
    }
  if (s->system_paused_at)
    {
      g_autofree char *t = output_timestamp (s->system_paused_at, now);
      printf ("   System paused: since %s\n", t);
    }
  if (s->main_pid)
    printf ("        Main PID: %u\n", s->main_pid);
  {
    g_autofree char *t = output_timestamp (s->last_record_at, now);
    printf ("       Delivered: %" G_GUINT64_FORMAT " records, %" G_GUINT64_FORMAT " bytes; last %s\n",
            s->records_delivered, s->bytes_delivered, t);
  }
  if (s->bookmark && *s->bookmark)
    printf ("        Bookmark: %s\n", s->bookmark);
  if (s->next_run_at)
    {
      g_autofree char *t = output_timestamp (s->next_run_at, now);
      printf ("        Next run: %s\n", t);
    }
  if (s->last_job_started_at)
    {
      g_autofree char *t = output_timestamp (s->last_job_started_at, now);
      printf ("        Last job: %s\n", t);
    }
  printf ("       Last exit: %d\n", s->last_exit_status);
  if (s->n_restarts)
    printf ("        Restarts: %u since the last start\n", s->n_restarts);
  printf ("            Sink: %s\n", s->sink && *s->sink ? s->sink : "(the default file)");
  if (s->last_error && *s->last_error)
    printf ("      Last error: %s\n", s->last_error);
  {
    g_autofree char *c = output_timestamp (s->created_at, now);
    g_autofree char *u = output_timestamp (s->updated_at, now);
    printf ("         Created: %s\n         Updated: %s\n", c, u);
  }
}

static int
cmd_status (Ctl *ctl)
{
  g_autoptr (GPtrArray) infos = NULL;
  guint64 now = (guint64) g_get_real_time ();
  int ret;

  infos = collect (ctl, &ret);
  if (!infos)
    return ret;
  if (ctl->json)
    {
      print_infos_json (infos);
      return ret;
    }
  if (ctl->n_args == 0)
    {
      guint64 gate = 0;
      if (get_manager_paused_at (ctl, &gate, NULL) >= 0)
        {
          g_autofree char *since = output_timestamp (gate, now);
          printf ("sourced: %u source%s; %s%s\n\n", infos->len, infos->len == 1 ? "" : "s",
                  gate ? "all held, the Manager is paused since " : "running", gate ? since : "");
        }
    }
  for (guint i = 0; i < infos->len; i++)
    {
      SourceInfo *s = infos->pdata[i];
      if (i > 0)
        printf ("\n");
      print_status (s, now);
      /* The source's own journal lines, as systemctl status shows a
       * unit's; only for the sources named (all of them would flood). */
      if (ctl->n_args == 0)
        continue;
      if (ctl->remote)
        printf ("\nJournal: not shown for a remote host; run sourcectl status there.\n");
      else
        journal_print_source_lines (s->id, ctl->lines);
    }
  return ret;
}

static int
cmd_show (Ctl *ctl)
{
  g_autoptr (JsonNode) all = json_node_new (JSON_NODE_ARRAY);
  JsonArray *array = json_array_new ();
  guint64 now = (guint64) g_get_real_time ();
  int ret = EXIT_OK;

  json_node_take_array (all, array);
  for (int i = 0; i < ctl->n_args; i++)
    {
      const char *id = ctl->args[i];
      sd_bus_error error = SD_BUS_ERROR_NULL;
      sd_bus_message *reply = NULL;
      const char *path;
      g_autofree char *owned = NULL;
      int r;

      r = sd_bus_call_method (ctl->bus, SOURCED_BUS_NAME, SOURCED_MANAGER_PATH, SOURCED_MANAGER_IFACE, "GetSource",
                              &error, &reply, "s", id);
      if (r >= 0 && (r = sd_bus_message_read (reply, "o", &path)) >= 0)
        owned = g_strdup (path);
      g_clear_pointer (&reply, sd_bus_message_unref);
      if (r >= 0)
        r = sd_bus_call_method (ctl->bus, SOURCED_BUS_NAME, owned, "org.freedesktop.DBus.Properties", "GetAll",
                                &error, &reply, "s", SOURCED_SOURCE_IFACE);
      if (r < 0)
        {
          int code = sourcectl_report (id, &error, r);
          sd_bus_error_free (&error);
          if (ret == EXIT_OK)
            ret = code;
          continue;
        }

      /* Every property, in the daemon's order, under its D-Bus name. */
      JsonObject *obj = json_object_new ();
      if (i > 0 && !ctl->json)
        printf ("\n");
      r = sd_bus_message_enter_container (reply, 'a', "{sv}");
      while (r >= 0 && (r = sd_bus_message_enter_container (reply, 'e', "sv")) > 0)
        {
          const char *name;
          if ((r = sd_bus_message_read_basic (reply, 's', &name)) < 0)
            break;
          if (ctl->json)
            {
              JsonNode *node = NULL;
              if ((r = source_info_variant_to_json (reply, name, &node)) < 0)
                break;
              json_object_set_member (obj, name, node);
            }
          else
            {
              g_autofree char *text = NULL;
              if ((r = source_info_variant_to_text (reply, name, now, &text)) < 0)
                break;
              printf ("%s=%s\n", name, text);
            }
          r = sd_bus_message_exit_container (reply);
        }
      sd_bus_message_unref (reply);
      if (r < 0)
        {
          json_object_unref (obj);
          return sourcectl_report (id, NULL, r);
        }
      json_array_add_object_element (array, obj);
    }
  if (ctl->json)
    {
      /* One id: one object; several: an array of them. */
      if (json_array_get_length (array) == 1 && ctl->n_args == 1)
        print_json (json_array_get_element (array, 0));
      else
        print_json (all);
    }
  return ret;
}

/* ---- Changing ------------------------------------------------------------- */

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
      if (sd_bus_error_has_name (&error, "org.sourced.Sourced1.Error.NoSuchSource"))
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
          fprintf (stderr, "sourcectl: no source matches '%s'\n", ctl->args[i]);
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
      if (hit && !(not_running && (g_str_equal (s->status, "active") || g_str_equal (s->status, "paused") ||
                                   g_str_equal (s->status, "starting"))))
        g_ptr_array_add (ids, g_strdup (s->id));
    }
  *ret = EXIT_OK;
  return g_steal_pointer (&ids);
}

static int
call_each (Ctl *ctl, const char *member)
{
  int ret = EXIT_OK;

  /* Globs (systemctl style): Pause, Unpause, Stop and Start (restart) go
   * to the Manager's bulk methods in one call; the rest are expanded here
   * and done one by one. */
  if (has_glob (ctl))
    {
      if (g_str_equal (member, "Pause") || g_str_equal (member, "Unpause") || g_str_equal (member, "Stop") ||
          g_str_equal (member, "Start"))
        {
          g_autofree char *bulk = g_strconcat (member, "Sources", NULL);
          return call_bulk (ctl, bulk, ctl->args);
        }
      g_autoptr (GPtrArray) ids = expand (ctl, g_str_equal (member, "start"), &ret);
      if (!ids)
        return ret;
      if (g_str_equal (member, "start"))
        {
          if (ids->len == 0)
            return EXIT_OK; /* all running already */
          g_ptr_array_add (ids, NULL);
          return call_bulk (ctl, "StartSources", (char **) ids->pdata);
        }
      Ctl each = *ctl;
      each.args = (char **) ids->pdata;
      each.n_args = (int) ids->len;
      return call_each (&each, member);
    }

  for (int i = 0; i < ctl->n_args; i++)
    {
      sd_bus_error error = SD_BUS_ERROR_NULL;
      g_autofree char *path = NULL;
      sd_bus_message *reply = NULL;
      const char *p;
      int r;

      /* GetSource first: an unknown id is "not found", not a bad path. */
      r = sd_bus_call_method (ctl->bus, SOURCED_BUS_NAME, SOURCED_MANAGER_PATH, SOURCED_MANAGER_IFACE, "GetSource",
                              &error, &reply, "s", ctl->args[i]);
      if (r >= 0 && (r = sd_bus_message_read (reply, "o", &p)) >= 0)
        path = g_strdup (p);
      g_clear_pointer (&reply, sd_bus_message_unref);
      if (r >= 0)
        {
          if (g_str_equal (member, "start"))
            {
              /* Like systemctl start: a running source is left alone
               * (the D-Bus Start would restart it; that is `restart`). */
              g_autofree char *status = NULL;
              r = sd_bus_get_property_string (ctl->bus, SOURCED_BUS_NAME, path, SOURCED_SOURCE_IFACE, "Status",
                                              &error, &status);
              if (r >= 0 && (g_str_equal (status, "active") || g_str_equal (status, "paused") ||
                             g_str_equal (status, "starting")))
                continue;
              if (r >= 0)
                r = sd_bus_call_method (ctl->bus, SOURCED_BUS_NAME, path, SOURCED_SOURCE_IFACE, "Start", &error,
                                        NULL, NULL);
            }
          else if (g_str_equal (member, "PausedAt"))
            {
              guint64 at = 0;
              output_parse_time (ctl->at, &at);
              r = sd_bus_set_property (ctl->bus, SOURCED_BUS_NAME, path, SOURCED_SOURCE_IFACE, "PausedAt", &error,
                                       "t", at);
            }
          else if (g_str_equal (member, "RunJob"))
            {
              guint64 started = 0;
              r = sd_bus_call_method (ctl->bus, SOURCED_BUS_NAME, path, SOURCED_SOURCE_IFACE, "RunJob", &error,
                                      &reply, NULL);
              if (r >= 0 && (r = sd_bus_message_read (reply, "t", &started)) >= 0)
                {
                  g_autofree char *t = output_iso8601 (started);
                  printf ("%s: job started at %s\n", ctl->args[i], t ? t : "?");
                }
              g_clear_pointer (&reply, sd_bus_message_unref);
            }
          else if (g_str_equal (member, "RemoveSource"))
            r = sd_bus_call_method (ctl->bus, SOURCED_BUS_NAME, SOURCED_MANAGER_PATH, SOURCED_MANAGER_IFACE,
                                    "RemoveSource", &error, NULL, "s", ctl->args[i]);
          else
            r = sd_bus_call_method (ctl->bus, SOURCED_BUS_NAME, path, SOURCED_SOURCE_IFACE, member, &error, NULL,
                                    NULL);
        }
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

static int
cmd_pause (Ctl *ctl)
{
  return call_each (ctl, ctl->at ? "PausedAt" : "Pause");
}

static int cmd_unpause (Ctl *ctl) { return call_each (ctl, "Unpause"); }
static int cmd_start (Ctl *ctl) { return call_each (ctl, "start"); }
static int cmd_restart (Ctl *ctl) { return call_each (ctl, "Start"); }
static int cmd_stop (Ctl *ctl) { return call_each (ctl, "Stop"); }
static int cmd_run (Ctl *ctl) { return call_each (ctl, "RunJob"); }
static int cmd_remove (Ctl *ctl) { return call_each (ctl, "RemoveSource"); }

static int
call_manager (Ctl *ctl, const char *member)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  int r = sd_bus_call_method (ctl->bus, SOURCED_BUS_NAME, SOURCED_MANAGER_PATH, SOURCED_MANAGER_IFACE, member,
                              &error, NULL, NULL);

  if (r < 0)
    {
      int code = sourcectl_report (NULL, &error, r);
      sd_bus_error_free (&error);
      return code;
    }
  return EXIT_OK;
}

static int cmd_reload (Ctl *ctl) { return call_manager (ctl, "Reload"); }
static int cmd_pause_all (Ctl *ctl) { return call_manager (ctl, "Pause"); }
static int cmd_unpause_all (Ctl *ctl) { return call_manager (ctl, "Unpause"); }

static int
append_setting (sd_bus_message *m, const char *key, char type, const void *value)
{
  char sig[2] = { type, 0 };
  int r = sd_bus_message_open_container (m, 'e', "sv");

  if (r >= 0)
    r = sd_bus_message_append_basic (m, 's', key);
  if (r >= 0)
    r = sd_bus_message_open_container (m, 'v', sig);
  if (r >= 0)
    r = sd_bus_message_append_basic (m, type, value);
  if (r >= 0)
    r = sd_bus_message_close_container (m);
  if (r >= 0)
    r = sd_bus_message_close_container (m);
  return r;
}

static int
cmd_create (Ctl *ctl)
{
  sd_bus_message *m = NULL;
  sd_bus_message *reply = NULL;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  const char *id = ctl->args[0];
  int r;

  if (!ctl->exec)
    return usage_error ("create needs --exec COMMAND");
  if (ctl->has_frequency && ctl->cron)
    return usage_error ("--frequency and --cron exclude each other");
  if (ctl->paused && ctl->stopped)
    return usage_error ("--paused and --stopped exclude each other");

  r = sd_bus_message_new_method_call (ctl->bus, &m, SOURCED_BUS_NAME, SOURCED_MANAGER_PATH, SOURCED_MANAGER_IFACE,
                                      "CreateSource");
  if (r >= 0)
    r = sd_bus_message_append (m, "s", id);
  if (r >= 0)
    r = sd_bus_message_open_container (m, 'a', "{sv}");
  if (r >= 0)
    r = append_setting (m, "Exec", 's', ctl->exec);
  if (r >= 0 && ctl->type)
    r = append_setting (m, "Type", 's', ctl->type);
  if (r >= 0 && ctl->name)
    r = append_setting (m, "DisplayName", 's', ctl->name);
  if (r >= 0 && ctl->has_frequency)
    r = append_setting (m, "FrequencyMinutes", 'u', &ctl->frequency);
  if (r >= 0 && ctl->cron)
    r = append_setting (m, "CronExpression", 's', ctl->cron);
  if (r >= 0 && ctl->sink)
    r = append_setting (m, "Sink", 's', ctl->sink);
  if (r >= 0 && ctl->target)
    r = append_setting (m, "Target", 's', ctl->target);
  if (r >= 0 && (ctl->paused || ctl->stopped))
    r = append_setting (m, "InitialState", 's', ctl->paused ? "paused" : "stopped");
  if (r >= 0)
    r = sd_bus_message_close_container (m);
  if (r >= 0)
    r = sd_bus_call (ctl->bus, m, 0, &error, &reply);
  sd_bus_message_unref (m);
  sd_bus_message_unref (reply);
  if (r < 0)
    {
      int code = sourcectl_report (id, &error, r);
      sd_bus_error_free (&error);
      return code;
    }
  return EXIT_OK;
}

static const Command commands[] = {
  { "list", "", "List sources: status, pause, schedule, records", 0, 0, OPT_JSON | OPT_NO_LEGEND | OPT_QUIET,
    cmd_list, "  --json        print a JSON array of source objects\n"
              "  --no-legend   no header and no summary line\n"
              "  -q, --quiet   print the ids only, one per line\n" },
  { "status", "[ID...]", "Show the state of sources (all without ID), with their journal lines", 0, -1,
    OPT_JSON | OPT_LINES, cmd_status,
    "  --json        print a JSON array of source objects\n" },
  { "show", "ID...", "Show every property of sources", 1, -1, OPT_JSON, cmd_show,
    "  --json        print the properties as a JSON object (an array for several ids)\n" },
  { "pause", "ID... [--at TIME]", "Pause sources (Stitch: set paused_at)", 1, -1, OPT_AT, cmd_pause,
    "  --at TIME     pause as of TIME (ISO 8601, e.g. 2019-06-01T00:00:00Z, UTC\n"
    "                unless a zone is given); the pause takes effect at once\n" },
  { "unpause", "ID...", "Unpause sources (clears a pause made by sourced too)", 1, -1, 0, cmd_unpause, NULL },
  { "start", "ID...", "Start sources that are not running", 1, -1, 0, cmd_start, NULL },
  { "restart", "ID...", "Start sources, restarting running ones", 1, -1, 0, cmd_restart, NULL },
  { "stop", "ID...", "Stop sources", 1, -1, 0, cmd_stop, NULL },
  { "run", "ID...", "Run one job of scheduled sources now, even if paused", 1, -1, 0, cmd_run, NULL },
  { "create", "ID --exec CMD [OPTIONS]", "Create a source at run time", 1, 1, OPT_CREATE, cmd_create,
    "  --exec CMD          the worker's command line (required)\n"
    "  --type exec|singer  what it writes (default exec)\n"
    "  --frequency MIN     run a job every MIN minutes\n"
    "  --cron EXPR         run jobs on a 5-field cron schedule (UTC)\n"
    "  --paused            create it paused\n"
    "  --stopped           create it stopped\n"
    "  --sink FILE         the JSON-lines file its records go to\n"
    "  --target CMD        a Singer target to feed instead of a file\n"
    "  --name NAME         its display name\n" },
  { "remove", "ID...", "Stop and forget sources made with create", 1, -1, 0, cmd_remove, NULL },
  { "reload", "", "Re-read the definition files", 0, 0, 0, cmd_reload, NULL },
  { "pause-all", "", "Pause the Manager: hold every source", 0, 0, 0, cmd_pause_all, NULL },
  { "unpause-all", "", "Unpause the Manager", 0, 0, 0, cmd_unpause_all, NULL },
  { "monitor", "", "Print one line per change until Ctrl-C", 0, 0, OPT_JSON, cmd_monitor,
    "  --json        one JSON object per line\n" },
};

static const Command *
find_command (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_str_equal (commands[i].name, name))
      return &commands[i];
  return NULL;
}

static void
print_help (void)
{
  printf ("sourcectl [OPTIONS...] COMMAND [ID...]\n\n"
          "Query and control sourced, the data source supervisor.\n\n"
          "Commands:\n");
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_autofree char *left = g_strdup_printf ("%s %s", commands[i].name, commands[i].usage);
      printf ("  %-28s %s\n", left, commands[i].summary);
    }
  printf ("\nOptions:\n"
          "  -h, --help           show this help, or a command's with COMMAND --help\n"
          "      --version        show the version\n"
          "      --system         talk to sourced on the system bus (default)\n"
          "      --user           talk to sourced on the session bus\n"
          "  -H, --host=[USER@]HOST  talk to sourced on HOST's system bus over SSH\n"
          "      --json           print JSON (reading commands; monitor: JSON lines)\n"
          "      --no-legend      no table header and summary\n"
          "  -n, --lines=N        status: how many journal lines to show (default 10)\n"
          "      --no-pager       do not pipe the output into a pager\n"
          "      --no-ask-password  do not ask polkit for a password (on a terminal, changing\n"
          "                       commands on the system bus may ask, as systemctl does)\n"
          "\nColours are used when standard output is a terminal and NO_COLOR is unset.\n"
          "\nExit status:\n"
          "  0  success\n"
          "  1  failure (sourced said no, or is not running)\n"
          "  2  wrong usage\n"
          "  4  no such source\n"
          "  5  the source is not in a stoppable state\n");
}

/* Commands that change something: polkit may want a password for them. */
static gboolean
changes_something (const Command *cmd)
{
  static const char *const names[] = { "pause", "unpause", "start", "restart", "stop", "run", "create", "remove",
                                        "reload", "pause-all", "unpause-all", NULL };
  return g_strv_contains (names, cmd->name);
}

static void
print_command_help (const Command *cmd)
{
  printf ("sourcectl [OPTIONS...] %s %s\n\n%s.\n", cmd->name, cmd->usage, cmd->summary);
  if (cmd->details)
    printf ("\nOptions:\n%s", cmd->details);
  printf ("\nCommon options: --system, --user, -H HOST; see sourcectl --help.\n");
}

static int
connect_bus (Ctl *ctl, gboolean user, const char *host)
{
  int r;

  if (host)
    {
      ctl->bus_name = host;
      r = sd_bus_open_system_remote (&ctl->bus, host);
    }
  else if (user)
    {
      ctl->bus_name = "user";
      r = sd_bus_open_user (&ctl->bus);
    }
  else
    {
      ctl->bus_name = "system";
      r = sd_bus_open_system (&ctl->bus);
    }
  bus_label = ctl->bus_name;
  if (r < 0)
    {
      fprintf (stderr, "sourcectl: cannot connect to the %s bus: %s\n", ctl->bus_name, g_strerror (-r));
      return EXIT_FAIL;
    }
  return EXIT_OK;
}

enum {
  ARG_VERSION = 0x100,
  ARG_SYSTEM,
  ARG_USER,
  ARG_JSON,
  ARG_NO_LEGEND,
  ARG_AT,
  ARG_EXEC,
  ARG_TYPE,
  ARG_FREQUENCY,
  ARG_CRON,
  ARG_PAUSED,
  ARG_STOPPED,
  ARG_SINK,
  ARG_TARGET,
  ARG_NAME,
  ARG_NO_ASK_PASSWORD,
  ARG_NO_PAGER,
};

int
main (int argc, char **argv)
{
  static const struct option options[] = {
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, ARG_VERSION },
    { "system", no_argument, NULL, ARG_SYSTEM },
    { "user", no_argument, NULL, ARG_USER },
    { "host", required_argument, NULL, 'H' },
    { "json", no_argument, NULL, ARG_JSON },
    { "no-legend", no_argument, NULL, ARG_NO_LEGEND },
    { "quiet", no_argument, NULL, 'q' },
    { "at", required_argument, NULL, ARG_AT },
    { "exec", required_argument, NULL, ARG_EXEC },
    { "type", required_argument, NULL, ARG_TYPE },
    { "frequency", required_argument, NULL, ARG_FREQUENCY },
    { "cron", required_argument, NULL, ARG_CRON },
    { "paused", no_argument, NULL, ARG_PAUSED },
    { "stopped", no_argument, NULL, ARG_STOPPED },
    { "sink", required_argument, NULL, ARG_SINK },
    { "target", required_argument, NULL, ARG_TARGET },
    { "name", required_argument, NULL, ARG_NAME },
    { "no-ask-password", no_argument, NULL, ARG_NO_ASK_PASSWORD },
    { "lines", required_argument, NULL, 'n' },
    { "no-pager", no_argument, NULL, ARG_NO_PAGER },
    {},
  };
  Ctl ctl = { 0 };
  gboolean help = FALSE, user = FALSE, system_bus = FALSE, ask_password = TRUE, pager = TRUE;
  const char *host = NULL;
  const Command *cmd;
  int c, ret;

  setlocale (LC_ALL, "");
  output_init ();
  opterr = 0;
  ctl.lines = 10;
  while ((c = getopt_long (argc, argv, "hH:qn:", options, NULL)) >= 0)
    {
      switch (c)
        {
        case 'h': help = TRUE; break;
        case ARG_VERSION: printf ("sourcectl %s\n", SOURCED_VERSION); return EXIT_OK;
        case ARG_SYSTEM: system_bus = TRUE; break;
        case ARG_USER: user = TRUE; break;
        case 'H': host = optarg; break;
        case ARG_JSON: ctl.json = TRUE; ctl.given |= OPT_JSON; break;
        case ARG_NO_LEGEND: ctl.no_legend = TRUE; ctl.given |= OPT_NO_LEGEND; break;
        case 'q': ctl.quiet = TRUE; ctl.given |= OPT_QUIET; break;
        case ARG_AT: ctl.at = optarg; ctl.given |= OPT_AT; break;
        case ARG_EXEC: ctl.exec = optarg; ctl.given |= OPT_CREATE; break;
        case ARG_TYPE: ctl.type = optarg; ctl.given |= OPT_CREATE; break;
        case ARG_CRON: ctl.cron = optarg; ctl.given |= OPT_CREATE; break;
        case ARG_SINK: ctl.sink = optarg; ctl.given |= OPT_CREATE; break;
        case ARG_TARGET: ctl.target = optarg; ctl.given |= OPT_CREATE; break;
        case ARG_NAME: ctl.name = optarg; ctl.given |= OPT_CREATE; break;
        case ARG_NO_ASK_PASSWORD: ask_password = FALSE; break;
        case ARG_NO_PAGER: pager = FALSE; break;
        case 'n':
          {
            char *end = NULL;
            guint64 v = g_ascii_strtoull (optarg, &end, 10);
            if (!*optarg || *end || v > 100000)
              return usage_error ("--lines wants a number of lines from 0 to 100000, not '%s'", optarg);
            ctl.lines = (guint) v;
            ctl.given |= OPT_LINES;
            break;
          }
        case ARG_PAUSED: ctl.paused = TRUE; ctl.given |= OPT_CREATE; break;
        case ARG_STOPPED: ctl.stopped = TRUE; ctl.given |= OPT_CREATE; break;
        case ARG_FREQUENCY:
          {
            char *end = NULL;
            guint64 v = g_ascii_strtoull (optarg, &end, 10);
            if (!*optarg || *end || v == 0 || v > G_MAXUINT32)
              return usage_error ("--frequency wants a number of minutes, not '%s'", optarg);
            ctl.frequency = (guint32) v;
            ctl.has_frequency = TRUE;
            ctl.given |= OPT_CREATE;
            break;
          }
        case '?':
        default:
          if (optopt)
            return usage_error ("option '-%c' is unknown or lacks its value", optopt);
          return usage_error ("option '%s' is unknown or lacks its value", argv[optind - 1]);
        }
    }

  if (optind >= argc)
    {
      if (help)
        {
          print_help ();
          return EXIT_OK;
        }
      return usage_error ("no command given");
    }
  if (g_str_equal (argv[optind], "help"))
    {
      if (optind + 1 < argc && (cmd = find_command (argv[optind + 1])))
        print_command_help (cmd);
      else if (optind + 1 < argc)
        return usage_error ("unknown command '%s'", argv[optind + 1]);
      else
        print_help ();
      return EXIT_OK;
    }
  cmd = find_command (argv[optind]);
  if (!cmd)
    return usage_error ("unknown command '%s'", argv[optind]);
  if (help)
    {
      print_command_help (cmd);
      return EXIT_OK;
    }
  ctl.args = argv + optind + 1;
  ctl.n_args = argc - optind - 1;
  if (ctl.n_args < cmd->min_args)
    return usage_error ("%s needs %s", cmd->name, cmd->min_args == 1 && cmd->max_args == 1 ? "an ID" : "at least one ID");
  if (cmd->max_args >= 0 && ctl.n_args > cmd->max_args)
    return usage_error ("%s takes %s", cmd->name, cmd->max_args == 0 ? "no arguments" : "one ID");
  if (ctl.given & ~cmd->options)
    return usage_error ("an option given does not apply to '%s'; see sourcectl %s --help", cmd->name, cmd->name);
  if ((user ? 1 : 0) + (system_bus ? 1 : 0) + (host ? 1 : 0) > 1)
    return usage_error ("--system, --user and --host exclude each other");
  if (ctl.at)
    {
      guint64 at;
      if (!output_parse_time (ctl.at, &at))
        return usage_error ("--at wants a time in ISO 8601 such as 2019-06-01T00:00:00Z, not '%s'", ctl.at);
    }

  ctl.remote = host != NULL;
  ret = connect_bus (&ctl, user, host);
  if (ret != EXIT_OK)
    return ret;
  /* On the local system bus, a changing call may need an administrator:
   * allowed to ask, with polkit's text agent on this terminal. */
  if (!user && !host && ask_password && changes_something (cmd))
    {
      sd_bus_set_allow_interactive_authorization (ctl.bus, 1);
      polkit_agent_open ();
    }
  if (pager && cmd->run == cmd_status)
    pager_open ();
  ret = cmd->run (&ctl);
  polkit_agent_close ();
  fflush (stdout);
  pager_close ();
  sd_bus_flush_close_unref (ctl.bus);
  return ret;
}
