/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Bulk reads and bulk control on the real daemon: GetSourcesPaged's pages
 * and their edges, and PauseSources / UnpauseSources / StartSources /
 * StopSources with ids and globs, one durable commit each. */
#include <signal.h>
#include <unistd.h>

#include "harness.h"

#define MGR_IFACE "org.sourced.Sourced1.Manager"
#define MGR_PATH "/org/sourced/Sourced1"
#define ERR(name) "org.sourced.Sourced1.Error." name

static const char *const sleeper = "[Source]\nExec=sleep 1000\n";

/* ---- GetSourcesPaged -------------------------------------------------------- */

/* One page: the ids in it (in order), and next_after. */
static GPtrArray *
get_page (Harness *h, const char *after, guint32 max, char **next_after)
{
  GPtrArray *ids = g_ptr_array_new_with_free_func (g_free);
  sd_bus_message *reply = NULL;
  const char *path, *next;

  harness_call (h, MGR_PATH, MGR_IFACE, "GetSourcesPaged", NULL, &reply, "su", after, max);
  g_assert_cmpint (sd_bus_message_enter_container (reply, 'a', "(oa{sv})"), >=, 0);
  while (sd_bus_message_enter_container (reply, 'r', "oa{sv}") > 0)
    {
      const char *name, *id = NULL;
      guint n_props = 0;
      g_assert_cmpint (sd_bus_message_read (reply, "o", &path), >=, 0);
      g_assert_cmpint (sd_bus_message_enter_container (reply, 'a', "{sv}"), >=, 0);
      while (sd_bus_message_enter_container (reply, 'e', "sv") > 0)
        {
          g_assert_cmpint (sd_bus_message_read (reply, "s", &name), >=, 0);
          if (g_str_equal (name, "Id"))
            g_assert_cmpint (sd_bus_message_read (reply, "v", "s", &id), >=, 0);
          else
            g_assert_cmpint (sd_bus_message_skip (reply, "v"), >=, 0);
          g_assert_cmpint (sd_bus_message_exit_container (reply), >=, 0);
          n_props++;
        }
      g_assert_cmpint (sd_bus_message_exit_container (reply), >=, 0);
      g_assert_cmpint (sd_bus_message_exit_container (reply), >=, 0);
      /* Every property GetAll has (23), and the path of that very id. */
      g_assert_cmpuint (n_props, ==, 23);
      g_assert_nonnull (id);
      g_autofree char *expected = source_path (id);
      g_assert_cmpstr (path, ==, expected);
      g_ptr_array_add (ids, g_strdup (id));
    }
  g_assert_cmpint (sd_bus_message_exit_container (reply), >=, 0);
  g_assert_cmpint (sd_bus_message_read (reply, "s", &next), >=, 0);
  *next_after = g_strdup (next);
  sd_bus_message_unref (reply);
  return ids;
}

static void
test_get_sources_paged (void)
{
  g_autoptr (Harness) h = harness_new ();
  g_autoptr (GPtrArray) page = NULL;
  g_autofree char *next = NULL;
  sd_bus_error e = SD_BUS_ERROR_NULL;

  harness_start (h, NULL);
  /* No sources: an empty page, and the end. */
  page = get_page (h, "", 10, &next);
  g_assert_cmpuint (page->len, ==, 0);
  g_assert_cmpstr (next, ==, "");

  for (guint i = 0; i < 6; i++)
    {
      g_autofree char *id = g_strdup_printf ("s%u", i * 2); /* s0 s2 … s10 */
      harness_write_definition (h, id, "[Source]\nExec=sleep 1000\nInitialState=stopped\n");
    }
  harness_call (h, MGR_PATH, MGR_IFACE, "Reload", NULL, NULL, NULL);

  /* Exactly one page: all six, and no next. */
  g_clear_pointer (&page, g_ptr_array_unref);
  g_clear_pointer (&next, g_free);
  page = get_page (h, "", 6, &next);
  g_assert_cmpuint (page->len, ==, 6);
  g_assert_cmpstr (next, ==, "");
  g_assert_cmpstr (page->pdata[0], ==, "s0");
  g_assert_cmpstr (page->pdata[1], ==, "s10"); /* id order: strcmp */

  /* Pages of two; between them one id goes and one comes. */
  g_clear_pointer (&page, g_ptr_array_unref);
  g_clear_pointer (&next, g_free);
  page = get_page (h, "", 2, &next);
  g_assert_cmpuint (page->len, ==, 2);
  g_assert_cmpstr (next, ==, "s10");
  harness_remove_definition (h, "s2");
  harness_write_definition (h, "s3", "[Source]\nExec=sleep 1000\nInitialState=stopped\n");
  harness_write_definition (h, "a-before", "[Source]\nExec=sleep 1000\nInitialState=stopped\n");
  harness_call (h, MGR_PATH, MGR_IFACE, "Reload", NULL, NULL, NULL);
  g_autofree char *after = g_steal_pointer (&next);
  g_clear_pointer (&page, g_ptr_array_unref);
  page = get_page (h, after, 100, &next);
  /* s2 (removed) is absent; s3 (added, after "s10") appears; a-before
   * (added, before the cursor) does not. */
  g_assert_cmpuint (page->len, ==, 4);
  g_assert_cmpstr (page->pdata[0], ==, "s3");
  g_assert_cmpstr (page->pdata[1], ==, "s4");
  g_assert_cmpstr (page->pdata[3], ==, "s8");
  g_assert_cmpstr (next, ==, "");

  /* max 0 is refused; a huge max is sized by the daemon, not refused. */
  g_assert_cmpint (harness_call (h, MGR_PATH, MGR_IFACE, "GetSourcesPaged", &e, NULL, "su", "", 0), <, 0);
  g_assert_cmpstr (e.name, ==, "org.freedesktop.DBus.Error.InvalidArgs");
  sd_bus_error_free (&e);
  g_clear_pointer (&page, g_ptr_array_unref);
  g_clear_pointer (&next, g_free);
  page = get_page (h, "", G_MAXUINT32, &next);
  g_assert_cmpuint (page->len, ==, 7);
}

