/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "clock.h"

#include <stdlib.h>

#include "sourced-error.h"

void
clock_set (Clock *c, guint64 start, double new_rate)
{
  c->fake = TRUE;
  c->wall_origin = start;
  c->mono_origin = g_get_monotonic_time ();
  c->rate = new_rate;
}

gboolean
clock_init_from_env (Clock *c, GError **error)
{
  const char *start_text = g_getenv ("SOURCED_CLOCK_START");
  const char *rate_text = g_getenv ("SOURCED_CLOCK_RATE");
  guint64 start = g_get_real_time ();
  double new_rate = 1.0;

  if (!(start_text && *start_text) && !(rate_text && *rate_text))
    return TRUE;
  if (start_text && *start_text)
    {
      g_autoptr (GDateTime) dt = g_date_time_new_from_iso8601 (start_text, NULL);
      char *end = NULL;

      if (dt)
        start = (guint64) g_date_time_to_unix (dt) * G_USEC_PER_SEC + g_date_time_get_microsecond (dt);
      else if (!(start = g_ascii_strtoull (start_text, &end, 10)) || *end)
        {
          g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                       "SOURCED_CLOCK_START='%s' is neither ISO 8601 nor microseconds since the epoch", start_text);
          return FALSE;
        }
    }
  if (rate_text && *rate_text)
    {
      char *end = NULL;
      new_rate = g_ascii_strtod (rate_text, &end);
      if (*end || !(new_rate >= 0.001 && new_rate <= 1e6))
        {
          g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                       "SOURCED_CLOCK_RATE='%s' is not a number between 0.001 and 1000000", rate_text);
          return FALSE;
        }
    }
  clock_set (c, start, new_rate);
  return TRUE;
}

guint64
clock_now (const Clock *c)
{
  if (!c->fake)
    return (guint64) g_get_real_time ();
  return c->wall_origin + (guint64) ((double) (g_get_monotonic_time () - c->mono_origin) * c->rate);
}

guint
clock_timeout_ms (const Clock *c, guint64 usec)
{
  double ms = (double) usec / 1000.0 / (c->fake ? c->rate : 1.0);

  if (ms >= (double) G_MAXUINT)
    return G_MAXUINT;
  /* Round up: waking early only costs a re-arm, waking late is a bug. */
  return (guint) ms + (ms > (guint) ms ? 1 : 0);
}
