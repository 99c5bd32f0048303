#!/usr/bin/env bash
# Build a stand-in for the official Python base image from Debian packages:
#   images/base/debian-python.sh IMAGE        (e.g. reasoning-base:3.11-bookworm)
# Why: the CPU image's default base (python:3.11-slim-bookworm, pinned by digest in
# images/cpu/Dockerfile) comes from a container registry; where only the package
# registries are reachable (this project's CI), images/build.sh builds this instead.
# It has what the Dockerfile expects of the official image: Debian 12 (bookworm),
# Python 3.11 as `python` with venv and pip, CA certificates. Needs root and debootstrap.
# DEBIAN_MIRROR picks the mirror (default: the host's apt mirror, else debootstrap's own).
set -euo pipefail

image="${1:?usage: $0 IMAGE}"
engine="${ENGINE:-docker}"
command -v debootstrap >/dev/null || { echo "error: debootstrap not found: apt-get install debootstrap" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "error: debootstrap needs root to build $image" >&2; exit 1; }

host_mirror() {  # the host's own Debian mirror, so the build uses what apt already reaches
    local sources
    for sources in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
        [[ -f $sources ]] || continue
        # deb822 "URIs:" lines or one-line "deb URL" entries; comments are skipped
        sed -nE 's@^(URIs:|deb)[[:space:]]+(\[[^]]*\][[:space:]]+)?(https?://[^ ]*/debian)/?([[:space:]].*)?$@\3@p' "$sources" \
            | head -n 1 | grep . && return
    done
}
mirror="${DEBIAN_MIRROR:-$(host_mirror || true)}"

rootfs="$(mktemp -d "${TMPDIR:-/tmp}/debian-python.XXXXXX")"
trap 'rm -rf "$rootfs"' EXIT
echo "==> debootstrap bookworm into $rootfs ${mirror:+from $mirror}"
debootstrap --variant=minbase --include=python3.11,python3.11-venv,python3-pip,ca-certificates \
    bookworm "$rootfs" ${mirror:+"$mirror"} >"$rootfs.log" 2>&1 \
    || { tail -n 20 "$rootfs.log" >&2; echo "error: debootstrap failed (log: $rootfs.log)" >&2; exit 1; }
rm -f "$rootfs.log"
ln -sf /usr/bin/python3.11 "$rootfs/usr/local/bin/python"
ln -sf /usr/bin/python3.11 "$rootfs/usr/local/bin/python3"
# A build that goes through a TLS-intercepting proxy needs the host's CA bundle (a superset of Debian's).
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
fi
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

echo "==> importing $rootfs as $image ($engine)"
tar -C "$rootfs" -c . | "$engine" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV PIP_BREAK_SYSTEM_PACKAGES=1' \
    --change 'CMD ["python3"]' - "$image" >/dev/null
echo "built $image"
