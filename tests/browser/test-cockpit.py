#!/usr/bin/python3
"""The Cockpit page in a real browser: a private bus standing in for the
system bus, the real sourced on it, a fresh cockpit-ws with the installed
package, and headless Chromium driven over the DevTools protocol. Every
case checks the page and the bus. Screenshots go to
<build>/tests/artifacts/cockpit/.

Usage: test-cockpit.py BUILD_DIR (as root; meson test --suite browser)."""

import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bed import Bed, Tap, free_port, wait_for  # noqa: E402

build_dir = os.path.abspath(sys.argv[1])
artifacts = os.path.join(build_dir, "tests", "artifacts", "cockpit")
tap = Tap()
COCKPIT_WS = "/usr/lib/cockpit/cockpit-ws"
TAPS = os.environ.get("SOURCED_TEST_TAPS", os.path.join(os.path.dirname(__file__), "..", "taps"))

CASES = ["the menu has Data sources", "the list shows every source in id order",
         "Pause on a row pauses the source on the bus and on the page",
         "a Pause made with busctl appears without a reload",
         "the records column follows the counters of the rows in view",
         "a button is busy while its call is in flight, and keeps the focus",
         "Stop on a stopped source shows the NotStoppable message next to it",
         "Create source: a bad value names the key, a good one appears",
         "values are text, never HTML",
         "the detail view: properties, bookmark, chart, journal link",
         "Pause at 2019-06-01T00:00:00Z writes PausedAt; a bad date changes nothing",
         "keyboard only: Tab reaches a row's Pause, Enter pauses, the focus stays on the row's Unpause",
         "keyboard: Unpause pressed the moment it has the focus, the Pause call still in flight, acts",
         "Remove: a created source goes, a file-defined one says why not",
         "Pause all / Unpause all: the Manager's gate and its banner",
         "Pause all shown acts on the filtered set only",
         "the dark theme",
         "sourced stopped: the page says so; restarted: the page follows it",
         "a crash loop: 'restarting' with its attempt and retry time, in the problems filter and the detail view",
         "a PostgreSQL sink in the detail view: the URI and the time of the last commit",
         "in German (Cockpit's language cookie): the labels and the row actions are translated",
         "10,000 sources: first paint, scrolling and filtering"]


# The sources every case starts from (started or not), as main() defines
# them; cases that make more remove them or leave them harmlessly.
BASE = {"clock": True, "counter": True, "hourly": True, "idle": False}


def row(sid):
    return '.rows .row[data-id="%s"]' % sid


def row_field(sid, cls):
    return "(e => e ? e.textContent : null)(document.querySelector('%s .%s'))" % (row(sid), cls)


