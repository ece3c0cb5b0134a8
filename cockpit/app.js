/* global cockpit */
// The "Data sources" page: wires the D-Bus client to the list, the detail
// view, the Manager's gate and the create dialog.

import { isBusy, setBusy, showInstead } from "./actions.js";
import { SourcedClient } from "./client.js";
import { SourceList } from "./list.js";
import { DetailView } from "./detail.js";
import { CreateDialog } from "./create.js";
import { count, describeError, relativeTime } from "./format.js";
import { followTheme } from "./theme.js";

const REFRESH_MS = 5000; // counters of the rows in view (they emit no signal)
const DONE = {
    pause: "Paused", unpause: "Unpaused", start: "Started", stop: "Stopped", restart: "Restarted", run: "Job started",
};
const METHOD = { pause: "Pause", unpause: "Unpause", start: "Start", stop: "Stop", restart: "Start", run: "RunJob" };

function $(id) {
    return document.getElementById(id);
}

function showText(id, text) {
    const e = $(id);
    e.textContent = text || "";
    e.hidden = !text;
}

// The static labels of index.html marked translate="yes", in the user's
// language (po.js has loaded its catalogue, if there is one).
cockpit.translate();
followTheme();
const client = new SourcedClient();
const messageTimers = new Map();

// One action on one source, from a row or the detail view. The pressed
// button stays busy while its call is in flight, and presses on it are
// ignored; any other button of the source acts at once (see
// SourceList.setPending). The outcome of the last call to finish is shown
// next to it.
async function runAction(id, action, button) {
    if (action === "details") {
        cockpit.location.go(["source", id]);
        return;
    }
    if (list.isPending(id, action))
        return;
    list.setPending(id, action, +1);
    if (detail.id === id)
        detail.setActionBusy(action, true);
    window.clearTimeout(messageTimers.get(id));
    list.setMessage(id, "");
    try {
        await client.sourceCall(id, METHOD[action]);
        list.setMessage(id, DONE[action], false);
        if (detail.id === id)
            detail.showError("");
        messageTimers.set(id, window.setTimeout(() => list.setMessage(id, ""), 8000));
    } catch (err) {
        const text = describeError(err);
        list.setMessage(id, text, true);
        if (detail.id === id)
            detail.showError(text);
    } finally {
        list.setPending(id, action, -1);
        if (detail.id === id)
            detail.setActionBusy(action, list.isPending(id, action));
    }
}

const list = new SourceList(client, runAction);
const detail = new DetailView(client, { run: runAction });
// eslint-disable-next-line no-new
new CreateDialog(client, id => {
    $("filter-text").value = "";
    list.setFilter("", $("filter-status").value);
    showText("bulk-result", "Created " + id + ".");
});

// ---- The Manager's gate --------------------------------------------------

async function gate(method, button) {
    if (isBusy(button))
        return;
    setBusy(button, true);
    showText("gate-error", "");
    try {
        await client.managerCall(method);
    } catch (err) {
        showText("gate-error", describeError(err));
    } finally {
        setBusy(button, false);
    }
}
$("gate-pause").addEventListener("click", ev => gate("Pause", ev.currentTarget));
$("gate-unpause").addEventListener("click", ev => gate("Unpause", ev.currentTarget));

function updateManager() {
    const up = client.state === "ready" || client.state === "loading";
    const pausedAt = client.manager.PausedAt || 0;
    $("gate-banner").hidden = !(up && pausedAt);
    $("gate-banner-text").textContent = pausedAt
        ? "Paused " + relativeTime(pausedAt) + "; no source delivers until you unpause all." : "";
    $("gate-banner-text").title = pausedAt ? new Date(pausedAt / 1000).toISOString() : "";
    if (!up) {
        $("gate-pause").hidden = true;
        $("gate-unpause").hidden = true;
    } else if (pausedAt) {
        showInstead($("gate-unpause"), $("gate-pause"));
    } else {
        showInstead($("gate-pause"), $("gate-unpause"));
    }
    $("create-open").hidden = !up;
    updateSummary();
}

function updateSummary() {
    let text = "";
    if (client.state === "ready" || client.state === "loading") {
        text = count(client.ids.length) + " sources";
        if (client.manager.Version)
            text += " · sourced " + client.manager.Version;
    }
    if ($("summary").textContent !== text)
        $("summary").textContent = text;
}

// ---- Bulk actions on the shown set --------------------------------------

