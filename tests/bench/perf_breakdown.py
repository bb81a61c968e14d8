#!/usr/bin/python3
"""Break down perf samples under one function by its direct callees (inclusive).

    perf script -i perf-b.data | /usr/bin/python3 tests/bench/perf_breakdown.py aoidc_check_authn [mc_get ...]

For each function named: the share of all samples whose stack contains it, and of
those, how they split over the frame called directly from it ("(self)" = in the
function itself). Needs a profile with call graphs (run_bench.py --perf dwarf).
"""
from __future__ import annotations

import collections
import re
import sys

FRAME = re.compile(r"^\s+[0-9a-f]+\s+(.+?)\s+\((.*)\)\s*$")


def samples(lines):
    stack = []
    for line in lines:
        if not line.strip():
            if stack:
                yield stack
            stack = []
            continue
        m = FRAME.match(line)
        if m:
            sym = re.sub(r"\+0x[0-9a-f]+$", "", m.group(1))
            if sym == "[unknown]":
                sym = f"[{m.group(2).rsplit('/', 1)[-1]}]"
            stack.append(sym)
    if stack:
        yield stack


def main() -> int:
    targets = sys.argv[1:] or ["aoidc_check_authn"]
    total = 0
    inside = collections.Counter()
    callees = {t: collections.Counter() for t in targets}
    for stack in samples(sys.stdin):          # stack[0] = leaf, stack[-1] = outermost
        total += 1
        for t in targets:
            if t in stack:
                i = max(idx for idx, s in enumerate(stack) if s == t)   # outermost occurrence
                inside[t] += 1
                callees[t][stack[i - 1] if i > 0 else "(self)"] += 1
    print(f"{total} samples")
    for t in targets:
        n = inside[t]
        print(f"\n{t}: {n} samples, {100.0 * n / max(total, 1):.1f}% of all")
        for name, c in callees[t].most_common(25):
            print(f"  {100.0 * c / max(n, 1):5.1f}%  ({100.0 * c / max(total, 1):4.1f}% of all)  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
