#!/bin/bash
# Installs everything the build, the demo and the tests need, from Debian
# (and the test OP from npm, pinned by tests/op/package-lock.json).
# Debian 12, as root. Safe to run again: it skips what is already there.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
here=$(cd "$(dirname "$0")/.." && pwd)

PKGS=(build-essential autoconf automake libtool pkgconf
      apache2 apache2-dev memcached libmemcached-dev libmemcached-tools
      libapr1-dev libaprutil1-dev libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libcmocka-dev
      clang libclang-rt-14-dev
      python3 python3-pytest python3-requests python3-jwt python3-cryptography
      wrk curl ca-certificates
      chromium chromium-driver python3-selenium
      debhelper dpkg-dev fakeroot lintian rpm rpmlint cpio systemd)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js for the test OP: Debian's nodejs+npm unless a node with npm is already there
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    missing+=(nodejs npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing: ${missing[*]}"
    apt-get update -q
    # the packaged apache2 service is not used; do not let it grab port 80
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -d "$here/tests/op/node_modules/oidc-provider" ]; then
    echo "== npm ci in tests/op"
    (cd "$here/tests/op" && npm ci --no-audit --no-fund)
fi
