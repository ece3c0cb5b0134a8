/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests for the pure parts: ids and settings, the definition parser,
 * the store's encoding and recovery, the scheduler, the state machine. */
#include <glib/gstdio.h>
#include <time.h>

#include "definition.h"
#include "sink-rules.h"
#include "pg-sql.h"
#include "bulk-bus.h"
#include <fnmatch.h>
#include "clock.h"
#include "scheduler.h"
#include "settings.h"
#include "singer.h"
#include "source.h"
#include "sourced-error.h"
#include "store.h"

static void
test_ids (void)
{
  g_autofree char *id64 = g_strnfill (64, 'a');
  g_autofree char *id65 = g_strnfill (65, 'a');

  g_assert_true (source_id_is_valid ("shopify"));
  g_assert_true (source_id_is_valid ("a.b_c-D9"));
  g_assert_true (source_id_is_valid (id64));
  g_assert_false (source_id_is_valid (""));
  g_assert_false (source_id_is_valid (id65));
  g_assert_false (source_id_is_valid ("bad id!"));
  g_assert_false (source_id_is_valid (".hidden"));
  g_assert_false (source_id_is_valid ("-opt"));
  g_assert_false (source_id_is_valid ("a/b"));
  g_assert_false (source_id_is_valid ("é"));
}

static void
test_definition_ok (void)
{
  const char *text = "# comment\n[Source]\nDisplayName=Shop\\sify\nType=singer      # inline note\n"
                     "Exec=/usr/bin/tap --config \"/etc/x y.json\"\nFrequencyMinutes=60\nInitialState=paused\n"
                     "StopTimeoutSec=3\n";
  g_autoptr (GError) error = NULL;
  g_autoptr (SourceSettings) s = definition_parse ("x.source", text, strlen (text), NULL, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (s->display_name, ==, "Shop ify");
  g_assert_cmpint (s->type, ==, SOURCE_TYPE_SINGER);
  g_assert_cmpstr (s->exec, ==, "/usr/bin/tap --config \"/etc/x y.json\"");
  g_assert_cmpuint (s->frequency_minutes, ==, 60);
  g_assert_cmpint (s->initial_state, ==, INITIAL_STATE_PAUSED);
  g_assert_cmpuint (s->stop_timeout_sec, ==, 3);
  g_assert_cmpuint (s->restart_sec, ==, DEFAULT_RESTART_SEC);
  g_assert_cmpuint (s->max_failures, ==, DEFAULT_MAX_FAILURES);
}

static void
check_definition_error (const char *text, const char *expected)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SourceSettings) s = definition_parse ("f.source", text, strlen (text), "/var/lib/sourced", &error);

  g_assert_null (s);
  g_assert_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS);
  if (!strstr (error->message, expected))
    g_error ("expected '%s' in '%s'", expected, error->message);
}

static void
test_definition_errors (void)
{
  check_definition_error ("[Source]\nExec=true\nnot a line\n", "f.source:3:");
  check_definition_error ("[Source]\nExec=true\nBogus=1\n", "f.source:3: Unknown setting 'Bogus'");
  check_definition_error ("[Source]\nExec=true\nFrequencyMinutes=-1\n", "f.source:3: Invalid value '-1' for setting 'FrequencyMinutes'");
  check_definition_error ("[Source]\nExec=true\nFrequencyMinutes=12abc\n", "FrequencyMinutes");
  check_definition_error ("[Source]\nExec=true\nType=rsync\n", "f.source:3: Invalid value 'rsync' for setting 'Type'");
  check_definition_error ("[Source]\nExec=true\nInitialState=on\n", "InitialState");
  check_definition_error ("[Source]\nExec=\"unterminated\n", "f.source:2:");
  check_definition_error ("[Source]\nDisplayName=x\n", "Missing setting 'Exec'");
  check_definition_error ("Exec=true\n", "f.source:1: key outside the [Source] group");
  check_definition_error ("[Other]\nExec=true\n", "f.source:1: unknown group");
  check_definition_error ("[Source\nExec=true\n", "f.source:1: malformed group header");
  check_definition_error ("", "no [Source] group");
  check_definition_error ("[Source]\nExec=true\nCronExpression=* * *\n", "CronExpression");
  check_definition_error ("[Source]\nExec=true\nCronExpression=0 * * * *\nFrequencyMinutes=5\n", "not both");
  check_definition_error ("[Source]\nExec=true\nSink=relative/path\n", "Sink");
  check_definition_error ("[Source]\nExec=true\nSink=/a\nTarget=b\n", "not both");
  check_definition_error ("[Source]\nExec=tr\xff\n", "UTF-8");
  check_definition_error ("[Source]\nExec=true\nRestartSec=0\n", "RestartSec");
  g_autofree char *long_exec = g_strnfill (5000, 'x');
  g_autofree char *huge = g_strdup_printf ("[Source]\nExec=%s\n", long_exec);
  check_definition_error (huge, "longer than 4096");
}

static void
test_definition_filename (void)
{
  g_autofree char *a = definition_id_from_filename ("shop.source");
  g_autofree char *b = definition_id_from_filename ("bad id.source");
  g_autofree char *c = definition_id_from_filename ("shop.conf");

  g_assert_cmpstr (a, ==, "shop");
  g_assert_null (b);
  g_assert_null (c);
}

