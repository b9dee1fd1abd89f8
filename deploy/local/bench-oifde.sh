#!/usr/bin/env bash
# Two measurements on loopback, each row SECONDS long (default 10):
#  1. the simulator alone, driven by wrk (HTTP and HTTPS, 64 and 256 connections): what it can
#     serve, so that it is known never to be a benchmark's bottleneck;
#  2. the OIFDE client against the simulator over HTTPS (a CA made for the run), at 0 ms and 20 ms
#     added latency, with 64 and 256 concurrent requests.
# Load generator, client and simulator share the machine's cores: figures are for this machine.
#   deploy/local/bench-oifde.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
bash deploy/local/ensure-deps.sh wrk
swift build -c release --product wmg-bench >/dev/null
swift build -c release --product workmode-gateway >/dev/null
work=$(mktemp -d)
sim_pid=
cleanup() { [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
bash deploy/local/make-certs.sh "$work" >/dev/null
port=${WMG_BENCH_SIM_PORT:-18543}
wait_port() { for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null && return; sleep 0.1; done; }

echo "Simulator alone (wrk, one thread; changeWorkMode on 5,000 sessions), ${seconds}s per row"
for scheme in http https; do
  tls_args=()
  [ "$scheme" = https ] && tls_args=(--tls-cert "$work/server.pem" --tls-key "$work/server.key")
  .build/release/workmode-gateway simulate --listen 127.0.0.1:$port "${tls_args[@]}" --tenant bench:bench-secret --auto-sessions >/dev/null &
  sim_pid=$!
  wait_port $port
  token=$(curl -s --cacert "$work/ca.pem" -X POST "$scheme://localhost:$port/oifde/rest/api/gettoken" \
    -d '{"appKey":"bench","appSecret":"bench-secret"}' | sed -n 's/.*"authToken":"\([^"]*\)".*/\1/p')
  cat > "$work/wrk.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  local body = '{"tenantId":"bench","callId":"c' .. (n % 5000) .. '","agentId":"1001","workMode":"' .. ((n % 2) + 1) .. '","authToken":"$token"}'
  return wrk.format(nil, "/oifde/rest/api/flow/changeWorkMode", nil, body)
end
LUA
  for connections in 64 256; do
    rate=$(wrk -t1 -c$connections -d${seconds}s -s "$work/wrk.lua" "$scheme://localhost:$port/" | awk '/Requests\/sec/ {printf "%d", $2}')
    printf 'simulator %-5s connections=%-3s requests/s=%s\n' "$scheme" "$connections" "$rate"
  done
  refused=$(curl -s --cacert "$work/ca.pem" "$scheme://localhost:$port/simulator/requests" | { grep -o '"errorCode":"[1-9][0-9]*"' || true; } | wc -l)
  echo "  (answers other than success in the simulator's log: $refused)"
  kill "$sim_pid"; wait "$sim_pid" 2>/dev/null || true; sim_pid=
done

echo "OIFDE client vs simulator, HTTPS on loopback, ${seconds}s per row"
for latency in 0ms 20ms; do
  .build/release/workmode-gateway simulate --listen 127.0.0.1:$port --tls-cert "$work/server.pem" --tls-key "$work/server.key" \
    --tenant bench:bench-secret --auto-sessions --latency $latency >/dev/null &
  sim_pid=$!
  wait_port $port
  for concurrency in 64 256; do
    printf 'latency=%-5s ' "$latency"
    .build/release/wmg-bench oifde "https://localhost:$port" "$concurrency" "$seconds"
  done
  kill "$sim_pid"; wait "$sim_pid" 2>/dev/null || true; sim_pid=
done
echo "(at 20 ms, Little's law allows concurrency / 0.020 s: 3200/s for 64, 12800/s for 256)"
