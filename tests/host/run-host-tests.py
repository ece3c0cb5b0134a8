#!/usr/bin/env python3
"""sourced on a real systemd host: the unit started by PID 1, the shipped
bus policy, a real polkitd, sysusers, D-Bus activation, journald, the
sandbox and the limits. One container is booted for all the scenarios;
each scenario is one TAP test. If the bed cannot be set up, every test
fails with the reason: this suite never skips.

Usage: run-host-tests.py BUILD_DIR   (a build configured with --prefix=/usr)
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostbed import BedError, Host  # noqa: E402

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUS = "org.sourced.Sourced1"
MGR = "/org/sourced/Sourced1"
MGR_IFACE = "org.sourced.Sourced1.Manager"
SRC_IFACE = "org.sourced.Sourced1.Source"
DEFS = "/etc/sourced/sources.d"

host = None
scenarios = []


def scenario(fn):
    scenarios.append(fn)
    return fn


# ---- Helpers --------------------------------------------------------------

def source_path(sid):
    # sd_bus_path_encode: [A-Za-z0-9] kept, everything else _XX.
    return MGR + "/source/" + "".join(c if c.isalnum() else "_%02x" % ord(c) for c in sid)


def prop(sid, name, user=None):
    out = host.out("busctl --json=short get-property %s %s %s %s" % (BUS, source_path(sid), SRC_IFACE, name),
                   user=user)
    return json.loads(out)["data"]


def manager_prop(name):
    return json.loads(host.out("busctl --json=short get-property %s %s %s %s" % (BUS, MGR, MGR_IFACE, name)))["data"]


def unit(*props):
    out = host.out("systemctl show sourced.service -p " + ",".join(props))
    return dict(line.split("=", 1) for line in out.splitlines())


def define(sid, text):
    host.write("%s/%s.source" % (DEFS, sid), "[Source]\n" + text)


def list_json(user=None):
    return json.loads(host.out("sourcectl --system list --json", user=user, timeout=120))


def wait_active(sid, timeout=30):
    host.wait("%s to be active" % sid, lambda: prop(sid, "Status") == "active", timeout=timeout)


def journal(match, since_cursor=None):
    return host.out("journalctl --no-pager -o cat %s" % match)


# ---- Scenarios --------------------------------------------------------------

TICKER = r"""Exec=/bin/sh -c 'i=0; while :; do i=$((i+1)); echo "{\"n\":$i}"; sleep 0.1; done'
"""
PY = r"""Exec=/usr/bin/python3 -u -c 'import itertools, json, time; [(print(json.dumps({"i": i})), time.sleep(0.1)) for i in itertools.count()]'
"""
NOISY = r"""Exec=/bin/sh -c 'echo "noisy worker says hello" >&2; exec sleep 100000'
"""


@scenario
def package_installed_enabled_and_clean():
    """apt-get install ./sourced_….deb ./cockpit-sourced_….deb (before the
    first boot): the unit is enabled and ran at boot, under the user the
    postinst made; lintian reports no error and no warning."""
    assert host.out("dpkg-query -W -f '${Status} ${Version}' sourced").startswith("install ok installed "), \
        host.out("dpkg-query -W sourced")
    assert host.out("systemctl is-enabled sourced.service") == "enabled"
    host.wait("sourced to run since boot", lambda: unit("ActiveState")["ActiveState"] == "active", timeout=60)
    assert host.out("getent passwd sourced").startswith("sourced:")
    problems = [l for l in host.lintian.splitlines() if re.match(r"^[EW]: ", l)]
    assert not problems, problems
    for path in ("/usr/share/man/man8/sourced.8.gz", "/usr/share/man/man5/org.sourced.Sourced1.5.gz",
                 "/usr/share/locale/de/LC_MESSAGES/sourced.mo", "/usr/share/cockpit/sourced/po.de.js"):
        host.run("test -f " + path)


@scenario
def unit_starts_with_ready_and_status():
    """systemctl restart: Type=notify, READY=1, STATUS= from the daemon."""
    define("ticker", TICKER)
    define("py", PY)
    define("noisy", NOISY)
    host.run("systemctl restart sourced.service", timeout=90)
    u = unit("ActiveState", "SubState", "StatusText", "Type", "MainPID")
    assert u["ActiveState"] == "active" and u["SubState"] == "running", u
    assert u["Type"] == "notify", u
    host.wait("STATUS= to say the sources run",
              lambda: unit("StatusText")["StatusText"].startswith("Supervising 3 sources"))
    for sid in ("ticker", "py", "noisy"):
        wait_active(sid)


@scenario
def sysusers_and_state_directory():
    """sysusers made the system user; StateDirectory is sourced's, 0750."""
    pw = host.out("getent passwd sourced").split(":")
    assert int(pw[2]) < 1000, pw
    assert pw[6] in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false"), pw
    st = host.out("stat -c '%U %G %a' /var/lib/sourced")
    assert st == "sourced sourced 750", st
    main_pid = unit("MainPID")["MainPID"]
    uid = host.out("stat -c %%u /proc/%s" % main_pid)
    assert uid == pw[2], (uid, pw)


@scenario
def sandboxed_workers_write_their_sinks():
    """A shell worker and a Python worker run in the sandbox and fill their
    sinks; workers get the usual soft descriptor limit, sourced a high one."""
    for sid in ("ticker", "py"):
        sink = "/var/lib/sourced/sinks/%s.jsonl" % sid
        host.wait("%s to hold 5 records" % sink,
                  lambda: int(host.out("wc -l < %s 2>/dev/null || echo 0" % sink)) >= 5, timeout=20)
        first = host.out("head -1 %s" % sink)
        json.loads(first)
    worker = prop("py", "MainPID")
    assert worker, "py has no MainPID"
    status = host.out("cat /proc/%d/status" % worker)
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M), status
    assert re.search(r"^Seccomp:\s+2$", status, re.M), status
    wl = host.out("grep 'open files' /proc/%d/limits" % worker).split()
    dl = host.out("grep 'open files' /proc/%s/limits" % unit("MainPID")["MainPID"]).split()
    assert wl[3] == "1024", ("worker soft NOFILE", wl)
    # The unit asks for 1024:524288; PID 1 cannot hand out more than its own
    # hard limit (a machine without CAP_SYS_RESOURCE may cap it lower).
    pid1 = int(host.out("grep 'open files' /proc/1/limits").split()[4])
    assert dl[3] == dl[4] and int(dl[4]) == min(524288, pid1), ("sourced's NOFILE, raised to its hard limit", dl, pid1)


