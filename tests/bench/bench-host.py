#!/usr/bin/env python3
"""Start-up figures on the booted host (tests/host): systemd starts sourced
with 1,000 continuous sources (/bin/sleep), and, in the same container and
run, a bare posix_spawn loop starts 1,000 /bin/sleep as the same user.

Prints, for each of ROUNDS rounds and as medians:
  - the time until all 1,000 workers run, as a ratio to the bare loop's;
  - the longest gap between Peer.Ping answers from sourced meanwhile, and,
    as the machine's own share of it, the bus driver's longest gap while a
    bare loop starts the same 1,000 processes;
and then starts 10,000 sources and says how many run, how many wait for
descriptors, how many the daemon paused (none, it must be), and how many
descriptors a running source costs.

  python3 tests/bench/bench-host.py BUILD_DIR [ROUNDS]   (as root; BUILD_DIR
  configured with --prefix=/usr)
"""

import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "host"))
from hostbed import Host  # noqa: E402

DEFS = "/etc/sourced/sources.d"

SPAWN_LOOP = r"""
import os, signal, sys, time
n = int(sys.argv[1])
t0 = time.monotonic()
pids = [os.posix_spawn("/bin/sleep", ["sleep", "100000"], os.environ) for _ in range(n)]
t1 = time.monotonic()
for p in pids:
    os.kill(p, signal.SIGKILL)
for p in pids:
    os.waitpid(p, 0)
print("%.4f" % (t1 - t0))
"""


def status(host):
    return host.out("systemctl show -p StatusText --value sourced.service")


def wait_launched(host, n, since):
    while not status(host).startswith("Supervising %d sources" % n):
        if time.monotonic() - since > 600:
            raise SystemExit("sourced did not launch %d workers in 600 s: %s" % (n, status(host)))
        time.sleep(0.1)


def start_and_time(host, n):
    """systemctl start (it returns at READY=1), then sourced's own account of
    the launches ("Launched N sources in X s", logged when the queue runs
    dry): the time until every worker runs, with no other load."""
    host.run("journalctl --rotate --vacuum-time=1s >/dev/null 2>&1 || true")
    cursor = host.out("journalctl -n 0 --show-cursor -q | sed -n 's/^-- cursor: //p'")
    t0 = time.monotonic()
    host.run("systemctl start sourced.service", timeout=120)
    ready = time.monotonic() - t0
    wait_launched(host, n, t0)
    log = host.out("journalctl -u sourced.service -o cat --after-cursor='%s'" % cursor)
    launched = [l for l in log.splitlines() if l.startswith("Launched %d sources in" % n)]
    if not launched:
        raise SystemExit("no 'Launched' line in the journal:\n" + log[-2000:])
    launch = float(launched[-1].split()[4])
    return ready + launch, ready, launch


def start_and_ping(host, n, seconds):
    """Another start, with a client pinging sourced back to back meanwhile:
    the longest time sourced left it without an answer."""
    t0 = time.monotonic()
    host.run("systemctl start sourced.service", timeout=120)
    pinger = host.spawn("ping-gaps --system org.sourced.Sourced1 %.1f" % seconds)
    wait_launched(host, n, t0)
    out, _ = pinger.communicate(timeout=seconds + 30)
    f = out.split()
    return float(f[3]), int(f[1])


def bare_loop_and_driver_gap(host, n, seconds):
    """The reference for the gap: the bus driver pinged back to back while a
    bare posix_spawn loop starts the same 1,000 processes, with no sourced
    running. Its longest gap is what the machine alone imposes on any
    answer while that many processes start on its cores (the driver is
    asked GetId: the system bus refuses Peer.Ping to it)."""
    pinger = host.spawn("ping-gaps --system org.freedesktop.DBus %.1f" % seconds)
    time.sleep(0.05)  # connected and pinging before the first spawn
    bare = float(host.out("setpriv --reuid sourced --regid sourced --clear-groups "
                          "python3 /usr/local/lib/spawn-loop.py %d" % n, timeout=120))
    out, _ = pinger.communicate(timeout=seconds + 30)
    return bare, float(out.split()[3])


