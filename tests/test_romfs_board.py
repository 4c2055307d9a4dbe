"""The device package run from a ROMFS partition (boards/esp32-4mb-romfs.json, docs/romfs.md).

Provisioning writes the ROMFS image of the package's active copy into the `romfs` partition; the
emulated board mounts it at /rom as a firmware built with ROMFS does (held in heap the host adds
for it: this port has no memory-mapped flash, _emu.mount_romfs). The loader runs mpboot's code
from there only when it holds exactly the copy's files; anything else (erased, a flipped byte, an
extra file) falls back to the copy on the filesystem, and the board boots as before.

The heap: a whole over-the-air update (TLS, the refresh, download and install, the trial boot
and the next check) with the code in ROMFS, bisected in 4 KiB steps on the unix port's fixed heap
as tests/test_ota_heap_floor.py does (every heap it fails in must fail cleanly). Measured
178-186 KiB against 232 KiB from files (docs/romfs.md): not yet within unixport.board_heap()
plus the board's own 19.5 KB (165 KiB).
"""

import io

import pytest

from bundleboard import package_files

from emuboard import unix_runtime
from mpboot import boards
from mpboot.emulator.flash import NorFlash
from mpboot_fw import romfs
from otaworld import World
from test_ota_heap_floor import update

BOARD = boards.load_board("esp32-4mb-romfs")
ROMFS = BOARD.partition(boards.ROMFS_PARTITION)
WHERE = "from mpboot_fw import updater\nprint('updater:', updater.__file__)\n"
# The bisection's bounds above the mapped partition, and the band docs/romfs.md gives.
LOW, HIGH, STEP = 152 * 1024, 240 * 1024, 4 * 1024
DOCUMENTED = (168 * 1024, 200 * 1024)  # measured 178-186 KiB


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("romfs"), unix_runtime(), board=BOARD, package=True, files={"/main.py": WHERE})
    yield w
    w.close()


def where_from(w, flash):
    w.use_flash(flash)
    record = w.boot()
    assert record.outcome == "ok" and "verified" in record.text, record.text
    return [ln.split(" ", 1)[1] for ln in record.output if ln.startswith("updater:")][0]


def test_the_package_runs_from_romfs(world):
    assert where_from(world, NorFlash(data=bytes(world.flash.mem))) == "/rom/mpboot_fw/updater.mpy"


def romfs_of(files):
    image = romfs.Image([(path, len(data)) for path, data in sorted(files.items())])
    out = bytearray()
    image.write(out.extend, lambda path: io.BytesIO(files[path]), bytearray(4096))
    return bytes(out)


@pytest.mark.parametrize("damage", ["erased", "flipped byte", "cut short", "one file more"])
def test_a_romfs_that_is_not_the_copy_falls_back_to_the_copy(world, damage):
    data = bytearray(world.flash.mem)
    start = ROMFS.offset
    if damage == "erased":
        data[start:start + ROMFS.size] = b"\xff" * ROMFS.size
    elif damage == "flipped byte":
        data[start + ROMFS.size // 4] ^= 0x01  # inside a file's bytes: the image still mounts
    elif damage == "cut short":
        data[start + 4096:start + ROMFS.size] = b"\xff" * (ROMFS.size - 4096)
    else:  # every file of the copy, and a source that MicroPython would import before its .mpy
        rom = romfs_of(dict(package_files(), **{"mpboot_fw/updater.py": b"print('not the copy')\n"}))
        data[start:start + len(rom)] = rom
    assert where_from(world, NorFlash(data=bytes(data))) == "/bundles/mpboot/a/mpboot_fw/updater.mpy"


def test_whole_update_heap_with_the_package_in_romfs(tmp_path):
    w = World(tmp_path, unix_runtime(), board=BOARD, package=True)
    try:
        assert "ota: current" in w.boot().output
        w.publish("2.0.0")
        w.flash.reset_log()
        base = bytes(w.flash.mem)
        # Heaps above the partition the emulator maps into it (_emu.mount_romfs).
        assert not update(w, base, LOW + ROMFS.size), "completed at the lower bound"
        assert update(w, base, HIGH + ROMFS.size), "did not complete at the upper bound"
        low, high = LOW, HIGH
        while high - low > STEP:
            mid = (low + high) // 2 // STEP * STEP
            if update(w, base, mid + ROMFS.size):
                high = mid
            else:
                low = mid
        print("whole update with the package in ROMFS: %d KiB above the partition" % (high // 1024))
        assert DOCUMENTED[0] <= high <= DOCUMENTED[1], high // 1024
    finally:
        w.close()
