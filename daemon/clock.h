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
 * backoff) is armed through sourced_clock_timeout_ms(), so it runs at the
 * same rate. */

gboolean sourced_clock_init_from_env (GError **error);

/* Wall-clock time in µs since the epoch. */
guint64 sourced_now (void);

/* Real milliseconds a timer must wait for @usec of this clock to pass. */
guint sourced_clock_timeout_ms (guint64 usec);

/* Test hook: start the clock at @start (µs) running at @rate. */
void sourced_clock_set (guint64 start, double rate);
