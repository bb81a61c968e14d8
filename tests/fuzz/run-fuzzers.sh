#!/bin/bash
# Build every fuzz target with clang's libFuzzer (+ASan/UBSan) and run each
# for N seconds (default 20) starting from its seed corpus. New inputs go to a
# scratch directory, not into the committed corpus.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-20}
out=$(mktemp -d /tmp/aoidc-fuzz-XXXXXX)
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c11 -D_GNU_SOURCE"
inc="-I$here/mod_src $(pkg-config --cflags apr-1 apr-util-1 jansson openssl libcurl)"
libs="$(pkg-config --libs apr-1 apr-util-1 jansson openssl)"
core="$here/mod_src/aoidc_util.c $here/mod_src/aoidc_crypto.c $here/mod_src/aoidc_jose.c \
      $here/mod_src/aoidc_state.c $here/mod_src/aoidc_session.c $here/mod_src/aoidc_claims.c \
      $here/mod_src/aoidc_provider.c $here/mod_src/aoidc_http.c $here/mod_src/aoidc_token.c \
      $here/mod_src/aoidc_introspect.c $here/mod_src/aoidc_request.c $here/mod_src/aoidc_bearer.c \
      $here/mod_src/aoidc_cookie.c $here/mod_src/aoidc_backend.c \
      $here/mod_src/aoidc_csrf.c $here/mod_src/aoidc_sessinfo.c $here/mod_src/aoidc_refresh.c $here/mod_src/aoidc_binding.c \
      $here/mod_src/aoidc_chooser.c $here/mod_src/aoidc_reauth.c $here/mod_src/aoidc_forwarded.c \
      $here/mod_src/aoidc_callback_hint.c $here/mod_src/aoidc_directory.c $here/mod_src/aoidc_store.c \
      $here/mod_src/aoidc_metrics.c $here/mod_src/aoidc_revfeed.c $here/mod_src/aoidc_scache.c"
for t in jose codecs login bearer cookie backend spa chooser; do
    clang $flags $inc -o "$out/fuzz_$t" "$here/tests/fuzz/fuzz_$t.c" $core $libs $(pkg-config --libs libcurl)
    mkdir -p "$out/corpus_$t"
    echo "== fuzz_$t for ${secs}s"
    "$out/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 "$out/corpus_$t" "$here/tests/fuzz/corpus/$t" \
        2>"$out/fuzz_$t.log" || { tail -50 "$out/fuzz_$t.log"; exit 1; }
    grep -E "stat::number_of_executed_units" "$out/fuzz_$t.log" || true
done
# the console's target links the console code (but main) and the whole core
cons="$(ls "$here"/console/*.c | grep -v oidc_console.c) $(ls "$here"/mod_src/aoidc_*.c)"
clang $flags $inc -I"$here/console" -o "$out/fuzz_console" "$here/tests/fuzz/fuzz_console.c" $cons $libs \
    $(pkg-config --libs libcurl libmicrohttpd libmemcached) -lpthread
mkdir -p "$out/corpus_console"
echo "== fuzz_console for ${secs}s"
"$out/fuzz_console" -max_total_time="$secs" -print_final_stats=1 "$out/corpus_console" "$here/tests/fuzz/corpus/console" \
    2>"$out/fuzz_console.log" || { tail -50 "$out/fuzz_console.log"; exit 1; }
grep -E "stat::number_of_executed_units" "$out/fuzz_console.log" || true
rm -rf "$out"
