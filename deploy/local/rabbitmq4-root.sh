#!/usr/bin/env bash
# Makes (once) a Debian trixie root folder holding RabbitMQ 4.x from Debian's package, for a second
# throwaway broker beside the system's 3.10 (broker.sh runs it with WMG_BROKER_ROOT). Kept between
# runs on the same machine; about 2 minutes and 370 MB the first time.
#
#   deploy/local/rabbitmq4-root.sh          print the folder, making it when missing
#
# Environment: WMG_RABBITMQ4_ROOT (default /var/cache/workmode-gateway/rabbitmq4-root),
# WMG_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

root=${WMG_RABBITMQ4_ROOT:-/var/cache/workmode-gateway/rabbitmq4-root}
mirror=${WMG_DEBIAN_MIRROR:-http://deb.debian.org/debian}

if [ -x "$root/usr/sbin/rabbitmq-server" ]; then echo "$root"; exit 0; fi

if ! command -v debootstrap >/dev/null 2>&1; then
  echo "rabbitmq4-root: installing debootstrap" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi
mkdir -p "$(dirname "$root")"
partial="$root.partial"
rm -rf "$partial"
echo "rabbitmq4-root: making a Debian trixie root with rabbitmq-server in $root (about 2 minutes)" >&2
if ! debootstrap --variant=minbase --include=rabbitmq-server trixie "$partial" "$mirror" >"$partial.log" 2>&1; then
  echo "rabbitmq4-root: cannot make the RabbitMQ 4 root from $mirror ($(tail -n 1 "$partial.log"))" >&2
  exit 1
fi
# The plugin the partitioned topology needs, enabled per node by broker.sh's enabled_plugins file.
[ -d "$partial/usr/lib/rabbitmq" ] || { echo "rabbitmq4-root: $partial has no RabbitMQ after debootstrap" >&2; exit 1; }
mv "$partial" "$root"
rm -f "$partial.log"
echo "$root"
