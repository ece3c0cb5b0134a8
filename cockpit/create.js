/* global cockpit */
// The "Create source" dialog: the settings of Manager.CreateSource, typed as
// the contract says. The daemon checks them; its InvalidArgs message names
// the key, and the field with that key is marked.

import { describeError } from "./format.js";

function $(id) {
    return document.getElementById(id);
}

const FIELD_OF_KEY = {
    DisplayName: "create-name", Type: "create-type", Exec: "create-exec", FrequencyMinutes: "create-frequency",
    CronExpression: "create-cron", InitialState: "create-state", Sink: "create-output-value",
    Target: "create-output-value",
};

export class CreateDialog {
    constructor(client, onCreated) {
        this.client = client;
        this.onCreated = onCreated;
        this.dialog = $("create-dialog");
        $("create-open").addEventListener("click", () => this.open());
        $("create-cancel").addEventListener("click", () => this.dialog.close());
        $("create-schedule").addEventListener("change", () => this.sync());
        $("create-output").addEventListener("change", () => this.sync());
        $("create-form").addEventListener("submit", ev => { ev.preventDefault(); this.submit() });
    }

    open() {
        $("create-form").reset();
        this.showError("");
        this.sync();
        this.dialog.showModal();
        $("create-id").focus();
    }

    sync() {
        const schedule = $("create-schedule").value;
        $("create-frequency").disabled = schedule !== "frequency";
        $("create-cron").disabled = schedule !== "cron";
        const output = $("create-output").value;
        $("create-output-value").disabled = output === "default";
        $("create-output-value").placeholder = output === "target"
            ? "/usr/bin/target-postgres --config /etc/sourced/pg.json" : output === "sink" ? "/srv/data/out.jsonl" : "";
    }

    settings() {
        const s = {};
        const name = $("create-name").value.trim();
        if (name)
            s.DisplayName = cockpit.variant("s", name);
        s.Type = cockpit.variant("s", $("create-type").value);
        s.Exec = cockpit.variant("s", $("create-exec").value.trim());
        const schedule = $("create-schedule").value;
        if (schedule === "frequency")
            s.FrequencyMinutes = cockpit.variant("u", Number($("create-frequency").value));
        else if (schedule === "cron")
            s.CronExpression = cockpit.variant("s", $("create-cron").value.trim());
        s.InitialState = cockpit.variant("s", $("create-state").value);
        const output = $("create-output").value;
        if (output === "sink")
            s.Sink = cockpit.variant("s", $("create-output-value").value.trim());
        else if (output === "target")
            s.Target = cockpit.variant("s", $("create-output-value").value.trim());
        return s;
    }

    showError(text, key) {
        const e = $("create-error");
        e.textContent = text;
        e.hidden = !text;
        for (const k in FIELD_OF_KEY)
            $(FIELD_OF_KEY[k]).removeAttribute("aria-invalid");
        if (key && FIELD_OF_KEY[key]) {
            const field = $(FIELD_OF_KEY[key]);
            field.setAttribute("aria-invalid", "true");
            field.focus();
        }
    }

    async submit() {
        const id = $("create-id").value.trim();
        const button = $("create-submit");
        button.disabled = true;
        this.showError("");
        try {
            await this.client.managerCall("CreateSource", [id, this.settings()], "sa{sv}");
            this.dialog.close();
            this.onCreated(id);
        } catch (err) {
            const message = err.message || "";
            const key = Object.keys(FIELD_OF_KEY).find(k => message.includes(k));
            this.showError(describeError(err), key);
            if (!key && /\bid\b/i.test(message))
                $("create-id").setAttribute("aria-invalid", "true");
        } finally {
            button.disabled = false;
        }
    }
}
