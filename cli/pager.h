/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* As systemctl does: when standard output is a terminal, long output goes
 * through $SYSTEMD_PAGER, $PAGER or less (with LESS=FRSXMK, so that what
 * fits on one screen is just printed). pager_close() waits for it. */
void pager_open (void);
void pager_close (void);
