"""The filesystem inside the power-cut model: the full sweep of tests/test_lfs_powercut.py (a file
update on the unix-port board, every flash operation LittleFS makes cut before, torn and after,
on a fresh and on a worn image), with its counts and time.
"""

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "device"))

import test_lfs_powercut as lfs  # noqa: E402
from emuboard import unix_runtime  # noqa: E402
from mpboot.emulator.flash import CUT_MODES, CutPlan  # noqa: E402


def main():
    runtime = unix_runtime()
    total = 0
    for kind in ("fresh", "worn"):
        start = lfs.base(kind)
        _, first, _, _ = lfs.boot_run(runtime, start)
        ops = first.flash["operations"]
        points = [(k, mode) for k in range(ops) for mode in CUT_MODES]
        seen = set()
        began = time.perf_counter()
        for k, mode in points:
            flash, cut, after, again = lfs.boot_run(runtime, start, CutPlan(k, mode))
            assert cut.outcome == "power_cut" and after in lfs.STEPS, (kind, k, mode)
            assert again.output == [lfs.line(after), lfs.line(lfs.STEPS[-1])], (kind, k, mode)
            seen.add(lfs.STEPS.index(after))
        elapsed = time.perf_counter() - began
        total += len(points)
        print("%-6s %d flash operations, %d cut points (%s), states after a cut: steps %s; %.0f s, %.2f s per cut point"
              % (kind, ops, len(points), "/".join(CUT_MODES), sorted(seen), elapsed, elapsed / len(points)))
    print("total %d cut points: every one left a step's state, mounted, and completed" % total)


if __name__ == "__main__":
    main()
