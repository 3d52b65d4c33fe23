#!/usr/bin/env bash
# Runs a test binary inside client0's network namespace of a namespace
# cluster (deploy/netns) started for it in a scratch state folder, with two
# clients, and tears the cluster down whatever happens.
#   in_netns.sh BINARY [ARGS...]
set -euo pipefail
root=${SCALEFS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
SCALEFS_STATE=$(mktemp -d /tmp/scalefs-netns-XXXXXX)
export SCALEFS_STATE
export SCALEFS_MNT=$SCALEFS_STATE/mnt
export SCALEFS_NETNS_PREFIX=sft$$
export SCALEFS_NETNS_CLIENTS=2
export SCALEFS_DEVICE_SIZE=${SCALEFS_DEVICE_SIZE:-512M}
export SCALEFS_PORT_BASE=7600
export SCALEFS_SOURCE_DIR=$root
trap '"$root/deploy/netns" down --purge >/dev/null 2>&1 || true' EXIT
"$root/deploy/netns" up
"$root/deploy/netns" exec client0 "$@"
