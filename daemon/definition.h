/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "settings.h"

/* Definition files: <config dir>/sources.d/<id>.source, GKeyFile syntax with
 * one [Source] group. Parsed line by line (rather than with GKeyFile) so that
 * every error names the file and the line, and so that the "Key=value  # note"
 * comments of the documented example work: a '#' that follows white space
 * starts a comment. Errors are SOURCED_ERROR_INVALID_ARGS, messages of the
 * form "<path>:<line>: <what>". */
/* @state_dir, if not NULL, is sourced's state directory: a Sink= inside it
 * is refused (sink-rules.h). */
SourceSettings *definition_parse (const char *path, const char *data, gsize length, const char *state_dir,
                                  GError **error);
SourceSettings *definition_load_file (const char *path, const char *state_dir, GError **error);

/* The id a definition file defines: its base name without ".source", or NULL
 * when the name is not "<valid id>.source". */
char *definition_id_from_filename (const char *filename);
