#!/usr/bin/env bash
# The main job, end to end: build Berth, start the daemon, make a BusyBox base image from the host's
# busybox-static and import it, build examples/hello/Dockerfile on it, and run a container from the
# result — with berth, and the same through the stock docker CLI.
# Run as root on Debian/Ubuntu. The daemon keeps running afterwards (stop it: kill $(cat /run/berth/berth.pid)).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "==> building berth (release)"
cargo build --release --locked -p berth-cli
install -m 0755 target/release/berth target/release/berth-shim /usr/local/bin/

SOCK=/run/berth/berth.sock
export BERTH_HOST=unix://$SOCK
if ! berth version >/dev/null 2>&1; then
  echo "==> starting the daemon (data root /var/lib/berth, socket $SOCK, log /var/log/berth.log)"
  mkdir -p /run/berth
  nohup berth daemon --data-root /var/lib/berth -H "unix://$SOCK" >/var/log/berth.log 2>&1 &
  echo $! > /run/berth/berth.pid
  for _ in $(seq 100); do berth version >/dev/null 2>&1 && break; sleep 0.1; done
fi
berth version

echo "==> making a BusyBox root filesystem from the host's busybox-static (scripts/fixtures.sh)"
ROOTFS=$(bash scripts/fixtures.sh busybox)

echo "==> berth import"
berth import -c 'CMD ["/bin/sh"]' -m "BusyBox from the host" "$ROOTFS" busybox:latest
echo "==> berth images"
berth images
echo "==> berth image inspect busybox"
berth image inspect --format 'id={{.Id}} os={{.Os}}/{{.Architecture}} cmd={{json .Config.Cmd}} size={{.Size}}' busybox
echo "==> berth build -t hello:latest examples/hello"
berth build -t hello:latest examples/hello
echo "==> berth run --rm hello:latest"
berth run --rm hello:latest
echo "==> the same through the stock docker CLI"
DOCKER_HOST=$BERTH_HOST docker build -q -t hello:docker examples/hello
DOCKER_HOST=$BERTH_HOST docker run --rm hello:docker
DOCKER_HOST=$BERTH_HOST docker images
echo
echo "Done. The daemon is still running: try 'BERTH_HOST=$BERTH_HOST berth images' or 'DOCKER_HOST=$BERTH_HOST docker images'."
