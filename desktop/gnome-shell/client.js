/* exported SourcedClient */
// sourced on the system bus, for the panel: follows the name's owner, reads
// every source with Manager.GetSourcesPaged and keeps the copy current from
// signals. Every call is asynchronous; nothing here blocks the shell.
//
// Signals: 'changed' (the set or the Manager changed), 'source-changed'
// (id, old, new), 'state' (running or not).

const { Gio, GLib } = imports.gi;
const Signals = imports.signals;
const ExtensionUtils = imports.misc.extensionUtils;

var BUS_NAME = 'org.sourced.Sourced1';
var MANAGER_PATH = '/org/sourced/Sourced1';
const MANAGER_IFACE = 'org.sourced.Sourced1.Manager';
const SOURCE_IFACE = 'org.sourced.Sourced1.Source';
const PAGE = 1000;
// The properties the panel shows; the rest of a page is dropped.
const KEPT = ['Id', 'DisplayName', 'Status', 'PausedAt', 'SystemPausedAt', 'LastError', 'Active', 'NRestarts',
    'NextRetryAt'];

function loadInterface(name) {
    // The interface XML is the project's introspection file, installed with
    // the extension.
    const me = ExtensionUtils.getCurrentExtension();
    const file = me.dir.get_child(`${name}.xml`);
    const [, bytes] = file.load_contents(null);
    return new TextDecoder().decode(bytes);
}

function keep(props) {
    const out = {};
    for (const k of KEPT) {
        if (k in props)
            out[k] = props[k];
    }
    return out;
}

var SourcedClient = class SourcedClient {
    constructor() {
        this.sources = new Map(); // id -> kept properties
        this.paths = new Map(); // path -> id
        this.running = false;
        this.managerPausedAt = 0;
        this.loaded = false;
        this._generation = 0;
        this._cancellable = new Gio.Cancellable();
        this._bus = Gio.DBus.system;

        const ManagerProxy = Gio.DBusProxy.makeProxyWrapper(loadInterface(MANAGER_IFACE));
        // Never start sourced from the panel: a desktop that merely shows
        // the toggle must not activate a system service.
        this._manager = new ManagerProxy(this._bus, BUS_NAME, MANAGER_PATH, (proxy, error) => {
            if (error) {
                logError(error, 'sourced: cannot make the Manager proxy');
                return;
            }
            this._ownerChanged();
        }, this._cancellable, Gio.DBusProxyFlags.DO_NOT_AUTO_START);
        this._manager.connect('notify::g-name-owner', () => this._ownerChanged());
        this._manager.connect('g-properties-changed', () => {
            this.managerPausedAt = this._manager.PausedAt || 0;
            this.emit('changed');
        });

        // Source changes come as signals on every source object; one
        // subscription each for all of them (arg0: the Source interface).
        this._subscriptions = [
            this._bus.signal_subscribe(BUS_NAME, 'org.freedesktop.DBus.Properties', 'PropertiesChanged', null,
                SOURCE_IFACE, Gio.DBusSignalFlags.NONE,
                (c, sender, path, iface, signal, params) => this._propertiesChanged(path, params)),
            this._bus.signal_subscribe(BUS_NAME, 'org.freedesktop.DBus.ObjectManager', null, MANAGER_PATH, null,
                Gio.DBusSignalFlags.NONE,
                (c, sender, path, iface, signal, params) => this._objectManagerSignal(signal, params)),
        ];
    }

    destroy() {
        this._cancellable.cancel();
        for (const id of this._subscriptions)
            this._bus.signal_unsubscribe(id);
        this._subscriptions = [];
        this.disconnectAll();
    }

    _ownerChanged() {
        const owner = this._manager.g_name_owner;
        this._generation++;
        this.sources.clear();
        this.paths.clear();
        this.loaded = false;
        this.running = !!owner;
        this.managerPausedAt = owner ? this._manager.PausedAt || 0 : 0;
        this.emit('state', this.running);
        this.emit('changed');
        if (owner)
            this._load(this._generation, '');
    }

    // Reads one page, then the next, until the last: every source afresh
    // after each new owner, so nothing stale is shown.
    _load(generation, after) {
        this._bus.call(BUS_NAME, MANAGER_PATH, MANAGER_IFACE, 'GetSourcesPaged',
            new GLib.Variant('(su)', [after, PAGE]), new GLib.VariantType('(a(oa{sv})s)'),
            Gio.DBusCallFlags.NO_AUTO_START, -1, this._cancellable, (bus, res) => {
                let reply;
                try {
                    reply = bus.call_finish(res);
                } catch (e) {
                    if (!e.matches(Gio.IOErrorEnum, Gio.IOErrorEnum.CANCELLED))
                        log(`sourced: cannot read the sources: ${e.message}`);
                    return;
                }
                if (generation !== this._generation)
                    return;
                const [entries, next] = reply.recursiveUnpack();
                for (const [path, props] of entries)
                    this._add(path, keep(props));
                if (next) {
                    this._load(generation, next);
                } else {
                    this.loaded = true;
                    this.emit('changed');
                }
            });
    }

    _add(path, props) {
        props.path = path;
        this.sources.set(props.Id, props);
        this.paths.set(path, props.Id);
    }

    _propertiesChanged(path, params) {
        const id = this.paths.get(path);
        const props = id !== undefined ? this.sources.get(id) : null;
        if (!props)
            return;
        const [, changed] = params.recursiveUnpack();
        const old = { ...props };
        let any = false;
        for (const k of KEPT) {
            if (k in changed) {
                props[k] = changed[k];
                any = true;
            }
        }
        if (any) {
            this.emit('source-changed', id, old, props);
            this.emit('changed');
        }
    }

    _objectManagerSignal(signal, params) {
        if (signal === 'InterfacesAdded') {
            const [path, ifaces] = params.recursiveUnpack();
            if (ifaces[SOURCE_IFACE]) {
                this._add(path, keep(ifaces[SOURCE_IFACE]));
                this.emit('changed');
            }
        } else if (signal === 'InterfacesRemoved') {
            const [path, ifaces] = params.recursiveUnpack();
            const id = this.paths.get(path);
            if (id !== undefined && ifaces.includes(SOURCE_IFACE)) {
                this.paths.delete(path);
                this.sources.delete(id);
                this.emit('changed');
            }
        }
    }

    // Calls allow interactive authorization: polkit may ask the person at
    // the machine (the shipped rules let local administrators and group
    // sourced control sources without a password).
    _call(path, iface, method, callback) {
        this._bus.call(BUS_NAME, path, iface, method, null, null,
            Gio.DBusCallFlags.ALLOW_INTERACTIVE_AUTHORIZATION | Gio.DBusCallFlags.NO_AUTO_START, -1,
            this._cancellable, (bus, res) => {
                try {
                    bus.call_finish(res);
                    callback?.(null);
                } catch (e) {
                    if (!e.matches(Gio.IOErrorEnum, Gio.IOErrorEnum.CANCELLED))
                        callback?.(e);
                }
            });
    }

    setManagerPaused(paused, callback) {
        this._call(MANAGER_PATH, MANAGER_IFACE, paused ? 'Pause' : 'Unpause', callback);
    }

    setSourcePaused(id, paused, callback) {
        const props = this.sources.get(id);
        if (!props) {
            callback?.(new Error('Source not found'));
            return;
        }
        this._call(props.path, SOURCE_IFACE, paused ? 'Pause' : 'Unpause', callback);
    }
};
Signals.addSignalMethods(SourcedClient.prototype);