@scenario
def worker_stderr_in_the_journal():
    """A worker's stderr lines reach the journal with SOURCE_ID=."""
    host.wait("the noisy worker's line in the journal",
              lambda: "noisy worker says hello" in journal("SOURCE_ID=noisy"), timeout=15)
    out = host.out("journalctl --no-pager -o json SOURCE_ID=noisy")
    entry = json.loads(out.splitlines()[-1])
    assert entry.get("_SYSTEMD_UNIT") == "sourced.service", entry.get("_SYSTEMD_UNIT")


@scenario
def reload_adds_sources():
    """systemctl reload reads new definition files; it returns once they run."""
    define("late", "Exec=sleep 100000\n")
    host.run("systemctl reload sourced.service", timeout=60)
    assert prop("late", "Status") == "active"
    assert prop("late", "MainPID") != 0


@scenario
def restart_keeps_state():
    """A pause survives systemctl restart."""
    host.run("sourcectl --system pause ticker")
    paused_at = prop("ticker", "PausedAt")
    assert paused_at != 0
    host.run("systemctl restart sourced.service", timeout=90)
    assert prop("ticker", "PausedAt") == paused_at
    assert prop("ticker", "Status") == "paused"
    host.run("sourcectl --system unpause ticker")


@scenario
def kill9_restarts_and_loses_nothing():
    """kill -9: Restart=on-failure brings sourced back; an acknowledged
    pause is still there, and the old workers are gone with it."""
    host.run("sourcectl --system pause py")
    old_worker = prop("late", "MainPID")
    before = int(unit("NRestarts")["NRestarts"])
    host.run("systemctl kill -s KILL --kill-who=main sourced.service")
    host.wait("sourced to be restarted",
              lambda: int(unit("NRestarts")["NRestarts"]) > before and unit("ActiveState")["ActiveState"] == "active",
              timeout=30)
    wait_active("late")
    assert prop("py", "PausedAt") != 0, "the acknowledged pause was lost"
    assert host.run("test -d /proc/%d" % old_worker, check=False).returncode != 0, "old worker outlived sourced"
    host.run("sourcectl --system unpause py")


@scenario
def watchdog_restarts_a_stuck_daemon():
    """With a short WatchdogSec=, a stopped (hung) sourced is killed by
    systemd and started again."""
    host.put("/run/systemd/system/sourced.service.d/50-watchdog.conf", "[Service]\nWatchdogSec=2s\n")
    host.run("systemctl daemon-reload && systemctl restart sourced.service", timeout=90)
    before = int(unit("NRestarts")["NRestarts"])
    host.run("kill -STOP %s" % unit("MainPID")["MainPID"])
    host.wait("the watchdog to restart sourced",
              lambda: int(unit("NRestarts")["NRestarts"]) > before and unit("ActiveState")["ActiveState"] == "active",
              timeout=60)
    assert "Watchdog timeout" in host.out("journalctl --no-pager -o cat -u sourced.service")
    host.run("rm /run/systemd/system/sourced.service.d/50-watchdog.conf && systemctl daemon-reload")
    host.run("systemctl restart sourced.service", timeout=90)


@scenario
def dbus_activation_starts_the_service():
    """With the service stopped, a call on the system bus starts it."""
    host.run("systemctl stop sourced.service", timeout=60)
    assert unit("ActiveState")["ActiveState"] == "inactive"
    out = host.out("busctl call %s %s %s GetSource s ticker" % (BUS, MGR, MGR_IFACE), timeout=60)
    assert out.startswith('o "/org/sourced/Sourced1/source/ticker"'), out
    assert unit("ActiveState")["ActiveState"] == "active"


@scenario
def polkit_root_member_and_stranger():
    """Root may; a member of group sourced may (polkit's rule); anyone else
    is refused with exit status 1 and nothing changes, through sourcectl
    and through busctl set-property alike."""
    # (usermod: a first install's scenario may have made group sourced anew)
    host.run("id alice >/dev/null 2>&1 || useradd -m alice; usermod -aG sourced alice")
    host.run("id bob >/dev/null 2>&1 || useradd -m bob")
    host.run("sourcectl --system pause noisy")
    host.run("sourcectl --system unpause noisy")
    r = host.run("sourcectl --system pause noisy", user="alice", check=False)
    assert r.returncode == 0, "group member refused: " + r.stderr
    assert prop("noisy", "PausedAt") != 0
    paused_at = prop("noisy", "PausedAt")
    r = host.run("sourcectl --system unpause noisy", user="bob", check=False)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert r.stderr.startswith("sourcectl: permission denied: "), r.stderr
    assert "org.sourced.Sourced1.control" in r.stderr, r.stderr
    r = host.run("busctl set-property %s %s %s PausedAt t 0" % (BUS, source_path("noisy"), SRC_IFACE), user="bob",
                 check=False)
    assert r.returncode != 0 and "Access denied" in r.stderr, (r.returncode, r.stderr)
    assert prop("noisy", "PausedAt") == paused_at, "a refused call changed the source"
    # Reading is for everyone.
    assert prop("noisy", "Status", user="bob") == "paused"
    r = host.run("sourcectl --system unpause noisy", user="alice", check=False)
    assert r.returncode == 0, r.stderr


# Runs, inside the container, a command in a login session of USER (su -l
# --pty: logind makes a session, and it has a terminal) on a
# pseudo-terminal, with a text polkit agent (pkttyagent) registered for the
# shell that then becomes the caller (exec keeps the pid and its start
# time, which polkit knows it by), typing the password when asked: what a
# person at a terminal does, and what systemctl does with its own agent.
PTY_AGENT = r"""
import os, pty, select, sys, time
user, password, script = sys.argv[1], sys.argv[2], sys.argv[3]
pid, fd = pty.fork()
if pid == 0:
    os.execvp("su", ["su", "--pty", "-l", user, "-c", script])
out, typed, deadline = b"", 0, time.monotonic() + 30
while time.monotonic() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    # A person answers a prompt once it is there: the agent turns echo off
    # and flushes the terminal's input (TCSAFLUSH) around printing it, so
    # what is typed too early is lost. Each new prompt gets an answer.
    if out.count(b"assword:") > typed and not r:
        os.write(fd, password.encode() + b"\n")
        typed += 1
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"""


