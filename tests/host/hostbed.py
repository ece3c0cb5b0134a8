"""A booted Debian 12 for sourced's host tests: systemd as PID 1, the system
bus with the shipped policy, a real polkitd and journald, under
systemd-nspawn. The root is cached (mkroot.sh); each run works on a copy,
with sourced installed into it as an administrator installs it: the Debian
packages built from this tree (tools/build-debs.sh), put in with
`apt-get install ./….deb`; and tears the container down whatever
happens."""

import atexit
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class BedError(Exception):
    """The bed could not be set up: the whole suite fails, saying why."""


def sh(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, **kw)


class Host:
    def __init__(self, build_dir, name="sourced-host"):
        self.build_dir = build_dir
        self.name = "%s-%d" % (name, os.getpid())
        self.work = None
        self.root = None
        self.nspawn = None
        self.leader = None
        self.log_path = None

    # ---- Setting up -----------------------------------------------------

    def prepare(self):
        r = sh(["bash", os.path.join(HERE, "mkroot.sh")])
        if r.returncode != 0:
            raise BedError("cannot build the Debian root: " + (r.stderr.strip() or r.stdout.strip()))
        cached = r.stdout.strip().splitlines()[-1]
        self.work = tempfile.mkdtemp(prefix="sourced-host-", dir="/var/tmp")
        atexit.register(self.teardown)
        self.root = os.path.join(self.work, "root")
        r = sh(["cp", "-a", "--reflink=auto", cached, self.root])
        if r.returncode != 0:
            raise BedError("cannot copy the cached root: " + r.stderr.strip())
        self.build_packages()
        # Installed before the first boot, as on a machine being set up: the
        # postinst makes the user and enables the unit; systemd starts it
        # at boot.
        r = sh(["chroot", self.root, "/bin/sh", "-c",
                "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
                "/var/cache/sourced-debs/v1/sourced_*.deb /var/cache/sourced-debs/v1/cockpit-sourced_*.deb"])
        if r.returncode != 0:
            raise BedError("apt-get install of the packages failed: " + (r.stdout + r.stderr).strip()[-2000:])
        if not os.path.exists(os.path.join(self.root, "lib/systemd/system/sourced.service")):
            raise BedError("the sourced package installs no unit under /lib/systemd/system")
        self.log_path = os.path.join(self.work, "console.log")

    def build_packages(self):
        """The packages of this tree (v1), and the same rebuilt with a
        higher version (v2, for the upgrade), under
        /var/cache/sourced-debs in the root; lintian's report beside v1."""
        src = os.path.dirname(os.path.dirname(HERE))
        v1 = os.path.join(self.root, "var/cache/sourced-debs/v1")
        r = sh(["bash", os.path.join(src, "tools", "build-debs.sh"), v1], timeout=900)
        if r.returncode != 0:
            raise BedError("the packages do not build: " + (r.stdout + r.stderr).strip()[-2000:])
        self.lintian = open(os.path.join(v1, "lintian.txt")).read()
        # v2: each package rebuilt with its version bumped, as a new upload
        # of the same source would be (dpkg-deb, not a second compile).
        v2 = os.path.join(self.root, "var/cache/sourced-debs/v2")
        os.makedirs(v2)
        for deb in sorted(os.listdir(v1)):
            if not deb.endswith(".deb") or "dbgsym" in deb:
                continue
            tree = os.path.join(self.work, "repack")
            shutil.rmtree(tree, ignore_errors=True)
            r = sh(["dpkg-deb", "-R", os.path.join(v1, deb), tree])
            if r.returncode != 0:
                raise BedError("dpkg-deb -R %s: %s" % (deb, r.stderr))
            control = os.path.join(tree, "DEBIAN", "control")
            with open(control) as f:
                text = f.read()
            text = re.sub(r"^Version: (.*)$", r"Version: \1+upgrade1", text, flags=re.M)
            text = re.sub(r"\bsourced \(>= ([^)]+)\)", r"sourced (>= \1+upgrade1)", text)
            with open(control, "w") as f:
                f.write(text)
            r = sh(["dpkg-deb", "--root-owner-group", "-b", tree, v2])
            if r.returncode != 0:
                raise BedError("dpkg-deb -b %s: %s" % (deb, r.stderr))
            shutil.rmtree(tree, ignore_errors=True)

    def copy_in(self, src, dest, mode=None):
        target = os.path.join(self.root, dest.lstrip("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy(src, target)
        if mode is not None:
            os.chmod(target, mode)

    def write(self, dest, text, mode=0o644):
        """Writes a file inside the container (through the host's view of
        its root, which is the same file system)."""
        target = os.path.join(self.root, dest.lstrip("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w") as f:
            f.write(text)
        os.chmod(target, mode)

    def put(self, dest, text, mode="0644"):
        """Writes a file from inside the running container: for paths on
        its own mounts (/run, /tmp), which the host's view does not see."""
        self.run("mkdir -p \"$(dirname %s)\" && cat > %s && chmod %s %s" % (dest, dest, mode, dest), input=text)

    def boot(self, timeout=90):
        log = open(self.log_path, "w")
        self.nspawn = subprocess.Popen(
            ["systemd-nspawn", "--boot", "--register=no", "--keep-unit", "--quiet",
             "--machine", self.name, "--console=pipe", "-D", self.root],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while self.leader is None:
            if self.nspawn.poll() is not None:
                raise BedError("systemd-nspawn exited with %d: %s" % (self.nspawn.returncode, self.console_tail()))
            if time.monotonic() > deadline:
                raise BedError("the container did not start: " + self.console_tail())
            self.leader = self._find_leader()
            time.sleep(0.05)
        # PID 1 answers once its private socket exists; then wait for boot.
        while True:
            r = self.run("systemctl is-system-running --wait", timeout=max(1, deadline - time.monotonic()),
                         check=False)
            state = r.stdout.strip()
            if state in ("running", "degraded"):
                break
            if time.monotonic() > deadline:
                raise BedError("boot did not finish (%s): %s" % (state, self.console_tail()))
            time.sleep(0.2)
        if state == "degraded":
            failed = self.run("systemctl --failed --no-legend --plain", check=False).stdout.strip()
            print("# booted degraded; failed units: %s" % failed.replace("\n", "; "), flush=True)

    def reboot(self, timeout=90):
        """Halts the container and boots the same root again (what is on
        its disk stays; a changed unit or alias takes effect)."""
        self.halt()
        self.boot(timeout)

    def _find_leader(self):
        ppid = str(self.nspawn.pid)
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == ppid:
                try:
                    if os.readlink("/proc/%s/ns/pid" % pid) != os.readlink("/proc/self/ns/pid"):
                        return int(pid)
                except OSError:
                    continue
        return None

    def console_tail(self, n=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    # ---- Running things inside -----------------------------------------

    def argv(self, cmd, user=None):
        """`cmd` (a shell command line) inside the container, as root or as
        @user (with that user's groups)."""
        env = ["env", "-i", "PATH=" + PATH, "LANG=C.UTF-8", "TERM=dumb"]
        if user and user != "root":
            env += ["HOME=/home/" + user, "USER=" + user]
            pre = ["setpriv", "--reuid", user, "--regid", user, "--init-groups", "--"]
        else:
            env += ["HOME=/root", "USER=root"]
            pre = []
        return ["nsenter", "-t", str(self.leader), "-m", "-u", "-i", "-n", "-p", "-C", "--"] + pre + env + [
            "/bin/sh", "-c", cmd]

    def run(self, cmd, user=None, check=True, timeout=60, input=None):
        r = subprocess.run(self.argv(cmd, user), capture_output=True, text=True, timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise AssertionError("`%s`%s exited with %d:\n%s%s" % (cmd, " as " + user if user else "",
                                                                 r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
        return r

    def spawn(self, cmd, user=None):
        """Starts `cmd` inside and returns the Popen (stdout piped)."""
        return subprocess.Popen(self.argv(cmd, user), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def out(self, cmd, user=None, timeout=60):
        return self.run(cmd, user=user, timeout=timeout).stdout.strip()

    def wait(self, what, cond, timeout=30.0, interval=0.1):
        """Polls @cond until it is true; fails naming @what."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                last = cond()
                if last:
                    return last
            except AssertionError as e:
                last = e
            if time.monotonic() > deadline:
                raise AssertionError("timed out after %.0f s waiting for %s (last: %s)" % (timeout, what, last))
            time.sleep(interval)

    # ---- Tearing down ---------------------------------------------------

    def halt(self):
        if self.nspawn and self.nspawn.poll() is None:
            # SIGTERM asks PID 1 for a clean halt; a second one, or SIGKILL,
            # ends it at once.
            self.nspawn.send_signal(signal.SIGTERM)
            try:
                self.nspawn.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.nspawn.pid, signal.SIGKILL)
                self.nspawn.wait(timeout=15)
        self.nspawn = None
        self.leader = None

    def teardown(self):
        self.halt()
        if self.work and os.path.isdir(self.work):
            keep = os.environ.get("SOURCED_HOST_KEEP")
            if keep:
                print("# kept %s" % self.work, flush=True)
            else:
                shutil.rmtree(self.work, ignore_errors=True)
        self.work = None
