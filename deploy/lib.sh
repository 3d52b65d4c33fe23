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
  procps psmisc util-linux acl)

log() { echo "[scalefs] $*" >&2; }
die() { echo "[scalefs] error: $*" >&2; exit 1; }

# Installs only the Debian packages that are missing (so it is quick when
# nothing is), then checks that FUSE is usable.
install_deps() {
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

pid_alive() { # pidfile name
  local pid
  [[ -f $1 ]] || return 1
  pid=$(cat "$1")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && grep -qa "$2" "/proc/$pid/cmdline" 2>/dev/null
}

# Waits until a TCP port accepts connections.
wait_port() { # port seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
