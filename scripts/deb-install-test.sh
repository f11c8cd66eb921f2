#!/usr/bin/env bash
# Installs, checks, removes and purges the Debian package in a throwaway Debian bookworm chroot (the
# Debian fixture of scripts/fixtures.sh), apt resolving its dependencies from the mirror this machine's
# apt uses. Run by hand after scripts/package.sh (as root; it reaches Debian's archive):
#   bash scripts/deb-install-test.sh [target/debian/berth_*.deb]
# Nothing of the host is changed: the chroot lives in a temp dir, its /proc is unmounted and the dir
# removed at exit; no service is started inside it (policy-rc.d refuses, and there is no systemd).
set -euo pipefail
cd "$(dirname "$0")/.."
deb=${1:-$(ls -t target/debian/berth_*.deb 2>/dev/null | head -1)}
[ -f "$deb" ] || { echo "no package: run scripts/package.sh first" >&2; exit 1; }
fixture=$(bash scripts/fixtures.sh debian | tail -1)
root=$(mktemp -d /tmp/berth-deb-test.XXXXXX)
cleanup() { umount -l "$root/proc" 2>/dev/null || true; rm -rf --one-file-system "$root"; }
trap cleanup EXIT
tar -xJf "$fixture" -C "$root"
# The fixture leaves man pages and docs out (dpkg path-exclude); the package's own must be installed.
rm -f "$root"/etc/dpkg/dpkg.cfg.d/99mmdebstrap
cp /etc/resolv.conf "$root/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d" && chmod 755 "$root/usr/sbin/policy-rc.d"
mount -t proc proc "$root/proc"
cp "$deb" "$root/tmp/berth.deb"
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
fail=0
check() { if "$@"; then echo "ok: ${*:1:6}"; else echo "FAILED: $*" >&2; fail=1; fi; }
echo "==> apt-get install ./berth.deb in a bookworm chroot"
in_root apt-get update -qq
in_root apt-get install -y -qq --no-install-recommends /tmp/berth.deb
check in_root berth --version

check in_root test -f /etc/berth/daemon.json
check in_root berth daemon --validate --config-file /etc/berth/daemon.json
check in_root test -f /usr/lib/systemd/system/berth.service
check in_root test -f /usr/lib/systemd/system/berth.socket
check in_root test -L /etc/systemd/system/sockets.target.wants/berth.socket
check in_root test -L /etc/systemd/system/multi-user.target.wants/berth.service
check in_root test -f /usr/share/man/man1/berth-run.1.gz
check in_root test -f /usr/share/bash-completion/completions/berth
check in_root dpkg-query -W -f='${Status}\n' berth
echo "==> dpkg -r berth: the program goes, the configuration file stays"
in_root dpkg -r berth
check in_root test ! -e /usr/bin/berth
check in_root test -f /etc/berth/daemon.json
echo "==> dpkg -P berth: nothing is left"
in_root dpkg -P berth
check in_root test ! -e /etc/berth/daemon.json
check in_root test ! -e /etc/systemd/system/sockets.target.wants/berth.socket
[ "$fail" -eq 0 ] && echo "install test OK: $deb"
exit "$fail"
