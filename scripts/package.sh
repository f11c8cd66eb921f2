#!/usr/bin/env bash
# Builds the Debian package with cargo-deb (a release build: minutes on 2 cores, so run by hand, not by
# scripts/test.sh), checks its contents and control data with dpkg-deb, and runs lintian on it.
# Needs: cargo install cargo-deb; apt-get install lintian.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deb >/dev/null || { echo "cargo-deb is required: cargo install cargo-deb" >&2; exit 1; }
command -v lintian >/dev/null || { echo "lintian is required: apt-get install lintian" >&2; exit 1; }
cargo build --release --locked -p berth-cli
# Completions and man pages come from the CLI definition.
assets=target/deb-assets
rm -rf "$assets" && mkdir -p "$assets/man"
target/release/berth completion bash > "$assets/berth.bash"
target/release/berth completion zsh > "$assets/_berth"
target/release/berth completion fish > "$assets/berth.fish"
target/release/berth man --dir "$assets/man"
gzip -9n "$assets"/man/*.1
deb=$(cargo deb -p berth-cli --no-build --locked 2>&1 | tail -1)
[ -f "$deb" ] || { echo "cargo deb did not produce a package: $deb" >&2; exit 1; }
echo "==> $deb"
contents=$(dpkg-deb -c "$deb")
info=$(dpkg-deb -I "$deb")
fail=0
for f in ./usr/bin/berth ./usr/bin/berth-shim ./usr/bin/berth-registry ./etc/berth/daemon.json ./usr/lib/systemd/system/berth.service \
         ./usr/lib/systemd/system/berth.socket ./usr/share/bash-completion/completions/berth \
         ./usr/share/zsh/vendor-completions/_berth ./usr/share/fish/vendor_completions.d/berth.fish \
         ./usr/share/man/man1/berth.1.gz ./usr/share/man/man1/berth-run.1.gz ./usr/share/doc/berth/copyright \
         ./usr/share/doc/berth/OPERATIONS.md; do
  grep -q " $f\$" <<<"$contents" || { echo "missing from the package: $f" >&2; fail=1; }
done
grep -qw conffiles <<<"$info" || { echo "no conffiles in the control data" >&2; fail=1; }
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/berth/daemon.json || { echo "daemon.json is not a conffile" >&2; fail=1; }
grep -q "deb-systemd-helper" <(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./postinst) || { echo "postinst does not enable the units" >&2; fail=1; }
echo "==> lintian"
# --fail-on error: warnings are reported; lintian/overrides documents the ones we accept.
lintian --fail-on error --info "$deb" || fail=1
[ "$fail" -eq 0 ] && echo "package OK: $deb"
exit "$fail"
