/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The data plane against the real daemon: real workers (tests/taps/),
 * real sink files, pause by backpressure, bookmarks, exactly once. */
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <json-glib/json-glib.h>

#include "harness.h"

#define SRC_IFACE "org.sourced.Sourced1.Source"
#define MGR_IFACE "org.sourced.Sourced1.Manager"
#define MGR_PATH "/org/sourced/Sourced1"

static char *
tap (const char *name)
{
  const char *dir = g_getenv ("SOURCED_TEST_TAPS");
  g_assert_nonnull (dir);
  return g_build_filename (dir, name, NULL);
}

static char *
sink_of (Harness *h, const char *id)
{
  g_autofree char *name = g_strconcat (id, ".jsonl", NULL);
  return g_build_filename (h->state_dir, "sinks", name, NULL);
}

static guint64
file_size (const char *path)
{
  struct stat st;
  return stat (path, &st) == 0 ? (guint64) st.st_size : 0;
}

/* The lines of a file (by hand: g_strsplit is quadratic under ASan's
 * strstr interceptor, and sinks are megabytes). */
static GStrv
read_lines (const char *path)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  GPtrArray *lines = g_ptr_array_new ();

  if (g_file_get_contents (path, &text, &len, NULL))
    {
      /* Every record is a whole line: the file ends with a newline. */
      g_assert_true (len == 0 || text[len - 1] == '\n');
      for (const char *at = text, *end = text + len; at < end;)
        {
          const char *nl = memchr (at, '\n', end - at);
          g_ptr_array_add (lines, g_strndup (at, nl - at));
          at = nl + 1;
        }
    }
  g_ptr_array_add (lines, NULL);
  return (GStrv) g_ptr_array_free (lines, FALSE);
}

/* Lines are 1, 2, 3, … n: nothing lost, nothing doubled, in order. */
static guint
assert_counting (const char *path)
{
  g_auto (GStrv) lines = read_lines (path);
  guint i;

  for (i = 0; lines[i]; i++)
    {
      g_autofree char *want = g_strdup_printf ("%u", i + 1);
      if (!g_str_equal (lines[i], want))
        g_error ("%s: line %u is '%s', expected '%s'", path, i + 1, lines[i], want);
    }
  return i;
}

/* The Singer RECORDs in a sink are {"n": 1} … {"n": n}, exactly once, in
 * order; SCHEMA lines may repeat (each run starts with one). */
static guint
assert_singer_counting (const char *path, const char *key_in_message)
{
  g_auto (GStrv) lines = read_lines (path);
  g_autoptr (JsonParser) parser = json_parser_new ();
  guint expected = 1;

  for (guint i = 0; lines[i]; i++)
    {
      JsonObject *obj;
      g_autoptr (GError) error = NULL;

      if (!json_parser_load_from_data (parser, lines[i], -1, &error))
        g_error ("%s: line %u is not JSON: %s", path, i + 1, error->message);
      obj = json_node_get_object (json_parser_get_root (parser));
      if (key_in_message)
        {
          if (!g_str_equal (json_object_get_string_member (obj, "type"), "RECORD"))
            {
              g_assert_cmpstr (json_object_get_string_member (obj, "type"), ==, "SCHEMA");
              continue;
            }
          obj = json_object_get_object_member (obj, key_in_message);
        }
      gint64 n = json_object_get_int_member (obj, "n");
      if (n != expected)
        g_error ("%s: line %u has n=%" G_GINT64_FORMAT ", expected %u", path, i + 1, n, expected);
      expected++;
    }
  return expected - 1;
}

typedef struct {
  Harness *h;
  const char *id;
  const char *path;
  guint64 at_least;
} Wait;

static gboolean
size_reached (gpointer data)
{
  Wait *w = data;
  return file_size (w->path) >= w->at_least;
}

static gboolean
wait_for_size (const char *path, guint64 at_least, guint timeout_ms)
{
  Wait w = { .path = path, .at_least = at_least };
  return harness_wait_until (size_reached, &w, timeout_ms);
}

