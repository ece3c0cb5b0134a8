/* global cockpit */
// sourced's D-Bus client for the page: follows the name's owner, reads every
// source with the paged bulk read, and keeps the copy current from
// PropertiesChanged, InterfacesAdded and InterfacesRemoved. Nothing here
// touches the DOM; the page listens to the events it dispatches:
//   "state"   the connection state changed (see `state`)
//   "sources" sources were added, removed or (re)loaded
//   "source"  one source's properties changed (detail: {id, keys})
//   "manager" the Manager's properties changed

export const NAME = "org.sourced.Sourced1";
export const MANAGER_PATH = "/org/sourced/Sourced1";
export const MANAGER = NAME + ".Manager";
export const SOURCE = NAME + ".Source";
const PROPERTIES = "org.freedesktop.DBus.Properties";
const OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager";

// Sources per GetSourcesPaged call. The daemon may answer with fewer to keep
// each reply small; 1000 keeps one page well under a second of work.
const PAGE = 1000;
// The daemon's bound on patterns per bulk call.
const BULK_MAX = 4096;

function unwrap(props) {
    const out = {};
    for (const key in props)
        out[key] = props[key].v;
    return out;
}

export class SourcedClient extends EventTarget {
    constructor() {
        super();
        this.state = "connecting"; // connecting | loading | ready | down
        this.owner = null;
        this.sources = new Map(); // id -> properties (plain values)
        this.paths = new Map(); // object path -> id
        this.ids = []; // sorted as the daemon sorts them (byte order)
        this.manager = {}; // PausedAt, Version, NSources
        this.generation = 0;
        this._proxy = null;
        this._open();
    }

    _emit(type, detail) {
        this.dispatchEvent(new CustomEvent(type, { detail }));
    }

    _setState(state) {
        if (this.state !== state) {
            this.state = state;
            this._emit("state", state);
        }
    }

    _open() {
        // superuser "try": an administrator's calls run as root, anyone
        // else's as themselves, and polkit decides.
        const dbus = cockpit.dbus(NAME, { bus: "system", superuser: "try" });
        this.dbus = dbus;
        dbus.addEventListener("owner", (ev, owner) => this._ownerChanged(owner));
        dbus.addEventListener("close", (ev, options) => {
            if (this.dbus !== dbus)
                return;
            // The bridge channel went away (session ended, bridge restart):
            // show sourced as unreachable and open a fresh channel.
            this._ownerChanged(null);
            window.setTimeout(() => this._open(), 2000);
        });
        // Match rules go by the well-known name, so they keep matching a
        // restarted sourced: subscribe once per channel.
        dbus.subscribe({ interface: PROPERTIES, member: "PropertiesChanged", path_namespace: MANAGER_PATH },
                       (path, iface, member, args) => this._propertiesChanged(path, args));
        dbus.subscribe({ interface: OBJECT_MANAGER, path: MANAGER_PATH },
                       (path, iface, member, args) => this._objectManagerSignal(member, args));
    }

    _ownerChanged(owner) {
        if (owner === this.owner && owner !== null)
            return;
        this.owner = owner;
        this.generation++;
        if (this._proxy) {
            this._proxy.removeEventListener("changed", this._proxyChanged);
            this._proxy = null;
        }
        this.sources.clear();
        this.paths.clear();
        this.ids = [];
        this.manager = {};
        if (!owner) {
            this._setState("down");
            this._emit("sources");
            this._emit("manager");
            return;
        }
        // A new owner: everything is read afresh (a proxy made for the old
        // owner would keep its stale values).
        this._setState("loading");
        this._emit("sources");
        this._load(this.generation);
    }

    async _load(generation) {
        this._proxyChanged = () => {
            if (generation !== this.generation)
                return;
            const p = this._proxy;
            this.manager = { PausedAt: p.PausedAt || 0, Version: p.Version || "", NSources: p.NSources || 0 };
            this._emit("manager");
        };
        this._proxy = this.dbus.proxy(MANAGER, MANAGER_PATH);
        this._proxy.addEventListener("changed", this._proxyChanged);
        let after = "";
        try {
            do {
                const [entries, next] = await this.dbus.call(MANAGER_PATH, MANAGER, "GetSourcesPaged",
                                                             [after, PAGE], { type: "su" });
                if (generation !== this.generation)
                    return;
                for (const [path, props] of entries)
                    this._add(path, unwrap(props));
                after = next;
                this._emit("sources");
            } while (after);
        } catch (err) {
            if (generation !== this.generation)
                return;
            this._emit("error", err);
        }
        this._setState("ready");
    }

