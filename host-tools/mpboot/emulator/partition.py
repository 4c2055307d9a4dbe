"""A partition of the emulated flash with the block semantics of MicroPython's esp32.Partition.

This is the host side of `esp32.Partition` on the emulated board (the MicroPython module
forwards its calls here), and it serves CPython tests of device code directly. Semantics follow
ports/esp32/esp32_partition.c: `writeblocks(n, buf)` erases the blocks it covers first,
`writeblocks(n, buf, off)` only programs, `ioctl(6, n)` erases one 4 KiB block.
"""

from mpboot.emulator.flash import SECTOR_SIZE

IOCTL_INIT = 1
IOCTL_DEINIT = 2
IOCTL_SYNC = 3
IOCTL_BLOCK_COUNT = 4
IOCTL_BLOCK_SIZE = 5
IOCTL_BLOCK_ERASE = 6

EINVAL = 22


class FlashPartition:
    def __init__(self, flash, offset, size, block_size=SECTOR_SIZE, label="", type_=1, subtype=0):
        self.flash = flash
        self.offset = offset
        self.size = size
        self.block_size = block_size
        self.label = label
        self.type = type_
        self.subtype = subtype

    def info(self):
        return (self.type, self.subtype, self.offset, self.size, self.label, False)

    def _range(self, start, length):
        # esp_partition_read/write/erase_range refuse anything that does not fit the partition.
        if start < 0 or length < 0 or start + length > self.size:
            raise OSError(EINVAL, "ESP_ERR_INVALID_SIZE")
        return self.offset + start

    def readblocks(self, block_num, buf, offset=0):
        start = self._range(block_num * self.block_size + offset, len(buf))
        self.flash.readinto(start, memoryview(buf))

    def writeblocks(self, block_num, buf, offset=None):
        start = block_num * self.block_size
        if offset is None:
            if len(buf) % SECTOR_SIZE or start % SECTOR_SIZE:
                raise OSError(EINVAL, "ESP_ERR_INVALID_SIZE")
            self.flash.erase(self._range(start, len(buf)), len(buf))
        else:
            start += offset
        self.flash.write(self._range(start, len(buf)), bytes(buf))

    def ioctl(self, op, arg):
        if op in (IOCTL_INIT, IOCTL_DEINIT, IOCTL_SYNC):
            return 0
        if op == IOCTL_BLOCK_COUNT:
            return self.size // self.block_size
        if op == IOCTL_BLOCK_SIZE:
            return self.block_size
        if op == IOCTL_BLOCK_ERASE:
            if self.block_size != SECTOR_SIZE:
                return -EINVAL
            self.flash.erase(self._range(arg * SECTOR_SIZE, SECTOR_SIZE), SECTOR_SIZE)
            return 0
        return None