async function bulk(method, verb, button) {
    const ids = list.filtered() ? list.shownIds().slice() : ["*"];
    if (ids.length === 0) {
        showText("bulk-result", "No source is shown.");
        return;
    }
    if (isBusy(button))
        return;
    setBusy(button, true);
    showText("bulk-result", "");
    try {
        const rows = await client.bulk(method, ids);
        const done = rows.filter(r => r[1] === "done").length;
        const unchanged = rows.filter(r => r[1] === "unchanged").length;
        const failed = rows.filter(r => r[1] !== "done" && r[1] !== "unchanged");
        let text = verb + " " + count(done) + ", " + count(unchanged) + " already so";
        if (failed.length)
            text += ", " + count(failed.length) + " failed: " + failed.slice(0, 3).map(r => r[0] + ": " + r[2]).join("; ");
        showText("bulk-result", text + ".");
        $("bulk-result").classList.toggle("error", failed.length > 0);
    } catch (err) {
        showText("bulk-result", describeError(err));
        $("bulk-result").classList.add("error");
    } finally {
        setBusy(button, false);
    }
}
$("shown-pause").addEventListener("click", ev => bulk("PauseSources", "Paused", ev.currentTarget));
$("shown-unpause").addEventListener("click", ev => bulk("UnpauseSources", "Unpaused", ev.currentTarget));

// ---- Filters ---------------------------------------------------------------

function applyFilter() {
    list.setFilter($("filter-text").value, $("filter-status").value);
}
$("filter-text").addEventListener("input", applyFilter);
$("filter-status").addEventListener("change", applyFilter);

// ---- sourced not running ---------------------------------------------------

$("down-start").addEventListener("click", async ev => {
    const button = ev.currentTarget;
    if (isBusy(button))
        return;
    setBusy(button, true);
    showText("down-error", "");
    try {
        const systemd = cockpit.dbus("org.freedesktop.systemd1", { bus: "system", superuser: "try" });
        await systemd.call("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "StartUnit",
                           ["sourced.service", "replace"], { type: "ss" });
        systemd.close();
        showText("down-error", "");
        $("down-text").textContent = "Starting sourced.service…";
    } catch (err) {
        showText("down-error", "Could not start sourced.service: " + describeError(err));
    } finally {
        setBusy(button, false);
    }
});

// ---- Views -----------------------------------------------------------------

function route() {
    const path = cockpit.location.path;
    const down = client.state === "down";
    $("down").hidden = !down;
    if (path[0] === "source" && path[1] && !down) {
        $("list-view").hidden = true;
        $("detail-view").hidden = false;
        detail.show(path[1]);
    } else {
        detail.hide();
        $("detail-view").hidden = true;
        $("list-view").hidden = down;
        list.schedule(false);
    }
}
cockpit.addEventListener("locationchanged", route);

function updateLoading() {
    const e = $("loading");
    if (client.state === "connecting")
        showText("loading", "Connecting…");
    else if (client.state === "loading")
        showText("loading", "Loading… " + count(client.ids.length) + " sources read");
    else if (client.state === "ready" && client.ids.length === 0)
        showText("loading", "No sources yet. Add a definition file under /etc/sourced/sources.d or create one.");
    else
        e.hidden = true;
}

client.addEventListener("state", () => {
    document.body.dataset.state = client.state;
    if (client.state !== "down")
        $("down-text").textContent =
            "The data sources daemon (sourced.service) is not on the system bus, so no source is supervised.";
    updateLoading();
    updateManager();
    route();
});
client.addEventListener("sources", () => {
    list.schedule(true);
    updateLoading();
    updateSummary();
    if (detail.id)
        detail.update();
});
client.addEventListener("source", ev => {
    list.changed(ev.detail.id, ev.detail.keys);
    if (detail.id === ev.detail.id)
        detail.update();
});
client.addEventListener("manager", updateManager);
client.addEventListener("error", ev => showText("bulk-result", "Could not read the sources: " + describeError(ev.detail)));

// Counters of the rows in view (they emit no signal) and relative times,
// kept fresh: one paged read covering the visible range.
window.setInterval(async () => {
    if (client.state !== "ready" || cockpit.hidden || $("list-view").hidden)
        return;
    const visible = [...list.rows.keys()].sort();
    if (visible.length)
        await client.refreshCounters(visible[0], visible[visible.length - 1]);
    list.schedule(false);
    updateManager();
}, REFRESH_MS);

document.body.dataset.state = client.state;
updateLoading();
updateManager();
route();
