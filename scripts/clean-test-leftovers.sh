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
# - Berth processes (daemons, registries, shims) whose arguments name a /tmp/berth-test-* directory
#   that is gone;
# - the CRI tests' CNI state (network "berth-test-pods" on bridges btcNN, pod subnets 10.NN.200.0/24)
#   of slots no live test owns: the bridge, portmap's per-pod chains and the firewall plugin's rules
#   for those addresses;
# - empty container cgroups (no process in them, none naming them, older than a minute);
# - what berth-network's firewall tests make (chains BT-*, namespaces btc-/bto-*, links
#   btb-/btv-/btw-*) when no such test binary runs;
# - network slot locks of processes that are gone.
# Without --check, CNI's shared chains (CNI-FORWARD, CNI-ADMIN, CNI-HOSTPORT-*: what every CNI node
# keeps once a pod ran) are removed too when they hold nothing but their own scaffolding and nothing
# that runs CNI (a test daemon with --cni-conf-dir, kubelet, containerd, CRI-O) is alive; they are
# not a leak, so --check does not list them.
# The daemons of users (bridge berth0 or their own --bridge, data roots outside /tmp/berth-test-*)
# are never touched.
# With --check nothing is removed: what would be is listed, and the exit status is 1 if anything is
# (scripts/test.sh runs it after the tests: a leak a finished test left, never a concurrent run's state).
set -euo pipefail
slots=/tmp/berth-test-netslots
removed=0
check=0
[ "${1:-}" != --check ] || check=1
found=()
# In check mode, records what would be removed and answers false so that the removal is skipped.
act() {
  [ "$check" -eq 1 ] || return 0
  found+=("$1")
  return 1
}

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
  if bridge_free "$br" && act "bridge $br"; then
    ip link del "$br" && removed=$((removed + 1)) && echo "clean-test-leftovers: removed bridge $br"
  fi
done
for br in $(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '^btc[0-9]+$' || true); do
  if ! slot_live "${br#btc}" && act "CNI bridge $br"; then
    ip link del "$br" && removed=$((removed + 1)) && echo "clean-test-leftovers: removed CNI bridge $br"
  fi
done

# The CNI rules of pods of the CRI tests: addresses 10.NN.200.X of a slot NN no live test owns.
dead_pod_addr() {
  local a=$1 n
  [[ "$a" =~ ^10\.([0-9]+)\.200\.[0-9]+ ]] || return 1
  n=${BASH_REMATCH[1]}
  ! slot_live "$n"
}
cni_rules=$( (iptables -w 10 -t filter -S; iptables -w 10 -t nat -S) 2>/dev/null | grep -E '^-A CNI-' || true)
# portmap's per-pod chains (nat), by the pod address they DNAT to.
for chain in $(printf '%s\n' "$cni_rules" | grep -E '^-A CNI-DN-' | awk '{print $2}' | sort -u || true); do
  addr=$(printf '%s\n' "$cni_rules" | grep -E "^-A $chain " | grep -oE -- '--to-destination [0-9.]+' | awk '{print $2}' | head -n1 || true)
  [ -n "$addr" ] && dead_pod_addr "$addr" || continue
  act "CNI port mapping chain $chain of the test pod $addr" || continue
  iptables -w 10 -t nat -S 2>/dev/null | grep -E -- "-j $chain( |$)" | sed 's/^-A /-D /' | while read -r rule; do
    eval iptables -w 10 -t nat "$rule" || true
  done || true
  iptables -w 10 -t nat -F "$chain" 2>/dev/null || true
  iptables -w 10 -t nat -X "$chain" 2>/dev/null && removed=$((removed + 1)) || true
  echo "clean-test-leftovers: removed CNI chain $chain of the test pod $addr"
done
# The firewall plugin's rules (filter), which name the pod's address.
{ printf '%s\n' "$cni_rules" | grep -E '^-A CNI-(FORWARD|ADMIN) ' || true; } | while read -r rule; do
  addr=$(printf '%s\n' "$rule" | grep -oE -- '-[sd] [0-9.]+' | awk '{print $2}' | head -n1 || true)
  [ -n "$addr" ] && dead_pod_addr "$addr" || continue
  if [ "$check" -eq 1 ]; then echo "CNI firewall rule of the test pod $addr: $rule"; continue; fi
  eval iptables -w 10 -t filter "${rule/#-A /-D }" 2>/dev/null && echo "clean-test-leftovers: removed CNI rule of the test pod $addr" || true
