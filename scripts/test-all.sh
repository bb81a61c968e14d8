#!/bin/bash
# The README's test command: install what is needed, build, and run every test.
#   1. unit tests + fuzz corpus replay (make check), normal build
#   2. end-to-end tests through real Apache, memcached and the dev OP
#   3. the same unit and end-to-end tests with the ASan+UBSan build; any
#      sanitizer report fails the run
#   4. a short libFuzzer run of every fuzz target (clang)
#   5. the packaging test (tests/packaging/run.sh: .deb + .rpm built with make check
#      left out, lintian/rpmlint, the .debs installed and smoke-tested, then purged),
#      run right after 2
# Set AOIDC_SKIP_SANITIZER=1 / AOIDC_SKIP_FUZZ=1 / AOIDC_SKIP_PACKAGING=1 to leave out 3 / 4 / 5 locally.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
py=/usr/bin/python3

"$here/scripts/install-deps.sh"

summary=()
fail=0
step() { echo; echo "==== $*"; }

step "build"
scripts/build.sh build

step "unit tests (make check)"
if make -C build check --no-print-directory >/dev/null 2>&1; then
    summary+=("unit: ok")
else
    cat build/test-suite.log || true
    summary+=("unit: FAILED"); fail=1
fi
grep -h "^\[  PASSED  \]\|^\[  FAILED  \]" build/tests/unit/*.log || true

step "end-to-end tests"
if AOIDC_MODULE="$here/build/.libs/mod_auth_oidc.so" AOIDC_CONSOLE="$here/build/console/oidc-console" \
   AOIDC_REQUIRE_MODULE=1 \
   $py -m pytest -q -p no:cacheprovider tests/e2e; then
    summary+=("e2e: ok")
else
    summary+=("e2e: FAILED"); fail=1
fi

if [ "${AOIDC_SKIP_PACKAGING:-0}" != 1 ]; then
    step "packaging (.deb and .rpm built, checked; the .debs installed, used, purged)"
    if [ "$(id -u)" != 0 ]; then
        summary+=("packaging: skipped (needs root)")
    elif tests/packaging/run.sh > build/packaging.log 2>&1; then
        grep "^ok:" build/packaging.log | wc -l | sed 's/^/packaging checks passed: /'
        summary+=("packaging: ok")
    else
        cat build/packaging.log
        summary+=("packaging: FAILED"); fail=1
    fi
fi

if [ "${AOIDC_SKIP_SANITIZER:-0}" != 1 ]; then
    step "sanitizer build (ASan+UBSan)"
    scripts/build.sh build-asan --enable-sanitizers
    sandir=$(mktemp -d /tmp/aoidc-san-XXXXXX)
    chmod 1777 "$sandir"
    export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:log_path=$sandir/asan"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$sandir/ubsan"
    step "unit tests under sanitizers"
    if ASAN_OPTIONS="detect_leaks=1:log_path=$sandir/asan-unit" make -C build-asan check --no-print-directory \
        >/dev/null 2>&1; then
        summary+=("unit (sanitizers): ok")
    else
        cat build-asan/test-suite.log || true
        summary+=("unit (sanitizers): FAILED"); fail=1
    fi
    step "end-to-end tests under sanitizers"
    libasan=$(gcc -print-file-name=libasan.so)
    if AOIDC_MODULE="$here/build-asan/.libs/mod_auth_oidc.so" AOIDC_CONSOLE="$here/build-asan/console/oidc-console" \
       AOIDC_REQUIRE_MODULE=1 \
       AOIDC_APACHE_PRELOAD="$libasan" $py -m pytest -q -p no:cacheprovider tests/e2e; then
        summary+=("e2e (sanitizers): ok")
    else
        summary+=("e2e (sanitizers): FAILED"); fail=1
    fi
    if ls "$sandir"/* >/dev/null 2>&1; then
        echo "sanitizer reports:"; cat "$sandir"/*
        summary+=("sanitizer reports: FOUND"); fail=1
    else
        summary+=("sanitizer reports: none")
    fi
    unset ASAN_OPTIONS UBSAN_OPTIONS
fi

if [ "${AOIDC_SKIP_FUZZ:-0}" != 1 ]; then
    step "libFuzzer smoke run"
    if tests/fuzz/run-fuzzers.sh "${AOIDC_FUZZ_SECONDS:-20}"; then
        summary+=("fuzz: ok")
    else
        summary+=("fuzz: FAILED"); fail=1
    fi
fi

echo
echo "==== summary"
printf '  %s\n' "${summary[@]}"
passed=0; failed=0
for s in "${summary[@]}"; do
    case "$s" in *FAILED*|*FOUND*) failed=$((failed + 1)) ;; *) passed=$((passed + 1)) ;; esac
done
echo "suites: $passed passed, $failed failed"
exit $fail
