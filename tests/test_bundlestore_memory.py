"""Heap a bundle install needs on MicroPython (the issue's target: installing and verifying a
bundle within 32 KiB above idle), measured as tests/test_bundle_memory.py measures a verify: on
the unix port, whose heap is fixed (a real MemoryError when it runs out), with the device package
(.mpy, as on a board) imported, the root parsed and a filesystem mounted, exactly `free` bytes
are left free (tests/fixedheap.py: every other hole filled), and in them bundlestore.install of
the bundle at the manifest cap (60 files) runs: its manifest buffer, verify_stream writing the
copy, the manifest read back, verify_files on the copy, the pointer. The filesystem is a real
LittleFS (VfsLfs2) on a RAM partition made in the setup, so LittleFS's per-file caches count
against the install, as on a board.

Swept, not probed once: the collector never moves objects, so whether it fits depends on where
the holes fall. Every size from the budget (32 KiB by the verify's 64-bit factor,
test_bundle_memory.manifest_factor: the install holds what the verify holds) to 8 KiB above it
must pass, and 8 KiB below the documented
need it must fail, cleanly, with a MemoryError. (Before verify_files and the manifest's read-back
stopped allocating per file and per block, every size up to 53 KiB, the sweep's end, failed: a
set of the copy's names grown an entry at a time, and two 4 KiB copies per block compared.)
MPBOOT_FULL_SWEEP=1 sweeps every 256 bytes and on down to the first failure (the need, printed).
"""

import os
from pathlib import Path

import fixedheap
import heapfactor
from test_bundle_memory import ROOT, at_the_cap, manifest_factor

FULL = os.environ.get("MPBOOT_FULL_SWEEP") == "1"
SWEEP = 8 * 1024
STEP = 256 if FULL else 1024
# The least free heap (unix port bytes) from which every size passes, as docs/bundles.md says:
# measured with MPBOOT_FULL_SWEEP=1 (39,930 bytes on 2026-12-03).
NEEDS_UNIX = 40 * 1024
NOR_RAM = (Path(__file__).resolve().parent / "device" / "nor_ram.py").read_bytes()
TARGET = 32 * 1024
HEAP = 640 * 1024
SETUP = """
import sys, vfs
sys.path.append('/t')
from nor_ram import NorRam
from mpboot_fw import bundlestore, config, context, statelog
dev = NorRam(48)
vfs.VfsLfs2.mkfs(dev)
vfs.mount(vfs.VfsLfs2(dev), '/fs')
bundlestore.ROOT = '/fs/bundles'
with open('/root.json', 'rb') as f:
    root = f.read()
ctx = context.Context()
ctx.cfg = config.check({'board': 'esp32-4mb', 'chip_id': 0})
ctx.state = statelog.format_partition(NorRam(4), root)
ctx.root = context.anchor(ctx.state)
ctx.firmware = '1.0.0'
del root, f
f = open('/b.mpbundle', 'rb')
"""
# The block buffer first, as a caller makes it before its work; install makes the manifest
# buffer at its start (documents=None), inside the budget.
STEPS = [
    ("installed", "buf = bytearray(4096)\nb = bundlestore.install(f, ctx, buf=buf)\n"
                  "print('@@', bundlestore.read_pointer(b.name).text(), len(b.files))"),
]


def fixed_heap_run(mp, data, free):
    def put(mp):
        for path, blob in heapfactor.compiled_package().items():
            mp.put_file(path, blob)
        mp.put_file("/t/nor_ram.py", NOR_RAM)
        mp.put_file("/root.json", ROOT)
        mp.put_file("/b.mpbundle", data)

    # The smallest ample heap: every collection inside the budget scans all of it, ballast too.
    return fixedheap.run_with_free(mp, put, SETUP, STEPS, free, heap=HEAP)


def test_an_install_at_the_cap_runs_with_32k_free_on_the_unix_port(micropython, micropython_unix):
    mp = micropython_unix
    data = at_the_cap()
    # What the install holds is the verify's (the manifest parsed, then its file list), so its
    # budget converts by the same factor.
    factor = manifest_factor(micropython, mp, data)
    budget = int(TARGET * factor)
    assert NEEDS_UNIX < budget, (NEEDS_UNIX, budget, factor)
    for free in range(budget, budget + SWEEP + 1, STEP):
        result = fixed_heap_run(mp, data, free)
        assert result["failed"] is None, (budget, result)
    if FULL:
        free = budget
        while fixed_heap_run(mp, data, free - STEP)["failed"] is None:
            free -= STEP
        print("an install at the cap runs with every free size from %d bytes up (budget %d, factor %.2f: "
              "%.1f KiB on a 32-bit port)" % (free, budget, factor, free / factor / 1024))
        assert free <= NEEDS_UNIX, (free, NEEDS_UNIX)
    # and the heap binds: 8 KiB below the documented need it fails cleanly, a MemoryError raised
    # inside the install
    short = fixed_heap_run(mp, data, NEEDS_UNIX - 8192)
    assert short["failed"] and short["failed"][0] == "installed", short
    assert "MemoryError" in short["failed"][1], short
