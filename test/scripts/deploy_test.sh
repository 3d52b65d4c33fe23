#!/usr/bin/env bash
# deploy/up mounts a working local cluster (and is idempotent), a file
# written there reads back, deploy/down leaves nothing mounted or running.
set -euo pipefail
root=${SCALEFS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
export SCALEFS_STATE=$(mktemp -d /tmp/scalefs-deploy-XXXXXX)
export SCALEFS_MNT=$SCALEFS_STATE/mnt
export SCALEFS_PORT_BASE=$((20000 + RANDOM % 12000))  # below the ephemeral ports
export SCALEFS_DEVICE_SIZE=256M
fail() { echo "FAIL: $*" >&2; "$root/deploy/down" --purge >/dev/null 2>&1 || true; exit 1; }
# A command that fails outside a check (set -e) must not leave the cluster mounted either.
trap 'rc=$?; ((rc == 0)) || { echo "FAIL: line $LINENO exited $rc" >&2; "$root/deploy/down" --purge >/dev/null 2>&1 || true; }' EXIT

"$root/deploy/up" || fail "deploy/up"
mountpoint -q "$SCALEFS_MNT" || fail "not mounted after deploy/up"
head -c 3000000 /dev/urandom >"$SCALEFS_STATE/expected"
cp "$SCALEFS_STATE/expected" "$SCALEFS_MNT/file" || fail "write through the mount"
cmp "$SCALEFS_STATE/expected" "$SCALEFS_MNT/file" || fail "read back differs"
for name in meta pair0a pair0b pair1a pair1b; do
  [[ -f $SCALEFS_STATE/run/$name.pid && -f $SCALEFS_STATE/log/$name.INFO ]] || fail "no pid/log for $name"
done
[[ -f $SCALEFS_STATE/log/client.INFO ]] || fail "no log of the mount"
# Every daemon and the mount serve Prometheus metrics where lib.sh says.
source "$root/deploy/lib.sh"
metrics_ports=("$(cluster_metrics_port "$SCALEFS_PORT_BASE")" "$(cluster_mount_metrics_port)")
for k in 0 1; do for m in 0 1; do
  metrics_ports+=("$(cluster_metrics_port "$(cluster_member_port $k $m)")")
done; done
# The page is read whole before grep looks at it: `curl | grep -q` under pipefail fails
# whenever grep stops reading before curl has written the last byte (SIGPIPE).
scrape() { curl -sf "http://127.0.0.1:$1/metrics" || fail "cannot scrape port $1"; }
for p in "${metrics_ports[@]}"; do
  grep -q "^scalefs_" <<<"$(scrape "$p")" || fail "no scalefs metrics on port $p"
done
grep -q '^scalefs_pair_healthy{pair="pair1"}' <<<"$(scrape "$(cluster_metrics_port "$SCALEFS_PORT_BASE")")" \
  || fail "meta shows no pair1"

# Idempotent: a second run changes nothing; after a member dies it restarts only that one.
pids_before=$(cat "$SCALEFS_STATE"/run/*.pid | sort)
"$root/deploy/up" || fail "second deploy/up"
[[ $(cat "$SCALEFS_STATE"/run/*.pid | sort) == "$pids_before" ]] || fail "second deploy/up restarted daemons"
kill -9 "$(cat "$SCALEFS_STATE/run/pair1b.pid")"
meta_pid=$(cat "$SCALEFS_STATE/run/meta.pid")
sleep 0.5
"$root/deploy/up" || fail "deploy/up after a member died"
[[ $(cat "$SCALEFS_STATE/run/meta.pid") == "$meta_pid" ]] || fail "meta was restarted needlessly"
kill -0 "$(cat "$SCALEFS_STATE/run/pair1b.pid")" || fail "pair1b not restarted"
"$root/build/bin/scalefs" --meta="127.0.0.1:$SCALEFS_PORT_BASE" pair list | grep -q pair1 || fail "pair list"

# A second mount on the same directory is refused (it would hide the first).
out=$("$root/build/bin/scalefs" mount "127.0.0.1:$SCALEFS_PORT_BASE" "$SCALEFS_MNT" 2>&1) \
  && fail "a second mount on $SCALEFS_MNT was made"
grep -q "is a mount point already" <<<"$out" || fail "second mount's message: $out"
[[ $(grep -c " $SCALEFS_MNT " /proc/mounts) == 1 ]] || fail "mounts stacked on $SCALEFS_MNT"

# deploy/up brings back a mount whose client died.
client=$(pgrep -f "scalefs mount .* $SCALEFS_MNT" | head -1)
[[ -n $client ]] || fail "no client process found"
kill -9 "$client"
sleep 0.5
"$root/deploy/up" || fail "deploy/up after the client died"
cmp "$SCALEFS_STATE/expected" "$SCALEFS_MNT/file" || fail "read back after the remount"

# A daemon refuses a port another process holds, naming the port; so does a
# second cluster's deploy/up on the same ports (it must not "mount" the first).
tls=$SCALEFS_STATE/tls
cert() { echo "--ca_cert=$tls/ca.crt" "--cert=$tls/$1.crt" "--key=$tls/$1.key"; }
out=$("$root/build/bin/scalefs-meta" --logtostderr --listen="127.0.0.1:$SCALEFS_PORT_BASE" \
  --db="$SCALEFS_STATE/other-db" $(cert meta) 2>&1) && fail "a second meta started on a port in use"
grep -q "port $SCALEFS_PORT_BASE is in use" <<<"$out" || fail "second meta's message: $out"
port=$((SCALEFS_PORT_BASE + 1))
out=$("$root/build/bin/scalefs-chunk" --logtostderr --listen="127.0.0.1:$port" --peer=127.0.0.1:1 \
  --device="$SCALEFS_STATE/other.img" --size=16M $(cert pair0a) 2>&1) \
  && fail "a second chunk started on a port in use"
grep -q "port $port is in use" <<<"$out" || fail "second chunk's message: $out"
other=$(mktemp -d /tmp/scalefs-deploy-other-XXXXXX)
out=$(SCALEFS_STATE=$other SCALEFS_MNT=$other/mnt "$root/deploy/up" 2>&1) \
  && { rm -rf "$other"; fail "a second cluster on the same ports came up"; }
grep -q "port $SCALEFS_PORT_BASE (for meta) is held by another process" <<<"$out" \
  || { rm -rf "$other"; fail "second deploy/up's message: $out"; }
grep -qs " $other/mnt " /proc/mounts && fail "the second cluster mounted"
rm -rf "$other"

# deploy/down returns only when every process of the cluster is gone.
pids=$(cat "$SCALEFS_STATE"/run/*.pid)
"$root/deploy/down" || fail "deploy/down"
for pid in $pids; do
  [[ -d /proc/$pid && $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] \
    && fail "daemon $pid still alive when deploy/down returned"
done
grep -qs " $SCALEFS_MNT " /proc/mounts && fail "still mounted after deploy/down"
for f in "$SCALEFS_STATE"/run/*.pid; do [[ -e $f ]] && fail "pid file $f left"; done
pgrep -f "$SCALEFS_STATE" >/dev/null && fail "processes of the cluster still running: $(pgrep -af "$SCALEFS_STATE")"
rm -rf "$SCALEFS_STATE"
echo PASS
