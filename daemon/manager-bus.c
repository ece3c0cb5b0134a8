/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "manager-bus.h"

#include "bus-signals.h"

#include "config.h"
#include "auth.h"
#include "bus-props.h"
#include "manager-props.h"
#include "bulk-bus.h"
#include "commit.h"
#include "load.h"
#include "source-bus.h"
#include "sink-rules.h"
#include "sourced-error.h"
#include "supervisor.h"

/* What a message needs besides its body: header, fields, slack. */
#define MESSAGE_OVERHEAD 4096

/* ---- size limits ---------------------------------------------------- */

typedef struct {
  guint64 bytes;
  guint count;
} SizeEstimate;

/* What one entry of ListSources' a(ssto) takes at most, for an id of
 * @id_len bytes: padding to the struct, the id, the status (no name is
 * longer than 15 bytes), PausedAt with its padding, and the object path
 * (sd_bus_path_encode turns each byte into at most 3, as "_2e"). */
static guint64
list_entry_bound (gsize id_len)
{
  return 7 + (4 + id_len + 1 + 3) + (4 + 15 + 1 + 3) + (7 + 8) +
         (4 + strlen (SOURCED_SOURCE_PREFIX) + 1 + 3 * id_len + 1);
}

/* GetManagedObjects lists, beside a source's own interface, the standard
 * ones (Peer, Introspectable, Properties) with no properties: a name and an
 * empty array each. */
#define STANDARD_INTERFACES_SIZE 256

/* An upper bound of what one source adds to a reply of the given kind. */
static guint64
estimate_source (const Source *src, char kind)
{
  switch (kind)
    {
    case 'l': /* ListSources */
      return list_entry_bound (strlen (src->id));
    case 'i': /* <node name="..."/> in Introspect */
      return 20 + 3 * strlen (src->id);
    default: /* GetManagedObjects: every property, name and value */
      return STANDARD_INTERFACES_SIZE + source_bus_size_bound (src);
    }
}

typedef struct {
  SizeEstimate *est;
  char kind;
} EstimateCtx;

static gboolean
estimate_one (gpointer key, gpointer value, gpointer user_data)
{
  EstimateCtx *c = user_data;
  Source *src = value;

  if (!src->removed && !src->is_new)
    {
      c->est->bytes += estimate_source (src, c->kind);
      c->est->count++;
    }
  return FALSE;
}

static gboolean
fits_in_message (Sourced *d, char kind, sd_bus_error *error)
{
  SizeEstimate est = { 0, 0 };
  EstimateCtx c = { &est, kind };

  g_tree_foreach (d->sources, estimate_one, &c);
  if (est.bytes + MESSAGE_OVERHEAD <= d->max_message_size)
    return TRUE;
  sourced_error_set_bus (error, SOURCED_ERROR_TOO_LARGE,
                     "%u sources do not fit in one message; use ListSourcesPaged", est.count);
  return FALSE;
}

/* Runs before sd-bus dispatches anything: answers the calls whose replies
 * sd-bus would build without asking us (GetManagedObjects, Introspect of
 * the source folder) with TooLarge when they would not fit, and takes
 * Properties.Set on sources (see source_bus_handle_set). */
static int
bus_filter (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  Sourced *d = userdata;
  const char *path, *iface, *member;

  uint8_t type;

  if (sd_bus_message_get_type (m, &type) < 0 || type != SD_BUS_MESSAGE_METHOD_CALL)
    return 0;
  path = sd_bus_message_get_path (m);
  iface = sd_bus_message_get_interface (m);
  member = sd_bus_message_get_member (m);
  if (!path || !member)
    return 0;

  if (g_str_equal (member, "GetManagedObjects") && g_str_equal (path, SOURCED_MANAGER_PATH) &&
      (!iface || g_str_equal (iface, "org.freedesktop.DBus.ObjectManager")))
    {
      sd_bus_error e = SD_BUS_ERROR_NULL;
      if (!fits_in_message (d, 'm', &e))
        {
          sd_bus_reply_method_error (m, &e);
          sd_bus_error_free (&e);
          return 1;
        }
      return 0;
    }
  if (g_str_equal (member, "Introspect") && g_str_equal (path, SOURCED_SOURCE_PREFIX) &&
      (!iface || g_str_equal (iface, "org.freedesktop.DBus.Introspectable")))
    {
      sd_bus_error e = SD_BUS_ERROR_NULL;
      if (!fits_in_message (d, 'i', &e))
        {
          sd_bus_reply_method_error (m, &e);
          sd_bus_error_free (&e);
          return 1;
        }
      return 0;
    }
  if (g_str_equal (member, "Set") && iface && g_str_equal (iface, "org.freedesktop.DBus.Properties") &&
      g_str_has_prefix (path, SOURCED_SOURCE_PREFIX "/"))
    return source_bus_handle_set (d, m);
  return 0;
}

