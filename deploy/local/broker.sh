#!/usr/bin/env bash
# A throwaway RabbitMQ node on loopback, with its own node name, ports and data folder, so it never
# clashes with a system broker.
#
#   deploy/local/broker.sh start     start it and wait until it accepts connections
#   deploy/local/broker.sh fresh     stop a node left running (say, by a crashed test run) and start anew
#   deploy/local/broker.sh resume    start it again with the data it had (after kill or stop_app)
#   deploy/local/broker.sh kill      kill -9 the node, keeping its data (a crash, for tests)
#   deploy/local/broker.sh stop      stop it and remove its folder
#   deploy/local/broker.sh status    exit 0 when it runs
#   deploy/local/broker.sh ctl ARGS  rabbitmqctl against this node
#   deploy/local/broker.sh url       the amqp:// URL of this node
#   deploy/local/broker.sh url-tls   the amqps:// URL of its TLS listener (with WMG_BROKER_TLS_DIR)
#   deploy/local/broker.sh pid       the node's OS process id (for CPU accounting)
#
# Environment: WMG_BROKER_PORT (default 5673), WMG_BROKER_DIR (default $TMPDIR/wmg-broker-PORT),
# WMG_BROKER_PLUGINS (comma-separated plugins to enable; default rabbitmq_consistent_hash_exchange),
# WMG_BROKER_ERL_ARGS (extra Erlang VM flags, e.g. the benchmark's scheduler settings),
# WMG_BROKER_TLS_DIR (a folder made by make-certs.sh: adds a TLS listener on PORT+10000 with its
# server.pem and server.key, made by its ca.pem), WMG_BROKER_ROOT (a Debian root folder holding
# another RabbitMQ, made by rabbitmq4-root.sh: the node runs in it with chroot, with its own Erlang
# port mapper on PORT+30000, so a RabbitMQ 4 node runs beside the system's 3.10).
set -euo pipefail

port=${WMG_BROKER_PORT:-5673}
node=${WMG_BROKER_NODE:-wmg${port}@localhost}
base=${WMG_BROKER_DIR:-${TMPDIR:-/tmp}/wmg-broker-${port}}
dist_port=$((port + 20000))
tls_port=$((port + 10000))
root=${WMG_BROKER_ROOT:-}
# $base is the node's folder as the node sees it; $host_base the same folder seen from here.
host_base="$root$base"
inroot=()
if [ -n "$root" ]; then
  [ -x "$root/usr/sbin/rabbitmq-server" ] || { echo "broker: $root holds no RabbitMQ (make it with rabbitmq4-root.sh)" >&2; exit 1; }
  export ERL_EPMD_PORT=$((port + 30000))
  inroot=(chroot "$root")
fi

ctl() { "${inroot[@]}" rabbitmqctl -q -n "$node" "$@"; }

# Erlang reads /proc and /dev/shm; a chroot has neither until they are mounted into it.
mount_root() {
  [ -n "$root" ] || return 0
  mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
  mkdir -p "$root/dev/shm"
  mountpoint -q "$root/dev/shm" || mount -t tmpfs shm "$root/dev/shm"
}

unmount_root() {
  [ -n "$root" ] || return 0
  # Only when no other node keeps its folder in the same root.
  if ! ls "$root$(dirname "$base")" 2>/dev/null | grep -q '^wmg-broker-'; then
    umount "$root/dev/shm" 2>/dev/null || true
    umount "$root/proc" 2>/dev/null || true
  fi
}

