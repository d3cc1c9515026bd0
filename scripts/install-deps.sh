#!/bin/sh
# Install what Postern needs to build, test and benchmark on Debian 12.
# Usage: scripts/install-deps.sh [build|test]   (test also installs test tools)
set -eu
what=${1:-build}
if [ "$(id -u)" != 0 ]; then
    echo "install-deps: run as root (apt-get)" >&2
    exit 1
fi
build_pkgs="meson ninja-build pkg-config gcc libc6-dev libssl-dev liblmdb-dev libevent-dev libpcre2-dev libc-ares-dev python3 python3-aiosmtpd"
test_pkgs="clang llvm libclang-rt-14-dev python3-pytest swaks dnsmasq-base postfix procps util-linux"
pkgs=$build_pkgs
[ "$what" = test ] && pkgs="$build_pkgs $test_pkgs"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    # postfix: "No configuration" so it neither listens on port 25 nor starts.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -q
    apt-get install -y -q --no-install-recommends $missing
fi
# Daemons run as this unprivileged account when master starts as root.
if ! getent passwd postern >/dev/null; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin postern
fi