class Page:
    def __init__(self, bed):
        self.bed = bed
        data = os.path.join(bed.dir, "data")
        self.destdir = os.path.join(bed.dir, "install")
        # What meson installs is what is tested.
        r = subprocess.run(["meson", "install", "-C", build_dir, "--no-rebuild", "--quiet", "--destdir",
                            self.destdir], capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError("meson install failed: " + r.stderr[-2000:])
        pkg = [os.path.join(dp) for dp, dn, fn in os.walk(self.destdir) if dp.endswith("/cockpit/sourced")]
        if not pkg:
            raise AssertionError("meson installs no datadir/cockpit/sourced")
        os.makedirs(os.path.join(data, "cockpit"))
        os.symlink(pkg[0], os.path.join(data, "cockpit", "sourced"))
        if not os.access(COCKPIT_WS, os.X_OK):
            raise AssertionError("cockpit-ws is not installed (Debian package cockpit-ws)")
        if not shutil.which("cockpit-bridge"):
            raise AssertionError("cockpit-bridge is not installed (Debian package cockpit-bridge)")
        self.port = free_port()
        # cockpit-bridge starts a session bus of its own when it finds none,
        # and that one outlives the test: give it the test's.
        self.session_bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                                            stdout=subprocess.PIPE, text=True)
        session_address = self.session_bus.stdout.readline().strip()
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=bed.address, DBUS_SESSION_BUS_ADDRESS=session_address,
                   XDG_DATA_HOME=data)
        self.ws_log = open(os.path.join(bed.dir, "cockpit-ws.log"), "w")
        # A fresh cockpit-ws per run: its one local session ends 15 s
        # after the last page closes.
        self.ws = subprocess.Popen([COCKPIT_WS, "--no-tls", "--local-session=cockpit-bridge", "--address",
                                    "127.0.0.1", "--port", str(self.port)], env=env,
                                   stdout=self.ws_log, stderr=subprocess.STDOUT)
        import urllib.request
        wait_for("cockpit-ws to listen", lambda: self._up(urllib.request), timeout=20)
        from cdp import Browser
        self.b = Browser()
        self.url = "http://127.0.0.1:%d/cockpit/@localhost/sourced/index.html" % self.port

    def _up(self, urllib_request):
        try:
            urllib_request.urlopen("http://127.0.0.1:%d/cockpit/login" % self.port, timeout=2)
        except Exception as e:
            return "HTTP Error" in str(e)  # answers (401 without credentials)
        return True

    def open(self, hash_=""):
        self.b.goto(self.url + hash_)
        self.b.wait("document.body.dataset.state === 'ready'", timeout=30, what="the page to read sourced")

    def shot(self, name):
        return self.b.screenshot(os.path.join(artifacts, name + ".png"))

    def close(self):
        self.b.close()
        self.ws.terminate()
        self.ws.wait(timeout=10)
        self.session_bus.terminate()
        self.session_bus.wait(timeout=10)


def no_js_errors(page):
    page.b.pump()
    errors = [e for e in page.b.exceptions] + [t for k, t in page.b.console if k == "error"]
    assert not errors, "JavaScript errors on the page: %s" % errors


# ---- The cases ----------------------------------------------------------------


def t_menu(page):
    b = page.b
    b.goto("http://127.0.0.1:%d/" % page.port, lands_on="http://127.0.0.1:%d/system" % page.port)
    b.wait("[...document.querySelectorAll('nav a')].some(a => a.textContent.trim() === 'Data sources')",
           timeout=30, what="'Data sources' in the navigation")
    b.js("[...document.querySelectorAll('nav a')].find(a => a.textContent.trim() === 'Data sources').click()")
    b.wait("[...document.querySelectorAll('iframe')].some(f => f.src.includes('/sourced/') && f.offsetParent)",
           timeout=20, what="the page's frame in the shell")
    page.shot("shell-menu")


def t_list(page):
    page.open()
    b = page.b
    ids = b.wait("(r => r.length === 4 ? r : null)([...document.querySelectorAll('.rows .row')]"
                 ".sort((a, c) => a.getBoundingClientRect().top - c.getBoundingClientRect().top)"
                 ".map(r => r.dataset.id))", what="four rows")
    assert ids == ["clock", "counter", "hourly", "idle"], ids
    assert b.js(row_field("clock", "status-text")) == "active"
    assert b.js(row_field("idle", "status-text")) == "stopped"
    assert b.js(row_field("hourly", "schedule-text")) == "every 60 min"
    assert b.js(row_field("clock", "name")) == "Clock"
    b.wait("document.getElementById('summary').textContent.startsWith('4 sources')")
    page.shot("list")
    no_js_errors(page)


def t_pause_row(page):
    b = page.b
    b.click(row("clock") + " button.pause")
    wait_for("clock paused on the bus", lambda: page.bed.prop("clock", "Status") == "paused")
    assert page.bed.prop("clock", "PausedAt") > 0
    b.wait(row_field("clock", "status-text") + " === 'paused'", what="the row to say paused")
    b.wait(row_field("clock", "row-message") + " === 'Paused'")
    assert b.js(row_field("clock", "paused")) in ("just now",) or "second" in b.js(row_field("clock", "paused"))
    assert b.js("document.querySelector('%s .paused').title.endsWith('Z')" % row("clock"))
    # The row swapped Pause for Unpause.
    b.click(row("clock") + " button.unpause")
    wait_for("clock active on the bus", lambda: page.bed.prop("clock", "Status") == "active")
    b.wait(row_field("clock", "status-text") + " === 'active'")


