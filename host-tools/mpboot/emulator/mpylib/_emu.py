"""Inside the emulated board's MicroPython: host calls, the filesystem at `/` (ports/esp32's
_boot.py and inisetup.py), and the boot sequence of ports/esp32/main.c (boot.py, then main.py
unless boot.py failed).

Not a module of the real firmware: the emulator imports it before the app starts, with esp32
and machine, which are built in on a board.
"""

import sys

import _host
import uctypes

FORCED_EXIT = 2
# What inisetup.py writes into a freshly formatted filesystem (emulator/vfs.py has the same).
_DEFAULT_BOOT_PY = """\
# This file is executed on every boot (including wake-boot from deepsleep)
#import esp
#esp.osdebug(None)
#import webrepl
#webrepl.start()
"""


def call(op, arg=None, buf=None, send=0):
    """A host call; `buf` crosses by address (no copy through the JS proxy).

    The host answers an error as "OSError <code> <message>" (raised as OSError(code, message),
    the way the board's check_esp_err raises it) or "ValueError 0 <message>".
    """
    if buf is None:
        v = _host.call(op, arg, 0, 0, 0)
    else:
        v = _host.call(op, arg, uctypes.addressof(buf), len(buf), send)
    if type(v) is str and v[:8] in ("OSError ", "ValueErr"):
        kind, code, msg = v.split(" ", 2)
        if kind == "ValueError":
            raise ValueError(msg)
        raise OSError(int(code), msg)
    return v


def mount_flash():
    """_boot.py: mount the `vfs` partition at `/` (flashbdev.py finds it; vfs.mount detects
    LittleFS v2 and opens it with VfsLfs2's defaults, the ESP32's parameters), else
    inisetup.setup(). Every block read, program and erase is a call to the host's flash."""
    import esp32
    import os
    import vfs

    found = esp32.Partition.find(esp32.Partition.TYPE_DATA, label="vfs")
    vfs.umount("/")  # the runtime's own root (the unix port mounts the host's directory there)
    if not found:
        return
    bdev = found[0]
    try:
        vfs.mount(bdev, "/")
    except OSError:
        _initial_setup(vfs, bdev)
    os.chdir("/")


_mapped = None  # the romfs partition's bytes (mount_romfs)


def mount_romfs():
    """The `romfs` partition at /rom, first on sys.path, as the _boot.py of a firmware built with
    MICROPY_VFS_ROM does (`vfs.VfsRom(vfs.rom_ioctl(2, 0))`: the partition memory-mapped, its
    .mpy code run in place). This port has no rom_ioctl and no mapped flash, so the partition is
    read into a bytearray made first, in heap the host added for it (Board.heap plus its size):
    the Python heap the code sees is the board's. Not a ROMFS (erased, torn): not mounted."""
    import esp32
    import vfs

    found = esp32.Partition.find(esp32.Partition.TYPE_DATA, label="romfs")
    if not found:
        return
    global _mapped
    part = found[0]
    # Kept even when it does not mount: the heap the code sees stays the board's either way.
    _mapped = rom = bytearray(part.ioctl(4, 0) * part.ioctl(5, 0))
    part.readblocks(0, rom)
    try:
        vfs.mount(vfs.VfsRom(rom), "/rom")
    except OSError:
        return
    sys.path.insert(0, "/rom")


def _initial_setup(vfs, bdev):
    """inisetup.setup: format an erased partition; one that is not erased is left alone. An
    OSError here ends _boot.py, and the board has no filesystem (the host stops the boot)."""
    try:
        buf = bytearray(bdev.ioctl(5, 0))
        bdev.readblocks(0, buf)
        for b in buf:
            if b != 0xFF:
                # fs_corrupted() prints its warning every 3 seconds, for ever: the host stops here.
                call("vfs.corrupt")
        print("Performing initial setup")
        vfs.VfsLfs2.mkfs(bdev)
        fs = vfs.VfsLfs2(bdev)
    except OSError as e:
        call("vfs.unusable", "%d blocks: OSError %s" % (bdev.ioctl(4, 0), e.args))
    vfs.mount(fs, "/")
    with open("/boot.py", "w") as f:
        f.write(_DEFAULT_BOOT_PY)


def run_file(name, g):
    """pyexec_file_if_exists: 1 when the file ran (or is absent), 0 on an exception, 2 on exit."""
    try:
        f = open(name)
    except OSError:
        return 1
    src = f.read()
    f.close()
    try:
        exec(compile(src, name, "exec"), g)
    except SystemExit:
        return FORCED_EXIT
    except BaseException as e:
        sys.print_exception(e)
        return 0
    return 1


def main(g, main_py=True):
    """boot.py, then main.py unless boot.py failed or the REPL is in raw mode (main_py False)."""
    status = run_file("boot.py", g)
    if status == 1 and main_py:
        status = run_file("main.py", g)
    call("exit", ("exception", "ok", "soft_reboot")[status])
