#!/bin/sh
# An emulated aarch64 device for tests/launch/test_fleet_arm64.py (`make test-arm64`, as root): Debian's qemu-user-static
# registered with binfmt_misc, an arm64 Debian 12 root file system made with mmdebstrap, and in it the venv a user
# makes on a Raspberry Pi: edgepick's wheel (built from this checkout) with the extras `agent,onnxruntime,litert`,
# every dependency an aarch64 wheel from PyPI, Ray pinned to the head's version (a cluster runs one Ray).
# Usage: sh tests/arm64_rootfs.sh RAY_VERSION   (prints the root; EDGEPICK_ARM64_ROOT overrides where it goes)
set -eu
ROOT=${EDGEPICK_ARM64_ROOT:-/var/tmp/edgepick-arm64-root}
RAY_VERSION=$1
HERE=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
command -v mmdebstrap >/dev/null && [ -e /usr/bin/qemu-aarch64-static ] || apt-get install -y -q qemu-user-static mmdebstrap
[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || cat /usr/lib/binfmt.d/qemu-aarch64.conf > /proc/sys/fs/binfmt_misc/register
[ -x "$ROOT/usr/bin/python3" ] || mmdebstrap --arch=arm64 --variant=minbase \
	--include=python3,python3-venv,python3-pip,ca-certificates bookworm "$ROOT" http://deb.debian.org/debian
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"  # this network's CA, if it adds one
mountpoint -q "$ROOT/proc" || mount --bind /proc "$ROOT/proc"
# The device runs this checkout's edgepick: its wheel is built every time, else a cached root would keep the code of
# whichever checkout first built it. The first time the venv gets every dependency; later, only edgepick (no deps).
rm -rf "$ROOT/opt/wheels" && mkdir -p "$ROOT/opt/wheels"
rm -rf "$HERE/build"  # setuptools' scratch folder (git-ignored): modules an earlier layout left there would ship too
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$ROOT/opt/wheels" "$HERE"
WHEEL=$(cd "$ROOT/opt/wheels" && ls edgepick-*.whl)
if [ ! -x "$ROOT/opt/edgepick-agent/bin/edgepick" ]; then
	chroot "$ROOT" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root PIP_CERT=/etc/ssl/certs/ca-certificates.crt /bin/sh -c \
		"python3 -m venv /opt/edgepick-agent && /opt/edgepick-agent/bin/pip install -q --only-binary=:all: \
		'edgepick[agent,onnxruntime,litert] @ file:///opt/wheels/$WHEEL' 'ray==$RAY_VERSION'"
else
	chroot "$ROOT" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root /opt/edgepick-agent/bin/pip install -q --no-deps \
		--force-reinstall "/opt/wheels/$WHEEL"
fi
echo "$ROOT"
