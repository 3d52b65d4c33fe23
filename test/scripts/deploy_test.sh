#!/usr/bin/env bash
# deploy/up mounts a working local cluster (and is idempotent), a file
# written there reads back, deploy/down leaves nothing mounted or running.
set -euo pipefail
root=${SCALEFS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
export SCALEFS_STATE=$(mktemp -d /tmp/scalefs-deploy-XXXXXX)
export SCALEFS_MNT=$SCALEFS_STATE/mnt
export SCALEFS_PORT_BASE=$((20000 + RANDOM % 20000))
export SCALEFS_DEVICE_SIZE=256M
fail() { echo "FAIL: $*" >&2; "$root/deploy/down" --purge >/dev/null 2>&1 || true; exit 1; }

"$root/deploy/up" || fail "deploy/up"
mountpoint -q "$SCALEFS_MNT" || fail "not mounted after deploy/up"
head -c 3000000 /dev/urandom >"$SCALEFS_STATE/expected"
cp "$SCALEFS_STATE/expected" "$SCALEFS_MNT/file" || fail "write through the mount"
cmp "$SCALEFS_STATE/expected" "$SCALEFS_MNT/file" || fail "read back differs"
for name in meta pair0a pair0b pair1a pair1b; do
  [[ -f $SCALEFS_STATE/run/$name.pid && -f $SCALEFS_STATE/log/$name.log ]] || fail "no pid/log for $name"
done

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

"$root/deploy/down" || fail "deploy/down"
grep -qs " $SCALEFS_MNT " /proc/mounts && fail "still mounted after deploy/down"
for f in "$SCALEFS_STATE"/run/*.pid; do [[ -e $f ]] && fail "pid file $f left"; done
pgrep -f "$SCALEFS_STATE" >/dev/null && fail "processes of the cluster still running: $(pgrep -af "$SCALEFS_STATE")"
rm -rf "$SCALEFS_STATE"
echo PASS
