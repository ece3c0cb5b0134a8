/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The Source interface's properties, one line each, in the order of the
 * introspection XML and of GetAll:
 *
 *   X (BIT, "Name", "signature", kind, value)
 *
 * kind:  CONST     never changes (EmitsChangedSignal=const)
 *        SIGNAL    each change goes out in PropertiesChanged
 *        SILENT    read on demand: counters that move with every record
 *                  (EmitsChangedSignal=false)
 *        WRITABLE  SIGNAL, and settable (Properties.Set, handled in
 *                  source_bus_handle_set)
 * value: what the getter returns, an expression of `src` (const Source *);
 *        strings are never NULL.
 *
 * From this one list come the SourceProp bits (source.h), the names that
 * PropertiesChanged carries (source_prop_names), the getters, the vtable
 * and the reply size bound (source-bus.c); tests/arch/check-properties.py
 * compares it with introspection/org.sourced.Sourced1.Source.xml. A new
 * property is a line here and its element in the XML; the mutator that
 * changes it marks SOURCE_PROP_<BIT>. */
#define SOURCE_PROPERTIES(X)                                                                                           \
  X (ID, "Id", "s", CONST, src->id)                                                                                    \
  X (DISPLAY_NAME, "DisplayName", "s", SIGNAL, source_display_name (src))                                              \
  X (TYPE, "Type", "s", SIGNAL, source_type_to_string (src->settings->type))                                           \
  X (STATUS, "Status", "s", SIGNAL, source_status_to_string (src->status))                                             \
  X (PAUSED_AT, "PausedAt", "t", WRITABLE, src->control.paused_at)                                                     \
  X (SYSTEM_PAUSED_AT, "SystemPausedAt", "t", SIGNAL, src->control.system_paused_at)                                   \
  X (ACTIVE, "Active", "b", SIGNAL, (int) src->active)                                                                 \
  X (CREATED_AT, "CreatedAt", "t", SIGNAL, src->control.created_at)                                                    \
  X (UPDATED_AT, "UpdatedAt", "t", SIGNAL, src->control.updated_at)                                                    \
  X (FREQUENCY_MINUTES, "FrequencyMinutes", "u", SIGNAL, src->settings->frequency_minutes)                             \
  X (CRON_EXPRESSION, "CronExpression", "s", SIGNAL, src->settings->cron_expression ?: "")                             \
  X (LAST_ERROR, "LastError", "s", SIGNAL, src->last_error ?: "")                                                      \
  X (MAIN_PID, "MainPID", "u", SIGNAL, src->worker && !src->finishing ? (guint32) worker_get_pid (src->worker) : 0u)   \
  X (RECORDS_DELIVERED, "RecordsDelivered", "t", SILENT, src->records_delivered)                                       \
  X (BYTES_DELIVERED, "BytesDelivered", "t", SILENT, src->bytes_delivered)                                             \
  X (LAST_RECORD_AT, "LastRecordAt", "t", SILENT, src->last_record_at)                                                 \
  X (BOOKMARK, "Bookmark", "s", SIGNAL, src->control.bookmark ?: "")                                                   \
  X (NEXT_RUN_AT, "NextRunAt", "t", SIGNAL, src->next_run_at)                                                          \
  X (LAST_JOB_STARTED_AT, "LastJobStartedAt", "t", SIGNAL, src->control.last_job_started_at)                           \
  X (LAST_EXIT_STATUS, "LastExitStatus", "i", SIGNAL, src->control.last_exit_status)                                   \
  X (N_RESTARTS, "NRestarts", "u", SIGNAL, (guint32) src->n_restarts)                                                  \
  X (NEXT_RETRY_AT, "NextRetryAt", "t", SIGNAL, src->next_retry_at)                                                    \
  X (SINK, "Sink", "s", SIGNAL, source_sink (src))
