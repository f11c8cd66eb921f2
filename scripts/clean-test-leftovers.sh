#!/usr/bin/env bash
# Removes what test daemons left when their run was killed before its clean-up ran (a killed
# `cargo test` cannot stop the daemons and containers its tests started). Only what provably belongs
# to a test, and never what a live test uses, so it is safe while other tests run:
# - bridges btdNN (the test slots' default bridges) that no daemon holds (the flock on
#   /run/berth/bridges/btdNN) and whose slot no live test owns (/tmp/berth-test-netslots/NN holds
#   the owner's pid);
# - firewall chain sets BERTH-<6 hex> (one per data root) whose rules name such a bridge, and no
#   bridge a daemon holds or a live test's slot;
# - orphaned test containers: berth-<id> cgroups (v1 hierarchies and cgroup2) whose shim's
#   --state-root, or whose processes' root, lies under a /tmp/berth-test-* directory that is gone
#   (the test ended): their shim and processes are killed, mounts left under that directory
#   detached, the cgroups removed;
# - network slot locks of processes that are gone.
# The daemons of users (bridge berth0 or their own --bridge, data roots outside /tmp/berth-test-*)
# are never touched.
set -euo pipefail
slots=/tmp/berth-test-netslots
removed=0

# Whether the test slot NN is owned by a live process.
slot_live() {
  local f="$slots/$1" pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f" 2>/dev/null || true)
  [ -n "$pid" ] && [ -d "/proc/$pid" ]
}
# Whether a running daemon holds bridge $1 (its flock; taken and dropped at once when free).
bridge_held() {
  local f="/run/berth/bridges/$1"
  [ -f "$f" ] || return 1
  ! flock -n -E 99 "$f" true 2>/dev/null
}
# Whether test bridge btdNN ($1) may be removed.
bridge_free() {
  local n=${1#btd}
  ! bridge_held "$1" && ! slot_live "$n"
}

for br in $(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '^btd[0-9]+$' || true); do
  if bridge_free "$br"; then
    ip link del "$br" && removed=$((removed + 1)) && echo "clean-test-leftovers: removed bridge $br"
  fi
done

# Chain sets that name a test bridge, in either table; kept when any bridge they name is in use.
all_rules=$( (iptables -w 10 -t filter -S; iptables -w 10 -t nat -S) 2>/dev/null || true)
for h in $(printf '%s\n' "$all_rules" | grep -E '^-A BERTH-[0-9a-f]{6}-' | grep -E ' btd[0-9]+( |$)' \
    | sed -E 's/^-A BERTH-([0-9a-f]{6}).*/\1/' | sort -u || true); do
  keep=0
  for br in $(printf '%s\n' "$all_rules" | grep -E "^-A BERTH-$h-" | grep -oE -- '-[io] [^ ]+' | awk '{print $2}' | sort -u); do
    case "$br" in
      btd[0-9]*) bridge_free "$br" || keep=1 ;;
      *) ! bridge_held "$br" || keep=1 ;;
    esac
  done
  [ "$keep" -eq 0 ] || continue
  for table in filter nat; do
    rules=$(iptables -w 10 -t "$table" -S 2>/dev/null || true)
    # Jumps into the set from the built-in chains first, then the set's own chains.
    printf '%s\n' "$rules" | grep -E "^-A [A-Z]+ .*-j BERTH-$h-" | sed 's/^-A /-D /' | while read -r rule; do
      eval iptables -w 10 -t "$table" "$rule" || true
    done || true
    chains=$(printf '%s\n' "$rules" | grep -E "^-N BERTH-$h-" | awk '{print $2}' || true)
    for c in $chains; do iptables -w 10 -t "$table" -F "$c" || true; done
    for c in $chains; do iptables -w 10 -t "$table" -X "$c" && removed=$((removed + 1)) || true; done
  done
  echo "clean-test-leftovers: removed chain set BERTH-$h"
done

# Orphaned test containers. The test directory a container belongs to: from its shim's command line
# (--state-root /tmp/berth-test-X/root/runtime), else from a process's root directory.
test_dir_of() {
  local id=$1 pid arg dir
  for pid in $(grep -lsa -- "$id" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
    arg=$({ tr '\0' '\n' < "/proc/$pid/cmdline"; } 2>/dev/null | grep -A1 -x -- '--state-root' | tail -n1 || true)
    dir=$(printf '%s' "$arg" | grep -oE '^/tmp/berth-test-[^/]+' || true)
    [ -n "$dir" ] && { echo "$dir"; return; }
  done
  for pid in "${@:2}"; do
    dir=$(readlink "/proc/$pid/root" 2>/dev/null | grep -oE '^/tmp/berth-test-[^/]+' || true)
    [ -n "$dir" ] && { echo "$dir"; return; }
  done
  return 0
}
shopt -s nullglob
declare -A seen=()
for cg in /sys/fs/cgroup/berth-* /sys/fs/cgroup/*/berth-*; do
  id=$(basename "$cg"); id=${id#berth-}
  [[ "$id" =~ ^[0-9a-f]{64}$ ]] || continue
  [ -z "${seen[$id]:-}" ] || continue
  seen[$id]=1
  dirs=(/sys/fs/cgroup/berth-"$id" /sys/fs/cgroup/*/berth-"$id")
  pids=$(cat "${dirs[@]/%//cgroup.procs}" 2>/dev/null | sort -u || true)
  dir=$(test_dir_of "$id" $pids || true)
  # Only a test's container, and only once that test's directory is gone.
  [ -n "$dir" ] && [ ! -e "$dir" ] || continue
  shims=$(grep -lsa -- "$dir/root/runtime" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 | while read -r p; do
    { tr '\0' '\n' < "/proc/$p/cmdline"; } 2>/dev/null | grep -q -- "$id" && echo "$p"; done || true)
  for p in $shims $pids; do kill -9 "$p" 2>/dev/null || true; done
  awk '{print $5}' /proc/self/mountinfo | grep -E "^$dir/" | awk '{print length, $0}' | sort -rn | cut -d' ' -f2- \
    | while read -r m; do umount -l "$m" 2>/dev/null || true; done || true
  for _ in $(seq 50); do
    [ -z "$(cat "${dirs[@]/%//cgroup.procs}" 2>/dev/null)" ] && break
    sleep 0.1
  done
  for d in "${dirs[@]}"; do
    if [ -d "$d" ] && rmdir "$d" 2>/dev/null; then removed=$((removed + 1)); fi
  done
  echo "clean-test-leftovers: reaped container $id of the vanished $dir"
done

# Slot locks of processes that are gone.
for f in "$slots"/*; do
  pid=$(cat "$f" 2>/dev/null || true)
  if [ -z "$pid" ] || [ ! -d "/proc/$pid" ]; then rm -f "$f"; fi
done
[ "$removed" -eq 0 ] || echo "clean-test-leftovers: removed $removed bridges, chains and cgroups of earlier test runs"
exit 0
