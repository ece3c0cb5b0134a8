/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Crash consistency under load, and a full disk: what a reply promised is
 * what a restarted sourced has, and the store is never left unreadable. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "harness.h"

#define N_SOURCES 32
#define N_CLIENTS 4
#define KILLS 20

typedef struct Load Load;

typedef struct {
  Load *load;
  guint index;
  char *id;
  char *path;
  guint64 acked;     /* last value whose reply said success */
  guint64 in_flight; /* value sent, no reply yet; 0: none */
  guint64 next;
  sd_bus *client;
} Slot;

struct Load {
  Harness *h;
  sd_bus *clients[N_CLIENTS];
  Slot slots[N_SOURCES];
  gboolean sending;
  guint64 acked_total;
  guint64 failed_total;
};

static int send_one (Slot *s);

static int
on_reply (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  Slot *s = userdata;

  if (sd_bus_message_is_method_error (m, NULL))
    s->load->failed_total++; /* the daemon died under it: not promised */
  else
    {
      s->acked = s->in_flight;
      s->load->acked_total++;
    }
  s->in_flight = 0;
  if (s->load->sending)
    send_one (s);
  return 1;
}

static int
send_one (Slot *s)
{
  int r;

  s->in_flight = s->next++;
  r = sd_bus_call_method_async (s->client, NULL, "org.sourced.Sourced1", s->path, "org.freedesktop.DBus.Properties",
                                "Set", on_reply, s, "ssv", "org.sourced.Sourced1.Source", "PausedAt", "t",
                                s->in_flight);
  g_assert_cmpint (r, >=, 0);
  return r;
}

static gboolean
any_in_flight (Load *l)
{
  for (guint i = 0; i < N_SOURCES; i++)
    if (l->slots[i].in_flight)
      return TRUE;
  return FALSE;
}

/* Runs the clients' event loops for @usec, or until nothing is in flight
 * when not sending. */
static void
pump (Load *l, gint64 usec)
{
  gint64 deadline = g_get_monotonic_time () + usec;

  while (g_get_monotonic_time () < deadline && (l->sending || any_in_flight (l)))
    {
      struct pollfd fds[N_CLIENTS];

      for (guint c = 0; c < N_CLIENTS; c++)
        {
          while (sd_bus_process (l->clients[c], NULL) > 0)
            ;
          fds[c].fd = sd_bus_get_fd (l->clients[c]);
          fds[c].events = (short) sd_bus_get_events (l->clients[c]);
          fds[c].revents = 0;
        }
      poll (fds, N_CLIENTS, 2);
    }
}

static void
assert_store_trusted (Harness *h)
{
  g_autoptr (GDir) dir = g_dir_open (h->state_dir, 0, NULL);
  const char *name;

  while ((name = g_dir_read_name (dir)))
    if (strstr (name, ".corrupt-"))
      g_error ("the store was left unreadable: %s", name);
}

static void
test_kill9_under_load (void)
{
  g_autoptr (Harness) h = harness_new ();
  Load l = { .h = h };
  GRand *rand = g_rand_new_with_seed (7);

  for (guint i = 0; i < N_SOURCES; i++)
    {
      Slot *s = &l.slots[i];
      s->load = &l;
      s->index = i;
      s->id = g_strdup_printf ("s%02u", i);
      s->path = source_path (s->id);
      s->next = 1;
      harness_write_definition (h, s->id, "[Source]\nExec=sleep 1000\nInitialState=stopped\n");
    }
  harness_start (h, NULL);
  for (guint c = 0; c < N_CLIENTS; c++)
    l.clients[c] = harness_connect (h);
  for (guint i = 0; i < N_SOURCES; i++)
    l.slots[i].client = l.clients[i % N_CLIENTS];

  for (guint kill_no = 0; kill_no < KILLS; kill_no++)
    {
      /* 32 changing calls in flight from 4 clients, then SIGKILL at a
       * random moment. */
      l.sending = TRUE;
      for (guint i = 0; i < N_SOURCES; i++)
        send_one (&l.slots[i]);
      pump (&l, g_rand_int_range (rand, 30, 300) * 1000);
      int status = harness_kill (h, SIGKILL);
      g_assert_true (WIFSIGNALED (status));
      l.sending = FALSE;
      pump (&l, 10 * G_USEC_PER_SEC); /* every call gets its answer (an error) */
      g_assert_false (any_in_flight (&l));

      harness_start (h, NULL);
      assert_store_trusted (h);
      for (guint i = 0; i < N_SOURCES; i++)
        {
          Slot *s = &l.slots[i];
          guint64 now = harness_get_t (h, s->id, "PausedAt");
          /* Every acknowledged change is there; the one unanswered call
           * may or may not have made it, nothing else. */
          if (now != s->acked && now != s->next - 1)
            g_error ("%s: PausedAt is %" G_GUINT64_FORMAT " after restart, acknowledged %" G_GUINT64_FORMAT
                     ", last sent %" G_GUINT64_FORMAT,
                     s->id, now, s->acked, s->next - 1);
          s->acked = now;
        }
    }
  g_test_message ("%u kills; %" G_GUINT64_FORMAT " changes acknowledged, %" G_GUINT64_FORMAT
                  " cut off by a kill",
                  KILLS, l.acked_total, l.failed_total);
  g_assert_cmpuint (l.acked_total, >, KILLS * N_SOURCES);

  for (guint c = 0; c < N_CLIENTS; c++)
    sd_bus_flush_close_unref (l.clients[c]);
  for (guint i = 0; i < N_SOURCES; i++)
    {
      g_free (l.slots[i].id);
      g_free (l.slots[i].path);
    }
  g_rand_free (rand);
}