def t_busctl_pause(page):
    b = page.b
    page.bed.call("hourly", "Pause")
    b.wait(row_field("hourly", "status-text") + " === 'paused'", what="hourly paused on the page")
    page.bed.busctl("set-property", "org.sourced.Sourced1", page.bed.source_path("hourly"),
                    "org.sourced.Sourced1.Source", "PausedAt", "t", "0")
    b.wait(row_field("hourly", "status-text") + " === 'active'", what="hourly active again on the page")


def t_records(page):
    b = page.b
    cell = "(e => e ? Number(e.textContent.replace(/,/g, '')) : -1)(document.querySelector('%s .records'))" \
        % row("counter")
    first = b.wait("(n => n > 0 ? n : null)(%s)" % cell, what="counter's records on its row")
    # The counters emit no signal: the page reads the rows in view again
    # every 5 s, so the cell grows without a reload.
    later = b.wait("(n => n > %d ? n : null)(%s)" % (first, cell), timeout=15, what="counter's records to grow")
    assert later <= page.bed.prop("counter", "RecordsDelivered"), (later, "ahead of the bus")


def t_in_flight(page):
    b = page.b
    # The click handler marks the row's buttons busy before its first await
    # (aria-disabled: a disabled button would lose the keyboard focus).
    state = b.js("""(() => {
        const r = document.querySelector('%s');
        const restart = r.querySelector('button.restart');
        restart.focus();
        restart.click();
        return [restart.getAttribute('aria-disabled'), r.querySelector('button.stop').getAttribute('aria-disabled'),
                document.activeElement === restart];
    })()""" % row("clock"))
    # Only the pressed button is busy: its siblings act at once.
    assert state == ["true", None, True], state
    b.wait("!document.querySelector('%s button.restart').hasAttribute('aria-disabled')" % row("clock"),
           what="the button back")
    b.wait(row_field("clock", "row-message") + " === 'Restarted'")


def t_not_stoppable(page):
    b = page.b
    b.click(row("idle") + " button.stop")
    msg = b.wait(row_field("idle", "row-message") + " || null", what="a message on the idle row")
    assert msg == "Not stoppable: Unable to stop source 'idle': not in a stoppable state", msg
    assert b.js("document.querySelector('%s .row-message').classList.contains('error')" % row("idle"))
    assert page.bed.prop("idle", "Status") == "stopped"
    page.shot("error-not-stoppable")


def t_create(page):
    b = page.b
    b.click("#create-open")
    b.wait("document.getElementById('create-dialog').open")
    b.type("#create-id", "made")
    b.type("#create-name", "Made here")
    b.type("#create-exec", "/bin/sh -c 'while true; do echo x; sleep 0.5; done'")
    b.select("#create-schedule", "cron")
    b.type("#create-cron", "not a cron")
    b.click("#create-submit")
    err = b.wait("(e => e.hidden ? null : e.textContent)(document.getElementById('create-error'))",
                 what="the dialog's error")
    assert "Invalid value" in err and "CronExpression" in err, err
    assert b.js("document.getElementById('create-cron').getAttribute('aria-invalid')") == "true"
    assert not page.bed.has_source("made"), "a refused create made a source"
    page.shot("error-create")
    b.select("#create-schedule", "continuous")
    b.click("#create-submit")
    b.wait("!document.getElementById('create-dialog').open", what="the dialog to close")
    b.wait("document.querySelector('%s')" % row("made"), what="the new row")
    assert page.bed.prop("made", "DisplayName") == "Made here"
    wait_for("made active", lambda: page.bed.prop("made", "Status") == "active")
    b.wait(row_field("made", "status-text") + " === 'active'")


