#!/usr/bin/python3
"""The GNOME Shell extension in a real, headless GNOME Shell 43: an
unprivileged user with a fresh HOME and XDG_RUNTIME_DIR inside
dbus-run-session, a private dbus-daemon standing in for the system bus
with the real sourced on it, and `gnome-shell --headless --wayland
--unsafe-mode`, looked at through org.gnome.Shell.Eval and Screenshot.
Screenshots go to <build>/tests/artifacts/gnome-shell/.

Usage: test-gnome-shell.py BUILD_DIR (as root; meson test --suite desktop)."""

import ast
import json
import os
import pwd
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "browser"))
from bed import Bed, Tap, wait_for  # noqa: E402

UUID = "sourced@sourced.org"
USER = "nobody"  # any unprivileged account: the shell refuses nothing to it
GROUP = "nogroup"  # sourced --group: the rights polkit would give on a host
build_dir = os.path.abspath(sys.argv[1])
artifacts = os.path.join(build_dir, "tests", "artifacts", "gnome-shell")
tap = Tap()

CASES = ["the extension is ENABLED with no JS error",
         "the toggle shows the Manager's state",
         "activating the toggle pauses the Manager on the bus",
         "an Unpause made with gdbus flips the toggle back",
         "the menu lists the sources, problems first, and a switch pauses one",
         "more than 20 sources: the first 20, then 'and N more…'",
         "a failing source produces a notification with Unpause and Show",
         "a crash loop is listed first as restarting, with one notification, not one per retry",
         "'and N more…' and Show open the Cockpit page, or sourcectl status in a terminal without it",
         "a refusal from sourced is put in the extension's words (NotStoppable)",
         "sourced stopped: the toggle is insensitive; restarted: it follows again",
         "the shell's log has no JS error",
         "in German (LANG=de_DE.UTF-8): the toggle and its menu are translated"]

# The extension's objects, from the shell's side.
EXT = "Main.extensionManager.lookup('%s')" % UUID
IND = EXT + ".stateObj._indicator"
TOGGLE = IND + "._toggle"


