"""Heap for a full TUF refresh (root, timestamp, snapshot, targets, image choice) on MicroPython,
for targets metadata of growing size up to its cap. Method: tests/tufmem.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import tufmem  # noqa: E402

from mpboot.mpy.runtime import MicroPython  # noqa: E402
from mpboot_fw import tuf  # noqa: E402


def main():
    print("targets bytes | largest live | transient | estimate | CPython peak (bytes above idle)")
    with MicroPython() as mp:
        for size in (None, 4096, 8192, tuf.TARGETS_MAX):
            files = tufmem.repository(size)
            r = tufmem.estimate(mp, files)
            print("%13d | %12d | %9d | %8d | %d" % (len(files["targets"]), r["largest"], r["transient"],
                                                   r["estimate"], r["cpython_refresh_peak"]))
            last = r
    print("idle heap (modules imported): %d bytes" % last["idle"])
    for name, live in last["live"].items():
        print("  %-18s %6d" % (name, live))


if __name__ == "__main__":
    main()