/* Pages the daemon sizes itself: under a small message limit, many short
 * pages, never TooLarge, every source once. */
static void
test_get_sources_paged_sized (void)
{
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *after = g_strdup ("");
  guint total = 0, pages = 0;

  for (guint i = 0; i < 40; i++)
    {
      g_autofree char *id = g_strdup_printf ("src%02u", i);
      harness_write_definition (h, id, "[Source]\nExec=sleep 1000\nInitialState=stopped\n");
    }
  harness_start (h, "--max-message-size=8192", NULL);
  do
    {
      g_autofree char *next = NULL;
      g_autoptr (GPtrArray) page = get_page (h, after, G_MAXUINT32, &next);
      g_assert_cmpuint (page->len, >, 0);
      total += page->len;
      pages++;
      g_free (after);
      after = g_steal_pointer (&next);
    }
  while (after[0]);
  g_assert_cmpuint (total, ==, 40);
  g_assert_cmpuint (pages, >, 1);
}

/* ---- Bulk control ------------------------------------------------------------ */

/* Calls a bulk method; returns its rows as "id outcome" lines, or NULL with
 * @e set. */
static char *
bulk_call (Harness *h, const char *member, sd_bus_error *e, const char *const *patterns)
{
  sd_bus_message *m = NULL, *reply = NULL;
  GString *rows = g_string_new (NULL);
  const char *id, *outcome, *message;
  int r;

  g_assert_cmpint (sd_bus_message_new_method_call (h->client, &m, "org.sourced.Sourced1", MGR_PATH, MGR_IFACE,
                                                   member), >=, 0);
  g_assert_cmpint (sd_bus_message_append_strv (m, (char **) patterns), >=, 0);
  r = sd_bus_call (h->client, m, 30 * G_USEC_PER_SEC, e, &reply);
  sd_bus_message_unref (m);
  if (r < 0)
    {
      g_string_free (rows, TRUE);
      return NULL;
    }
  g_assert_cmpint (sd_bus_message_enter_container (reply, 'a', "(sss)"), >=, 0);
  while (sd_bus_message_read (reply, "(sss)", &id, &outcome, &message) > 0)
    g_string_append_printf (rows, "%s %s\n", id, outcome);
  sd_bus_message_unref (reply);
  harness_sync (h);
  return g_string_free (rows, FALSE);
}

