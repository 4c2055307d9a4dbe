"""Heap the boot stage and the installer need on the device: measured on MicroPython.

The WebAssembly port collects garbage only between top-level runs (tests/tufmem.py explains),
so the work is driven a step per run, with the device's own functions, and the live heap is read
after the collection between runs, above `idle`: the interpreter with the modules imported and
the flash doubles (RAM partitions, and the image bytes the stream serves) allocated. Inside the
4 KiB block loops (the install's stream copy, the payload hash) a probe samples gc.mem_alloc()
at every block: there it counts garbage too, so its growth over the loop is what each block
allocates; it must be zero, or the loop would need collections as it runs. Inside a step nothing
is collected, so what a step allocates (garbage included) on top of the live heap before it
bounds its peak. The verify steps are the exception: Ed25519's garbage is large but short-lived,
so for them the bound is the live heap after the step plus Ed25519 verify's peak, measured
exactly with tracemalloc on CPython (whose objects are larger: it errs high):

    estimate = max over steps of (live before + allocated), or (live after + Ed25519 peak)

The steps are those of a manual install (stream, verify in flash, pending record, log) and of a
boot of the trial image (verify, floor, log, clear pending) as install.py and stage.py run them.
"""

from pathlib import Path

import fixedheap
from bootstage import ROOT, TRUSTED, signed
from mpboot_fw import ed25519, image
from mpboot_fw.blockdev import BytesDevice
from tracepeak import traced

DEVICE_DIR = Path(__file__).resolve().parent / "device"

SETUP = """
import gc, io
from micropython import const
from mpboot_fw import config, context, image, install, stage, statelog
from nor_ram import NorRam


ERASED = bytes([255]) * 4096


class Slot(NorRam):
    # Like esp32.Partition's C methods, its block I/O allocates nothing, so that the probes
    # below see only what the code under test allocates.
    def info(self):
        return (0, 0x11, 0, self.blocks * 4096, 'ota_1', False)

    def set_boot(self):
        pass

    def readblocks(self, n, buf, off=0):
        start = n * 4096 + off
        mem = self.mem
        for i in range(len(buf)):
            buf[i] = mem[start + i]

    def ioctl(self, op, arg):
        if op == 6:
            self.mem[arg * 4096:arg * 4096 + 4096] = ERASED
            return 0
        return NorRam.ioctl(self, op, arg)


class Probe:
    # Samples the heap at each block: readinto for a stream, readblocks for a partition.
    def __init__(self, inner):
        self.inner = inner
        self.low = self.high = -1

    def _sample(self):
        n = gc.mem_alloc()
        if self.low < 0:
            self.low = n
        if n > self.high:
            self.high = n

    def readinto(self, buf):
        self._sample()
        return self.inner.readinto(buf)

    def readblocks(self, n, buf, off=0):
        if n and len(buf) == 4096:  # the payload loop (headers and manifest come in small reads)
            self._sample()
        self.inner.readblocks(n, buf, off)

    def info(self):
        return self.inner.info()


with open('/data/image.mpb', 'rb') as f:
    data = f.read(%(size)d)  # its size: read() without one grows a buffer as it goes
with open('/data/root.json', 'rb') as f:
    root_bytes = f.read()
state_dev = NorRam(16)
statelog.format_partition(state_dev, root_bytes, floor=1)
slot = Slot(%(blocks)d)
src = io.BytesIO(data)
if %(installed)s:  # what the installer left: the image in the slot, the pending record
    slot.mem[:len(data)] = data
    m = image.read_manifest(slot)
    statelog.load(state_dev).set_pending('ota_1', m.version, m.security_version, m.payload_sha256)
    del m
del f
"""

