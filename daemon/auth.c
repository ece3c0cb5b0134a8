/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "auth.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "sourced-error.h"

#define POLKIT_NAME "org.freedesktop.PolicyKit1"
#define POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_IFACE "org.freedesktop.PolicyKit1.Authority"
#define POLKIT_ALLOW_USER_INTERACTION 1u
/* Forget callers idle this long, once there are many. */
#define CALLER_IDLE_USEC (60 * G_USEC_PER_SEC)

static const char *const action_ids[] = {
  [AUTH_CONTROL] = "org.sourced.Sourced1.control",
  [AUTH_MANAGE] = "org.sourced.Sourced1.manage",
};

typedef enum {
  VERDICT_PENDING,
  VERDICT_IDENTIFIED, /* the caller's uid is known now: check again */
  VERDICT_ALLOWED,
  VERDICT_DENIED,
} Verdict;

/* The authorizer's state, owned by the daemon object (d->auth). */
struct Auth {
  AuthConfig config;
  GHashTable *queries; /* sd_bus_message* -> Query* */
  GHashTable *callers; /* unique name -> Caller* */
};

typedef struct {
  Auth *auth;
  sd_bus_message *call;
  sd_bus_slot *slot;
  AuthAction action;
  uid_t uid;
  Verdict verdict;
  char *reason; /* when denied */
} Query;

/* What is known of one connection. Its uid never changes, and a bus never
 * gives a unique name out twice, so it is asked of the bus once: asking for
 * every call (sd_bus_query_sender_creds() on dbus-daemon is a synchronous
 * GetConnectionCredentials) blocked the main loop for a round trip per
 * call, and cost 10x the throughput with 32 calls in flight. */
typedef struct {
  uid_t uid;
  double tokens; /* the rate limit's bucket */
  gint64 last;
} Caller;

static void
query_free (Query *q)
{
  sd_bus_slot_unref (q->slot);
  sd_bus_message_unref (q->call);
  g_free (q->reason);
  g_free (q);
}

void
auth_init (Sourced *d, const AuthConfig *c)
{
  Auth *a = g_new0 (Auth, 1);

  a->config = *c;
  a->config.group = g_strdup (c->group);
  a->queries = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) query_free);
  a->callers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  d->auth = a;
}

void
auth_shutdown (Sourced *d)
{
  Auth *a = g_steal_pointer (&d->auth);

  if (!a)
    return;
  g_hash_table_unref (a->queries);
  g_hash_table_unref (a->callers);
  g_free ((char *) a->config.group);
  g_free (a);
}

/* Membership as the group database says, the primary group included. */
static gboolean
in_group (uid_t uid, const char *group)
{
  struct group *gr = getgrnam (group);
  struct passwd *pw;
  int n = 64;

  if (!gr)
    return FALSE;
  pw = getpwuid (uid);
  if (!pw)
    return FALSE;
  if (pw->pw_gid == gr->gr_gid)
    return TRUE;
  for (int attempt = 0; attempt < 4; attempt++)
    {
      g_autofree gid_t *gids = g_new (gid_t, n);
      int got = n;
      if (getgrouplist (pw->pw_name, pw->pw_gid, gids, &got) >= 0)
        {
          for (int i = 0; i < got; i++)
            if (gids[i] == gr->gr_gid)
              return TRUE;
          return FALSE;
        }
      n = MAX (got, n * 2);
    }
  return FALSE;
}

static Caller *
caller_lookup (Auth *a, const char *sender)
{
  gint64 now = g_get_monotonic_time ();
  Caller *c = g_hash_table_lookup (a->callers, sender);

  if (c)
    {
      c->tokens = MIN (a->config.burst, c->tokens + (double) (now - c->last) / G_USEC_PER_SEC * a->config.rate);
      c->last = now;
    }
  return c;
}

