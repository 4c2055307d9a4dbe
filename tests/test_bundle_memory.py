"""Heap a bundle's verification needs on MicroPython. The manifest is the one thing parsed whole,
so it is measured at its cap (8 KiB, with as many 30-character paths as fit); the files stream
through one 4 KiB buffer, so a large file's blocks must allocate nothing.

- What stays alive after each step, on the 32-bit WebAssembly port (live heap after the
  collection between runs, as tests/stagemem.py reads it), and on the unix port: the ratio of
  their largest is this work's own 64-bit factor (parsed JSON grows more than code does, as for
  the TUF refresh, tests/test_tuf_memory.py).
- The budget, on the unix port, whose heap is fixed (a real MemoryError when it runs out): with
  the device package (.mpy, as on a board) imported and the root parsed, exactly `free` bytes
  are left free (tests/fixedheap.py: every other hole filled), and in them the block buffer and
  the manifest buffer are made (first, as the boot stage makes them before it verifies
  anything), then verify_stream runs at the cap. Swept, not probed once: the collector never
  moves objects, so whether it fits depends on where the holes fall, and a free size can fail
  where a smaller one passes. Every size from the budget (32 KiB by the factor) up must pass,
  and 8 KiB below the documented need it must fail, cleanly, with a MemoryError. (Before the
  presized lists of check_manifest, sizes up to 88,000 bytes failed at random: two dicts of the
  paths, grown an entry at a time, needed their old and new tables at once, each in one piece.)
- The block loop, on the WebAssembly port, which collects nothing inside a run: the heap sampled
  at every full block read must not grow.
"""

import io
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import fixedheap  # noqa: E402
import heapfactor  # noqa: E402
import make_bundle_data as mbd  # noqa: E402
from mpboot import bundle as host_bundle  # noqa: E402
from mpboot.mpy import unixport  # noqa: E402
from mpboot_fw import bundle, trust  # noqa: E402

TARGET = 32 * 1024
# The fixed-heap sweep: from the budget to SWEEP above it, every STEP bytes (MPBOOT_FULL_SWEEP=1:
# every 256, and on down to the first failure, which gives the measured minimum).
FULL = os.environ.get("MPBOOT_FULL_SWEEP") == "1"
SWEEP = 8 * 1024
STEP = 256 if FULL else 1024
# The least free heap (unix port bytes) from which every size passes, as docs/bundles.md says:
# measured with MPBOOT_FULL_SWEEP=1 (39,625 bytes on 2026-12-03).
NEEDS_UNIX = 40 * 1024
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
    ("buffer made", "docs = bundle.manifest_buffer()"),
    ("manifest read", "n = bundle.read_header(f)\ndata = bundle._read_manifest(f, n, docs)"),
    ("envelope parsed", "bundle.cjson.check_syntax(data, bundle.MAX_DEPTH)\n"
                        "signed, message, sigs = trust.load_envelope(data, bundle.TYPE)"),
    ("signatures verified", "R.verify('targets', message, sigs)"),
    ("manifest checked", "b = bundle.check_manifest(signed, True)\nb.manifest = data"),
    ("parse dropped", "del signed, message, sigs, data"),
]


def live_steps(mp, data):
    """{step: live heap above idle after it} for STEPS, in a fresh interpreter of `mp`."""
    mp.boot()
    mp.put_firmware()
    mp.put_file("/root.json", ROOT)
    mp.put_file("/b.mpbundle", data)
    mp.run(SETUP).check()
    # A pointer left on the stack can keep one run's garbage through one collection.
    idle = min(mp.live_heap(), mp.live_heap())
    live = {}
    for step, code in STEPS:
        mp.run(code).check()
        live[step] = min(mp.live_heap(), mp.live_heap()) - idle
    return live


