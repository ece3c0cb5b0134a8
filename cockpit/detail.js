/* global cockpit */
// The detail view of one source: every property, its bookmark as JSON, a
// chart of records per second, "Pause at…", its last journal lines, the
// journal link and Remove.

import { isBusy, setBusy, showActions } from "./actions.js";
import { describeError, exactTime, relativeTime, retryText } from "./format.js";
import { sourceJournal } from "./journal.js";
import { RateSeries, drawChart, formatRate } from "./chart.js";

const SAMPLE_MS = 2000;
const JOURNAL_LINES = 10;
const TIME_PROPS = ["PausedAt", "SystemPausedAt", "CreatedAt", "UpdatedAt", "LastRecordAt", "NextRunAt",
    "LastJobStartedAt", "NextRetryAt"];
const ORDER = ["Id", "DisplayName", "Type", "Status", "Active", "PausedAt", "SystemPausedAt", "FrequencyMinutes",
    "CronExpression", "NextRunAt", "LastJobStartedAt", "MainPID", "NRestarts", "NextRetryAt", "LastExitStatus",
    "LastError", "Sink", "RecordsDelivered", "BytesDelivered", "LastRecordAt", "CreatedAt", "UpdatedAt"];

function $(id) {
    return document.getElementById(id);
}

// Parses "2019-06-01T00:00:00Z" (any ISO 8601 date and time; UTC when no
// offset is given) into microseconds since the epoch, or null.
export function parsePauseAt(text) {
    let t = text.trim();
    if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(t))
        return null;
    if (/^\d{4}-\d{2}-\d{2}$/.test(t))
        t += "T00:00:00";
    if (!/(Z|[+-]\d{2}:?\d{2})$/.test(t))
        t += "Z";
    const ms = Date.parse(t.replace(" ", "T"));
    if (Number.isNaN(ms) || ms <= 0)
        return null;
    return ms * 1000;
}

export class DetailView {
    constructor(client, actions) {
        this.client = client;
        this.actions = actions; // {run(id, action, button), message(id) -> {text, error}}
        this.id = null;
        this.series = null;
        this.timer = 0;
        $("pause-at-form").addEventListener("submit", ev => { ev.preventDefault(); this.pauseAt() });
        $("detail-remove").addEventListener("click", () => this.remove());
        $("detail-journal").addEventListener("click", ev => {
            ev.preventDefault();
            // Upper-case keys are journal matches on Cockpit's logs page.
            cockpit.jump("/system/logs#/?priority=debug&_SYSTEMD_UNIT=sourced.service&SOURCE_ID=" +
                         encodeURIComponent(this.id));
        });
    }

    show(id) {
        if (this.id !== id) {
            this.id = id;
            this.series = new RateSeries();
            this.buildActions();
            $("detail-error").hidden = true;
            $("pause-at-error").hidden = true;
        }
        window.clearInterval(this.timer);
        this.sample();
        this.timer = window.setInterval(() => this.sample(), SAMPLE_MS);
        this.journalKey = null;
        this.update();
    }

    // The last lines sourced logged about this source. Read again when
    // what they would tell changes (a restart, a new error), not on a
    // timer: a crash loop's lines come with its restarts.
    async loadJournal(props) {
        const id = this.id;
        const key = id + "\n" + props.NRestarts + "\n" + props.LastError + "\n" + props.Status;
        if (key === this.journalKey)
            return;
        this.journalKey = key;
        const list = $("detail-journal-lines");
        const note = $("detail-journal-note");
        let entries;
        try {
            entries = await sourceJournal(id, JOURNAL_LINES);
        } catch (err) {
            if (id !== this.id)
                return;
            list.replaceChildren();
            note.textContent = "The journal cannot be read: " + (err.message || String(err));
            note.hidden = false;
            return;
        }
        if (id !== this.id)
            return;
        list.replaceChildren(...entries.map(e => {
            const li = document.createElement("li");
            li.textContent = exactTime(e.usec) + " " + e.message;
            li.title = relativeTime(e.usec);
            li.classList.toggle("warning", e.priority <= 4);
            return li;
        }));
        note.textContent = entries.length ? ""
            : "No journal lines for this source that you may read (sourced's lines need membership in adm " +
              "or systemd-journal, or a session where sourced logs to the journal).";
        note.hidden = entries.length > 0;
    }

    hide() {
        window.clearInterval(this.timer);
        this.timer = 0;
        this.id = null;
    }

