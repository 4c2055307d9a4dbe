"""The board's `vfs` partition as MicroPython formats it: LittleFS v2 (os.VfsLfs2 defaults).

MicroPython mounts it with block size 4096 (the partition's native block), read and prog size
32, lookahead 32, cache min(4096, 4 * 32) = 128, block_cycles 100 and littlefs' default name,
file and attribute limits (extmod/vfs_lfs.c, vfs_lfsx.c); littlefs-python formats and mounts it
with the same parameters, so the image in flash is one a board would mount.

On the unix port the board mounts the partition with MicroPython's own VfsLfs2 on
esp32.Partition (mpylib/_emu.mount_flash): this module then only builds and reads images. The
WebAssembly MicroPython has no VfsLfs2, so there `Volume` serves the boot: the files are copied
into the interpreter's filesystem, and every file the app closes after writing, removes, renames
or creates is applied here, to a mounted copy, as it happens (so a full filesystem fails as it
would). After the boot the copy goes back into flash in one step, outside the power-cut model.
"""

from littlefs import LittleFS, LittleFSError, UserContext

from mpboot.emulator.flash import SECTOR_SIZE

LFS_CONFIG = dict(block_size=SECTOR_SIZE, read_size=32, prog_size=32, lookahead_size=32, cache_size=128,
                  block_cycles=100, name_max=255)
# What inisetup.py writes into a freshly formatted filesystem.
DEFAULT_BOOT_PY = """\
# This file is executed on every boot (including wake-boot from deepsleep)
#import esp
#esp.osdebug(None)
#import webrepl
#webrepl.start()
"""
ENOENT = 2
# Why a boot stops at the filesystem (ports/esp32 inisetup.py): a partition it cannot mount and
# will not format (fs_corrupted() loops for ever), and one too small to format.
CORRUPT = "vfs partition is not a LittleFS filesystem and not erased: fs_corrupted() loops"


def unusable(partition, why):
    return "vfs partition (0x%x bytes) cannot hold a LittleFS filesystem: %s" % (partition.size, why)


def mount(data):
    """A LittleFS mounted on `data` (a bytearray the size of the partition)."""
    fs = LittleFS(context=UserContext(buffer=data), mount=False, block_count=len(data) // SECTOR_SIZE, **LFS_CONFIG)
    fs.mount()
    return fs


def build_image(size, files):
    """A formatted image of `size` bytes holding `files` ({"/path": bytes}); dirs are created."""
    data = bytearray(b"\xff" * size)
    fs = LittleFS(context=UserContext(buffer=data), mount=False, block_count=size // SECTOR_SIZE, **LFS_CONFIG)
    fs.format()
    fs.mount()
    for path in sorted(files):
        _makedirs(fs, path.rsplit("/", 1)[0])
        with fs.open(path, "wb") as f:
            f.write(files[path])
    fs.unmount()
    return bytes(data)


def read_files(fs):
    """(dirs, {path: bytes}) of everything in a mounted filesystem."""
    dirs, files = [], {}
    for root, subdirs, names in fs.walk("/"):
        base = root.rstrip("/")
        dirs += [base + "/" + d for d in subdirs]
        for name in names:
            with fs.open(base + "/" + name, "rb") as f:
                files[base + "/" + name] = f.read()
    return dirs, files


def _makedirs(fs, path):
    parts = [p for p in path.split("/") if p]
    for i in range(1, len(parts) + 1):
        try:
            fs.mkdir("/" + "/".join(parts[:i]))
        except FileExistsError:
            pass


class Volume:
    """The vfs partition for one boot: its files, and the app's changes applied as they happen."""

    def __init__(self, flash, partition, cache=None):
        self.flash = flash
        self.partition = partition
        self.cache = cache if cache is not None else {}
        self.data = bytearray(flash.read(partition.offset, partition.size))
        self.fs = None
        self.changed = False

    def open(self):
        """'mounted', 'formatted' (it was erased: inisetup formats it) or 'corrupt'."""
        try:
            self.fs = mount(self.data)
            return "mounted"
        except LittleFSError:
            if any(b != 0xFF for b in self.data[:SECTOR_SIZE]):
                return "corrupt"
        self.data[:] = build_image(len(self.data), {"/boot.py": DEFAULT_BOOT_PY.encode()})
        self.fs = mount(self.data)
        self.changed = True
        return "formatted"

    def contents(self):
        """(dirs, files) as in read_files; cached on the image bytes (boots rarely change them)."""
        key = bytes(self.data)
        if self.cache.get("key") != key:
            self.cache.clear()
            self.cache.update(key=key, contents=read_files(self.fs))
        return self.cache["contents"]

    def apply(self, op, path, data=None):
        """Apply one change; returns None or littlefs' errno (28, ENOSPC, when it is full)."""
        fs = self.fs
        try:
            if op == "write":
                with fs.open(path, "wb") as f:
                    f.write(data)
            elif op == "remove":
                fs.remove(path)
            elif op == "rename":
                fs.rename(path, data)
            elif op == "mkdir":
                fs.mkdir(path)
            elif op == "rmdir":
                fs.rmdir(path)
            else:
                raise ValueError(op)
        except LittleFSError as e:
            return -e.code
        except OSError as e:  # littlefs-python's FileNotFoundError, FileExistsError, ...
            return abs(e.errno or ENOENT)
        self.changed = True
        return None

    def statvfs(self):
        """os.statvfs as VfsLfs2 reports it: (bsize, frsize, blocks, bfree, bavail, 0, 0, 0, 0, namemax)."""
        total = len(self.data) // SECTOR_SIZE
        free = total - self.fs.used_block_count
        return (SECTOR_SIZE, SECTOR_SIZE, total, free, free, 0, 0, 0, 0, LFS_CONFIG["name_max"])

    def persist(self):
        """Write the changed image back into flash (whole sectors, outside the power-cut model)."""
        if not self.changed:
            return
        base = self.partition.offset
        for off in range(0, len(self.data), SECTOR_SIZE):
            sector = self.data[off:off + SECTOR_SIZE]
            if self.flash.mem[base + off:base + off + SECTOR_SIZE] != sector:
                self.flash.load(base + off, sector)
        self.changed = False
