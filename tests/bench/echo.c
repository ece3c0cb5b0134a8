/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "echo.h"

#include <signal.h>
#include <sys/wait.h>

static gboolean
echo_owns_name (gpointer h)
{
  return harness_name_has_owner (h, ECHO_NAME);
}

GPid
echo_start (Harness *h, const char *const *args)
{
  const char *binary = g_getenv ("ECHO_SERVICE_BINARY");
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_auto (GStrv) env = g_environ_setenv (g_get_environ (), "DBUS_SESSION_BUS_ADDRESS", h->bus_address, TRUE);
  g_autoptr (GError) error = NULL;
  GPid pid;

  g_ptr_array_add (argv, (gpointer) (binary ? binary : "build/tests/echo-service"));
  for (; args && *args; args++)
    g_ptr_array_add (argv, (gpointer) *args);
  g_ptr_array_add (argv, NULL);
  if (!g_spawn_async (NULL, (char **) argv->pdata, env, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, &error))
    g_error ("Cannot start the reference service: %s", error->message);
  if (!harness_wait_until (echo_owns_name, h, 10000))
    g_error ("The reference service did not take %s", ECHO_NAME);
  return pid;
}

void
echo_stop (GPid pid)
{
  kill (pid, SIGTERM);
  waitpid (pid, NULL, 0);
}
