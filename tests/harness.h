/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The integration tests' world: a private dbus-daemon with the system bus's
 * limits, temporary config and state directories, the real sourced binary
 * (waited for through its own sd_notify READY=1), and an sd-bus client. */

#include <glib.h>
#include <systemd/sd-bus.h>

typedef struct {
  char *dir;
  char *config_dir;
  char *state_dir;
  char *bus_address;
  char *log_path;
  GPid bus_pid;
  GPid daemon_pid;
  int notify_fd;
  sd_bus *client;
  GPtrArray *signals; /* Signal* */
  char **extra_env;
  unsigned long nofile; /* if not 0: sourced's RLIMIT_NOFILE, soft and hard */
  gboolean system_bus; /* a system-type bus; sourced runs with --system */
} Harness;

typedef struct {
  char *path;
  char *member;    /* PropertiesChanged, InterfacesAdded, InterfacesRemoved */
  GStrv props;     /* changed property names (PropertiesChanged) */
} Signal;

Harness *harness_new (void);
/* @system_bus: a system-type bus, and sourced started with --system on it. */
Harness *harness_new_full (gboolean system_bus);
/* …with @extra_conf added to the bus's configuration (other <limit>s,
 * say; later ones win). */
Harness *harness_new_with_bus_conf (gboolean system_bus, const char *extra_conf);
void harness_free (Harness *h);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Harness, harness_free)

void harness_write_definition (Harness *h, const char *id, const char *contents);
void harness_remove_definition (Harness *h, const char *id);
/* Starts sourced and waits for READY=1; extra arguments NULL-terminated. */
void harness_start (Harness *h, ...) G_GNUC_NULL_TERMINATED;
/* Sends @sig and waits for the daemon to exit; returns its wait status. */
int harness_kill (Harness *h, int sig);
char *harness_log (Harness *h);

char *source_path (const char *id);

/* Calls a method; returns the sd-bus result; @error may be NULL (then the
 * call must succeed). */
int harness_call (Harness *h, const char *path, const char *iface, const char *member, sd_bus_error *error,
                  sd_bus_message **reply, const char *types, ...);
void harness_source_call_ok (Harness *h, const char *id, const char *member);
/* Calls and checks the error name; returns the message (free it). */
char *harness_source_call_error (Harness *h, const char *id, const char *member, const char *error_name);

char *harness_get_s (Harness *h, const char *id, const char *prop);
guint64 harness_get_t (Harness *h, const char *id, const char *prop);
guint32 harness_get_u (Harness *h, const char *id, const char *prop);
gint32 harness_get_i (Harness *h, const char *id, const char *prop);
gboolean harness_get_b (Harness *h, const char *id, const char *prop);
guint64 harness_manager_get_t (Harness *h, const char *prop);

/* Dispatches whatever has arrived, after a round trip so that every signal
 * sent before now is in. */
void harness_sync (Harness *h);
void harness_clear_signals (Harness *h);
/* PropertiesChanged signals on @id's object carrying @prop (NULL: any). */
guint harness_count_changed (Harness *h, const char *id, const char *prop);
guint harness_count_member (Harness *h, const char *member);
/* Waits up to @timeout_ms for source @id's Status to become @status. */
gboolean harness_wait_status (Harness *h, const char *id, const char *status, guint timeout_ms);
/* Waits up to @timeout_ms for source @id's property @prop (a t) to reach
 * at least @at_least. */
gboolean harness_wait_t (Harness *h, const char *id, const char *prop, guint64 at_least, guint timeout_ms);
/* …for a property that is a u. */
gboolean harness_wait_u (Harness *h, const char *id, const char *prop, guint32 at_least, guint timeout_ms);

/* Waits until @cond (@data) is true, or @timeout_ms passed: FALSE then. It
 * polls, first every millisecond and then less often (at most every 20 ms),
 * so a condition that holds soon is seen soon. The one waiting loop of the
 * tests: use it rather than a sleep. */
typedef gboolean (*HarnessCond) (gpointer data);
gboolean harness_wait_until (HarnessCond cond, gpointer data, guint timeout_ms);
/* Whether @name has an owner on @h's bus. */
gboolean harness_name_has_owner (Harness *h, const char *name);
/* True once @path exists (a marker a worker writes when it is ready). */
gboolean harness_file_exists (gpointer path);

gboolean pid_alive (pid_t pid);
/* The state letter of /proc/PID/stat (R, S, Z…), '?' when there is none. */
char harness_process_state (pid_t pid);
/* User plus system CPU time of a process, all its threads; -1 if gone. */
double harness_process_cpu_seconds (pid_t pid);
/* Store transactions ever written (each one fdatasync'd append): the last
 * journal sequence number, or the snapshot's when the journal was folded. */
guint64 harness_count_transactions (Harness *h);
/* A plain client connection to the test's bus, subscribed to nothing. */
sd_bus *harness_connect (Harness *h);

/* What a command run by a test did: its exit code and its output. */
typedef struct {
  int status;
  char *out;
  char *err;
} HarnessRun;

void harness_run_clear (HarnessRun *run);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (HarnessRun, harness_run_clear)
