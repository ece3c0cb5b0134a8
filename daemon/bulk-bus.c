/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bulk-bus.h"

#include "auth.h"
#include "commit.h"
#include "source-bus.h"
#include "sourced-error.h"
#include "supervisor.h"

/* A bounded request: a pattern list longer than this, or one pattern
 * longer than this, is refused (InvalidArgs) before anything is looked at. */
#define MAX_PATTERNS 4096
#define MAX_PATTERN_LENGTH 256

typedef enum {
  BULK_PAUSE,
  BULK_UNPAUSE,
  BULK_START,
  BULK_STOP,
} BulkAction;

typedef struct {
  char *outcome; /* "done", "unchanged", or an error name */
  char *message;
} Row;

/* One call: the matched sources in id order, a row each, and how many
 * supervisor answers (Start/Stop) it still waits for. */
typedef struct {
  sd_bus_message *call;
  BulkAction action;
  GPtrArray *sources; /* Source*, ref'd */
  GArray *rows;       /* Row */
  guint pending;
} Bulk;

static void
bulk_free (Bulk *b)
{
  for (guint i = 0; i < b->rows->len; i++)
    {
      Row *row = &g_array_index (b->rows, Row, i);
      g_free (row->outcome);
      g_free (row->message);
    }
  g_array_unref (b->rows);
  g_ptr_array_unref (b->sources);
  sd_bus_message_unref (b->call);
  g_free (b);
}

static void
set_row (Bulk *b, guint i, const char *outcome, const char *message)
{
  Row *row = &g_array_index (b->rows, Row, i);

  g_free (row->outcome);
  g_free (row->message);
  row->outcome = g_strdup (outcome);
  row->message = g_strdup (message ? message : "");
}

static void
reply_rows (Bulk *b)
{
  g_autoptr (sd_bus_message) reply = NULL;
  int r;

  r = sd_bus_message_new_method_return (b->call, &reply);
  if (r >= 0)
    r = sd_bus_message_open_container (reply, 'a', "(sss)");
  for (guint i = 0; r >= 0 && i < b->sources->len; i++)
    {
      Source *src = b->sources->pdata[i];
      Row *row = &g_array_index (b->rows, Row, i);
      r = sd_bus_message_append (reply, "(sss)", src->id, row->outcome, row->message);
    }
  if (r >= 0)
    r = sd_bus_message_close_container (reply);
  if (r >= 0)
    r = sd_bus_send (NULL, reply, NULL);
  if (r < 0)
    sourced_error_reply_code (b->call, SOURCED_ERROR_FAILED, "Cannot send the reply: %s", g_strerror (-r));
}

/* ---- Matching ----------------------------------------------------------------- */

static gboolean
is_glob (const char *pattern)
{
  return strpbrk (pattern, "*?[") != NULL;
}

/* fnmatch(3) without flags, for ids, which are ASCII: glibc's converts
 * both strings to wide characters in a UTF-8 locale, and that was most of
 * the time a glob over 100,000 sources took. * ? [set] [!set] [^set]
 * [a-z], and \ to quote. */
gboolean
bulk_glob_match (const char *p, const char *s)
{
  for (; *p; p++, s++)
    switch (*p)
      {
      case '*':
        while (*p == '*')
          p++;
        if (!*p)
          return TRUE;
        for (; *s; s++)
          if (bulk_glob_match (p, s))
            return TRUE;
        return FALSE;
      case '?':
        if (!*s)
          return FALSE;
        break;
      case '[':
        {
          const char *q = p + 1;
          gboolean negate = *q == '!' || *q == '^', hit = FALSE;
          if (negate)
            q++;
          if (!*s)
            return FALSE;
          /* A ']' first is part of the set. */
          do
            {
              if (!*q)
                return FALSE; /* no closing ']' (fnmatch: '[' matches itself; no id holds one) */
              if (q[1] == '-' && q[2] && q[2] != ']')
                {
                  hit |= *s >= q[0] && *s <= q[2];
                  q += 3;
                }
              else
                hit |= *s == *q++;
            }
          while (*q != ']');
          if (hit == negate)
            return FALSE;
          p = q;
          break;
        }
      case '\\':
        if (p[1])
          p++;
        /* fall through */
      default:
        if (*p != *s)
          return FALSE;
      }
  return *s == '\0';
}

