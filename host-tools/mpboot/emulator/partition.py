"""A partition of the emulated flash with the block semantics of MicroPython's esp32.Partition.

This is the host side of `esp32.Partition` on the emulated board (the MicroPython module
forwards its calls here), and it serves CPython tests of device code directly. Semantics follow
ports/esp32/esp32_partition.c over ESP-IDF's esp_partition_* range checks:

- `readblocks(n, buf[, off])` reads `len(buf)` bytes at `n * block_size + off`;
- `writeblocks(n, buf)` erases what it covers first (with a block size below 4096, the rest of
  each touched sector is read, the sector erased and that rest written back), then programs;
  `writeblocks(n, buf, off)` only programs;
- `ioctl(6, n)` erases one 4 KiB block (only when the block size is 4096; else -EINVAL);
- out-of-range access raises OSError as the board does: check_esp_err turns ESP-IDF's
  ESP_ERR_INVALID_ARG (start past the end, unaligned erase start, also when the partition itself
  is not sector aligned) and ESP_ERR_INVALID_SIZE (end past the end, erase length not a
  multiple of 4096) into OSError(-code, name).

`guard(addr, length)`, when set, sees every erase and write first: the emulated board uses it to
abort like ESP-IDF's SPI flash driver on a write to the bootloader, the partition table or the
running app (CONFIG_SPI_FLASH_DANGEROUS_WRITE_ABORTS, the default).
"""

from mpboot.emulator.flash import SECTOR_SIZE

IOCTL_INIT = 1
IOCTL_DEINIT = 2
IOCTL_SYNC = 3
IOCTL_BLOCK_COUNT = 4
IOCTL_BLOCK_SIZE = 5
IOCTL_BLOCK_ERASE = 6

EINVAL = 22
# ESP-IDF error codes the emulated board raises (esp_err.h, esp_ota_ops.h, nvs.h)
ESP_FAIL = -1
ESP_ERR_INVALID_ARG = 0x102
ESP_ERR_INVALID_STATE = 0x103
ESP_ERR_INVALID_SIZE = 0x104
ESP_ERR_NOT_FOUND = 0x105
ESP_ERR_NVS_NOT_INITIALIZED = 0x1101
ESP_ERR_NVS_NOT_FOUND = 0x1102
ESP_ERR_NVS_TYPE_MISMATCH = 0x1103
ESP_ERR_NVS_NOT_ENOUGH_SPACE = 0x1105
ESP_ERR_NVS_KEY_TOO_LONG = 0x1109
ESP_ERR_NVS_INVALID_LENGTH = 0x110C
ESP_ERR_OTA_VALIDATE_FAILED = 0x1503
ESP_ERR_NAMES = {code: name for name, code in list(globals().items()) if name.startswith("ESP_")}


def esp_error(code):
    """The OSError MicroPython's check_esp_err raises for an ESP-IDF error code."""
    return OSError(-code, ESP_ERR_NAMES.get(code, "ESP_ERR_0x%x" % code))


class FlashPartition:
    def __init__(self, flash, offset, size, block_size=SECTOR_SIZE, label="", type_=1, subtype=0,
                 encrypted=False, guard=None):
        self.flash = flash
        self.offset = offset
        self.size = size
        self.block_size = block_size
        self.label = label
        self.type = type_
        self.subtype = subtype
        self.encrypted = encrypted
        self.guard = guard

    def info(self):
        return (self.type, self.subtype, self.offset, self.size, self.label, self.encrypted)

    def _range(self, start, length):
        # esp_partition_read/write/erase_range: start past the end, then end past the end.
        if start < 0 or start > self.size:
            raise esp_error(ESP_ERR_INVALID_ARG)
        if start + length > self.size:
            raise esp_error(ESP_ERR_INVALID_SIZE)
        return self.offset + start

    def _erase(self, start, length):
        addr = self._range(start, length)
        if length % SECTOR_SIZE:
            raise esp_error(ESP_ERR_INVALID_SIZE)
        if start % SECTOR_SIZE:
            raise esp_error(ESP_ERR_INVALID_ARG)
        if self.guard:
            self.guard(addr, length)
        if addr % SECTOR_SIZE:
            # esp_flash_erase_region: a partition that is not sector aligned cannot be erased.
            raise esp_error(ESP_ERR_INVALID_ARG)
        self.flash.erase(addr, length)

    def _write(self, start, data):
        addr = self._range(start, len(data))
        if self.guard:
            self.guard(addr, len(data))
        self.flash.write(addr, data)

    def readblocks(self, block_num, buf, offset=0):
        start = self._range(block_num * self.block_size + offset, len(buf))
        self.flash.readinto(start, memoryview(buf))

    def writeblocks(self, block_num, buf, offset=None):
        start = block_num * self.block_size
        data = bytes(buf)
        if offset is not None:
            start += offset
        elif self.block_size >= SECTOR_SIZE:
            self._erase(start, len(data))
        else:
            self._erase_keeping_rest(start, len(data))
        self._write(start, data)

    def _erase_keeping_rest(self, start, length):
        end = start + length
        self._range(start, length)
        for sector in range(start - start % SECTOR_SIZE, end, SECTOR_SIZE):
            keep = self.flash.read(self.offset + sector, SECTOR_SIZE)
            self._erase(sector, SECTOR_SIZE)
            if sector < start:
                self._write(sector, keep[:start - sector])
            if end < sector + SECTOR_SIZE:
                self._write(end, keep[end - sector:])

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
            self._erase(arg * SECTOR_SIZE, SECTOR_SIZE)
            return 0
        return None
