/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "scheduler.h"

#include <time.h>
#include <stdlib.h>

#include "sourced-error.h"

struct CronSchedule {
  guint64 minutes; /* bit 0..59 */
  guint32 hours;   /* bit 0..23 */
  guint32 mdays;   /* bit 1..31 */
  guint32 months;  /* bit 1..12 */
  guint32 wdays;   /* bit 0..6, Sunday = 0 */
  gboolean mday_star, wday_star;
};

/* NULL-terminated: parse_value() walks them to the end. */
static const char *const month_names[] = { "jan", "feb", "mar", "apr", "may", "jun",
                                           "jul", "aug", "sep", "oct", "nov", "dec", NULL };
static const char *const wday_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL };

static gboolean
parse_value (const char **p, guint min, guint max, const char *const *names, guint names_base, guint *out)
{
  if (g_ascii_isdigit (**p))
    {
      char *end;
      guint64 v = g_ascii_strtoull (*p, &end, 10);
      if (end - *p > 4 || v < min || v > max)
        return FALSE;
      *p = end;
      *out = (guint) v;
      return TRUE;
    }
  if (names)
    for (guint i = 0; names[i]; i++)
      if (g_ascii_strncasecmp (*p, names[i], 3) == 0)
        {
          *p += 3;
          *out = i + names_base;
          return TRUE;
        }
  return FALSE;
}

/* Parses one field into a bitmask; @is_star says whether it was a bare '*'. */
static gboolean
parse_field (const char *field, guint min, guint max, const char *const *names, guint names_base,
             guint64 *mask, gboolean *is_star)
{
  const char *p = field;

  *mask = 0;
  *is_star = g_str_equal (field, "*");
  for (;;)
    {
      guint lo, hi, step = 1;
      if (*p == '*')
        {
          lo = min;
          hi = max;
          p++;
        }
      else
        {
          if (!parse_value (&p, min, max, names, names_base, &lo))
            return FALSE;
          hi = lo;
          if (*p == '-')
            {
              p++;
              if (!parse_value (&p, min, max, names, names_base, &hi) || hi < lo)
                return FALSE;
            }
        }
      if (*p == '/')
        {
          p++;
          if (!parse_value (&p, 1, max, NULL, 0, &step))
            return FALSE;
          if (lo == hi)
            hi = max; /* "5/15" means from 5 on, every 15 */
        }
      for (guint v = lo; v <= hi; v += step)
        *mask |= G_GUINT64_CONSTANT (1) << v;
      if (*p == '\0')
        return TRUE;
      if (*p != ',')
        return FALSE;
      p++;
    }
}

CronSchedule *
cron_schedule_parse (const char *expression, GError **error)
{
  g_autoptr (CronSchedule) cron = g_new0 (CronSchedule, 1);
  g_auto (GStrv) fields = g_strsplit_set (expression, " \t", -1);
  const char *f[5];
  guint n = 0;
  guint64 mask;
  gboolean star;

  for (guint i = 0; fields[i]; i++)
    if (fields[i][0] != '\0')
      {
        if (n == 5)
          goto too_many;
        f[n++] = fields[i];
      }
  if (n != 5)
    {
    too_many:
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                   "expected 5 fields (minute hour day-of-month month day-of-week)");
      return NULL;
    }

  static const struct { const char *name; guint min, max; } spec[] = {
    { "minute", 0, 59 }, { "hour", 0, 23 }, { "day-of-month", 1, 31 }, { "month", 1, 12 }, { "day-of-week", 0, 7 },
  };
  for (guint i = 0; i < 5; i++)
    {
      const char *const *names = i == 3 ? month_names : i == 4 ? wday_names : NULL;
      if (!parse_field (f[i], spec[i].min, spec[i].max, names, i == 3 ? 1 : 0, &mask, &star))
        {
          g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                       "bad %s field '%s' (allowed: %u-%u, '*', lists, ranges, steps)",
                       spec[i].name, f[i], spec[i].min, spec[i].max);
          return NULL;
        }
      switch (i)
        {
        case 0: cron->minutes = mask; break;
        case 1: cron->hours = (guint32) mask; break;
        case 2: cron->mdays = (guint32) mask; cron->mday_star = star; break;
        case 3: cron->months = (guint32) mask; break;
        case 4:
          if (mask & (1u << 7))
            mask |= 1u; /* 7 is Sunday too */
          cron->wdays = (guint32) mask & 0x7f;
          cron->wday_star = star;
          break;
        }
    }
  return g_steal_pointer (&cron);
}

void
cron_schedule_free (CronSchedule *cron)
{
  g_free (cron);
}

static gboolean
day_matches (const CronSchedule *c, const struct tm *tm)
{
  gboolean mday = (c->mdays >> tm->tm_mday) & 1;
  gboolean wday = (c->wdays >> tm->tm_wday) & 1;

  if (c->mday_star || c->wday_star)
    return mday && wday;
  return mday || wday;
}

guint64
cron_schedule_next (const CronSchedule *c, guint64 after_usec)
{
  time_t t = (time_t) (after_usec / G_USEC_PER_SEC);
  time_t limit;
  struct tm tm;

  /* Start at the next whole minute. */
  t = t - (t % 60) + 60;
  limit = t + (time_t) 5 * 366 * 24 * 3600;

  while (t < limit)
    {
      gmtime_r (&t, &tm);
      if (!((c->months >> (tm.tm_mon + 1)) & 1))
        {
          tm.tm_mon++;
          tm.tm_mday = 1;
          tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
          t = timegm (&tm);
          continue;
        }
      if (!day_matches (c, &tm))
        {
          tm.tm_mday++;
          tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
          t = timegm (&tm);
          continue;
        }
      if (!((c->hours >> tm.tm_hour) & 1))
        {
          tm.tm_hour++;
          tm.tm_min = tm.tm_sec = 0;
          t = timegm (&tm);
          continue;
        }
      if (!((c->minutes >> tm.tm_min) & 1))
        {
          t += 60;
          continue;
        }
      return (guint64) t * G_USEC_PER_SEC;
    }
  return 0;
}

guint64
frequency_next (guint minutes, guint64 last_start_usec, guint64 now_usec)
{
  guint64 period = (guint64) minutes * 60 * G_USEC_PER_SEC;

  if (last_start_usec == 0 || last_start_usec + period <= now_usec)
    return now_usec;
  return last_start_usec + period;
}
