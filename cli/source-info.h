/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <systemd/sd-bus.h>

/* One source's properties as sourcectl reads them: one GetAll. */

#include "sourced-api.h"

typedef struct {
  char *path;
  char *id;
  char *display_name;
  char *type;
  char *status;
  char *cron_expression;
  char *last_error;
  char *bookmark;
  gboolean active;
  guint32 frequency_minutes;
  guint32 main_pid;
  gint32 last_exit_status;
  guint64 paused_at;
  guint64 system_paused_at;
  guint64 created_at;
  guint64 updated_at;
  guint64 records_delivered;
  guint64 bytes_delivered;
  guint64 last_record_at;
  guint64 next_run_at;
  guint64 last_job_started_at;
  guint32 n_restarts;
  guint64 next_retry_at;
  char *sink;
} SourceInfo;

void source_info_free (SourceInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SourceInfo, source_info_free)

/* Resolves @id with GetSource (so an unknown id is NoSuchSource) and reads
 * every property. */
int source_info_get (sd_bus *bus, const char *id, SourceInfo **out, sd_bus_error *error);
int source_info_get_path (sd_bus *bus, const char *path, SourceInfo **out, sd_bus_error *error);
/* Every source, in id order, through the Manager's GetSourcesPaged. */
int source_info_get_all (sd_bus *bus, GPtrArray **infos, sd_bus_error *error);

/* The object the Stitch API would return for a source, snake_case keys,
 * timestamps as ISO 8601 strings or null. */
JsonNode *source_info_to_json (const SourceInfo *info);

/* The JSON key for a D-Bus property name ("PausedAt" → "paused_at"). */
char *source_info_json_key (const char *property);
/* A property value from a message positioned at its variant, as JSON
 * (timestamps as ISO 8601). */
int source_info_variant_to_json (sd_bus_message *m, const char *property, JsonNode **out);
/* …and as text for people. */
int source_info_variant_to_text (sd_bus_message *m, const char *property, guint64 now, char **out);

/* Every id, in order, with ListSourcesPaged (so any number of sources fits). */
int source_info_list_ids (sd_bus *bus, GPtrArray **ids, sd_bus_error *error);
