"""Bytes behind the block-device read API of esp32.Partition, so host code and tests can hand a
file's contents to code written for a partition.

`readblocks(block_num, buf, offset=0)` fills `buf` from byte `block_num * 4096 + offset`; a
read past the end raises OSError as esp_partition_read does (ESP_ERR_INVALID_ARG when the start
is past the end, ESP_ERR_INVALID_SIZE when the end is). `info()[3]` is the size in bytes.
"""

BLOCK_SIZE = 4096
_ESP_ERR_INVALID_ARG = -258
_ESP_ERR_INVALID_SIZE = -260


class BytesDevice:
    def __init__(self, data):
        self._data = memoryview(data)
        self.size = len(data)

    def readblocks(self, block_num, buf, offset=0):
        start = block_num * BLOCK_SIZE + offset
        if start < 0 or start > self.size:
            raise OSError(_ESP_ERR_INVALID_ARG, "ESP_ERR_INVALID_ARG")
        end = start + len(buf)
        if end > self.size:
            raise OSError(_ESP_ERR_INVALID_SIZE, "ESP_ERR_INVALID_SIZE")
        buf[:] = self._data[start:end]

    def ioctl(self, op, arg):
        if op == 4:
            return self.size // BLOCK_SIZE
        if op == 5:
            return BLOCK_SIZE
        return 0 if op in (1, 2, 3) else None

    def info(self):
        return (0, 0, 0, self.size, "", False)