/* ---- A full disk ---------------------------------------------------------- */

/* Fills the file system of @dir; returns the filler's path. */
static char *
fill (const char *dir)
{
  char *path = g_build_filename (dir, "filler", NULL);
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  static const char block[4096];

  g_assert_cmpint (fd, >=, 0);
  while (write (fd, block, sizeof block) > 0)
    ;
  while (write (fd, block, 1) > 0)
    ;
  g_assert_cmpint (errno, ==, ENOSPC);
  close (fd);
  return path;
}

static void
test_disk_full (void)
{
  g_autoptr (Harness) h = harness_new ();
  g_autofree char *filler = NULL;
  g_autofree char *fault = g_build_filename (h->dir, "fault", NULL);
  sd_bus_error e = SD_BUS_ERROR_NULL;
  g_autofree char *path = source_path ("shop");
  gboolean mounted;

  /* A real full file system if this test may mount one; else the store's
   * injected failure, which fails the same write with ENOSPC. */
  g_mkdir_with_parents (h->state_dir, 0700);
  mounted = mount ("tmpfs", h->state_dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=256k,mode=0700") == 0;
  if (!mounted)
    {
      const char *env[] = { "SOURCED_FAULT_FILE", fault, NULL };
      g_test_message ("cannot mount a small tmpfs here (%s); injecting ENOSPC instead", g_strerror (errno));
      h->extra_env = g_strdupv ((char **) env);
    }
  harness_write_definition (h, "shop", "[Source]\nExec=sleep 1000\n");
  harness_start (h, NULL);
  harness_source_call_ok (h, "shop", "Stop");
  harness_source_call_ok (h, "shop", "Start");
  if (mounted)
    filler = fill (h->state_dir);
  else
    g_assert_true (g_file_set_contents (fault, "", -1, NULL));
  harness_clear_signals (h);

  /* No room. A few changes may still fit in the journal's last page;
   * the first that needs a new one is refused: not applied, nothing
   * announced. */
  guint64 before = 0;
  guint calls = 0;
  for (;; calls++)
    {
      g_assert_cmpuint (calls, <, 2000);
      before = harness_get_t (h, "shop", "PausedAt");
      harness_clear_signals (h);
      if (harness_call (h, path, "org.sourced.Sourced1.Source", before ? "Unpause" : "Pause", &e, NULL, NULL) < 0)
        break;
    }
  g_test_message ("%u changes fitted before the disk was full", calls);
  g_assert_cmpstr (e.name, ==, "org.sourced.Sourced1.Error.PersistFailed");
  g_assert_nonnull (strstr (e.message, "No space left on device"));
  sd_bus_error_free (&e);
  g_assert_cmpuint (harness_get_t (h, "shop", "PausedAt"), ==, before);
  harness_sync (h);
  g_assert_cmpuint (harness_count_changed (h, "shop", NULL), ==, 0);
  if (before)
    {
      /* Paused: the refused change was the Unpause. Keep going unpaused
       * for the rest, with the fault still on. */
      harness_kill (h, SIGKILL);
      if (mounted)
        g_assert_no_errno (g_unlink (filler));
      else
        g_assert_no_errno (g_unlink (fault));
      harness_start (h, NULL);
      g_assert_cmpuint (harness_get_t (h, "shop", "PausedAt"), ==, before);
      harness_source_call_ok (h, "shop", "Unpause");
      if (mounted)
        {
          g_free (filler);
          filler = fill (h->state_dir);
          for (guint i = 0; i < 2000 && harness_call (h, path, "org.sourced.Sourced1.Source", "Start", &e, NULL,
                                                      NULL) >= 0; i++)
            ;
          sd_bus_error_free (&e);
        }
      else
        g_assert_true (g_file_set_contents (fault, "", -1, NULL));
    }
  g_assert_cmpint (harness_call (h, path, "org.sourced.Sourced1.Source", "Stop", &e, NULL, NULL), <, 0);
  g_assert_cmpstr (e.name, ==, "org.sourced.Sourced1.Error.PersistFailed");
  sd_bus_error_free (&e);
  g_assert_cmpuint (harness_get_t (h, "shop", "PausedAt"), ==, 0);
  g_autofree char *st = harness_get_s (h, "shop", "Status");
  g_assert_cmpstr (st, ==, "active");
  g_assert_cmpuint (harness_get_u (h, "shop", "MainPID"), !=, 0);

  /* Room again: the same call succeeds, and it is what a restart finds. */
  if (mounted)
    g_assert_no_errno (g_unlink (filler));
  else
    g_assert_no_errno (g_unlink (fault));
  harness_source_call_ok (h, "shop", "Pause");
  guint64 paused_at = harness_get_t (h, "shop", "PausedAt");
  g_assert_cmpuint (paused_at, !=, 0);
  harness_kill (h, SIGKILL);
  harness_start (h, NULL);
  g_assert_cmpuint (harness_get_t (h, "shop", "PausedAt"), ==, paused_at);
  g_autofree char *st2 = harness_get_s (h, "shop", "Status");
  g_assert_cmpstr (st2, ==, "paused"); /* started, and the refused Stop never happened */
  assert_store_trusted (h);

  if (mounted)
    {
      harness_kill (h, SIGTERM);
      g_assert_no_errno (umount (h->state_dir));
    }
}

/* ---- Racing control calls -------------------------------------------------- */

#define RACE_RUNS 20
#define RACE_CALLS 2000
#define RACE_IN_FLIGHT 32
#define RACE_SOURCES 4
#define RACE_SEED 20261202

static const char *const race_methods[] = { "Start", "Stop", "Pause", "Unpause", "RunJob" };

typedef struct {
  sd_bus *client;
  GRand *rand;
  guint sent, replied;
  GString *unexpected; /* errors outside the contract, or no reply */
} Race;

static void race_send (Race *r);

typedef struct {
  Race *race;
  char *what; /* "Stop race2", for the report */
} RaceCall;

static int
on_race_reply (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  RaceCall *call = userdata;
  Race *r = call->race;
  const sd_bus_error *e = sd_bus_message_get_error (m);

  r->replied++;
  /* What the contract allows a racing call to answer: a Stop of a stopped
   * source, a Start or Stop overtaken by the opposite call, RunJob on a
   * continuous source. Anything else (a time-out is a lost reply) is a
   * defect. */
  if (e && !sd_bus_error_has_names (e, "org.sourced.Sourced1.Error.NotStoppable",
                                    "org.sourced.Sourced1.Error.Cancelled", "org.sourced.Sourced1.Error.NotSupported"))
    g_string_append_printf (r->unexpected, "%s: %s: %s\n", call->what, e->name, e->message);
  g_free (call->what);
  g_free (call);
  if (r->sent < RACE_CALLS)
    race_send (r);
  return 1;
}

static void
race_send (Race *r)
{
  g_autofree char *id = g_strdup_printf ("race%d", g_rand_int_range (r->rand, 0, RACE_SOURCES));
  g_autofree char *path = source_path (id);
  const char *method = race_methods[g_rand_int_range (r->rand, 0, G_N_ELEMENTS (race_methods))];
  RaceCall *call = g_new0 (RaceCall, 1);

  call->race = r;
  call->what = g_strdup_printf ("call %u, %s %s", r->sent, method, id);
  r->sent++;
  g_assert_cmpint (sd_bus_call_method_async (r->client, NULL, "org.sourced.Sourced1", path,
                                             "org.sourced.Sourced1.Source", method, on_race_reply, call, NULL),
                   >=, 0);
}

/* Status settles once nothing is starting or stopping; it must then say
 * whether the worker runs. */
typedef struct {
  Harness *h;
  const char *id;
} Of;

static gboolean
settled (gpointer data)
{
  Of *o = data;
  g_autofree char *st = harness_get_s (o->h, o->id, "Status");
  return !g_str_equal (st, "starting") && !g_str_equal (st, "stopping");
}

static void
assert_status_matches_worker (Harness *h, const char *id)
{
  Of o = { h, id };

  g_assert_true (harness_wait_until (settled, &o, 15000));
  g_autofree char *st = harness_get_s (h, id, "Status");
  guint32 pid = harness_get_u (h, id, "MainPID");
  if (g_str_equal (st, "active") || g_str_equal (st, "paused"))
    {
      if (pid == 0 || !pid_alive (pid))
        g_error ("%s is %s but its worker (%u) does not run", id, st, pid);
    }
  else if (pid != 0)
    g_error ("%s is %s but has a worker (%u)", id, st, pid);
}

static void
test_racing_calls_all_answered (void)
{
  g_autoptr (Harness) h = harness_new ();
  g_autoptr (GRand) seeds = g_rand_new_with_seed (RACE_SEED);

  for (guint i = 0; i < RACE_SOURCES; i++)
    {
      g_autofree char *id = g_strdup_printf ("race%u", i);
      harness_write_definition (h, id, "[Source]\nExec=sleep 100000\n");
    }
  harness_start (h, NULL);

  for (guint run = 0; run < RACE_RUNS; run++)
    {
      Race r = { 0 };
      gint64 deadline;

      r.client = harness_connect (h);
      /* A lost reply shows as a time-out: short, so that the test says so
       * in seconds, not minutes. */
      sd_bus_set_method_call_timeout (r.client, 10 * G_USEC_PER_SEC);
      r.rand = g_rand_new_with_seed (g_rand_int (seeds));
      r.unexpected = g_string_new (NULL);
      for (guint i = 0; i < RACE_IN_FLIGHT; i++)
        race_send (&r);
      deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
      while (r.replied < RACE_CALLS && g_get_monotonic_time () < deadline)
        {
          if (sd_bus_process (r.client, NULL) > 0)
            continue;
          sd_bus_wait (r.client, 100 * 1000);
        }
      if (r.replied != RACE_CALLS || r.unexpected->len)
        {
          g_autofree char *log = harness_log (h);
          g_printerr ("sourced's log (end):\n%s\n", strlen (log) > 4000 ? log + strlen (log) - 4000 : log);
        }
      g_assert_cmpuint (r.replied, ==, RACE_CALLS);
      if (r.unexpected->len)
        g_error ("run %u: answers outside the contract:\n%s", run, r.unexpected->str);
      for (guint i = 0; i < RACE_SOURCES; i++)
        {
          g_autofree char *id = g_strdup_printf ("race%u", i);
          assert_status_matches_worker (h, id);
        }
      g_string_free (r.unexpected, TRUE);
      g_rand_free (r.rand);
      sd_bus_flush_close_unref (r.client);
    }
}

/* ---- Out of descriptors ------------------------------------------------------ */

#define SHORTAGE_SOURCES 60

/* sourced's own shortage of descriptors is no fault of the sources: those
 * it cannot start wait in "starting" with the reason, nothing is persisted,
 * the bus is still answered, and a sourced with room runs them all. */
static void
test_descriptor_shortage_pauses_nothing (void)
{
  g_autoptr (Harness) h = harness_new ();
  guint active = 0, starting = 0;

  for (guint i = 0; i < SHORTAGE_SOURCES; i++)
    {
      g_autofree char *id = g_strdup_printf ("idle%02u", i);
      harness_write_definition (h, id, "[Source]\nExec=sleep 100000\nRestartSec=1\n");
    }
  h->nofile = 200;
  harness_start (h, NULL);
  for (guint i = 0; i < SHORTAGE_SOURCES; i++)
    {
      g_autofree char *id = g_strdup_printf ("idle%02u", i);
      g_autofree char *st = harness_get_s (h, id, "Status");

      g_assert_cmpuint (harness_get_t (h, id, "SystemPausedAt"), ==, 0);
      g_assert_cmpuint (harness_get_t (h, id, "PausedAt"), ==, 0);
      if (g_str_equal (st, "active"))
        {
          g_assert_cmpuint (harness_get_u (h, id, "MainPID"), !=, 0);
          active++;
        }
      else
        {
          g_autofree char *err = harness_get_s (h, id, "LastError");
          g_assert_cmpstr (st, ==, "starting");
          g_assert_nonnull (strstr (err, "too few file descriptors"));
          starting++;
        }
    }
  g_test_message ("with 200 descriptors: %u running, %u waiting", active, starting);
  g_assert_cmpuint (active, >, 10);
  g_assert_cmpuint (starting, >, 0);
  /* Still answering, with room for its own work. */
  harness_source_call_ok (h, "idle00", "Pause");
  harness_source_call_ok (h, "idle00", "Unpause");

  harness_kill (h, SIGTERM);
  h->nofile = 0;
  harness_start (h, NULL);
  for (guint i = 0; i < SHORTAGE_SOURCES; i++)
    {
      g_autofree char *id = g_strdup_printf ("idle%02u", i);
      g_autofree char *st = harness_get_s (h, id, "Status");
      g_assert_cmpstr (st, ==, "active");
      g_assert_cmpuint (harness_get_t (h, id, "SystemPausedAt"), ==, 0);
    }
}

/* ---- Control while data flows ------------------------------------------------- */

static int
compare_gint64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return x < y ? -1 : x > y;
}

