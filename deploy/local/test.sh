#!/usr/bin/env bash
# The project's test command: installs what is missing, starts a throwaway RabbitMQ 3.10 broker on
# loopback and runs every test against it, then a throwaway RabbitMQ 4.x broker (Debian trixie's,
# in a root folder made once by rabbitmq4-root.sh) and runs the broker-facing suites against that
# too; always stops both brokers, whatever the outcome.
#
# Between the two passes it builds the container image from deploy/container/Containerfile and runs
# it against the 3.10 broker (deploy/container/image-test.sh).
#
# WMG_SKIP_RABBITMQ4=1 runs the 3.10 pass only (a machine that cannot reach Debian's mirror says so
# in one line and runs that pass alone); WMG_SKIP_IMAGE=1 leaves out the image.
set -euo pipefail
cd "$(dirname "$0")/../.."

bash deploy/local/ensure-deps.sh

# Style first: the checked-in .swift-format (swift-format ships with the toolchain); a warning fails.
swift format lint --strict --recursive Sources Tests Plugins Package.swift

# A crash prints the crashed thread alone: CI keeps only the tail of the output, and a backtrace of
# every thread pushed the one that mattered out of it.
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=yes,threads=crashed,interactive=no}

export WMG_BROKER_PORT=${WMG_BROKER_PORT:-5673}
rabbitmq4_port=${WMG_BROKER4_PORT:-$((WMG_BROKER_PORT + 1))}
rabbitmq4_root=
stop_brokers() {
  pkill -f "$PWD/.build/debug/workmode-gateway" 2>/dev/null || true
  bash deploy/local/broker.sh stop >/dev/null 2>&1 || true
  if [ -n "$rabbitmq4_root" ]; then
    WMG_BROKER_ROOT="$rabbitmq4_root" WMG_BROKER_PORT="$rabbitmq4_port" bash deploy/local/broker.sh stop >/dev/null 2>&1 || true
  fi
}
# Whatever the outcome: stop the brokers, and any gateway or simulator a failed test left running.
trap stop_brokers EXIT
bash deploy/local/broker.sh start

export WMG_TEST_AMQP_URL="$(bash deploy/local/broker.sh url)"
export WMG_TEST_RABBITMQ_NODE="$(bash deploy/local/broker.sh node)"

swift build --build-tests "$@"
echo "== RabbitMQ $(bash deploy/local/broker.sh ctl version 2>/dev/null || echo 3.x): every suite"
# Every test has its own time limit (.timeLimit); this bounds a run that hangs where a time limit
# cannot reach (a test blocked outside Swift concurrency), so the test command always ends.
timeout --kill-after=30s 45m swift test --skip-build "$@"

# The image users deploy, built from deploy/container/Containerfile and run against this broker.
# A failure here (no Debian mirror for the base images, a build error) is reported in one line and
# fails the command at the end; the RabbitMQ 4.x pass still runs.
image_status=0
if [ "${WMG_SKIP_IMAGE:-}" = 1 ]; then
  echo "== container image skipped (WMG_SKIP_IMAGE=1)"
else
  echo "== container image: build and run (first run on a machine: about 15 minutes)"
  started=$(date +%s)
  if bash deploy/container/image-test.sh; then
    echo "== container image: ok in $(($(date +%s) - started)) s"
  else
    image_status=1
    echo "== container image: FAILED (the line above says why); going on with the RabbitMQ 4.x pass" >&2
  fi
fi
finish() {
  [ "$image_status" = 0 ] || { echo "== FAILED: the container image step (see above)" >&2; exit 1; }
  exit 0
}

# The suites that talk to the shared broker, again on RabbitMQ 4.x (docs/rabbitmq-versions.md says
# why these): dead letters, the console, the operator tools, outcomes, topology and the AMQP client.
# Suites that start brokers of their own (restarts, TLS, clusters, the blocked broker) run on 3.10.
rabbitmq4_suites='SingleActiveOrderTests|DeadLetterStreamTests|ConsoleTests|OperatorToolTests|OutcomeTests|TopologyTests|PublishConsumeTests|JoinedConsumerTests|BatchToolTests|ReplicaTests|ReplicaOwnershipTests|ReplicaScalingTests|RepartitionTests|InDoubtOutcomeTests|FrontDoorTests'
if [ "${WMG_SKIP_RABBITMQ4:-}" = 1 ]; then
  echo "== RabbitMQ 4.x pass skipped (WMG_SKIP_RABBITMQ4=1)"
  finish
fi
if ! rabbitmq4_root=$(bash deploy/local/rabbitmq4-root.sh); then
  rabbitmq4_root=
  echo "== RabbitMQ 4.x pass NOT RUN: its root folder could not be made (see the line above)" >&2
  finish
fi
WMG_BROKER_ROOT="$rabbitmq4_root" WMG_BROKER_PORT="$rabbitmq4_port" bash deploy/local/broker.sh start
ctl4="$(mktemp -d)/rabbitmqctl"
printf '#!/bin/sh\nexec chroot %s env ERL_EPMD_PORT=%s rabbitmqctl "$@"\n' "$rabbitmq4_root" "$((rabbitmq4_port + 30000))" > "$ctl4"
chmod +x "$ctl4"
export WMG_TEST_RABBITMQCTL="$ctl4"
export WMG_TEST_AMQP_URL="amqp://guest:guest@127.0.0.1:$rabbitmq4_port/%2f"
export WMG_TEST_RABBITMQ_NODE="wmg${rabbitmq4_port}@localhost"
echo "== RabbitMQ $("$ctl4" -q -n "$WMG_TEST_RABBITMQ_NODE" version): $rabbitmq4_suites"
timeout --kill-after=30s 20m swift test --skip-build --filter "$rabbitmq4_suites" "$@"
finish
