"""What the browser and desktop tests run against: a private dbus-daemon
with the system bus's limits standing in for the system bus, the real
sourced on it, and helpers to look at it with busctl. Used by
test-cockpit.py and test-gnome-shell.py."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path={sock}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow send_destination="*"/><allow receive_sender="*"/>
<allow own="*"/></policy>
<limit name="max_message_size">33554432</limit>
<limit name="max_incoming_bytes">133169152</limit>
</busconfig>
"""

NAME = "org.sourced.Sourced1"
MANAGER_PATH = "/org/sourced/Sourced1"
MANAGER = NAME + ".Manager"
SOURCE = NAME + ".Source"


def wait_for(what, cond, timeout=20.0, interval=0.05):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = cond()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %g s waiting for %s (last: %r)" % (timeout, what, last))
        time.sleep(interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bed:
    def __init__(self, prefix="sourced-browser-"):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.bus = None
        self.sourced = None
        self.address = None
        self.config_dir = os.path.join(self.dir, "config")
        self.state_dir = os.path.join(self.dir, "state")
        os.makedirs(os.path.join(self.config_dir, "sources.d"))
        self.log_path = os.path.join(self.dir, "sourced.log")

    def start_bus(self, uid=None):
        conf = os.path.join(self.dir, "bus.conf")
        sock = os.path.join(self.dir, "bus")
        with open(conf, "w") as f:
            f.write(BUS_CONF.format(sock=sock))
        self.bus = subprocess.Popen(["dbus-daemon", "--nofork", "--print-address=1", "--config-file=" + conf],
                                    stdout=subprocess.PIPE, text=True)
        # It prints its address once it listens.
        self.address = self.bus.stdout.readline().strip()
        if not self.address:
            raise AssertionError("dbus-daemon did not start")
        return self.address

    def define(self, name, text):
        with open(os.path.join(self.config_dir, "sources.d", name + ".source"), "w") as f:
            f.write("[Source]\n" + text)

    def start_sourced(self, *extra):
        binary = os.environ["SOURCED_BINARY"]
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)
        log = open(self.log_path, "a")
        self.sourced = subprocess.Popen([binary, "--system", "--config-dir=" + self.config_dir,
                                         "--state-dir=" + self.state_dir] + list(extra),
                                        env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_for("sourced on the bus", lambda: self.busctl("status", NAME, check=False).returncode == 0
                 or self.sourced.poll() is not None, timeout=60)
        if self.sourced.poll() is not None:
            raise AssertionError("sourced exited with %d: %s" % (self.sourced.returncode, self.log_tail()))

    def stop_sourced(self):
        if self.sourced and self.sourced.poll() is None:
            self.sourced.send_signal(signal.SIGTERM)
            self.sourced.wait(timeout=30)
        self.sourced = None

    def log_tail(self, n=20):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def busctl(self, *args, check=True):
        r = subprocess.run(["busctl", "--address=" + self.address] + list(args),
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError("busctl %s: %s" % (" ".join(args), r.stderr.strip()))
        return r

    def source_path(self, sid):
        r = self.busctl("call", NAME, MANAGER_PATH, MANAGER, "GetSource", "s", sid)
        return r.stdout.split()[1].strip('"')

    def prop(self, sid, name):
        r = self.busctl("get-property", NAME, self.source_path(sid), SOURCE, name)
        kind, value = r.stdout.strip().split(" ", 1)
        return value.strip('"') if kind == "s" else int(value) if kind in "tuix" else value == "true"

    def manager_prop(self, name):
        r = self.busctl("get-property", NAME, MANAGER_PATH, MANAGER, name)
        return r.stdout.strip().split(" ", 1)[1].strip('"')

    def call(self, path_or_id, method, *args, iface=SOURCE):
        path = path_or_id if path_or_id.startswith("/") else self.source_path(path_or_id)
        return self.busctl("call", NAME, path, iface, method, *args)

    def has_source(self, sid):
        return self.busctl("call", NAME, MANAGER_PATH, MANAGER, "GetSource", "s", sid, check=False).returncode == 0

    def reset(self, wanted, *sourced_args, keep_others=True):
        """Puts the bed back in a known state before a case, so that one
        failure shows as one failure, not as a chain: sourced running, the
        Manager's gate open, and each source of @wanted ({id: running})
        unpaused and started or stopped as given. Sources made with
        CreateSource that are not in @wanted are removed, unless
        @keep_others."""
        if not self.sourced or self.sourced.poll() is not None:
            self.start_sourced(*sourced_args)
        self.busctl("call", NAME, MANAGER_PATH, MANAGER, "Unpause")
        if not keep_others:
            out = self.busctl("--json=short", "call", NAME, MANAGER_PATH, MANAGER, "ListSources").stdout
            for sid, _, _, _ in json.loads(out)["data"][0]:
                if sid not in wanted:
                    # A file-defined one answers NotSupported: it stays.
                    self.busctl("call", NAME, MANAGER_PATH, MANAGER, "RemoveSource", "s", sid, check=False)
        for sid, running in wanted.items():
            self.call(sid, "Unpause")
            status = self.prop(sid, "Status")
            if running and status not in ("active", "paused"):
                self.call(sid, "Start")
            elif not running and status != "stopped":
                self.call(sid, "Stop")

    def close(self):
        self.stop_sourced()
        if self.bus and self.bus.poll() is None:
            self.bus.terminate()
            self.bus.wait(timeout=10)


class Tap:
    """TAP output: one line per case, a failure names what was expected."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def case(self, name, fn, *args):
        self.n += 1
        try:
            fn(*args)
            print("ok %d - %s" % (self.n, name), flush=True)
        except Exception as e:  # report every failure the same way
            self.failed += 1
            print("not ok %d - %s" % (self.n, name), flush=True)
            for line in ("%s: %s" % (type(e).__name__, e)).splitlines():
                print("# " + line, flush=True)

    def run(self, names, fns, arg, before=None):
        """Runs each case with @arg, after @before(@arg) (a reset to a
        known state, part of the case); the names and the functions are
        listed apart (the names first, for a bed that cannot start), so a
        list one item short must fail, not silently drop a case."""
        if len(names) != len(fns):
            raise AssertionError("%d case names for %d functions" % (len(names), len(fns)))
        for name, fn in zip(names, fns):
            self.case(name, lambda a: (before and before(a), fn(a)), arg)

    def skip_rest(self, names, reason):
        for name in names:
            self.n += 1
            self.failed += 1
            print("not ok %d - %s" % (self.n, name), flush=True)
            print("# " + reason, flush=True)

    def done(self):
        print("1..%d" % self.n, flush=True)
        sys.exit(1 if self.failed else 0)
