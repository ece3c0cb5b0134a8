/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <glib-unix.h>

/* Descriptor watches for the workers' pipes, all behind one epoll
 * descriptor that the GLib main loop polls as a single source.
 *
 * Why: GLib keeps its poll records in a list sorted by descriptor, and
 * scans every source on every loop turn. With two or three watches per
 * running source, adding one cost a walk of thousands of records, and every
 * turn polled thousands of pipes: launching 1,000 sources spent a sixth of
 * its time there, and an idle daemon with 10,000 paid it on every wake-up.
 * epoll reports only what is ready.
 *
 * Same contract as g_unix_fd_add(): level-triggered, @func returns
 * G_SOURCE_CONTINUE or G_SOURCE_REMOVE, ids are never reused. Remove a
 * watch before closing its descriptor. */

typedef struct IoWatcher IoWatcher;

/* One per daemon (d->io); its epoll descriptor is polled by the default
 * main context. */
IoWatcher *io_watcher_new (void);
void io_watcher_free (IoWatcher *io);

guint io_watch_add (IoWatcher *io, int fd, GIOCondition condition, GUnixFDSourceFunc func, gpointer user_data);
void io_watch_remove (IoWatcher *io, guint id);
