"""Flash contents for emulator tests, built fast in memory: partition table, otadata, synthetic
apps (tests/device/appbuilder.py) in the OTA slots and a LittleFS vfs with the given files.

The bootloader region stays erased: the emulated bootloader is the host's, not that code.

`board_runtime()` is the MicroPython the emulated boards of the tests run on, one per test
process: the unix port (VfsLfs2 on the flash model), or the WebAssembly port with
MPBOOT_BOARD_RUNTIME=wasm, and where the unix port has no wheel (conftest.UNIX_PORT_PLATFORMS).
"""

import atexit
import os
import platform
import sys

import pytest

from mpboot import boards, flashimage
from mpboot.emulator import runtimes
from mpboot.emulator.flash import NorFlash
from mpboot.emulator.vfs import build_image
from mpboot.espidf import otadata
from mpboot.espidf import partition_table as pt

import appbuilder
from conftest import UNIX_PORT_PLATFORMS

_APPS = {}
_RUNTIMES = {}


def board_runtime_name():
    """$MPBOOT_BOARD_RUNTIME, else "unix" where its wheel exists (missing there: the tests fail,
    naming the fix), else "wasm"."""
    if os.environ.get(runtimes.ENV):
        return runtimes.default_name()
    return "unix" if (sys.platform, platform.machine()) in UNIX_PORT_PLATFORMS else "wasm"


def board_runtime(name=None):
    """The shared runtime `name` (default board_runtime_name()), closed when the process exits."""
    name = name or board_runtime_name()
    if name not in _RUNTIMES:
        _RUNTIMES[name] = runtimes.new_runtime(name)
        atexit.register(_RUNTIMES[name].close)
    return _RUNTIMES[name]


def unix_runtime():
    """The shared unix-port runtime, for tests of what only it models (the filesystem in the
    power-cut model, its mbedTLS, a fixed heap); skipped where the port has no wheel."""
    if (sys.platform, platform.machine()) not in UNIX_PORT_PLATFORMS:
        pytest.skip("no wheel of MicroPython's unix port for %s %s" % (sys.platform, platform.machine()))
    return board_runtime("unix")


def app(version="1.0.0", secure_version=0, chip_id=0):
    key = (version, secure_version, chip_id)
    if key not in _APPS:
        _APPS[key] = appbuilder.build(version=version, secure_version=secure_version, chip_id=chip_id)
    return _APPS[key]


def new_flash(files=None, board="esp32-4mb", slots=None, otadata_image=None, path=None):
    """A NorFlash for `board`. `files`: {"/main.py": text or bytes} (None: vfs left erased);
    `slots`: {0: app bytes, 1: ...} (default: a 1.0.0 app in ota_0); otadata selects ota_0."""
    board = boards.load_board(board)
    flash = NorFlash(size=board.flash_size, path=path)
    flash.load(pt.TABLE_OFFSET, pt.to_binary(board.partitions))
    flash.load(board.otadata.offset, otadata_image or otadata.initial_image(0))
    if slots is None:
        slots = {0: app(chip_id=board.chip_id)}
    for index, data in slots.items():
        flash.load(board.app_slots[index].offset, data)
    if files is not None:
        vfs = board.partition(boards.VFS_PARTITION)
        encoded = {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}
        flash.load(vfs.offset, build_image(vfs.size, encoded))
        rom = flashimage.romfs_image(board, encoded)
        if rom is not None:
            flash.load(board.partition(boards.ROMFS_PARTITION).offset, rom)
    flash.reset_log()
    return flash