static void
test_settings_typed (void)
{
  g_autoptr (SourceSettings) s = source_settings_new ();
  g_autoptr (GError) error = NULL;
  guint32 u = 7;
  const char *str = "x";

  g_assert_true (source_settings_set_typed (s, "MaxFailures", 'u', &u, &error));
  g_assert_cmpuint (s->max_failures, ==, 7);
  g_assert_false (source_settings_set_typed (s, "MaxFailures", 's', &str, &error));
  g_assert_nonnull (strstr (error->message, "'MaxFailures'"));
  g_clear_error (&error);
  g_assert_false (source_settings_set_typed (s, "Nope", 's', &str, &error));
  g_assert_cmpstr (error->message, ==, "Unknown setting 'Nope'");
}

/* ---- store ------------------------------------------------------------- */

static char *
make_tmp (void)
{
  return g_dir_make_tmp ("sourced-unit-XXXXXX", NULL);
}

static void
rm_rf (const char *path)
{
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", path);
  g_assert_cmpint (system (cmd), ==, 0);
}

static void
test_store_roundtrip (void)
{
  g_autofree char *dir = make_tmp ();
  g_autoptr (GError) error = NULL;

  {
    g_autoptr (Store) st = store_new (dir);
    g_autoptr (GKeyFile) kf = store_load (st, &error);
    g_assert_no_error (error);
    g_assert_true (store_append (st, "[Source a]\nPausedAt=5\n", 22, &error));
    g_assert_true (store_append (st, "[Source b]\nPausedAt=6\n", 22, &error));
    g_assert_true (store_append (st, "[Source a]\nPausedAt=7\n", 22, &error));
    g_assert_cmpuint (store_get_n_syncs (st), ==, 3); /* one fsync'd write per transaction */
  }
  {
    g_autoptr (Store) st = store_new (dir);
    g_autoptr (GKeyFile) kf = store_load (st, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (g_key_file_get_uint64 (kf, "Source a", "PausedAt", NULL), ==, 7);
    g_assert_cmpuint (g_key_file_get_uint64 (kf, "Source b", "PausedAt", NULL), ==, 6);
    /* A snapshot folds the journal in; later appends go on top. */
    g_assert_true (store_write_snapshot (st, "[Source a]\nPausedAt=7\n[Source b]\nPausedAt=6\n", 44, &error));
    g_assert_true (store_append (st, "[Source b]\nPausedAt=8\n", 22, &error));
  }
  {
    g_autoptr (Store) st = store_new (dir);
    g_autoptr (GKeyFile) kf = store_load (st, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (g_key_file_get_uint64 (kf, "Source a", "PausedAt", NULL), ==, 7);
    g_assert_cmpuint (g_key_file_get_uint64 (kf, "Source b", "PausedAt", NULL), ==, 8);
  }
  rm_rf (dir);
}

/* Loads the store in @dir, which must load cleanly and hold @paused_at for
 * source a; returns it, ready for appends. */
static Store *
load_expecting (const char *dir, guint64 paused_at)
{
  Store *st = store_new (dir);
  g_autoptr (GError) error = NULL;
  g_autoptr (GKeyFile) kf = store_load (st, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (g_key_file_get_uint64 (kf, "Source a", "PausedAt", NULL), ==, paused_at);
  return st;
}

static void
test_store_torn_and_corrupt (void)
{
  g_autofree char *dir = make_tmp ();
  g_autofree char *journal = g_build_filename (dir, "state.journal", NULL);
  g_autofree char *data = NULL;
  g_autoptr (GError) error = NULL;
  gsize len;

  {
    g_autoptr (Store) st = store_new (dir);
    g_autoptr (GKeyFile) kf = store_load (st, &error);
    g_assert_true (store_append (st, "[Source a]\nPausedAt=5\n", 22, &error));
    g_assert_true (store_append (st, "[Source a]\nPausedAt=6\n", 22, &error));
  }
  g_assert_true (g_file_get_contents (journal, &data, &len, NULL));
  /* The journal keeps zeroed room after its last transaction. */
  gsize end = strnlen (data, len);
  g_assert_cmpuint (end, <, len);
  /* A write torn in the middle of the last transaction, as a crash leaves
   * it in that room: it is dropped. */
  memset (data + end - 5, 0, 5);
  g_assert_true (g_file_set_contents (journal, data, (gssize) len, NULL));
  {
    g_autoptr (Store) st = load_expecting (dir, 5);
    /* And the journal is usable again. */
    g_assert_true (store_append (st, "[Source a]\nPausedAt=9\n", 22, &error));
  }
  store_free (load_expecting (dir, 9));
  /* The same cut at the end of the file (a journal without room). */
  g_clear_pointer (&data, g_free);
  g_assert_true (g_file_get_contents (journal, &data, &len, NULL));
  end = strnlen (data, len);
  g_assert_true (g_file_set_contents (journal, data, (gssize) end - 3, NULL));
  {
    g_autoptr (Store) st = load_expecting (dir, 5);
    g_assert_true (store_append (st, "[Source a]\nPausedAt=9\n", 22, &error));
  }
  {
    /* Appending without loading first finds the end by itself. */
    g_autoptr (Store) st = store_new (dir);
    g_assert_true (store_append (st, "[Source a]\nPausedAt=10\n", 23, &error));
  }
  store_free (load_expecting (dir, 10));
  /* Damage in the middle: moved aside, empty store, never overwritten. */
  g_clear_pointer (&data, g_free);
  g_assert_true (g_file_get_contents (journal, &data, &len, NULL));
  char *p = strstr (data, "PausedAt=5");
  len = strnlen (data, len); /* without the zeroed room: damage, not a tail */
  g_assert_nonnull (p);
  p[9] = '4';
  g_assert_true (g_file_set_contents (journal, data, (gssize) len, NULL));
  {
    g_autoptr (Store) st = store_new (dir);
    g_autoptr (GKeyFile) kf = store_load (st, &error);
    g_assert_no_error (error);
    g_assert_false (g_key_file_has_group (kf, "Source a"));
    g_assert_false (g_file_test (journal, G_FILE_TEST_EXISTS));
  }
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  gboolean aside = FALSE;
  while ((name = g_dir_read_name (d)))
    aside |= g_str_has_prefix (name, "state.journal.corrupt-");
  g_assert_true (aside);
  rm_rf (dir);
}

static void
test_store_fault (void)
{
  g_autofree char *dir = make_tmp ();
  g_autofree char *fault = g_build_filename (dir, "fault", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (Store) st = store_new (dir);
  g_autoptr (GKeyFile) kf = store_load (st, &error);

  store_set_fault_file (st, fault);
  g_assert_true (g_file_set_contents (fault, "", -1, NULL));
  g_assert_false (store_append (st, "[Source a]\nPausedAt=5\n", 22, &error));
  g_assert_error (error, SOURCED_ERROR, SOURCED_ERROR_PERSIST_FAILED);
  g_clear_error (&error);
  g_unlink (fault);
  g_assert_true (store_append (st, "[Source a]\nPausedAt=6\n", 22, &error));
  {
    g_autoptr (Store) st2 = store_new (dir);
    g_autoptr (GKeyFile) kf2 = store_load (st2, &error);
    g_assert_cmpuint (g_key_file_get_uint64 (kf2, "Source a", "PausedAt", NULL), ==, 6);
  }
  rm_rf (dir);
}

/* ---- scheduler --------------------------------------------------------- */

static guint64
utc (int y, int mo, int d, int h, int mi)
{
  struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi };
  return (guint64) timegm (&tm) * G_USEC_PER_SEC;
}

static void
check_cron (const char *expr, guint64 after, guint64 expected)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CronSchedule) c = cron_schedule_parse (expr, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (cron_schedule_next (c, after), ==, expected);
}

static void
test_cron (void)
{
  check_cron ("*/15 * * * *", utc (2026, 1, 1, 10, 7), utc (2026, 1, 1, 10, 15));
  check_cron ("0 * * * *", utc (2026, 1, 1, 10, 0), utc (2026, 1, 1, 11, 0)); /* strictly after */
  check_cron ("30 2 * * *", utc (2026, 12, 31, 3, 0), utc (2027, 1, 1, 2, 30)); /* year end */
  check_cron ("0 0 31 * *", utc (2026, 4, 1, 0, 0), utc (2026, 5, 31, 0, 0)); /* April has 30 days */
  check_cron ("0 0 29 2 *", utc (2026, 3, 1, 0, 0), utc (2028, 2, 29, 0, 0)); /* next leap day */
}

static void
test_cron_more (void)
{
  check_cron ("0 9 * * mon-fri", utc (2026, 11, 21, 12, 0) /* Saturday */, utc (2026, 11, 23, 9, 0));
  check_cron ("0 0 * * 7", utc (2026, 11, 23, 0, 0), utc (2026, 11, 29, 0, 0)); /* 7 = Sunday */
  /* Both day fields restricted: either matches (Vixie cron). */
  check_cron ("0 0 1 * fri", utc (2026, 11, 22, 0, 0), utc (2026, 11, 27, 0, 0));
  check_cron ("0 12 1 jan,jul *", utc (2026, 2, 1, 0, 0), utc (2026, 7, 1, 12, 0));
  check_cron ("5/20 * * * *", utc (2026, 1, 1, 10, 6), utc (2026, 1, 1, 10, 25));
  /* Never matches: no next run. */
  /* UTC has no daylight saving time: the night Europe and the US skip an
   * hour changes nothing. */
  check_cron ("30 2 * * *", utc (2026, 3, 29, 0, 0), utc (2026, 3, 29, 2, 30));
  check_cron ("30 2 * * *", utc (2026, 3, 8, 3, 0), utc (2026, 3, 9, 2, 30));
  /* Month ends: the 31st skips the short months; the 1st follows them. */
  check_cron ("0 0 1 * *", utc (2026, 1, 31, 23, 59), utc (2026, 2, 1, 0, 0));
  check_cron ("0 0 31 * *", utc (2026, 1, 31, 0, 0), utc (2026, 3, 31, 0, 0));
  check_cron ("0 0 31 2 *", utc (2026, 1, 1, 0, 0), 0);

  const char *bad[] = { "", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
                        "* * * * 8", "a * * * *", "1-0 * * * *", "*/0 * * * *" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (CronSchedule) c = cron_schedule_parse (bad[i], &error);
      g_assert_null (c);
      g_assert_nonnull (error);
    }
}

static void
test_frequency (void)
{
  guint64 now = utc (2026, 6, 1, 12, 0);
  guint64 min = (guint64) 60 * G_USEC_PER_SEC;

  g_assert_cmpuint (frequency_next (60, 0, now), ==, now);                    /* never ran: now */
  g_assert_cmpuint (frequency_next (60, now - 10 * min, now), ==, now + 50 * min);
  g_assert_cmpuint (frequency_next (60, now - 90 * min, now), ==, now);       /* overdue: now */
}

static void
test_frequency_month_end (void)
{
  guint64 min = (guint64) 60 * G_USEC_PER_SEC;

  /* A daily job last run on Jan 31st runs on Feb 1st: no calendar in it. */
  g_assert_cmpuint (frequency_next (24 * 60, utc (2026, 1, 31, 6, 0), utc (2026, 1, 31, 7, 0)), ==,
                    utc (2026, 2, 1, 6, 0));
  g_assert_cmpuint (frequency_next (1, utc (2026, 2, 28, 23, 59), utc (2026, 2, 28, 23, 59)), ==,
                    utc (2026, 3, 1, 0, 0));
  g_assert_cmpuint (frequency_next (90, utc (2026, 12, 31, 23, 0), utc (2026, 12, 31, 23, 30)), ==,
                    utc (2026, 12, 31, 23, 0) + 90 * min);
}

/* ---- clock ---------------------------------------------------------------- */

static void
test_clock (void)
{
  Clock clock = { 0 };

  g_assert_cmpuint (clock_timeout_ms (&clock, 2 * G_USEC_PER_SEC), ==, 2000); /* a zeroed Clock is real time */
  clock_set (&clock, utc (2026, 1, 31, 23, 59), 60.0);
  guint64 a = clock_now (&clock);
  g_assert_cmpuint (a, >=, utc (2026, 1, 31, 23, 59));
  g_assert_cmpuint (a, <, utc (2026, 2, 1, 0, 0));
  /* A minute of this clock is a second of real time. */
  g_assert_cmpuint (clock_timeout_ms (&clock, 60 * G_USEC_PER_SEC), ==, 1000);
  g_assert_cmpuint (clock_timeout_ms (&clock, 1), ==, 1); /* rounded up, never early */
  g_usleep (50 * 1000);
  g_assert_cmpuint (clock_now (&clock) - a, >=, 3 * G_USEC_PER_SEC); /* 50 ms × 60 */
  clock_set (&clock, utc (2026, 1, 1, 0, 0), 1.0);
  g_assert_cmpuint (clock_timeout_ms (&clock, 2 * G_USEC_PER_SEC), ==, 2000);
}

/* ---- Singer messages ------------------------------------------------------ */

static void
check_singer (const char *line, gboolean ok, SingerMessageType type, const char *state)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) error = NULL;
  SingerMessage msg;

  g_assert_cmpint (singer_parse_line (parser, line, strlen (line), &msg, &error), ==, ok);
  if (!ok)
    {
      g_assert_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS);
      g_assert_true (g_str_has_prefix (error->message, "not a Singer message: "));
      return;
    }
  g_assert_no_error (error);
  g_assert_cmpint (msg.type, ==, type);
  g_assert_cmpstr (msg.state, ==, state);
  singer_message_clear (&msg);
}