static gboolean
no_worker (gpointer data)
{
  Wait *w = data;
  return harness_get_u (w->h, w->id, "MainPID") == 0;
}

static gboolean
wait_for_no_worker (Harness *h, const char *id, guint timeout_ms)
{
  Wait w = { .h = h, .id = id };
  return harness_wait_until (no_worker, &w, timeout_ms);
}

/* Blocked in write(2) on a full pipe, as backpressure leaves it (within a
 * few seconds: the pipe has to fill first). */
static gboolean
in_pipe_write (gpointer data)
{
  pid_t pid = GPOINTER_TO_INT (data);
  g_autofree char *path = g_strdup_printf ("/proc/%d/wchan", pid);
  g_autofree char *wchan = NULL;

  if (g_file_get_contents (path, &wchan, NULL, NULL) && strstr (wchan, "pipe_write"))
    return TRUE;
  if (wchan && g_str_equal (wchan, "0") && harness_process_state (pid) == 'S')
    {
      /* Asleep, but this kernel does not say where. */
      g_test_message ("/proc/%d/wchan is not available; only checked that it sleeps", pid);
      return TRUE;
    }
  return FALSE;
}

static gboolean
blocked_writing (pid_t pid)
{
  return harness_wait_until (in_pipe_write, GINT_TO_POINTER (pid), 10000);
}

/* ---- Pause holds the flow, Unpause resumes it --------------------------- */

static void
check_hold (Harness *h, const char *id, const char *sink, gboolean gate)
{
  g_autofree char *src_path = source_path (id);

  if (gate)
    harness_call (h, MGR_PATH, MGR_IFACE, "Pause", NULL, NULL, NULL);
  else
    harness_source_call_ok (h, id, "Pause");
  /* The reply is the line: not one byte more after it. */
  guint64 size = file_size (sink);
  guint64 records = harness_get_t (h, id, "RecordsDelivered");
  guint32 pid = harness_get_u (h, id, "MainPID");
  g_usleep (300 * 1000);
  g_assert_cmpuint (file_size (sink), ==, size);
  g_assert_cmpuint (harness_get_t (h, id, "RecordsDelivered"), ==, records);
  /* The worker is alive and waits on the full pipe: nothing was dropped,
   * nothing piles up inside sourced. */
  g_assert_true (pid_alive (pid));
  g_assert_true (blocked_writing (pid));

  if (gate)
    harness_call (h, MGR_PATH, MGR_IFACE, "Unpause", NULL, NULL, NULL);
  else
    harness_source_call_ok (h, id, "Unpause");
  g_assert_true (wait_for_size (sink, size + 1000, 5000));
}

static void
test_pause_holds_by_backpressure (void)
{
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *count = tap ("count");
  g_autofree char *def = g_strdup_printf ("[Source]\nExec=%s\n", count);
  g_autofree char *sink = NULL;

  harness_write_definition (h, "gen", def);
  harness_start (h, NULL);
  sink = sink_of (h, "gen");
  g_assert_true (wait_for_size (sink, 10000, 5000));

  check_hold (h, "gen", sink, FALSE);
  check_hold (h, "gen", sink, TRUE);

  /* Stop delivers what the worker wrote; the sink then counts 1…n
   * without a gap or a double, and the counters agree with it. */
  harness_source_call_ok (h, "gen", "Stop");
  guint n = assert_counting (sink);
  g_assert_cmpuint (n, >, 1000);
  g_assert_cmpuint (harness_get_t (h, "gen", "RecordsDelivered"), ==, n);
  g_assert_cmpuint (harness_get_t (h, "gen", "BytesDelivered"), ==, file_size (sink));
  g_assert_cmpuint (harness_get_t (h, "gen", "LastRecordAt"), >, 0);

  /* Counters survive a restart of the daemon. */
  harness_kill (h, SIGTERM);
  harness_start (h, NULL);
  g_assert_cmpuint (harness_get_t (h, "gen", "RecordsDelivered"), ==, n);
}

/* A worker's last words (after SIGTERM, and an unterminated last line)
 * still reach the sink. */