def t_text_only(page):
    b = page.b
    evil = '<img src=x id=evil onerror="window.pwned=1">'
    page.bed.busctl("call", "org.sourced.Sourced1", "/org/sourced/Sourced1", "org.sourced.Sourced1.Manager",
                    "CreateSource", "sa{sv}", "html", "3", "DisplayName", "s", evil, "Exec", "s", "/bin/true",
                    "InitialState", "s", "stopped")
    b.wait("document.querySelector('%s')" % row("html"), what="the row of a source made with busctl")
    assert b.js(row_field("html", "name")) == evil
    assert b.js("document.getElementById('evil') === null && !window.pwned")
    page.bed.call("/org/sourced/Sourced1", "RemoveSource", "s", "html", iface="org.sourced.Sourced1.Manager")
    b.wait("!document.querySelector('%s')" % row("html"), what="the removed row to go")


def t_detail(page):
    b = page.b
    b.click(row("counter") + " button.details")
    b.wait("!document.getElementById('detail-view').hidden")
    assert b.text("#detail-title") == "Counter"
    b.wait("document.querySelector('#detail-props dd[data-key=Status]').textContent === 'active'")
    assert b.js("document.querySelector('#detail-props dd[data-key=Type]').textContent") == "singer"
    bookmark = b.wait("(t => t.includes('bookmarks') ? t : null)(document.getElementById('detail-bookmark').textContent)",
                      timeout=30, what="the bookmark")
    parsed = json.loads(bookmark)
    assert "counter" in parsed["bookmarks"], bookmark
    assert "\n  " in bookmark, "the bookmark is not formatted"
    # Three samples (2 s apart) make two rates: a line with two points.
    b.wait("(p => p && p.getAttribute('points').split(' ').length >= 2)"
           "(document.querySelector('#detail-chart polyline'))", timeout=20, what="the chart's line")
    assert "/s" in b.text("#chart-caption")
    assert b.js("document.getElementById('detail-journal').textContent") == "Show this source's journal"
    page.shot("detail")
    b.click("#detail-back")
    b.wait("!document.getElementById('list-view').hidden")


def t_pause_at(page):
    b = page.b
    b.goto(page.url + "#/source/hourly")
    b.wait("document.body.dataset.state === 'ready' && !document.getElementById('detail-view').hidden")
    updated = page.bed.prop("hourly", "UpdatedAt")
    b.type("#pause-at-input", "June the first")
    b.click("#pause-at-submit")
    b.wait("!document.getElementById('pause-at-error').hidden")
    assert "2019-06-01T00:00:00Z" in b.text("#pause-at-error")
    assert page.bed.prop("hourly", "PausedAt") == 0 and page.bed.prop("hourly", "UpdatedAt") == updated
    b.type("#pause-at-input", "2019-06-01T00:00:00Z")
    b.click("#pause-at-submit")
    wait_for("PausedAt written", lambda: page.bed.prop("hourly", "PausedAt") == 1559347200000000)
    assert page.bed.prop("hourly", "Status") == "paused"
    b.wait("document.querySelector('#detail-props dd[data-key=PausedAt]').textContent.startsWith('2019-06-01T00:00:00Z')")
    assert b.js("document.getElementById('pause-at-error').hidden")
    page.bed.call("hourly", "Unpause")


def t_keyboard(page):
    b = page.b
    b.goto(page.url + "#/")
    b.wait("document.body.dataset.state === 'ready' && !document.getElementById('list-view').hidden",
           what="the list")
    pause = "document.querySelector('%s button.pause')" % row("clock")
    unpause = "document.querySelector('%s button.unpause')" % row("clock")
    b.js("document.getElementById('filter-text').focus()")
    for _ in range(80):
        if b.js("document.activeElement === %s" % pause):
            break
        b.key("Tab", keycode=9)
    else:
        raise AssertionError("Tab never reached clock's Pause (it is on %s)" % b.js(
            "document.activeElement.tagName + '#' + document.activeElement.id + '.' + document.activeElement.className"))
    b.key("Enter", keycode=13, text="\r")
    wait_for("clock paused on the bus", lambda: page.bed.prop("clock", "Status") == "paused")
    b.wait(row_field("clock", "status-text") + " === 'paused'", what="the row to say paused")
    # Pause is hidden now: the keyboard user is on Unpause, not thrown back
    # to the top of the page.
    b.wait("document.activeElement === %s" % unpause, what="the focus on clock's Unpause")
    b.key(" ", code="Space", keycode=32, text=" ")
    wait_for("clock active on the bus", lambda: page.bed.prop("clock", "Status") == "active")
    b.wait("document.activeElement === %s" % pause, what="the focus back on clock's Pause")
    b.wait(row_field("clock", "row-message") + " === 'Unpaused'", what="the row to say Unpaused")
    # A dialog opened from the keyboard closes with Escape.
    before = page.bed.manager_prop("NSources")
    b.js("document.getElementById('create-open').focus()")
    b.key("Enter", keycode=13, text="\r")
    b.wait("document.getElementById('create-dialog').open", what="the Create dialog")
    b.key("Escape", keycode=27)
    b.wait("!document.getElementById('create-dialog').open", what="Escape to close the dialog")
    assert page.bed.manager_prop("NSources") == before, "a dialog closed with Escape made a source"