static void
test_singer_messages (void)
{
  check_singer ("{\"type\":\"RECORD\",\"stream\":\"users\",\"record\":{\"id\":1}}", TRUE,
                SINGER_MESSAGE_RECORD, NULL);
  check_singer ("{\"type\": \"SCHEMA\", \"stream\": \"users\", \"schema\": {}, \"key_properties\": [\"id\"]}",
                TRUE, SINGER_MESSAGE_SCHEMA, NULL);
  /* The state's value, in compact form, whatever its shape. */
  check_singer ("{\"type\":\"STATE\",\"value\":{ \"bookmarks\" : {\"users\": {\"since\": \"2026-01-01\"}}}}", TRUE,
                SINGER_MESSAGE_STATE, "{\"bookmarks\":{\"users\":{\"since\":\"2026-01-01\"}}}");
  check_singer ("{\"type\":\"STATE\",\"value\":null}", TRUE, SINGER_MESSAGE_STATE, "null");
  /* Newer messages are passed on untouched. */
  check_singer ("{\"type\":\"ACTIVATE_VERSION\",\"stream\":\"users\",\"version\":3}", TRUE,
                SINGER_MESSAGE_OTHER, NULL);

  check_singer ("", FALSE, 0, NULL);
  check_singer ("hello", FALSE, 0, NULL);
  check_singer ("[1,2]", FALSE, 0, NULL);
  check_singer ("{\"record\":{}}", FALSE, 0, NULL);
  check_singer ("{\"type\":5}", FALSE, 0, NULL);
  check_singer ("{\"type\":\"RECORD\",\"record\":{}}", FALSE, 0, NULL);       /* no stream */
  check_singer ("{\"type\":\"RECORD\",\"stream\":\"u\",\"record\":7}", FALSE, 0, NULL); /* not an object */
  check_singer ("{\"type\":\"SCHEMA\",\"stream\":\"u\"}", FALSE, 0, NULL);
  check_singer ("{\"type\":\"STATE\"}", FALSE, 0, NULL);
  check_singer ("{\"type\":\"RECORD\",\"stream\":\"u\",\"record\":{}", FALSE, 0, NULL); /* cut short */
}