@scenario
def polkit_interactive_authentication():
    """A caller who is not in group sourced but is an administrator (group
    sudo, polkit's admin identity on Debian) is asked for a password when
    the call allows interactive authorization and a text agent runs, and
    the call then succeeds; without the flag it is refused and told so."""
    host.run("id carol >/dev/null 2>&1 || (useradd -m -G sudo carol && echo carol:carol-pw | chpasswd)")
    host.write("/usr/local/lib/pty-agent.py", PTY_AGENT)
    # (busctl prints only "Access denied" for it; dbus-send shows sourced's
    # message.)
    r = host.run("dbus-send --system --print-reply --dest=%s %s %s.Pause" % (BUS, source_path("late"), SRC_IFACE),
                 user="carol", check=False)
    assert r.returncode != 0 and "call with interactive authorization" in r.stderr, (r.returncode, r.stderr)
    call = "busctl call %s %s %s Pause" % (BUS, source_path("late"), SRC_IFACE)
    assert prop("late", "PausedAt") == 0
    agent_then = "pkttyagent --process $$ --fallback & sleep 1; exec "
    r = host.run("python3 /usr/local/lib/pty-agent.py carol carol-pw '%s%s --allow-interactive-authorization=yes'"
                 % (agent_then, call), check=False, timeout=60)
    assert r.returncode == 0, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    assert "assword" in r.stdout, "no password was asked for: " + r.stdout[-1000:]
    assert prop("late", "PausedAt") != 0
    # sourcectl on a terminal starts the agent itself, as systemctl does:
    # creating a source (the manage action) asks for a password.
    r = host.run("python3 /usr/local/lib/pty-agent.py carol carol-pw "
                 "'sourcectl --system create asked --exec /bin/true --stopped'", check=False, timeout=60)
    assert r.returncode == 0, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    assert "assword" in r.stdout, "sourcectl did not ask for a password: " + r.stdout[-1000:]
    assert prop("asked", "Status") == "stopped"
    # The shipped rule lets an administrator control sources without a
    # password only from an active local session (the desktop); su's
    # session has no seat, so the control action still asks here.
    r = host.run("python3 /usr/local/lib/pty-agent.py carol carol-pw 'sourcectl --system unpause late'",
                 check=False, timeout=60)
    assert r.returncode == 0, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    assert "assword" in r.stdout, "no password was asked outside an active local session: " + r.stdout[-1000:]
    assert prop("late", "PausedAt") == 0
    # --no-ask-password: refused, exit status 1, nothing asked.
    r = host.run("python3 /usr/local/lib/pty-agent.py carol carol-pw "
                 "'sourcectl --system --no-ask-password remove asked'", check=False, timeout=60)
    assert r.returncode == 1 and "assword" not in r.stdout, (r.returncode, r.stdout[-1000:])
    assert prop("asked", "Status") == "stopped"


# A login session on seat0, as the person at the machine has: logind puts
# su's session there when asked (the container's seat0 has no VTs), and
# such a session is local and active, which polkit's allow_active and the
# shipped rule's subject.local && subject.active look at.
AT_SEAT = "XDG_SEAT=seat0 XDG_SESSION_TYPE=tty su -l %s -c '%s'"


@scenario
def polkit_desktop_rule_for_administrators():
    """The shipped rule for the person at the machine: an administrator
    (group sudo) in an active local session pauses and unpauses everything
    (the Manager's gate, what the GNOME Shell toggle calls) and a single
    source without a password; creating a source still needs one. The same
    administrator outside such a session is refused."""
    host.run("id carol >/dev/null 2>&1 || (useradd -m -G sudo carol && echo carol:carol-pw | chpasswd)")
    session = host.out(AT_SEAT % ("carol", "loginctl show-session $XDG_SESSION_ID -p Seat -p Remote -p Active"))
    assert session.split() == ["Seat=seat0", "Remote=no", "Active=yes"], session
    ctl = "sourcectl --system --no-ask-password "
    r = host.run(AT_SEAT % ("carol", ctl + "pause-all"), check=False)
    assert r.returncode == 0, "the gate asked the administrator at the machine: " + r.stderr
    assert manager_prop("PausedAt") != 0
    r = host.run(AT_SEAT % ("carol", ctl + "unpause-all"), check=False)
    assert r.returncode == 0, r.stderr
    assert manager_prop("PausedAt") == 0
    r = host.run(AT_SEAT % ("carol", ctl + "pause late"), check=False)
    assert r.returncode == 0 and prop("late", "PausedAt") != 0, r.stderr
    r = host.run(AT_SEAT % ("carol", ctl + "unpause late"), check=False)
    assert r.returncode == 0 and prop("late", "PausedAt") == 0, r.stderr
    # Creating runs a command as sourced: still a password.
    r = host.run(AT_SEAT % ("carol", ctl + "create atseat --exec /bin/true --stopped"), check=False)
    assert r.returncode == 1 and "org.sourced.Sourced1.manage" in r.stderr, (r.returncode, r.stderr)
    assert host.run("busctl call %s /org/sourced/Sourced1 org.sourced.Sourced1.Manager GetSource s atseat" % BUS,
                    check=False).returncode != 0, "a refused create made a source"
    # Not at the machine (su's own session, no seat): refused, nothing changes.
    r = host.run("su -l carol -c '%s'" % (ctl + "pause-all"), check=False)
    assert r.returncode == 1 and "org.sourced.Sourced1.control" in r.stderr, (r.returncode, r.stderr)
    assert manager_prop("PausedAt") == 0


COCKPIT = "http://127.0.0.1:9190"


def cockpit_login(user, password):
    from cdp import Browser
    b = Browser()
    try:
        b.goto(COCKPIT + "/", lands_on=COCKPIT + "/")
        # The form shows once the login page's script has set it up.
        b.wait("(e => e && !e.hidden)(document.getElementById('login'))", timeout=30, what="Cockpit's login form")
        b.type("#login-user-input", user)
        b.type("#login-password-input", password)
        b.click("#login-button")
        b.wait("[...document.querySelectorAll('nav a')].some(a => a.textContent.trim() === 'Data sources')",
               timeout=30, what="the shell, with 'Data sources' in its menu, after logging in as " + user)
        return b
    except Exception:
        b.close()
        raise


def cockpit_open_page(b, filter_text):
    b.goto(COCKPIT + "/cockpit/@localhost/sourced/index.html")
    b.wait("document.body.dataset.state === 'ready'", timeout=30, what="the page to read sourced")
    b.type("#filter-text", filter_text)
    b.wait("document.getElementById('shown-count').textContent.startsWith('1 of ')", what="the filter applied")


