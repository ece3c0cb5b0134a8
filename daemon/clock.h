/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

/* The daemon's wall clock. Normally the real time; tests may start it at a
 * chosen moment and run it faster, so that a schedule due "next month" or a
 * five-minute backoff can be exercised in seconds:
 *
 *   SOURCED_CLOCK_START=2026-01-31T23:59:58Z   (ISO 8601, or µs since epoch)
 *   SOURCED_CLOCK_RATE=60                      (wall seconds per real second)
 *
 * Every timer whose length is a wall-clock duration (schedules, restart
 * backoff) is armed through clock_timeout_ms(), so it runs at the
 * same rate. */

typedef struct {
  gboolean fake;        /* FALSE: the real time (a zeroed Clock is one) */
  guint64 wall_origin;  /* its time at mono_origin, µs since the epoch */
  gint64 mono_origin;
  double rate;          /* its seconds per real second */
} Clock;

gboolean clock_init_from_env (Clock *clock, GError **error);

/* Wall-clock time in µs since the epoch. */
guint64 clock_now (const Clock *clock);

/* Real milliseconds a timer must wait for @usec of this clock to pass. */
guint clock_timeout_ms (const Clock *clock, guint64 usec);

/* Starts the clock at @start (µs) running at @rate. */
void clock_set (Clock *clock, guint64 start, double rate);