/* ---- state machine ----------------------------------------------------- */

static Source *
make_source (void)
{
  SourceSettings *s = source_settings_new ();
  s->exec = g_strdup ("true");
  return source_new ("s", s, NULL);
}

static void
test_status_derivation (void)
{
  g_autoptr (Source) src = make_source ();

  source_refresh (src, FALSE);
  g_assert_cmpint (src->status, ==, SOURCE_STATUS_STOPPED);
  g_assert_false (src->active);

  source_set_run (src, SOURCE_RUN_RUNNING);
  src->changed = 0;
  source_refresh (src, FALSE);
  g_assert_cmpint (src->status, ==, SOURCE_STATUS_ACTIVE);
  g_assert_true (src->active);
  g_assert_cmpuint (src->changed, ==, SOURCE_PROP_STATUS | SOURCE_PROP_ACTIVE);

  /* The gate: Active follows, Status does not. */
  src->changed = 0;
  source_refresh (src, TRUE);
  g_assert_cmpint (src->status, ==, SOURCE_STATUS_ACTIVE);
  g_assert_false (src->active);
  g_assert_cmpuint (src->changed, ==, SOURCE_PROP_ACTIVE);

  /* Nothing changed: nothing marked. */
  src->changed = 0;
  source_refresh (src, TRUE);
  g_assert_cmpuint (src->changed, ==, 0);

  src->changed = 0;
  source_set_paused_at (source_edit_begin (src), 100, 200);
  source_refresh (src, FALSE);
  g_assert_cmpint (src->status, ==, SOURCE_STATUS_PAUSED);
  g_assert_false (src->active);
  g_assert_cmpuint (src->changed, ==, SOURCE_PROP_PAUSED_AT | SOURCE_PROP_UPDATED_AT | SOURCE_PROP_STATUS);

  /* The daemon's own pause counts as paused; unpausing clears both. */
  source_set_paused_at (source_edit_begin (src), 0, 300);
  source_set_system_paused_at (source_edit_begin (src), 400, 400);
  source_refresh (src, FALSE);
  g_assert_cmpint (src->status, ==, SOURCE_STATUS_PAUSED);
  source_set_paused_at (source_edit_begin (src), 0, 500);
  g_assert_cmpuint (src->control.system_paused_at, ==, 0);
  source_refresh (src, FALSE);
  g_assert_cmpint (src->status, ==, SOURCE_STATUS_ACTIVE);

  const struct { SourceRun run; SourceStatus status; } rows[] = {
    { SOURCE_RUN_STARTING, SOURCE_STATUS_STARTING },
    { SOURCE_RUN_STOPPING, SOURCE_STATUS_STOPPING },
    { SOURCE_RUN_FAILED, SOURCE_STATUS_FAILED },
    { SOURCE_RUN_STOPPED, SOURCE_STATUS_STOPPED },
  };
  for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
    {
      source_set_run (src, rows[i].run);
      source_refresh (src, FALSE);
      g_assert_cmpint (src->status, ==, rows[i].status);
      g_assert_false (src->active);
    }
}

