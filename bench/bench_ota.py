"""Over-the-air updates on the emulated board (real MicroPython, real HTTPS to `mpboot serve`).

  time       one boot whose update check finds nothing new, and one that downloads and installs
             a 1.4 MB image, each as a ratio to a boot whose app only downloads that same file
             with fetch.Fetcher into a hashing sink (reference, same board and server): what
             TUF, the slot writes and the install's verification cost on top of the transfer
  memory     heap above idle at each step of a whole update (tests/otamem.py), with targets
             metadata small and at its 12 KiB cap; the issue's target is 48 KiB
  power cuts the full sweep (tests/otasweep.py): every flash operation of an update, with and
             without a root rotation, cut before/torn/after; counts, ends, time per cut point
Emulator timings say nothing about a board's speed; the ratios and counts are what to compare.
"""

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "device"))

import appbuilder  # noqa: E402
import otamem  # noqa: E402
import emuboard  # noqa: E402
import otasweep  # noqa: E402
from mpboot import keys, signing  # noqa: E402
from mpboot.emulator.flash import CUT_MODES, NorFlash  # noqa: E402
from mpboot.mpy.runtime import MicroPython  # noqa: E402
from otaworld import World  # noqa: E402

FETCH_ONLY = """
import hashlib, json, _host
from mpboot_fw.fetch import Fetcher
p = json.loads(_host.call("test.params", None, 0, 0, 0))
class Sink:
    def __init__(self):
        self.h = hashlib.sha256()
    def write(self, mv):
        self.h.update(mv)
    def reset(self):
        self.h = hashlib.sha256()
Fetcher(open('/mpboot-ca.pem', 'rb').read()).download(p["url"], Sink(), p["length"])
print("fetched")
"""


def big_image(w, version, size=1400000):
    app = appbuilder.build(version=version, data_segments=(size // 2, size // 2), seed=len(version))
    key = keys.load_private_key(w.keys / "targets.pem")
    return signing.sign_app(app, [key], version, 1, 0, board="esp32-4mb", created=1767225600)


def timed(w, base, runs=3, **params):
    best = None
    for _ in range(runs):
        w.use_flash(NorFlash(data=base))
        start = time.perf_counter()
        record = w.boot(**params)
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return best, record


def bench_time(mp):
    with tempfile.TemporaryDirectory() as tmp:
        w = World(tmp, mp)
        try:
            assert "ota: current" in w.boot().output
            nothing, record = timed(w, bytes(w.flash.mem))
            assert "ota: current" in record.output, record.output
            v2 = big_image(w, "2.0.0")
            w.publish_image(v2)
            update_base = bytes(w.flash.mem)
            target = next(Path(tmp, "repo", "targets").rglob("*.2.0.0.mpb"))
            url = w.url + target.relative_to(Path(tmp, "repo")).as_posix()
            fetch_base = _with_main(w, update_base, FETCH_ONLY)
            ref, record = timed(w, fetch_base, url=url, length=len(v2))
            assert "fetched" in record.output, record.output
            update, record = timed(w, update_base)
            assert record.outcome == "reset", record.output
            print("image %d bytes; reference: a boot that only downloads it: %.2f s" % (len(v2), ref))
            print("  check, nothing new           %.2f s  ratio %.2f" % (nothing, nothing / ref))
            print("  check + download + install   %.2f s  ratio %.2f" % (update, update / ref))
        finally:
            w.close()


def _with_main(w, base, main):
    from otaworld import BOARD
    from mpboot.emulator.vfs import mount
    from mpboot import boards

    data = bytearray(base)
    part = BOARD.partition(boards.VFS_PARTITION)
    region = bytearray(data[part.offset:part.offset + part.size])
    fs = mount(region)
    with fs.open("/main.py", "wb") as f:
        f.write(main.encode())
    fs.unmount()
    data[part.offset:part.offset + part.size] = region
    return bytes(data)


def bench_memory(mp):
    for label, targets in (("small targets metadata", None), ("targets metadata at its cap", 12288)):
        with tempfile.TemporaryDirectory() as tmp:
            w = otamem.world(tmp, mp, targets)
            try:
                result = otamem.estimate(w)
            finally:
                w.close()
        print("%s (%s):" % (label, result["outcome"]))
        print("  " + otamem.table(result).replace("\n", "\n  "))


def bench_power_cuts(mp):
    total_points = 0
    for variant in ("plain", "rotation"):
        with tempfile.TemporaryDirectory() as tmp:
            w, base = otasweep.prepare(tmp, mp, variant)
            try:
                ops, _ = otasweep.clean_ops(w, base)
                points = otasweep.cut_points(ops, True)
                start = time.perf_counter()
                ends = otasweep.sweep(w, base, points)
                elapsed = time.perf_counter() - start
            finally:
                w.close()
        total_points += len(points)
        print("%-8s %d flash operations, %d cut points (%s), all ended on %s; %.0f s, %.2f s per cut point"
              % (variant, ops, len(points), "/".join(CUT_MODES), ", ".join("%s %s x%d" % (s, v, n) for (s, v), n in ends.items()),
                 elapsed, elapsed / len(points)))
    print("total %d cut points, every one passed the invariants of tests/otasweep.py" % total_points)


def main():
    with MicroPython() as mp:
        print("-- time")
        bench_time(mp)
        print("-- memory")
        bench_memory(mp)
        print("-- power cuts (full sweep, on the board's runtime: the unix port where installed)")
        bench_power_cuts(emuboard.board_runtime())


if __name__ == "__main__":
    main()
