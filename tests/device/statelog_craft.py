"""Hand-made state log sectors for the device tests: what a replayed old sector, a bug or an
attacker with access to the flash could leave in the state partition. Runs on both runtimes."""

import struct

from mpboot_fw import staterec as R

SECTOR = 4096
U32 = 0xFFFFFFFF


class Rng:
    """xorshift32: the same numbers on CPython and MicroPython, for a seed."""

    def __init__(self, seed):
        self.x = (seed * 2654435761 + 1) & U32 or 1

    def u32(self):
        x = self.x
        x ^= (x << 13) & U32
        x ^= x >> 17
        x ^= (x << 5) & U32
        self.x = x
        return x

    def below(self, n):
        return self.u32() % n

    def choice(self, items):
        return items[self.below(len(items))]

    def bytes(self, n):
        return bytes(self.u32() & 0xFF for _ in range(n))


def record(typ, flags, seq, payload):
    """One record as it lies on flash: head (valid CRC) and padded payload."""
    n = len(payload)
    buf = bytearray(b"\xff" * R.size(n))
    buf[R.HEAD:R.HEAD + n] = payload
    R.seal(buf, typ, flags, n, seq, memoryview(buf)[R.HEAD:])
    return bytes(buf)


def craft_sector(dev, sector, records, off=0):
    """Program records (type, flags, sequence number, payload) into `sector` of a NorRam from
    offset `off`, with valid CRCs, directly in its memory (the writer's fault counters stay
    untouched). Records that would cross the sector's end are left out. Returns the end offset."""
    for typ, flags, seq, payload in records:
        raw = record(typ, flags, seq, payload)
        if off + len(raw) > SECTOR:
            break
        base = sector * SECTOR + off
        dev.mem[base:base + len(raw)] = raw
        off += len(raw)
    return off


def blob_records(flags, seq, name, version, data):
    """A blob as the writer lays it out in one sector: one chunk, then its commit."""
    head = bytearray(64)
    n = R.put_blob(head, name, version, len(data), 1, 1)
    return [(R.T_CHUNK, flags, seq, data), (R.T_BLOB, flags, seq + 1, bytes(head[:n]))]


def crafted_snapshot(seq, gen, floor, root=None, root_version=1, flags=R.F_SNAP):
    """A whole snapshot from sequence number `seq`: floor, time 0, boot 0, and a root if given."""
    recs = [(R.T_BEGIN, flags, seq, struct.pack("<BI", R.FORMAT, gen)),
            (R.T_FLOOR, flags, seq + 1, struct.pack("<I", floor)),
            (R.T_TIME, flags, seq + 2, struct.pack("<Q", 0)),
            (R.T_BOOT, flags, seq + 3, struct.pack("<I", 0))]
    if root is not None:
        recs += blob_records(flags, seq + 4, "root", root_version, root)
    return recs + [(R.T_END, flags, seq + len(recs), struct.pack("<I", seq))]


def free_sectors(st):
    """The sectors that hold nothing live, in the order the writer takes them."""
    free = [s for s in range(st._n) if not st._used[s]]
    return sorted(free, key=lambda s: (s - st._sec) % st._n)


def erase(dev, sector):
    dev.mem[sector * SECTOR:(sector + 1) * SECTOR] = b"\xff" * SECTOR