# A node whose listener or distribution port is taken does not fail: it hangs. Say so at once.
ports_free() {
  local taken
  for taken in "$port" "$dist_port"; do
    if port_in_use "$taken"; then
      echo "broker: 127.0.0.1:$taken is in use (by $(port_owner "$taken")); $node cannot start" >&2
      exit 1
    fi
  done
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_owner() { ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:(([^)]*' | head -n 1 | cut -c9- || echo unknown; }

node_env() {
  export RABBITMQ_NODENAME="$node"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$port"
  export RABBITMQ_DIST_PORT="$dist_port"
  export RABBITMQ_MNESIA_BASE="$base/mnesia"
  export RABBITMQ_LOG_BASE="$base/log"
  export RABBITMQ_PID_FILE="$base/rabbit.pid"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$base/enabled_plugins"
  export RABBITMQ_FEATURE_FLAGS_FILE="$base/feature_flags"
  export RABBITMQ_CONFIG_FILE="$base/rabbitmq"
  if [ -n "${WMG_BROKER_ERL_ARGS:-}" ]; then export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="$WMG_BROKER_ERL_ARGS"; fi
}

start() {
  if status >/dev/null 2>&1; then echo "broker: $node already runs on 127.0.0.1:$port"; return 0; fi
  ports_free
  rm -rf "$host_base"
  mkdir -p "$host_base/mnesia" "$host_base/log"
  # The consistent-hash exchange carries topology.partitions (docs/contract.md section 11).
  echo "[${WMG_BROKER_PLUGINS-rabbitmq_consistent_hash_exchange}]." > "$host_base/enabled_plugins"
  # Loopback only; guest may log in from there. A small disk limit keeps CI machines with
  # little free space from raising a disk alarm that would block every publisher.
  cat > "$host_base/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$port
loopback_users.guest = true
disk_free_limit.absolute = 50MB
log.console = false
log.file.level = info
CONF
  if [ -n "${WMG_BROKER_TLS_DIR:-}" ]; then
    # Copied into the node's folder: the server runs as the rabbitmq user and must read them.
    cp "$WMG_BROKER_TLS_DIR/ca.pem" "$WMG_BROKER_TLS_DIR/server.pem" "$WMG_BROKER_TLS_DIR/server.key" "$host_base/"
    cat >> "$host_base/rabbitmq.conf" <<CONF
listeners.ssl.default = 127.0.0.1:$tls_port
ssl_options.cacertfile = $base/ca.pem
ssl_options.certfile = $base/server.pem
ssl_options.keyfile = $base/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
CONF
  fi
  launch
}

# Starts the node on its folder as it is and waits until it accepts connections.
launch() {
  # Started as root, the server drops to the rabbitmq user: it must own its folders.
  if "${inroot[@]}" id rabbitmq >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then "${inroot[@]}" chown -R rabbitmq:rabbitmq "$base"; fi
  mount_root
  node_env
  # Debian's wrapper starts the server through `su`, which leaves it a soft limit of 1,024 open
  # files: the quorum queues and streams a few full test runs leave behind use them up, and logins
  # then time out. Started the same way, with the soft limit raised to the hard one.
  if [ "$(id -u)" -eq 0 ] && "${inroot[@]}" id rabbitmq >/dev/null 2>&1; then
    "${inroot[@]}" su rabbitmq -s /bin/sh -c \
      'ulimit -n "$(ulimit -Hn)"; cd /var/lib/rabbitmq && exec /usr/lib/rabbitmq/bin/rabbitmq-server -detached'
  else
    "${inroot[@]}" rabbitmq-server -detached
  fi
  # await_startup fails at once while the node is not yet registered with epmd: retry it.
  local deadline=$((SECONDS + 120))
  until ctl await_startup --timeout 30 >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "broker: $node did not start within 120 s; its log follows" >&2
      tail -n 40 "$host_base"/log/*.log >&2 2>/dev/null || true
      exit 1
    fi
    sleep 1
  done
  echo "broker: $node ready on 127.0.0.1:$port"
}

stop() {
  # Given the pid file, rabbitmqctl waits until the node's process has ended; bounded, because a
  # node that went through stop_app/start_app has been seen to leave it waiting forever.
  local pid=
  [ -f "$host_base/rabbit.pid" ] && pid=$(cat "$host_base/rabbit.pid" 2>/dev/null)
  if timeout 20 "${inroot[@]}" rabbitmqctl -q -n "$node" stop "$base/rabbit.pid" >/dev/null 2>&1; then
    echo "broker: $node stopped"
  fi
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    sleep 2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  # Last resort, also for a node whose pid file is gone: its Erlang processes carry the node name.
  pkill -KILL -f "beam.*${node}" 2>/dev/null || true
  rm -rf "$host_base"
  unmount_root
}

# Erlang's port mapper is started on demand; remove it when no other node still uses it. Not
# before a start (fresh): nodes booting beside it would lose their registration.
stop_epmd_if_unused() {
  if "${inroot[@]}" sh -c 'command -v epmd' >/dev/null 2>&1 && ! "${inroot[@]}" epmd -names 2>/dev/null | grep -q '^name '; then
    "${inroot[@]}" epmd -kill >/dev/null 2>&1 || true
  fi
}

resume() {
  if status >/dev/null 2>&1; then echo "broker: $node already runs on 127.0.0.1:$port"; return 0; fi
  [ -d "$host_base/mnesia" ] || { echo "broker: $node has no data folder $host_base; use start" >&2; exit 1; }
  ports_free
  launch
}

kill_node() {
  local pid
  pid=$(cat "$host_base/rabbit.pid" 2>/dev/null) || { echo "broker: $node has no pid file" >&2; exit 1; }
  kill -KILL "$pid"
  # Its port mapper registration and listener go with the process; wait until the port is free.
  local deadline=$((SECONDS + 20))
  while port_in_use "$port" && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
  echo "broker: $node killed"
}

status() { ctl status >/dev/null 2>&1 && echo "broker: $node runs on 127.0.0.1:$port"; }

case "${1:-}" in
  start) start ;;
  fresh) stop >/dev/null 2>&1 || true; start ;;
  resume) resume ;;
  kill) kill_node ;;
  stop) stop; stop_epmd_if_unused ;;
  status) status ;;
  ctl) shift; ctl "$@" ;;
  url) echo "amqp://guest:guest@127.0.0.1:$port/%2f" ;;
  url-tls) echo "amqps://guest:guest@localhost:$tls_port/%2f" ;;
  node) echo "$node" ;;
  pid) cat "$host_base/rabbit.pid" ;;
  *) echo "usage: $0 start|fresh|resume|kill|stop|status|ctl ARGS|url|url-tls|node|pid" >&2; exit 64 ;;
esac