/* ---- methods -------------------------------------------------------- */

static int
append_entry (sd_bus_message *reply, Source *src)
{
  g_autofree char *path = sourced_source_path (src->id);
  return sd_bus_message_append (reply, "(ssto)", src->id, source_status_to_string (src->status),
                                src->control.paused_at, path);
}

typedef struct {
  sd_bus_message *reply;
  guint remaining; /* G_MAXUINT: all */
  int r;
} ListCtx;

static gboolean
list_one (gpointer key, gpointer value, gpointer user_data)
{
  ListCtx *c = user_data;
  Source *src = value;

  if (src->removed || src->is_new)
    return FALSE;
  if (c->remaining == 0)
    return TRUE;
  c->r = append_entry (c->reply, src);
  if (c->remaining != G_MAXUINT)
    c->remaining--;
  return c->r < 0;
}

static int
reply_list (sd_bus_message *m, ListCtx *c, GTreeNode *from)
{
  g_autoptr (sd_bus_message) reply = NULL;
  int r;

  r = sd_bus_message_new_method_return (m, &reply);
  if (r < 0)
    return r;
  r = sd_bus_message_open_container (reply, 'a', "(ssto)");
  if (r < 0)
    return r;
  c->reply = reply;
  c->r = 0;
  if (from)
    for (GTreeNode *n = from; n; n = g_tree_node_next (n))
      if (list_one (g_tree_node_key (n), g_tree_node_value (n), c))
        break;
  if (c->r < 0)
    return c->r;
  r = sd_bus_message_close_container (reply);
  if (r < 0)
    return r;
  return sd_bus_send (NULL, reply, NULL);
}

static int
method_list_sources (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  Sourced *d = userdata;
  ListCtx c = { NULL, G_MAXUINT, 0 };

  if (!fits_in_message (d, 'l', error))
    return -E2BIG;
  return reply_list (m, &c, g_tree_node_first (d->sources));
}

/* The (after_id, max) of a paged read: the first node after @after_id
 * ("" = from the start, NULL when there is none), and max, at least 1. */
static int
read_page_args (Sourced *d, sd_bus_message *m, GTreeNode **from, guint32 *max, sd_bus_error *error)
{
  const char *after;
  int r = sd_bus_message_read (m, "su", &after, max);

  if (r < 0)
    return r;
  if (*max == 0)
    return sourced_error_set_bus (error, SOURCED_ERROR_INVALID_ARGS, "Invalid max 0: a page holds at least one source");
  *from = after[0] ? g_tree_upper_bound (d->sources, after) : g_tree_node_first (d->sources);
  return 0;
}

static int
method_list_sources_paged (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  Sourced *d = userdata;
  guint32 max;
  GTreeNode *from;
  int r = read_page_args (d, m, &from, &max, error);

  if (r < 0)
    return r;
  /* Keep every page under the limit whatever the caller asks for. */
  max = MIN (max, (guint32) ((d->max_message_size - MESSAGE_OVERHEAD) / list_entry_bound (SOURCE_ID_MAX)));
  ListCtx c = { NULL, max, 0 };
  return reply_list (m, &c, from);
}

/* GetSourcesPaged: every property of each source, in id order, as many as
 * fit in a page of 1 MiB (or half the bus's message size, if smaller), at
 * least one. Bigger pages save little (a round trip per thousand sources)
 * and cost sourced their size in memory while they are built and sent. */