# Holds every D-Bus reply the page receives for a while (signals pass at
# once), through cockpit.transport's own incoming filter: what a loaded
# machine does to the page, made certain. Released replies pass the filter
# on their second way through.
HOLD_REPLIES = """(() => {
    const released = new Set();
    cockpit.transport.filter((data, channel) => {
        if (!channel || released.delete(data))
            return true;
        const text = typeof data === 'string' ? data : new TextDecoder().decode(data);
        if (!text.includes('"reply"'))
            return true;
        released.add(data);
        window.setTimeout(() => cockpit.transport.inject(data, false), %d);
        return false;
    }, false);
    return true;
})()"""


def t_keyboard_quick(page):
    """A user who presses twice quickly is not ignored: Enter on Pause, and
    Space on Unpause as soon as the focus is there, while the Pause call's
    reply is still on its way (under load it comes well after the signal
    that swapped the buttons; here every reply is held for 1.5 s)."""
    b = page.b
    pause = "document.querySelector('%s button.pause')" % row("clock")
    unpause = "document.querySelector('%s button.unpause')" % row("clock")
    b.wait("(e => e && !e.hidden)(%s)" % pause, what="clock's Pause")
    b.js(HOLD_REPLIES % 1500)
    b.js("%s.focus()" % pause)
    b.key("Enter", keycode=13, text="\r")
    b.wait("document.activeElement === %s" % unpause, timeout=20, what="the focus on clock's Unpause")
    assert b.js("%s.getAttribute('aria-disabled')" % pause) == "true", "the Pause call came back already"
    assert b.js("%s.getAttribute('aria-disabled')" % unpause) is None, "Unpause looks enabled but is busy"
    b.key(" ", code="Space", keycode=32, text=" ")
    wait_for("clock active on the bus", lambda: page.bed.prop("clock", "Status") == "active")
    assert page.bed.prop("clock", "PausedAt") == 0
    b.wait(row_field("clock", "row-message") + " === 'Unpaused'", what="the row to say Unpaused")
    b.wait(row_field("clock", "status-text") + " === 'active'", what="the row to say active")
    b.wait("document.activeElement === %s" % pause, what="the focus back on clock's Pause")


def t_remove(page):
    b = page.b
    if not page.bed.has_source("made"):
        page.bed.busctl("call", "org.sourced.Sourced1", "/org/sourced/Sourced1", "org.sourced.Sourced1.Manager",
                        "CreateSource", "sa{sv}", "made", "1", "Exec", "s", "/bin/sleep 1000")
    b.goto(page.url + "#/source/clock")
    b.wait("document.body.dataset.state === 'ready' && !document.getElementById('detail-view').hidden")
    b.click("#detail-remove")
    err = b.wait("(e => e.hidden ? null : e.textContent)(document.getElementById('detail-error'))")
    assert err.startswith("Not supported: ") and "clock.source" in err, err
    assert page.bed.has_source("clock")
    b.goto(page.url + "#/source/made")
    b.wait("document.body.dataset.state === 'ready' && !document.getElementById('detail-view').hidden")
    b.click("#detail-remove")
    b.wait("!document.getElementById('list-view').hidden", what="back to the list")
    b.wait("!document.querySelector('%s')" % row("made"), what="the removed row to go")
    assert not page.bed.has_source("made")


