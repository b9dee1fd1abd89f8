#!/usr/bin/env bash
# A throwaway three-node RabbitMQ cluster on this one machine, for tests and demos: each node is a
# broker.sh node (own name, ports and data folder), nodes 2 and 3 joined to node 1. Quorum queues
# declared on it get three members.
#
#   deploy/local/cluster.sh start          start the three nodes and join them
#   deploy/local/cluster.sh stop           stop them and remove their folders
#   deploy/local/cluster.sh kill-node N    kill -9 node N (1-3), keeping its data
#   deploy/local/cluster.sh start-node N   start node N again on its data; it rejoins the cluster
#   deploy/local/cluster.sh leader QUEUE   the number (1-3) of the node leading quorum queue QUEUE
#   deploy/local/cluster.sh url            amqp.url naming all three nodes
#   deploy/local/cluster.sh port N         node N's AMQP port
#   deploy/local/cluster.sh status         the cluster's status, as node 1 sees it
#
# Environment: WMG_CLUSTER_PORT (default 5681): node N listens on WMG_CLUSTER_PORT + N - 1.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
first_port=${WMG_CLUSTER_PORT:-5681}

port_of() {
  case "$1" in 1 | 2 | 3) echo $((first_port + $1 - 1)) ;; *) echo "cluster: node must be 1, 2 or 3; got $1" >&2; exit 64 ;; esac
}
node_of() { echo "wmg$(port_of "$1")@localhost"; }
broker() { local n=$1; shift; WMG_BROKER_PORT=$(port_of "$n") "$here/broker.sh" "$@"; }
# rabbitmqctl against the first node of 1..3 that answers (node 1 may be the one killed).
any_ctl() {
  local n
  for n in 1 2 3; do
    if broker "$n" status >/dev/null 2>&1; then broker "$n" ctl "$@"; return; fi
  done
  echo "cluster: no node answers" >&2
  exit 1
}

start() {
  # Three nodes boot in parallel: a third of the time of one after the other.
  local n pids=()
  # fresh: a node left running by a crashed run would otherwise be joined as it is.
  for n in 1 2 3; do broker "$n" fresh & pids+=($!); done
  local failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  if [ "$failed" -ne 0 ]; then echo "cluster: a node did not start" >&2; stop >/dev/null 2>&1; exit 1; fi
  # join_cluster prints harmless errors about tables of nodes still joining: say only a failure.
  local log
  for n in 2 3; do
    if ! log=$( { broker "$n" ctl stop_app && broker "$n" ctl join_cluster "$(node_of 1)" && broker "$n" ctl start_app; } 2>&1); then
      echo "cluster: node $n could not join node 1: $log" >&2
      stop >/dev/null 2>&1
      exit 1
    fi
  done
  broker 1 ctl await_online_nodes 3 >/dev/null 2>&1 || true
  echo "cluster: $(node_of 1), $(node_of 2), $(node_of 3) joined; amqp.url $(url)"
}

stop() {
  local n
  for n in 3 2 1; do broker "$n" stop || true; done
}

url() { echo "amqp://guest:guest@127.0.0.1:$(port_of 1),127.0.0.1:$(port_of 2),127.0.0.1:$(port_of 3)/%2f"; }

leader() {
  local queue=$1 line name
  line=$(any_ctl list_queues name leader | awk -F'\t' -v q="$queue" '$1 == q { print $2 }')
  [ -n "$line" ] || { echo "cluster: queue $queue not found" >&2; exit 1; }
  for n in 1 2 3; do
    name=$(node_of "$n")
    if [ "$line" = "$name" ]; then echo "$n"; return; fi
  done
  echo "cluster: leader $line is not a node of this cluster" >&2
  exit 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  kill-node) broker "${2:?node number}" kill ;;
  start-node) broker "${2:?node number}" resume ;;
  leader) leader "${2:?queue name}" ;;
  url) url ;;
  port) port_of "${2:?node number}" ;;
  status) any_ctl cluster_status ;;
  *) echo "usage: $0 start|stop|kill-node N|start-node N|leader QUEUE|url|port N|status" >&2; exit 64 ;;
esac