/* The change-signal mask comes from the property table: a counter
 * (EmitsChangedSignal=false) or the constant Id never goes out in
 * PropertiesChanged, whatever a mutator marks. */
static void
test_prop_names_emitting_only (void)
{
  g_auto (GStrv) names = source_prop_names (SOURCE_PROP_RECORDS_DELIVERED | SOURCE_PROP_STATUS | SOURCE_PROP_ID |
                                            SOURCE_PROP_PAUSED_AT | SOURCE_PROP_LAST_RECORD_AT);
  g_assert_cmpuint (g_strv_length (names), ==, 2);
  g_assert_cmpstr (names[0], ==, "Status");
  g_assert_cmpstr (names[1], ==, "PausedAt");
  g_assert_false (SOURCE_PROPS_EMITTING & SOURCE_PROP_BYTES_DELIVERED);
  g_assert_true (SOURCE_PROPS_EMITTING & SOURCE_PROP_SINK);
}

static void
test_rollback (void)
{
  g_autoptr (Source) src = make_source ();

  source_set_run (src, SOURCE_RUN_RUNNING);
  source_refresh (src, FALSE);
  src->changed = 0;
  source_set_paused_at (source_edit_begin (src), 100, 100);
  source_refresh (src, FALSE);
  g_assert_cmpint (src->status, ==, SOURCE_STATUS_PAUSED);
  source_rollback_change (src, FALSE);
  g_assert_cmpuint (src->control.paused_at, ==, 0);
  g_assert_cmpint (src->status, ==, SOURCE_STATUS_ACTIVE);
  g_assert_true (src->active);
  g_assert_cmpuint (src->changed, ==, 0);
  g_assert_null (src->rollback);
}

