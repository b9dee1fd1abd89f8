#!/usr/bin/env bash
# The AMQP client benchmark: the Swift client (wmg-bench amqp) and the same loop in plain C against
# librabbitmq, alternated over several rounds on one throwaway broker, medians side by side.
#
#   deploy/local/bench-amqp.sh [COUNT] [ROUNDS]     defaults: 50000 messages, 5 rounds
#
# Both publish COUNT persistent 256-byte messages to a quorum queue with at most 1000 unconfirmed,
# then consume them with prefetch 500 and one ack per message.
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${1:-50000}
rounds=${2:-5}
size=256 window=1000 prefetch=500

bash deploy/local/ensure-deps.sh
export WMG_BROKER_PORT=${WMG_BENCH_BROKER_PORT:-5679}
trap 'bash deploy/local/broker.sh stop >/dev/null 2>&1 || true' EXIT
bash deploy/local/broker.sh start >/dev/null
url=$(bash deploy/local/broker.sh url)

swift build -c release --product wmg-bench >/dev/null
mkdir -p .build/bench
gcc -O2 -Wall -o .build/bench/amqp_bench deploy/bench/amqp_bench.c $(pkg-config --cflags --libs librabbitmq)

results=$(mktemp)
for round in $(seq "$rounds"); do
  .build/release/wmg-bench amqp "$url" "$count" "$size" "$window" "$prefetch" >> "$results"
  .build/bench/amqp_bench 127.0.0.1 "$WMG_BROKER_PORT" "$count" "$size" "$window" "$prefetch" >> "$results"
done

python3 - "$results" "$count" "$rounds" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
def median(lang, phase):
    return statistics.median(float(r[2]) for r in rows if r[0] == lang and r[1] == phase)
print(f"AMQP client benchmark: {sys.argv[2]} msgs x {sys.argv[3]} rounds, 256 B, confirm window 1000, prefetch 500 (medians, msg/s)")
print(f"{'phase':<18}{'swift':>10}{'c':>10}{'swift/c':>10}   target")
for phase in ("publish-confirm", "consume-ack"):
    s, c = median("swift", phase), median("c", phase)
    print(f"{phase:<18}{s:>10.0f}{c:>10.0f}{s / c:>10.0%}   >= 85%")
PY
rm -f "$results"
