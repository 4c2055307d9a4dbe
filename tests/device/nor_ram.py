"""A test double of an ESP32 flash partition, in RAM, for device tests on both runtimes.

It has esp32.Partition's block interface (readblocks, writeblocks with and without offset,
ioctl 4/5/6) and NOR semantics: erase sets a 4 KiB block to 0xFF, programming ANDs the new bytes
into the old ones. A write that would need a 0 -> 1 bit change is a bug in the writer: it is
counted in `faults` (and programmed as the chip would), and so is a write whose offset or
length is not a multiple of 16 (`misaligned`: ESP-IDF's unit for an encrypted partition).
`ops` counts erases and writes; `erases` counts erases per block.
The host-side model with power cuts is mpboot.emulator.flash (NorFlash + FlashPartition).
"""

BLOCK = 4096


class NorRam:
    def __init__(self, blocks=16):
        self.blocks = blocks
        self.mem = bytearray(b"\xff" * (blocks * BLOCK))
        self.faults = 0
        self.misaligned = 0
        self.erases = [0] * blocks
        self.ops = 0

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
        for i in range(len(buf)):
            old = mem[start + i]
            new = old & buf[i]
            if new != buf[i]:
                self.faults += 1
            mem[start + i] = new
        self.ops += 1

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return BLOCK
        if op == 6:
            if not 0 <= arg < self.blocks:
                raise OSError(22)
            start = arg * BLOCK
            self.mem[start:start + BLOCK] = b"\xff" * BLOCK
            self.erases[arg] += 1
            self.ops += 1
            return 0
        return 0 if op in (1, 2, 3) else None