static void
caller_add (Auth *a, const char *sender, uid_t uid)
{
  gint64 now = g_get_monotonic_time ();
  Caller *c = g_new0 (Caller, 1);

  if (g_hash_table_size (a->callers) > 4096)
    {
      /* Forget the callers idle for a while (most have disconnected). */
      GHashTableIter iter;
      gpointer value;
      g_hash_table_iter_init (&iter, a->callers);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        if (now - ((Caller *) value)->last > CALLER_IDLE_USEC)
          g_hash_table_iter_remove (&iter);
      /* Still that many (connections opened faster than they go idle): a
       * hard bound on memory; a forgotten caller is only asked again. */
      if (g_hash_table_size (a->callers) > 4 * 4096)
        g_hash_table_remove_all (a->callers);
    }
  c->uid = uid;
  c->tokens = a->config.burst;
  c->last = now;
  g_hash_table_replace (a->callers, g_strdup (sender), c);
}

static gboolean
rate_allows (Auth *a, Caller *c)
{
  if (a->config.rate <= 0)
    return TRUE;
  if (c->tokens < 1.0)
    return FALSE;
  c->tokens -= 1.0;
  return TRUE;
}

static void
decide (Query *q, Verdict verdict, const char *reason)
{
  sd_bus *bus = sd_bus_message_get_bus (q->call);
  int r;

  q->verdict = verdict;
  g_free (q->reason);
  q->reason = g_strdup (reason);
  q->slot = sd_bus_slot_unref (q->slot);
  /* Dispatch the call again; its handler will find the verdict. */
  r = sd_bus_enqueue_for_read (bus, q->call);
  if (r < 0)
    {
      g_warning ("Cannot requeue a call after its authorization: %s", g_strerror (-r));
      sourced_error_reply_code (q->call, SOURCED_ERROR_FAILED, "Internal error while authorizing the call");
      g_hash_table_remove (q->auth->queries, q->call);
    }
}

