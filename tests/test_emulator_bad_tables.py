"""Partition tables ESP-IDF's bootloader accepts but that a board cannot use as meant, on the
emulated board: each gives what the board does (an error the app sees, a boot that fails), never
a crash of the emulator."""

import pytest

from emuboard import new_flash
from mpboot import boards
from mpboot.emulator import bootloader
from mpboot.emulator.board import Board
from mpboot.emulator.partition import FlashPartition
from mpboot.espidf import otadata as od
from mpboot.espidf import partition_table as pt

BOARD = boards.load_board("esp32-4mb")


def with_table(flash, **changes):
    """Rewrite the flash's partition table: changes = {label: {field: value}}."""
    parts = [p._replace(**changes.get(p.name, {})) for p in BOARD.partitions]
    flash.load(pt.TABLE_OFFSET, pt.to_binary(parts))
    return parts


def test_erasing_a_partition_that_is_not_sector_aligned_is_esp_err_invalid_arg():
    flash = new_flash()
    part = FlashPartition(flash, 0x3F0800, 0x8000)
    with pytest.raises(OSError) as e:
        part.writeblocks(0, b"x" * 4096)
    assert e.value.args == (-0x102, "ESP_ERR_INVALID_ARG")
    with pytest.raises(OSError):
        part.ioctl(6, 0)
    part.writeblocks(0, b"\x00" * 32, 0)  # programming without an erase is allowed, as on a board
    assert flash.read(0x3F0800, 32) == b"\x00" * 32


def test_the_bootloader_records_otadata_in_a_partition_that_is_not_sector_aligned():
    flash = new_flash(otadata_image=b"\xff" * 0x2000)
    flash.load(0xD000, b"\x00" * 0x800)  # bytes before the entry, in the sector write_otadata erases
    with_table(flash, otadata=dict(offset=0xD800))
    log = []
    choice = bootloader.run(flash, BOARD.chip_id, log)
    assert choice.partition.name == "ota_0"
    # bootloader_flash_erase_sector(offset / 4096): the sector the entry starts in, then the entry.
    assert flash.read(0xD000, 0x800) == b"\xff" * 0x800
    assert od.OtaEntry.decode(flash.read(0xD800, 32)) == od.OtaEntry.make(1, od.VALID)


def test_a_vfs_partition_too_small_for_a_filesystem_fails_the_boot():
    flash = new_flash({"/main.py": "print(1)\n"})
    with_table(flash, vfs=dict(size=0))
    with Board(flash, BOARD) as board:
        record = board.boot()
    assert record.outcome == "exception" and "cannot hold a LittleFS filesystem" in record.error


def test_a_set_boot_esp_idf_never_returns_from_is_a_hang(monkeypatch):
    # With 4, 8 or 16 slots and a sequence number near 2^32, esp_rewrite_ota_data loops for ever
    # (espidf/otadata.next_seq); the board hangs there, and so must the emulated one, not crash.
    # Reaching it on the shipped two-slot boards is impossible, so the rewrite is made to raise.
    def never(*args):
        raise od.RewriteNeverReturns("esp_rewrite_ota_data: ESP-IDF's loop never ends")

    monkeypatch.setattr(od, "boot_slot_entry", never)
    flash = new_flash({"/main.py": "import esp32\nesp32.Partition('ota_0').set_boot()\nprint('returned')\n"})
    with Board(flash, BOARD) as board:
        record = board.boot()
    assert record.outcome == "hang", (record.outcome, record.output)
    assert "returned" not in record.output
