#!/usr/bin/env bash
# deploy/install into a scratch root (DESTDIR) puts the programs, the mount
# helper, the systemd units and the flag files where they belong, and the
# installed programs run with the installed flag files; then the fstab flow
# on this machine through /sbin/mount.scalefs: `mount -a` twice leaves one
# mount, the mount works, `umount` leaves none and no client behind.
set -euo pipefail
root=${SCALEFS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${SCALEFS_BIN_DIR:-$root/build/bin}
export SCALEFS_BUILD=$(dirname "$bin")
export SCALEFS_STATE=$(mktemp -d /tmp/scalefs-install-XXXXXX)
export SCALEFS_MNT=$SCALEFS_STATE/mnt
export SCALEFS_PORT_BASE=$((20000 + RANDOM % 12000))  # below the ephemeral ports
export SCALEFS_DEVICE_SIZE=256M
dest=$SCALEFS_STATE/root
fsmnt=$SCALEFS_STATE/fstab-mnt
# A mount made by mount(8) logs to files named after its mount point
# (glog's, in /var/log/scalefs; NAME.INFO links to the current one).
mlog=/var/log/scalefs/mount-$(sed 's|^/||; s|/|-|g' <<<"$fsmnt")
helper=/sbin/mount.scalefs
saved=""
cleanup() {
  mountpoint -q "$fsmnt" 2>/dev/null && umount -l "$fsmnt"
  "$root/deploy/down" --purge >/dev/null 2>&1 || true
  if [[ -n $saved ]]; then mv -f "$saved" "$helper"; else rm -f "$helper"; fi
  rm -f "$mlog".INFO "$mlog".log.*
  rm -rf "$SCALEFS_STATE"
}
fail() { echo "FAIL: $*" >&2; cleanup; exit 1; }

# --- into a scratch root ---
DESTDIR=$dest "$root/deploy/install" || fail "deploy/install into DESTDIR"
for p in scalefs scalefs-meta scalefs-chunk; do
  [[ -x $dest/usr/local/bin/$p ]] || fail "$p not installed"
done
[[ $(readlink "$dest/sbin/mount.scalefs") == /usr/local/bin/scalefs ]] || fail "no mount helper"
grep -qx "ExecStart=/usr/local/bin/scalefs-meta --logtostderr --flagfile=/etc/scalefs/meta.conf" \
  "$dest/etc/systemd/system/scalefs-meta.service" || fail "meta unit"
grep -qx "ExecStart=/usr/local/bin/scalefs-chunk --logtostderr --flagfile=/etc/scalefs/chunk-%i.conf" \
  "$dest/etc/systemd/system/scalefs-chunk@.service" || fail "chunk unit"
grep -qx "Type=scalefs" "$dest/etc/scalefs/mnt-scalefs.mount.example" || fail "mount unit example"
"$dest/usr/local/bin/scalefs-meta" --version | grep -q "^scalefs-meta 0\." || fail "meta --version"
# The flag files are flags the programs take (paths, ports and the
# certificates, made here by the installed CLI, overridden here).
port=$((SCALEFS_PORT_BASE + 10))
tls=$SCALEFS_STATE/conf-tls
"$dest/usr/local/bin/scalefs" ca init --dir "$tls" >/dev/null || fail "ca init"
for n in meta pair0a; do
  "$dest/usr/local/bin/scalefs" ca issue "$([[ $n == meta ]] && echo meta || echo member)" $n \
    --dir "$tls" >/dev/null || fail "ca issue $n"
done
grep -q -- "--cert=/etc/scalefs/tls/meta.crt" "$dest/etc/scalefs/meta.conf" || fail "meta.conf names no certificate"
"$dest/usr/local/bin/scalefs-meta" --logtostderr --flagfile="$dest/etc/scalefs/meta.conf" \
  --db="$SCALEFS_STATE/conf-db" --listen="127.0.0.1:$port" \
  --ca_cert="$tls/ca.crt" --cert="$tls/meta.crt" --key="$tls/meta.key" \
  >"$SCALEFS_STATE/conf-meta.log" 2>&1 &
meta_pid=$!
"$dest/usr/local/bin/scalefs-chunk" --logtostderr --flagfile="$dest/etc/scalefs/chunk-pair0a.conf" \
  --device="$SCALEFS_STATE/conf.img" --size=16M --listen="127.0.0.1:$((port + 1))" \
  --ca_cert="$tls/ca.crt" --cert="$tls/pair0a.crt" --key="$tls/pair0a.key" \
  --meta="127.0.0.1:$port" >"$SCALEFS_STATE/conf-chunk.log" 2>&1 &
chunk_pid=$!
up=0
for _ in $(seq 50); do
  if ss -Hltn "sport = :$port" | grep -q LISTEN && ss -Hltn "sport = :$((port + 1))" | grep -q LISTEN; then
    up=1; break
  fi
  sleep 0.1
done
kill "$meta_pid" "$chunk_pid" 2>/dev/null; wait "$meta_pid" "$chunk_pid" 2>/dev/null || true
((up)) || fail "daemons with the installed flag files: $(cat "$SCALEFS_STATE"/conf-*.log)"
echo "--no_such_flag=1" >>"$dest/etc/scalefs/meta.conf"
out=$("$dest/usr/local/bin/scalefs-meta" --flagfile="$dest/etc/scalefs/meta.conf" 2>&1) \
  && fail "a bad flag file was accepted"
grep -q "meta.conf:[0-9]*: unknown flag --no_such_flag" <<<"$out" || fail "bad flag file: $out"
# A second install keeps the edited config; uninstall removes the rest.
DESTDIR=$dest "$root/deploy/install" >/dev/null 2>&1 || fail "second install"
grep -q no_such_flag "$dest/etc/scalefs/meta.conf" || fail "install overwrote a config file"
DESTDIR=$dest "$root/deploy/install" --uninstall >/dev/null 2>&1 || fail "uninstall"
[[ -e $dest/usr/local/bin/scalefs || -L $dest/sbin/mount.scalefs ]] && fail "uninstall left programs"
[[ -e $dest/etc/scalefs/meta.conf ]] || fail "uninstall removed a config file"

# --- the fstab flow on this machine, with the build under test as the helper ---
if [[ -e $helper || -L $helper ]]; then saved=$SCALEFS_STATE/mount.scalefs.saved; mv "$helper" "$saved"; fi
ln -s "$bin/scalefs" "$helper"
"$root/deploy/up" >"$SCALEFS_STATE/up.log" 2>&1 || fail "deploy/up: $(tail -5 "$SCALEFS_STATE/up.log")"
mkdir -p "$fsmnt"
echo "127.0.0.1:$SCALEFS_PORT_BASE $fsmnt scalefs defaults,_netdev 0 0" >"$SCALEFS_STATE/fstab"
for i in 1 2; do
  mount -a -T "$SCALEFS_STATE/fstab" || fail "mount -a (run $i) failed"
  n=$(grep -c " $fsmnt " /proc/self/mountinfo || true)
  [[ $n == 1 ]] || fail "after mount -a run $i: $n mounts on $fsmnt"
done
echo "through fstab" >"$fsmnt/f" || fail "write through the fstab mount"
[[ $(cat "$SCALEFS_MNT/f") == "through fstab" ]] || fail "the other mount does not see the file"
findmnt -n -o SOURCE,FSTYPE "$fsmnt" | grep -q "^127.0.0.1:$SCALEFS_PORT_BASE fuse.scalefs" \
  || fail "mount source: $(findmnt -n -o SOURCE,FSTYPE "$fsmnt")"
grep -q "mounted .* on $fsmnt" "$mlog.INFO" 2>/dev/null || fail "no log of the fstab mount in $mlog.INFO"
client=$(pgrep -f "mount.scalefs 127.0.0.1:$SCALEFS_PORT_BASE $fsmnt" || true)
[[ -n $client ]] || fail "no mount.scalefs client process"
umount "$fsmnt" || fail "umount"
grep -q " $fsmnt " /proc/self/mountinfo && fail "still mounted after umount"
for _ in $(seq 50); do kill -0 $client 2>/dev/null || break; sleep 0.1; done
kill -0 $client 2>/dev/null && fail "client $client still running after umount"
cleanup
echo PASS