static void
test_stop_delivers_last_output (void)
{
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *sink = NULL;
  g_auto (GStrv) lines = NULL;

  g_autofree char *words = tap ("last-words");
  g_autofree char *def = g_strdup_printf ("[Source]\nExec=%s\n", words);

  harness_write_definition (h, "bye", def);
  harness_start (h, NULL);
  sink = sink_of (h, "bye");
  g_assert_true (wait_for_size (sink, 3, 5000));
  harness_source_call_ok (h, "bye", "Stop");
  lines = read_lines (sink);
  g_assert_cmpuint (g_strv_length (lines), ==, 3);
  g_assert_cmpstr (lines[0], ==, "hi");
  g_assert_cmpstr (lines[1], ==, "bye");
  g_assert_cmpstr (lines[2], ==, "last");
  g_assert_cmpuint (harness_get_t (h, "bye", "RecordsDelivered"), ==, 3);
}

/* ---- Singer: bookmarks and exactly once ---------------------------------- */

static char *
singer_definition (guint count, guint every, const char *interval, const char *extra)
{
  g_autofree char *t = tap ("tap-counter");
  return g_strdup_printf ("[Source]\nType=singer\nExec=%s --count %u --every %u --interval %s\n"
                          "RestartSec=300\n%s",
                          t, count, every, interval, extra ? extra : "");
}

static void
test_singer_stop_start_resumes_from_bookmark (void)
{
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *def = singer_definition (200, 10, "0.005", NULL);
  g_autofree char *sink = NULL;
  g_autofree char *bookmark = NULL;

  harness_write_definition (h, "tap", def);
  harness_start (h, NULL);
  sink = sink_of (h, "tap");
  g_assert_true (harness_wait_t (h, "tap", "RecordsDelivered", 40, 10000));
  harness_source_call_ok (h, "tap", "Stop");

  /* The bookmark is the tap's last STATE, persisted with the sink offset. */
  bookmark = harness_get_s (h, "tap", "Bookmark");
  g_assert_true (g_str_has_prefix (bookmark, "{\"bookmarks\":{\"counter\":{\"n\":"));
  g_assert_cmpuint (harness_get_t (h, "tap", "RecordsDelivered"), <, 200);

  /* Start resumes there: the tap gets --state; the records after the
   * bookmark that the stopped run had delivered are cut from the sink and
   * come again, once. */
  harness_source_call_ok (h, "tap", "Start");
  g_assert_true (harness_wait_t (h, "tap", "RecordsDelivered", 200, 20000));
  g_assert_true (harness_wait_status (h, "tap", "active", 1000));
  g_assert_true (wait_for_no_worker (h, "tap", 5000));
  g_assert_cmpuint (assert_singer_counting (sink, "record"), ==, 200);
  g_free (bookmark);
  bookmark = harness_get_s (h, "tap", "Bookmark");
  g_assert_cmpstr (bookmark, ==, "{\"bookmarks\":{\"counter\":{\"n\":200}}}");
  g_assert_cmpuint (harness_get_t (h, "tap", "RecordsDelivered"), ==, 200);
  g_assert_cmpint (harness_get_i (h, "tap", "LastExitStatus"), ==, 0);
}

static void
test_singer_kill9_loop_exactly_once (void)
{
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *def = singer_definition (3000, 7, "0.0005", NULL);
  g_autofree char *sink = NULL;
  GRand *rand = g_rand_new_with_seed (42);
  guint kills = 0;

  harness_write_definition (h, "tap", def);
  harness_start (h, NULL);
  sink = sink_of (h, "tap");

  while (kills < 12)
    {
      guint64 before = file_size (sink);
      /* Mid-stream: the tap has written since the daemon came up. */
      g_assert_true (wait_for_size (sink, before + 1, 10000));
      g_usleep (g_rand_int_range (rand, 20, 250) * 1000);
      if (harness_get_t (h, "tap", "RecordsDelivered") >= 3000)
        break;
      int status = harness_kill (h, SIGKILL);
      g_assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
      kills++;
      harness_start (h, NULL);
    }
  g_rand_free (rand);
  g_test_message ("%u kills", kills);
  g_assert_cmpuint (kills, >=, 10);
  g_assert_true (harness_wait_t (h, "tap", "RecordsDelivered", 3000, 60000));
  g_assert_true (wait_for_no_worker (h, "tap", 5000));
  g_assert_cmpuint (assert_singer_counting (sink, "record"), ==, 3000);
  g_assert_cmpuint (harness_get_t (h, "tap", "RecordsDelivered"), ==, 3000);
}

