/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The Manager interface's properties, one line each, in the order of the
 * introspection XML; the same form as SOURCE_PROPERTIES (source-props.h),
 * the value an expression of `d` (Sourced *). From it come the getters and
 * the vtable (manager-bus.c); tests/arch/check-properties.py compares it
 * with introspection/org.sourced.Sourced1.Manager.xml. */
#define MANAGER_PROPERTIES(X)                                                                                          \
  X (PAUSED_AT, "PausedAt", "t", SIGNAL, d->paused_at)                                                                 \
  X (VERSION, "Version", "s", CONST, SOURCED_VERSION)                                                                  \
  X (N_SOURCES, "NSources", "u", SIGNAL, (guint32) d->n_sources)
