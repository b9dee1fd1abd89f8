#!/usr/bin/env bash
# Finds flaky tests: runs the suite (or a filter of it) N times while K processes keep cores busy,
# and prints each test's pass count. Uses the test broker on WMG_BROKER_PORT (5673), starting it
# when it is not running (and stopping it afterwards only then). Builds first.
#
#   deploy/local/flake-finder.sh [-n RUNS] [-k BUSY_CORES] [FILTER]
#   deploy/local/flake-finder.sh -n 10 -k 1 ConsoleBrowserTests
#
# Prints "PASSES/RUNS  TEST" for every test seen, flaky ones first, and exits 1 when any test
# failed in any run. Each run's full output is kept in $WMG_FLAKE_DIR (default a temporary folder).
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/local/lib/repeat-options.sh
parse_repeat_options "flake-finder.sh [-n RUNS] [-k BUSY_CORES] [FILTER]" 10 "$@"
shift "$shifted"
filter=${1:-}
out=${WMG_FLAKE_DIR:-$(mktemp -d)}
mkdir -p "$out"

export WMG_BROKER_PORT=${WMG_BROKER_PORT:-5673}
started_broker=
spinners=()
finish() {
  for pid in "${spinners[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -n "$started_broker" ] && bash deploy/local/broker.sh stop >/dev/null 2>&1 || true
}
trap finish EXIT
if ! bash deploy/local/broker.sh status >/dev/null 2>&1; then
  bash deploy/local/broker.sh start
  started_broker=1
fi
export WMG_TEST_AMQP_URL=${WMG_TEST_AMQP_URL:-$(bash deploy/local/broker.sh url)}
export WMG_TEST_RABBITMQ_NODE=${WMG_TEST_RABBITMQ_NODE:-$(bash deploy/local/broker.sh node)}
swift build --build-tests >/dev/null

for _ in $(seq "$busy"); do
  # A busy core: another process's work the tests share the machine with.
  (while :; do :; done) &
  spinners+=($!)
done
echo "flake-finder: $runs runs of ${filter:-every test} with $busy busy cores; output in $out" >&2
for run in $(seq "$runs"); do
  started=$(date +%s)
  if swift test --skip-build ${filter:+--filter "$filter"} >"$out/run-$run.log" 2>&1; then verdict=passed; else verdict=FAILED; fi
  echo "flake-finder: run $run $verdict in $(($(date +%s) - started)) s" >&2
done
# Swift Testing's lines: "◇ Test name() started.", "✔ Test name() passed after…", "✘ Test name()
# failed after…" (XCTest's "Test Case '…' passed" too). A run whose summary says it passed counts
# every test it started as passed: one run's log once lacked 55 result lines of quick tests that
# had started, in a run that passed all 380. In a run that did not pass, a test that started and
# has no result line counts as failed ("no result": a hang cut by its time limit, or a lost line).
# This invocation's runs only: a reused $WMG_FLAKE_DIR may hold more from an earlier one.
python3 - "$runs" "$out" <<'EOF'
import re, sys
runs, out = int(sys.argv[1]), sys.argv[2]
passed, failed, unresolved = {}, {}, {}
for run in range(1, runs + 1):
    started, results = set(), {}
    run_passed = False
    with open(f"{out}/run-{run}.log", errors="replace") as log:
        for line in log:
            if re.match(r"^✔ Test run with .* passed after", line):
                run_passed = True
                continue
            # Not a parameterized test's "Test case passing N arguments …" lines: its own counts.
            m = re.match(r"^◇ Test (?!case passing )(.+?) started\.", line)
            if m and m.group(1) != "run":
                started.add(m.group(1))
                continue
            m = re.match(r"^[✔✘] Test (.+?) (passed|failed) after", line)
            if m and not m.group(1).startswith("run with"):
                name = m.group(1)
                # A parameterized test prints "name() with N test cases passed".
                name = re.sub(r" with \d+ test cases?$", "", name)
                results[name] = "failed" if m.group(2) == "failed" or results.get(name) == "failed" else "passed"
                continue
            m = re.match(r"^Test Case .*?\.(\w+)\x27 (passed|failed)", line)
            if m:
                results[m.group(1)] = m.group(2)
    for name in started | set(results):
        outcome = results.get(name) or ("passed" if run_passed else "no result")
        table = {"passed": passed, "failed": failed, "no result": unresolved}[outcome]
        table[name] = table.get(name, 0) + 1
names = sorted(set(passed) | set(failed) | set(unresolved), key=lambda n: (passed.get(n, 0), n))
for name in names:
    note = f"  (no result in {unresolved[name]})" if name in unresolved else ""
    print(f"{passed.get(name, 0):3d}/{runs}  {name}{note}")
bad = [n for n in names if passed.get(n, 0) < runs]
print(f"{len(names) - len(bad)} of {len(names)} tests passed every run", file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
