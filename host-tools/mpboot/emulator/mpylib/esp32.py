"""`esp32` for the emulated board: Partition and NVS as MicroPython documents them
(ports/esp32/esp32_partition.c, esp32_nvs.c), backed by the host's flash model.

Every flash access is one host call with the caller's buffer passed by address, but for reads
where the host gave a copy of the flash to read (`_read_from`, on the unix port, whose LittleFS
reads thousands of small pieces a boot): a read inside the partition comes from that copy, which
the host keeps equal to its flash. Errors are the board's: OSError(-esp_err, "ESP_ERR_...") from
check_esp_err, OSError(ENOENT) for a partition that does not exist.
"""

from _emu import call

_BLOCK = 4096
_ENOENT = 2
_table = None
_flash = None  # the host's copy of the flash, when it gave one


def _read_from(path):
    global _flash
    _flash = open(path, "rb")


def _partitions():
    """The partition table the app read at start: ((type, subtype, addr, size, label, enc), ...)."""
    global _table
    if _table is None:
        rows = []
        for line in call("esp32.table").split("\n"):
            t, st, addr, size, label, enc = line.split(" ")
            rows.append((int(t), int(st), int(addr), int(size), label, enc == "1"))
        _table = tuple(rows)
    return _table


class Partition:
    BOOT = 0
    RUNNING = 1
    TYPE_APP = 0
    TYPE_DATA = 1

    def __init__(self, id, block_size=_BLOCK):
        if isinstance(id, _Index):
            index = id.index
        elif isinstance(id, int):
            if id == Partition.BOOT:
                index = call("esp32.boot")
            elif id == Partition.RUNNING:
                index = call("esp32.running")
            else:
                raise ValueError
        else:
            index = _find_label(id)
        if index is None or index < 0:
            raise OSError(_ENOENT)
        self._i = index
        self._bs = block_size

    @staticmethod
    def find(type=TYPE_APP, subtype=0xFF, label=None, block_size=_BLOCK):
        found = []
        for i, info in enumerate(_partitions()):
            if type != 0xFF and info[0] != type:
                continue
            if subtype != 0xFF and info[1] != subtype:
                continue
            if label is not None and info[4] != label:
                continue
            found.append(_new(i, block_size))
        return found

    @staticmethod
    def mark_app_valid_cancel_rollback():
        call("esp32.valid")

    def info(self):
        return _partitions()[self._i]

    def __repr__(self):
        t, st, addr, size, label, enc = self.info()
        return "<Partition type=%u, subtype=%u, address=%u, size=%u, label=%s, encrypted=%u>" % (
            t, st, addr, size, label, enc)

    def _arg(self, block_num, offset):
        return "%d %d %d %s" % (self._i, self._bs, block_num, "-" if offset is None else offset)

    def readblocks(self, block_num, buf, offset=0):
        start = block_num * self._bs + offset
        info = _partitions()[self._i]
        if _flash is not None and 0 <= start and start + len(buf) <= info[3]:
            _flash.seek(info[2] + start)
            _flash.readinto(buf)
        else:  # the host's flash, also for the errors of a read out of range
            call("esp32.read", self._arg(block_num, offset), buf, 0)

    def writeblocks(self, block_num, buf, offset=None):
        call("esp32.write", self._arg(block_num, offset), buf, 1)

    def ioctl(self, cmd, arg):
        if cmd in (1, 2, 3):
            return 0
        if cmd == 4:
            return self.info()[3] // self._bs
        if cmd == 5:
            return self._bs
        if cmd == 6:
            return call("esp32.erase", self._arg(arg, None))
        return None

    def set_boot(self):
        call("esp32.set_boot", str(self._i))

    def get_next_update(self):
        return _new(call("esp32.next", str(self._i)), _BLOCK)


class _Index:
    """A table index, for building Partition objects from find() and get_next_update()."""

    def __init__(self, index):
        self.index = index


def _new(index, block_size):
    return Partition(_Index(index), block_size)


def _find_label(label):
    # esp_partition_find_first(APP, ANY, label), then (DATA, ANY, label)
    for kind in (Partition.TYPE_APP, Partition.TYPE_DATA):
        for i, info in enumerate(_partitions()):
            if info[0] == kind and info[4] == label:
                return i
    return None


class NVS:
    def __init__(self, namespace):
        call("nvs.open", namespace)
        self._ns = namespace

    def _key(self, key):
        return self._ns + "\n" + key

    def set_i32(self, key, value):
        if not -0x80000000 <= value <= 0x7FFFFFFF:
            raise OverflowError("overflow converting long int to machine word")
        call("nvs.set_i32", self._key(key) + "\n" + str(value))

    def get_i32(self, key):
        return call("nvs.get_i32", self._key(key))

    def set_blob(self, key, value):
        call("nvs.set_blob", self._key(key), value, 1)

    def get_blob(self, key, buf):
        return call("nvs.get_blob", self._key(key), buf, 0)

    def erase_key(self, key):
        call("nvs.erase_key", self._key(key))

    def commit(self):
        call("nvs.commit", self._ns)
