"""A test double of an ESP32 flash partition, in RAM, for device tests on both runtimes.

It has esp32.Partition's block interface (readblocks, writeblocks with and without offset,
ioctl 4/5/6) and NOR semantics: erase sets a 4 KiB block to 0xFF, programming ANDs the new bytes
into the old ones. A write that would need a 0 -> 1 bit change is a bug in the writer: it is
counted in `faults` (and programmed as the chip would), and so is a write whose offset or
length is not a multiple of 16 (`misaligned`: ESP-IDF's unit for an encrypted partition).
`ops` counts erases and writes; `erases` counts erases per block.

`cut(index, mode)` makes operation number `index` (counting from the call) raise PowerCut:
"before" it does anything, "torn" after half of it (a prefix of a write; for an erase, a prefix
of the block), "after" it completed. This is the on-device twin of the host-side model with
power cuts, mpboot.emulator.flash (NorFlash + FlashPartition), used for the full sweeps.
"""

BLOCK = 4096
# One erased block, made once: an erase copies from it instead of making 4 KiB of garbage each
# time, which a fixed heap would charge the code under test for (a board erases in C).
_ERASED = b"\xff" * BLOCK


class PowerCut(Exception):
    pass


def _erased(n):
    """n bytes of 0xFF, made in place: no second n-byte copy, which a fixed heap would have to
    hold besides (the unix port's memory tests)."""
    mem = bytearray(n)
    view = memoryview(mem)
    if n:
        view[0] = 0xFF
    done = 1
    while done < n:
        step = min(done, n - done)
        view[done:done + step] = view[:step]
        done += step
    return mem


class NorRam:
    def __init__(self, blocks=16):
        self.blocks = blocks
        self.mem = _erased(blocks * BLOCK)
        self.faults = 0
        self.misaligned = 0
        self.erases = [0] * blocks
        self.ops = 0
        self._cut = None

    def cut(self, index, mode):
        self._cut = (self.ops + index, mode)

    def _begin(self, n):
        """How many of an operation's n bytes happen before the power goes."""
        index = self.ops
        self.ops += 1
        if self._cut is None or self._cut[0] != index:
            return n
        if self._cut[1] == "before":
            self._cut = None
            raise PowerCut()
        return n // 2 if self._cut[1] == "torn" else n

    def _end(self):
        if self._cut is not None and self._cut[0] == self.ops - 1:
            self._cut = None
            raise PowerCut()

    def readblocks(self, n, buf, off=0):
        start = n * BLOCK + off
        if start < 0 or start + len(buf) > len(self.mem):
            raise OSError(22)
        buf[:] = memoryview(self.mem)[start:start + len(buf)]

    def writeblocks(self, n, buf, off=None):
        if off is None:
            for i in range(len(buf) // BLOCK):
                self.ioctl(6, n + i)
            off = 0
        start = n * BLOCK + off
        if start < 0 or start + len(buf) > len(self.mem):
            raise OSError(22)
        if start % 16 or len(buf) % 16:
            self.misaligned += 1
        mem = self.mem
        for i in range(self._begin(len(buf))):
            old = mem[start + i]
            new = old & buf[i]
            if new != buf[i]:
                self.faults += 1
            mem[start + i] = new
        self._end()

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return BLOCK
        if op == 6:
            if not 0 <= arg < self.blocks:
                raise OSError(22)
            start = arg * BLOCK
            done = self._begin(BLOCK)
            self.mem[start:start + done] = _ERASED if done == BLOCK else memoryview(_ERASED)[:done]
            self.erases[arg] += 1
            self._end()
            return 0
        return 0 if op in (1, 2, 3) else None
