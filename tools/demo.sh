#!/bin/bash
# The demo (README): installs what is missing, builds sourced, runs it on the
# embedded default — its own session bus, directories under ./demo-run, the
# example sources from data/examples — and shows it working with busctl.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null

run=$PWD/demo-run
rm -rf "$run"
mkdir -p "$run/config/sources.d" "$run/state"
cp data/examples/*.source "$run/config/sources.d/"

# A private session bus, so the demo needs no desktop session and no root.
eval "$(dbus-daemon --session --fork --print-address=1 --print-pid=1 | {
  read -r addr; read -r pid; echo "export DBUS_SESSION_BUS_ADDRESS='$addr' BUS_PID=$pid"; })"
build/daemon/sourced --session --config-dir="$run/config" --state-dir="$run/state" >"$run/sourced.log" 2>&1 &
daemon=$!
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null; kill $BUS_PID 2>/dev/null' EXIT
for _ in $(seq 50); do
  busctl --user status org.sourced.Sourced1 >/dev/null 2>&1 && break
  sleep 0.1
done

show() { echo; echo "\$ $*"; "$@"; }
M="org.sourced.Sourced1 /org/sourced/Sourced1 org.sourced.Sourced1.Manager"
S="org.sourced.Sourced1 /org/sourced/Sourced1/source/clock org.sourced.Sourced1.Source"
show busctl --user tree org.sourced.Sourced1
show busctl --user call $M ListSources
sleep 2
show busctl --user get-property $S Status MainPID Active RecordsDelivered
# The clock's records, in its file sink.
show tail -n 2 "$run/state/sinks/clock.jsonl"
show busctl --user call $S Pause
show busctl --user get-property $S Status PausedAt
# Paused: sourced stops reading the worker's pipe; the sink does not grow.
before=$(wc -l <"$run/state/sinks/clock.jsonl"); sleep 2
echo; echo "sink lines before and after 2 s of pause: $before $(wc -l <"$run/state/sinks/clock.jsonl")"
# The Stitch example: pause at 2019-06-01T00:00:00Z.
show busctl --user set-property $S PausedAt t 1559347200000000
show busctl --user get-property $S PausedAt
show busctl --user call $S Unpause
show busctl --user call $S Stop
show busctl --user get-property $S Status MainPID
show busctl --user call org.sourced.Sourced1 /org/sourced/Sourced1/source/hourly_2dreport org.sourced.Sourced1.Source RunJob
show busctl --user call $M CreateSource 'sa{sv}' made-at-runtime 2 Exec s "sleep 600" DisplayName s "Made at run time"
# A Singer tap (the test suite's tap-counter): records to its sink, STATE to
# the Bookmark, and a restart resumes from it.
show busctl --user call $M CreateSource 'sa{sv}' counter 2 Type s singer Exec s "$PWD/tests/taps/tap-counter --count 20 --every 5 --interval 0.02"
sleep 1.5
show busctl --user get-property org.sourced.Sourced1 /org/sourced/Sourced1/source/counter org.sourced.Sourced1.Source RecordsDelivered Bookmark
show tail -n 2 "$run/state/sinks/counter.jsonl"
show busctl --user call $M ListSources
# The same through sourcectl, the project's own client.
show build/cli/sourcectl --user list
show build/cli/sourcectl --user status counter --no-pager
show build/cli/sourcectl --user pause clock --at 2019-06-01T00:00:00Z
show build/cli/sourcectl --user list --json
# clock was stopped above: exit status 5, not in a stoppable state.
show build/cli/sourcectl --user stop clock || echo "(exit status $?)"
echo
echo "State kept in $run/state (GKeyFile journal and snapshot):"
ls -l "$run/state"
echo
echo "sourced's log ($run/sourced.log):"
cat "$run/sourced.log"
