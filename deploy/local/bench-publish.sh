#!/usr/bin/env bash
# `workmode-gateway publish` on a large batch file: commands per second and the tool's peak memory
# (which must not grow with the file), against a throwaway broker with the contract's quorum queue.
#
#   deploy/local/bench-publish.sh [COUNT]     default: 100000 commands
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${1:-100000}

bash deploy/local/ensure-deps.sh
command -v /usr/bin/time >/dev/null 2>&1 || { apt-get install -y -qq time >/dev/null; }
export WMG_BROKER_PORT=${WMG_BENCH_BROKER_PORT:-5679}
work=$(mktemp -d)
trap 'bash deploy/local/broker.sh stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
bash deploy/local/broker.sh start >/dev/null
swift build -c release --product workmode-gateway >/dev/null

cat > "$work/config.yaml" <<YAML
amqp:
  url: $(bash deploy/local/broker.sh url)
dedupe:
  path: $work/journal
YAML
python3 - "$work/batch.jsonl" "$count" <<'PY'
import sys
path, count = sys.argv[1], int(sys.argv[2])
with open(path, "w") as out:
    for n in range(count):
        if n % 10 == 9:
            out.write('{"messageId":"bench-%d","tenantId":"tenant-a","callId":"call-%d","agentId":"agent-7","workMode":"3",'
                      '"callTransferRequest":{"callTransferType":"5","callTransferRouteValue":"+8613800%06d"}}\n' % (n, n, n % 1000000))
        else:
            out.write('{"messageId":"bench-%d","tenantId":"tenant-a","callId":"call-%d","agentId":"agent-7","workMode":"%d"}\n' % (n, n, 1 + n % 2))
PY
echo "publish: $count commands, $(du -h "$work/batch.jsonl" | cut -f1) file, quorum queue, persistent, window 1000"
.build/release/workmode-gateway topology declare --config "$work/config.yaml" >/dev/null
/usr/bin/time -f "peak RSS %M KiB, %e s wall, %U s user, %S s system" \
  .build/release/workmode-gateway publish "$work/batch.jsonl" --config "$work/config.yaml" 2>&1 | grep -v '^[0-9]*/[0-9]* published'
