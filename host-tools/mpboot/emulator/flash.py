"""NOR flash as an ESP32's SPI flash behaves, with power cuts at any operation.

- Erase works on 4 KiB sectors and sets every byte to 0xFF.
- Programming can only clear bits: the result is the AND of old and new bytes. A write that
  needs a 0 -> 1 change is recorded as a fault (a bug in the code that wrote it) and still
  produces what the chip would.
- Every erase (per sector) and every write is one numbered operation. A `CutPlan` stops the
  power before, in the middle of (a torn write programs only a prefix; a torn erase leaves the
  sector partly erased) or after the chosen operation, by raising `PowerCut`.
- The image can live in a file (memory-mapped), so state persists across boots and can be
  inspected afterwards.
- `mirror`, when set, is a file descriptor every change is also written to (at the same
  offsets): a copy of the flash another process reads (the unix port's esp32.Partition reads
  blocks from it instead of asking the host for each one).
"""

import mmap
import os
from pathlib import Path

SECTOR_SIZE = 4096
CUT_MODES = ("before", "torn", "after")


class PowerCut(Exception):
    """Power was cut at flash operation `index` (0-based) in `mode`."""

    def __init__(self, index, mode, op):
        super().__init__("power cut %s flash operation %d (%s)" % (mode, index, op))
        self.index = index
        self.mode = mode
        self.op = op


class FlashError(Exception):
    """Out of range or misaligned access: what the SPI flash driver would refuse."""


class CutPlan:
    """Cut the power at operation `at` (0-based), `mode` before/torn/after.

    A torn operation keeps `torn_fraction` of its bytes (a prefix of a write; for an erase, a
    prefix of the sector becomes 0xFF and the rest keeps its old bytes).
    """

    def __init__(self, at, mode="before", torn_fraction=0.5):
        if mode not in CUT_MODES:
            raise ValueError("cut mode must be one of %s" % (CUT_MODES,))
        self.at = at
        self.mode = mode
        self.torn_fraction = torn_fraction


class NorFlash:
    def __init__(self, size=None, path=None, data=None):
        """A flash of `size` bytes, in memory (from `data` if given) or in the file `path`."""
        self.path = Path(path) if path else None
        if self.path is not None:
            if not self.path.exists():
                if size is None:
                    raise FlashError("flash file %s does not exist and no size was given" % path)
                with open(self.path, "wb") as f:
                    f.truncate(size)
                    f.seek(0)
                    f.write(b"\xff" * size)
            self._file = open(self.path, "r+b")
            self.mem = mmap.mmap(self._file.fileno(), 0)
        else:
            self._file = None
            self.mem = bytearray(data) if data is not None else bytearray(b"\xff" * size)
        self.size = len(self.mem)
        if self.size % SECTOR_SIZE:
            raise FlashError("flash size must be a multiple of %d" % SECTOR_SIZE)
        sectors = self.size // SECTOR_SIZE
        self.erase_counts = [0] * sectors
        self.write_counts = [0] * sectors
        self.faults = []
        self.ops = []  # (index, kind, address, length) of every operation since reset_log()
        self.cut = None
        self.mirror = None

    def close(self):
        if self._file is not None:
            self.mem.flush()
            self.mem.close()
            self._file.close()
            self._file = None

    def reset_log(self):
        self.ops = []

    @property
    def op_count(self):
        return len(self.ops)

    # -- access -----------------------------------------------------------------------------
    def _check(self, addr, length):
        if addr < 0 or length < 0 or addr + length > self.size:
            raise FlashError("flash access 0x%x+0x%x outside 0x%x bytes" % (addr, length, self.size))

    def read(self, addr, length):
        self._check(addr, length)
        return bytes(self.mem[addr:addr + length])

    def readinto(self, addr, buf):
        self._check(addr, len(buf))
        buf[:] = self.mem[addr:addr + len(buf)]

    def load(self, addr, data):
        """Set bytes as a programmer (esptool) would: no operation number, no cut, no wear.

        For contents that are outside the power-cut model (factory images, the emulator's
        write-back of files and NVS); everything the device does goes through erase/write.
        """
        self._check(addr, len(data))
        self.mem[addr:addr + len(data)] = data
        self._mirror(addr, len(data))

    def _mirror(self, addr, length):
        if self.mirror is not None and length:
            os.pwrite(self.mirror, self.mem[addr:addr + length], addr)

    def _begin(self, kind, addr, length):
        """Number the operation; return how many bytes of it happen before a cut (None: all)."""
        index = len(self.ops)
        op = (index, kind, addr, length)
        self.ops.append(op)
        plan = self.cut
        if plan is None or plan.at != index:
            return None, op
        if plan.mode == "before":
            raise PowerCut(index, "before", op)
        if plan.mode == "torn":
            return int(length * plan.torn_fraction), op
        return length, op  # "after": the whole operation, then the cut

    def _end(self, op, partial):
        if partial is not None:
            raise PowerCut(op[0], self.cut.mode, op)

    def erase(self, addr, length):
        """Erase whole sectors; each sector is one operation."""
        if addr % SECTOR_SIZE or length % SECTOR_SIZE:
            raise FlashError("erase 0x%x+0x%x is not sector aligned" % (addr, length))
        self._check(addr, length)
        for sector_addr in range(addr, addr + length, SECTOR_SIZE):
            partial, op = self._begin("erase", sector_addr, SECTOR_SIZE)
            done = SECTOR_SIZE if partial is None else partial
            self.mem[sector_addr:sector_addr + done] = b"\xff" * done
            self._mirror(sector_addr, done)
            if done:
                self.erase_counts[sector_addr // SECTOR_SIZE] += 1
            self._end(op, partial)

    def write(self, addr, data):
        """Program `data` at `addr` (bits can only go from 1 to 0): one operation."""
        data = bytes(data)
        self._check(addr, len(data))
        partial, op = self._begin("write", addr, len(data))
        done = len(data) if partial is None else partial
        old = self.mem[addr:addr + done]
        new = (int.from_bytes(old, "little") & int.from_bytes(data[:done], "little")).to_bytes(done, "little")
        if new != data[:done]:
            self.faults.append((op[0], addr, "write needs 0->1 bit changes"))
        self.mem[addr:addr + done] = new
        self._mirror(addr, done)
        for sector in range(addr // SECTOR_SIZE, (addr + max(done, 1) - 1) // SECTOR_SIZE + 1):
            self.write_counts[sector] += 1
        self._end(op, partial)

    def stats(self):
        """Wear figures: operations, erases and writes per sector that saw any."""
        return {
            "operations": len(self.ops),
            "erases": sum(self.erase_counts),
            "writes": sum(self.write_counts),
            "faults": len(self.faults),
            "max_erases_per_sector": max(self.erase_counts) if self.erase_counts else 0,
        }