#define PAGE_BUDGET (1024 * 1024)
static int
method_get_sources_paged (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  Sourced *d = userdata;
  g_autoptr (sd_bus_message) reply = NULL;
  const char *last = NULL;
  guint32 max;
  gsize budget = MIN (d->max_message_size / 2, PAGE_BUDGET), used = 0;
  GTreeNode *n;
  guint count = 0;
  int r = read_page_args (d, m, &n, &max, error);

  if (r < 0)
    return r;
  r = sd_bus_message_new_method_return (m, &reply);
  if (r < 0)
    return r;
  r = sd_bus_message_open_container (reply, 'a', "(oa{sv})");
  if (r < 0)
    return r;
  for (; n; n = g_tree_node_next (n))
    {
      Source *src = g_tree_node_value (n);
      gsize size;

      if (src->removed || src->is_new)
        continue;
      size = source_bus_size_bound (src);
      if (count == max || (count > 0 && used + size > budget))
        break;
      g_autofree char *path = sourced_source_path (src->id);
      if ((r = sd_bus_message_open_container (reply, 'r', "oa{sv}")) < 0 ||
          (r = sd_bus_message_append (reply, "o", path)) < 0 || (r = source_bus_append_all (reply, src)) < 0 ||
          (r = sd_bus_message_close_container (reply)) < 0)
        return r;
      used += size;
      count++;
      last = src->id;
    }
  /* The loop stops early only at a source it could not take: more to come
   * exactly when n is left pointing at one. */
  r = sd_bus_message_close_container (reply);
  if (r < 0)
    return r;
  r = sd_bus_message_append (reply, "s", n && last ? last : "");
  if (r < 0)
    return r;
  return sd_bus_send (NULL, reply, NULL);
}

static Source *
lookup_checked (Sourced *d, const char *id, sd_bus_error *error)
{
  g_autoptr (GError) local = NULL;
  Source *src;

  if (!source_id_check (id, &local))
    {
      sourced_error_to_bus (local, error);
      return NULL;
    }
  src = sourced_lookup (d, id);
  if (!src)
    sourced_error_set_bus (error, SOURCED_ERROR_NO_SUCH_SOURCE, "Source not found");
  return src;
}

/* Reads the id argument of @m and finds its source: 0 and *ret set, or a
 * negative errno with @error set (InvalidArgs, NoSuchSource). */
static int
read_source_arg (Sourced *d, sd_bus_message *m, Source **ret, sd_bus_error *error)
{
  const char *id;
  int r = sd_bus_message_read (m, "s", &id);

  if (r < 0)
    return r;
  *ret = lookup_checked (d, id, error);
  return *ret ? 0 : -ENOENT;
}

static int
method_get_source (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  Source *src;
  int r = read_source_arg (userdata, m, &src, error);

  if (r < 0)
    return r;
  g_autofree char *path = sourced_source_path (src->id);
  return sd_bus_reply_method_return (m, "o", path);
}

/* Reads CreateSource's a{sv} into @settings, naming the key in any error. */
static gboolean
read_settings (sd_bus_message *m, SourceSettings *settings, GError **error)
{
  int r = sd_bus_message_enter_container (m, 'a', "{sv}");
  if (r < 0)
    goto bad;
  while ((r = sd_bus_message_enter_container (m, 'e', "sv")) > 0)
    {
      const char *key, *contents = NULL;
      char type;

      r = sd_bus_message_read (m, "s", &key);
      if (r < 0)
        goto bad;
      g_autofree char *key_copy = g_strdup (key);
      r = sd_bus_message_peek_type (m, &type, &contents);
      if (r < 0)
        goto bad;
      r = sd_bus_message_enter_container (m, 'v', contents);
      if (r < 0)
        goto bad;
      if (g_str_equal (contents, "s"))
        {
          const char *s;
          r = sd_bus_message_read (m, "s", &s);
          if (r < 0)
            goto bad;
          if (!source_settings_set_typed (settings, key_copy, 's', &s, error))
            return FALSE;
        }
      else if (g_str_equal (contents, "u"))
        {
          guint32 u;
          r = sd_bus_message_read (m, "u", &u);
          if (r < 0)
            goto bad;
          if (!source_settings_set_typed (settings, key_copy, 'u', &u, error))
            return FALSE;
        }
      else
        {
          if (!source_settings_key_type (key_copy))
            return source_settings_set_typed (settings, key_copy, contents[0], NULL, error);
          g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS,
                       "Wrong type for setting '%s': expected '%c', got '%s'", key_copy,
                       source_settings_key_type (key_copy), contents);
          return FALSE;
        }
      r = sd_bus_message_exit_container (m);
      if (r < 0)
        goto bad;
      r = sd_bus_message_exit_container (m);
      if (r < 0)
        goto bad;
    }
  if (r < 0)
    goto bad;
  r = sd_bus_message_exit_container (m);
  if (r < 0)
    goto bad;
  return source_settings_validate (settings, error);

