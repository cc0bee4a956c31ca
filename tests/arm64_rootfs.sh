#!/bin/sh
# An emulated aarch64 device for tests/test_fleet_arm64.py (`make test-arm64`, as root): Debian's qemu-user-static
# registered with binfmt_misc, an arm64 Debian 12 root file system made with mmdebstrap, and a venv in it holding the
# agent's dependencies as aarch64 wheels from PyPI (Ray pinned to the head's version: a cluster needs one Ray).
set -eu
ROOT=${EDGEPICK_ARM64_ROOT:-/var/tmp/edgepick-arm64-root}
RAY_VERSION=$1
command -v mmdebstrap >/dev/null && [ -e /usr/bin/qemu-aarch64-static ] || apt-get install -y -q qemu-user-static mmdebstrap
[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || cat /usr/lib/binfmt.d/qemu-aarch64.conf > /proc/sys/fs/binfmt_misc/register
[ -x "$ROOT/usr/bin/python3" ] || mmdebstrap --arch=arm64 --variant=minbase \
	--include=python3,python3-venv,python3-pip,ca-certificates bookworm "$ROOT" http://deb.debian.org/debian
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"  # this network's CA, if it adds one
mountpoint -q "$ROOT/proc" || mount --bind /proc "$ROOT/proc"
chroot "$ROOT" /bin/sh -c "[ -x /opt/ep/bin/pip ] || python3 -m venv /opt/ep; PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
	/opt/ep/bin/pip install -q --only-binary=:all: 'ray[default]==$RAY_VERSION' onnxruntime ai-edge-litert numpy \
	typer rich SQLAlchemy psutil py-cpuinfo"
echo "$ROOT"