def main():
    build = os.path.abspath(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    host = Host(build, name="sourced-bench")
    host.prepare()
    host.copy_in(os.path.join(build, "tests", "ping-gaps"), "/usr/local/bin/ping-gaps", 0o755)
    host.boot()
    try:
        for i in range(1000):
            host.write("%s/idle%05d.source" % (DEFS, i), "[Source]\nExec=/bin/sleep 100000\n")
        host.write("/usr/local/lib/spawn-loop.py", SPAWN_LOOP)
        host.run("systemd-sysusers")  # the user exists before the first start
        ratios, launch_ratios, gaps, driver_gaps = [], [], [], []
        for r in range(rounds):
            bare = float(host.out("setpriv --reuid sourced --regid sourced --clear-groups "
                                  "python3 /usr/local/lib/spawn-loop.py 1000", timeout=120))
            _, driver_gap = bare_loop_and_driver_gap(host, 1000, 3.0)
            total, ready, launch = start_and_time(host, 1000)
            host.run("systemctl stop sourced.service", timeout=120)
            gap, answers = start_and_ping(host, 1000, 3.0)
            host.run("systemctl stop sourced.service", timeout=120)
            ratios.append(total / bare)
            launch_ratios.append(launch / bare)
            gaps.append(gap)
            driver_gaps.append(driver_gap)
            print("round %d: bare posix_spawn loop %.2f s (%.2f ms a process); systemctl start returned (READY=1) "
                  "after %.2f s, all 1,000 running after %.2f s: ratio %.2f (the launches alone, READY to the "
                  "last: %.2f s, ratio %.2f); in another start, longest Ping gap %.1f ms (%d answers in 3 s); "
                  "the bus driver's longest gap during a bare loop %.1f ms"
                  % (r + 1, bare, bare, ready, total, total / bare, launch, launch / bare, gap, answers, driver_gap),
                  flush=True)
        print("median of %d: start ratio %.2f from systemctl start, %.2f for the launches alone (target <= 1.5); "
              "longest Ping gap %.1f ms (target < 50), the bus driver's during a bare loop %.1f ms"
              % (rounds, statistics.median(ratios), statistics.median(launch_ratios), statistics.median(gaps),
                 statistics.median(driver_gaps)),
              flush=True)

        # 10,000: what runs, what waits, what it costs.
        for i in range(1000, 10000):
            host.write("%s/idle%05d.source" % (DEFS, i), "[Source]\nExec=/bin/sleep 100000\n")
        t0 = time.monotonic()
        host.run("systemctl start sourced.service", timeout=300)
        while not status(host).startswith("Supervising 10000 sources"):
            if time.monotonic() - t0 > 600:
                break
            time.sleep(0.2)
        took = time.monotonic() - t0
        rows = json.loads(host.out("sourcectl --system list --json", timeout=600))
        running = sum(1 for x in rows if x["status"] == "active" and x["main_pid"])
        waiting = sum(1 for x in rows if x["status"] == "starting")
        paused = sum(1 for x in rows if x["system_paused_at"] or x["paused_at"])
        pid = host.out("systemctl show -p MainPID --value sourced.service")
        fds = int(host.out("ls /proc/%s/fd | wc -l" % pid))
        limit = host.out("grep 'open files' /proc/%s/limits" % pid).split()[3]
        tasks = host.out("systemctl show -p TasksCurrent --value sourced.service")
        print("10,000 sources: %d running, %d waiting for descriptors, %d paused by the daemon, after %.1f s; "
              "sourced holds %d descriptors (limit %s): %.2f a running source; %s tasks"
              % (running, waiting, paused, took, fds, limit, fds / max(running, 1), tasks), flush=True)
    finally:
        host.teardown()


if __name__ == "__main__":
    main()
