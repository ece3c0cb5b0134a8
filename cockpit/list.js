// The list of sources, rendered by windows: only the rows in view (and a
// margin) exist in the DOM, so 10,000 sources cost what 40 do. Rows stay in
// id order whatever their status, and are updated in place so a focused
// button keeps its focus while signals arrive.

import { setBusy, showActions } from "./actions.js";
import { count, exactTime, nextRunText, relativeTime, retryText, scheduleText } from "./format.js";

const ROW_HEIGHT = 56; // px; sourced.css gives .rows .row the same height
const MARGIN = 8; // rows rendered above and below the visible ones

const _ = cockpit.gettext;
const N_ = cockpit.noop;

// The per-row actions: [action, label]. "pause"/"unpause" show one at a time.
const ROW_ACTIONS = [
    ["pause", N_("Pause")], ["unpause", N_("Unpause")], ["start", N_("Start")], ["stop", N_("Stop")],
    ["restart", N_("Restart")], ["run", N_("Run now")], ["details", N_("Details")],
];

function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className)
        e.className = className;
    if (text !== undefined)
        e.textContent = text;
    return e;
}

export function matchesFilter(props, text, status) {
    if (text) {
        const t = text.toLowerCase();
        if (!props.Id.toLowerCase().includes(t) && !(props.DisplayName || "").toLowerCase().includes(t))
            return false;
    }
    if (status === "problems")
        return props.Status === "failed" || props.Status === "restarting" || !!props.LastError ||
            !!props.SystemPausedAt;
    return !status || props.Status === status;
}

export class SourceList {
    constructor(client, onAction) {
        this.client = client;
        this.onAction = onAction; // (id, action, button) => void
        this.scroller = document.getElementById("rows");
        this.spacer = document.getElementById("rows-spacer");
        this.text = "";
        this.status = "";
        this.shown = [];
        this.sticky = null; // ids shown under the current filter
        this.rows = new Map(); // id -> row element in the DOM
        this.messages = new Map(); // id -> {text, error}: the outcome of the last action
        this.pending = new Map(); // id -> Map(action -> number of its calls in flight)
        this.dirty = true;
        this.frame = 0;
        this.scroller.addEventListener("scroll", () => this.schedule(false));
        window.addEventListener("resize", () => this.schedule(false));
    }

    setFilter(text, status) {
        this.text = text.trim();
        this.status = status;
        this.sticky = null; // a new filter: the shown set starts afresh
        this.schedule(true);
    }

    // @refilter: the set of shown ids may have changed.
    schedule(refilter = true) {
        if (refilter)
            this.dirty = true;
        if (!this.frame)
            this.frame = window.requestAnimationFrame(() => { this.frame = 0; this.render() });
    }

    // One source changed: update its row if it is in view. A row never
    // leaves the shown set because its status changed (it would vanish
    // under the pointer); a source that starts to match a filter joins it.
    changed(id, keys) {
        if (this.filtered() && !this.sticky?.has(id) &&
            keys.some(k => ["Status", "LastError", "SystemPausedAt", "DisplayName"].includes(k)))
            return this.schedule(true);
        const row = this.rows.get(id);
        if (row)
            this.fill(row, this.client.sources.get(id));
    }

    // Only the button whose call is in flight is busy: its siblings act at
    // once. Pause swaps for Unpause as soon as the signal comes, often
    // before the reply, and a keyboard user presses the button the focus
    // moved to; a press on it must act, not be dropped because the row is
    // still waiting. sourced applies one connection's calls in order, so
    // the last press decides.
    setPending(id, action, delta) {
        const actions = this.pending.get(id) || new Map();
        const n = (actions.get(action) || 0) + delta;
        if (n > 0)
            actions.set(action, n);
        else
            actions.delete(action);
        if (actions.size)
            this.pending.set(id, actions);
        else
            this.pending.delete(id);
        const row = this.rows.get(id);
        if (row)
            this.fill(row, this.client.sources.get(id));
    }

    setMessage(id, text, error) {
        if (text)
            this.messages.set(id, { text, error });
        else
            this.messages.delete(id);
        const row = this.rows.get(id);
        if (row)
            this.fill(row, this.client.sources.get(id));
    }

    refilter() {
        const sources = this.client.sources;
        if (!this.text && !this.status) {
            this.shown = this.client.ids.slice();
        } else {
            // Shown once under this filter: shown until the filter changes.
            const sticky = this.sticky;
            this.shown = this.client.ids.filter(id => sticky?.has(id) ||
                                                      matchesFilter(sources.get(id), this.text, this.status));
            this.sticky = new Set(this.shown);
        }
        this.dirty = false;
    }