@scenario
def cockpit_page_with_real_polkit():
    """The Cockpit page on the host: cockpit.socket, a password login, the
    real system bus and polkitd. A member of group sourced pauses a source
    from the page; anyone else sees polkit's refusal next to the button and
    nothing changes; with sourced stopped the page says so, systemd refuses
    a non-administrator's Start, and the page follows sourced back; an
    administrator's Start starts it, and the page follows."""
    host.run("id alice >/dev/null 2>&1 || useradd -m -G sourced alice")
    host.run("id bob >/dev/null 2>&1 || useradd -m bob")
    host.run("printf 'alice:alice-pw\nbob:bob-pw\n' | chpasswd")
    host.write("/etc/cockpit/cockpit.conf", "[WebService]\nAllowUnencrypted = true\n")
    host.write("/etc/systemd/system/cockpit.socket.d/sourced-test.conf",
               "[Socket]\nListenStream=\nListenStream=127.0.0.1:9190\n")
    host.run("systemctl daemon-reload && systemctl restart cockpit.socket")
    define("web", TICKER)
    host.run("systemctl reload sourced")
    wait_active("web")
    sys.path.insert(0, os.path.join(SRC, "tests", "browser"))
    row = '.rows .row[data-id="web"]'
    b = cockpit_login("alice", "alice-pw")
    try:
        cockpit_open_page(b, "web")
        b.click(row + " button.pause")
        try:
            msg = b.wait("(e => e.textContent || null)(document.querySelector('%s .row-message'))" % row,
                         what="the outcome on the row")
        except AssertionError as e:
            b.pump()
            raise AssertionError("%s; the row: %s; console: %s %s" % (
                e, b.js("document.querySelector('%s').outerHTML" % row), b.console[-5:], b.exceptions[-5:]))
        assert msg == "Paused", msg
        host.wait("web paused by alice", lambda: prop("web", "Status") == "paused")
        b.wait("document.querySelector('%s .status-text').textContent === 'paused'" % row)
        b.click(row + " button.unpause")
        host.wait("web unpaused by alice", lambda: prop("web", "PausedAt") == 0)
        b.screenshot(os.path.join(BUILD, "tests", "artifacts", "cockpit", "host-alice.png"))
    finally:
        b.close()
    b = cockpit_login("bob", "bob-pw")
    try:
        cockpit_open_page(b, "web")
        b.click(row + " button.pause")
        msg = b.wait("(e => e.textContent || null)(document.querySelector('%s .row-message'))" % row,
                     what="polkit's refusal on the row")
        assert msg.startswith("Not permitted: ") and "org.sourced.Sourced1.control" in msg, msg
        assert prop("web", "PausedAt") == 0, "a refused click changed the source"
        b.screenshot(os.path.join(BUILD, "tests", "artifacts", "cockpit", "host-bob-refused.png"))
        host.run("systemctl stop sourced")
        b.wait("document.body.dataset.state === 'down'", what="the page to say sourced is not running")
        b.click("#down-start")
        err = b.wait("(e => e.hidden ? null : e.textContent)(document.getElementById('down-error'))",
                     what="systemd's refusal")
        assert err.startswith("Could not start sourced.service: Not permitted"), err
        assert host.run("systemctl is-active sourced", check=False).stdout.strip() != "active"
        host.run("systemctl start sourced")
        b.wait("document.body.dataset.state === 'ready' && document.querySelector('%s')" % row, timeout=30,
               what="the page to follow sourced back")
    finally:
        b.close()
    # An administrator's Start succeeds: carol may manage sourced.service,
    # by a rule such as a site's own policy would hold.
    host.run("id carol >/dev/null 2>&1 || useradd -m carol")
    host.run("printf 'carol:carol-pw\n' | chpasswd")
    host.write("/etc/polkit-1/rules.d/60-sourced-test-carol.rules",
               'polkit.addRule(function(action, subject) {\n'
               '  if (action.id == "org.freedesktop.systemd1.manage-units" &&\n'
               '      action.lookup("unit") == "sourced.service" && subject.user == "carol")\n'
               '    return polkit.Result.YES;\n'
               '});\n')
    b = cockpit_login("carol", "carol-pw")
    try:
        cockpit_open_page(b, "web")
        host.run("systemctl stop sourced")
        b.wait("document.body.dataset.state === 'down'", what="the page to say sourced is not running")
        b.click("#down-start")
        host.wait("sourced started by carol's click",
                  lambda: host.run("systemctl is-active sourced", check=False).stdout.strip() == "active",
                  timeout=30)
        b.wait("document.body.dataset.state === 'ready' && document.querySelector('%s')" % row, timeout=30,
               what="the page to follow the sourced it started")
        assert b.js("document.getElementById('down-error').hidden"), b.text("#down-error")
    finally:
        b.close()
        host.run("rm -f /etc/polkit-1/rules.d/60-sourced-test-carol.rules")


@scenario
def crash_loop_restarting_with_its_journal():
    """A crash loop under the real unit reads as one: Status restarting;
    sourcectl status shows that source's journal lines only (SOURCE_ID=,
    read with sd-journal), and so does the Cockpit detail view for an
    administrator who may read the journal (group adm)."""
    define("crashy", 'Exec=/bin/sh -c "echo crashy-says-$$ >&2; exit 1"\nRestartSec=1\nMaxFailures=0\n')
    host.run("systemctl reload sourced")
    try:
        host.wait("crashy restarting", lambda: prop("crashy", "Status") == "restarting", timeout=15)
        host.wait("a restart", lambda: prop("crashy", "NRestarts") >= 1, timeout=15)
        assert prop("crashy", "Active") is False
        out = host.out("sourcectl --system status crashy --no-pager -n 5")
        assert "Status: restarting (attempt " in out, out
        lines = out.rstrip("\n").split("\n\n")[-1].splitlines()
        assert 1 <= len(lines) <= 5, out
        assert all("crashy" in line for line in lines), "another source's line: %s" % lines
        assert any("crashy-says-" in line for line in lines), "no worker line: %s" % lines
        host.run("usermod -aG adm alice")
        sys.path.insert(0, os.path.join(SRC, "tests", "browser"))
        b = cockpit_login("alice", "alice-pw")
        try:
            cockpit_open_page(b, "crashy")
            b.click('.rows .row[data-id="crashy"] button.details')
            shown = b.wait("(l => l.length ? l.map(e => e.textContent) : null)"
                           "([...document.querySelectorAll('#detail-journal-lines li')])",
                           timeout=30, what="crashy's journal lines on the page")
            assert all("crashy" in line for line in shown), shown
            b.screenshot(os.path.join(BUILD, "tests", "artifacts", "cockpit", "host-restarting-journal.png"))
        finally:
            b.close()
    finally:
        host.run("rm -f %s/crashy.source && systemctl reload sourced" % DEFS)


