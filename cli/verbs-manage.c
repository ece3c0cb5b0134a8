/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The verbs that change the Manager: create, reload, pause-all,
 * unpause-all. */
#include <glib/gi18n.h>

#include "sourcectl.h"

static int
call_manager (Ctl *ctl, const char *member)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  int r = sd_bus_call_method (ctl->bus, SOURCED_BUS_NAME, SOURCED_MANAGER_PATH, SOURCED_MANAGER_IFACE, member, &error,
                              NULL, NULL);

  if (r < 0)
    {
      int code = sourcectl_report (NULL, &error, r);
      sd_bus_error_free (&error);
      return code;
    }
  return EXIT_OK;
}

int
verb_reload (Ctl *ctl)
{
  return call_manager (ctl, "Reload");
}
int
verb_pause_all (Ctl *ctl)
{
  return call_manager (ctl, "Pause");
}
int
verb_unpause_all (Ctl *ctl)
{
  return call_manager (ctl, "Unpause");
}

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

int
verb_create (Ctl *ctl)
{
  sd_bus_message *m = NULL;
  sd_bus_message *reply = NULL;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  const char *id = ctl->args[0];
  int r;

  if (!ctl->exec)
    return sourcectl_usage_error (_ ("create needs --exec COMMAND"));
  if (ctl->has_frequency && ctl->cron)
    return sourcectl_usage_error (_ ("--frequency and --cron exclude each other"));
  if (ctl->paused && ctl->stopped)
    return sourcectl_usage_error (_ ("--paused and --stopped exclude each other"));

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
