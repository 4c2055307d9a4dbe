"""Emulated board throughput: boots per second, a 100-operation power-cut sweep, and what a sweep
over a whole install (an app image streamed into the inactive slot) costs.

Reference in the same process: a bare fresh interpreter running `pass` (MicroPython.boot + run),
so the emulator's own overhead per boot shows as a ratio.
"""

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "device"))

from emuboard import app, new_flash  # noqa: E402
from mpboot.emulator.board import Board  # noqa: E402
from mpboot.emulator.flash import CUT_MODES, CutPlan, NorFlash  # noqa: E402
from mpboot.mpy.runtime import MicroPython  # noqa: E402

TRIVIAL = {"/boot.py": "print('up')\n"}
# 100 flash operations: 20 x (erase a block, then 4 programming writes into it)
SWEEP = {"/main.py": """
import esp32
p = esp32.Partition('mpboot')
for i in range(20):
    p.ioctl(6, i % 16)
    for j in range(4):
        p.writeblocks(i % 16, b'%03d' % i + b'.' * 13, j * 16)
"""}
# An install: the 1.5 MiB slot image streamed into ota_1 block by block (erase + write each),
# then set_boot: what an updater does, minus the network and the signature check.
INSTALL = {"/main.py": """
import esp32
P = esp32.Partition
dst = P('ota_1')
buf = bytearray(4096)
for i in range(%d):
    buf[0] = i & 255
    dst.writeblocks(i, buf)
print('blocks', %d)
"""}
INSTALL_BLOCKS = 384  # 1.5 MiB


def timed(fn, repeat):
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main():
    mp = MicroPython()
    try:
        mp.boot()
        mp.run("pass")  # warm up the Node process and the WebAssembly module
        bare = timed(lambda: (mp.boot(), mp.run("pass")), 30)

        board = Board(new_flash(TRIVIAL), "esp32-4mb", runtime=mp)
        board.boot()
        per_boot = timed(board.boot, 50)
        print("boot, trivial boot.py:      %6.1f ms  (%5.1f boots/s; bare fresh interpreter %.1f ms, x%.1f)"
              % (per_boot * 1e3, 1 / per_boot, bare * 1e3, per_boot / bare))

        base = new_flash(SWEEP)
        probe = Board(NorFlash(data=base.mem), "esp32-4mb", runtime=mp)
        ops = probe.boot().flash["operations"]
        start = time.perf_counter()
        cuts = 0
        for mode in ("torn",):
            for k in range(ops):
                flash = NorFlash(data=base.mem)
                flash.cut = CutPlan(k, mode)
                board = Board(flash, "esp32-4mb", runtime=mp)
                cut, after = board.run(2)
                assert cut.outcome == "power_cut" and after.outcome == "ok"
                cuts += 1
        sweep = time.perf_counter() - start
        print("power-cut sweep, %d ops:    %6.2f s   (%d cut points x 2 boots, %.1f ms per cut point)"
              % (ops, sweep, cuts, sweep / cuts * 1e3))

        install_files = {"/main.py": INSTALL["/main.py"] % (INSTALL_BLOCKS, INSTALL_BLOCKS)}
        base = new_flash(install_files, slots={0: app("1.0.0")})
        board = Board(NorFlash(data=base.mem), "esp32-4mb", runtime=mp)
        record = board.boot()
        install_ops, install_s = record.flash["operations"], record.seconds
        recovery = per_boot
        # Cutting at op k runs the install up to k (k/N of it on average half) then one more boot.
        per_mode = install_ops * (install_s / 2 + recovery)
        print("install run, %d ops:        %6.2f s   (%d x 4 KiB blocks, %.2f ms per operation)"
              % (install_ops, install_s, INSTALL_BLOCKS, install_s / install_ops * 1e3))
        print("projected full-install sweep: %.0f s per cut mode, %.0f s for all %d modes (%d cut points)"
              % (per_mode, per_mode * len(CUT_MODES), len(CUT_MODES), install_ops * len(CUT_MODES)))
        print("  (every operation of a real updater run; an install of a smaller test image or cutting"
              " every 8th block write scales it down linearly)")
    finally:
        mp.close()


if __name__ == "__main__":
    main()
