"""State log: flash cost of each mutation, compaction, wear, and load time and heap on MicroPython.

On CPython over the NorFlash model (64 KiB partition = the boards' `mpboot` partition, with a
realistic state: root 2.2 KB, timestamp 0.6 KB, snapshot 0.9 KB, targets 3 KB), it prints:
  per mutation    flash operations and bytes programmed (no compaction in the sample)
  records/sector  how many typical events fit a 4 KiB sector
  compaction      operations, erases and bytes of the mutation that compacts
  wear            erases per sector per 1000 events (10 000 events logged)
On MicroPython (the real WebAssembly port, RAM test double of the flash, so flash time is ~0):
  load time       statelog.load of a full 16-sector log, against a reference in the same
                  process: reading the same 64 KiB and CRC-32 over it
  heap            bytes the State holds after load and after an append, and the bytes allocated
                  in all (garbage included) by load, by load + the append that compacts, and by
                  load + a plain append
"""

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "device"))

from mpboot.emulator.flash import NorFlash, SECTOR_SIZE  # noqa: E402
from mpboot.emulator.partition import FlashPartition  # noqa: E402
from mpboot_fw import statelog  # noqa: E402

BLOCKS = 16
SHA = bytes(32)
EVENT = ("check", "update check ok", "targets v=42")


def fresh():
    flash = NorFlash(BLOCKS * SECTOR_SIZE)
    dev = FlashPartition(flash, 0, BLOCKS * SECTOR_SIZE)
    st = statelog.format_partition(dev, b"R" * 2200, root_version=1, time_floor=1700000000)
    st.set_blob("timestamp", b"T" * 600, 1)
    st.set_blob("snapshot", b"S" * 900, 1)
    st.set_blob("targets", b"G" * 3000, 1)
    return flash, dev, st


def cost(flash, fn):
    """(operations, erases, bytes programmed) of one call."""
    flash.reset_log()
    fn()
    ops = flash.ops
    return len(ops), sum(1 for o in ops if o[1] == "erase"), sum(o[3] for o in ops if o[1] == "write")


def per_mutation():
    flash, dev, st = fresh()
    mutations = [
        ("raise_floor", lambda i: st.raise_floor(i + 1)),
        ("raise_time", lambda i: st.raise_time(1700000000 + i + 1)),
        ("next_boot", lambda i: st.next_boot()),
        ("log_event (%d B text)" % sum(len(x) for x in EVENT), lambda i: st.log_event(*EVENT)),
        ("set_pending", lambda i: st.set_pending("ota_1", "1.2.%d" % i, 3, SHA)),
        ("clear_pending", lambda i: st.clear_pending() if st.pending else None),
        ("set_blob timestamp 600 B", lambda i: st.set_blob("timestamp", b"t" * 600, i + 2)),
        ("set_blob targets 3000 B", lambda i: st.set_blob("targets", b"g" * 3000, i + 2)),
        ("set_root 2200 B", lambda i: st.set_root(b"r" * 2200, i + 2)),
    ]
    print("%-28s %6s %6s %8s" % ("mutation (no compaction)", "ops", "erases", "bytes"))
    for name, fn in mutations:
        samples = []
        for i in range(9):
            if name == "clear_pending":
                st.set_pending("ota_0", "1.0.%d" % i, 3, SHA)
            gen = st.generation
            c = cost(flash, lambda: fn(i))
            if st.generation == gen:
                samples.append(c)
        ops, erases, written = (statistics.median(s[k] for s in samples) for k in range(3))
        print("%-28s %6g %6g %8g" % (name, ops, erases, written))
    return st