bad:
  g_set_error (error, SOURCED_ERROR, SOURCED_ERROR_INVALID_ARGS, "Malformed settings: %s", g_strerror (-r));
  return FALSE;
}

static void
on_created_started (Sourced *d, Source *src, const GError *error, gpointer user_data)
{
  g_autoptr (sd_bus_message) call = user_data;
  g_autofree char *path = sourced_source_path (src->id);

  /* The source exists and is persisted either way; a worker that cannot
   * run shows as Status=failed with LastError, as after any Start. */
  sd_bus_reply_method_return (call, "o", path);
}

static void
done_create (Sourced *d, sd_bus_message *call, Source *src, gpointer user_data)
{
  if (src->control.started)
    supervisor_start (d, src, on_created_started, sd_bus_message_ref (call));
  else
    on_created_started (d, src, NULL, sd_bus_message_ref (call));
}

static int
method_create_source (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  Sourced *d = userdata;
  g_autoptr (SourceSettings) settings = source_settings_new ();
  g_autoptr (GError) local = NULL;
  const char *id_arg;
  Source *existing, *src;
  guint64 now = sourced_now (d);
  int r;

  r = sd_bus_message_read (m, "s", &id_arg);
  if (r < 0)
    return r;
  g_autofree char *id = g_strdup (id_arg);
  if (!source_id_check (id, &local))
    return sourced_error_to_bus (local, error);
  existing = sourced_lookup (d, id);
  if (existing)
    {
      if (existing->definition_file)
        return sourced_error_set_bus (error, SOURCED_ERROR_ALREADY_EXISTS,
                                  "Source '%s' already exists (defined in %s)", id, existing->definition_file);
      return sourced_error_set_bus (error, SOURCED_ERROR_ALREADY_EXISTS, "Source '%s' already exists", id);
    }
  if (!read_settings (m, settings, &local) || (settings->sink && !sink_check (settings->sink, d->state_dir, &local)))
    return sourced_error_to_bus (local, error);
  AUTH_OR_RETURN (d, m, AUTH_MANAGE, error);
  if (d->n_sources >= d->max_sources)
    return sourced_error_set_bus (error, SOURCED_ERROR_LIMITS_EXCEEDED,
                              "Cannot create source '%s': sourced has %u sources, the most it takes (--max-sources)",
                              id, d->n_sources);

  src = source_new (id, g_steal_pointer (&settings), NULL);
  source_init_control (src, now);
  src->is_new = TRUE;
  sourced_insert (d, src);
  commit_track_source (d, src);
  commit_add (d, m, src, done_create, NULL);
  return 1;
}

static void
on_removed_stopped (Sourced *d, Source *src, const GError *error, gpointer user_data)
{
  g_autoptr (sd_bus_message) call = user_data;
  sd_bus_reply_method_return (call, NULL);
}

static void
done_remove (Sourced *d, sd_bus_message *call, Source *src, gpointer user_data)
{
  supervisor_stop (d, src, on_removed_stopped, sd_bus_message_ref (call));
}

static int
method_remove_source (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  Sourced *d = userdata;
  Source *src;
  int r = read_source_arg (d, m, &src, error);

  if (r < 0)
    return r;
  if (src->definition_file)
    return sourced_error_set_bus (error, SOURCED_ERROR_NOT_SUPPORTED,
                              "Source '%s' is defined in %s: remove the file and Reload", src->id,
                              src->definition_file);
  AUTH_OR_RETURN (d, m, AUTH_MANAGE, error);
  commit_track_source (d, src);
  src->removed = TRUE;
  commit_add (d, m, src, done_remove, NULL);
  return 1;
}

static int
set_gate (sd_bus_message *m, Sourced *d, gboolean paused)
{
  if ((d->paused_at != 0) != paused)
    {
      commit_track_manager (d);
      d->paused_at = paused ? sourced_now (d) : 0;
    }
  commit_add (d, m, NULL, NULL, NULL);
  return 1;
}

/* The gate is control, as a source's Pause is: it stops and resumes
 * delivery and runs nothing new (PauseSources "*" does the same under
 * control). It is what the desktop toggle calls, and the rule that spares
 * the person at the machine a password grants control only. */
static int
method_pause (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  AUTH_OR_RETURN (userdata, m, AUTH_CONTROL, error);
  return set_gate (m, userdata, TRUE);
}

static int
method_unpause (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  AUTH_OR_RETURN (userdata, m, AUTH_CONTROL, error);
  return set_gate (m, userdata, FALSE);
}

