/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "journal.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <systemd/sd-journal.h>

/* A field's value (after "NAME="), or NULL. */
static char *
field (sd_journal *j, const char *name)
{
  const void *data;
  size_t len, prefix = strlen (name) + 1;

  if (sd_journal_get_data (j, name, &data, &len) < 0 || len < prefix)
    return NULL;
  return g_strndup ((const char *) data + prefix, len - prefix);
}

static void
print_entry (sd_journal *j)
{
  guint64 usec = 0;
  g_autofree char *host = field (j, "_HOSTNAME");
  g_autofree char *ident = field (j, "SYSLOG_IDENTIFIER");
  g_autofree char *comm = ident ? NULL : field (j, "_COMM");
  g_autofree char *pid = field (j, "_PID");
  g_autofree char *message = field (j, "MESSAGE");
  g_autoptr (GDateTime) t = NULL;
  g_autofree char *when = NULL;

  sd_journal_get_realtime_usec (j, &usec);
  t = g_date_time_new_from_unix_local ((gint64) (usec / G_USEC_PER_SEC));
  when = t ? g_date_time_format (t, "%b %d %H:%M:%S") : g_strdup ("?");
  printf ("%s %s %s%s%s%s: %s\n", when, host ? host : "localhost", ident ? ident : comm ? comm : "sourced",
          pid ? "[" : "", pid ? pid : "", pid ? "]" : "", message ? message : "");
}

/* Whether this user may read the system's journal (systemd's rule: root,
 * or a member of adm or systemd-journal). */
static gboolean
may_read_system_journal (void)
{
  const char *groups[] = { "adm", "systemd-journal" };

  if (geteuid () == 0)
    return TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (groups); i++)
    {
      struct group *gr = getgrnam (groups[i]);
      if (gr && group_member (gr->gr_gid))
        return TRUE;
    }
  return FALSE;
}

void
journal_print_source_lines (const char *id, guint n)
{
  sd_journal *j = NULL;
  g_autofree char *match = g_strconcat ("SOURCE_ID=", id, NULL);
  guint found = 0;
  int r;

  if (n == 0)
    return;
  printf ("\n");
  if (access ("/run/systemd/journal/socket", F_OK) < 0)
    {
      printf ("Journal: none here (journald is not running); sourced's lines went to its standard error.\n");
      return;
    }
  r = sd_journal_open (&j, SD_JOURNAL_LOCAL_ONLY);
  if (r < 0)
    {
      printf ("Journal: cannot be read: %s.\n", g_strerror (-r));
      return;
    }
  if ((r = sd_journal_add_match (j, match, 0)) < 0 || (r = sd_journal_seek_tail (j)) < 0)
    {
      printf ("Journal: cannot be read: %s.\n", g_strerror (-r));
      sd_journal_close (j);
      return;
    }
  /* Back N entries from the end, then forward: oldest first. */
  while (found < n && sd_journal_previous (j) > 0)
    found++;
  if (found == 0)
    {
      if (may_read_system_journal ())
        printf ("Journal: no lines for source '%s'.\n", id);
      else
        printf ("Journal: no lines for source '%s' that you may read; members of the groups 'adm' and "
                "'systemd-journal' see sourced's.\n", id);
      sd_journal_close (j);
      return;
    }
  for (guint i = 0; i < found; i++)
    {
      print_entry (j);
      if (i + 1 < found && sd_journal_next (j) <= 0)
        break;
    }
  sd_journal_close (j);
}