def t_gate(page):
    b = page.b
    page.open()
    b.click("#gate-pause")
    wait_for("the Manager paused", lambda: page.bed.manager_prop("PausedAt") != "0")
    b.wait("!document.getElementById('gate-banner').hidden", what="the banner")
    b.wait(row_field("clock", "active") + " === 'no'", what="Active to go false")
    assert page.bed.prop("clock", "Status") == "active", "the gate changed a source's own status"
    page.shot("gate-paused")
    b.click("#gate-unpause")
    wait_for("the Manager unpaused", lambda: page.bed.manager_prop("PausedAt") == "0")
    b.wait("document.getElementById('gate-banner').hidden")
    b.wait(row_field("clock", "active") + " === 'yes'")


def t_pause_shown(page):
    b = page.b
    b.type("#filter-text", "clo")
    b.wait("document.getElementById('shown-count').textContent === '1 of 4 sources shown'")
    b.click("#shown-pause")
    b.wait("(e => !e.hidden && e.textContent.startsWith('Paused 1, 0 already so'))(document.getElementById('bulk-result'))",
           what="the bulk result")
    assert page.bed.prop("clock", "Status") == "paused"
    assert page.bed.prop("hourly", "PausedAt") == 0 and page.bed.prop("counter", "PausedAt") == 0
    b.select("#filter-status", "paused")
    b.type("#filter-text", "")
    b.wait("document.getElementById('shown-count').textContent === '1 of 4 sources shown'")
    b.click("#shown-unpause")
    wait_for("clock unpaused", lambda: page.bed.prop("clock", "PausedAt") == 0)
    # A row is never hidden because its status changed: it stays under the
    # "paused" filter, now saying active, until the filter changes.
    b.wait(row_field("clock", "status-text") + " === 'active'")
    assert b.js("document.getElementById('shown-count').textContent") == "1 of 4 sources shown"
    b.select("#filter-status", "")
    b.wait("document.getElementById('shown-count').textContent === '4 sources'")


def t_dark(page):
    b = page.b
    b.js("localStorage.setItem('shell:style', 'dark'); window.dispatchEvent(new Event('cockpit-style'))")
    b.wait("document.documentElement.classList.contains('pf-theme-dark')")
    bg = b.js("getComputedStyle(document.body).backgroundColor")
    fg = b.js("getComputedStyle(document.body).color")
    assert bg == "rgb(27, 29, 33)" and fg == "rgb(224, 224, 224)", (bg, fg)
    page.shot("list-dark")
    b.js("localStorage.setItem('shell:style', 'light'); window.dispatchEvent(new Event('cockpit-style'))")
    b.wait("!document.documentElement.classList.contains('pf-theme-dark')")


def t_restart(page):
    b = page.b
    page.bed.stop_sourced()
    b.wait("document.body.dataset.state === 'down' && !document.getElementById('down').hidden",
           what="the page to say sourced is not running")
    assert b.text("#down-title") == "sourced is not running"
    assert b.js("document.getElementById('list-view').hidden")
    page.shot("sourced-stopped")
    # No systemd on this bus: Start says why it could not.
    b.click("#down-start")
    err = b.wait("(e => e.hidden ? null : e.textContent)(document.getElementById('down-error'))")
    assert err.startswith("Could not start sourced.service"), err
    page.bed.start_sourced()
    b.wait("document.body.dataset.state === 'ready' && document.querySelectorAll('.rows .row').length === 4",
           timeout=30, what="the page to follow the new sourced")
    page.bed.call("counter", "Pause")
    b.wait(row_field("counter", "status-text") + " === 'paused'", what="a change from the new owner")
    page.bed.call("counter", "Unpause")
    no_js_errors(page)


