/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

/* As systemctl does: on a terminal, starts polkit's text agent
 * (pkttyagent) for this process, so that a call that needs an
 * administrator's password can ask for it, and waits until the agent is
 * registered. Does nothing when stdin is not a terminal, or pkttyagent is
 * not installed. polkit_agent_close() ends it. */
void polkit_agent_open (void);
void polkit_agent_close (void);