INSTALL_STEPS = [
    ("context loaded", "ctx = context.Context()\nctx.cfg = config.Config()\nctx.cfg.board = 'esp32-4mb'\n"
                       "ctx.cfg.chip_id = 0\nctx.state = statelog.load(state_dev)\nctx.root = context.anchor(ctx.state)"),
    ("block buffer", "w = install.SlotWriter(slot)"),
    ("streamed into the slot", "p = Probe(src)\ninstall.receive(p, w, len(data))\nloop = ('stream', p.low, p.high)"),
    ("verified in flash", "p = Probe(slot)\nm = image.verify_slot(p, ctx.root, 0, 'esp32-4mb', ctx.state.floor, "
                          "limit=w.written, buf=w.buf)\nloop = ('hash', p.low, p.high)\ndel p"),
    ("pending recorded", "ctx.state.set_pending('ota_1', m.version, m.security_version, m.payload_sha256)"),
    ("installed logged", "ctx.state.log_event('installed', '', image.describe('ota_1', m))"),
]
BOOT_STEPS = [
    ("context loaded", INSTALL_STEPS[0][1]),
    ("stage buffer", "b = stage._Boot()\nb.ctx = ctx\nb.running = slot\nb.label = 'ota_1'"),
    ("boot counted", "b.boot = ctx.state.next_boot()\npending = ctx.state.pending"),
    ("verified", "p = Probe(slot)\nm = b.verify(p)\nloop = ('hash', p.low, p.high)\ndel p"),
    ("floor raised", "ctx.state.raise_floor(m.security_version)"),
    ("confirmed logged", "ctx.state.log_event('confirmed', '', image.describe('ota_1', m))"),
    ("pending cleared", "ctx.state.clear_pending()"),
]
LOOP = "print(loop[0], loop[1], loop[2])"


def image_under_test(size=24000):
    return signed("2.0.0", 2, size=size)


def measure_micropython(mp, data, ed25519_bytes):
    """{"install": {step: live above idle}, "install_peak_bound": {step: bytes}, "boot"...,
    "loops": {name: growth over the block loop}}."""
    blocks = len(data) // 4096 + 2
    result = {"loops": {}}
    for name, steps in (("install", INSTALL_STEPS), ("boot", BOOT_STEPS)):
        mp.boot()
        _files(mp, data)
        mp.run(SETUP % {"blocks": blocks, "installed": name == "boot", "size": len(data)}).check()
        idle = mp.live_heap()
        live, bound, before = {}, {}, 0
        for step, code in steps:
            # Everything the step allocates, garbage included (nothing is collected in a run).
            allocated = int(mp.run("_a = gc.mem_alloc()\n%s\nprint(gc.mem_alloc() - _a)" % code).check().split()[-1])
            live[step] = mp.live_heap() - idle
            if "verify" in code:
                # Ed25519's garbage dominates the allocation here; its live peak comes from CPython.
                bound[step] = live[step] + ed25519_bytes
            else:
                bound[step] = max(before + allocated, live[step])
            before = live[step]
            if "loop = " in code:
                kind, low, high = mp.run(LOOP).check().split()
                result["loops"]["%s %s" % (name, kind)] = int(high) - int(low)
        result[name] = live
        result[name + "_peak_bound"] = bound
        result[name + "_idle"] = idle
    return result


def fixed_heap_run(mp, data, free):
    """The install's steps, then a boot's, on the unix port with only `free` bytes of heap
    free after the setup (tests/fixedheap.py). {name: {"free", "failed"}}."""
    blocks = len(data) // 4096 + 2
    return {name: fixedheap.run_with_free(mp, lambda mp: _files(mp, data),
                                          SETUP % {"blocks": blocks, "installed": name == "boot", "size": len(data)},
                                          steps, free)
            for name, steps in (("install", INSTALL_STEPS), ("boot", BOOT_STEPS))}


def _files(mp, data):
    mp.put_firmware()
    mp.put_file("/lib/nor_ram.py", (DEVICE_DIR / "nor_ram.py").read_bytes())
    mp.put_file("/data/image.mpb", data)
    mp.put_file("/data/root.json", ROOT)


def ed25519_peak(data):
    """tracemalloc peak (bytes) of verifying the image's manifest signature, on CPython."""
    m = image.read_manifest(BytesDevice(data))
    keyid, sig = m.signatures[0]
    public = TRUSTED.keys[keyid]
    ok, peak = traced(ed25519.verify, public, m.signed, sig)
    assert ok
    return peak


def estimate(mp, data):
    """The measurement with, per operation, the bound held against the target: the largest of
    (live before a step + all it allocates) and, for a verify step, (live after it + the
    Ed25519 peak)."""
    peak = ed25519_peak(data)
    measured = measure_micropython(mp, data, peak)
    measured["ed25519_peak"] = peak
    for name in ("install", "boot"):
        measured[name + "_estimate"] = max(measured[name + "_peak_bound"].values())
    return measured
