#!/bin/sh
# make check: replay every seed corpus through its target (no libFuzzer needed).
set -e
B=${AOIDC_BUILD:-.}
C=${AOIDC_CORPUS:-tests/fuzz/corpus}
"$B/tests/fuzz/replay_jose" "$C/jose"
"$B/tests/fuzz/replay_codecs" "$C/codecs"
"$B/tests/fuzz/replay_console" "$C/console"
"$B/tests/fuzz/replay_login" "$C/login"
"$B/tests/fuzz/replay_bearer" "$C/bearer"
"$B/tests/fuzz/replay_cookie" "$C/cookie"
"$B/tests/fuzz/replay_backend" "$C/backend"
"$B/tests/fuzz/replay_spa" "$C/spa"
"$B/tests/fuzz/replay_chooser" "$C/chooser"