/* The literal start of a glob: every match begins with it, so only that
 * range of the id-ordered tree is walked. */
static char *
glob_prefix (const char *pattern)
{
  return g_strndup (pattern, strcspn (pattern, "*?[\\"));
}

/* The sources @patterns match, in id order, each once; NULL with @error
 * naming the first pattern that matches nothing. */
static GPtrArray *
match (Sourced *d, char **patterns, GError **error)
{
  g_autoptr (GPtrArray) found = g_ptr_array_new_with_free_func ((GDestroyNotify) source_unref);
  g_autoptr (GTree) ordered = g_tree_new ((GCompareFunc) strcmp);

  for (guint i = 0; patterns[i]; i++)
    {
      gboolean hit = FALSE;

      if (!is_glob (patterns[i]))
        {
          Source *src = sourced_lookup (d, patterns[i]);
          if (src && !src->is_new)
            {
              hit = TRUE;
              g_tree_insert (ordered, src->id, src);
            }
        }
      else
        {
          g_autofree char *prefix = glob_prefix (patterns[i]);
          gsize len = strlen (prefix);
          GTreeNode *n = g_tree_lower_bound (d->sources, prefix);

          for (; n && strncmp (g_tree_node_key (n), prefix, len) == 0; n = g_tree_node_next (n))
            {
              Source *src = g_tree_node_value (n);
              if (!src->removed && !src->is_new && bulk_glob_match (patterns[i], src->id))
                {
                  hit = TRUE;
                  g_tree_insert (ordered, src->id, src);
                }
            }
        }
      if (!hit)
        {
          /* As systemctl: a pattern that matches nothing is an error. */
          g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_NO_SUCH_SOURCE, "No source matches '%s'", patterns[i]);
          return NULL;
        }
    }
  for (GTreeNode *n = g_tree_node_first (ordered); n; n = g_tree_node_next (n))
    g_ptr_array_add (found, source_ref (g_tree_node_value (n)));
  return g_steal_pointer (&found);
}

static gboolean
check_patterns (char **patterns, GError **error)
{
  guint n = patterns ? g_strv_length (patterns) : 0;

  if (n == 0 || n > MAX_PATTERNS)
    {
      g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                   "Invalid patterns: give 1 to %d ids or shell globs (got %u)", MAX_PATTERNS, n);
      return FALSE;
    }
  for (guint i = 0; i < n; i++)
    if (patterns[i][0] == '\0' || strlen (patterns[i]) > MAX_PATTERN_LENGTH)
      {
        g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                     "Invalid pattern %u: a pattern is 1 to %d characters, an id or a shell glob", i + 1,
                     MAX_PATTERN_LENGTH);
        return FALSE;
      }
  return TRUE;
}

/* ---- Applying ----------------------------------------------------------------- */

