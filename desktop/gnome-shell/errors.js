/* exported describeError */
// What went wrong, in words, for a notification: the words before the
// daemon's own message, for every error name in sourced's error table
// (common/sourced-api.h) and the bus's own answers for it.
// tests/arch/check-errors.py keeps this list complete.

const { Gio } = imports.gi;

const ERROR_WORDS = {
    'org.freedesktop.DBus.Error.Failed': '',
    'org.sourced.Sourced1.Error.NoSuchSource': 'Source not found',
    'org.sourced.Sourced1.Error.NotStoppable': 'Not stoppable',
    'org.sourced.Sourced1.Error.AlreadyExists': 'Already exists',
    'org.sourced.Sourced1.Error.NotSupported': 'Not supported',
    'org.sourced.Sourced1.Error.TooLarge': 'Too large',
    'org.sourced.Sourced1.Error.PersistFailed': 'Not saved, nothing changed',
    'org.freedesktop.DBus.Error.InvalidArgs': 'Invalid value',
    'org.freedesktop.DBus.Error.AccessDenied': 'Not permitted',
    'org.freedesktop.DBus.Error.UnknownObject': 'No such object',
    'org.freedesktop.DBus.Error.PropertyReadOnly': 'Read-only',
    'org.freedesktop.DBus.Error.UnknownProperty': 'Unknown property',
    'org.sourced.Sourced1.Error.Cancelled': 'Overtaken by a later call',
    'org.freedesktop.DBus.Error.LimitsExceeded': 'Out of resources',
    'org.freedesktop.DBus.Error.ServiceUnknown': 'sourced is not running',
    'org.freedesktop.DBus.Error.NameHasNoOwner': 'sourced is not running',
    'org.freedesktop.DBus.Error.NoReply': 'sourced is not running',
    'org.freedesktop.DBus.Error.InteractiveAuthorizationRequired': 'Not permitted',
};

// A GLib.Error from a D-Bus call ("GDBus.Error:NAME: message") or a plain
// Error, as one line for people.
function describeError(error) {
    if (!error)
        return '';
    let name = null;
    if (error instanceof imports.gi.GLib.Error && Gio.DBusError.is_remote_error(error)) {
        name = Gio.DBusError.get_remote_error(error);
        Gio.DBusError.strip_remote_error(error);
    }
    const words = name ? ERROR_WORDS[name] : '';
    return words ? `${words}: ${error.message}` : error.message;
}
