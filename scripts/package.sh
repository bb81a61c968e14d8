#!/bin/bash
# Builds the distribution packages into dist/ (Debian 12, as root or not):
#   dist/libapache2-mod-auth-oidc_V_ARCH.deb, dist/oidc-console_V_ARCH.deb (+ dbgsym,
#   .changes, .buildinfo) with dpkg-buildpackage, and
#   dist/mod_auth_oidc-V.tar.gz (make dist) and dist/mod_auth_oidc-V-1.ARCH.rpm,
#   dist/oidc-console-V-1.ARCH.rpm with Debian's rpmbuild from that tarball.
# It builds a copy of the source (the files git tracks plus new, not ignored ones),
# so the working tree stays as it is. V comes from configure.ac (AC_INIT).
#
#   scripts/package.sh [deb|rpm|all]        (default all)
#   DEB_BUILD_OPTIONS=nocheck               skips make check in both builds
#   AOIDC_PKG_KEEP=1                        keeps the build directory
# The build logs land in dist/logs/.
# Needs: debhelper dpkg-dev apache2-dev and the build dependencies
# (scripts/install-deps.sh), rpm for the .rpm.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
what=${1:-all}
case "$what" in deb|rpm|all) ;; *) echo "usage: $0 [deb|rpm|all]" >&2; exit 1 ;; esac
cd "$here"

version=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' configure.ac)
[ -n "$version" ] || { echo "package.sh: no version in configure.ac" >&2; exit 1; }
debversion=$(dpkg-parsechangelog -l debian/changelog -S Version)
if [ "$debversion" != "$version" ]; then
    echo "package.sh: debian/changelog is at $debversion, configure.ac at $version;" \
         "add a changelog entry: dch -v $version" >&2
    exit 1
fi

work=$(mktemp -d /tmp/aoidc-pkg-XXXXXX)
cleanup() {
    mkdir -p "$here/dist/logs" && cp "$work"/*.log "$here/dist/logs/" 2>/dev/null || true
    if [ "${AOIDC_PKG_KEEP:-0}" = 1 ]; then echo "build directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
mkdir -p dist
# a clean copy per build: tracked and new files, without build output or node_modules
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z -c -o --exclude-standard | grep -zv '^tests/op/node_modules' | tar --null -T - -cf "$work/src.tar"
else   # an unpacked make dist tarball
    tar --exclude=./dist --exclude='./build*' --exclude=./tests/op/node_modules -cf "$work/src.tar" .
fi
fresh() { rm -rf "$work/src"; mkdir "$work/src"; tar -xf "$work/src.tar" -C "$work/src"; }

nocheck=0
case " ${DEB_BUILD_OPTIONS:-} " in *" nocheck "*) nocheck=1 ;; esac

if [ "$what" != rpm ]; then
    echo "== .deb (dpkg-buildpackage)"
    fresh
    (cd "$work/src" && dpkg-buildpackage -us -uc -b) > "$work/deb.log" 2>&1 ||
        { tail -40 "$work/deb.log"; echo "package.sh: dpkg-buildpackage failed (log above)" >&2; exit 1; }
    cp "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo dist/
    ls -1 "$work"/*.deb | sed 's|.*/|  dist/|'
fi

if [ "$what" != deb ]; then
    echo "== tarball (make dist)"
    fresh
    mkdir -p "$work/dist"
    (cd "$work/src" && autoreconf -fi && cd "$work/dist" &&
        ../src/configure --quiet --with-apxs="$(command -v apxs || echo /usr/bin/apxs)" && make dist) \
        > "$work/dist.log" 2>&1 ||
        { tail -40 "$work/dist.log"; echo "package.sh: make dist failed (log above)" >&2; exit 1; }
    tarball=$work/dist/mod_auth_oidc-$version.tar.gz
    cp "$tarball" dist/
    echo "  dist/${tarball##*/}"
    echo "== .rpm (rpmbuild -tb, Debian's rpm: --nodeps, the build requirements are Fedora's)"
    command -v rpmbuild >/dev/null || { echo "package.sh: rpmbuild missing (apt-get install rpm)" >&2; exit 1; }
    mmn=$(sed -n 's/^#define MODULE_MAGIC_NUMBER_MAJOR \([0-9]*\).*/\1/p' \
        "$(apxs -q INCLUDEDIR)/ap_mmn.h")$(uname -m | tr -d _)
    args=(--define "_topdir $work/rpmbuild" --define "_httpd_mmn $mmn" --nodeps)
    [ $nocheck = 1 ] && args+=(--nocheck)
    rpmbuild "${args[@]}" -tb "$tarball" > "$work/rpm.log" 2>&1 ||
        { tail -40 "$work/rpm.log"; echo "package.sh: rpmbuild failed (log above)" >&2; exit 1; }
    cp "$work"/rpmbuild/RPMS/*/*.rpm dist/
    ls -1 "$work"/rpmbuild/RPMS/*/*.rpm | sed 's|.*/|  dist/|'
fi