/* The commit rule: a change made with an edit whose batch was committed
 * (so nothing tracks it any more) is refused, not silently written. */
static void
test_stale_edit_refused (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr (Source) src = make_source ();
      SourceEdit e = source_edit_begin (src);

      source_set_paused_at (e, 100, 100);
      source_commit_change (src);
      source_set_paused_at (e, 0, 200); /* aborts */
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*assertion failed*rollback*");
}

static void
test_store_encoding (void)
{
  g_autoptr (Source) src = make_source ();
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  SourceControl c = { 0 };

  src->control.paused_at = 11;
  src->control.system_paused_at = 12;
  src->control.created_at = 13;
  src->control.updated_at = 14;
  src->control.started = TRUE;
  src->control.bookmark = g_strdup ("{\"a\": 1}");
  source_to_keyfile (src, kf);
  g_autofree char *origin = g_key_file_get_value (kf, "Source s", "Origin", NULL);
  g_autofree char *exec = g_key_file_get_value (kf, "Source s", "Exec", NULL);
  g_assert_cmpstr (origin, ==, "created");
  g_assert_cmpstr (exec, ==, "true");
  source_control_from_keyfile (&c, kf, "Source s");
  g_assert_cmpuint (c.paused_at, ==, 11);
  g_assert_cmpuint (c.system_paused_at, ==, 12);
  g_assert_cmpuint (c.created_at, ==, 13);
  g_assert_cmpuint (c.updated_at, ==, 14);
  g_assert_true (c.started);
  g_assert_cmpstr (c.bookmark, ==, "{\"a\": 1}");
  source_control_clear (&c);
}

/* The direct writer says exactly what the GKeyFile one says. */
static void
test_store_text_matches_keyfile (void)
{
  SourceSettings *settings = source_settings_new ();
  settings->exec = g_strdup ("true");
  g_autoptr (Source) src = source_new ("s.1", settings, "/etc/sourced/sources.d/s.1.source");
  g_autoptr (GString) text = g_string_new (NULL);
  g_autoptr (GKeyFile) direct = g_key_file_new ();
  g_autoptr (GKeyFile) via = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  SourceControl back = { 0 };

  src->control.started = TRUE;
  src->control.paused_at = 11;
  src->control.created_at = 1;
  src->control.updated_at = 2;
  src->control.last_exit_status = -9;
  src->control.bookmark = g_strdup ("  lead\nline\\back\ttab\rend ;=[x]");
  src->control.sink_path = g_strdup ("/srv/a b/s.jsonl");
  src->control.sink_offset = 77;
  src->control.records_delivered = 5;
  src->control.bytes_delivered = 500;
  src->control.last_record_at = 3;

  source_to_text (src, text);
  g_assert_true (g_key_file_load_from_data (direct, text->str, text->len, G_KEY_FILE_NONE, &error));
  g_assert_no_error (error);
  source_to_keyfile (src, via);
  g_auto (GStrv) keys_direct = g_key_file_get_keys (direct, "Source s.1", NULL, NULL);
  g_auto (GStrv) keys_via = g_key_file_get_keys (via, "Source s.1", NULL, NULL);
  g_assert_cmpstrv (keys_direct, keys_via);
  for (guint i = 0; keys_via[i]; i++)
    {
      g_autofree char *a = g_key_file_get_value (direct, "Source s.1", keys_via[i], NULL);
      g_autofree char *b = g_key_file_get_value (via, "Source s.1", keys_via[i], NULL);
      g_assert_cmpstr (a, ==, b);
    }
  source_control_from_keyfile (&back, direct, "Source s.1");
  g_assert_cmpstr (back.bookmark, ==, src->control.bookmark);
  g_assert_cmpstr (back.sink_path, ==, src->control.sink_path);
  g_assert_cmpint (back.last_exit_status, ==, -9);
  g_assert_cmpuint (back.sink_offset, ==, 77);
  source_control_clear (&back);
}

static void
test_sink_path_rules (void)
{
  struct { const char *path; gboolean ok; } cases[] = {
    { "/srv/data/shop.jsonl", TRUE },
    { "/dev/null", TRUE },
    { "/devices/x.jsonl", TRUE },           /* a prefix of a name is not the folder */
    { "/var/lib/sourced/sinks/a.jsonl", TRUE },
    { "/var/lib/sourced-other/a.jsonl", TRUE },
    { "/var/lib/sourced/state.journal", FALSE },
    { "/var/lib/sourced//./state.snapshot", FALSE },
    { "/var/lib/sourced/sinks/../state.journal", FALSE },
    { "/var/lib/sourced/sinks", FALSE },    /* the folder itself is no sink */
    { "/var/lib/sourced", FALSE },
    { "/proc/self/mem", FALSE },
    { "/sys/kernel/notes", FALSE },
    { "/dev/full", FALSE },
    { "/dev/../proc/self/mem", FALSE },
    { "relative/path", FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      gboolean ok = sink_path_check (cases[i].path, "/var/lib/sourced", &error);
      if (ok != cases[i].ok)
        g_error ("%s: expected %s, got %s", cases[i].path, cases[i].ok ? "allowed" : "refused",
                 ok ? "allowed" : error->message);
      if (!ok)
        g_assert_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS);
    }
}

