#!/usr/bin/env bash
# The end-to-end benchmark: broker, OIFDE simulator (--auto-sessions) and the gateway (release
# build) on this machine. A driver (wmg-bench e2e) publishes commands as fast as the broker
# confirms and times each result event: commands/s, end-to-end latency (publish to result event),
# the gateway's added latency (minus the simulator's configured latency), and the gateway's peak
# RSS and CPU. In the same run, the ceiling: a plain C loop against librabbitmq doing the broker
# work of one command (consume with the same prefetch, publish one result with the same confirm
# window, ack after the confirm), driven and timed by the same driver.
#
#   deploy/local/bench.sh [COUNT]            rows at 0 ms and 50 ms simulator latency, maxInFlight
#                                            64 and 512; COUNT commands per row (default 200000;
#                                            the 50 ms rows use at most 50000: they are bounded by
#                                            Little's law, not by the machine)
#   deploy/local/bench.sh row LATENCY_MS MAX_IN_FLIGHT [COUNT] [RATE]
#                                            one gateway row only (for profiling), JSON printed
#   deploy/local/bench.sh ceiling [COUNT]   the C ceiling row only
#   deploy/local/bench.sh replicas [COUNT] [MAX_IN_FLIGHT]
#                                            partitions (4) at 50 ms simulator latency, maxInFlight
#                                            per replica (default 32): one replica, then two
#                                            (target: two >= 1.8x one); COUNT commands per row
#                                            (default 20000). Everything shares this machine's
#                                            cores: the machine's CPU use is printed beside it
#   deploy/local/bench.sh rollout [COUNT] [MAX_IN_FLIGHT]
#                                            as replicas, but the two-replica row runs after a
#                                            rolling restart as a StatefulSet does it (replica 1
#                                            stopped and started 2 s later, 8 s later replica 0,
#                                            15 s more; WMG_BENCH_RESTART_GAP=0 restarts at once):
#                                            the returned owners must have their partitions back
#                                            (target: two >= 1.8x one)
#   deploy/local/bench.sh mixed [COUNT]      live before batch: live commands at 20/s on an idle
#                                            gateway, a COUNT-command batch (default 100000) alone,
#                                            then the batch again with live commands at 20/s beside
#                                            it (targets: live p99 < 2x idle p99; batch throughput
#                                            >= 80% of the batch alone)
#   deploy/local/bench.sh outage [COUNT]     COUNT commands (default 2000) into a 60 s OIFDE outage
#                                            (the simulator answers 503): requests OIFDE took while
#                                            down (target <= 60 + breaker.minimumRequests) and how
#                                            the commands ended (target: all succeeded)
#   deploy/local/bench.sh soak [COUNT] [RATE]  COUNT commands (default 2000000) at RATE per second
#                                            (default 1000, below what the gateway sustains here,
#                                            so a backlog does not pass for growth), RSS every 10 s
#
# Prints a table with the targets beside the figures and writes JSON to bench-results/ (ignored
# by git). WMG_BENCH_LOGS=DIR keeps each row's gateway log there. WMG_BENCH_TLS=1 puts the simulator behind HTTPS (default plain HTTP, so the figures are
# the pipeline's and not the TLS library's).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
mode=rows
if [ "${1:-}" = soak ]; then mode=soak; shift; fi
if [ "${1:-}" = row ]; then mode=row; shift; row_args=("$@"); set -- "${3:-20000}"; fi
if [ "${1:-}" = ceiling ]; then mode=ceiling; shift; fi
if [ "${1:-}" = replicas ]; then mode=replicas; shift; replica_slots=${2:-32}; fi
if [ "${1:-}" = rollout ]; then mode=rollout; shift; replica_slots=${2:-32}; fi
if [ "${1:-}" = mixed ]; then mode=mixed; shift; fi
if [ "${1:-}" = outage ]; then mode=outage; shift; fi
count=${1:-$(case $mode in soak) echo 2000000 ;; replicas|rollout) echo 20000 ;; mixed) echo 100000 ;; outage) echo 2000 ;; *) echo 200000 ;; esac)}
soak_rate=${2:-1000}

