"""Heap a bundle install needs on MicroPython (the issue's target: installing and verifying a
bundle within 32 KiB above idle), measured as tests/test_bundle_memory.py measures a verify: on
the unix port, whose heap is fixed (a real MemoryError when it runs out), the smallest heap in
which the device package (.mpy, as on a board) imports, the root parses and the filesystem is
mounted is searched first; bundlestore.install of the bundle at the manifest cap (60 files) then
must run in that heap plus 32 KiB scaled by the port's 64-bit factor
(mpboot.mpy.unixport.HEAP_FACTOR_64). The filesystem is a real LittleFS (VfsLfs2) on a RAM
partition allocated in the baseline, so LittleFS's per-file caches count against the install,
as on a board. What the install needs exactly is searched with MPBOOT_FULL_SWEEP=1 (printed).
"""

import os
from pathlib import Path

import heapfactor
from test_bundle_memory import ROOT, _smallest, at_the_cap
from mpboot.mpy import unixport

FULL = os.environ.get("MPBOOT_FULL_SWEEP") == "1"
NOR_RAM = (Path(__file__).resolve().parent / "device" / "nor_ram.py").read_bytes()
TARGET = 32 * 1024
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
del root
buf = bytearray(4096)
f = open('/b.mpbundle', 'rb')
"""
INSTALL = "b = bundlestore.install(f, ctx, buf=buf)\nprint(bundlestore.read_pointer(b.name).text(), len(b.files))"


def _fits(mp, data, heap, codes=(SETUP, INSTALL)):
    mp.boot(heap=heap)
    for path, blob in heapfactor.compiled_package().items():
        mp.put_file(path, blob)
    mp.put_file("/t/nor_ram.py", NOR_RAM)
    mp.put_file("/root.json", ROOT)
    mp.put_file("/b.mpbundle", data)
    for code in codes:
        run = mp.run(code)
        if not run.ok:
            assert "MemoryError" in (run.exc or ""), run.exc
            return False
        if code is INSTALL:
            assert run.output[-1].startswith("- a "), run.output  # installed into copy a
    return True


def test_an_install_at_the_cap_needs_less_than_32k_more_heap_than_the_modules(micropython_unix):
    mp = micropython_unix
    data = at_the_cap()
    base = _smallest(lambda h: _fits(mp, data, h, (SETUP,)), 256 * 1024, 1024 * 1024, step=4096)
    budget = int(TARGET * unixport.HEAP_FACTOR_64)
    assert _fits(mp, data, base + budget), "bundlestore.install at the cap ran out of heap at %d + %d" % (base, budget)
    if FULL:
        need = _smallest(lambda h: _fits(mp, data, h), base, base + budget) - base
        print("unix port: the modules and filesystem need a %d-byte heap; an install at the cap %d more "
              "(%.1f KiB on a 32-bit port)" % (base, need, need / unixport.HEAP_FACTOR_64 / 1024))
