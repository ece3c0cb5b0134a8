/* exported init */
// "Data sources" in GNOME Shell 43's Quick Settings: a QuickMenuToggle that
// is on while sources flow (the Manager is not paused), a menu of sources
// (problems first) with a switch each, a panel icon while everything is
// paused, and a notification when a source fails or is paused by sourced.

const { Gio, GLib, GObject, St } = imports.gi;
const Main = imports.ui.main;
const MessageTray = imports.ui.messageTray;
const PopupMenu = imports.ui.popupMenu;
const { QuickMenuToggle, SystemIndicator } = imports.ui.quickSettings;
const ExtensionUtils = imports.misc.extensionUtils;
const Me = ExtensionUtils.getCurrentExtension();
const { SourcedClient } = Me.imports.client;
const { describeError } = Me.imports.errors;
const _ = ExtensionUtils.gettext;

const MENU_LIMIT = 20;
const ICON_FLOWING = 'network-transmit-receive-symbolic';
const ICON_PAUSED = 'media-playback-pause-symbolic';
const ICON_DOWN = 'action-unavailable-symbolic';

// Problems first: failed or restarting (a crash loop), paused by sourced,
// paused; then by id.
function rank(p) {
    if (p.Status === 'failed' || p.Status === 'restarting')
        return 0;
    if (p.SystemPausedAt)
        return 1;
    if (p.PausedAt || p.Status === 'paused')
        return 2;
    return 3;
}

function byProblems(a, b) {
    return rank(a) - rank(b) || (a.Id < b.Id ? -1 : a.Id > b.Id ? 1 : 0);
}

function describe(p) {
    if (p.Status === 'restarting')
        return `restarting (attempt ${(p.NRestarts || 0) + (p.NextRetryAt ? 1 : 0)})`;
    if (p.SystemPausedAt)
        return `${p.Status}, paused by sourced`;
    return p.Status;
}

// Whether the Cockpit page is installed: Cockpit finds packages in the
// system data directories (XDG_DATA_DIRS), and so does this.
function cockpitPageInstalled() {
    return GLib.get_system_data_dirs().some(dir => GLib.file_test(
        GLib.build_filenamev([dir, 'cockpit', 'sourced', 'manifest.json']), GLib.FileTest.EXISTS));
}

// Opens the Cockpit page (when installed) at @hash, or runs `sourcectl
// status` in a terminal.
function showSources(id) {
    try {
        if (cockpitPageInstalled()) {
            const hash = id ? `#/source/${encodeURIComponent(id)}` : '';
            Gio.AppInfo.launch_default_for_uri(`https://localhost:9090/sourced${hash}`, null);
        } else {
            const argv = id ? `sourcectl status ${GLib.shell_quote(id)}` : 'sourcectl status';
            Gio.AppInfo.create_from_commandline(`sh -c "${argv}; read -r _"`, 'sourcectl',
                Gio.AppInfoCreateFlags.NEEDS_TERMINAL).launch([], null);
        }
    } catch (e) {
        Main.notifyError('Data sources', `Cannot show the sources: ${describeError(e)}`);
    }
}

const SourcesToggle = GObject.registerClass(
class SourcesToggle extends QuickMenuToggle {
    _init(client) {
        // 43 calls it `label` (44 renames it `title`).
        super._init({ label: _('Data sources'), iconName: ICON_FLOWING, toggleMode: false });
        this._client = client;
        this._busy = false;
        this.menu.setHeader(ICON_FLOWING, _('Data sources'), '');
        this._section = new PopupMenu.PopupMenuSection();
        this.menu.addMenuItem(this._section);
        this._items = new Map(); // id -> PopupSwitchMenuItem
        this._rebuildId = 0;

        this.connect('clicked', () => this._toggleManager());
        this.menu.connect('open-state-changed', (m, open) => {
            if (open)
                this._rebuild();
        });
        this._sync();
    }

    _toggleManager() {
        if (!this._client.running || this._busy)
            return;
        // On means flowing: switching it off pauses the Manager.
        const pause = this.checked;
        this._busy = true;
        this._client.setManagerPaused(pause, error => {
            this._busy = false;
            if (error)
                Main.notifyError('Data sources', `Could not ${pause ? 'pause' : 'unpause'} all sources: ${describeError(error)}`);
            this._sync();
        });
    }

    // Coalesces bursts of signals into one rebuild of the menu.
    queueSync() {
        this._sync();
        if (this.menu.isOpen && !this._rebuildId) {
            this._rebuildId = GLib.timeout_add(GLib.PRIORITY_DEFAULT, 200, () => {
                this._rebuildId = 0;
                this._rebuild();
                return GLib.SOURCE_REMOVE;
            });
        }
    }

    _sync() {
        const c = this._client;
        this.reactive = c.running;
        if (c.running)
            this.remove_style_pseudo_class('insensitive');
        else
            this.add_style_pseudo_class('insensitive');
        this.checked = c.running && !c.managerPausedAt;
        this.label = c.running ? _('Data sources') : _('Data sources: not running');
        this.iconName = !c.running ? ICON_DOWN : c.managerPausedAt ? ICON_PAUSED : ICON_FLOWING;
        this.accessible_name = this.label;
        this.menu.setHeader(this.iconName, _('Data sources'), this._summary());
    }

    _summary() {
        const c = this._client;
        if (!c.running)
            return _('sourced is not running');
        const all = [...c.sources.values()];
        const paused = all.filter(p => p.PausedAt || p.SystemPausedAt).length;
        const failed = all.filter(p => p.Status === 'failed' || p.Status === 'restarting').length;
        let text = `${all.length} sources`;
        if (c.managerPausedAt)
            text += ', all paused';
        else if (paused)
            text += `, ${paused} paused`;
        if (failed)
            text += `, ${failed} failed`;
        return text;
    }

    _rebuild() {
        this._section.removeAll();
        this._items.clear();
        const c = this._client;
        if (!c.running)
            return;
        const all = [...c.sources.values()].sort(byProblems);
        for (const p of all.slice(0, MENU_LIMIT)) {
            const item = new PopupMenu.PopupSwitchMenuItem(`${p.DisplayName || p.Id} — ${describe(p)}`,
                !(p.PausedAt || p.SystemPausedAt));
            item.sourceId = p.Id;
            item.connect('toggled', (it, state) => {
                it.setSensitive(false);
                c.setSourcePaused(p.Id, !state, error => {
                    it.setSensitive(true);
                    if (error) {
                        Main.notifyError('Data sources', `Could not ${state ? 'unpause' : 'pause'} ${p.Id}: ${describeError(error)}`);
                        this._rebuild();
                    }
                });
            });
            this._items.set(p.Id, item);
            this._section.addMenuItem(item);
        }
        if (all.length > MENU_LIMIT) {
            const more = new PopupMenu.PopupMenuItem(`and ${all.length - MENU_LIMIT} more…`);
            more.connect('activate', () => showSources(null));
            this._section.addMenuItem(more);
        }
        if (!all.length && c.loaded)
            this._section.addMenuItem(new PopupMenu.PopupMenuItem('No sources', { reactive: false }));
    }

    destroy() {
        if (this._rebuildId)
            GLib.source_remove(this._rebuildId);
        this._rebuildId = 0;
        super.destroy();
    }
});