bash deploy/local/ensure-deps.sh
[ -x /usr/sbin/nginx ] || bash deploy/local/ensure-deps.sh nginx-light
export WMG_BROKER_PORT=${WMG_BENCH_BROKER_PORT:-5681}
work=$(mktemp -d)
sim_pid= gw_pid= aux_pid=
cleanup() {
  for pid in $aux_pid $gw_pid $sim_pid; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bash deploy/local/broker.sh stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
bash deploy/local/broker.sh start >/dev/null
url=$(bash deploy/local/broker.sh url)
broker_pid=$(bash deploy/local/broker.sh pid)
echo "building (release)..." >&2
swift build -c release --product workmode-gateway >/dev/null 2>&1
swift build -c release --product wmg-bench >/dev/null 2>&1
gcc -O2 -Wall -o "$work/ceiling" deploy/bench/ceiling.c $(pkg-config --cflags --libs librabbitmq)
gcc -O2 -Wall -o "$work/relay" deploy/bench/relay.c $(pkg-config --cflags --libs librabbitmq)
gateway=$root/.build/release/workmode-gateway
bench=$root/.build/release/wmg-bench
mkdir -p bench-results
stamp=$(date -u +%Y%m%dT%H%M%SZ)
results=bench-results/bench-$mode-$stamp.jsonl
: > "$results"
sim_port=18650
scheme=http
sim_tls=()
if [ "${WMG_BENCH_TLS:-0}" = 1 ]; then
  bash deploy/local/make-certs.sh "$work" >/dev/null
  scheme=https
  sim_tls=(--tls-cert "$work/server.pem" --tls-key "$work/server.key")
fi
echo -n "bench-secret" > "$work/bench.secret"
clk_tck=$(getconf CLK_TCK)

wait_port() { for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null && return; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
machine_busy_seconds() { awk -v t="$clk_tck" '/^cpu / {printf "%.2f", ($2 + $3 + $4 + $7 + $8) / t}' /proc/stat; }
cpu_seconds() { awk -v t="$clk_tck" '{printf "%.2f", ($14 + $15) / t}' "/proc/$1/stat"; }
peak_rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# The OIFDE stand-in: nginx for plain-HTTP 0 ms rows (it answers at once for a few microseconds of
# CPU), the simulator otherwise (latency, TLS) or with WMG_BENCH_STANDIN=simulator.
standin=simulator
start_standin() {  # LATENCY
  if [ "$1" = 0ms ] && [ "$scheme" = http ] && [ "${WMG_BENCH_STANDIN:-nginx}" = nginx ]; then
    sed "s|@WORK@|$work|g; s|@PORT@|$sim_port|g" deploy/bench/nginx.conf.template > "$work/nginx.conf"
    /usr/sbin/nginx -c "$work/nginx.conf" -e "$work/nginx-error.log" > "$work/nginx.log" 2>&1 &
    sim_pid=$!
    standin=nginx
    wait_port $sim_port
  else
    start_simulator "$1"
    standin=simulator
  fi
}

start_simulator() {  # LATENCY
  "$gateway" simulate --listen 127.0.0.1:$sim_port "${sim_tls[@]}" --tenant bench:bench-secret --auto-sessions --latency "$1" \
    > "$work/simulator.log" 2>&1 &
  sim_pid=$!
  wait_port $sim_port
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

config() {  # PREFIX MAX_IN_FLIGHT
  local prefetch=$(( $2 * 2 > 512 ? $2 * 2 : 512 ))
  cat > "$work/$1.yaml" <<YAML
amqp:
  url: $url
  prefetch: $prefetch
topology:
  commandsExchange: $1.commands
  commandsQueue: $1.commands
  resultsExchange: $1.results
  deadLetterExchange: $1.dead
  deadLetterQueue: $1.dead
oifde:
  baseURL: $scheme://localhost:$sim_port
  timeout: 10s
  tls:
    caFile: ${sim_tls:+$work/ca.pem}
  auth:
    tenants:
      bench: {appSecretFile: $work/bench.secret}
pipeline:
  maxInFlight: $2
dedupe:
  path: $work/$1.journal
admin:
  listen: 127.0.0.1:19650
YAML
  if [ "$scheme" = http ]; then sed -i '/^  tls:$/,/caFile/d' "$work/$1.yaml"; fi
}

gateway_row() {  # LATENCY_MS MAX_IN_FLIGHT COUNT RATE LABEL
  local prefix=bench-$RANDOM$RANDOM
  config "$prefix" "$2"
  start_standin "${1}ms"
  "$gateway" run --config "$work/$prefix.yaml" > "$work/$prefix.log" 2>&1 &
  gw_pid=$!
  for _ in $(seq 100); do grep -q '"consuming"\|consuming' "$work/$prefix.log" 2>/dev/null && break; sleep 0.1; done
  local cpu_before; cpu_before=$(cpu_seconds $gw_pid)
  local others_before; others_before="$(cpu_seconds $broker_pid) $(cpu_seconds $sim_pid)"
  local line; line=$("$bench" e2e "$url" "$prefix.commands" "$prefix.results" "$3" "$4" "$1" "$5")
  local cpu_after; cpu_after=$(cpu_seconds $gw_pid)
  local others_after; others_after="$(cpu_seconds $broker_pid) $(cpu_seconds $sim_pid)"
  local rss; rss=$(peak_rss_kib $gw_pid)
  stop $gw_pid; gw_pid=
  stop $sim_pid; sim_pid=
  if [ -n "${WMG_BENCH_LOGS:-}" ]; then mkdir -p "$WMG_BENCH_LOGS"; cp "$work/$prefix.log" "$WMG_BENCH_LOGS/$prefix.log"; fi
  /usr/bin/python3 - "$line" "$cpu_before" "$cpu_after" "$rss" "$2" "$1" "$others_before" "$others_after" "$standin" >> "$results" <<'PY'
import json, sys
row = json.loads(sys.argv[1])
before, after = [float(x) for x in sys.argv[7].split()], [float(x) for x in sys.argv[8].split()]
row["brokerCpuSeconds"] = after[0] - before[0]
row["simulatorCpuSeconds"] = after[1] - before[1]
row["gatewayCpuSeconds"] = float(sys.argv[3]) - float(sys.argv[2])
row["gatewayCpuPercent"] = 100 * row["gatewayCpuSeconds"] / row["seconds"]
row["gatewayPeakRssMiB"] = int(sys.argv[4]) / 1024
row["maxInFlight"] = int(sys.argv[5])
row["simulatorLatencyMs"] = float(sys.argv[6])
row["standin"] = sys.argv[9]
print(json.dumps(row, sort_keys=True))
PY
  relay_row "$1" "$2" "$3" "$4" "C relay $5"
}

# The same row's work done by deploy/bench/relay.c (single-threaded C: consume, POST, publish the
# result with confirms, ack after the confirm), against the same stand-in, timed by the same driver.
relay_row() {  # LATENCY_MS SLOTS COUNT RATE LABEL
  local prefix=bench-relay-$RANDOM$RANDOM
  config "$prefix" "$2"
  "$gateway" topology declare --config "$work/$prefix.yaml" >/dev/null
  start_standin "${1}ms"
  "$work/relay" 127.0.0.1 "$WMG_BROKER_PORT" "$prefix.commands" "$prefix.results" "$3" 512 1000 127.0.0.1 "$sim_port" \
    /oifde/rest/api/flow/changeWorkMode "$2" > "$work/relay.cpu" &
  aux_pid=$!
  local others_before; others_before="$(cpu_seconds $broker_pid) $(cpu_seconds $sim_pid)"
  local line; line=$("$bench" e2e "$url" "$prefix.commands" "$prefix.results" "$3" "$4" "$1" "$5")
  local others_after; others_after="$(cpu_seconds $broker_pid) $(cpu_seconds $sim_pid)"
  wait $aux_pid; aux_pid=
  stop $sim_pid; sim_pid=
  /usr/bin/python3 - "$line" "$others_before" "$others_after" "$(cat "$work/relay.cpu")" "$2" "$1" "$standin" >> "$results" <<'PY'
import json, sys
row = json.loads(sys.argv[1])
before, after = [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
row["brokerCpuSeconds"] = after[0] - before[0]
row["simulatorCpuSeconds"] = after[1] - before[1]
row["gatewayCpuSeconds"] = float(sys.argv[4])
row["maxInFlight"] = int(sys.argv[5])
row["simulatorLatencyMs"] = float(sys.argv[6])
row["standin"] = sys.argv[7]
row["relay"] = True
print(json.dumps(row, sort_keys=True))
PY
}

ceiling_row() {  # COUNT PREFETCH
  local prefix=bench-ceiling-$RANDOM$RANDOM
  config "$prefix" 64
  "$gateway" topology declare --config "$work/$prefix.yaml" >/dev/null
  "$work/ceiling" 127.0.0.1 "$WMG_BROKER_PORT" "$prefix.commands" "$prefix.results" "$1" "$2" 1000 > "$work/ceiling.cpu" &
  aux_pid=$!
  local broker_before; broker_before=$(cpu_seconds $broker_pid)
  local line; line=$("$bench" e2e "$url" "$prefix.commands" "$prefix.results" "$1" 0 0 "c-ceiling")
  local broker_after; broker_after=$(cpu_seconds $broker_pid)
  wait $aux_pid; aux_pid=
  local loop_cpu; loop_cpu=$(cat "$work/ceiling.cpu")
  /usr/bin/python3 - "$line" "$broker_before" "$broker_after" "$loop_cpu" >> "$results" <<'PY'
import json, sys
row = json.loads(sys.argv[1])
row["brokerCpuSeconds"] = float(sys.argv[3]) - float(sys.argv[2])
row["gatewayCpuSeconds"] = float(sys.argv[4])
print(json.dumps(row, sort_keys=True))
PY
}

if [ $mode = soak ]; then
  prefix=bench-soak
  config $prefix 256
  start_standin 0ms
  "$gateway" run --config "$work/$prefix.yaml" > /dev/null 2>&1 &
  gw_pid=$!
  sleep 2
  echo "soak: $count commands at $soak_rate/s (about $(( count / soak_rate / 60 )) min); RSS every 10 s"
  "$bench" e2e "$url" "$prefix.commands" "$prefix.results" "$count" "$soak_rate" 0 soak > "$work/soak.json" &
  aux_pid=$!
  started=$(date +%s)
  while kill -0 $aux_pid 2>/dev/null; do
    echo "{\"seconds\": $(( $(date +%s) - started )), \"rssKiB\": $(rss_kib $gw_pid)}" >> "$results"
    tail -1 "$results"
    sleep 10
  done
  wait $aux_pid; aux_pid=
  cat "$work/soak.json" | tee -a "$results"
  /usr/bin/python3 - "$results" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
rows = [l for l in lines if "rssKiB" in l]
for summary in (l for l in lines if "statuses" in l):
    failed = sum(n for status, n in summary["statuses"].items() if status != "succeeded")
    print(f"statuses: {summary['statuses']}" + (f" WARNING: {failed} did not succeed, not the forwarding path" if failed else ""))
if len(rows) >= 5:
    at20 = rows[len(rows) // 5]["rssKiB"]; end = rows[-1]["rssKiB"]
    growth = 100 * (end - at20) / at20
    print(f"RSS at 20%: {at20/1024:.1f} MiB, at 100%: {end/1024:.1f} MiB, growth {growth:+.1f}% (target < 5%); peak {max(r['rssKiB'] for r in rows)/1024:.1f} MiB (target < 64 MiB)")
PY
  echo "results: $results"
  exit 0
fi

# Partitions shared by REPLICAS gateways, each with its own journal and admin port; the simulator
# and the driver as in gateway_row. Every replica is started before the driver publishes.
replicas_row() {  # REPLICAS LATENCY_MS MAX_IN_FLIGHT COUNT LABEL [ROLLOUT]
  local prefix=bench-$RANDOM$RANDOM replicas=$1 pids=() ordinal restart
  config "$prefix" "$3"
  cat >> "$work/$prefix.yaml" <<YAML
replicas:
  count: $replicas
  standbyDelay: 1s
YAML
  sed -i "s/^topology:$/topology:\n  partitions: 4/" "$work/$prefix.yaml"
  start_simulator "${2}ms"
  for ordinal in $(seq 0 $((replicas - 1))); do
    WMG_REPLICAS_ORDINAL=$ordinal WMG_DEDUPE_PATH="$work/$prefix-$ordinal.journal" WMG_ADMIN_LISTEN=127.0.0.1:$((19650 + ordinal)) \
      "$gateway" run --config "$work/$prefix.yaml" > "$work/$prefix-$ordinal.log" 2>&1 &
    pids+=($!)
  done
  for ordinal in $(seq 0 $((replicas - 1))); do
    for _ in $(seq 100); do grep -q '"consuming"' "$work/$prefix-$ordinal.log" 2>/dev/null && break; sleep 0.1; done
  done
  sleep 1.5  # every replica subscribed as a standby too, as in production
  if [ "${6:-}" = rollout ]; then
    # A StatefulSet's rolling update: the highest ordinal first, each pod stopped (SIGTERM, it
    # drains) and started again, 8 s apart; then 15 s before the commands come.
    for ordinal in $(seq $((replicas - 1)) -1 0); do
      stop "${pids[$ordinal]}"
      # A StatefulSet creates the pod again only once the old one is gone, and a new container
      # takes seconds to start: WMG_BENCH_RESTART_GAP (default 2 s; 0 restarts at once).
      sleep "${WMG_BENCH_RESTART_GAP:-2}"
      restart="$work/$prefix-$ordinal-restarted.log"
      WMG_REPLICAS_ORDINAL=$ordinal WMG_DEDUPE_PATH="$work/$prefix-$ordinal.journal" WMG_ADMIN_LISTEN=127.0.0.1:$((19650 + ordinal)) \
        "$gateway" run --config "$work/$prefix.yaml" > "$restart" 2>&1 &
      pids[$ordinal]=$!
      for _ in $(seq 100); do grep -q '"consuming"' "$restart" 2>/dev/null && break; sleep 0.1; done
      sleep 8
    done
    sleep 7
  fi
  echo "{\"driver\":\"starts\",\"time\":\"$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)\"}" >> "$work/$prefix-driver.log"
  local machine_before; machine_before=$(machine_busy_seconds)
  local cpu_before=0 pid
  for pid in "${pids[@]}"; do cpu_before=$(awk -v a="$cpu_before" -v b="$(cpu_seconds "$pid")" 'BEGIN { print a + b }'); done
  local line; line=$("$bench" e2e "$url" "$prefix.commands" "$prefix.results" "$4" 0 "$2" "$5")
  local cpu_after=0
  for pid in "${pids[@]}"; do cpu_after=$(awk -v a="$cpu_after" -v b="$(cpu_seconds "$pid")" 'BEGIN { print a + b }'); done
  local machine_after; machine_after=$(machine_busy_seconds)
  for pid in "${pids[@]}"; do stop "$pid"; done
  if [ -n "${WMG_BENCH_LOGS:-}" ]; then mkdir -p "$WMG_BENCH_LOGS"; cp "$work/$prefix"-*.log "$WMG_BENCH_LOGS/"; fi
  stop $sim_pid; sim_pid=
  /usr/bin/python3 - "$line" "$cpu_before" "$cpu_after" "$3" "$2" "$1" "$machine_before" "$machine_after" "$(nproc)" >> "$results" <<'PY'
import json, sys
row = json.loads(sys.argv[1])
row["machineBusyPercent"] = 100 * (float(sys.argv[8]) - float(sys.argv[7])) / row["seconds"] / int(sys.argv[9])
row["gatewayCpuSeconds"] = float(sys.argv[3]) - float(sys.argv[2])
row["maxInFlight"] = int(sys.argv[4])
row["simulatorLatencyMs"] = float(sys.argv[5])
row["replicas"] = int(sys.argv[6])
print(json.dumps(row, sort_keys=True))
PY
}

if [ $mode = replicas ] || [ $mode = rollout ]; then
  echo "partitions: 4 partitions, ${count} commands per row at 50 ms, maxInFlight $replica_slots per replica" >&2
  replicas_row 1 50 "$replica_slots" "$count" "4 partitions, 1 replica"
  if [ $mode = rollout ]; then
    replicas_row 2 50 "$replica_slots" "$count" "2 replicas after a rollout" rollout
  else
    replicas_row 2 50 "$replica_slots" "$count" "4 partitions, 2 replicas"
  fi
  /usr/bin/python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for r in rows:
    print(f"{r['label']:<27} {r['commandsPerSecond']:>8.0f} commands/s ({r['commandsPerSecond'] / (r['replicas'] * r['maxInFlight'] / 0.05):.0%} of Little's law)  gateways' CPU {1000 * r['gatewayCpuSeconds'] / r['commands']:.2f} ms per command  machine {r['machineBusyPercent']:.0f}% busy")
if len(rows) == 2:
    ratio = rows[1]["commandsPerSecond"] / rows[0]["commandsPerSecond"]
    print(f"two replicas / one: {ratio:.2f}x (target >= 1.8x)")
PY
  echo "results: $results"
  exit 0
fi

# One gateway (256 slots, or WMG_BENCH_MIXED_SLOTS) against the 0 ms stand-in, three drivers:
# live alone, batch alone, both.
if [ $mode = mixed ]; then
  prefix=bench-mixed-$RANDOM$RANDOM
  config "$prefix" "${WMG_BENCH_MIXED_SLOTS:-256}"
  start_standin 0ms
  "$gateway" run --config "$work/$prefix.yaml" > "$work/$prefix.log" 2>&1 &
  gw_pid=$!
  for _ in $(seq 100); do grep -q '"consuming"' "$work/$prefix.log" 2>/dev/null && break; sleep 0.1; done
  e2e() { "$bench" e2e "$url" "$prefix.commands" "$prefix.results" "$@"; }
  echo "mixed: live alone (200 at 20/s), batch alone ($count), batch with live at 20/s beside it" >&2
  # Live drivers listen on a reply_to queue of their own: a tap on the results exchange would
  # queue the batch's results ahead of theirs and time the driver's own backlog.
  e2e 200 20 0 "live alone, 20/s" change idle- reply >> "$results"
  e2e "$count" 0 0 "batch alone" batch batch1- >> "$results"
  batch_seconds=$(tail -1 "$results" | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["seconds"])')
  live_count=$(/usr/bin/python3 -c "print(max(50, int($batch_seconds * 20 * 0.8)))")
  e2e "$count" 0 0 "batch beside live" batch batch2- > "$work/mixed-batch.json" &
  aux_pid=$!
  sleep 1
  e2e "$live_count" 20 0 "live beside the batch, 20/s" change live- reply >> "$results"
  wait $aux_pid; aux_pid=
  cat "$work/mixed-batch.json" >> "$results"
  stop $gw_pid; gw_pid=
  stop $sim_pid; sim_pid=
  /usr/bin/python3 - "$results" <<'PY'
import json, sys
rows = {r["label"]: r for r in (json.loads(l) for l in open(sys.argv[1]))}
for r in rows.values():
    print(f"{r['label']:<30} {r['commands']:>7} commands {r['commandsPerSecond']:>8.0f}/s  latency p50 {r['latencyMs']['p50']:.1f} ms p99 {r['latencyMs']['p99']:.1f} ms max {r['latencyMs']['max']:.1f} ms  {r['statuses']}")
idle, busy = rows["live alone, 20/s"], rows["live beside the batch, 20/s"]
alone, beside = rows["batch alone"], rows["batch beside live"]
print(f"live p99 beside the batch / alone: {busy['latencyMs']['p99'] / idle['latencyMs']['p99']:.2f}x (target < 2x)")
print(f"batch throughput beside live / alone: {beside['commandsPerSecond'] / alone['commandsPerSecond']:.0%} (target >= 80%)")
PY
  echo "results: $results"
  exit 0
fi

# COUNT commands into a 60 s outage of the simulator (every changeWorkMode answers 503).
if [ $mode = outage ]; then
  prefix=bench-outage-$RANDOM$RANDOM
  config "$prefix" 256
  printf 'retry:\n  maxAttempts: 3\n  deadline: 5m\n' >> "$work/$prefix.yaml"
  start_simulator 0ms
  "$gateway" run --config "$work/$prefix.yaml" > "$work/$prefix.log" 2>&1 &
  gw_pid=$!
  for _ in $(seq 100); do grep -q '"consuming"' "$work/$prefix.log" 2>/dev/null && break; sleep 0.1; done
  curl -sf -X PUT "http://127.0.0.1:$sim_port/simulator/faults" -d '{"outageSeconds": 60}' >/dev/null
  echo "outage: $count commands into a 60 s outage (retry.maxAttempts 3, deadline 5m); about 75 s" >&2
  "$bench" e2e "$url" "$prefix.commands" "$prefix.results" "$count" 0 0 "outage 60s" >> "$results"
  curl -sf "http://127.0.0.1:$sim_port/simulator/requests" > "$work/requests.json"
  probes=$(grep -c 'circuit to OIFDE half-open' "$work/$prefix.log" || true)
  stop $gw_pid; gw_pid=
  stop $sim_pid; sim_pid=
  /usr/bin/python3 - "$results" "$work/requests.json" "$probes" <<'PY'
import json, sys
row = json.loads(open(sys.argv[1]).readlines()[-1])
requests = json.load(open(sys.argv[2]))
down = sum(1 for r in requests if r["endpoint"] == "changeWorkMode" and r["errorCode"] == "10000001")
print(f"{row['commands']} commands through a 60 s outage: {row['statuses']} in {row['seconds']:.1f} s")
print(f"requests OIFDE took while down: {down} (target <= 60 + minimumRequests 20 = 80); probes {sys.argv[3]}")
PY
  echo "results: $results"
  exit 0
fi

if [ $mode = ceiling ]; then ceiling_row "$count" 512; tail -1 "$results"; exit 0; fi
if [ $mode = row ]; then  # one gateway row, for profiling: row LATENCY_MS MAX_IN_FLIGHT [COUNT] [RATE]
  gateway_row "${row_args[0]}" "${row_args[1]}" "$count" "${row_args[3]:-0}" "${row_args[0]}ms/${row_args[1]}${row_args[3]:+ @${row_args[3]}/s}"
  tail -1 "$results"
  /usr/bin/python3 deploy/bench/report.py "$results" "$(nproc)"
  exit 0
fi

fifty=$(( count < 50000 ? count : 50000 ))
rate_count=$(( count < 20000 ? count : 20000 ))
echo "end to end: $count commands per row ($fifty at 50 ms), simulator over $scheme, broker + simulator + gateway on $(nproc) cores" >&2
ceiling_row "$count" 512
gateway_row 0 64 "$count" 0 "0ms/64"
gateway_row 0 512 "$count" 0 "0ms/512"
gateway_row 50 64 "$fifty" 0 "50ms/64"
gateway_row 50 512 "$fifty" 0 "50ms/512"
# Latency against load: the added-latency target is at 1,000/s; 250/s and 500/s show how much of
# it is the pipeline and how much is waiting for a CPU on a busy machine.
gateway_row 0 64 "$(( rate_count / 4 ))" 250 "0ms/64 @250/s"
gateway_row 0 64 "$(( rate_count / 2 ))" 500 "0ms/64 @500/s"
gateway_row 0 64 "$rate_count" 1000 "0ms/64 @1000/s"

/usr/bin/python3 deploy/bench/report.py "$results" "$(nproc)"
echo "results: $results"
