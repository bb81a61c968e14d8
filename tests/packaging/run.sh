#!/bin/bash
# The packaging test (Debian 12, as root): builds the packages with scripts/package.sh
# (DEB_BUILD_OPTIONS=nocheck: make check ran already), then
#   1. lintian on the .debs: no error (the accepted tags are listed below, with why);
#   2. the .rpms with rpm -qp: file list, config files, requires, scriptlets; rpmlint with
#      an allow-list (below);
#   3. installs the .debs on this machine: key generated (root only), module enabled,
#      a2enmod auth_oidc, apache2ctl -t, the console's user and file modes,
#      systemd-analyze verify on the unit; a login and a bearer request through the
#      INSTALLED module and `oidc-console --json sessions` through the INSTALLED console
#      (tests/packaging/test_installed.py on the e2e harness);
#   4. reinstalls the same version: edited conffiles and the key stay; removes: key and
#      conffiles stay, module disabled; purges: nothing left but the system user
#      (policy: system users are not removed).
# Whatever it installed is purged at the end (also on failure), and /etc/apache2 and
# /var/lib/apache2 must be exactly as before. apache2 is never started: policy-rc.d
# refuses service starts while the test runs (as in scripts/install-deps.sh).
#
#   tests/packaging/run.sh            build, then test
#   tests/packaging/run.sh --no-build test what is in dist/ already
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
export DEBIAN_FRONTEND=noninteractive
py=/usr/bin/python3
[ "$(id -u)" = 0 ] || { echo "packaging test: run as root (it installs the .debs)" >&2; exit 1; }