const SourcesIndicator = GObject.registerClass(
class SourcesIndicator extends SystemIndicator {
    _init() {
        super._init();
        this._client = new SourcedClient();
        // The panel icon: shown while every source is held by the Manager.
        this._icon = this._addIndicator();
        this._icon.icon_name = ICON_PAUSED;
        this._toggle = new SourcesToggle(this._client);
        this.quickSettingsItems.push(this._toggle);
        this._notifySource = null;

        this._client.connect('changed', () => this._sync());
        this._client.connect('state', () => this._sync());
        this._client.connect('source-changed', (c, id, old, now) => this._maybeNotify(id, old, now));
        this._sync();
    }

    _sync() {
        this._icon.visible = this._client.running && !!this._client.managerPausedAt;
        this._toggle.queueSync();
    }

    // A notification when a source's LastError becomes non-empty, it starts
    // restarting, or sourced pauses it itself; its actions unpause it or
    // show it. A crash loop notifies once, when it begins: the retries
    // that follow (each with its own LastError) say nothing new.
    _maybeNotify(id, old, now) {
        const restarting = now.Status === 'restarting' && old.Status !== 'restarting';
        const newError = now.LastError && now.LastError !== old.LastError && now.Status !== 'restarting';
        const selfPaused = now.SystemPausedAt && !old.SystemPausedAt;
        if (!newError && !selfPaused && !restarting)
            return;
        if (!this._notifySource) {
            this._notifySource = new MessageTray.Source('Data sources', 'dialog-warning-symbolic');
            this._notifySource.connect('destroy', () => (this._notifySource = null));
            Main.messageTray.add(this._notifySource);
        }
        const name = now.DisplayName || id;
        const title = selfPaused ? `${name} was paused by sourced`
            : restarting ? `${name} keeps failing` : `${name} failed`;
        const body = restarting ? `sourced retries it after: ${now.LastError || 'its worker failed'}`
            : now.LastError || 'It failed too often in a row.';
        const n = new MessageTray.Notification(this._notifySource, title, body);
        n.sourceId = id;
        n.setUrgency(MessageTray.Urgency.HIGH);
        if (!restarting || now.PausedAt || now.SystemPausedAt) {
            n.addAction('Unpause', () => this._client.setSourcePaused(id, false, error => {
                if (error)
                    Main.notifyError('Data sources', `Could not unpause ${id}: ${describeError(error)}`);
            }));
        }
        n.addAction('Show', () => showSources(id));
        this._notifySource.showNotification(n);
    }

    destroy() {
        this._client.destroy();
        this._notifySource?.destroy();
        this.quickSettingsItems.forEach(item => item.destroy());
        super.destroy();
    }
});

class Extension {
    enable() {
        this._indicator = new SourcesIndicator();
        const qs = Main.panel.statusArea.quickSettings;
        // 43 has no addExternalIndicator: put the icon before the system
        // indicators and the toggle into the grid, as 43's own items are.
        qs._indicators.insert_child_at_index(this._indicator, 0);
        qs._addItems(this._indicator.quickSettingsItems);
    }

    disable() {
        this._indicator.destroy();
        this._indicator = null;
    }
}

function init() {
    // The extension's own catalogue (locale/ beside this file), under the
    // gettext-domain of metadata.json.
    ExtensionUtils.initTranslations();
    return new Extension();
}
