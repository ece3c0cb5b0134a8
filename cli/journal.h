/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

/* The last @n journal lines that sourced logged about source @id (matched
 * by SOURCE_ID=), printed as journalctl's short format does, after a
 * blank line. Where the journal cannot be read (no journald, no
 * permission), one line says so instead. */
void journal_print_source_lines (const char *id, guint n);
