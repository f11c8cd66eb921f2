#!/usr/bin/env bash
# A throwaway one-node Ceph cluster with a RADOS Gateway on loopback, for the registry's S3 tests.
#
#   scripts/ceph-rgw.sh start DIR    creates DIR, starts mon, mgr, one OSD (BlueStore on a sparse file
#                                    DIR/osd.0.block) and radosgw, creates an S3 user and writes
#                                    DIR/env (S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION)
#   scripts/ceph-rgw.sh stop DIR     stops every daemon whose pid file is in DIR and removes DIR
#
# CEPH_OSD_BYTES sets the OSD's (sparse) device size, 2 GiB by default. Ceph blocks writes, rather than
# failing them, once the OSD is nearly full: give workloads that store more a larger device.
#
# No loop device, no mount, no systemd unit: every daemon runs as a process of this script's user with
# its data, sockets, logs and pid file under DIR, so `stop` (or removing DIR after killing the pids in
# DIR/run) leaves nothing behind. Ports are free loopback ports picked at start. Memory is capped for a
# test: the OSD's cache targets ~1 GiB, mon and mgr stay in a few hundred MiB.
# Authentication inside the cluster is off (nothing but loopback reaches it); S3 requests are signed
# and checked by radosgw as usual.
set -euo pipefail

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

stop() {
  local pids=() f
  for f in "$dir"/run/*.pid; do
    [ -e "$f" ] || continue
    local p; p=$(cat "$f" 2>/dev/null || true)
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null && pids+=("$p")
  done
  if [ ${#pids[@]} -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 50); do
      local alive=0
      for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
      [ $alive = 0 ] && break
      sleep 0.2
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
  fi
  rm -rf "$dir"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_for() { # SECONDS DESCRIPTION COMMAND...
  local secs=$1 what=$2; shift 2
  for _ in $(seq $((secs * 5))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "ceph-rgw: $what did not come up within ${secs}s; logs in $dir/log" >&2
  tail -n 20 "$dir"/log/*.log >&2 || true
  return 1
}

start() {
  for b in ceph-mon ceph-mgr ceph-osd radosgw radosgw-admin monmaptool ceph; do
    command -v $b >/dev/null || { echo "ceph-rgw: $b missing (scripts/setup.sh installs it)" >&2; exit 1; }
  done
  [ -e "$dir" ] && { echo "ceph-rgw: $dir exists; stop it first" >&2; exit 1; }
  mkdir -p "$dir"/{run,log,mon.a,mgr.x,osd.0,rgw}
  dir=$(cd "$dir" && pwd)
  [ -n "${CEPH_RGW_KEEP:-}" ] || trap 'echo "ceph-rgw: start failed; tearing down (CEPH_RGW_KEEP=1 keeps DIR)" >&2; stop' ERR
  local fsid mon_port rgw_port conf=$dir/ceph.conf
  fsid=$(cat /proc/sys/kernel/random/uuid)
  mon_port=$(free_port); rgw_port=$(free_port)
  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
public network = 127.0.0.0/8
ms bind msgr1 = false
# radosgw asks for secure mode on its monitor sessions, which auth "none" cannot give
ms mon client mode = crc
ms client mode = crc
auth cluster required = none
auth service required = none
auth client required = none
run dir = $dir/run
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
log to stderr = false
err to stderr = true
mon cluster log file = $dir/log/cluster.log
crash dir = $dir/run
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 0
[mon]
mon data = $dir/\$name
[mgr]
mgr data = $dir/\$name
mgr initial modules =
[osd]
osd data = $dir/\$name
osd objectstore = bluestore
bluestore block path = $dir/\$name.block
bluestore block create = true
bluestore block size = ${CEPH_OSD_BYTES:-2147483648}
bluestore block db create = false
bluestore block wal create = false
bluestore fsck on mkfs = false
osd memory target = 939524096
bluestore cache autotune = false
bluestore cache size = 134217728
osd max object name len = 460
osd max object namespace len = 64
[client.rgw.x]
rgw data = $dir/rgw
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw dns name = localhost
rgw enable usage log = false
rgw thread pool size = 64
EOF
  local c=(-c "$conf")
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
  ceph-mon "${c[@]}" -i a --mkfs --monmap "$dir/monmap" >/dev/null
  ceph-mon "${c[@]}" -i a
  wait_for 30 "the monitor" ceph "${c[@]}" --connect-timeout 5 mon stat
  ceph-mgr "${c[@]}" -i x
  local uuid; uuid=$(cat /proc/sys/kernel/random/uuid)
  local id; id=$(ceph "${c[@]}" osd new "$uuid")
  [ "$id" = 0 ] || { echo "ceph-rgw: unexpected osd id $id" >&2; false; }
  ceph-osd "${c[@]}" -i 0 --mkfs --osd-uuid "$uuid" >/dev/null 2>"$dir/log/osd-mkfs.log"
  ceph-osd "${c[@]}" -i 0 2>>"$dir/log/osd.0.stderr"
  wait_for 60 "the OSD" sh -c "ceph -c '$conf' osd stat -f json | grep -q '\"num_up_osds\":1'"
  radosgw "${c[@]}" -n client.rgw.x
  wait_for 120 "radosgw" sh -c "curl -sf http://127.0.0.1:$rgw_port/ >/dev/null"
  local ak sk
  ak=BERTH$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
  sk=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
  radosgw-admin "${c[@]}" user create --uid=berth --display-name=berth --access-key="$ak" --secret="$sk" >/dev/null
  cat >"$dir/env" <<EOF
S3_ENDPOINT=http://127.0.0.1:$rgw_port
S3_ACCESS_KEY=$ak
S3_SECRET_KEY=$sk
S3_REGION=default
EOF
  trap - ERR
  echo "ceph-rgw: radosgw at http://127.0.0.1:$rgw_port (credentials in $dir/env)"
}

case $cmd in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