@scenario
def ssh_remote_control():
    """sourcectl -H root@HOST reaches sourced over SSH (systemd-stdio-bridge),
    with a Host entry naming a port on 127.0.0.1."""
    tmp = tempfile.mkdtemp(prefix="sourced-ssh-")
    key = os.path.join(tmp, "id_ed25519")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    host.write("/root/.ssh/authorized_keys", open(key + ".pub").read(), mode=0o600)
    os.chmod(os.path.join(host.root, "root/.ssh"), 0o700)
    host.run("systemctl restart ssh.service")
    cfg = os.path.join(tmp, "config")
    with open(cfg, "w") as f:
        f.write("Host sourced-host\n  HostName 127.0.0.1\n  Port 2222\n  IdentityFile %s\n"
                "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n" % key)
    # sd-bus runs "ssh" from PATH: a wrapper hands it this config instead
    # of the invoking user's ~/.ssh/config, which the test must not touch.
    wrapper = os.path.join(tmp, "ssh")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec /usr/bin/ssh -F %s \"$@\"\n" % cfg)
    os.chmod(wrapper, 0o755)
    env = dict(os.environ, PATH=tmp + ":" + os.environ["PATH"])
    sourcectl = os.path.join(BUILD, "cli", "sourcectl")
    r = subprocess.run([sourcectl, "-H", "root@sourced-host", "list"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "ticker" in r.stdout, (r.returncode, r.stdout, r.stderr)
    r = subprocess.run([sourcectl, "-H", "root@sourced-host", "pause", "late"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert prop("late", "Status") == "paused"
    host.run("sourcectl --system unpause late")


@scenario
def thousand_continuous_sources():
    """1,000 running sources under the unit's limits: all run, none is
    paused by the daemon; pause-all and unpause-all; a restart brings them
    all back."""
    for i in range(1000):
        host.write("%s/idle%04d.source" % (DEFS, i), "[Source]\nExec=/bin/sleep 100000\n")
    host.run("systemctl reload sourced.service", timeout=300)

    def census():
        rows = list_json()
        idle = [r for r in rows if r["id"].startswith("idle")]
        running = sum(1 for r in idle if r["status"] == "active" and r.get("main_pid"))
        self_paused = [r["id"] for r in idle if r.get("system_paused_at")]
        return len(idle), running, self_paused

    n, running, self_paused = host.wait("1,000 sources to run", lambda: (lambda c: c if c[1] == 1000 else None)(
        census()), timeout=120, interval=1)
    assert n == 1000 and not self_paused, (n, running, self_paused[:5])
    errors = host.out("journalctl --no-pager -o cat -u sourced.service | grep -c 'Too many open files' || true")
    assert errors == "0", "descriptor errors in the journal: " + errors
    # 300 more while 1,000 run: systemctl reload returns once they run, and
    # sourced answers the bus all along (on the previous main, each spawn
    # copied and closed thousands of descriptors while the loop waited).
    for i in range(1000, 1300):
        host.write("%s/idle%04d.source" % (DEFS, i), "[Source]\nExec=/bin/sleep 100000\n")
    pinger = host.spawn("ping-gaps --system org.sourced.Sourced1 4")
    time.sleep(0.3)
    t0 = time.monotonic()
    host.run("systemctl reload sourced.service", timeout=120)
    took = time.monotonic() - t0
    out, err = pinger.communicate(timeout=60)
    gap = float(out.split()[3])
    print("# reload of 300 sources with 1,000 running: %.2f s; longest Ping gap %.1f ms" % (took, gap))
    assert prop("idle1299", "Status") == "active"
    assert gap < 500, "sourced left the bus unanswered for %.0f ms" % gap
    host.run("rm -f %s/idle1[0-2]??.source && systemctl reload sourced.service" % DEFS, timeout=120)

    host.run("sourcectl --system pause-all")
    assert manager_prop("PausedAt") != 0
    assert prop("idle0500", "Active") is False
    host.run("sourcectl --system unpause-all")
    assert prop("idle0500", "Active") is True
    host.run("systemctl restart sourced.service", timeout=120)
    n, running, self_paused = host.wait("1,000 sources to run after a restart",
                                        lambda: (lambda c: c if c[1] == 1000 else None)(census()),
                                        timeout=120, interval=1)
    assert not self_paused
    host.run("rm -f %s/idle*.source && systemctl reload sourced.service" % DEFS, timeout=120)


@scenario
def security_exposure_of_the_live_unit():
    """systemd-analyze security on the unit as loaded by PID 1."""
    out = host.run("systemd-analyze security --no-pager sourced.service", check=False).stdout
    m = re.search(r"Overall exposure level for sourced.service: ([0-9.]+)", out)
    assert m, out[-2000:]
    level = float(m.group(1))
    print("# exposure level %.1f" % level)
    assert level <= 2.0, out[-3000:]


# ---- Runner -----------------------------------------------------------------

@scenario
def first_install_on_a_running_host():
    """A first install on a running host, with no user "sourced" yet: the
    bus drops the policy's rule for a user it does not know, and sourced
    failed "Cannot own the name …: Permission denied" until the bus was
    reloaded. meson install's own step (tools/meson-post-install.sh) makes
    the user and reloads the bus; then the service starts on its first
    try."""
    policy = "/usr/share/dbus-1/system.d/org.sourced.Sourced1.conf"
    host.run("systemctl stop sourced.service", timeout=90)
    host.run("rm %s && busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig"
             % policy)
    host.run("userdel sourced; groupdel sourced 2>/dev/null; true")
    assert host.run("getent passwd sourced", check=False).returncode != 0
    # The files land (the bus reads them at once, the user unknown yet).
    host.copy_in(os.path.join(SRC, "data", "org.sourced.Sourced1.conf"), policy, 0o644)
    host.run("busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig")
    # The user comes after (a package's postinst, sysusers at the next
    # boot), and the bus keeps the configuration it read without it: the
    # service could not own its name.
    host.run("systemd-sysusers /usr/lib/sysusers.d/sourced.conf")
    r = host.run("systemctl start sourced.service", check=False, timeout=90)
    assert r.returncode != 0, "sourced started with its user unknown to the bus"
    assert "Permission denied" in host.out("journalctl --no-pager -o cat -u sourced.service -n 20")
    host.run("systemctl stop sourced.service; systemctl reset-failed sourced.service 2>/dev/null; true", timeout=90)
    # meson install's last step, as it runs on a live host.
    host.copy_in(os.path.join(SRC, "tools", "meson-post-install.sh"), "/usr/local/sbin/meson-post-install.sh", 0o755)
    out = host.out("/usr/local/sbin/meson-post-install.sh /usr/lib/sysusers.d/sourced.conf")
    assert "creating the system user" in out and "reloading the system bus" in out, out
    before = int(unit("NRestarts")["NRestarts"])
    since = host.out("date +%s.%N")
    host.run("systemctl start sourced.service", timeout=90)
    u = unit("ActiveState", "NRestarts", "Result")
    assert u["ActiveState"] == "active" and int(u["NRestarts"]) == before, u
    log = host.out("journalctl --no-pager -o cat -u sourced.service --since @%s" % since)
    assert "Permission denied" not in log and "Ready:" in log, log
    wait_active("ticker")


def psql(sql, db="warehouse"):
    return host.out("runuser -u postgres -- psql -XAt -d %s -c \"%s\"" % (db, sql))


@scenario
def postgresql_with_a_credential():
    """PostgreSQL installed in the host and started by systemd; sourced,
    under the shipped unit and its sandbox, delivers into it over TCP as a
    role whose password is a systemd credential (LoadCredential= in a
    drop-in, as the README shows), never in the URI, the journal or the
    bus."""
    try:
        host.run("systemctl start postgresql.service", timeout=90)
        host.wait("PostgreSQL to answer",
                  lambda: host.run("runuser -u postgres -- psql -XAtc 'SELECT 1'", check=False).returncode == 0,
                  timeout=60)
        host.run("runuser -u postgres -- psql -Xq -c \"CREATE ROLE loader LOGIN PASSWORD 'pw-from-credential'\" "
                 "-c 'CREATE DATABASE warehouse OWNER loader'")
        host.write("/etc/sourced/pgpass", "localhost:5432:warehouse:loader:pw-from-credential\n", mode=0o600)
        host.write("/etc/systemd/system/sourced.service.d/pgpass.conf",
                   "[Service]\nLoadCredential=pgpass:/etc/sourced/pgpass\n")
        host.run("systemctl daemon-reload && systemctl restart sourced.service", timeout=90)
        define("orders", "Type=exec\n" + TICKER + "Sink=postgresql://loader@localhost/warehouse\nSchema=sales\n")
        host.run("systemctl reload sourced.service", timeout=60)
        host.wait("rows in sales.orders",
                  lambda: int(psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'sales' AND tablename = 'orders'"))
                  and int(psql("SELECT count(*) FROM sales.orders")) >= 5, timeout=60)
        assert psql("SELECT tableowner FROM pg_tables WHERE schemaname = 'sales' AND tablename = 'orders'") == "loader"
        owner = psql("SELECT owner FROM sales.sourced_checkpoints WHERE source_id = 'orders'")
        assert owner == host.out("hostname"), owner
        first = json.loads(psql("SELECT record FROM sales.orders ORDER BY _sdc_sequence LIMIT 1"))
        assert first == {"n": 1}, first
        assert prop("orders", "Sink") == "postgresql://loader@localhost/warehouse"
        assert prop("orders", "Status") == "active"
        status = host.out("sourcectl --system status orders")
        assert "Sink: postgresql://loader@localhost/warehouse (last commit" in status, status
        # Over the Unix socket too (read-only /run under ProtectSystem=strict
        # still connects), as the role named like the service's user: peer
        # authentication, no password at all.
        host.run("runuser -u postgres -- psql -Xq -c 'CREATE ROLE sourced LOGIN' "
                 "-c 'GRANT CREATE ON DATABASE warehouse TO sourced'")
        define("local", "Type=exec\n" + TICKER + "Sink=postgresql:///warehouse?host=/run/postgresql\n")
        host.run("systemctl reload sourced.service", timeout=60)
        host.wait("rows in local.local",
                  lambda: int(psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'local'"))
                  and int(psql("SELECT count(*) FROM local.local")) >= 3, timeout=60)
        assert psql("SELECT tableowner FROM pg_tables WHERE schemaname = 'local' AND tablename = 'local'") == "sourced"
        assert "pw-from-credential" not in journal("_SYSTEMD_UNIT=sourced.service")
        assert "PostgreSQL passwords from the credential /run/credentials/sourced.service/pgpass" in \
            journal("_SYSTEMD_UNIT=sourced.service")
        # Without the credential, the login is refused, and the source says so.
        host.run("rm /etc/systemd/system/sourced.service.d/pgpass.conf && systemctl daemon-reload && "
                 "systemctl restart sourced.service", timeout=90)
        host.wait("orders to report the refused login",
                  lambda: prop("orders", "Status") == "restarting" and "password" in prop("orders", "LastError"),
                  timeout=60)
    finally:
        # The administrator's files go with the sources: the package's purge
        # scenario expects /etc/sourced to hold nothing of theirs.
        host.run("rm -f %s/orders.source %s/local.source /etc/sourced/pgpass "
                 "/etc/systemd/system/sourced.service.d/pgpass.conf && systemctl daemon-reload && "
                 "systemctl restart sourced.service" % (DEFS, DEFS), timeout=90)


def bus_kind():
    """dbus-daemon or dbus-broker: what runs the system bus now."""
    unit_id = host.out("systemctl show -p Id --value dbus.service")
    return "dbus-broker" if unit_id.startswith("dbus-broker") else "dbus-daemon"


def ping_ms():
    """Peer.Ping to sourced over the system bus, in ms (with the cost of
    entering the container), or None without an answer within 1 s."""
    t0 = time.monotonic()
    r = host.run("busctl --timeout=1 call %s %s org.freedesktop.DBus.Peer Ping" % (BUS, MGR), check=False,
                 timeout=30)
    return (time.monotonic() - t0) * 1000 if r.returncode == 0 else None


BULK = 10000


@scenario
def bulk_pause_of_10000_sources():
    """PauseSources over 10,000 sources, as sourcectl sends it for a glob:
    one call, every one paused, and unpaused again."""
    host.run("cd %s && for i in $(seq -w 0 %d); do printf '[Source]\\nExec=/bin/sleep 100000\\n"
             "InitialState=stopped\\n' > bulk$i.source; done" % (DEFS, BULK - 1), timeout=120)
    host.run("systemctl reload sourced.service", timeout=300)
    t0 = time.monotonic()
    host.run("sourcectl --system pause 'bulk*'", timeout=300)
    took = time.monotonic() - t0
    rows = [r for r in list_json() if r["id"].startswith("bulk")]
    assert len(rows) == BULK and all(r["paused_at"] for r in rows), (len(rows), sum(1 for r in rows if r["paused_at"]))
    host.run("sourcectl --system unpause 'bulk*'", timeout=300)
    assert prop("bulk%04d" % (BULK - 1), "PausedAt") == 0
    print("# %s: PauseSources of %d sources %.2f s" % (bus_kind(), BULK, took), flush=True)


@scenario
def stalled_subscriber_then_restart():
    """A client subscribes to sourced's signals and stops reading them
    (sourcectl monitor into a pipe nobody reads) while bulk calls change
    10,000 sources. dbus-daemon stops reading sourced once its undelivered
    signals reach max_incoming_bytes: sourced says so in the journal, and
    `systemctl restart sourced` still succeeds at once (the old process
    exits without waiting for the bus). dbus-broker disconnects the
    subscriber instead, and sourced answers Ping within 1 s throughout."""
    kind = bus_kind()
    since = host.out("date +%s.%N")
    # Not root: on dbus-broker the quota is per user, and root's own calls
    # here must not share it with the stalled subscriber.
    host.run("id bob >/dev/null 2>&1 || useradd -m bob")
    host.run("rm -f /tmp/subscribed")
    sub = host.spawn("sourcectl --system monitor | { head -c 1 > /tmp/subscribed; exec sleep 100001; }", user="bob")

    def subscribed():
        # A change it must see: once it has printed one, it subscribed, and
        # from then on nothing reads what it prints.
        host.run("sourcectl --system pause ticker && sourcectl --system unpause ticker")
        return host.run("test -s /tmp/subscribed", check=False).returncode == 0
    host.wait("the monitor to subscribe", subscribed, timeout=30, interval=0.2)
    stalled_after = gone_after = None
    why = ""
    pings = []
    # dbus-daemon stops reading sourced after about 53 of them (its 127 MiB
    # max_incoming_bytes); dbus-broker gets more than that.
    for i in range(120 if kind == "dbus-daemon" else 70):
        r = host.run("timeout 15 sourcectl --system --no-ask-password %s 'bulk*'" % ("unpause" if i % 2 else "pause"),
                     check=False, timeout=60)
        p = ping_ms()
        if r.returncode != 0 or p is None:
            stalled_after = i + 1
            why = "the bulk call: exit %d %s; Ping: %s" % (r.returncode, r.stderr.strip()[-300:],
                                                          "no answer within 1 s" if p is None else "%.0f ms" % p)
            break
        pings.append(p)
        if gone_after is None and host.run("pgrep -x sourcectl", check=False).returncode != 0:
            gone_after = i + 1
        if gone_after is not None and i + 1 >= gone_after + 5:
            break
    if kind == "dbus-daemon":
        assert stalled_after, "120 bulk calls and the bus still read sourced"
        host.wait("sourced to say the bus stopped reading it",
                  lambda: "The bus has read none of sourced's last" in host.out(
                      "journalctl --no-pager -o cat -u sourced.service --since @%s" % since), timeout=30)
        print("# dbus-daemon: no answer to Ping within 1 s after %d bulk calls on %d sources "
              "(about %d signals held for the subscriber)" % (stalled_after, BULK, stalled_after * BULK), flush=True)
    else:
        assert stalled_after is None, "sourced stopped answering after %d bulk calls on %s (%s); the bus: %s" % (
            stalled_after, kind, why, host.out("journalctl --no-pager -o short-monotonic -n 40 | grep -iE "
                                               "'broker|dbus|oom|quota|killed' || true"))
        assert max(pings) < 1000, pings
        print("# %s: Ping answered in at most %.0f ms through %d bulk calls on %d sources; the subscriber was %s"
              % (kind, max(pings), len(pings), BULK,
                 "disconnected after %d" % gone_after if gone_after else "still connected"), flush=True)
    t0 = time.monotonic()
    if kind == "dbus-daemon":
        # The old process exits at once, but dbus-daemon keeps its
        # connection, and the name, until it has read what is left in the
        # socket, which waits for the subscriber: the new sourced waits in
        # the name's queue, and takes it as soon as the subscriber goes.
        restart = host.spawn("systemctl restart sourced.service")
        host.wait("the new sourced to queue for the name", lambda: "waiting up to 30 s for it" in host.out(
            "journalctl --no-pager -o cat -u sourced.service --since @%s" % since), timeout=40)
        host.run("pkill -x sourcectl; true")
        restart.communicate(timeout=90)
        assert restart.returncode == 0, "systemctl restart failed"
    else:
        host.run("systemctl restart sourced.service", timeout=120)
    took = time.monotonic() - t0
    assert unit("ActiveState")["ActiveState"] == "active"
    stop = [json.loads(line) for line in host.out(
        "journalctl --no-pager -o json -u sourced.service --since @%s MESSAGE='Received a termination request; "
        "stopping workers' + MESSAGE=Stopped" % since).splitlines()]
    stopped_in = (int(stop[-1]["__REALTIME_TIMESTAMP"]) - int(stop[0]["__REALTIME_TIMESTAMP"])) / 1e6
    print("# %s: with the subscriber stalled, the old sourced stopped in %.2f s; systemctl restart took %.1f s%s"
          % (kind, stopped_in, took, " (until the subscriber went)" if kind == "dbus-daemon" else ""), flush=True)
    assert stopped_in < 5, "the old sourced took %.1f s to stop" % stopped_in
    assert took < 30, "restart took %.1f s" % took
    log = host.out("journalctl --no-pager -o cat -u sourced.service --since @%s" % since)
    assert "timed out" not in log and "another sourced" not in log, log[-2000:]
    host.run("pkill -x sourcectl; pkill -f '^sleep 100001$'; true")
    sub.wait(timeout=30)
    host.run("rm -f %s/bulk*.source && systemctl reload sourced.service" % DEFS, timeout=300)
    wait_active("ticker")


@scenario
def reboot_on_dbus_broker():
    """The same root booted again with dbus-broker as the system bus
    (`systemctl enable dbus-broker`, as Fedora, Arch and RHEL run)."""
    host.run("systemctl enable dbus-broker.service")
    host.reboot()
    assert bus_kind() == "dbus-broker", bus_kind()


def on_dbus_broker(fn):
    """Runs scenario @fn again, on dbus-broker."""
    def again():
        assert bus_kind() == "dbus-broker", "the system bus is %s" % bus_kind()
        fn()
    again.__name__ = fn.__name__ + "_on_dbus_broker"
    again.__doc__ = fn.__doc__
    scenarios.append(again)


def sourced_starts_and_answers():
    """systemctl start: the unit runs, owns its name on this bus and
    answers; its sources run."""
    host.run("systemctl start sourced.service", timeout=90)
    assert unit("ActiveState")["ActiveState"] == "active"
    wait_active("ticker")
    assert manager_prop("NSources") >= 3


for _fn in (sourced_starts_and_answers, polkit_root_member_and_stranger, dbus_activation_starts_the_service,
            bulk_pause_of_10000_sources, stalled_subscriber_then_restart, first_install_on_a_running_host):
    on_dbus_broker(_fn)


@scenario
def sourcectl_speaks_german():
    """With LANG=de_DE.UTF-8, sourcectl's messages come from the German
    catalogue the package installed; the exit codes stay."""
    r = host.run("LANG=de_DE.UTF-8 sourcectl status no-such-source", check=False)
    assert r.returncode == 4, (r.returncode, r.stderr)
    assert r.stderr.strip() == "sourcectl: Quelle »no-such-source« nicht gefunden", r.stderr
    r = host.run("LANG=de_DE.UTF-8 sourcectl frobnicate", check=False)
    assert r.returncode == 2 and "unbekannter Befehl »frobnicate«" in r.stderr, (r.returncode, r.stderr)
    r = host.run("LANG=C.UTF-8 sourcectl status no-such-source", check=False)
    assert r.stderr.strip() == "sourcectl: source 'no-such-source' not found", r.stderr


def installed_version():
    return host.out("dpkg-query -W -f '${Version}' sourced")


@scenario
def package_upgrade_remove_purge_reinstall():
    """The package's life on a running host, as apt runs it: an upgrade to a
    rebuilt, higher version restarts sourced with every pause and bookmark
    kept; remove stops it and keeps the state and the definitions; purge
    removes the state (the definitions an administrator wrote stay, and so
    does /etc/sourced that holds them); a reinstall starts clean."""
    v1 = installed_version()
    define("keepme", 'Type=singer\nExec=/bin/sh -c \'echo "{\\"type\\": \\"STATE\\", \\"value\\": '
                     '{\\"cursor\\": 42}}"; exec sleep 100000\'\n')
    define("pauseme", TICKER)
    host.run("systemctl reload sourced.service", timeout=90)
    host.wait("keepme's bookmark", lambda: json.loads(prop("keepme", "Bookmark") or "null") == {"cursor": 42})
    wait_active("pauseme")
    host.run("sourcectl pause pauseme")
    paused_at = prop("pauseme", "PausedAt")
    assert paused_at > 0
    pid = unit("MainPID")["MainPID"]

    host.run("DEBIAN_FRONTEND=noninteractive apt-get install -y -q /var/cache/sourced-debs/v2/sourced_*.deb "
             "/var/cache/sourced-debs/v2/cockpit-sourced_*.deb", timeout=300)
    assert installed_version() == v1 + "+upgrade1", installed_version()
    host.wait("sourced to run again", lambda: unit("ActiveState")["ActiveState"] == "active", timeout=60)
    assert unit("MainPID")["MainPID"] != pid, "the upgrade did not restart sourced"
    assert prop("pauseme", "PausedAt") == paused_at and prop("pauseme", "Status") == "paused"
    assert json.loads(prop("keepme", "Bookmark")) == {"cursor": 42}

    host.run("DEBIAN_FRONTEND=noninteractive apt-get remove -y -q sourced cockpit-sourced", timeout=300)
    assert host.run("systemctl is-active sourced.service", check=False).stdout.strip() != "active"
    host.run("test ! -e /usr/libexec/sourced && test -d /var/lib/sourced && test -f %s/keepme.source" % DEFS)
    assert "deinstall ok config-files" in host.out("dpkg-query -W -f '${Status}' sourced")

    host.run("DEBIAN_FRONTEND=noninteractive apt-get purge -y -q sourced", timeout=300)
    host.run("test ! -e /var/lib/sourced")
    host.run("test -f %s/keepme.source" % DEFS)  # the administrator's file stays
    assert host.run("dpkg-query -W -f '${Status}' sourced", check=False).stdout.strip() in ("", "unknown ok not-installed")

    host.run("DEBIAN_FRONTEND=noninteractive apt-get install -y -q /var/cache/sourced-debs/v2/sourced_*.deb",
             timeout=300)
    host.wait("sourced to run after the reinstall", lambda: unit("ActiveState")["ActiveState"] == "active",
              timeout=60)
    # Clean: the definitions are read afresh, nothing of the old state.
    host.wait("pauseme back", lambda: prop("pauseme", "Status") == "active", timeout=30)
    assert prop("pauseme", "PausedAt") == 0
    host.wait("keepme's tap to run again from no bookmark", lambda: prop("keepme", "Status") == "active")
    # A purge of a package whose folders hold nothing an administrator
    # wrote removes /etc/sourced too.
    host.run("rm -f %s/*.source" % DEFS)
    host.run("DEBIAN_FRONTEND=noninteractive apt-get purge -y -q sourced", timeout=300)
    host.run("test ! -e /etc/sourced && test ! -e /var/lib/sourced")


def main():
    global host, BUILD
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    BUILD = os.path.abspath(sys.argv[1])
    print("1..%d" % len(scenarios), flush=True)
    host = Host(BUILD)
    try:
        t0 = time.monotonic()
        host.prepare()
        host.copy_in(os.path.join(BUILD, "tests", "ping-gaps"), "/usr/local/bin/ping-gaps", 0o755)
        host.boot()
        print("# booted in %.1f s (root copy, install and boot)" % (time.monotonic() - t0), flush=True)
    except (BedError, subprocess.TimeoutExpired, OSError) as e:
        for i, fn in enumerate(scenarios, 1):
            print("not ok %d - %s # the host bed could not start: %s" % (i, fn.__name__, str(e).splitlines()[0]))
        print("# " + str(e).replace("\n", "\n# "))
        host.teardown()
        return 1
    failed = 0
    try:
        only = os.environ.get("SOURCED_HOST_ONLY")  # a regular expression, for working on a few
        for i, fn in enumerate(scenarios, 1):
            if only and not re.search(only, fn.__name__):
                print("ok %d - %s # SKIP not in SOURCED_HOST_ONLY" % (i, fn.__name__), flush=True)
                continue
            t = time.monotonic()
            try:
                fn()
                print("ok %d - %s (%.1f s)" % (i, fn.__name__, time.monotonic() - t), flush=True)
            except Exception as e:  # one scenario's failure is reported, the others go on
                failed += 1
                print("not ok %d - %s" % (i, fn.__name__), flush=True)
                detail = "".join(traceback.format_exception(type(e), e, e.__traceback__)[-3:])
                print("# " + detail.replace("\n", "\n# "), flush=True)
                log = host.run("journalctl --no-pager -o short-monotonic -u sourced.service -n 30", check=False)
                print("# sourced's journal:\n# " + log.stdout.replace("\n", "\n# "), flush=True)
    finally:
        host.teardown()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