static void
test_bulk_control (void)
{
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *fault = g_build_filename (h->dir, "fault", NULL);
  const char *env[] = { "SOURCED_FAULT_FILE", fault, NULL };
  sd_bus_error e = SD_BUS_ERROR_NULL;
  char *rows;

  h->extra_env = g_strdupv ((char **) env);
  harness_write_definition (h, "shop-a", sleeper);
  harness_write_definition (h, "shop-b", sleeper);
  harness_write_definition (h, "shop-c", sleeper);
  harness_write_definition (h, "misc", sleeper);
  harness_write_definition (h, "idle", "[Source]\nExec=sleep 1000\nInitialState=stopped\n");
  harness_start (h, NULL);

  /* A glob: one row each, one PropertiesChanged each, the rest untouched. */
  harness_clear_signals (h);
  rows = bulk_call (h, "PauseSources", NULL, (const char *const[]) { "shop-*", NULL });
  g_assert_cmpstr (rows, ==, "shop-a done\nshop-b done\nshop-c done\n");
  g_free (rows);
  g_assert_cmpuint (harness_count_changed (h, "shop-b", "PausedAt"), ==, 1);
  g_assert_cmpuint (harness_count_changed (h, "misc", NULL), ==, 0);
  g_autofree char *st = harness_get_s (h, "shop-c", "Status");
  g_assert_cmpstr (st, ==, "paused");
  rows = bulk_call (h, "PauseSources", NULL, (const char *const[]) { "shop-a", "misc", NULL });
  g_assert_cmpstr (rows, ==, "misc done\nshop-a unchanged\n");
  g_free (rows);

  /* A pattern that matches nothing: an error naming it; nothing changes. */
  g_assert_null (bulk_call (h, "UnpauseSources", &e, (const char *const[]) { "shop-*", "nope*", NULL }));
  g_assert_cmpstr (e.name, ==, ERR ("NoSuchSource"));
  g_assert_nonnull (strstr (e.message, "'nope*'"));
  sd_bus_error_free (&e);
  g_assert_cmpuint (harness_get_t (h, "shop-a", "PausedAt"), !=, 0);

  /* Bad input is bounded. */
  g_assert_null (bulk_call (h, "PauseSources", &e, (const char *const[]) { NULL }));
  g_assert_cmpstr (e.name, ==, "org.freedesktop.DBus.Error.InvalidArgs");
  sd_bus_error_free (&e);
  g_assert_null (bulk_call (h, "PauseSources", &e, (const char *const[]) { "", NULL }));
  g_assert_cmpstr (e.name, ==, "org.freedesktop.DBus.Error.InvalidArgs");
  sd_bus_error_free (&e);
  {
    g_autoptr (GPtrArray) many = g_ptr_array_new_with_free_func (g_free);
    for (guint i = 0; i < 5000; i++)
      g_ptr_array_add (many, g_strdup_printf ("p%u", i));
    g_ptr_array_add (many, NULL);
    g_assert_null (bulk_call (h, "PauseSources", &e, (const char *const *) many->pdata));
    g_assert_cmpstr (e.name, ==, "org.freedesktop.DBus.Error.InvalidArgs");
    sd_bus_error_free (&e);
  }

  /* All or nothing: a failed write applies none of them. */
  g_assert_true (g_file_set_contents (fault, "", -1, NULL));
  g_assert_null (bulk_call (h, "UnpauseSources", &e, (const char *const[]) { "*", NULL }));
  g_assert_cmpstr (e.name, ==, ERR ("PersistFailed"));
  sd_bus_error_free (&e);
  g_assert_no_errno (unlink (fault));
  g_assert_cmpuint (harness_get_t (h, "shop-a", "PausedAt"), !=, 0);
  g_assert_cmpuint (harness_get_t (h, "misc", "PausedAt"), !=, 0);

  /* Stop everything: the stopped one is a row, not a call error; the reply
   * comes once the workers have exited. */
  rows = bulk_call (h, "StopSources", NULL, (const char *const[]) { "*", NULL });
  g_assert_cmpstr (rows, ==, "idle org.sourced.Sourced1.Error.NotStoppable\nmisc done\nshop-a done\nshop-b done\n"
                             "shop-c done\n");
  g_free (rows);
  g_free (st);
  st = harness_get_s (h, "shop-b", "Status");
  g_assert_cmpstr (st, ==, "stopped");
  g_assert_cmpuint (harness_get_u (h, "shop-b", "MainPID"), ==, 0);

  /* Start a group: replies once the workers run. */
  rows = bulk_call (h, "StartSources", NULL, (const char *const[]) { "shop-?", NULL });
  g_assert_cmpstr (rows, ==, "shop-a done\nshop-b done\nshop-c done\n");
  g_free (rows);
  g_assert_cmpuint (harness_get_u (h, "shop-a", "MainPID"), !=, 0);
  rows = bulk_call (h, "UnpauseSources", NULL, (const char *const[]) { "shop-[ab]", NULL });
  g_assert_cmpstr (rows, ==, "shop-a done\nshop-b done\n");
  g_free (rows);
  g_free (st);
  st = harness_get_s (h, "shop-a", "Status");
  g_assert_cmpstr (st, ==, "active");

  /* Durable: what the replies said is what a restart finds. */
  harness_kill (h, SIGKILL);
  harness_start (h, NULL);
  g_assert_cmpuint (harness_get_t (h, "shop-a", "PausedAt"), ==, 0);
  g_assert_cmpuint (harness_get_t (h, "shop-c", "PausedAt"), !=, 0);
  g_free (st);
  st = harness_get_s (h, "misc", "Status");
  g_assert_cmpstr (st, ==, "stopped");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/bulk/get-sources-paged", test_get_sources_paged);
  g_test_add_func ("/bulk/get-sources-paged-sized", test_get_sources_paged_sized);
  g_test_add_func ("/bulk/control", test_bulk_control);
  return g_test_run ();
}
