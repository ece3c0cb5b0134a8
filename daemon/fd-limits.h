/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <sys/resource.h>

/* Descriptors. systemd starts services with a soft RLIMIT_NOFILE of 1024
 * (select() cannot take more) and a hard one far above; a daemon that needs
 * many raises its soft limit to the hard one and gives its children the
 * 1024 back. Each running source holds 3 to 6 descriptors, so sourced does
 * the same, and keeps FD_LIMITS_RESERVE of them for itself: a worker is not
 * started when fewer than that would remain, so that sd_notify (the
 * watchdog), the store's snapshots and sink re-opens never run short. */

#define FD_LIMITS_RESERVE 64

/* Raises the soft limit to the hard one. Returns the soft limit found, the
 * one to hand to children. */
rlim_t fd_limits_raise (void);

/* The soft limit in force now. */
rlim_t fd_limits_current (void);

/* TRUE if at least FD_LIMITS_RESERVE + @need descriptors can still be
 * opened. Exact (it opens and closes them), and cheap next to a fork. */
gboolean fd_limits_have_room (guint need);