    buildActions() {
        const box = $("detail-actions");
        box.replaceChildren();
        this.buttons = {};
        for (const [action, label] of [["pause", "Pause"], ["unpause", "Unpause"], ["start", "Start"],
            ["stop", "Stop"], ["restart", "Restart"], ["run", "Run now"]]) {
            const b = document.createElement("button");
            b.type = "button";
            b.textContent = label;
            b.dataset.action = action;
            b.addEventListener("click", () => this.actions.run(this.id, action, b));
            this.buttons[action] = b;
            box.appendChild(b);
        }
    }

    setBusy(busy) {
        for (const action in this.buttons || {})
            setBusy(this.buttons[action], busy);
        setBusy($("detail-remove"), busy);
        setBusy($("pause-at-submit"), busy);
    }

    // One action's call in flight (from runAction): only its button.
    setActionBusy(action, busy) {
        if (this.buttons?.[action])
            setBusy(this.buttons[action], busy);
    }

    // A call of this view's own in flight (Pause at…, Remove).
    busy() {
        return isBusy($("detail-remove"));
    }

    showError(text) {
        const e = $("detail-error");
        e.textContent = text || "";
        e.hidden = !text;
    }

    async sample() {
        const id = this.id;
        if (!id || this.client.state !== "ready")
            return;
        try {
            const records = await this.client.getProperty(id, "RecordsDelivered");
            if (id !== this.id)
                return;
            const props = this.client.sources.get(id);
            if (props)
                props.RecordsDelivered = records;
            this.series.add(Date.now(), records);
            this.update();
        } catch (err) {
            // Gone, or sourced restarting: the list and banner say so.
        }
    }

    update() {
        const id = this.id;
        if (!id)
            return;
        const props = this.client.sources.get(id);
        $("detail-title").textContent = props ? (props.DisplayName || id) : id;
        $("detail-crumb").textContent = id;
        const status = $("detail-status");
        const retry = props ? retryText(props) : "";
        status.textContent = props ? props.Status + (retry ? " (" + retry + ")" : "") : "removed";
        status.dataset.status = props ? props.Status : "";
        const dl = $("detail-props");
        dl.replaceChildren();
        if (!props) {
            this.showError("This source no longer exists.");
            return;
        }
        for (const key of ORDER.concat(Object.keys(props).filter(k => !ORDER.includes(k) && k !== "path" &&
                                                                       k !== "Bookmark").sort())) {
            if (!(key in props))
                continue;
            const dt = document.createElement("dt");
            dt.textContent = key;
            const dd = document.createElement("dd");
            dd.dataset.key = key;
            const v = props[key];
            if (TIME_PROPS.includes(key)) {
                dd.textContent = v ? exactTime(v) + " (" + relativeTime(v) + ")" : "never";
              }
            else if (key === "Sink" && /^postgres(ql)?:\/\//.test(v))
              {
                // Delivered means committed there: the last record is the
                // last commit.
                dd.textContent = v + " (last commit: " +
                                 (props.LastRecordAt ? relativeTime (props.LastRecordAt) : "none yet") + ")";
              }
            else if (typeof v === "boolean")
              {
                dd.textContent = v ? "yes" : "no";
              }
            else
              {
                dd.textContent = String(v);
              }
            dl.append(dt, dd);
        }
        let bookmark = props.Bookmark || "";
        if (bookmark) {
            try {
                bookmark = JSON.stringify(JSON.parse(bookmark), null, 2);
            } catch (e) {
                // Shown as the daemon gave it.
            }
        }
        $("detail-bookmark").textContent = bookmark || "(none)";
        const rate = drawChart($("detail-chart"), this.series);
        $("chart-caption").textContent = rate === null ? "Sampling every 2 s…"
            : "Now " + formatRate(rate) + ", " + props.RecordsDelivered + " records in all";
        showActions(this.buttons, props);
        this.loadJournal(props);
    }

    async pauseAt() {
        if (this.busy())
            return;
        const id = this.id;
        const input = $("pause-at-input");
        const err = $("pause-at-error");
        const usec = parsePauseAt(input.value);
        if (usec === null) {
            err.textContent = "Not a date and time: give one as 2019-06-01T00:00:00Z.";
            err.hidden = false;
            input.setAttribute("aria-invalid", "true");
            return;
        }
        input.removeAttribute("aria-invalid");
        err.hidden = true;
        this.setBusy(true);
        try {
            await this.client.setPausedAt(id, usec);
        } catch (e) {
            err.textContent = describeError(e);
            err.hidden = false;
        } finally {
            this.setBusy(false);
        }
    }

    async remove() {
        if (this.busy())
            return;
        const id = this.id;
        this.setBusy(true);
        try {
            await this.client.managerCall("RemoveSource", [id], "s");
            cockpit.location.go("/");
        } catch (e) {
            this.showError(describeError(e));
        } finally {
            this.setBusy(false);
        }
    }
}
