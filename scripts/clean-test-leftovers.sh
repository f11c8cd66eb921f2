#!/usr/bin/env bash
# Removes what test daemons of an earlier run left when that run was killed before their clean-up ran
# (a killed `cargo test` cannot stop the daemons its tests started): their bridges (btdNN), the
# firewall chains that name those bridges (BERTH-<hash>-*, one set per data root), their network
# slot locks. Only test names are touched, and only when no test daemon runs; the daemons of users
# (bridge berth0 or their own --bridge) are never touched.
set -euo pipefail
if pgrep -f "berth daemon --data-root /tmp/berth-test-" >/dev/null; then
  echo "clean-test-leftovers: test daemons are running; nothing removed" >&2
  exit 0
fi
removed=0
for br in $(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '^btd[0-9]+$' || true); do
  ip link del "$br" && removed=$((removed + 1))
done
# The chain sets (BERTH-<6 hex>, one per data root) with a rule that names a test bridge, in either table.
hashes=$( (iptables -w 10 -t filter -S; iptables -w 10 -t nat -S) 2>/dev/null \
  | grep -E '^-A BERTH-[0-9a-f]{6}' | grep -E ' btd[0-9]+( |$)' | sed -E 's/^-A BERTH-([0-9a-f]{6}).*/\1/' | sort -u || true)
for table in filter nat; do
  rules=$(iptables -w 10 -t "$table" -S 2>/dev/null || true)
  for h in $hashes; do
    # Jumps into the set from the built-in chains first, then the set's own chains.
    printf '%s\n' "$rules" | grep -E "^-A [A-Z]+ .*-j BERTH-$h" | sed 's/^-A /-D /' | while read -r rule; do
      eval iptables -w 10 -t "$table" "$rule" || true
    done || true
    chains=$(printf '%s\n' "$rules" | grep -E "^-N BERTH-$h" | awk '{print $2}' || true)
    for c in $chains; do iptables -w 10 -t "$table" -F "$c" || true; done
    for c in $chains; do iptables -w 10 -t "$table" -X "$c" && removed=$((removed + 1)) || true; done
  done
done
rm -rf /tmp/berth-test-netslots
[ "$removed" -eq 0 ] || echo "clean-test-leftovers: removed $removed bridges and chains of earlier test runs"
