#!/usr/bin/env bash
# Prints the Kubernetes manifests of this folder as one stream for `kubectl apply -f -`, with the
# replica count set once: the StatefulSet's spec.replicas and the ConfigMap's replicas.count come
# from the same --replicas, so the two cannot disagree (a pod whose ordinal is past replicas.count
# only stands by). secret.example.yaml is left out: create the Secret yourself.
#
#   deploy/kubernetes/render.sh --replicas 3 --partitions 6 | kubectl apply -f -
#
# Scaling (docs/deploy.md): render and apply with the new count; the StatefulSet restarts each pod
# with the new ConfigMap (its checksum annotation changes) and adds or removes pods.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
replicas=2
partitions=4
usage() { echo "usage: $0 [--replicas N] [--partitions K]   (N >= 1, K >= N)" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --replicas) [ $# -ge 2 ] || usage; replicas=$2; shift 2 ;;
    --partitions) [ $# -ge 2 ] || usage; partitions=$2; shift 2 ;;
    *) usage ;;
  esac
done
[[ $replicas =~ ^[1-9][0-9]*$ ]] || { echo "render.sh: --replicas must be a whole number from 1: $replicas" >&2; exit 2; }
[[ $partitions =~ ^[1-9][0-9]*$ ]] || { echo "render.sh: --partitions must be a whole number from 1: $partitions" >&2; exit 2; }
[ "$partitions" -ge "$replicas" ] \
  || { echo "render.sh: $partitions partitions for $replicas replicas: each replica needs one (raise --partitions)" >&2; exit 2; }

configmap=$(sed -e "s/^      partitions: [0-9]*$/      partitions: $partitions/" \
  -e "s/^      count: [0-9]*$/      count: $replicas/" "$here/configmap.yaml")
checksum=$(printf '%s' "$configmap" | sha256sum | cut -c1-16)
for file in configmap service statefulset pdb servicemonitor prometheusrule; do
  echo "---"
  case $file in
    configmap) printf '%s\n' "$configmap" ;;
    statefulset)
      sed -e "s/^  replicas: [0-9]*$/  replicas: $replicas/" \
        -e "s/^        workmode-gateway\/config-checksum: .*$/        workmode-gateway\/config-checksum: \"$checksum\"/" "$here/statefulset.yaml" ;;
    *) cat "$here/$file.yaml" ;;
  esac
done
