/* global cockpit */
// A source's last journal lines, read the way Cockpit's own pages read the
// journal: journalctl --output=json over a cockpit.spawn channel (Cockpit's
// journal helper does the same), matched by SOURCE_ID=, which sourced puts
// on every line about a source and on its worker's stderr lines.

// The MESSAGE field is a string, or an array of bytes when it is not UTF-8.
function text(message) {
    if (Array.isArray(message))
        return new TextDecoder().decode(new Uint8Array(message));
    return message == null ? "" : String(message);
}

// -> [{usec, message, priority}], oldest first. Rejects with Cockpit's
// error when journalctl cannot run.
export async function sourceJournal(id, lines = 10) {
    const out = await cockpit.spawn(["journalctl", "--no-pager", "--quiet", "--output=json",
        "--lines=" + lines, "SOURCE_ID=" + id], { err: "message" });
    const entries = [];
    for (const line of out.split("\n")) {
        if (!line)
            continue;
        try {
            const e = JSON.parse(line);
            entries.push({ usec: Number(e.__REALTIME_TIMESTAMP), message: text(e.MESSAGE),
                priority: Number(e.PRIORITY ?? 6) });
        } catch (err) {
            // A line journalctl did not finish: skipped.
        }
    }
    return entries;
}
