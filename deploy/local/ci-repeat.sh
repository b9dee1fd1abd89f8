#!/usr/bin/env bash
# Runs the test command (.ci/run) from fresh clones of COMMIT, RUNS times in a row, while BUSY
# processes keep cores busy, and stops at the first red run: the "N runs in a row on a loaded
# machine" evidence. Each clone builds from nothing, as CI does; the brokers take ports 5700 and
# 5701 (WMG_BROKER_PORT, WMG_BROKER4_PORT), so a test broker on 5673 may stay up.
#
#   deploy/local/ci-repeat.sh [-n RUNS] [-k BUSY_CORES] [COMMIT]     # defaults: 5, 1, HEAD
#
# Prints one line per run ("run 2 commit 47f0e46 exit 0 after 790 s"); each run's whole output is
# kept in $WMG_CI_REPEAT_DIR (default a temporary folder). Exits with the first red run's status.
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/local/lib/repeat-options.sh
parse_repeat_options "ci-repeat.sh [-n RUNS] [-k BUSY_CORES] [COMMIT]" 5 "$@"
shift "$shifted"
commit=$(git rev-parse --short "${1:-HEAD}")
out=${WMG_CI_REPEAT_DIR:-$(mktemp -d)}
clone=$(mktemp -d)
mkdir -p "$out"
spinners=()
finish() {
  for pid in "${spinners[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$clone"
}
trap finish EXIT
for _ in $(seq "$busy"); do
  (while :; do :; done) &
  spinners+=($!)
done
echo "ci-repeat: $runs runs of .ci/run at $commit with $busy busy cores; output in $out" >&2
for run in $(seq "$runs"); do
  rm -rf "$clone/repo"
  git clone -q . "$clone/repo"
  git -C "$clone/repo" checkout -q "$commit"
  started=$(date +%s)
  status=0
  (cd "$clone/repo" && WMG_BROKER_PORT=${WMG_BROKER_PORT:-5700} WMG_BROKER4_PORT=${WMG_BROKER4_PORT:-5701} bash .ci/run) \
    >"$out/run-$run.log" 2>&1 || status=$?
  echo "run $run commit $commit exit $status after $(($(date +%s) - started)) s"
  [ "$status" -eq 0 ] || exit "$status"
done
