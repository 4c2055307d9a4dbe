"""Heap for a full TUF refresh (root, timestamp, snapshot, targets, image choice) on MicroPython,
for targets metadata of growing size up to its cap (method: tests/tufmem.py); then a fleet's
repository of 1,000 images over 20 boards with a delegation per board (tests/fleetrepo.py): the
metadata bytes a device downloads per check, against the same images flat, and its heap."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import fleetrepo  # noqa: E402
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
    fleet(mp)


def fleet(mp):
    flat = fleetrepo.flat()
    print("\nflat: one targets file of %d bytes for 1,000 images (device cap %d): refused"
          % (len(flat.published["targets"][-1]), tuf.TARGETS_MAX))
    rows, repo = fleetrepo.checks()
    sizes = fleetrepo.sizes(repo)
    print("delegated: %d roles, %d bytes of metadata in all; on the way of %s/%s: %s"
          % (sizes["roles"], sizes["all metadata"], fleetrepo.DEVICE[0], fleetrepo.DEVICE[1],
             ", ".join("%s %d" % (k, sizes[k]) for k in ("timestamp", "snapshot", "targets", "board role", "channel role"))))
    print("check                   | bytes fetched | files")
    for name, fetched, _, _ in rows:
        print("%-23s | %13d | %s" % (name, sum(fetched.values()), " ".join(sorted(fetched))))
    result = fleetrepo.heap(mp, repo)
    print("heap (bytes above idle %d): estimate %d; per step live/allocated:" % (result["idle"], result["estimate"]))
    for name, live, allocated, _ in result["rows"]:
        print("  %-13s %6d %9d" % (name, live, allocated))


if __name__ == "__main__":
    main()