done >"${TMPDIR:-/tmp}/clean-test-leftovers.$$"
while read -r line; do
  case "$line" in
    "CNI firewall rule"*) found+=("$line") ;;
    *) echo "$line" ;;
  esac
done <"${TMPDIR:-/tmp}/clean-test-leftovers.$$"
rm -f "${TMPDIR:-/tmp}/clean-test-leftovers.$$"

# Removes the chains whose names start with $1, in both tables of iptables and of ip6tables (a
# daemon with a dual-stack network has the same chains there): the jumps into them from the
# built-in chains first, then the chains themselves.
drop_chains() {
  local ipt table rules chains c
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null 2>&1 || continue
    for table in filter nat; do
      rules=$("$ipt" -w 10 -t "$table" -S 2>/dev/null || true)
      printf '%s\n' "$rules" | grep -E "^-A [A-Z]+ .*-j $1" | sed 's/^-A /-D /' | while read -r rule; do
        eval "$ipt" -w 10 -t "$table" "$rule" || true
      done || true
      chains=$(printf '%s\n' "$rules" | grep -E "^-N $1" | awk '{print $2}' || true)
      for c in $chains; do "$ipt" -w 10 -t "$table" -F "$c" || true; done
      for c in $chains; do "$ipt" -w 10 -t "$table" -X "$c" && removed=$((removed + 1)) || true; done
    done
  done
}

# Chain sets that name a test bridge, in either table of either family (the IPv6 rules of a
# dual-stack test network name its bridge bt6<slot>); kept when any bridge they name is in use.
all_rules=$( (iptables -w 10 -t filter -S; iptables -w 10 -t nat -S; ip6tables -w 10 -t filter -S; ip6tables -w 10 -t nat -S) 2>/dev/null || true)
for h in $(printf '%s\n' "$all_rules" | grep -E '^-A BERTH-[0-9a-f]{6}-' | grep -E ' bt[d6][0-9]+( |$)' \
    | sed -E 's/^-A BERTH-([0-9a-f]{6}).*/\1/' | sort -u || true); do
  keep=0
  for br in $(printf '%s\n' "$all_rules" | grep -E "^-A BERTH-$h-" | grep -oE -- '-[io] [^ ]+' | awk '{print $2}' | sort -u); do
    case "$br" in
      btd[0-9]*) bridge_free "$br" || keep=1 ;;
      *) ! bridge_held "$br" || keep=1 ;;
    esac
  done
  [ "$keep" -eq 0 ] || continue
  act "chain set BERTH-$h" || continue
  drop_chains "BERTH-$h-"
  echo "clean-test-leftovers: removed chain set BERTH-$h"
done

# What berth-network's firewall tests make (chains BT-<8 hex>, namespaces btc-/bto-<tag>, links
# btb-/btv-/btw-<tag>), once no such test binary runs.
if ! pgrep -f -- '/deps/firewall-[0-9a-f]{16}' >/dev/null 2>&1; then
  for h in $(printf '%s\n' "$all_rules" | grep -oE '^-N BT-[0-9a-f]{8}' | awk '{print $2}' | sort -u || true); do
    act "firewall test chains $h" || continue
    drop_chains "$h"
    echo "clean-test-leftovers: removed firewall test chains $h"
  done
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^bt[co]-[0-9a-f]{8}$' || true); do
    act "firewall test namespace $ns" || continue
    ip netns del "$ns" && removed=$((removed + 1)) && echo "clean-test-leftovers: removed namespace $ns"
  done
  for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '^bt[bvw]-[0-9a-f]{8}$' || true); do
    act "firewall test link $l" || continue
    ip link del "$l" 2>/dev/null && removed=$((removed + 1)) && echo "clean-test-leftovers: removed link $l"
  done
fi

