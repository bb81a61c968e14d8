#!/bin/bash
# Builds the module (and unit tests) out of tree: build/ (or $1), with extra
# configure arguments after it, e.g.  scripts/build.sh build-asan --enable-sanitizers
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build}
shift || true
cd "$here"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
    autoreconf -fi
fi
mkdir -p "$dir"
cd "$dir"
if [ ! -f Makefile ] || [ ../configure -nt Makefile ]; then
    ../configure --quiet --with-apxs="$(command -v apxs || echo /usr/bin/apxs)" "$@"
fi
make -j"$(nproc)" --no-print-directory