/* The row of @src: the sources are in id order. */
static guint
row_of (Bulk *b, Source *src)
{
  guint lo = 0, hi = b->sources->len;

  while (lo < hi)
    {
      guint mid = lo + (hi - lo) / 2;
      int c = strcmp (((Source *) b->sources->pdata[mid])->id, src->id);
      if (c == 0)
        return mid;
      if (c < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
  g_assert_not_reached ();
}

static void
on_supervised (Sourced *d, Source *src, const GError *error, gpointer user_data)
{
  Bulk *b = user_data;

  if (error)
    set_row (b, row_of (b, src),
             sourced_error_dbus_name (error->domain == SOURCED_ERROR ? error->code : SOURCED_ERROR_FAILED),
             error->message);
  if (--b->pending > 0)
    return;
  reply_rows (b);
  bulk_free (b);
}

/* Everything the call changed is durable: the world may go on. */
static void
done_bulk (Sourced *d, sd_bus_message *call, Source *unused, gpointer user_data)
{
  Bulk *b = user_data;

  b->pending = 1;
  for (guint i = 0; i < b->sources->len; i++)
    {
      Source *src = b->sources->pdata[i];
      Row *row = &g_array_index (b->rows, Row, i);

      if (!g_str_equal (row->outcome, "done") || src->removed)
        continue;
      switch (b->action)
        {
        case BULK_UNPAUSE:
          supervisor_resume (d, src);
          break;
        case BULK_START:
          b->pending++;
          supervisor_start (d, src, on_supervised, b);
          break;
        case BULK_STOP:
          b->pending++;
          supervisor_stop (d, src, on_supervised, b);
          break;
        case BULK_PAUSE:
          break;
        }
    }
  on_supervised (d, NULL, NULL, b);
}

/* Changes the model of one source; the row says what happened. */
static void
apply_one (Sourced *d, Bulk *b, guint i, guint64 now)
{
  Source *src = b->sources->pdata[i];

  switch (b->action)
    {
    case BULK_PAUSE:
      if (src->control.paused_at)
        {
          set_row (b, i, "unchanged", NULL);
          return;
        }
      source_bus_apply_paused_at (d, src, now);
      break;
    case BULK_UNPAUSE:
      if (src->control.paused_at == 0 && src->control.system_paused_at == 0)
        {
          set_row (b, i, "unchanged", NULL);
          return;
        }
      source_bus_apply_paused_at (d, src, 0);
      break;
    case BULK_START:
      source_bus_apply_start (d, src, now);
      break;
    case BULK_STOP:
      if (src->status == SOURCE_STATUS_STOPPED || src->status == SOURCE_STATUS_STOPPING)
        {
          g_autofree char *msg = g_strdup_printf ("Unable to stop source '%s': not in a stoppable state", src->id);
          {
            set_row (b, i, sourced_error_dbus_name (SOURCED_ERROR_NOT_STOPPABLE), msg);
            return;
        }
        }
      source_set_started (commit_track_source (d, src), FALSE, now);
      break;
    }
  set_row (b, i, "done", NULL);
}

static int
bulk_method (sd_bus_message *m, Sourced *d, BulkAction action, sd_bus_error *error)
{
  g_auto (GStrv) patterns = NULL;
  g_autoptr (GError) local = NULL;
  g_autoptr (GPtrArray) sources = NULL;
  guint64 now = sourced_now (d);
  gsize reply_size = 64;
  Bulk *b;
  int r;

  r = sd_bus_message_read_strv (m, &patterns);
  if (r < 0)
    return r;
  if (!check_patterns (patterns, &local) || !(sources = match (d, patterns, &local)))
    return sourced_error_to_bus (local, error);
  /* The reply lists every matched source: it must fit in one message. */
  for (guint i = 0; i < sources->len; i++)
    reply_size += strlen (((Source *) sources->pdata[i])->id) + 128;
  if (reply_size > d->max_message_size / 2)
    return sourced_error_set_bus (error, SOURCED_ERROR_TOO_LARGE,
                              "%u sources match: their results do not fit in one reply; use narrower patterns",
                              sources->len);
  AUTH_OR_RETURN (d, m, AUTH_CONTROL, error);

  b = g_new0 (Bulk, 1);
  b->call = sd_bus_message_ref (m);
  b->action = action;
  b->sources = g_steal_pointer (&sources);
  b->rows = g_array_new (FALSE, TRUE, sizeof (Row));
  g_array_set_size (b->rows, b->sources->len);
  for (guint i = 0; i < b->sources->len; i++)
    apply_one (d, b, i, now);
  /* One durable commit for the whole set: every change above is in the
   * batch being collected; if its write fails, all are undone and the
   * call gets PersistFailed (commit.c), and done_bulk never runs. */
  commit_add_full (d, m, NULL, done_bulk, b, (GDestroyNotify) bulk_free);
  return 1;
}

int
bulk_bus_pause (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  return bulk_method (m, userdata, BULK_PAUSE, error);
}

int
bulk_bus_unpause (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  return bulk_method (m, userdata, BULK_UNPAUSE, error);
}

int
bulk_bus_start (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  return bulk_method (m, userdata, BULK_START, error);
}

int
bulk_bus_stop (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  return bulk_method (m, userdata, BULK_STOP, error);
}