/* Control comes first: with 8 workers writing as fast as they can, a
 * Pause of another source is answered in about the time it takes when
 * idle, not after every busy worker has had its turn (180 ms at the median
 * before the pumps yielded to the bus). The bound is loose on purpose:
 * the machine is shared; the benchmark (bench-latency) has the figures. */
static void
test_control_first_under_load (void)
{
  g_autoptr (Harness) h = harness_new ();
  g_autoptr (GArray) took = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autofree char *ctl = source_path ("ctl");
  sd_bus *bus;

  for (guint i = 0; i < 8; i++)
    {
      g_autofree char *id = g_strdup_printf ("busy%u", i);
      harness_write_definition (h, id, "[Source]\nExec=yes\nSink=/dev/null\n");
    }
  harness_write_definition (h, "ctl", "[Source]\nExec=sleep 100000\n");
  harness_start (h, NULL);
  bus = harness_connect (h);
  /* The pipes full and the pumps busy before measuring. */
  g_assert_true (harness_wait_t (h, "busy7", "BytesDelivered", 64 * 1024 * 1024, 60000));
  for (guint i = 0; i < 60; i++)
    {
      sd_bus_error e = SD_BUS_ERROR_NULL;
      gint64 t0 = g_get_monotonic_time (), dt;
      g_assert_cmpint (sd_bus_call_method (bus, "org.sourced.Sourced1", ctl, "org.sourced.Sourced1.Source",
                                           i % 2 ? "Unpause" : "Pause", &e, NULL, NULL),
                       >=, 0);
      dt = g_get_monotonic_time () - t0;
      g_array_append_val (took, dt);
    }
  g_array_sort (took, compare_gint64);
  g_test_message ("Pause/Unpause under load: median %.2f ms, max %.2f ms",
                  g_array_index (took, gint64, took->len / 2) / 1000.0,
                  g_array_index (took, gint64, took->len - 1) / 1000.0);
  g_assert_cmpint (g_array_index (took, gint64, took->len / 2), <, 25 * 1000);
  sd_bus_flush_close_unref (bus);
}

