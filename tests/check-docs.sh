#!/bin/sh
# make check: every directive of the module appears in conf/auth_oidc.conf and
# in the README's directive reference, and nothing documented is gone.
set -eu
top=${AOIDC_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
src="$top/mod_src/mod_auth_oidc_config.c"
dirs=$(grep -o 'AP_INIT_[A-Z0-9_]*("<\?AuthOIDC[A-Za-z]*' "$src" | sed 's/.*("<\?//' | sort -u)
[ -n "$dirs" ] || { echo "no directives found in $src"; exit 1; }
bad=0; n=0
for d in $dirs; do
    n=$((n + 1))
    grep -q "$d" "$top/conf/auth_oidc.conf" || { echo "$d missing from conf/auth_oidc.conf"; bad=1; }
    grep -q "^| \`<\?$d" "$top/README.md" || { echo "$d missing from the README directive reference"; bad=1; }
done
for d in $(grep -o '^| `<\?AuthOIDC[A-Za-z]*' "$top/README.md" | sed 's/^| `<\?//' | sort -u); do
    echo "$dirs" | grep -qx "$d" || { echo "README documents $d, which the module does not have"; bad=1; }
done
echo "checked $n directives"
exit $bad
