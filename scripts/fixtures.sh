#!/usr/bin/env bash
# Makes the root filesystems that tests, benchmarks and the demo import, from the host's own packages,
# and caches them under target/fixtures/ (or $BERTH_FIXTURES). Prints the path of each one asked for.
#   bash scripts/fixtures.sh busybox   -> busybox-rootfs.tar.gz: Debian's busybox-static at /bin/busybox,
#                                         every applet linked, minimal /etc/passwd and /etc/group, /tmp 1777
#   bash scripts/fixtures.sh busybox-dynamic -> busybox-dynamic.tar.gz: Debian's dynamically linked
#                                         busybox (package busybox, downloaded, not installed: it
#                                         conflicts with busybox-static) at bin/busybox with the host's
#                                         libraries it links; its shell looks commands up in PATH
#                                         (no FEATURE_SH_STANDALONE), as the BusyBox image's does
#   bash scripts/fixtures.sh debian    -> debian-bookworm-minbase.tar.xz: Debian 12 minbase made with
#                                         mmdebstrap from the mirror apt on this machine uses
# Safe to run concurrently (one lock); a fixture is made once, into a temp name, then renamed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BERTH_FIXTURES:-$PWD/target/fixtures}
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9

need_pkg() { # need_pkg COMMAND PACKAGE
  command -v "$1" >/dev/null && return
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq -o DPkg::Lock::Timeout=600 >&2
  apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "$2" >/dev/null
}

# Bump when a recipe changes, so cached fixtures are made again.
BUSYBOX_RECIPE=2   # 2: /dev, /proc and /sys mountpoints, as Docker's busybox image has them
DEBIAN_RECIPE=1

busybox() {
  local f=$out/busybox-rootfs.tar.gz
  if [ ! -s "$f" ] || [ "$(cat "$f.recipe" 2>/dev/null)" != "$BUSYBOX_RECIPE" ]; then
    [ -x /bin/busybox ] || { need_pkg busybox busybox-static; }
    local root; root=$(mktemp -d "$out/.busybox.XXXXXX")
    mkdir -p "$root"/{bin,dev,etc,proc,root,sys,tmp}
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    for applet in $("$root/bin/busybox" --list); do
      [ "$applet" = busybox ] || [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
    tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=2026-01-01 -C "$root" -czf "$f.tmp" .
    rm -rf "$root"
    mv "$f.tmp" "$f"
    echo "$BUSYBOX_RECIPE" > "$f.recipe"
  fi
  echo "$f"
}

busybox_dynamic() {
  local f=$out/busybox-dynamic.tar.gz
  if [ ! -s "$f" ]; then
    local work; work=$(mktemp -d "$out/.busybox-dynamic.XXXXXX")
    (cd "$work" && { apt-get download busybox >/dev/null 2>&1 || { apt-get update -qq -o DPkg::Lock::Timeout=600 >&2 && apt-get download busybox >/dev/null; }; })
    dpkg-deb -x "$work"/busybox_*.deb "$work/deb"
    mkdir -p "$work/root/bin"
    cp "$work/deb/bin/busybox" "$work/root/bin/busybox"
    # The libraries it links, at the paths the host's loader has them.
    for lib in $(ldd "$work/root/bin/busybox" | grep -oE '/[^ ]+' | sort -u); do
      mkdir -p "$work/root$(dirname "$lib")"
      cp -L "$lib" "$work/root$lib"
    done
    tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=2026-01-01 -C "$work/root" -czf "$f.tmp" .
    rm -rf "$work"
    mv "$f.tmp" "$f"
  fi
  echo "$f"
}

# The first "deb" mirror apt on this machine uses for Debian (deb822 or one-line sources), else Debian's CDN.
debian_mirror() {
  local m
  m=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
  [ -n "$m" ] || m=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
  echo "${m:-http://deb.debian.org/debian}"
}

debian() {
  local f=$out/debian-bookworm-minbase.tar.xz
  if [ ! -s "$f" ] || [ "$(cat "$f.recipe" 2>/dev/null || echo 1)" != "$DEBIAN_RECIPE" ]; then
    need_pkg mmdebstrap mmdebstrap
    local root; root=$(mktemp -d "$out/.debian.XXXXXX")
    echo "==> making the Debian bookworm minbase fixture with mmdebstrap (once; cached in $out)" >&2
    mmdebstrap --quiet --variant=minbase --mode=root \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
      --dpkgopt='path-exclude=/usr/share/doc/*' \
      bookworm "$root" "$(debian_mirror)" >&2
    # mmdebstrap unmounts its /proc and /sys itself, but a busy mount (something reading the tree
    # meanwhile) stays: detach whatever is left, deepest first, and never archive another filesystem.
    awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*
    tar --numeric-owner --one-file-system --sort=name --mtime=2026-01-01 -C "$root" -cf - . | xz -T2 -6 > "$f.tmp"
    rm -rf "$root"
    mv "$f.tmp" "$f"
    echo "$DEBIAN_RECIPE" > "$f.recipe"
  fi
  echo "$f"
}

[ $# -gt 0 ] || set -- busybox debian
for name in "$@"; do
  case $name in
    busybox) busybox ;;
    busybox-dynamic) busybox_dynamic ;;
    debian) debian ;;
    *) echo "fixtures.sh: unknown fixture '$name' (busybox, busybox-dynamic, debian)" >&2; exit 2 ;;
  esac
done
