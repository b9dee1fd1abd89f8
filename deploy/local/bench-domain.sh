#!/usr/bin/env bash
# Decode + validate throughput of a typical transfer command, and result-event encoding, on one core.
#   deploy/local/bench-domain.sh [COUNT]     default 500000 per run (best of five runs)
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product wmg-bench >/dev/null
exec .build/release/wmg-bench decode "${1:-500000}"
