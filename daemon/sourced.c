/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon object's source table: lookup, insert, forget. In the library
 * (not in main.c) so that every layer above it, and the unit tests, link
 * without the program. */
#include "sourced.h"

Source *
sourced_lookup (Sourced *d, const char *id)
{
  Source *src = g_tree_lookup (d->sources, id);
  return src && !src->removed ? src : NULL;
}

void
sourced_insert (Sourced *d, Source *src)
{
  g_tree_insert (d->sources, src->id, src);
  d->n_sources++;
}

void
sourced_forget (Sourced *d, Source *src)
{
  if (g_tree_lookup (d->sources, src->id) != src)
    return;
  d->n_sources--;
  g_tree_remove (d->sources, src->id);
}