    _indexOf(id) {
        // First position whose id is >= @id, in byte order (ids are ASCII).
        let lo = 0;
        let hi = this.ids.length;
        while (lo < hi) {
            const mid = (lo + hi) >> 1;
            if (this.ids[mid] < id)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }

    _add(path, props) {
        const id = props.Id;
        if (!id)
            return;
        if (!this.sources.has(id)) {
            const n = this.ids.length;
            if (n === 0 || this.ids[n - 1] < id)
                this.ids.push(id); // pages arrive in order
            else
                this.ids.splice(this._indexOf(id), 0, id);
        }
        props.path = path;
        this.sources.set(id, props);
        this.paths.set(path, id);
    }

    _remove(path) {
        const id = this.paths.get(path);
        if (id === undefined)
            return;
        this.paths.delete(path);
        this.sources.delete(id);
        const i = this._indexOf(id);
        if (this.ids[i] === id)
            this.ids.splice(i, 1);
    }

    _propertiesChanged(path, args) {
        const [iface, changed] = args;
        if (iface === SOURCE) {
            const id = this.paths.get(path);
            const props = id !== undefined && this.sources.get(id);
            if (!props)
                return; // not read yet: its page will carry the new values
            const values = unwrap(changed);
            Object.assign(props, values);
            this._emit("source", { id, keys: Object.keys(values) });
        }
    }

    _objectManagerSignal(member, args) {
        if (this.state === "down")
            return;
        if (member === "InterfacesAdded") {
            const [path, ifaces] = args;
            if (ifaces[SOURCE]) {
                this._add(path, unwrap(ifaces[SOURCE]));
                this._emit("sources");
            }
        } else if (member === "InterfacesRemoved") {
            const [path, ifaces] = args;
            if (ifaces.includes(SOURCE)) {
                this._remove(path);
                this._emit("sources");
            }
        }
    }

    // ---- Calls ----------------------------------------------------------

    pathOf(id) {
        const props = this.sources.get(id);
        return props ? props.path : null;
    }

    sourceCall(id, method) {
        const path = this.pathOf(id);
        if (!path)
            return Promise.reject({ name: NAME + ".Error.NoSuchSource", message: "Source not found" });
        return this.dbus.call(path, SOURCE, method, [], { type: "" });
    }

    // Writes PausedAt as Stitch's update does: any non-zero time pauses at
    // once, 0 unpauses.
    setPausedAt(id, usec) {
        const path = this.pathOf(id);
        if (!path)
            return Promise.reject({ name: NAME + ".Error.NoSuchSource", message: "Source not found" });
        return this.dbus.call(path, PROPERTIES, "Set", [SOURCE, "PausedAt", cockpit.variant("t", usec)],
                              { type: "ssv" });
    }

    managerCall(method, args = [], type = "") {
        return this.dbus.call(MANAGER_PATH, MANAGER, method, args, { type });
    }

    getProperty(id, name) {
        const path = this.pathOf(id);
        if (!path)
            return Promise.reject({ name: NAME + ".Error.NoSuchSource", message: "Source not found" });
        return this.dbus.call(path, PROPERTIES, "Get", [SOURCE, name], { type: "ss" })
                .then(([variant]) => variant.v);
    }

    // Re-reads the delivery counters of the sources from @first to @last
    // (ids, in order) with one paged read.
    async refreshCounters(first, last) {
        const i = this._indexOf(first);
        const j = this._indexOf(last);
        const after = i > 0 ? this.ids[i - 1] : "";
        try {
            const [entries] = await this.dbus.call(MANAGER_PATH, MANAGER, "GetSourcesPaged",
                                                   [after, Math.min(PAGE, j - i + 1)], { type: "su" });
            for (const [, props] of entries) {
                const mine = this.sources.get(props.Id.v);
                if (mine) {
                    for (const key of ["RecordsDelivered", "BytesDelivered", "LastRecordAt"])
                        mine[key] = props[key].v;
                }
            }
        } catch (err) {
            // sourced going away is shown by the owner change.
        }
    }

    // PauseSources / UnpauseSources / StartSources / StopSources over any
    // number of patterns: in calls of at most BULK_MAX patterns each (each
    // call is one durable commit). Resolves to the rows of every reply.
    async bulk(method, patterns) {
        const rows = [];
        for (let i = 0; i < patterns.length; i += BULK_MAX) {
            const [reply] = await this.managerCall(method, [patterns.slice(i, i + BULK_MAX)], "as");
            rows.push(...reply);
        }
        return rows;
    }
}