/* With a Target=, the bookmark is what the target echoes once it stored
 * the data, never the tap's own STATE. */
static gboolean
bookmark_at_50 (gpointer h)
{
  g_autofree char *bookmark = harness_get_s (h, "tgt", "Bookmark");
  return g_str_equal (bookmark, "{\"bookmarks\":{\"counter\":{\"n\":50}}}");
}

static void
test_singer_target (void)
{
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *target = tap ("target-collect");
  g_autofree char *out = NULL;
  g_autofree char *extra = NULL;
  g_autofree char *def = NULL;
  g_autofree char *bookmark = NULL;
  g_autofree char *err = NULL;

  out = g_build_filename (h->dir, "target.jsonl", NULL);
  extra = g_strdup_printf ("Target=%s %s\n", target, out);
  def = singer_definition (50, 10, "0", extra);
  harness_write_definition (h, "tgt", def);
  harness_start (h, NULL);
  g_assert_true (harness_wait_t (h, "tgt", "RecordsDelivered", 50, 10000));
  harness_wait_until (bookmark_at_50, h, 10000);
  bookmark = harness_get_s (h, "tgt", "Bookmark");
  g_assert_cmpstr (bookmark, ==, "{\"bookmarks\":{\"counter\":{\"n\":50}}}");
  g_assert_cmpuint (assert_singer_counting (out, NULL), ==, 50);
  /* Nothing went to a file sink. */
  g_autofree char *sink = sink_of (h, "tgt");
  g_assert_false (g_file_test (sink, G_FILE_TEST_EXISTS));

  /* A target that dies ends the run; the source says why. */
  harness_source_call_ok (h, "tgt", "Stop");
  g_free (def);
  g_free (extra);
  extra = g_strdup_printf ("Target=%s %s --fail-after 1\nMaxFailures=1\n", target, out);
  def = singer_definition (100, 10, "0", extra);
  harness_write_definition (h, "tgt", def);
  harness_call (h, MGR_PATH, MGR_IFACE, "Reload", NULL, NULL, NULL);
  harness_source_call_ok (h, "tgt", "Start");
  g_assert_true (harness_wait_status (h, "tgt", "paused", 10000));
  err = harness_get_s (h, "tgt", "LastError");
  g_assert_nonnull (strstr (err, "The target exited with status 4"));
  /* Its bookmark never moved past what it stored. */
  g_free (bookmark);
  bookmark = harness_get_s (h, "tgt", "Bookmark");
  g_assert_cmpstr (bookmark, ==, "{\"bookmarks\":{\"counter\":{\"n\":50}}}");
}

/* ---- Sinks that do not take data ----------------------------------------- */

/* Writes @path until the file system is full. */
static void
fill_up (const char *path)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  char block[4096];

  g_assert_cmpint (fd, >=, 0);
  memset (block, 'x', sizeof block);
  while (write (fd, block, sizeof block) > 0)
    ;
  g_assert_cmpint (errno, ==, ENOSPC);
  close (fd);
}