# Processes of Berth's (daemons, registries, shims) started by a test whose directory is gone.
for pid in $(pgrep -f -- '/tmp/berth-test-' 2>/dev/null || true); do
  [ "$pid" != $$ ] || continue
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null | sed 's/ (deleted)$//' || true)
  case "$(basename "$exe")" in berth|berth-shim|berth-registry) ;; *) continue ;; esac
  dir=$({ tr '\0' '\n' < "/proc/$pid/cmdline"; } 2>/dev/null | grep -oE '/tmp/berth-test-[^/=]+' | head -n1 || true)
  [ -n "$dir" ] && [ ! -e "$dir" ] || continue
  act "process $pid ($(basename "$exe")) of the vanished $dir" || continue
  kill -9 "$pid" 2>/dev/null && removed=$((removed + 1)) && echo "clean-test-leftovers: killed $(basename "$exe") $pid of the vanished $dir"
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
  # An empty container cgroup that no process names (no shim, no daemon starting it) and that is
  # older than a minute is what a killed run left after its processes died: nothing can use it, so
  # it goes (not listed by --check: whose it was cannot be told any more).
  if [ -z "$pids" ] && [ "$check" -eq 0 ] && ! grep -qsa -- "$id" /proc/[0-9]*/cmdline \
      && [ $(( $(date +%s) - $(stat -c %Y "${dirs[0]}" 2>/dev/null || stat -c %Y "${dirs[1]}") )) -gt 60 ]; then
    for d in "${dirs[@]}"; do
      if [ -d "$d" ] && rmdir "$d" 2>/dev/null; then removed=$((removed + 1)); fi
    done
    echo "clean-test-leftovers: removed the empty cgroups of container $id"
    continue
  fi
  dir=$(test_dir_of "$id" $pids || true)
  # Only a test's container, and only once that test's directory is gone.
  [ -n "$dir" ] && [ ! -e "$dir" ] || continue
  act "container $id of the vanished $dir" || continue
  shims=$(grep -lsa -- "$dir/root/runtime" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 | while read -r p; do
    { tr '\0' '\n' < "/proc/$p/cmdline"; } 2>/dev/null | grep -q -- "$id" && echo "$p"; done || true)
  for p in $shims $pids; do kill -9 "$p" 2>/dev/null || true; done
  # A container left frozen (a commit's pause its daemon never ended) takes the SIGKILLs only once
  # thawed.
  for d in "${dirs[@]}"; do
    if [ -w "$d/freezer.state" ]; then echo THAWED > "$d/freezer.state" 2>/dev/null || true; fi
    if [ -w "$d/cgroup.freeze" ]; then echo 0 > "$d/cgroup.freeze" 2>/dev/null || true; fi
  done
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

# CNI's shared scaffolding, once nothing that runs CNI is alive and no pod's rule is left in it.
cni_scaffolding() {
  local filter nat
  filter=$(iptables -w 10 -t filter -S 2>/dev/null | grep -E -- 'CNI-' || true)
  nat=$(iptables -w 10 -t nat -S 2>/dev/null | grep -E -- 'CNI-' || true)
  # Anything but the chains, their jumps from the built-in chains, the admin jump and the
  # masquerade-mark pair is a pod's.
  printf '%s\n%s\n' "$filter" "$nat" | grep -vE '^$|^-N CNI-(FORWARD|ADMIN|HOSTPORT-(DNAT|MASQ|SETMARK))$|^-A (FORWARD|PREROUTING|OUTPUT|POSTROUTING) .*-j CNI-(FORWARD|HOSTPORT-(DNAT|MASQ))$|^-A CNI-FORWARD .*-j CNI-ADMIN$|^-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE$|^-A CNI-HOSTPORT-SETMARK .*-j MARK --set-xmark 0x2000/0x2000$' >/dev/null && return 1
  [ -n "$filter$nat" ]
}
if [ "$check" -eq 0 ] && cni_scaffolding && ! pgrep -f -- '--cni-conf-dir' >/dev/null && ! pgrep -x kubelet >/dev/null && ! pgrep -x containerd >/dev/null && ! pgrep -x crio >/dev/null; then
  drop_chains "CNI-"
  echo "clean-test-leftovers: removed CNI's shared chains (no pod left in them)"
fi

if [ "$check" -eq 1 ]; then
  [ "${#found[@]}" -eq 0 ] && exit 0
  printf '%s\n' "${found[@]}"
  exit 1
fi
# Slot locks of processes that are gone.
for f in "$slots"/*; do
  pid=$(cat "$f" 2>/dev/null || true)
  if [ -z "$pid" ] || [ ! -d "/proc/$pid" ]; then rm -f "$f"; fi
done
[ "$removed" -eq 0 ] || echo "clean-test-leftovers: removed $removed bridges, chains, cgroups and processes of earlier test runs"
exit 0