def t_crash_loop(page):
    b = page.b
    page.bed.busctl("call", "org.sourced.Sourced1", "/org/sourced/Sourced1", "org.sourced.Sourced1.Manager",
                    "CreateSource", "sa{sv}", "crashy", "4", "DisplayName", "s", "Crashy",
                    "Exec", "s", "/bin/sh -c 'echo one; echo oops >&2; exit 1'", "RestartSec", "u", "2",
                    "MaxFailures", "u", "0")
    try:
        b.wait(row_field("crashy", "status-text") + " === 'restarting'", what="the row to say restarting")
        retry = b.wait("(t => t && (t.startsWith('retry ') || t.endsWith(' running')) ? t : null)(%s)"
                       % row_field("crashy", "retry"), what="the retry time under the status")
        title = b.js("document.querySelector('%s .retry').title" % row("crashy"))
        assert retry.endswith(" running") or title.startswith("attempt "), (retry, title)
        assert b.js(row_field("crashy", "active")) == "no"
        # Restart, not Start: the source is started.
        assert b.js("document.querySelector('%s button.restart').hidden" % row("crashy")) is False
        color = b.js("getComputedStyle(document.querySelector('%s .status-text')).color" % row("crashy"))
        assert color == "rgb(201, 25, 11)", "restarting is not shown as a problem: %s" % color
        b.select("#filter-status", "problems")
        b.wait("document.querySelector('%s')" % row("crashy"), what="crashy under 'with an error'")
        page.shot("restarting")
        b.click(row("crashy") + " button.details")
        b.wait("document.getElementById('detail-status').textContent.startsWith('restarting (attempt ')",
               what="the detail's status with the attempt")
        assert int(b.js("document.querySelector('#detail-props dd[data-key=NRestarts]').textContent")) >= 0
        assert b.js("document.querySelector('#detail-props dd[data-key=Sink]') !== null")
        # No journald in this bed: the page says so in one line, no error.
        note = b.wait("(e => e.hidden ? null : e.textContent)(document.getElementById('detail-journal-note'))",
                      what="the journal note")
        assert note.startswith("No journal lines for this source"), note
        page.shot("detail-restarting")
    finally:
        page.bed.call("/org/sourced/Sourced1", "RemoveSource", "s", "crashy", iface="org.sourced.Sourced1.Manager")
    no_js_errors(page)


def t_postgresql_sink(page):
    b = page.b
    uri = "postgresql://loader@db.invalid/warehouse?connect_timeout=1"
    page.bed.busctl("call", "org.sourced.Sourced1", "/org/sourced/Sourced1", "org.sourced.Sourced1.Manager",
                    "CreateSource", "sa{sv}", "pgsink", "3", "Exec", "s", "/bin/sleep 1000", "Sink", "s", uri,
                    "Schema", "s", "sales")
    try:
        b.wait(row_field("pgsink", "status-text") + " === 'restarting'",
               what="a database that cannot be reached to show as restarting")
        b.click(row("pgsink") + " button.details")
        text = b.wait("(e => e && e.textContent.includes('last commit') ? e.textContent : null)"
                      "(document.querySelector('#detail-props dd[data-key=Sink]'))", what="the sink with its last commit")
        assert text == uri + " (last commit: none yet)", text
    finally:
        page.bed.call("/org/sourced/Sourced1", "RemoveSource", "s", "pgsink", iface="org.sourced.Sourced1.Manager")
    no_js_errors(page)


def t_german(page):
    # Cockpit picks the language from its CockpitLang cookie (what its
    # shell's language menu sets) and serves po.js as po.de.js.
    b = page.b
    b.js("document.cookie = 'CockpitLang=de; path=/'; true")
    try:
        page.open()
        b.wait("document.getElementById('gate-pause').textContent === 'Alle anhalten'",
               what="'Pause all' in German")
        assert b.js("document.querySelector('h1').textContent") == "Datenquellen"
        b.wait("(b => b && b.textContent === 'Anhalten')(document.querySelector('%s button.pause'))" % row("clock"),
               what="the row's Pause in German")
        labels = b.js("[...document.querySelectorAll('.row.head span')].map(s => s.textContent)")
        assert labels[:3] == ["ID", "Name", "Status"] and "Datensätze" in labels, labels
        page.shot("german")
        # Still the same page: its Pause works in any language.
        b.click(row("clock") + " button.pause")
        wait_for("clock paused on the bus", lambda: page.bed.prop("clock", "Status") == "paused")
    finally:
        b.js("document.cookie = 'CockpitLang=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT'; true")
    page.open()
    assert b.js("document.getElementById('gate-pause').textContent") == "Pause all"
    no_js_errors(page)