static void
test_glob_match_is_fnmatch (void)
{
  const char *patterns[] = { "*", "shop-*", "shop-?u", "s*p*", "*-eu", "shop-[ab]", "shop-[!ab]", "shop-[^a-c]",
                             "[a-z]*", "[]x]*", "a\\*b", "**", "?", "sh*op", "x[0-9][0-9]", "*.*", "[a-", NULL };
  const char *ids[] = { "shop-a", "shop-b", "shop-eu", "shop-us", "sp", "a*b", "ab", "x12", "x1", "a.b", "]x",
                        "s", "shop", "A", "[a-", NULL };

  for (guint i = 0; patterns[i]; i++)
    for (guint k = 0; ids[k]; k++)
      if (bulk_glob_match (patterns[i], ids[k]) != (fnmatch (patterns[i], ids[k], 0) == 0))
        g_error ("'%s' against '%s': fnmatch says %d", patterns[i], ids[k], fnmatch (patterns[i], ids[k], 0));
}

static PgColType
type_of (const char *json_schema)
{
  g_autoptr (JsonNode) node = json_from_string (json_schema, NULL);

  g_assert_nonnull (node);
  return pg_col_type_from_json_schema (node);
}

/* The JSON Schema → column type rules, as the issue lists them. */
static void
test_pg_type_mapping (void)
{
  g_assert_cmpint (type_of ("{\"type\": \"object\"}"), ==, PG_COL_JSONB);
  g_assert_cmpint (type_of ("{\"type\": [\"null\", \"array\"]}"), ==, PG_COL_JSONB);
  g_assert_cmpint (type_of ("{\"type\": \"string\", \"format\": \"date-time\"}"), ==, PG_COL_TIMESTAMPTZ);
  g_assert_cmpint (type_of ("{\"type\": [\"string\", \"null\"], \"format\": \"date\"}"), ==, PG_COL_DATE);
  g_assert_cmpint (type_of ("{\"type\": \"integer\"}"), ==, PG_COL_BIGINT);
  g_assert_cmpint (type_of ("{\"type\": [\"null\", \"number\"]}"), ==, PG_COL_NUMERIC);
  g_assert_cmpint (type_of ("{\"type\": \"boolean\"}"), ==, PG_COL_BOOLEAN);
  g_assert_cmpint (type_of ("{\"type\": \"string\"}"), ==, PG_COL_TEXT);
  g_assert_cmpint (type_of ("{\"type\": [\"string\", \"integer\"]}"), ==, PG_COL_JSONB);
  g_assert_cmpint (type_of ("{\"anyOf\": [{\"type\": \"integer\"}, {\"type\": \"null\"}]}"), ==, PG_COL_BIGINT);
  g_assert_cmpint (type_of ("{}"), ==, PG_COL_JSONB);

  g_assert_cmpint (pg_col_type_change (PG_COL_BIGINT, PG_COL_NUMERIC), ==, PG_CHANGE_WIDEN);
  g_assert_cmpint (pg_col_type_change (PG_COL_NUMERIC, PG_COL_BIGINT), ==, PG_CHANGE_NONE);
  g_assert_cmpint (pg_col_type_change (PG_COL_TEXT, PG_COL_TEXT), ==, PG_CHANGE_NONE);
  g_assert_cmpint (pg_col_type_change (PG_COL_BIGINT, PG_COL_BOOLEAN), ==, PG_CHANGE_INCOMPATIBLE);
  g_assert_cmpint (pg_col_type_change (PG_COL_TEXT, PG_COL_JSONB), ==, PG_CHANGE_INCOMPATIBLE);
  g_assert_cmpint (pg_col_type_change (PG_COL_OTHER, PG_COL_OTHER), ==, PG_CHANGE_INCOMPATIBLE);
}

static char *
copy_field (PgColType type, const char *json, gboolean *ok)
{
  g_autoptr (JsonNode) node = json_from_string (json, NULL);
  GString *out = g_string_new (NULL);
  const char *why = NULL;

  *ok = pg_copy_value (out, type, node, &why);
  g_assert_true (*ok || why != NULL);
  return g_string_free (out, FALSE);
}

/* Rows in COPY's text format: escapes, nulls, numbers as they read back,
 * and values that do not fit their column refused before the server sees
 * them. */
