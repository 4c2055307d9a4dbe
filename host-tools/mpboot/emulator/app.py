"""The host side of one app run on the emulated board: what `_host.call` reaches from the
MicroPython modules in mpylib/ (esp32, machine, the filesystem, and extra services such as the
network), with ESP-IDF's behaviour behind each call.

A call answers a value (an int or a string), bytes for the caller's buffer, an error string
"OSError <code> <message>" or "ValueError 0 <message>" that the MicroPython side raises, or HALT: the interpreter stops at once, as the chip does on a
reset, a panic or a power cut. `halt` records why.
"""

import time

from mpboot import boards
from mpboot.emulator import vfs
from mpboot.emulator.flash import PowerCut
from mpboot.emulator.nvs import Nvs
from mpboot.emulator.ota import OtaOps
from mpboot.emulator.partition import ESP_ERR_NVS_NOT_INITIALIZED, FlashPartition, esp_error
from mpboot.espidf import otadata as od, partition_table as pt
from mpboot.mpy.runtime import HALT


class Panic(Exception):
    """The app did something that aborts ESP-IDF (a reset with ESP_RST_PANIC follows)."""


class AppSession:
    def __init__(self, flash, chip_id, partitions, running, volume=None, services=None):
        """`volume`: the vfs.Volume the app's file changes go to, where the runtime has no
        VfsLfs2 (None: the app mounts the partition itself, through esp32.Partition)."""
        self.flash = flash
        self.partitions = list(partitions)
        self.running = running
        self.running_index = self.partitions.index(running)
        self.ota = OtaOps(flash, self.partitions, chip_id, running)
        self.volume = volume
        nvs = [p for p in self.partitions if p.type == pt.TYPE_DATA and p.subtype == pt.SUBTYPES[pt.TYPE_DATA]["nvs"]]
        self.nvs = Nvs(flash, nvs[0]) if nvs else None
        self.services = services or {}
        self.status = None  # "ok", "exception" or "soft_reboot" when boot.py/main.py end
        self.halt = None  # why the interpreter was stopped
        self.power_cut = None  # the PowerCut, when that was why
        self.panic = None  # what ESP-IDF would have aborted on
        self.error = None  # why the boot stopped otherwise (the filesystem could not be mounted)
        self.wdt_timeout = None  # ms, once machine.WDT was created
        self.wdt_fed = None
        self._parts = {}
        self._ops = {
            "exit": self._exit,
            "esp32.table": self._table, "esp32.boot": self._boot, "esp32.running": self._running,
            "esp32.read": self._read, "esp32.write": self._write, "esp32.erase": self._erase,
            "esp32.set_boot": self._set_boot, "esp32.next": self._next, "esp32.valid": self._valid,
            "nvs.open": self._nvs_open, "nvs.set_i32": self._nvs_set_i32, "nvs.get_i32": self._nvs_get_i32,
            "nvs.set_blob": self._nvs_set_blob, "nvs.get_blob": self._nvs_get_blob,
            "nvs.erase_key": self._nvs_erase_key, "nvs.commit": self._nvs_commit,
            "machine.reset": lambda arg, body, n: self._stop("reset"),
            "machine.deepsleep": lambda arg, body, n: self._stop("deepsleep"),
            "machine.wdt": self._wdt, "machine.feed": self._feed,
            "vfs.write": self._vfs_write, "vfs.remove": self._vfs_change("remove"),
            "vfs.rename": self._vfs_rename, "vfs.mkdir": self._vfs_change("mkdir"),
            "vfs.rmdir": self._vfs_change("rmdir"), "vfs.statvfs": self._vfs_statvfs,
            "vfs.corrupt": self._vfs_corrupt, "vfs.unusable": self._vfs_unusable,
        }

    # -- dispatch ---------------------------------------------------------------------------
    def handle(self, op, arg, body, n):
        if self.wdt_timeout is not None and (time.monotonic() - self.wdt_fed) * 1000 > self.wdt_timeout:
            return self._stop("wdt")
        fn = self._ops.get(op)
        if fn is None:
            service = self.services.get(op.split(".", 1)[0])
            if service is None:
                if op.startswith("net."):
                    return "OSError 113 no network: run mpboot emulate with --net (EHOSTUNREACH)"
                return "ValueError 0 the emulated board has no host call %s" % op
            fn = lambda arg, body, n: service(op, arg, body, n)  # noqa: E731
        try:
            return fn(arg, body, n)
        except PowerCut as e:
            self.power_cut = e
            return self._stop("power_cut")
        except Panic as e:
            self.panic = str(e)
            return self._stop("panic")
        except od.RewriteNeverReturns:
            return self._stop("hang")  # ESP-IDF's esp_rewrite_ota_data loops for ever: so does the board
        except OSError as e:
            return "OSError %d %s" % (e.args[0], e.args[1] if len(e.args) > 1 else "")

    def _stop(self, why):
        self.halt = why
        return HALT, why

    def _exit(self, arg, body, n):
        self.status = arg
        return 0

    # -- esp32.Partition ----------------------------------------------------------------------
    def guard(self, addr, length):
        """esp_partition_main_flash_region_safe: bootloader, partition table, the running app."""
        run = self.running
        if addr <= pt.TABLE_OFFSET + pt.TABLE_MAX_LEN or run.offset <= addr < run.end or (
                addr < run.offset < addr + length):
            raise Panic("flash write to 0x%x (the running app, bootloader or partition table)" % addr)

    def _partition(self, index, block_size=4096):
        key = (index, block_size)
        if key not in self._parts:
            p = self.partitions[index]
            self._parts[key] = FlashPartition(self.flash, p.offset, p.size, block_size, p.name, p.type, p.subtype,
                                              p.encrypted, guard=self.guard)
        return self._parts[key]

    def _index(self, partition):
        return -1 if partition is None else self.partitions.index(partition)

    def _table(self, arg, body, n):
        return "\n".join("%d %d %d %d %s %d" % (p.type, p.subtype, p.offset, p.size, p.name, p.encrypted)
                         for p in self.partitions)

    def _boot(self, arg, body, n):
        return self._index(self.ota.boot_partition())

    def _running(self, arg, body, n):
        return self.running_index

    def _blocks(self, arg):
        index, block_size, block, offset = arg.split(" ")
        return self._partition(int(index), int(block_size)), int(block), None if offset == "-" else int(offset)

    def _read(self, arg, body, n):
        part, block, offset = self._blocks(arg)
        buf = bytearray(n)
        part.readblocks(block, buf, offset or 0)
        return 0, buf

    def _write(self, arg, body, n):
        part, block, offset = self._blocks(arg)
        part.writeblocks(block, body, offset)
        return 0

    def _erase(self, arg, body, n):
        part, block, _ = self._blocks(arg)
        return part.ioctl(6, block)

    def _set_boot(self, arg, body, n):
        self.ota.set_boot_partition(self.partitions[int(arg)])
        return 0

    def _next(self, arg, body, n):
        return self._index(self.ota.next_update_partition(self.partitions[int(arg)]))

    def _valid(self, arg, body, n):
        self.ota.mark_app_valid_cancel_rollback()
        return 0

    # -- esp32.NVS ----------------------------------------------------------------------------
    def _nvs(self):
        if self.nvs is None:
            raise esp_error(ESP_ERR_NVS_NOT_INITIALIZED)
        return self.nvs

    def _nvs_open(self, arg, body, n):
        self._nvs().open(arg)
        return 0

    def _nvs_set_i32(self, arg, body, n):
        ns, key, value = arg.split("\n")
        self._nvs().set(ns, key, "i32", int(value))
        return 0

    def _nvs_get_i32(self, arg, body, n):
        return self._nvs().get(*arg.split("\n"), "i32")

    def _nvs_set_blob(self, arg, body, n):
        self._nvs().set(*arg.split("\n"), "blob", bytes(body).hex())
        return 0

    def _nvs_get_blob(self, arg, body, n):
        value = self._nvs().get_blob(*arg.split("\n"), n)
        return len(value), value

    def _nvs_erase_key(self, arg, body, n):
        self._nvs().erase(*arg.split("\n"))
        return 0

    def _nvs_commit(self, arg, body, n):
        self._nvs().commit()
        return 0

    # -- machine ------------------------------------------------------------------------------
    def _wdt(self, arg, body, n):
        self.wdt_timeout = int(arg)
        self.wdt_fed = time.monotonic()
        return 0

    def _feed(self, arg, body, n):
        self.wdt_fed = time.monotonic()
        return 0

    # -- the filesystem -----------------------------------------------------------------------
    def _apply(self, op, path, data=None):
        errno = self.volume.apply(op, path, data)
        if errno:
            return "OSError %d littlefs refused %s %s" % (errno, op, path)
        return 0

    def _vfs_write(self, arg, body, n):
        return self._apply("write", arg, bytes(body))

    def _vfs_change(self, op):
        return lambda arg, body, n: self._apply(op, arg)

    def _vfs_rename(self, arg, body, n):
        old, new = arg.split("\n")
        return self._apply("rename", old, new)

    def _vfs_statvfs(self, arg, body, n):
        return " ".join(str(x) for x in self.volume.statvfs())

    def _vfs_corrupt(self, arg, body, n):
        self.error = vfs.CORRUPT
        return self._stop("hang")

    def _vfs_unusable(self, arg, body, n):
        part = [p for p in self.partitions if p.name == boards.VFS_PARTITION][0]
        self.error = vfs.unusable(part, arg)
        return self._stop("exception")
