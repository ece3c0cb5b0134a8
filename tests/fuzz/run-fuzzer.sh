#!/bin/sh
# Runs one libFuzzer target for a bounded time (SOURCED_FUZZ_SECONDS,
# default 20) from its seed corpus; new inputs go to a scratch directory,
# crashes to the build directory. Exit status: the fuzzer's (0 = no crash).
set -eu
fuzzer=$1 corpus=$2
seconds=${SOURCED_FUZZ_SECONDS:-20}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$(dirname "$fuzzer")/$(basename "$fuzzer")-" -print_final_stats=1 "$scratch" "$corpus"