/* Workers that write at full speed keep their pipes always ready; the
 * sources still queued to launch must get their turn anyway (they waited
 * behind the flood for as long as it lasted when the launch queue ran at
 * idle priority). harness_start() returns once STATUS= says every source
 * was launched. */
static void
test_launch_under_flood (void)
{
  g_autoptr (Harness) h = harness_new ();

  for (guint i = 0; i < 4; i++)
    {
      g_autofree char *id = g_strdup_printf ("flood%u", i);
      harness_write_definition (h, id, "[Source]\nExec=yes\nSink=/dev/null\n");
    }
  for (guint i = 0; i < 300; i++)
    {
      g_autofree char *id = g_strdup_printf ("quiet%03u", i);
      harness_write_definition (h, id, "[Source]\nExec=sleep 100000\n");
    }
  harness_start (h, NULL);
  g_autofree char *first = harness_get_s (h, "quiet000", "Status");
  g_autofree char *last = harness_get_s (h, "quiet299", "Status");
  g_assert_cmpstr (first, ==, "active");
  g_assert_cmpstr (last, ==, "active");
  g_assert_cmpuint (harness_get_t (h, "flood0", "BytesDelivered"), >, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/stress/kill9-under-load", test_kill9_under_load);
  g_test_add_func ("/stress/disk-full", test_disk_full);
  g_test_add_func ("/stress/racing-calls-all-answered", test_racing_calls_all_answered);
  g_test_add_func ("/stress/descriptor-shortage-pauses-nothing", test_descriptor_shortage_pauses_nothing);
  g_test_add_func ("/stress/control-first-under-load", test_control_first_under_load);
  g_test_add_func ("/stress/launch-under-flood", test_launch_under_flood);
  return g_test_run ();
}
