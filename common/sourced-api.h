/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The names of the D-Bus contract (../shared/design/dbus-api.md) that C code
 * needs, written once for the daemon and sourcectl. The interfaces
 * themselves are in introspection/. */

#define SOURCED_BUS_NAME "org.sourced.Sourced1"
#define SOURCED_MANAGER_PATH "/org/sourced/Sourced1"
#define SOURCED_SOURCE_PREFIX "/org/sourced/Sourced1/source"
#define SOURCED_MANAGER_IFACE "org.sourced.Sourced1.Manager"
#define SOURCED_SOURCE_IFACE "org.sourced.Sourced1.Source"

/* Every error sourced replies with, one line each:
 *
 *   X (CODE, "D-Bus name", errno sd-bus returns with it, sourcectl's exit code)
 *
 * The daemon makes SourcedError from it (daemon/sourced-error.h), sourcectl
 * its exit codes and messages (cli/sourcectl.c), and tests/arch/check-errors.py
 * checks that the Cockpit page and the GNOME Shell extension have words for
 * every name. A new error: one line here, its words in cockpit/format.js and
 * desktop/gnome-shell/errors.js, and the contract's error list. */
#define SOURCED_ERRORS(X)                                                                                              \
  X (FAILED, "org.freedesktop.DBus.Error.Failed", EIO, FAIL)                                                           \
  X (NO_SUCH_SOURCE, "org.sourced.Sourced1.Error.NoSuchSource", ENOENT, NO_SOURCE)                                     \
  X (NOT_STOPPABLE, "org.sourced.Sourced1.Error.NotStoppable", EBUSY, NOT_STOPPABLE)                                   \
  X (ALREADY_EXISTS, "org.sourced.Sourced1.Error.AlreadyExists", EEXIST, FAIL)                                         \
  X (NOT_SUPPORTED, "org.sourced.Sourced1.Error.NotSupported", EOPNOTSUPP, FAIL)                                       \
  X (TOO_LARGE, "org.sourced.Sourced1.Error.TooLarge", E2BIG, FAIL)                                                    \
  X (PERSIST_FAILED, "org.sourced.Sourced1.Error.PersistFailed", EIO, FAIL)                                            \
  X (INVALID_ARGS, "org.freedesktop.DBus.Error.InvalidArgs", EINVAL, FAIL)                                             \
  X (ACCESS_DENIED, "org.freedesktop.DBus.Error.AccessDenied", EACCES, FAIL)                                           \
  X (UNKNOWN_OBJECT, "org.freedesktop.DBus.Error.UnknownObject", ENOENT, FAIL)                                         \
  X (PROPERTY_READ_ONLY, "org.freedesktop.DBus.Error.PropertyReadOnly", EROFS, FAIL)                                   \
  X (UNKNOWN_PROPERTY, "org.freedesktop.DBus.Error.UnknownProperty", ENOENT, FAIL)                                     \
  /* A Start overtaken by a later Stop, or the reverse. */                                                             \
  X (CANCELLED, "org.sourced.Sourced1.Error.Cancelled", ECANCELED, FAIL)                                               \
  /* sourced's own resources (descriptors, processes) are used up. */                                                  \
  X (LIMITS_EXCEEDED, "org.freedesktop.DBus.Error.LimitsExceeded", EMFILE, FAIL)                                       \
  /* A Sink= that takes nothing (the source is paused, not failed); reaches clients as Failed. */                      \
  X (SINK_UNAVAILABLE, "org.freedesktop.DBus.Error.Failed", EIO, FAIL)

/* What the bus, not sourced, answers for it, and clients put in words too:
 * sourced is not running, or polkit wants a password the caller cannot
 * give. X (CODE, "D-Bus name", what it means: NOT_RUNNING or DENIED). The
 * same check covers them. */
#define SOURCED_BUS_ERRORS(X)                                                                                          \
  X (SERVICE_UNKNOWN, "org.freedesktop.DBus.Error.ServiceUnknown", NOT_RUNNING)                                        \
  X (NAME_HAS_NO_OWNER, "org.freedesktop.DBus.Error.NameHasNoOwner", NOT_RUNNING)                                      \
  X (NO_REPLY, "org.freedesktop.DBus.Error.NoReply", NOT_RUNNING)                                                      \
  X (INTERACTIVE_AUTHORIZATION_REQUIRED, "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", DENIED)

typedef enum {
#define SOURCED_ERROR_ENUM(code, name, errnum, exit_code) SOURCED_ERROR_##code,
  SOURCED_ERRORS (SOURCED_ERROR_ENUM)
#undef SOURCED_ERROR_ENUM
      SOURCED_N_ERRORS
} SourcedError;

/* The D-Bus name of @code. */
const char *sourced_error_dbus_name (SourcedError code);

/* Whether a Sink= is a PostgreSQL URI (postgresql:// or postgres://), the
 * contract's rule: the daemon delivers by it, sourcectl shows by it. */
int sourced_sink_is_postgresql (const char *sink);
/* The code of a D-Bus error name, the first in the table that has it
 * (SINK_UNAVAILABLE reads back as FAILED); -1 for a name not in it. */
int sourced_error_from_dbus_name (const char *name);
