#!/usr/bin/env bash
# The OIFDE client against the simulator over loopback HTTPS (a CA made for the run), at 0 ms and
# 20 ms added latency, with 64 and 256 concurrent requests. Each row runs SECONDS (default 10).
#   deploy/local/bench-oifde.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
bash deploy/local/ensure-deps.sh
swift build -c release --product wmg-bench >/dev/null
swift build -c release --product workmode-gateway >/dev/null
work=$(mktemp -d)
sim_pid=
cleanup() { [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
bash deploy/local/make-certs.sh "$work" >/dev/null
port=${WMG_BENCH_SIM_PORT:-18543}
echo "OIFDE client vs simulator, HTTPS on loopback, ${seconds}s per row"
for latency in 0ms 20ms; do
  .build/release/workmode-gateway simulate --listen 127.0.0.1:$port --tls-cert "$work/server.pem" --tls-key "$work/server.key" \
    --tenant bench:bench-secret --auto-sessions --latency $latency >/dev/null &
  sim_pid=$!
  for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  for concurrency in 64 256; do
    printf 'latency=%-5s ' "$latency"
    .build/release/wmg-bench oifde "https://localhost:$port" "$concurrency" "$seconds"
  done
  kill "$sim_pid"; wait "$sim_pid" 2>/dev/null || true; sim_pid=
done
echo "(at 20 ms, Little's law allows concurrency / 0.020 s: 3200/s for 64, 12800/s for 256)"
