# Shared by deploy/up, deploy/down, test/run and the benchmark: installing
# what is missing, building, and the local cluster's names and ports.
# shellcheck shell=bash

SCALEFS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCALEFS_BUILD=${SCALEFS_BUILD:-$SCALEFS_ROOT/build}
SCALEFS_STATE=${SCALEFS_STATE:-/var/lib/scalefs}
SCALEFS_MNT=${SCALEFS_MNT:-/mnt/scalefs}
SCALEFS_PORT_BASE=${SCALEFS_PORT_BASE:-7600}
SCALEFS_DEVICE_SIZE=${SCALEFS_DEVICE_SIZE:-1G}

SCALEFS_PACKAGES=(build-essential cmake pkg-config libfuse3-dev fuse3 libgrpc++-dev
  protobuf-compiler-grpc libprotobuf-dev protobuf-compiler librocksdb-dev
  libgoogle-glog-dev libgflags-dev libgtest-dev libgmock-dev zlib1g-dev
  procps psmisc util-linux iproute2 acl openssl libssl-dev prometheus-cpp-dev curl
  python3-prometheus-client nftables iptables libisal-dev libnetfilter-queue-dev)

log() { echo "[scalefs] $*" >&2; }
die() { echo "[scalefs] error: $*" >&2; exit 1; }

# Installs only the Debian packages that are missing (so it is quick when
# nothing is), then checks that FUSE is usable.
install_deps() {
  [[ ${SCALEFS_PREBUILT:-0} == 1 ]] && return 0  # a restart by $SCALEFS_STATE/cluster
  local missing=() p
  for p in "${SCALEFS_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    local sudo=""; [[ $(id -u) == 0 ]] || sudo=sudo
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
      || die "apt-get install ${missing[*]} failed"
  fi
  [[ -c /dev/fuse ]] || modprobe fuse 2>/dev/null || true
  [[ -c /dev/fuse ]] || die "/dev/fuse is missing: FUSE is not available on this machine"
}

# Release build of the three programs into $SCALEFS_BUILD/bin.
build_programs() {
  [[ ${SCALEFS_PREBUILT:-0} == 1 ]] && return 0
  cmake -S "$SCALEFS_ROOT" -B "$SCALEFS_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null \
    || die "cmake configure failed"
  cmake --build "$SCALEFS_BUILD" -j"$(nproc)" --target scalefs scalefs-meta scalefs-chunk >/dev/null \
    || die "build failed (run: cmake --build $SCALEFS_BUILD)"
}

# The local cluster: meta, then pair k's members a and b.
cluster_meta_addr() { echo "127.0.0.1:$SCALEFS_PORT_BASE"; }
cluster_member_port() { # pair member(0|1)
  echo $((SCALEFS_PORT_BASE + 1 + 2 * $1 + $2))
}
# Prometheus metrics (/metrics): each daemon on its gRPC port + 100 (7700
# meta, 7701-7704 the members), the mount on base + 150 (7750); the same
# ports as deploy/prometheus/prometheus.yml.
cluster_metrics_port() { # grpc_port
  echo $(($1 + 100))
}
cluster_mount_metrics_port() { echo $((SCALEFS_PORT_BASE + 150)); }

pid_alive() { # pidfile name
  local pid
  [[ -f $1 ]] || return 1
  pid=$(cat "$1")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && grep -qa "$2" "/proc/$pid/cmdline" 2>/dev/null
}

# "pid (program)" of the process listening on a local TCP port; empty if none.
port_holder() { # port
  { ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' || true; } | head -1 | cut -d= -f2 |
    while read -r pid; do echo "$pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-120))"; done
  return 0
}

# Waits until `pid` listens on `port`; fails when it exits first or another
# process holds the port.
wait_listening() { # pid port seconds
  local i holder
  for ((i = 0; i < $3 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || return 1
    holder=$(port_holder "$2")
    [[ ${holder%% *} == "$1" ]] && return 0
    sleep 0.1
  done
  return 1
}

# Pids of the `scalefs mount` clients serving mount point `mnt`.
mount_client_pids() { # mnt
  local f args
  for f in /proc/[0-9]*/cmdline; do
    mapfile -d '' args <"$f" 2>/dev/null || continue
    [[ ${#args[@]} -ge 4 && ${args[0]##*/} == scalefs && ${args[1]} == mount && ${args[3]} == "$1" ]] \
      || continue
    f=${f#/proc/}
    echo "${f%/cmdline}"
  done
}

# Sends SIGTERM, waits up to `seconds`, then SIGKILL; returns once gone.
stop_pid() { # pid seconds
  local i
  kill -0 "$1" 2>/dev/null || return 0
  kill -TERM "$1" 2>/dev/null || true
  for ((i = 0; i < $2 * 10; i++)); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  while kill -0 "$1" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; do
    sleep 0.05
  done
}

# $SCALEFS_STATE/cluster: this cluster's tooling with its variables, for
# whoever acts on the cluster later without them (scalefs torture --faults):
# `cluster up` starts what is not running, `cluster kind` says local or
# netns, `cluster grow` adds a pair (registered, so new files use it; then
# rebalance), `cluster admin ARGS` runs `scalefs ARGS` with the admin
# certificate where meta is reachable, and a namespace cluster's
# `cluster cut A B`, `heal`, `isolate` ... act on its links.
write_cluster_script() { # kind tool
  local f=$SCALEFS_STATE/cluster v
  {
    echo '#!/usr/bin/env bash'
    echo "# Written by deploy/$(basename "$2"): the commands of the cluster in this folder."
    for v in SCALEFS_STATE SCALEFS_MNT SCALEFS_PORT_BASE SCALEFS_DEVICE_SIZE SCALEFS_BUILD \
      SCALEFS_NETNS_PREFIX SCALEFS_NETNS_SUBNET SCALEFS_NETNS_CLIENTS SCALEFS_INSECURE; do
      [[ -n ${!v:-} ]] && printf 'export %s=%q\n' "$v" "${!v}"
    done
    echo '# Installed and built already: a restart only starts what is not running.'
    echo 'export SCALEFS_PREBUILT=1'
    echo "[[ \${1:-} == kind ]] && { echo $1; exit 0; }"
    echo 'if [[ ${1:-} == grow ]]; then'
    echo '  SCALEFS_PAIRS=$(($(cat "$SCALEFS_STATE/pairs") + 1)); export SCALEFS_PAIRS'
    echo '  set -- up'
    echo 'fi'
    if [[ $1 == local ]]; then
      echo 'case ${1:-} in'
      printf '  up) exec %q ;;\n  down) shift; exec %q "$@" ;;\n' "$2" "$(dirname "$2")/down"
      printf '  admin) shift; exec %q "$@" ;;\n' "$SCALEFS_BUILD/bin/scalefs"
      echo '  *) echo "usage: cluster up|down|grow|admin ARGS|kind" >&2; exit 2 ;;'
      echo 'esac'
    else
      printf '[[ ${1:-} == admin ]] && { shift; exec %q exec client0 %q "$@"; }\n' "$2" \
        "$SCALEFS_BUILD/bin/scalefs"
      printf 'exec %q "$@"\n' "$2"
    fi
  } >"$f.new"
  chmod 755 "$f.new"
  mv "$f.new" "$f"
}
