#!/usr/bin/env bash
# Checks that the binary tolerates the unit's SystemCallFilter=@system-service and
# MemoryDenyWriteExecute=yes without systemd: runs the gateway under strace through a start, a few
# commands (every outcome path: success, invalid, OIFDE refusal) and a SIGTERM drain, then compares
# every system call it made with systemd's @system-service set, and looks for a mapping that is
# writable and executable at once. Part of the test command (DeployUnitTests).
#
#   deploy/systemd/check-sandbox.sh BINARY AMQP_URL
set -euo pipefail
bin=${1:?usage: check-sandbox.sh BINARY AMQP_URL}
url=${2:?usage: check-sandbox.sh BINARY AMQP_URL}
cd "$(dirname "$0")/../.."
command -v strace >/dev/null || { echo "check-sandbox: strace is missing (apt-get install strace)" >&2; exit 2; }
command -v systemd-analyze >/dev/null || { echo "check-sandbox: systemd-analyze is missing (apt-get install systemd)" >&2; exit 2; }

work=$(mktemp -d)
sim=
trap '[ -n "$sim" ] && kill "$sim" 2>/dev/null; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sim_port=$(free_port)
admin_port=$(free_port)
bash deploy/local/make-certs.sh "$work/tls" >/dev/null
"$bin" simulate --listen "127.0.0.1:$sim_port" --tls-cert "$work/tls/server.pem" --tls-key "$work/tls/server.key" \
  --tenant 202204247563:sandbox-secret --auto-sessions >"$work/sim.log" 2>&1 &
sim=$!
printf 'sandbox-secret' >"$work/secret"
prefix=sandbox-$$
cat >"$work/gateway.yaml" <<YAML
amqp: {url: "$url"}
topology: {commandsExchange: $prefix.commands, commandsQueue: $prefix.commands, resultsExchange: $prefix.results, deadLetterExchange: $prefix.dead, deadLetterQueue: $prefix.dead, deadLetterWatchInterval: 1s}
oifde:
  baseURL: https://localhost:$sim_port
  tls: {caFile: $work/tls/ca.pem}
  auth: {tenants: {"202204247563": {appSecretFile: $work/secret}}}
admin: {listen: "127.0.0.1:$admin_port"}
dedupe: {path: $work/completions.journal}
log: {format: text}
YAML
strace -f -qq -o "$work/trace" -e trace=all "$bin" run --config "$work/gateway.yaml" >"$work/gateway.log" 2>&1 &
tracer=$!
for _ in $(seq 200); do "$bin" health --listen "127.0.0.1:$admin_port" --quiet && break; sleep 0.25; done
"$bin" health --listen "127.0.0.1:$admin_port" || { cat "$work/gateway.log" >&2; exit 1; }
{
  echo '{"tenantId":"202204247563","callId":"sandbox-1","agentId":"1001","workMode":"2"}'
  echo '{"tenantId":"202204247563","callId":"sandbox-2","agentId":"1001","workMode":"3","callTransferRequest":{"callTransferType":5,"callTransferRouteValue":"+8613800138000"}}'
  echo '{"tenantId":"202204247563","callId":"sandbox-3","agentId":"1001","workMode":"9"}'
} >"$work/commands.jsonl"
printf 'amqp: {url: "%s"}\ntopology: {commandsExchange: %s.commands, commandsQueue: %s.commands, resultsExchange: %s.results}\n' \
  "$url" "$prefix" "$prefix" "$prefix" >"$work/publisher.yaml"
"$bin" publish "$work/commands.jsonl" --config "$work/publisher.yaml" --skip-invalid --wait-results --results-timeout 60s >"$work/publish.log" 2>&1 || true
curl -s "http://127.0.0.1:$admin_port/metrics" >/dev/null
# The signal goes to the gateway itself (strace would detach on it); strace ends with its tracee.
kill -TERM "$(pgrep -P "$tracer")"
wait "$tracer" || { echo "check-sandbox: the gateway did not stop cleanly under strace" >&2; tail -n 20 "$work/gateway.log" >&2; exit 1; }

# Every system call made, against the filter's set (groups expanded).
expand() {
  systemd-analyze syscall-filter "$1" | sed -n 's/^ \{4\}\([@a-z0-9_-]*\).*/\1/p' | while read -r name; do
    case $name in @*) expand "$name" ;; "") ;; *) echo "$name" ;; esac
  done
}
expand @system-service | sort -u >"$work/allowed"
sed -n 's/^[0-9]* \([a-z0-9_]*\)(.*/\1/p' "$work/trace" | sort -u >"$work/used"
outside=$(comm -23 "$work/used" "$work/allowed" | tr '\n' ' ')
# Writable and executable at once: what MemoryDenyWriteExecute=yes refuses.
wx=$(grep -E '(mmap|mprotect|pkey_mprotect)\(.*PROT_WRITE\|PROT_EXEC|(mmap|mprotect)\(.*PROT_EXEC\|PROT_WRITE' "$work/trace" | head -n 3 || true)
echo "check-sandbox: $(wc -l <"$work/used") distinct system calls; outside @system-service: ${outside:-none}"
echo "check-sandbox: writable+executable mappings: ${wx:-none}"
grep -q '^results: ' "$work/publish.log" || { cat "$work/publish.log" >&2; echo "check-sandbox: the commands got no results" >&2; exit 1; }
[ -z "$outside" ] && [ -z "$wx" ]