static void
test_pg_copy_values (void)
{
  static const struct {
    PgColType type;
    const char *json;
    gboolean ok;
    const char *field;
  } cases[] = {
    { PG_COL_TEXT, "\"a\\tb\\nc\\\\d\"", TRUE, "a\\tb\\nc\\\\d" },
    { PG_COL_TEXT, "null", TRUE, "\\N" },
    { PG_COL_TEXT, "3", FALSE, "" },
    { PG_COL_BIGINT, "-42", TRUE, "-42" },
    { PG_COL_BIGINT, "1.5", FALSE, "" },
    { PG_COL_NUMERIC, "0.1", TRUE, "0.1" },
    { PG_COL_NUMERIC, "7", TRUE, "7" },
    { PG_COL_NUMERIC, "\"7\"", FALSE, "" },
    { PG_COL_BOOLEAN, "true", TRUE, "t" },
    { PG_COL_BOOLEAN, "0", FALSE, "" },
    { PG_COL_TIMESTAMPTZ, "\"2026-12-06T10:00:00+01:00\"", TRUE, "2026-12-06T10:00:00+01:00" },
    { PG_COL_TIMESTAMPTZ, "\"yesterday\"", FALSE, "" },
    { PG_COL_DATE, "\"2024-02-29\"", TRUE, "2024-02-29" },
    { PG_COL_DATE, "\"2023-02-29\"", FALSE, "" },
    { PG_COL_JSONB, "{\"k\":\"v\\tw\"}", TRUE, "{\"k\":\"v\\\\tw\"}" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gboolean ok;
      g_autofree char *field = copy_field (cases[i].type, cases[i].json, &ok);
      g_assert_cmpint (ok, ==, cases[i].ok);
      g_assert_cmpstr (field, ==, cases[i].field);
    }
  g_autofree char *ident = pg_quote_ident ("we\"ird");
  g_assert_cmpstr (ident, ==, "\"we\"\"ird\"");
}

/* The scanner takes exactly JSON: what it passes becomes jsonb and COPY
 * input, where a mistake would fail the whole batch at the server. */
static void
test_json_scan (void)
{
  static const char *good[] = { "{}", " {\"a\" : [1, -0.5e+3, true, false, null, {\"b\": \"\\u00e9\\n\"}]} ", "0",
                                "\"\"", "[[]]" };
  static const char *bad[] = { "{\"a\":01}", "{\"a\":1,}",    "[1 2]", "\"\\x\"", "{\"a\":1",         "tru", "1.", "-",
                               "{a:1}",      "\"tab\there\"", "[1]x",  "",        "{\"a\":\"\\u12\"}" };
  JsonSpan v;

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    g_assert_true (json_scan_value (good[i], strlen (good[i]), &v));
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      /* The tab in bad[9] is a raw one, which JSON strings may not hold. */
      g_autofree char *text = g_strcompress (bad[i]);
      g_assert_false (json_scan_value (i == 9 ? text : bad[i], strlen (i == 9 ? text : bad[i]), &v));
    }

  const char *rec = "{\"n\":\"a\\\"b\\ud83d\\ude00\",\"x\":12345678901234567890,\"y\":0.1}";
  g_assert_true (json_scan_value (rec, strlen (rec), &v));
  g_autoptr (GString) row = g_string_new (NULL);
  g_autoptr (GString) scratch = g_string_new (NULL);
  const char *why = NULL;
  JsonSpan n = { JSON_SPAN_STRING, rec + 5, 18 };
  g_assert_true (pg_copy_span (row, PG_COL_TEXT, &n, scratch, &why));
  g_assert_cmpstr (row->str, ==, "a\"b\xf0\x9f\x98\x80");
  JsonSpan big = { JSON_SPAN_INTEGER, strstr (rec, "1234"), 20 };
  g_assert_false (pg_copy_span (row, PG_COL_BIGINT, &big, scratch, &why));
  g_assert_true (pg_copy_span (row, PG_COL_NUMERIC, &big, scratch, &why));
  g_assert_true (g_str_has_suffix (row->str, "12345678901234567890"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* The recovery paths warn on purpose; that is what they are for. */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  g_test_add_func ("/unit/ids", test_ids);
  g_test_add_func ("/unit/definition/ok", test_definition_ok);
  g_test_add_func ("/unit/definition/errors", test_definition_errors);
  g_test_add_func ("/unit/sink/path-rules", test_sink_path_rules);
  g_test_add_func ("/unit/pg/type-mapping", test_pg_type_mapping);
  g_test_add_func ("/unit/pg/copy-values", test_pg_copy_values);
  g_test_add_func ("/unit/pg/json-scan", test_json_scan);
  g_test_add_func ("/unit/glob-match-is-fnmatch", test_glob_match_is_fnmatch);
  g_test_add_func ("/unit/definition/filename", test_definition_filename);
  g_test_add_func ("/unit/settings/typed", test_settings_typed);
  g_test_add_func ("/unit/store/roundtrip", test_store_roundtrip);
  g_test_add_func ("/unit/store/torn-and-corrupt", test_store_torn_and_corrupt);
  g_test_add_func ("/unit/store/fault", test_store_fault);
  g_test_add_func ("/unit/scheduler/cron", test_cron);
  g_test_add_func ("/unit/scheduler/cron-more", test_cron_more);
  g_test_add_func ("/unit/scheduler/frequency", test_frequency);
  g_test_add_func ("/unit/scheduler/frequency-month-end", test_frequency_month_end);
  g_test_add_func ("/unit/clock", test_clock);
  g_test_add_func ("/unit/singer/messages", test_singer_messages);
  g_test_add_func ("/unit/source/status", test_status_derivation);
  g_test_add_func ("/unit/source/rollback", test_rollback);
  g_test_add_func ("/unit/source/prop-names-emitting-only", test_prop_names_emitting_only);
  g_test_add_func ("/unit/source/stale-edit-refused", test_stale_edit_refused);
  g_test_add_func ("/unit/source/store-encoding", test_store_encoding);
  g_test_add_func ("/unit/source/store-text", test_store_text_matches_keyfile);
  return g_test_run ();
}