def records_per_sector():
    """Typical events that fill one sector, counted from the start of a fresh sector."""
    flash, dev, st = fresh()
    changes = []
    while len(changes) < 3:
        sector = st.wear()["sequence"], st._sec
        st.log_event(*EVENT)
        if st._sec != sector[1]:
            changes.append(st.wear()["sequence"])
    n = changes[2] - changes[1]
    print("records/sector  %d typical events (%d bytes each on flash) per 4 KiB sector"
          % (n, SECTOR_SIZE // n // 16 * 16))


def compaction_and_wear():
    flash, dev, st = fresh()
    compactions = []
    flash.reset_log()
    erases_before = list(flash.erase_counts)
    events = 10000
    for i in range(events):
        gen = st.generation
        c = cost(flash, lambda: st.log_event(*EVENT))
        if st.generation != gen:
            compactions.append(c)
    ops, erases, written = (statistics.median(c[k] for c in compactions) for k in range(3))
    w = st.wear()
    print("compaction      every %.0f events; the compacting mutation: %g ops, %g erases, %g bytes "
          "(snapshot of %d sectors)" % (events / len(compactions), ops, erases, written, w["snapshot_sectors"]))
    per_sector = [(a - b) * 1000.0 / events for a, b in zip(flash.erase_counts, erases_before)]
    print("wear            %.2f erases per sector per 1000 events (min %.2f, max %.2f over %d sectors); "
          "at 100 000 erase cycles that is %.0f million events"
          % (statistics.mean(per_sector), min(per_sector), max(per_sector), BLOCKS,
             100000 / max(per_sector) * 1000 / 1e6))


MPY_SETUP = """
import gc, json, time
from binascii import crc32
from nor_ram import NorRam
from mpboot_fw import statelog

def median_us(fn, n):
    runs = []
    for _ in range(n):
        t = time.ticks_us()
        fn()
        runs.append(time.ticks_diff(time.ticks_us(), t))
    runs.sort()
    return runs[len(runs) // 2]

def allocated(fn):
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    fn()
    used = gc.mem_alloc() - before
    gc.enable()
    return used

def reference():
    c = 0
    for s in range(dev.blocks):
        dev.readblocks(s, buf)
        c = crc32(buf, c)
    return c

def append():
    statelog.load(dev).log_event('check', 'update check ok', 'targets v=42')

def compact_once():
    append()
    dev.mem[:] = full

dev = NorRam(%(blocks)d)
with open('/img.bin', 'rb') as f:
    f.readinto(dev.mem)
buf = bytearray(4096)
full = bytes(dev.mem)
st = statelog.load(dev)
out = {'live': st.wear()['live_sectors'], 'records': st.wear()['sequence']}
st = None
out['ref_us'] = median_us(lambda: [reference() for _ in range(20)], 5) / 20
out['load_us'] = median_us(lambda: statelog.load(dev), 5)
out['load_alloc'] = allocated(lambda: statelog.load(dev))
out['compact_us'] = median_us(compact_once, 3)
out['compact_alloc'] = allocated(append)
out['append_alloc'] = allocated(append)
print(json.dumps(out))
"""

# This runtime reclaims garbage only between runs (it cannot scan WebAssembly locals while
# Python code runs), so what a State keeps is measured across runs (MicroPython.live_heap).
MPY_HELD = ["st = statelog.load(dev)", "st.log_event('check', 'update check ok', 'targets v=42')"]


def micropython_load():
    from mpboot.mpy.runtime import MicroPython, RuntimeMissing

    flash, dev, st = fresh()
    # Fill the log up to just before its next compaction: the longest log a boot can meet.
    while True:
        gen = st.generation
        image = bytes(flash.mem)
        st.log_event(*EVENT)
        if st.generation != gen:
            break
    try:
        with MicroPython() as mp:
            mp.boot()
            mp.put_firmware()
            mp.put_file("/img.bin", image)
            mp.put_file("/lib/nor_ram.py", (ROOT / "tests" / "device" / "nor_ram.py").read_bytes())
            data = json.loads(mp.run(MPY_SETUP % {"blocks": BLOCKS}).check().splitlines()[-1])
            idle = mp.live_heap()
            held = []
            for code in MPY_HELD:
                mp.run(code).check()
                held.append(mp.live_heap() - idle)
    except RuntimeMissing as e:
        print("MicroPython     skipped: %s" % e)
        return
    print("MicroPython     load of a full log (%d records, %d live sectors): %.1f ms; reference (read "
          "64 KiB + CRC-32): %.2f ms; ratio %.1f" % (data["records"], data["live"], data["load_us"] / 1000,
                                                    data["ref_us"] / 1000, data["load_us"] / data["ref_us"]))
    print("MicroPython     load then the append that compacts: %.1f ms (RAM flash double: flash time ~0)"
          % (data["compact_us"] / 1000))
    print("MicroPython     heap held by the State: %d B after load, %d B after an append" % tuple(held))
    print("MicroPython     garbage made (gc off): load %d B, load + compacting append %d B, load + plain "
          "append %d B" % (data["load_alloc"], data["compact_alloc"], data["append_alloc"]))


def main():
    per_mutation()
    records_per_sector()
    compaction_and_wear()
    micropython_load()


if __name__ == "__main__":
    main()
