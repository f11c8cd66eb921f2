#!/usr/bin/env bash
# Installs what Berth needs to build and test on Debian/Ubuntu (run as root), then builds it.
# Idempotent: packages already present are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg_cmd in "busybox-static:/bin/busybox" "xz-utils:xz" "bzip2:bzip2" "zstd:zstd" "gzip:gzip" "tar:tar" \
               "ca-certificates:/etc/ssl/certs/ca-certificates.crt" "pkg-config:pkg-config" "gcc:gcc" "curl:curl" \
               "libseccomp-dev:/usr/include/seccomp.h" "util-linux:unshare" "bsdutils:script" \
               "iptables:iptables" "iproute2:ip" "libc6-dev:/usr/lib/x86_64-linux-gnu/libc.a" "openssl:openssl" \
               "bash-completion:/usr/share/bash-completion/bash_completion" "zsh:zsh" "fish:fish" "man-db:man" \
               "systemd:systemd-socket-activate" "systemd:systemd-analyze"; do
  pkg=${pkg_cmd%%:*}; probe=${pkg_cmd#*:}
  if [[ $probe == /* ]]; then [ -e "$probe" ] || need+=("$pkg"); else command -v "$probe" >/dev/null || need+=("$pkg"); fi
done
# systemd: its socket activation tool and unit verifier drive the systemd tests (tests/systemd.rs).
# bash-completion, zsh, fish and man-db: the completion and man page tests drive the real shells and man.
# The stock docker CLI drives the compatibility tests; Debian ships it in docker.io (its daemon is never started).
command -v docker >/dev/null || need+=("docker.io")
# Debian's CNI reference plugins (bridge, host-local, portmap, firewall) network the CRI tests' pods.
[ -x /usr/lib/cni/bridge ] || need+=("containernetworking-plugins")
# Interoperability peers in tests: skopeo, dockerd (docker.io) and distribution 2.8 (docker-registry).
command -v skopeo >/dev/null || need+=("skopeo")
command -v dockerd >/dev/null || need+=("docker.io")
command -v docker-registry >/dev/null || need+=("docker-registry")
# A one-node Ceph cluster with its RADOS Gateway (scripts/ceph-rgw.sh) and haproxy in front of registry
# replicas drive the registry's S3 driver and replica tests (crates/berth-cli/tests/ceph.rs).
command -v ceph-mon >/dev/null || need+=("ceph-mon")
command -v ceph-mgr >/dev/null || need+=("ceph-mgr")
command -v ceph-osd >/dev/null || need+=("ceph-osd")
command -v radosgw >/dev/null || need+=("radosgw")
command -v haproxy >/dev/null || need+=("haproxy")
# Compose (v1, Python: drives the API through docker-py) for the compose tests.
command -v docker-compose >/dev/null || need+=("docker-compose")
# The Debian test fixture (scripts/fixtures.sh debian) is made with mmdebstrap from Debian's archive.
command -v mmdebstrap >/dev/null || need+=("mmdebstrap")
# promtool (Debian's prometheus) lints the daemon's and the registry's metrics in tests.
command -v promtool >/dev/null || need+=("prometheus")
# sshd (openssh-server) serves the ssh:// host tests (tests/ssh.rs), on a loopback port with its own
# keys and config; ssh-keygen and ssh come with it (openssh-client).
[ -x /usr/sbin/sshd ] || need+=("openssh-server")
# lintian checks the Debian package that scripts/package.sh builds.
command -v lintian >/dev/null || need+=("lintian")
# --init runs a static init from the host, as dockerd runs docker-init (tini).
[ -e /usr/bin/tini-static ] || need+=("tini")
/usr/bin/python3 -c "import docker" 2>/dev/null || need+=("python3-docker")
# User namespaces and rootless: newuidmap/newgidmap (uidmap) and pasta (passt) for rootless networking.
command -v newuidmap >/dev/null || need+=("uidmap")
command -v pasta >/dev/null || need+=("passt")
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq -o DPkg::Lock::Timeout=600
  apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${need[@]}" >/dev/null
  # docker.io's package starts dockerd via systemd where there is one; Berth does not need it.
  # Their packages start services where systemd runs; tests start their own instances.
  (systemctl disable --now docker.service docker.socket containerd.service docker-registry.service prometheus.service \
    haproxy.service ceph.target ssh.service ssh.socket >/dev/null 2>&1 || true)
fi
command -v cargo >/dev/null || { echo "cargo (stable Rust) is required: https://rustup.rs" >&2; exit 1; }
# oras-py (PyPI `oras`, the ORAS project's Python SDK) pushes artifacts with a subject in the registry's
# referrers interop test (crates/berth-registry/tests/oras.rs); Debian ships no oras client.
if ! python3 -c "import oras.client" 2>/dev/null; then
  echo "==> installing oras-py"
  python3 -m pip install -q --disable-pip-version-check "oras==0.2.43" 2>/dev/null \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages "oras==0.2.43" \
    || echo "==> oras-py could not be installed: the registry's oras test will skip" >&2
fi