class Shell:
    def __init__(self, bed):
        self.bed = bed
        try:
            pw = pwd.getpwnam(USER)
        except KeyError:
            raise AssertionError("there is no user '%s' to run gnome-shell as: add it (useradd --system %s)"
                                 % (USER, USER)) from None
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.home = os.path.join(bed.dir, "home")
        self.runtime = os.path.join(bed.dir, "runtime")
        for d in (self.home, self.runtime, artifacts):
            os.makedirs(d, exist_ok=True)
        os.chmod(self.runtime, 0o700)
        for d in (self.home, self.runtime):
            os.chown(d, self.uid, self.gid)
        os.chmod(bed.dir, 0o755)  # the bus socket, for the user
        # What meson installs is what is tested: the extension comes from
        # datadir/gnome-shell/extensions of a destdir install.
        destdir = os.path.join(bed.dir, "install")
        r = subprocess.run(["meson", "install", "-C", build_dir, "--no-rebuild", "--quiet", "--destdir", destdir],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError("meson install failed: " + r.stderr[-2000:])
        found = [dp for dp, dn, fn in os.walk(destdir) if dp.endswith("/gnome-shell/extensions/" + UUID)]
        if not found:
            raise AssertionError("meson installs no datadir/gnome-shell/extensions/" + UUID)
        self.datadir = os.path.dirname(os.path.dirname(os.path.dirname(found[0])))
        subprocess.run(["chmod", "-R", "a+rX", destdir], check=True)
        for tool in ("gnome-shell", "dbus-run-session", "gdbus", "gsettings"):
            if not shutil.which(tool):
                raise AssertionError("%s is not installed (Debian packages gnome-shell, dbus-x11)" % tool)
        self.install_recorders()
        self.start()

    def start(self, lang="C.UTF-8"):
        """Starts gnome-shell headless in a session of its own, in @lang."""
        self.env = {
            "PATH": self.fakebin + ":" + os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.home, "USER": USER,
            "XDG_RUNTIME_DIR": self.runtime, "XDG_DATA_DIRS": self.datadir + ":/usr/local/share:/usr/share",
            "XDG_CONFIG_HOME": os.path.join(self.home, ".config"), "LANG": lang,
            "DBUS_SYSTEM_BUS_ADDRESS": self.bed.address, "XDG_SESSION_TYPE": "wayland", "NO_AT_BRIDGE": "1",
            "GSETTINGS_BACKEND": "keyfile",
        }
        self.addr_file = os.path.join(self.runtime, "session-bus")
        if os.path.exists(self.addr_file):
            os.unlink(self.addr_file)
        self.log_path = os.path.join(self.bed.dir, "gnome-shell.log")
        script = ("echo \"$DBUS_SESSION_BUS_ADDRESS\" > %s.tmp && mv %s.tmp %s && "
                  "gsettings set org.gnome.shell enabled-extensions \"['%s']\" && "
                  "gsettings set org.gnome.shell disable-user-extensions false && "
                  "exec gnome-shell --headless --virtual-monitor 1280x800 --wayland --no-x11 --unsafe-mode"
                  % (self.addr_file, self.addr_file, self.addr_file, UUID))
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.as_user(["dbus-run-session", "--", "sh", "-c", script]), env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for("the session bus", lambda: os.path.exists(self.addr_file) or self.proc.poll() is not None)
        with open(self.addr_file) as f:
            self.env["DBUS_SESSION_BUS_ADDRESS"] = f.read().strip()
        wait_for("gnome-shell to answer Eval", lambda: self.proc.poll() is not None or self._answers(), timeout=60)
        if self.proc.poll() is not None:
            raise AssertionError("gnome-shell exited with %d: %s" % (self.proc.returncode, self.log_tail()))

    def install_recorders(self):
        """What the extension launches is written down instead of run: the
        user's default https handler (a desktop file and mimeapps.list in
        the fresh HOME) and a terminal (gnome-terminal, the first GLib
        looks for) each append their command line to self.launched."""
        self.launched = os.path.join(self.bed.dir, "launched")
        self.fakebin = os.path.join(self.bed.dir, "fakebin")
        os.makedirs(self.fakebin, exist_ok=True)
        recorder = os.path.join(self.fakebin, "record-launch")
        with open(recorder, "w") as f:
            f.write("#!/bin/sh\nprintf '%%s\\n' \"$*\" >> %s\n" % self.launched)
        os.chmod(recorder, 0o755)
        os.symlink(recorder, os.path.join(self.fakebin, "gnome-terminal"))
        open(self.launched, "w").close()
        os.chmod(self.launched, 0o666)
        apps = os.path.join(self.home, ".local", "share", "applications")
        config = os.path.join(self.home, ".config")
        os.makedirs(apps, exist_ok=True)
        os.makedirs(config, exist_ok=True)
        with open(os.path.join(apps, "sourced-test-browser.desktop"), "w") as f:
            f.write("[Desktop Entry]\nType=Application\nName=Test browser\nExec=%s browser %%u\n"
                    "MimeType=x-scheme-handler/https;\n" % recorder)
        with open(os.path.join(config, "mimeapps.list"), "w") as f:
            f.write("[Default Applications]\nx-scheme-handler/https=sourced-test-browser.desktop\n")
        subprocess.run(["chown", "-R", "%d:%d" % (self.uid, self.gid), self.home], check=True)

    def launches(self):
        with open(self.launched) as f:
            return f.read().splitlines()

    def as_user(self, argv):
        return ["setpriv", "--reuid", str(self.uid), "--regid", str(self.gid), "--clear-groups", "--"] + argv

    def _answers(self):
        try:
            return self.eval("1") == 1
        except AssertionError:
            return False

    def eval(self, js):
        """Evaluates @js in the shell; returns its value (as JSON)."""
        r = subprocess.run(self.as_user(["gdbus", "call", "--session", "--dest", "org.gnome.Shell",
                                         "--object-path", "/org/gnome/Shell", "--method", "org.gnome.Shell.Eval",
                                         "(() => { %s })()" % (js if "return" in js else "return " + js)]),
                           env=self.env, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise AssertionError("Eval failed: " + r.stderr.strip())
        out = r.stdout.strip()
        ok = out.startswith("(true,")
        text = out[out.index(",") + 1:].strip().rstrip(")").strip()
        # gdbus prints a GVariant string ('…', with escapes) holding the
        # result as JSON (the shell stringifies it).
        value = ast.literal_eval(text)  # a Python string literal of the same form
        if not ok:
            raise AssertionError("Eval threw: " + value)
        return json.loads(value) if value not in ("", "undefined") else None

    def wait(self, js, what, timeout=20):
        return wait_for(what, lambda: self.eval(js), timeout=timeout, interval=0.1)

    def screenshot(self, name):
        # The shell runs as the test user, who may not reach the build tree
        # (a checkout in a private folder): it writes into its own HOME,
        # and root moves the picture to the artifacts.
        shot = os.path.join(self.home, name + ".png")
        path = os.path.join(artifacts, name + ".png")
        subprocess.run(self.as_user(["gdbus", "call", "--session", "--dest", "org.gnome.Shell.Screenshot",
                                     "--object-path", "/org/gnome/Shell/Screenshot", "--method",
                                     "org.gnome.Shell.Screenshot.Screenshot", "false", "false", shot]),
                       env=self.env, capture_output=True, text=True, timeout=30, check=True)
        shutil.move(shot, path)
        return path

    def log_tail(self, n=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def js_errors(self):
        with open(self.log_path, errors="replace") as f:
            return [line for line in f if "JS ERROR" in line or ("sourced@sourced.org" in line and "rror" in line)]

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()


# ---- The cases ----------------------------------------------------------------


def t_enabled(shell):
    state = shell.wait(EXT + "?.state", "the extension to be known")
    err = shell.eval(EXT + ".error || ''")
    assert state == 1 and not err, "state %s (1 is ENABLED), error %r" % (state, err)
    assert not shell.js_errors(), shell.js_errors()


def t_toggle_state(shell):
    shell.wait(TOGGLE + "._client.loaded", "the extension to read the sources")
    t = shell.eval("const t = %s; return {label: t.label, checked: t.checked, reactive: t.reactive}" % TOGGLE)
    assert t == {"label": "Data sources", "checked": True, "reactive": True}, t
    assert shell.eval(IND + "._icon.visible") is False
    shell.eval("Main.panel.statusArea.quickSettings.menu.open(); return true")
    time.sleep(0.5)  # the menu's opening animation, for the picture only
    shell.screenshot("quick-settings")
    shell.eval("Main.panel.statusArea.quickSettings.menu.close(); return true")


def t_toggle_pauses(shell):
    shell.eval("%s.emit('clicked', 1); return true" % TOGGLE)
    wait_for("the Manager paused", lambda: shell.bed.manager_prop("PausedAt") != "0")
    shell.wait("!%s.checked" % TOGGLE, "the toggle to go off")
    shell.wait(IND + "._icon.visible", "the panel icon while paused")


def t_gdbus_unpause(shell):
    shell.bed.busctl("call", "org.sourced.Sourced1", "/org/sourced/Sourced1", "org.sourced.Sourced1.Manager", "Pause")
    shell.wait("!%s.checked" % TOGGLE, "the toggle to go off")
    subprocess.run(["gdbus", "call", "--address", shell.bed.address, "--dest", "org.sourced.Sourced1",
                    "--object-path", "/org/sourced/Sourced1", "--method", "org.sourced.Sourced1.Manager.Unpause"],
                   check=True, capture_output=True)
    shell.wait(TOGGLE + ".checked", "the toggle to flip back on")
    assert shell.eval(IND + "._icon.visible") is False


def menu_items(shell):
    return shell.eval("const t = %s; t.menu.open(); t._rebuild(); return t._section._getMenuItems()"
                      ".map(i => [i.sourceId || null, i.label.text, i._switch ? i._switch.state : null])" % TOGGLE)


def t_menu(shell):
    shell.bed.call("beta", "Pause")
    shell.wait("%s._client.sources.get('beta').PausedAt > 0" % TOGGLE, "beta paused in the extension")
    items = menu_items(shell)
    ids = [i[0] for i in items]
    # Paused first, then by id.
    assert ids[:3] == ["beta", "alpha", "gamma"], items
    assert items[0][2] is False and items[1][2] is True, items
    assert items[0][1] == "Beta — paused", items
    # The picture: Quick Settings open, the toggle's menu open inside it.
    shell.eval("Main.overview.hide(); Main.panel.statusArea.quickSettings.menu.open(); %s.menu.open(); return true"
               % TOGGLE)
    time.sleep(1)  # the opening animations, for the picture only
    shell.screenshot("menu")
    # The switch of alpha pauses alpha.
    shell.eval("const t = %s; t._section._getMenuItems().find(i => i.sourceId === 'alpha').toggle(); return true"
               % TOGGLE)
    wait_for("alpha paused on the bus", lambda: shell.bed.prop("alpha", "PausedAt") > 0)
    assert shell.bed.prop("gamma", "PausedAt") == 0
    shell.eval("const t = %s; t._section._getMenuItems().find(i => i.sourceId === 'alpha').toggle(); return true"
               % TOGGLE)
    wait_for("alpha unpaused on the bus", lambda: shell.bed.prop("alpha", "PausedAt") == 0)
    shell.bed.call("beta", "Unpause")
    shell.eval("%s.menu.close(); Main.panel.statusArea.quickSettings.menu.close(); return true" % TOGGLE)


def t_many(shell):
    for i in range(25):
        shell.bed.busctl("call", "org.sourced.Sourced1", "/org/sourced/Sourced1", "org.sourced.Sourced1.Manager",
                         "CreateSource", "sa{sv}", "many%02d" % i, "2", "Exec", "s", "/bin/true",
                         "InitialState", "s", "stopped")
    shell.wait("%s._client.sources.size === 28" % TOGGLE, "28 sources in the extension")
    items = menu_items(shell)
    assert len(items) == 21 and items[-1][1] == "and 8 more…", [i[1] for i in items]
    shell.eval("%s.menu.close(); return true" % TOGGLE)


def t_notification(shell):
    # Fails on its first run only, so that Unpause brings it back for good.
    mark = os.path.join(shell.bed.dir, "broken-ran")
    shell.bed.busctl("call", "org.sourced.Sourced1", "/org/sourced/Sourced1", "org.sourced.Sourced1.Manager",
                     "CreateSource", "sa{sv}", "broken", "3", "DisplayName", "s", "Broken tap", "Exec", "s",
                     "/bin/sh -c 'test -e %s && exec sleep 100000; touch %s; echo oops >&2; exit 3'" % (mark, mark),
                     "MaxFailures", "u", "1")
    found = shell.wait("""const s = Main.messageTray.getSources().find(s => s.title === 'Data sources');
        const n = s && s.notifications.find(n => n.sourceId === 'broken');
        return n ? {title: n.title, body: n.bannerBodyText, actions: n.actions.map(a => a.label)} : null""",
                       "a notification for broken", timeout=30)
    assert found["title"] in ("Broken tap failed", "Broken tap was paused by sourced"), found
    assert found["body"], found
    assert found["actions"] == ["Unpause", "Show"], found
    shell.screenshot("notification")
    # Its Unpause action unpauses the source (sourced paused it itself).
    wait_for("broken paused by sourced", lambda: shell.bed.prop("broken", "SystemPausedAt") > 0, timeout=30)
    shell.eval("""const s = Main.messageTray.getSources().find(s => s.title === 'Data sources');
        const n = s.notifications.find(n => n.sourceId === 'broken' && n.title.endsWith('paused by sourced'))
            || s.notifications.find(n => n.sourceId === 'broken');
        n.actions.find(a => a.label === 'Unpause').callback(); return true""")
    wait_for("broken unpaused and running", lambda: shell.bed.prop("broken", "SystemPausedAt") == 0
             and shell.bed.prop("broken", "Status") == "active", timeout=10)


def t_crash_loop(shell):
    shell.bed.busctl("call", "org.sourced.Sourced1", "/org/sourced/Sourced1", "org.sourced.Sourced1.Manager",
                     "CreateSource", "sa{sv}", "aaloop", "4", "DisplayName", "s", "Loop tap",
                     "Exec", "s", "/bin/sh -c 'echo oops >&2; exit 1'", "RestartSec", "u", "1", "MaxFailures", "u", "0")
    try:
        shell.wait("%s._client.sources.get('aaloop')?.Status === 'restarting'" % TOGGLE, "aaloop restarting")
        items = menu_items(shell)
        assert items[0][0] == "aaloop" and items[0][1].startswith("Loop tap — restarting (attempt "), items[:3]
        # Retries go on (1 s, 2 s…); the notification came once.
        wait_for("two restarts", lambda: shell.bed.prop("aaloop", "NRestarts") >= 2, timeout=10)
        shell.wait("%s._client.sources.get('aaloop').NRestarts >= 2" % TOGGLE, "the restarts in the extension")
        found = shell.eval("""const s = Main.messageTray.getSources().find(s => s.title === 'Data sources');
            return s ? s.notifications.filter(n => n.sourceId === 'aaloop').map(n => [n.title, n.bannerBodyText,
                n.actions.map(a => a.label)]) : []""")
        assert len(found) == 1, found
        assert found[0][0] == "Loop tap keeps failing" and found[0][2] == ["Show"], found
        assert found[0][1] == "sourced retries it after: exited with status 1: oops", found
    finally:
        shell.eval("%s.menu.close(); return true" % TOGGLE)
        shell.bed.call("/org/sourced/Sourced1", "RemoveSource", "s", "aaloop", iface="org.sourced.Sourced1.Manager")


def t_show(shell):
    more = ("%s._section._getMenuItems().find(i => !i.sourceId && i.label.text.startsWith('and '))" % TOGGLE)
    show = """const s = Main.messageTray.getSources().find(s => s.title === 'Data sources');
        s.notifications.find(n => n.sourceId === 'broken').actions.find(a => a.label === 'Show').callback();
        return true"""
    shell.eval("%s.menu.open(); %s._rebuild(); %s.activate(null); return true" % (TOGGLE, TOGGLE, more))
    wait_for("'and N more…' to open the page", lambda: "browser https://localhost:9090/sourced" in shell.launches())
    shell.eval(show)
    wait_for("Show to open broken's page",
             lambda: "browser https://localhost:9090/sourced#/source/broken" in shell.launches())
    # Without the Cockpit page, sourcectl status in a terminal.
    page = os.path.join(shell.datadir, "cockpit", "sourced")
    os.rename(page, page + ".away")
    try:
        shell.eval("%s.menu.open(); %s._rebuild(); %s.activate(null); return true" % (TOGGLE, TOGGLE, more))
        # gnome-terminal -- sh -c '…': the recorder joins its arguments.
        wait_for("a terminal with sourcectl status (launched: %s)" % shell.launches(),
                 lambda: "-- sh -c sourcectl status; read -r _" in shell.launches())
        shell.eval(show)
        wait_for("a terminal with sourcectl status broken",
                 lambda: "-- sh -c sourcectl status 'broken'; read -r _" in shell.launches())
    finally:
        os.rename(page + ".away", page)
        shell.eval("%s.menu.close(); return true" % TOGGLE)
    assert len(shell.launches()) == 4, shell.launches()


def t_restart(shell):
    shell.bed.stop_sourced()
    shell.wait("!%s.reactive" % TOGGLE, "the toggle to go insensitive")
    assert shell.eval(TOGGLE + ".label") == "Data sources: not running"
    assert shell.eval(TOGGLE + ".checked") is False
    shell.screenshot("not-running")
    shell.bed.start_sourced("--group=" + GROUP)  # as the bed started it
    shell.wait("%s.reactive && %s._client.loaded" % (TOGGLE, TOGGLE), "the toggle to follow sourced back")
    assert shell.eval(TOGGLE + ".label") == "Data sources"
    # The state is read afresh: a pause made while it was gone shows.
    shell.bed.busctl("call", "org.sourced.Sourced1", "/org/sourced/Sourced1", "org.sourced.Sourced1.Manager",
                     "Pause")
    shell.wait("!%s.checked" % TOGGLE, "the toggle to follow the new sourced's gate")
    shell.bed.busctl("call", "org.sourced.Sourced1", "/org/sourced/Sourced1", "org.sourced.Sourced1.Manager",
                     "Unpause")


def t_error_words(shell):
    # A real refusal over the extension's own connection: Stop on a stopped
    # source is NotStoppable, and errors.js puts it in words without
    # GDBus's "GDBus.Error:org.sourced…" prefix.
    shell.bed.call("alpha", "Stop")
    wait_for("alpha stopped", lambda: shell.bed.prop("alpha", "Status") == "stopped")
    text = shell.eval(
        "const { Gio } = imports.gi; const c = %s._client; "
        "try { c._bus.call_sync('org.sourced.Sourced1', '/org/sourced/Sourced1/source/alpha', "
        "'org.sourced.Sourced1.Source', 'Stop', null, null, Gio.DBusCallFlags.NONE, -1, null); return 'no error'; } "
        "catch (e) { return %s.imports.errors.describeError(e); }" % (TOGGLE, EXT))
    assert text == "Not stoppable: Unable to stop source 'alpha': not in a stoppable state", text


def t_german(shell):
    # The last case: the shell is started again in German (the locale must
    # exist: tools/install-deps.sh --test makes de_DE.UTF-8).
    shell.close()
    shell.start(lang="de_DE.UTF-8")
    shell.wait(EXT + "?.state === 1", "the extension to be enabled again")
    shell.wait(TOGGLE + "._client.loaded", "the extension to read the sources")
    assert shell.eval(TOGGLE + ".label") == "Datenquellen", shell.eval(TOGGLE + ".label")
    header = shell.eval(TOGGLE + ".menu._headerTitle.text")
    assert header == "Datenquellen", header
    shell.bed.stop_sourced()
    shell.wait("%s.label === 'Datenquellen: läuft nicht'" % TOGGLE, "the not-running label in German")
    shell.bed.start_sourced("--group=" + GROUP)
    shell.eval("Main.panel.statusArea.quickSettings.menu.open(); return true")
    time.sleep(0.5)  # the menu's opening animation, for the picture only
    shell.screenshot("quick-settings-de")
    assert not shell.js_errors(), shell.js_errors()


def t_log(shell):
    errors = shell.js_errors()
    assert not errors, "".join(errors[:10])


def main():
    bed = Bed(prefix="sourced-shell-")
    shell = None
    try:
        bed.start_bus()
        bed.define("alpha", "DisplayName=Alpha\nExec=/bin/sleep 100000\n")
        bed.define("beta", "DisplayName=Beta\nExec=/bin/sleep 100000\n")
        bed.define("gamma", "DisplayName=Gamma\nExec=/bin/sleep 100000\n")
        bed.start_sourced("--group=" + GROUP)
        shell = Shell(bed)
    except Exception as e:
        tap.skip_rest(CASES, "the test bed could not start: %s" % str(e)[-1500:])
        if shell:
            shell.close()
        bed.close()
        tap.done()
    fns = [t_enabled, t_toggle_state, t_toggle_pauses, t_gdbus_unpause, t_menu, t_many, t_notification, t_crash_loop,
           t_show,
           t_error_words, t_restart, t_log, t_german]
    def known_state(shell):
        bed.reset({"alpha": True, "beta": True, "gamma": True}, "--group=" + GROUP)
        shell.eval("%s?.stateObj?._indicator?._toggle?.menu.close(); Main.panel.statusArea.quickSettings.menu.close(); "
                   "return true" % EXT)

    try:
        tap.run(CASES, fns, shell, before=known_state)
    finally:
        shell.close()
        bed.close()
        if tap.failed:
            print("# gnome-shell's log:\n# " + shell.log_tail(40).replace("\n", "\n# "), flush=True)
            print("# sourced's log:\n# " + bed.log_tail(20).replace("\n", "\n# "), flush=True)
        else:
            shutil.rmtree(bed.dir, ignore_errors=True)
    tap.done()


if __name__ == "__main__":
    main()
