/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "sourced.h"

/* Bringing the sources in: from the store and the definition files at start,
 * from the definition files again on Reload. */

typedef struct {
  GPtrArray *added;   /* Source*: new, to start once committed if started */
  GPtrArray *removed; /* Source*: whose file is gone, to stop */
} LoadChanges;

void load_changes_free (LoadChanges *changes);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LoadChanges, load_changes_free)

/* Reads the store and <config dir>/sources.d. A definition file that cannot
 * be used is skipped with a warning naming file and line. Sources seen for
 * the first time get their InitialState, and that is queued for the commit;
 * afterwards the store always wins. Nothing here fails: a store that cannot
 * be read is moved aside (or, if even that fails, ignored) with a warning. */
void load_initial (Sourced *d);

/* Re-reads the definition files: new files add sources, vanished files
 * remove them, changed files update them (effective at the next start);
 * control state is kept. A file that has become unusable leaves its source
 * as it was, with a warning. The changes are queued for the commit; once
 * it is done, the caller hands them to supervisor_apply(). */
LoadChanges *load_reload (Sourced *d);
