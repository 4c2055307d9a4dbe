"""Heap: what the device's main operations need on MicroPython's unix port (64-bit), measured as
the smallest fixed heap they complete in, next to what `micropython.mem_peak()` reports.

`micropython.mem_peak()` is no peak of the live heap on this port. MicroPython's py/malloc.c
(MICROPY_MEM_STATS) adds every m_malloc to `current_bytes_allocated` and raises
`peak_bytes_allocated` to it (UPDATE_PEAK), and subtracts only in m_free and a shrinking
m_realloc, the explicit frees; py/gc.c's gc_sweep, which reclaims the garbage, never touches
either counter. So mem_peak() grows with every byte of garbage ever made (and equals
mem_current() after most work), whether or not a collection ran; it can exceed the heap itself.
What an operation needs shows instead by running it in a fixed heap (`-X heapsize=`), where the
collector runs when the heap is full and a MemoryError says it did not fit.

Per operation, one fresh `micropython` process per probe (UnixMicroPython(heap=...)):
- smallest heap: bisection to 1 KiB between a heap it fails in and one it completes in. The
  whole process counts: the port's `_host` driver, the setup (imports; for the install and the
  refresh the tests' doubles: the image in RAM, a RAM slot, the metadata files), the operation.
  The collector never moves objects, so the threshold is not sharp: a heap below it can pass
  where a larger one failed (tests/test_tuf_memory.py sweeps for that reason);
- mem_peak(): read at the end of the operation, in an ample heap and in the smallest one;
- live heap after the setup and after the operation (gc.collect(), gc.mem_alloc());
- smallest free heap above the setup (tests/fixedheap.py: the setup in an ample heap, then all
  but `free` bytes taken by ballast), bisected to 1 KiB too: the tests' own measure.

The operations and their fixtures are the tests': the boot path imported and the real firmware
image (1.5 MB) verified from a file (tests/heapfactor.py); a manual install and the trial
image's boot (tests/stagemem.py, test_stage_memory.py's 100 KB image); a TUF refresh with
targets metadata at its cap (tests/tufmem.py, test_tuf_memory.py). The device package is the
.mpy one, as `mpboot provision` writes it to a board (heapfactor.compiled_package()).
The reference for the ratios is each operation's smallest heap.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "device"))

import fixedheap  # noqa: E402
import heapfactor  # noqa: E402
import stagemem  # noqa: E402
import tufmem  # noqa: E402
from mpboot.mpy.unixport import UnixMicroPython  # noqa: E402
from mpboot_fw import tuf  # noqa: E402

KIB = 1024
AMPLE = 4 * 1024 * KIB  # every operation completes here (checked)
LOW = 16 * KIB  # and none here (checked)
SWEEP = 48 * KIB  # above the bisected floor, every 1 KiB: which heaps fail all the same
STAGE_IMAGE = 100000  # bytes of the install's image, as tests/test_stage_memory.py
READ = "import gc, micropython\ngc.collect()\ngc.collect()\nprint(micropython.mem_peak(), gc.mem_alloc())"


class Mpy:
    """A runtime whose put_firmware() writes the device package as .mpy (as a board has it);
    everything else is the runtime's. The tests' helpers put the source."""

    def __init__(self, mp):
        self.mp = mp

    def put_firmware(self):
        for path, data in heapfactor.compiled_package().items():
            self.mp.put_file(path, data)

    def __getattr__(self, name):
        return getattr(self.mp, name)


class Operation:
    def __init__(self, name, put, setup, steps, done=None):
        self.name, self.put, self.setup, self.steps, self.done = name, put, setup, steps, done


def operations():
    data = stagemem.image_under_test(size=STAGE_IMAGE)
    stage = lambda installed: stagemem.SETUP % {  # noqa: E731
        "blocks": len(data) // 4096 + 2, "installed": installed, "size": len(data)}
    put_stage = lambda mp: stagemem._files(Mpy(mp), data)  # noqa: E731
    repo = tufmem.repository(tuf.TARGETS_MAX)
    assert tuf.TARGETS_MAX - 600 < len(repo["targets"]) <= tuf.TARGETS_MAX
    boot_files = heapfactor.files()
    return [
        Operation("boot path imported, real image verified", lambda mp: [mp.put_file(p, d) for p, d in boot_files.items()],
                  "", [(name, heapfactor.step_code(name, code)) for name, code in heapfactor.STEPS],
                  done=lambda out: out.split()[-1] == "2.0.0"),
        Operation("manual install (100 KB image)", put_stage, stage(False), stagemem.INSTALL_STEPS),
        Operation("trial boot of the installed image", put_stage, stage(True), stagemem.BOOT_STEPS),
        Operation("TUF refresh, targets at the %d B cap" % tuf.TARGETS_MAX, lambda mp: tufmem._put(Mpy(mp), repo),
                  tufmem._SETUP, tufmem.refresh_steps()),
    ]


def out_of_memory(text):
    return text.strip().splitlines()[-1].startswith("MemoryError") if text.strip() else False


def probe(mp, op, heap, read_setup=False):
    """One fresh process in `heap`: None if it ran out of memory, else {"peak", "live"}: mem_peak()
    at the end and the live heap after the operation (and with `read_setup`, "setup": the live
    heap after the setup: that read is left out of the bisection's probes, which run nothing but
    the setup, the operation and the final read)."""
    try:
        mp.boot(heap=heap)
    except RuntimeError as e:  # the port's driver itself did not fit
        if "did not boot" in str(e):
            return None
        raise
    op.put(mp)
    result = {}
    reads = [("setup live", READ)] if read_setup else []
    for name, code in [("setup", op.setup)] + reads + op.steps + [("read", READ)]:
        run = mp.run(code)
        if not run.ok:
            if out_of_memory(run.exc):
                return None
            raise AssertionError("%s, %s in %d bytes: %s" % (op.name, name, heap, run.exc))
        if name == "setup live":
            result["setup"] = int(run.check().split()[-1])
        elif op.done is not None and name == op.steps[-1][0]:
            assert op.done(run.check()), (op.name, run.output)
    result["peak"], result["live"] = (int(v) for v in run.check().split()[-2:])
    return result


def bisect(passes):
    """The smallest KiB-aligned heap in [LOW, AMPLE] that `passes(heap)`, by bisection (LOW must
    fail, AMPLE pass): (heap, the result at it)."""
    assert not passes(LOW), "completes in %d bytes" % LOW
    lo, hi = LOW, AMPLE
    best = passes(hi)
    assert best, "does not complete in %d bytes" % AMPLE
    while hi - lo > KIB:
        mid = (lo + hi) // 2 // KIB * KIB
        result = passes(mid)
        if result:
            hi, best = mid, result
        else:
            lo = mid
    return hi, best


def free_needed(mp, op):
    """The smallest free heap above the setup (tests/fixedheap.py), bisected to 1 KiB."""

    def fits(free):
        result = fixedheap.run_with_free(mp, op.put, op.setup, op.steps, free)
        if result["failed"] is None:
            return True
        assert "MemoryError" in result["failed"][1], (op.name, free, result)
        return False

    lo, hi = 0, 256 * KIB
    assert fits(hi), (op.name, hi)
    while hi - lo > KIB:
        mid = (lo + hi) // 2 // KIB * KIB
        if fits(mid):
            hi = mid
        else:
            lo = mid
    return hi


def measure(mp, op):
    ample = probe(mp, op, AMPLE, read_setup=True)
    heap, at_floor = bisect(lambda h: probe(mp, op, h))
    # not sharp: the heaps above the floor that fail all the same
    above = [h for h in range(heap + KIB, heap + SWEEP + 1, KIB) if probe(mp, op, h) is None]
    setup_only = Operation(op.name, op.put, op.setup, [])
    setup_heap = bisect(lambda h: probe(mp, setup_only, h))[0] if op.setup else None
    return {"heap": heap, "above": above, "from": max(above) + KIB if above else heap, "setup_heap": setup_heap,
            "peak": ample["peak"], "peak_at_floor": at_floor["peak"], "setup": ample["setup"], "live": ample["live"],
            "free": free_needed(mp, op)}


def main():
    mp = UnixMicroPython(heap=AMPLE)
    try:
        mp.boot()
        idle = int(mp.run(READ).check().split()[-1])
        rows = [(op, measure(mp, op)) for op in operations()]
    finally:
        mp.close()
    print("MicroPython unix port (64-bit), device package as .mpy; bytes. A fresh interpreter (the _host"
          " driver) holds %d live." % idle)
    print("mem_peak() counts every allocation less explicit frees only (py/malloc.c); what the collector"
          " reclaims is never subtracted: no live peak.")
    print()
    head = "%-40s %9s %9s %9s %11s %7s %11s %9s %9s %9s"
    print(head % ("operation", "smallest", "every", "setup", "mem_peak()", "x heap", "(at the", "live", "live", "free"))
    print(head % ("", "heap", "heap from", "alone", "", "", "floor)", "setup", "after", "above"))
    for op, m in rows:
        print("%-40s %9d %9d %9s %11d %7.1f %11d %9d %9d %9d"
              % (op.name, m["heap"], m["from"], m["setup_heap"] or "-", m["peak"], m["peak"] / m["heap"],
                 m["peak_at_floor"], m["setup"], m["live"], m["free"]))
    print()
    print("smallest heap: bisected to 1 KiB over %d..%d, a fresh process per probe; every heap from: each"
          " 1 KiB step from there to the floor + %d KiB completes; setup alone: the floor of the setup"
          " (imports, the tests' doubles) without the operation; free above: the smallest free heap the"
          " operation needs after the setup (tests/fixedheap.py's ballast), bisected too."
          % (LOW, AMPLE, SWEEP // KIB))
    for op, m in rows:
        print("  %s: heaps up to %d KiB above the floor that fail all the same: %s"
              % (op.name, SWEEP // KIB, ", ".join("%d" % h for h in m["above"]) or "none"))
    print("reference for the ratios: the smallest heap. live after / smallest heap: %s"
          % ", ".join("%.2f" % (m["live"] / m["heap"]) for _, m in rows))

if __name__ == "__main__":
    main()