def t_many(page):
    bed = page.bed
    page.bed.stop_sourced()
    for i in range(10000):
        bed.define("bulk%05d" % i, "Exec=/bin/true\nInitialState=stopped\n")
    bed.start_sourced()
    b = page.b
    b.goto(page.url)
    # The first rows are drawn from the first page, while the others are
    # still being read: a user sees sources at once, not after 10,000 have
    # come. (The times are printed as figures, not asserted: the machine's
    # speed is not the page's behaviour.)
    first, state = b.wait("(r => r ? [performance.now(), document.body.dataset.state] : null)"
                          "(document.querySelector('.rows .row'))", timeout=30, what="the first row")
    ready = b.wait("document.body.dataset.state === 'ready' && "
                   "document.getElementById('summary').textContent.startsWith('10,004 sources') && performance.now()",
                   timeout=60, what="all 10,004 sources read")
    print("# 10,004 sources: first row drawn %.0f ms after navigation, all read at %.0f ms" % (first, ready),
          flush=True)
    assert state == "loading", "the first row was drawn only once everything was read (state %r)" % state
    rows_in_dom = b.js("document.querySelectorAll('.rows .row').length")
    assert rows_in_dom < 100, "%d rows in the DOM: not windowed" % rows_in_dom
    t0 = b.js("performance.now()")
    b.js("(s => s.scrollTop = s.scrollHeight)(document.getElementById('rows'))")
    b.wait("document.querySelector('%s')" % row("idle"), what="the last row after scrolling")
    t1 = b.js("performance.now()")
    b.type("#filter-text", "bulk09999")
    b.wait("document.getElementById('shown-count').textContent === '1 of 10,004 sources shown'")
    t2 = b.js("performance.now()")
    print("# scroll to the end: %.0f ms; filter over 10,004: %.0f ms" % (t1 - t0, t2 - t1), flush=True)
    page.shot("list-10000")


def main():
    bed = Bed()
    page = None
    try:
        bed.start_bus()
        bed.define("clock", 'DisplayName=Clock\nExec=/bin/sh -c "while true; do date; sleep 0.2; done"\n')
        bed.define("counter", "DisplayName=Counter\nType=singer\nExec=%s/tap-counter --count 1000000 --every 5 "
                   "--interval 0.05\n" % os.path.abspath(TAPS))
        bed.define("hourly", "DisplayName=Hourly\nExec=/bin/echo hi\nFrequencyMinutes=60\n")
        bed.define("idle", "Exec=/bin/sleep 1000\nInitialState=stopped\n")
        bed.start_sourced()
        page = Page(bed)
    except Exception as e:
        tap.skip_rest(CASES, "the test bed could not start: %s" % e)
        bed.close()
        tap.done()
    fns = [t_menu, t_list, t_pause_row, t_busctl_pause, t_records, t_in_flight, t_not_stoppable, t_create, t_text_only,
           t_detail, t_pause_at, t_keyboard, t_keyboard_quick, t_remove, t_gate, t_pause_shown, t_dark, t_restart, t_crash_loop, t_postgresql_sink, t_german,
           t_many]
    def known_state(page):
        bed.reset(BASE, keep_others=False)
        page.b.goto("about:blank")  # a fresh page: no filter, no dialog, the list
        page.open()
        page.b.wait("document.querySelectorAll('.rows .row').length >= %d" % len(BASE), what="the rows drawn")

    try:
        tap.run(CASES, fns, page, before=known_state)
    finally:
        page.close()
        bed.close()
        if tap.failed:
            page.b.pump()
            print("# the page's JavaScript errors: %s" % (page.b.exceptions[-5:] or "none"), flush=True)
            print("# sourced's log:\n# " + bed.log_tail(30).replace("\n", "\n# "), flush=True)
        else:
            shutil.rmtree(bed.dir, ignore_errors=True)
    tap.done()


if __name__ == "__main__":
    main()