fail=0
bad() { echo "FAIL: $*"; fail=1; }
ok() { echo "ok: $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

if [ "${1:-}" != --no-build ]; then
    echo "== build (scripts/package.sh, nocheck)"
    DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" scripts/package.sh all
fi
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
arch=$(dpkg --print-architecture)
mod_deb=dist/libapache2-mod-auth-oidc_${version}_${arch}.deb
con_deb=dist/oidc-console_${version}_${arch}.deb
mod_rpm=$(ls dist/mod_auth_oidc-"$version"-1.*.rpm)
con_rpm=$(ls dist/oidc-console-"$version"-1.*.rpm)

# ----------------------------------------------------------------- 1. lintian
# Accepted (info level, shown with -I, none is a warning or error today):
#  hardening-no-fortify-functions (module): the module calls no fortifiable libc
#    function with a size the compiler can check; it is built with the hardening flags.
#  package-supports-alternative-init-but-no-init.d-script (console): the console
#    runs under systemd only; without systemd, run `oidc-console serve` by hand.
# Any E: fails the test; any W: fails it too until listed here with a reason.
echo "== lintian"
lint=$(lintian -I --pedantic --suppress-tags running-with-root-privileges "dist/mod-auth-oidc_${version}_${arch}.changes" 2>&1 || true)
echo "$lint"
check "lintian: no errors" bash -c '! grep -q "^E:" <<<"$1"' _ "$lint"
check "lintian: no warnings" bash -c '! grep -q "^W:" <<<"$1"' _ "$lint"

# ----------------------------------------------------------------- 2. rpm -qp, rpmlint
echo "== rpm checks"
has() { grep -qx -- "$2" <<<"$1"; }
files=$(rpm -qpl "$mod_rpm")
for f in /usr/lib64/httpd/modules/mod_auth_oidc.so /etc/httpd/conf.modules.d/10-auth_oidc.conf \
         /etc/httpd/conf.d/auth_oidc.conf /etc/httpd/auth_oidc; do
    check "rpm module file $f" has "$files" "$f"
done
conf=$(rpm -qpc "$mod_rpm")
check "rpm module config files" test "$conf" = $'/etc/httpd/conf.d/auth_oidc.conf\n/etc/httpd/conf.modules.d/10-auth_oidc.conf'
check "rpm config noreplace" bash -c 'rpm -qp --qf "[%{FILEFLAGS:fflags} %{FILENAMES}\n]" "$1" | grep -q "^cn /etc/httpd/conf.d/auth_oidc.conf$"' _ "$mod_rpm"
req=$(rpm -qp --requires "$mod_rpm")
check "rpm requires httpd-mmn" bash -c 'grep -Eq "^httpd-mmn = [0-9]{8}[a-z0-9_]+$" <<<"$1"' _ "$req"
check "rpm module mode 0755, key dir 0700" bash -c 'v=$(rpm -qplv "$1"); grep -q "^-rwxr-xr-x .*/mod_auth_oidc.so$" <<<"$v" && grep -q "^drwx------ .*/etc/httpd/auth_oidc$" <<<"$v"' _ "$mod_rpm"
scr=$(rpm -qp --scripts "$mod_rpm")
check "rpm %post generates the key once" bash -c 'grep -q "if \[ ! -e /etc/httpd/auth_oidc/crypto.key \]" <<<"$1" && grep -q "chmod 0600" <<<"$1"' _ "$scr"
cfiles=$(rpm -qpl "$con_rpm")
for f in /usr/bin/oidc-console /usr/lib/systemd/system/oidc-console.service /etc/oidc-console/console.conf; do
    check "rpm console file $f" has "$cfiles" "$f"
done
check "rpm console config" test "$(rpm -qpc "$con_rpm")" = /etc/oidc-console/console.conf
cscr=$(rpm -qp --scripts "$con_rpm")
check "rpm console scriptlets (user, systemd)" bash -c 'grep -q "useradd -r -g oidc-console" <<<"$1" && grep -q "systemctl --no-reload preset oidc-console.service" <<<"$1" && grep -q "disable --now oidc-console.service" <<<"$1" && grep -q "try-restart oidc-console.service" <<<"$1"' _ "$cscr"
check "rpm unit points at the httpd key" bash -c 'rpm2cpio "$1" | cpio -i --quiet --to-stdout ./usr/lib/systemd/system/oidc-console.service | grep -qx "LoadCredential=crypto.key:/etc/httpd/auth_oidc/crypto.key"' _ "$con_rpm"
if command -v rpmlint >/dev/null; then
    # Accepted on Debian's rpmlint (generic profile, not Fedora's):
    #  no-signature, no-packager-tag, no-group-tag, invalid-license: Fedora's profile or
    #    its build system settles these; unstripped-binary-or-object, manpage-not-compressed:
    #    Debian's rpm has no find-debuginfo/brp-compress (Fedora's has);
    #  non-standard-dir-perm, non-readable, non-standard-uid/gid: on purpose, the key
    #    directory (0700), the console's config (0640/0750 root:oidc-console), auth_oidc.conf
    #    (0640 root:apache, it may name secrets, as mod_auth_openidc's rhbz#2189268);
    #  dangerous-command-in-%post: chmod/install of the generated key and htpasswd;
    #  log-files-without-logrotate: the audit log is small (one line per admin action);
    #  no-manual-page-for-binary: the man page is there, uncompressed (see above).
    allow='no-signature|no-packager-tag|no-group-tag|invalid-license|unstripped-binary-or-object|manpage-not-compressed|non-standard-dir-perm|non-readable|non-standard-uid|non-standard-gid|dangerous-command-in-%post|log-files-without-logrotate|no-manual-page-for-binary'
    rl=$(rpmlint "$mod_rpm" "$con_rpm" 2>&1 || true)
    echo "$rl" | grep -E '^[a-z_-]+\.[a-z0-9_]+: [EW]:' || true
    other=$(echo "$rl" | grep -E '^[a-z_-]+\.[a-z0-9_]+: [EW]:' | grep -Ev ": [EW]: ($allow)( |$)" || true)
    check "rpmlint: nothing outside the allow-list" test -z "$other"
    [ -z "$other" ] || echo "$other"
    # the spec as shipped in the tarball. Accepted: no-buildroot-tag (obsolete tag, Fedora
    # forbids it), invalid-url (the project has no public download URL yet)
    spec=$(mktemp /tmp/aoidc-spec-XXXXXX.spec)
    tar -xzf "dist/mod_auth_oidc-$version.tar.gz" -O "mod_auth_oidc-$version/mod_auth_oidc.spec" > "$spec"
    check "the tarball's spec has version $version" grep -qx "Version: *$version" "$spec"
    sl=$(rpmlint "$spec" 2>&1 || true)
    rm -f "$spec"
    other=$(echo "$sl" | grep -E '\.spec: [EW]:' | grep -Ev ': [EW]: (no-buildroot-tag|invalid-url)( |$)' || true)
    check "rpmlint on the spec: nothing outside the allow-list" test -z "$other"
    [ -z "$other" ] || echo "$other"
else
    echo "rpmlint not installed: skipped"
fi

# ----------------------------------------------------------------- 3. install
echo "== install on this machine"
for p in libapache2-mod-auth-oidc oidc-console; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "installed\|config-files"; then
        echo "packaging test: $p is already on this machine; purge it first" >&2; exit 1
    fi
done
snap() {   # everything about /etc/apache2 and /var/lib/apache2 that a package could change
    find /etc/apache2 /var/lib/apache2 -printf '%p %y %m %u %g %l\n' 2>/dev/null | sort
    find /etc/apache2 /var/lib/apache2 -type f -exec sha256sum {} + 2>/dev/null | sort
}
before=$(mktemp /tmp/aoidc-pkgsnap-XXXXXX)
snap > "$before"
# a2dismod/a2enmod below create these state directories (empty) when they are missing
state_dirs=()
for d in /var/lib/apache2/module/{disabled,enabled}_by_{admin,maint}; do [ -d "$d" ] || state_dirs+=("$d"); done
had_user=0; getent passwd oidc-console >/dev/null && had_user=1
made_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made_policy=1
fi
cleanup() {
    dpkg --purge libapache2-mod-auth-oidc oidc-console >/dev/null 2>&1 || true
    if [ $had_user = 0 ] && getent passwd oidc-console >/dev/null; then
        deluser --quiet --system oidc-console >/dev/null 2>&1 || true
        getent group oidc-console >/dev/null && delgroup --quiet --system oidc-console >/dev/null 2>&1 || true
    fi
    [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
    for d in "${state_dirs[@]}"; do rmdir "$d" 2>/dev/null || true; done
    after=$(mktemp /tmp/aoidc-pkgsnap-XXXXXX)
    snap > "$after"
    if ! diff -u "$before" "$after"; then echo "FAIL: /etc/apache2 or /var/lib/apache2 differ from before the test"; fail=1; fi
    rm -f "$before" "$after"
}
trap 'cleanup; trap - EXIT; [ $fail = 0 ] && echo "packaging test: ok" || echo "packaging test: FAILED"; exit $fail' EXIT
trap 'fail=1; exit 1' INT TERM HUP

apt-get install -y -q --no-install-recommends "./$mod_deb" "./$con_deb" </dev/null >/tmp/aoidc-pkg-apt.log 2>&1 ||
    { cat /tmp/aoidc-pkg-apt.log; bad "apt-get install of the .debs"; exit 1; }
ok "apt-get install ./$mod_deb ./$con_deb"
key=/etc/apache2/auth_oidc/crypto.key
mode() { stat -c '%a %U:%G' "$1"; }
check "key generated, 0600 root:root, 64 hex digits" bash -c '[ "$(stat -c "%a %U:%G" "$1")" = "600 root:root" ] && grep -Eqx "[0-9a-f]{64}" "$1"' _ "$key"
check "key directory 0700 root" test "$(mode /etc/apache2/auth_oidc)" = "700 root:root"
check "module enabled at install (dh_apache2)" a2query -q -m auth_oidc
a2dismod -q auth_oidc >/dev/null
a2enmod auth_oidc >/dev/null
check "a2enmod auth_oidc" a2query -q -m auth_oidc
check "apache2ctl -t" apache2ctl -t
check "apache2ctl -M lists auth_oidc_module" bash -c 'apache2ctl -M 2>/dev/null | grep -q "auth_oidc_module (shared)"'
check "console user" getent passwd oidc-console
check "console files root:oidc-console 0750/0640" bash -c '[ "$(stat -c "%a %U:%G" /etc/oidc-console)" = "750 root:oidc-console" ] && [ "$(stat -c "%a %U:%G" /etc/oidc-console/console.conf)" = "640 root:oidc-console" ] && [ "$(stat -c "%a %U:%G" /etc/oidc-console/htpasswd)" = "640 root:oidc-console" ]'
check "console unit installed, not enabled" bash -c '[ -f /lib/systemd/system/oidc-console.service ] && [ ! -e /etc/systemd/system/multi-user.target.wants/oidc-console.service ]'
unit_out=$(systemd-analyze verify /lib/systemd/system/oidc-console.service 2>&1) || bad "systemd-analyze verify: $unit_out"
[ -n "$unit_out" ] && echo "$unit_out"
check "systemd-analyze verify: no complaint about the unit" bash -c '! grep -q "oidc-console.service" <<<"$1"' _ "$unit_out"
check "unit hardening" bash -c 'for k in NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes User=oidc-console "CapabilityBoundingSet=" "LoadCredential=crypto.key:/etc/apache2/auth_oidc/crypto.key"; do grep -qx "$k" /lib/systemd/system/oidc-console.service || exit 1; done'

echo "== login, bearer and console through the installed packages"
if AOIDC_MODULE=/usr/lib/apache2/modules/mod_auth_oidc.so \
   AOIDC_CONSOLE=/usr/bin/oidc-console AOIDC_REQUIRE_MODULE=1 AOIDC_PKG_KEY=$key \
   timeout 300 $py -m pytest -q -p no:cacheprovider tests/packaging/test_installed.py; then
    ok "installed module: login + bearer; installed console: --json sessions"
else
    bad "installed module/console smoke test"
fi

# ----------------------------------------------------------------- 4. upgrade, remove, purge
echo "== reinstall (same version), remove, purge"
keysum=$(sha256sum "$key")
sed -i 's/^per_page = .*/per_page = 77/' /etc/oidc-console/console.conf
echo "# edited by the packaging test" >> /etc/apache2/mods-available/auth_oidc.conf
apt-get install -y -q --reinstall --no-install-recommends "./$mod_deb" "./$con_deb" </dev/null >/tmp/aoidc-pkg-apt.log 2>&1 ||
    { cat /tmp/aoidc-pkg-apt.log; bad "reinstall"; }
check "reinstall keeps the edited console.conf" grep -qx "per_page = 77" /etc/oidc-console/console.conf
check "reinstall keeps the edited auth_oidc.conf" grep -qx "# edited by the packaging test" /etc/apache2/mods-available/auth_oidc.conf
check "reinstall keeps the key" test "$(sha256sum "$key")" = "$keysum"
check "reinstall keeps the module enabled" a2query -q -m auth_oidc
check "reinstall keeps console.conf's mode" test "$(mode /etc/oidc-console/console.conf)" = "640 root:oidc-console"
dpkg --remove libapache2-mod-auth-oidc oidc-console >/dev/null
check "remove keeps the key" test "$(sha256sum "$key" 2>/dev/null)" = "$keysum"
check "remove keeps the conffiles" test -f /etc/apache2/mods-available/auth_oidc.conf -a -f /etc/oidc-console/console.conf
check "remove disables the module" test ! -e /etc/apache2/mods-enabled/auth_oidc.load
check "remove takes the module" test ! -e /usr/lib/apache2/modules/mod_auth_oidc.so
dpkg --purge libapache2-mod-auth-oidc oidc-console >/dev/null
left=$(ls -d /etc/apache2/auth_oidc /etc/apache2/mods-*/auth_oidc.* /etc/oidc-console /var/log/oidc-console \
       /usr/lib/apache2/modules/mod_auth_oidc.so /usr/bin/oidc-console /lib/systemd/system/oidc-console.service \
       /usr/share/doc/libapache2-mod-auth-oidc /usr/share/doc/oidc-console /var/lib/apache2/module/*/auth_oidc \
       /var/lib/systemd/deb-systemd-helper-*/oidc-console.service* /etc/systemd/system/*/oidc-console.service \
       2>/dev/null || true)
check "purge leaves nothing behind${left:+: $left}" test -z "$left"
check "purge: dpkg knows neither package" bash -c '! dpkg-query -W -f="\${Status}\n" libapache2-mod-auth-oidc oidc-console 2>/dev/null | grep -qv "not-installed"'
check "purge keeps the system user (policy)" getent passwd oidc-console