static int
on_polkit_reply (sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
  Query *q = userdata;
  const sd_bus_error *e = sd_bus_message_get_error (reply);
  int authorized = 0, challenge = 0;
  g_autofree char *denied = NULL;

  if (e)
    {
      if (sd_bus_error_has_names (e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
        {
          /* No polkit on this system: the group decides. */
          if (in_group (q->uid, q->auth->config.group))
            {
              decide (q, VERDICT_ALLOWED, NULL);
              return 0;
            }
          denied = g_strdup_printf ("uid %u is not root and not in group '%s' (polkit is not running)",
                                    (unsigned) q->uid, q->auth->config.group);
        }
      else
        denied = g_strdup_printf ("polkit could not decide: %s", e->message ? e->message : e->name);
      decide (q, VERDICT_DENIED, denied);
      return 0;
    }
  if (sd_bus_message_enter_container (reply, 'r', "bba{ss}") < 0 ||
      sd_bus_message_read (reply, "bb", &authorized, &challenge) < 0)
    {
      decide (q, VERDICT_DENIED, "polkit sent an answer that could not be read");
      return 0;
    }
  if (authorized)
    decide (q, VERDICT_ALLOWED, NULL);
  else
    {
      denied = g_strdup_printf ("polkit does not allow uid %u to %s%s", (unsigned) q->uid, action_ids[q->action],
                                challenge ? " without authentication (call with interactive authorization)" : "");
      decide (q, VERDICT_DENIED, denied);
    }
  return 0;
}

static int
denied_error (sd_bus_error *error, sd_bus_message *m, const char *reason)
{
  return sourced_error_set_bus (error, SOURCED_ERROR_ACCESS_DENIED, "Access denied to %s.%s: %s",
                            sd_bus_message_get_interface (m) ? sd_bus_message_get_interface (m) : "",
                            sd_bus_message_get_member (m), reason);
}

static int
on_uid_reply (sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
  Query *q = userdata;
  const sd_bus_error *e = sd_bus_message_get_error (reply);
  g_autofree char *denied = NULL;
  uint32_t uid;

  if (e || sd_bus_message_read (reply, "u", &uid) < 0)
    {
      denied = g_strdup_printf ("cannot tell who the caller is: %s",
                                e ? (e->message ? e->message : e->name) : "the bus sent an unreadable answer");
      decide (q, VERDICT_DENIED, denied);
      return 0;
    }
  caller_add (q->auth, sd_bus_message_get_sender (q->call), (uid_t) uid);
  decide (q, VERDICT_IDENTIFIED, NULL);
  return 0;
}

static Query *
query_new (Auth *a, sd_bus_message *m, AuthAction action)
{
  Query *q = g_new0 (Query, 1);

  q->auth = a;
  q->call = sd_bus_message_ref (m);
  q->action = action;
  q->verdict = VERDICT_PENDING;
  return q;
}

int
auth_check (Sourced *d, sd_bus_message *m, AuthAction action, sd_bus_error *error)
{
  const char *sender = sd_bus_message_get_sender (m);
  Auth *a = d->auth;
  Caller *caller;
  Query *q;
  int r;

  if (!a || !a->config.enabled)
    return 1;

  q = g_hash_table_lookup (a->queries, m);
  if (q)
    {
      if (q->verdict == VERDICT_PENDING)
        return 0; /* dispatched again before the answer came: still waiting */
      Verdict verdict = q->verdict;
      g_autofree char *reason = g_steal_pointer (&q->reason);
      g_hash_table_remove (a->queries, m);
      if (verdict == VERDICT_ALLOWED)
        return 1;
      if (verdict == VERDICT_DENIED)
        {
          /* For the administrator: who was refused what, and why. */
          g_message ("Refused %s.%s from %s: %s", sd_bus_message_get_interface (m), sd_bus_message_get_member (m),
                     sd_bus_message_get_sender (m), reason);
          return denied_error (error, m, reason);
        }
      /* VERDICT_IDENTIFIED: on to the checks below, with the uid known. */
    }

  if (!sender)
    return sourced_error_set_bus (error, SOURCED_ERROR_ACCESS_DENIED, "Cannot tell who the caller is: no sender");
  caller = caller_lookup (a, sender);
  if (!caller)
    {
      /* Asked asynchronously, like polkit below: the call comes back. */
      q = query_new (a, m, action);
      r = sd_bus_call_method_async (sd_bus_message_get_bus (m), &q->slot, "org.freedesktop.DBus",
                                    "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetConnectionUnixUser",
                                    on_uid_reply, q, "s", sender);
      if (r < 0)
        {
          query_free (q);
          return sourced_error_set_bus (error, SOURCED_ERROR_ACCESS_DENIED, "Cannot tell who the caller is: %s",
                                    g_strerror (-r));
        }
      g_hash_table_insert (a->queries, m, q);
      return 0;
    }
  /* Root, and sourced's own user: a process of that user can write the
   * state directory anyway (systemctl reload runs busctl as it). */
  if (caller->uid == 0 || caller->uid == getuid ())
    return 1;
  if (!rate_allows (a, caller))
    return sourced_error_set_bus (error, SOURCED_ERROR_LIMITS_EXCEEDED,
                              "Too many changing calls from %s: at most %.0f a second (bursts of %.0f)", sender,
                              a->config.rate, a->config.burst);

  q = query_new (a, m, action);
  q->uid = caller->uid;
  r = sd_bus_call_method_async (sd_bus_message_get_bus (m), &q->slot, POLKIT_NAME, POLKIT_PATH, POLKIT_IFACE,
                                "CheckAuthorization", on_polkit_reply, q, "(sa{sv})sa{ss}us", "system-bus-name", 1,
                                "name", "s", sender, action_ids[action], 0,
                                sd_bus_message_get_allow_interactive_authorization (m) > 0
                                  ? POLKIT_ALLOW_USER_INTERACTION
                                  : 0u,
                                "");
  if (r < 0)
    {
      query_free (q);
      return sourced_error_set_bus (error, SOURCED_ERROR_ACCESS_DENIED, "Cannot ask polkit: %s", g_strerror (-r));
    }
  g_hash_table_insert (a->queries, m, q);
  return 0;
}