    render() {
        if (this.dirty)
            this.refilter();
        const total = this.shown.length;
        this.spacer.style.height = (total * ROW_HEIGHT) + "px";
        const top = this.scroller.scrollTop;
        const height = this.scroller.clientHeight || 600;
        const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - MARGIN);
        const last = Math.min(total, Math.ceil((top + height) / ROW_HEIGHT) + MARGIN);
        const keep = new Set();
        for (let i = first; i < last; i++) {
            const id = this.shown[i];
            keep.add(id);
            let row = this.rows.get(id);
            if (!row) {
                row = this.build(id);
                this.rows.set(id, row);
                this.scroller.appendChild(row);
            }
            row.style.transform = "translateY(" + (i * ROW_HEIGHT) + "px)";
            row.setAttribute("aria-rowindex", String(i + 2)); // the header is row 1
            this.fill(row, this.client.sources.get(id));
        }
        for (const [id, row] of this.rows) {
            if (!keep.has(id)) {
                if (row.contains(document.activeElement))
                    continue; // never pull the focus out from under the keyboard
                row.remove();
                this.rows.delete(id);
            }
        }
        this.scroller.closest(".table").setAttribute("aria-rowcount", String(total + 1));
        this.dispatchShown(total);
    }

    dispatchShown(total) {
        const all = this.client.ids.length;
        const text = total === all ? count(all) + " sources" : count(total) + " of " + count(all) + " sources shown";
        const target = document.getElementById("shown-count");
        if (target.textContent !== text)
            target.textContent = text;
    }

    build(id) {
        const row = el("div", "row");
        row.setAttribute("role", "row");
        row.dataset.id = id;
        const cells = {};
        for (const name of ["id", "name", "status", "active", "paused", "schedule", "records", "error"]) {
            cells[name] = el("span", "cell " + name);
            cells[name].setAttribute("role", "cell");
            row.appendChild(cells[name]);
        }
        cells.status.prepend(el("span", "dot"));
        cells.statusText = cells.status.appendChild(el("span", "status-text"));
        cells.retry = cells.status.appendChild(el("span", "sub retry"));
        cells.scheduleText = cells.schedule.appendChild(el("span", "schedule-text"));
        cells.nextRun = cells.schedule.appendChild(el("span", "sub"));
        const actions = el("span", "cell actions");
        actions.setAttribute("role", "cell");
        const buttons = el("span", "buttons");
        cells.buttons = {};
        for (const [action, label] of ROW_ACTIONS) {
            const b = el("button", "small " + action, _(label));
            b.type = "button";
            b.dataset.action = action;
            b.setAttribute("aria-label", _(label) + " " + id);
            b.addEventListener("click", () => this.onAction(id, action, b));
            cells.buttons[action] = b;
            buttons.appendChild(b);
        }
        actions.appendChild(buttons);
        cells.message = actions.appendChild(el("span", "row-message"));
        cells.message.setAttribute("role", "status");
        row.appendChild(actions);
        row.cells_ = cells;
        return row;
    }

    fill(row, props) {
        if (!props)
            return;
        const c = row.cells_;
        const set = (e, text) => { if (e.textContent !== text) e.textContent = text };
        set(c.id, props.Id);
        set(c.name, props.DisplayName || "");
        row.dataset.status = props.Status;
        set(c.statusText, props.Status);
        set(c.retry, retryText(props, true));
        c.retry.title = props.NextRetryAt ? retryText(props) + ", at " + exactTime(props.NextRetryAt) : "";
        set(c.active, props.Active ? "yes" : "no");
        const pausedAt = props.PausedAt || props.SystemPausedAt;
        set(c.paused, pausedAt ? relativeTime(pausedAt) + (props.PausedAt ? "" : " (by sourced)") : "");
        c.paused.title = pausedAt ? exactTime(pausedAt) : "";
        set(c.scheduleText, scheduleText(props));
        set(c.nextRun, nextRunText(props));
        c.nextRun.title = props.NextRunAt ? exactTime(props.NextRunAt) : "";
        set(c.records, count(props.RecordsDelivered));
        set(c.error, props.LastError || "");
        c.error.title = props.LastError || "";

        const pending = this.pending.get(props.Id);
        const b = c.buttons;
        showActions(b, props);
        for (const action in b)
            setBusy(b[action], !!pending?.has(action));
        const msg = this.messages.get(props.Id);
        set(c.message, msg ? msg.text : "");
        c.message.classList.toggle("error", !!(msg && msg.error));
    }

    isPending(id, action) {
        return !!this.pending.get(id)?.has(action);
    }

    // The ids currently shown (after filters), for "Pause all shown".
    shownIds() {
        if (this.dirty)
            this.refilter();
        return this.shown;
    }

    filtered() {
        return !!(this.text || this.status);
    }
}
