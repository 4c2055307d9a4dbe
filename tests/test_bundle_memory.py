"""Heap a bundle's verification needs on MicroPython. The manifest is the one thing parsed whole,
so it is measured at its cap (8 KiB, with as many 30-character paths as fit); the files stream
through one 4 KiB buffer, so a large file's blocks must allocate nothing.

- The peak: on the unix port, whose heap is fixed (a real MemoryError when it runs out), the
  smallest heap in which the device package (.mpy, as on a board) imports and the root parses is
  searched first; verify_stream at the cap must then run in that heap plus the budget: 32 KiB
  scaled by the 64-bit factor the port measured (mpboot.mpy.unixport.HEAP_FACTOR_64). What it
  needs exactly is searched too, for the report. (Idle's live heap is no baseline here: importing
  the modules peaks far above it.)
- What stays alive after each step, on the 32-bit WebAssembly port (live heap after the
  collection between runs, as tests/stagemem.py reads it).
- The block loop, on the WebAssembly port, which collects nothing inside a run: the heap sampled
  at every full block read must not grow.
"""

import io
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import heapfactor  # noqa: E402
import make_bundle_data as mbd  # noqa: E402
from mpboot import bundle as host_bundle  # noqa: E402
from mpboot.mpy import unixport  # noqa: E402
from mpboot_fw import bundle, trust  # noqa: E402

TARGET = 32 * 1024
ROOT = (mbd.mdd.DATA_DIR / "root.json").read_bytes()


def packed(files):
    signed = host_bundle.manifest(files=files, name="big", version="1.0.0", security_version=1)
    return host_bundle.pack(signed, [mbd.mdd.fixed_key("T1"), mbd.mdd.fixed_key("T2")], files)


def at_the_cap():
    """A bundle whose manifest is as large as the cap allows, 30-character paths."""
    n = 1
    while True:
        files = {"lib/pkg%02d/module_name_%03d.py" % (i % 10, i): b"x = %d\n" % i for i in range(n + 1)}
        data = packed(files)
        if int.from_bytes(data[8:12], "little") > bundle.MAX_MANIFEST or n + 1 > bundle.MAX_FILES:
            return packed({p: d for p, d in list(files.items())[:n]})
        n += 1


# The root as the device holds it: parsed from the state log, verified when it was stored
# (context.anchor), not verified again at every boot.
SETUP = """
import gc, json
from mpboot_fw import bundle, trust
with open('/root.json', 'rb') as f:
    R = trust.parse_root(json.loads(f.read())['signed'])
buf = bytearray(4096)
f = open('/b.mpbundle', 'rb')
"""
STEPS = [
    ("manifest read", "n = bundle.read_header(f)\ndata = bytearray(n)\nf.readinto(data)"),
    ("envelope parsed", "bundle.cjson.check_syntax(data, bundle.MAX_DEPTH)\n"
                        "signed, message, sigs = trust.load_envelope(data, bundle.TYPE)"),
    ("signatures verified", "R.verify('targets', message, sigs)"),
    ("manifest checked", "b = bundle.check_manifest(signed)\nb.manifest = data"),
    ("parse dropped", "del signed, message, sigs, data"),
]


def test_what_a_verify_keeps_alive_at_the_cap(micropython):
    data = at_the_cap()
    manifest_len = int.from_bytes(data[8:12], "little")
    assert bundle.MAX_MANIFEST - 200 < manifest_len <= bundle.MAX_MANIFEST
    # The steps are verify_stream's: they must accept what it accepts.
    b = bundle.verify_stream(io.BytesIO(data), trust.load_root(ROOT))
    micropython.boot()
    micropython.put_firmware()
    micropython.put_file("/root.json", ROOT)
    micropython.put_file("/b.mpbundle", data)
    micropython.run(SETUP).check()
    # A pointer left on the stack can keep one run's garbage through one collection.
    idle = min(micropython.live_heap(), micropython.live_heap())
    live = {}
    for step, code in STEPS:
        micropython.run(code).check()
        live[step] = min(micropython.live_heap(), micropython.live_heap()) - idle
    report = "%d files, manifest %d bytes: live above idle %s" % (len(b.files), manifest_len, live)
    print(report)
    # The parsed manifest beside its bytes, then the file list: what the peak is made of; once
    # the parse is dropped, the manifest's bytes and the file list stay while the files stream.
    assert max(live.values()) < 28 * 1024, report
    assert live["parse dropped"] < live["manifest checked"] - 4096, report


VERIFY = "b = bundle.verify_stream(f, R, buf=buf)\nprint(len(b.files))"


def _boot_compiled(mp, data, heap=None):
    """A fresh interpreter with the device package as .mpy, as on a board (compiling the source
    would need more heap than anything measured here)."""
    mp.boot(heap=heap)
    for path, blob in heapfactor.compiled_package().items():
        mp.put_file(path, blob)
    mp.put_file("/root.json", ROOT)
    mp.put_file("/b.mpbundle", data)


def _fits(mp, data, heap, codes=(SETUP, VERIFY)):
    _boot_compiled(mp, data, heap)
    for code in codes:
        run = mp.run(code)
        if not run.ok:
            assert "MemoryError" in (run.exc or ""), run.exc
            return False
    return True


def _smallest(fits, low, high, step=1024):
    """The smallest heap in [low, high] (to `step`) for which fits(heap) holds."""
    assert fits(high), "does not run in %d bytes of heap" % high
    while high - low > step:
        mid = (low + high) // 2
        if fits(mid):
            high = mid
        else:
            low = mid
    return high


def test_verify_at_the_cap_needs_less_than_32k_more_heap_than_the_modules(micropython_unix):
    mp = micropython_unix
    data = at_the_cap()
    # The interpreter with the package imported and the root parsed: its own peak (importing
    # the modules) is well above its live heap, so the baseline is the smallest heap it runs in.
    base = _smallest(lambda h: _fits(mp, data, h, (SETUP,)), 32 * 1024, 512 * 1024)
    budget = int(TARGET * unixport.HEAP_FACTOR_64)
    assert _fits(mp, data, base + budget), "verify_stream at the cap ran out of heap at %d + %d" % (base, budget)
    need = _smallest(lambda h: _fits(mp, data, h), base, base + budget) - base
    print("unix port: the modules need a %d-byte heap; verify at the cap %d more (%.1f KiB on a 32-bit port)"
          % (base, need, need / unixport.HEAP_FACTOR_64 / 1024))


PROBE = """
import gc, io
from mpboot_fw import bundle, trust
with open('/root.json', 'rb') as f:
    R = trust.load_root(f.read())


class Probe:
    # Samples the heap at every full block read: the growth between the first and the last is
    # what the block loop allocates (the port collects nothing inside a run).
    def __init__(self, inner):
        self.inner = inner
        self.low = self.high = -1

    def readinto(self, buf):
        if len(buf) == 4096:
            n = gc.mem_alloc()
            if self.low < 0:
                self.low = n
            self.high = max(self.high, n)
        return self.inner.readinto(buf)


with open('/b.mpbundle', 'rb') as f:
    p = Probe(f)
    bundle.verify_stream(p, R, buf=bytearray(4096))
print(p.high - p.low)
"""


def test_the_block_loop_allocates_nothing(micropython):
    data = packed({"big.bin": bytes(range(256)) * 160})  # 40 KiB: ten full blocks
    result = micropython.run_fresh(PROBE, files={"/root.json": ROOT, "/b.mpbundle": data})
    assert int(result.check().split()[-1]) <= 64  # max() of two ints may box one
