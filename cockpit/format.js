// Turning D-Bus values into words: times, schedules and errors.
// Everything here returns plain strings; callers put them in with
// textContent, never as HTML.

export function usecToDate(usec) {
    return usec ? new Date(Math.floor(usec / 1000)) : null;
}

export function exactTime(usec) {
    const d = usecToDate(usec);
    return d ? d.toISOString().replace(".000Z", "Z") : "";
}

// "3 minutes ago", "in 2 hours"; @now in milliseconds.
export function relativeTime(usec, now = Date.now()) {
    if (!usec)
        return "";
    const diff = Math.floor(usec / 1000) - now;
    const abs = Math.abs(diff);
    const steps = [[60e3, 1e3, "second"], [3600e3, 60e3, "minute"], [86400e3, 3600e3, "hour"],
        [30 * 86400e3, 86400e3, "day"], [365 * 86400e3, 30 * 86400e3, "month"], [Infinity, 365 * 86400e3, "year"]];
    for (const [limit, unit, name] of steps) {
        if (abs < limit) {
            const n = Math.max(0, Math.round(abs / unit));
            if (name === "second" && n < 5)
                return "just now";
            const words = n + " " + name + (n === 1 ? "" : "s");
            return diff < 0 ? words + " ago" : "in " + words;
        }
    }
    return exactTime(usec);
}

export function scheduleText(props) {
    if (props.CronExpression)
        return "cron " + props.CronExpression;
    if (props.FrequencyMinutes)
        return "every " + props.FrequencyMinutes + " min";
    return "continuous";
}

// A crash loop's state, under its status: "retry in 8 s" (short, for a
// row) or "attempt 4, retry in 8 s"; while a restarted worker runs but
// delivers nothing yet, "attempt 4 running".
export function retryText(props, short = false, now = Date.now()) {
    if (props.Status !== "restarting")
        return "";
    if (!props.NextRetryAt)
        return "attempt " + props.NRestarts + " running";
    const secs = Math.max(0, Math.ceil((props.NextRetryAt / 1000 - now) / 1000));
    const retry = secs ? "retry in " + secs + " s" : "retry now";
    return short ? retry : "attempt " + ((props.NRestarts || 0) + 1) + ", " + retry;
}

export function nextRunText(props, now = Date.now()) {
    if (!props.NextRunAt || (!props.CronExpression && !props.FrequencyMinutes))
        return "";
    return "next " + relativeTime(props.NextRunAt, now);
}

// The words before the daemon's message, for every error name in sourced's
// error table (common/sourced-api.h) and the bus's own answers for it;
// tests/arch/check-errors.py keeps this list complete.
const ERROR_WORDS = {
    "org.freedesktop.DBus.Error.Failed": "Failed",
    "org.sourced.Sourced1.Error.NoSuchSource": "Source not found",
    "org.sourced.Sourced1.Error.NotStoppable": "Not stoppable",
    "org.sourced.Sourced1.Error.AlreadyExists": "Already exists",
    "org.sourced.Sourced1.Error.NotSupported": "Not supported",
    "org.sourced.Sourced1.Error.TooLarge": "Too large",
    "org.sourced.Sourced1.Error.PersistFailed": "Not saved, nothing changed",
    "org.freedesktop.DBus.Error.InvalidArgs": "Invalid value",
    "org.freedesktop.DBus.Error.AccessDenied": "Not permitted",
    "org.freedesktop.DBus.Error.UnknownObject": "No such object",
    "org.freedesktop.DBus.Error.PropertyReadOnly": "Read-only",
    "org.freedesktop.DBus.Error.UnknownProperty": "Unknown property",
    "org.sourced.Sourced1.Error.Cancelled": "Overtaken by a later call",
    "org.freedesktop.DBus.Error.LimitsExceeded": "Out of resources",
    "org.freedesktop.DBus.Error.ServiceUnknown": "sourced is not running",
    "org.freedesktop.DBus.Error.NameHasNoOwner": "sourced is not running",
    "org.freedesktop.DBus.Error.NoReply": "sourced is not running",
    "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired": "Not permitted",
};

// What went wrong, in words, from a cockpit.dbus error ({name, message})
// or a channel problem ({problem, message}).
export function describeError(err) {
    if (!err)
        return "";
    const name = err.name || "";
    const message = err.message || String(err);
    // A generic failure needs no prefix: the message says it all.
    if (ERROR_WORDS[name] && name !== "org.freedesktop.DBus.Error.Failed")
        return ERROR_WORDS[name] + ": " + message;
    if (err.problem === "access-denied")
        return "Not permitted: " + message;
    return message;
}

// Numbers with thousands separators, as people read them.
export function count(n) {
    return Number(n || 0).toLocaleString("en-US");
}
