#!/bin/bash
# The README's demo command: install what is needed, build, run the demo.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/install-deps.sh"
"$here/scripts/build.sh" build
AOIDC_MODULE="$here/build/.libs/mod_auth_oidc.so" AOIDC_CONSOLE="$here/build/console/oidc-console" \
    exec /usr/bin/python3 "$here/scripts/demo.py"
