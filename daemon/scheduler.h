/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

/* Pure next-run arithmetic for scheduled sources, in UTC, on microsecond
 * timestamps (systemd's convention). No clocks are read here: callers pass
 * "now", which is what makes the schedule testable without waiting. */

typedef struct CronSchedule CronSchedule;

/* Standard 5-field cron: minute hour day-of-month month day-of-week, each a
 * list of '*', N, N-M and any of those with '/STEP'; month and weekday names
 * (jan, mon, ...) are accepted; weekday 7 is Sunday like 0. When both
 * day-of-month and day-of-week are restricted, a day matching either runs
 * (as in Vixie cron). */
CronSchedule *cron_schedule_parse (const char *expression, GError **error);
void cron_schedule_free (CronSchedule *cron);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CronSchedule, cron_schedule_free)

/* First matching minute strictly after @after_usec; 0 if none within ~5 years
 * (an expression like "0 0 31 2 *" never matches). */
guint64 cron_schedule_next (const CronSchedule *cron, guint64 after_usec);

/* Next job of an every-@minutes source whose last job started at
 * @last_start_usec (0: never ran): due at once if never ran or overdue. */
guint64 frequency_next (guint minutes, guint64 last_start_usec, guint64 now_usec);
