#!/usr/bin/env bash
# The project's test command: installs what is missing, starts a throwaway broker on loopback,
# runs every test against it, and always stops the broker, whatever the outcome.
set -euo pipefail
cd "$(dirname "$0")/../.."

bash deploy/local/ensure-deps.sh

# Style first: the checked-in .swift-format (swift-format ships with the toolchain); a warning fails.
swift format lint --strict --recursive Sources Tests Plugins Package.swift

export WMG_BROKER_PORT=${WMG_BROKER_PORT:-5673}
# Whatever the outcome: stop the broker, and any gateway or simulator a failed test left running.
trap 'pkill -f "$PWD/.build/debug/workmode-gateway" 2>/dev/null || true; bash deploy/local/broker.sh stop >/dev/null 2>&1 || true' EXIT
bash deploy/local/broker.sh start

export WMG_TEST_AMQP_URL="$(bash deploy/local/broker.sh url)"
export WMG_TEST_RABBITMQ_NODE="$(bash deploy/local/broker.sh node)"

swift build --build-tests "$@"
swift test --skip-build "$@"