static gboolean
on_reload_applied (gpointer user_data)
{
  g_autoptr (sd_bus_message) call = user_data;

  if (call)
    sd_bus_reply_method_return (call, NULL);
  return G_SOURCE_REMOVE;
}

/* Replies once the new sources run, as Start does. */
static void
done_reload (Sourced *d, sd_bus_message *call, Source *src, gpointer user_data)
{
  g_autoptr (LoadChanges) changes = user_data;

  supervisor_apply (d, changes->removed, changes->added, on_reload_applied, call ? sd_bus_message_ref (call) : NULL);
}

static int
method_reload (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  Sourced *d = userdata;
  LoadChanges *changes;

  AUTH_OR_RETURN (d, m, AUTH_MANAGE, error);
  changes = load_reload (d);
  /* done_reload owns @changes; a failed commit frees them instead. */
  commit_add_full (d, m, NULL, done_reload, changes, (GDestroyNotify) load_changes_free);
  return 1;
}

/* A getter per line of MANAGER_PROPERTIES (manager-props.h). */
#define MANAGER_PROP_GETTER(bit, name, sig, kind, value)                                                               \
  static int get_##bit (sd_bus *bus, const char *path, const char *interface, const char *property,                    \
                        sd_bus_message *reply, void *userdata, sd_bus_error *error)                                    \
  {                                                                                                                    \
    const Sourced *d = userdata;                                                                                       \
    (void) d; /* Version needs none */                                                                                 \
    return sd_bus_message_append (reply, sig, (value));                                                                \
  }
MANAGER_PROPERTIES (MANAGER_PROP_GETTER)
#undef MANAGER_PROP_GETTER

const sd_bus_vtable manager_bus_vtable[] = {
  SD_BUS_VTABLE_START (0),
#define MANAGER_PROP_VTABLE(bit, name, sig, kind, value) BUS_PROP_VTABLE_##kind (name, sig, get_##bit, NULL),
  MANAGER_PROPERTIES (MANAGER_PROP_VTABLE)
#undef MANAGER_PROP_VTABLE
  /* The rows above are a macro, not a call these continue. */
  /* clang-format off */
  SD_BUS_METHOD_WITH_ARGS ("ListSources", SD_BUS_NO_ARGS, SD_BUS_RESULT ("a(ssto)", sources), method_list_sources,
                           SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("ListSourcesPaged", SD_BUS_ARGS ("s", after_id, "u", max),
                           SD_BUS_RESULT ("a(ssto)", sources), method_list_sources_paged, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("GetSourcesPaged", SD_BUS_ARGS ("s", after_id, "u", max),
                           SD_BUS_RESULT ("a(oa{sv})", sources, "s", next_after), method_get_sources_paged,
                           SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("PauseSources", SD_BUS_ARGS ("as", patterns), SD_BUS_RESULT ("a(sss)", results),
                           bulk_bus_pause, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("UnpauseSources", SD_BUS_ARGS ("as", patterns), SD_BUS_RESULT ("a(sss)", results),
                           bulk_bus_unpause, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("StartSources", SD_BUS_ARGS ("as", patterns), SD_BUS_RESULT ("a(sss)", results),
                           bulk_bus_start, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("StopSources", SD_BUS_ARGS ("as", patterns), SD_BUS_RESULT ("a(sss)", results),
                           bulk_bus_stop, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("GetSource", SD_BUS_ARGS ("s", id), SD_BUS_RESULT ("o", source), method_get_source,
                           SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("CreateSource", SD_BUS_ARGS ("s", id, "a{sv}", settings), SD_BUS_RESULT ("o", source),
                           method_create_source, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("RemoveSource", SD_BUS_ARGS ("s", id), SD_BUS_NO_RESULT, method_remove_source,
                           SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("Pause", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_pause, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("Unpause", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_unpause, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS ("Reload", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reload, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_VTABLE_END,
  /* clang-format on */
};

int
manager_bus_register (Sourced *d)
{
  int r;

  r = sd_bus_add_filter (d->bus, NULL, bus_filter, d);
  if (r < 0)
    return r;
  r = sd_bus_add_object_vtable (d->bus, NULL, SOURCED_MANAGER_PATH, SOURCED_MANAGER_IFACE, manager_bus_vtable, d);
  if (r < 0)
    return r;
  return sd_bus_add_object_manager (d->bus, NULL, SOURCED_MANAGER_PATH);
}
