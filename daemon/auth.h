/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "sourced.h"

/* Who may change what. Checked in the daemon against the caller's
 * credentials from the bus, for every changing call, on the system bus:
 *   - root is always allowed;
 *   - otherwise polkit decides: org.sourced.Sourced1.control for the source
 *     verbs (Pause, Unpause, Start, Stop, RunJob, Set PausedAt),
 *     org.sourced.Sourced1.manage for the rest (CreateSource, RemoveSource,
 *     Reload, Manager Pause/Unpause); interactive authorization when the
 *     caller allows it;
 *   - without polkit on the bus, members of the group given with --group
 *     (default "sourced") are allowed;
 *   - everyone else gets org.freedesktop.DBus.Error.AccessDenied.
 * Non-root callers are also held to a rate of changing calls, so that one
 * client cannot starve the others (LimitsExceeded).
 *
 * The questions are asynchronous, as in systemd's daemons: the caller's uid
 * (asked of the bus once per connection, then remembered) and polkit's
 * verdict. When auth_check() has to ask, it returns 0 and the handler
 * returns without replying; when the answer comes, the call is queued again
 * and the handler runs again, and this time auth_check() goes further. */

typedef enum {
  AUTH_CONTROL,
  AUTH_MANAGE,
} AuthAction;

typedef struct {
  gboolean enabled;      /* only on the system bus */
  const char *group;     /* the fallback group's name */
  double rate;           /* changing calls per second per non-root caller */
  double burst;
} AuthConfig;

void auth_init (Sourced *d, const AuthConfig *config);
void auth_shutdown (Sourced *d);

/* 1: go on. 0: pending, return 1 from the handler without replying.
 * Negative: @error is set, return it. */
int auth_check (Sourced *d, sd_bus_message *m, AuthAction action, sd_bus_error *error);

/* In a method handler: authorize, or return (pending: without a reply). */
#define AUTH_OR_RETURN(d, m, action, error)                                                                  \
  do                                                                                                         \
    {                                                                                                        \
      int auth_r_ = auth_check ((d), (m), (action), (error));                                                \
      if (auth_r_ <= 0)                                                                                      \
        return auth_r_ == 0 ? 1 : auth_r_;                                                                   \
    }                                                                                                        \
  while (0)
