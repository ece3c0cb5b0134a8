/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The verbs that read: list, status, show. */
#include <stdio.h>

#include <glib/gi18n.h>

#include "journal.h"
#include "output.h"
#include "source-info.h"
#include "sourcectl.h"

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
  sourcectl_print_json (root);
}

/* The sources to show, as collect() gives them; with --json they are
 * printed here as one document, and NULL is returned as for an error:
 * either way the caller returns *ret. */
static GPtrArray *
collect_for_humans (Ctl *ctl, int *ret)
{
  g_autoptr (GPtrArray) infos = collect (ctl, ret);

  if (infos && ctl->json)
    {
      print_infos_json (infos);
      return NULL;
    }
  return g_steal_pointer (&infos);
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

int
verb_list (Ctl *ctl)
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

  infos = collect_for_humans (ctl, &ret);
  if (!infos)
    return ret;
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
      const char *row[] = {
        id, status, s->active ? "yes" : "no", paused, schedule, records, s->display_name ? s->display_name : ""
      };
      table_add_row (table, row);
    }
  table_print (table, !ctl->no_legend);
  if (!ctl->no_legend)
    {
      printf (ngettext ("\n%u source listed.\n", "\n%u sources listed.\n", infos->len), infos->len);
      if (get_manager_paused_at (ctl, &gate, NULL) >= 0 && gate)
        {
          g_autofree char *since = output_timestamp (gate, now);
          printf (_ ("All sources are held: the Manager is paused since %s.\n"), since);
        }
    }
  return ret;
}

static void
print_status (const SourceInfo *s, guint64 now)
{
  g_autofree char *schedule = schedule_text (s);

  printf ("%s%s%s%s%s", output_status_color (s->status), output_status_dot (s->status), output_use_color () ? " " : "",
          output_color_reset (), s->id);
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
            detail      ? detail
            : s->active ? " (delivering)"
                        : "");
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
  if (sourced_sink_is_postgresql (s->sink))
    {
      /* Delivered into PostgreSQL means committed: the last record is the
       * last commit. */
      g_autofree char *t = output_timestamp (s->last_record_at, now);
      printf ("            Sink: %s (last commit %s)\n", s->sink, t);
    }
  else
    printf ("            Sink: %s\n", s->sink && *s->sink ? s->sink : "(the default file)");
  if (s->last_error && *s->last_error)
    printf ("      Last error: %s\n", s->last_error);
  {
    g_autofree char *c = output_timestamp (s->created_at, now);
    g_autofree char *u = output_timestamp (s->updated_at, now);
    printf ("         Created: %s\n         Updated: %s\n", c, u);
  }
}

int
verb_status (Ctl *ctl)
{
  g_autoptr (GPtrArray) infos = NULL;
  guint64 now = (guint64) g_get_real_time ();
  int ret;

  infos = collect_for_humans (ctl, &ret);
  if (!infos)
    return ret;
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

int
verb_show (Ctl *ctl)
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
        r = sd_bus_call_method (ctl->bus, SOURCED_BUS_NAME, owned, "org.freedesktop.DBus.Properties", "GetAll", &error,
                                &reply, "s", SOURCED_SOURCE_IFACE);
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
        sourcectl_print_json (json_array_get_element (array, 0));
      else
        sourcectl_print_json (all);
    }
  return ret;
}
