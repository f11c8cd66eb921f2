#!/usr/bin/env bash
# Installs Berth on this host: berth, berth-shim and berth-registry, the systemd units, shell completions, man pages and
# a default /etc/berth/daemon.json (kept when one exists). Run as root.
#
#   PREFIX=/usr/local  where binaries, completions and man pages go (units go to /etc/systemd/system)
#   DESTDIR=           staging root (packaging, tests); with it no service manager is touched
#   BIN_DIR=           take berth, berth-shim and berth-registry from here instead of building a release
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
if [ -z "${BIN_DIR:-}" ]; then
  cargo build --release --locked -p berth-cli
  BIN_DIR=target/release
fi
root="$DESTDIR"
bin="$root$PREFIX/bin"
install -d "$bin" "$root/etc/systemd/system" "$root/etc/berth" \
  "$root$PREFIX/share/bash-completion/completions" "$root$PREFIX/share/zsh/site-functions" \
  "$root$PREFIX/share/fish/vendor_completions.d" "$root$PREFIX/share/man/man1" "$root$PREFIX/share/doc/berth"
install -m 0755 "$BIN_DIR/berth" "$BIN_DIR/berth-shim" "$BIN_DIR/berth-registry" "$bin/"
# The units name /usr/bin/berth (the package's path); point them at this prefix.
sed "s#/usr/bin/berth#$PREFIX/bin/berth#" contrib/systemd/berth.service > "$root/etc/systemd/system/berth.service"
install -m 0644 contrib/systemd/berth.socket "$root/etc/systemd/system/berth.socket"
chmod 0644 "$root/etc/systemd/system/berth.service"
"$BIN_DIR/berth" completion bash > "$root$PREFIX/share/bash-completion/completions/berth"
"$BIN_DIR/berth" completion zsh > "$root$PREFIX/share/zsh/site-functions/_berth"
"$BIN_DIR/berth" completion fish > "$root$PREFIX/share/fish/vendor_completions.d/berth.fish"
"$BIN_DIR/berth" man --dir "$root$PREFIX/share/man/man1"
install -m 0644 README.md docs/OPERATIONS.md "$root$PREFIX/share/doc/berth/"
if [ -e "$root/etc/berth/daemon.json" ]; then
  echo "==> keeping the existing /etc/berth/daemon.json"
else
  install -m 0644 contrib/daemon.json "$root/etc/berth/daemon.json"
fi
"$bin/berth" daemon --validate --config-file "$root/etc/berth/daemon.json"
if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  echo "==> start it: systemctl enable --now berth.socket berth.service"
fi
echo "==> installed berth in $root$PREFIX/bin"
