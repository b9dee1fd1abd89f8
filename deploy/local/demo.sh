#!/usr/bin/env bash
# The demo: a local broker, the OIFDE simulator over HTTPS with a CA made for the run, and the
# gateway; then a handful of realistic commands (every outcome at least once), their result
# events printed as they arrive, and everything stopped cleanly.
#   deploy/local/demo.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/local/ensure-deps.sh
echo "== building (first build takes several minutes)"
swift build --product workmode-gateway >/dev/null
bin=.build/debug/workmode-gateway

work=$(mktemp -d)
export WMG_BROKER_PORT=${WMG_DEMO_BROKER_PORT:-5674}
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bash deploy/local/broker.sh stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
bash deploy/local/broker.sh start
url=$(bash deploy/local/broker.sh url)
bash deploy/local/make-certs.sh "$work/tls" >/dev/null
printf 'demo-secret' > "$work/tenant.secret"
chmod 600 "$work/tenant.secret"

"$bin" simulate --listen 127.0.0.1:18443 --tls-cert "$work/tls/server.pem" --tls-key "$work/tls/server.key" \
  --tenant 202204247563:demo-secret --auto-sessions --latency 20ms > "$work/simulator.log" 2>&1 &
pids+=($!)
cat > "$work/gateway.yaml" <<YAML
amqp:
  url: $url
oifde:
  baseURL: https://localhost:18443
  tls: {caFile: $work/tls/ca.pem}
  auth:
    tenants:
      "202204247563": {appSecretFile: $work/tenant.secret}
retry: {maxAttempts: 2, initialBackoff: 100ms, maxBackoff: 500ms}
dedupe: {path: $work/completions.journal}
log: {format: text}
YAML
"$bin" run --config "$work/gateway.yaml" > "$work/gateway.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q consuming "$work/gateway.log" && break; sleep 0.2; done
grep -q consuming "$work/gateway.log" || { cat "$work/gateway.log"; exit 1; }
echo "== gateway consuming; result events follow"

amqp-consume -u "$url" -e workmode.results -r '#' -x -A -c 6 -- sh -c 'cat; echo' &
consumer=$!
sleep 1
publish() { amqp-publish -u "$url" -e workmode.commands -r change -p -C application/json "$@"; }
tenant=202204247563
# succeeded: supervision -> insertion, then a transfer to a third-party number
publish -b "{\"tenantId\":\"$tenant\",\"callId\":\"1656315126-1234567\",\"agentId\":\"1001\",\"workMode\":\"2\"}"
publish -b "{\"tenantId\":\"$tenant\",\"callId\":\"1656315126-1234567\",\"agentId\":\"1001\",\"workMode\":3,\"callTransferRequest\":{\"callTransferType\":5,\"callTransferRouteValue\":\"+8613800138000\"}}"
# invalid: transfer type 9 does not exist, and a typo'd field
publish -b "{\"tenantId\":\"$tenant\",\"callId\":\"c-2\",\"agentId\":\"1001\",\"workMode\":\"3\",\"callTransferRequest\":{\"callTransferType\":\"9\",\"callTransferRoutValue\":\"x\"}}"
# rejected: a tenant with no configured secret
publish -b "{\"tenantId\":\"other-tenant\",\"callId\":\"c-3\",\"agentId\":\"1001\",\"workMode\":\"1\"}"
# expired: its x-deadline has passed
publish -H "x-deadline: 2020-01-01T00:00:00Z" -b "{\"tenantId\":\"$tenant\",\"callId\":\"c-4\",\"agentId\":\"1001\",\"workMode\":\"1\"}"
# failed: OIFDE answers an internal error to every attempt (set once the others are done)
sleep 2
curl -sk -X PUT "https://localhost:18443/simulator/faults" -d '{"errorCode":"10000001","count":2}' >/dev/null
publish -b "{\"tenantId\":\"$tenant\",\"callId\":\"c-5\",\"agentId\":\"1001\",\"workMode\":\"1\"}"
wait "$consumer" || true
sleep 5  # quorum queue counts lag a moment
echo "== queues (name, messages):"
bash deploy/local/broker.sh ctl list_queues name messages | grep workmode
echo "== stopping"