def test_what_a_verify_keeps_alive_at_the_cap(micropython):
    data = at_the_cap()
    manifest_len = int.from_bytes(data[8:12], "little")
    assert bundle.MAX_MANIFEST - 200 < manifest_len <= bundle.MAX_MANIFEST
    # The steps are verify_stream's: they must accept what it accepts.
    b = bundle.verify_stream(io.BytesIO(data), trust.load_root(ROOT))
    live = live_steps(micropython, data)
    report = "%d files, manifest %d bytes: live above idle %s" % (len(b.files), manifest_len, live)
    print(report)
    # The manifest buffer is the one block of its size: the bytes go into it, no second copy.
    assert bundle.MAX_MANIFEST <= live["buffer made"] < bundle.MAX_MANIFEST + 256, report
    assert live["manifest read"] < live["buffer made"] + 256, report
    # The parsed manifest beside its bytes, then the file list: what the peak is made of; once
    # the parse is dropped, the manifest's bytes and the file list stay while the files stream.
    assert max(live.values()) < 24 * 1024, report
    # check_manifest(consume=True) drops each file's parsed entry as it adds the file to the list:
    # the list takes the parse's place, the two are never both whole.
    assert live["manifest checked"] < live["envelope parsed"] - 1024, report
    assert live["parse dropped"] <= live["manifest checked"], report


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


FIXED_SETUP = """
import gc, json
from mpboot_fw import bundle, trust
with open('/root.json', 'rb') as f:
    R = trust.parse_root(json.loads(f.read())['signed'])
del f
f = open('/b.mpbundle', 'rb')
"""
# The buffers first, as the boot stage makes them before it verifies anything (bundleboot.Boot,
# stage._Boot): they count against the budget.
FIXED_STEPS = [
    ("buffers made", "buf = bytearray(4096)\ndocs = bundle.manifest_buffer()"),
    ("verified", "b = bundle.verify_stream(f, R, buf=buf, documents=docs)\nprint(len(b.files))"),
]


def fixed_heap_run(mp, data, free, steps=FIXED_STEPS):
    def put(mp):
        for path, blob in heapfactor.compiled_package().items():
            mp.put_file(path, blob)
        mp.put_file("/root.json", ROOT)
        mp.put_file("/b.mpbundle", data)

    return fixedheap.run_with_free(mp, put, FIXED_SETUP, steps, free)


def manifest_factor(micropython, micropython_unix, data):
    """The 64-bit factor for work on bundle `data`'s manifest: the ratio of both ports' live heap
    at verify's largest step, or the port's (HEAP_FACTOR_64) when that is larger: the smaller
    budget is never taken."""
    wasm = max(live_steps(micropython, data).values())
    unix = max(live_steps(micropython_unix, data).values())
    factor = unix / wasm
    assert 1.2 < factor < 2.2, (wasm, unix)
    return max(factor, unixport.HEAP_FACTOR_64)


def test_verify_at_the_cap_runs_with_32k_free_on_the_unix_port(micropython, micropython_unix):
    data = at_the_cap()
    factor = manifest_factor(micropython, micropython_unix, data)
    budget = int(TARGET * factor)
    assert NEEDS_UNIX < budget, (NEEDS_UNIX, budget, factor)
    for free in range(budget, budget + SWEEP + 1, STEP):
        result = fixed_heap_run(micropython_unix, data, free)
        assert result["failed"] is None, (factor, budget, result)
    if FULL:  # and down from the budget to the first failure: the measured minimum
        free = budget
        while fixed_heap_run(micropython_unix, data, free - STEP)["failed"] is None:
            free -= STEP
        print("verify at the cap runs with every free size from %d bytes up (budget %d, factor %.2f: "
              "%.1f KiB on a 32-bit port)" % (free, budget, factor, free / factor / 1024))
        assert free <= NEEDS_UNIX, (free, NEEDS_UNIX)
    # and the heap binds: 8 KiB below the documented need it fails cleanly, a MemoryError raised
    # inside the verify
    short = fixed_heap_run(micropython_unix, data, NEEDS_UNIX - 8192)
    assert short["failed"] and short["failed"][0] == "verified", short
    assert "MemoryError" in short["failed"][1], short


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