static void
test_unwritable_sink_pauses_and_drops_nothing (void)
{
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *count = tap ("count");
  g_autofree char *disk = g_build_filename (h->dir, "disk", NULL);
  g_autofree char *filler = g_build_filename (disk, "filler", NULL);
  g_autofree char *sink = g_build_filename (disk, "full.jsonl", NULL);
  g_autofree char *def = g_strdup_printf ("[Source]\nExec=%s 300000\nSink=%s\n", count, sink);
  g_autofree char *err = NULL;

  /* A disk that is full: a real 64 KiB tmpfs, filled up before the source
   * starts, until the test makes room. (/dev/full is refused as a sink: it
   * is a device.) */
  g_assert_no_errno (mkdir (disk, 0700));
  if (mount ("tmpfs", disk, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0700") != 0)
    {
      g_test_skip_printf ("cannot mount a small tmpfs here: %s", g_strerror (errno));
      return;
    }
  fill_up (filler);
  harness_write_definition (h, "full", def);
  harness_start (h, NULL);
  g_assert_true (harness_wait_status (h, "full", "paused", 5000));
  g_assert_cmpuint (harness_get_t (h, "full", "SystemPausedAt"), !=, 0);
  g_assert_cmpuint (harness_get_t (h, "full", "PausedAt"), ==, 0);
  err = harness_get_s (h, "full", "LastError");
  g_assert_nonnull (strstr (err, sink));
  g_assert_nonnull (strstr (err, "No space left on device"));
  g_assert_cmpuint (harness_get_t (h, "full", "RecordsDelivered"), ==, 0);
  guint32 pid = harness_get_u (h, "full", "MainPID");
  g_assert_true (pid_alive (pid));
  g_assert_true (blocked_writing (pid));

  /* Room again: Unpause delivers everything, from the first line on. The
   * file grows past the small disk, so it moves to a roomy one, as an
   * administrator would. */
  g_assert_no_errno (umount2 (disk, MNT_DETACH));
  harness_source_call_ok (h, "full", "Unpause");
  g_assert_true (harness_wait_t (h, "full", "RecordsDelivered", 300000, 60000));
  g_assert_cmpuint (assert_counting (sink), ==, 300000);
  g_free (err);
  err = harness_get_s (h, "full", "LastError");
  g_assert_cmpstr (err, ==, "");
  harness_source_call_ok (h, "full", "Stop");

  /* A sink that cannot even be opened (its "directory" is a file):
   * paused with the reason, not failed. */
  g_autofree char *not_dir = g_build_filename (h->dir, "not-a-dir", NULL);
  g_autofree char *under_file = g_build_filename (not_dir, "x.jsonl", NULL);
  g_assert_true (g_file_set_contents (not_dir, "", 0, NULL));
  g_free (def);
  def = g_strdup_printf ("[Source]\nExec=%s\nSink=%s\n", count, under_file);
  harness_write_definition (h, "nodir", def);
  harness_call (h, MGR_PATH, MGR_IFACE, "Reload", NULL, NULL, NULL);
  g_assert_true (harness_wait_status (h, "nodir", "paused", 5000));
  g_free (err);
  err = harness_get_s (h, "nodir", "LastError");
  g_assert_nonnull (strstr (err, under_file));
  g_assert_cmpuint (harness_get_u (h, "nodir", "MainPID"), ==, 0);
}

/* ---- Schedules, with the daemon's clock set by the test ------------------ */

static void
test_cron_job_at_month_end_and_skipped_while_paused (void)
{
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *def = singer_definition (5, 5, "0", "CronExpression=0 0 1 * *\n");
  g_autofree char *paused_def = NULL;
  const char *env[] = { "SOURCED_CLOCK_START", "2026-01-31T23:59:58Z", NULL };
  /* 2026-02-01T00:00:00Z and 2026-03-01T00:00:00Z */
  const guint64 feb1 = G_GUINT64_CONSTANT (1769904000) * G_USEC_PER_SEC;
  const guint64 mar1 = G_GUINT64_CONSTANT (1772323200) * G_USEC_PER_SEC;
  g_autofree char *sink = NULL;

  h->extra_env = g_strdupv ((char **) env);
  harness_write_definition (h, "monthly", def);
  paused_def = g_strconcat (def, "InitialState=paused\n", NULL);
  harness_write_definition (h, "held", paused_def);
  harness_start (h, NULL);
  sink = sink_of (h, "monthly");

  g_assert_cmpuint (harness_get_t (h, "monthly", "NextRunAt"), ==, feb1);
  g_assert_cmpuint (harness_get_t (h, "held", "NextRunAt"), ==, feb1);
  /* Two seconds later it is February: the job runs to completion. */
  g_assert_true (harness_wait_t (h, "monthly", "LastJobStartedAt", feb1, 6000));
  g_assert_true (harness_wait_t (h, "monthly", "RecordsDelivered", 5, 6000));
  g_assert_true (wait_for_no_worker (h, "monthly", 5000));
  g_assert_cmpuint (assert_singer_counting (sink, "record"), ==, 5);
  g_assert_cmpuint (harness_get_t (h, "monthly", "NextRunAt"), ==, mar1);

  /* The paused one skipped its job (not queued): next month. */
  g_assert_true (harness_wait_t (h, "held", "NextRunAt", mar1, 3000));
  g_assert_cmpuint (harness_get_t (h, "held", "LastJobStartedAt"), ==, 0);
  g_assert_cmpuint (harness_get_t (h, "held", "RecordsDelivered"), ==, 0);

  /* RunJob runs one now, paused or not, and its records are delivered. */
  g_autofree char *path = source_path ("held");
  sd_bus_message *reply = NULL;
  guint64 started = 0;
  harness_call (h, path, SRC_IFACE, "RunJob", NULL, &reply, NULL);
  g_assert_cmpint (sd_bus_message_read (reply, "t", &started), >=, 0);
  sd_bus_message_unref (reply);
  g_assert_cmpuint (started, >, feb1);
  g_assert_true (harness_wait_t (h, "held", "RecordsDelivered", 5, 5000));
  g_assert_true (wait_for_no_worker (h, "held", 5000));
  g_autofree char *st = harness_get_s (h, "held", "Status");
  g_assert_cmpstr (st, ==, "paused");
}

/* Backoff doubles from RestartSec; after MaxFailures (default 5) exits in a
 * row the daemon pauses the source. The clock runs 100 times fast. */
static void
test_backoff_doubles_then_system_pause (void)
{
  g_autoptr (Harness) h = harness_new ();
  const char *env[] = { "SOURCED_CLOCK_RATE", "100", NULL };
  g_autofree char *err = NULL;
  g_autofree char *log = NULL;

  h->extra_env = g_strdupv ((char **) env);
  harness_write_definition (h, "crashy", "[Source]\nExec=/bin/sh -c \"echo boom >&2; exit 3\"\n");
  harness_start (h, NULL);
  g_assert_true (harness_wait_status (h, "crashy", "paused", 5000));
  err = harness_get_s (h, "crashy", "LastError");
  g_assert_cmpstr (err, ==, "exited with status 3, 5 times in a row: boom");
  g_assert_cmpuint (harness_get_t (h, "crashy", "SystemPausedAt"), !=, 0);
  log = harness_log (h);
  g_assert_nonnull (strstr (log, "restarting in 1 s"));
  g_assert_nonnull (strstr (log, "restarting in 2 s"));
  g_assert_nonnull (strstr (log, "restarting in 4 s"));
  g_assert_nonnull (strstr (log, "restarting in 8 s"));
  g_assert_null (strstr (log, "restarting in 16 s"));
  /* Start clears the daemon's pause and tries again. */
  harness_source_call_ok (h, "crashy", "Start");
  g_assert_cmpuint (harness_get_t (h, "crashy", "SystemPausedAt"), ==, 0);
  g_assert_true (harness_wait_status (h, "crashy", "paused", 5000));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/data/pause-holds-by-backpressure", test_pause_holds_by_backpressure);
  g_test_add_func ("/data/stop-delivers-last-output", test_stop_delivers_last_output);
  g_test_add_func ("/data/singer-stop-start-bookmark", test_singer_stop_start_resumes_from_bookmark);
  g_test_add_func ("/data/singer-kill9-exactly-once", test_singer_kill9_loop_exactly_once);
  g_test_add_func ("/data/singer-target", test_singer_target);
  g_test_add_func ("/data/unwritable-sink", test_unwritable_sink_pauses_and_drops_nothing);
  g_test_add_func ("/data/cron-month-end-paused-skip", test_cron_job_at_month_end_and_skipped_while_paused);
  g_test_add_func ("/data/backoff-system-pause", test_backoff_doubles_then_system_pause);
  return g_test_run ();
}
