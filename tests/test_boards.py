"""Board definitions against their sources: MicroPython's partition CSVs and esptool's chip facts."""

import json

import pytest
from esptool.targets import CHIP_DEFS

from mpboot import boards
from mpboot.errors import MpbootError
from mpboot.espidf import partition_table as pt

# MicroPython ports/esp32/partitions-4MiB-ota.csv (the version that lists vfs) and
# partitions-8MiBplus-ota.csv (which leaves the rest of flash, from 0x4f0000, to filesystems).
MICROPYTHON_4MIB_OTA = """
nvs,      data, nvs,     0x9000,   0x4000,
otadata,  data, ota,     0xd000,   0x2000,
phy_init, data, phy,     0xf000,   0x1000,
ota_0,    app,  ota_0,   0x10000,  0x180000,
ota_1,    app,  ota_1,   0x190000, 0x180000,
vfs,      data, fat,     0x310000, 0x0f0000,
"""
MICROPYTHON_8MIB_OTA = """
nvs,      data, nvs,     0x9000,   0x4000,
otadata,  data, ota,     0xd000,   0x2000,
phy_init, data, phy,     0xf000,   0x1000,
ota_0,    app,  ota_0,   0x10000,  0x270000,
ota_1,    app,  ota_1,   0x280000, 0x270000,
vfs,      data, fat,     0x4f0000, 0x310000,
"""
STATE_SIZE = 0x10000


def parse_csv(text):
    rows = []
    for line in text.strip().splitlines():
        name, ptype, subtype, offset, size = [f.strip() for f in line.split(",")[:5]]
        t = pt.parse_type(ptype)
        rows.append(pt.Partition(name, t, pt.parse_subtype(t, subtype), int(offset, 0), int(size, 0)))
    return rows


@pytest.mark.parametrize("name,csv,chip", [
    ("esp32-4mb", MICROPYTHON_4MIB_OTA, "esp32"),
    ("esp32c3-4mb", MICROPYTHON_4MIB_OTA, "esp32c3"),
    ("esp32s3-8mb", MICROPYTHON_8MIB_OTA, "esp32s3"),
])
def test_board_is_micropython_layout_with_state_partition_from_the_end(name, csv, chip):
    board = boards.load_board(name)
    reference = parse_csv(csv)
    ours = list(board.partitions)
    assert board.chip == chip
    # Everything before vfs is MicroPython's, unchanged: the OTA slots keep their offsets.
    assert ours[:-2] == reference[:-1]
    vfs, state = ours[-2], ours[-1]
    ref_vfs = reference[-1]
    assert (vfs.name, vfs.type, vfs.subtype, vfs.offset) == (ref_vfs.name, ref_vfs.type, ref_vfs.subtype, ref_vfs.offset)
    assert vfs.size == ref_vfs.size - STATE_SIZE
    assert state == pt.Partition("mpboot", pt.TYPE_DATA, 0x06, ref_vfs.end - STATE_SIZE, STATE_SIZE)
    assert state.end == board.flash_size == ref_vfs.end
    assert [p.name for p in board.app_slots] == ["ota_0", "ota_1"]
    assert board.otadata.offset == 0xD000


def test_state_subtype_is_the_one_esp_idf_leaves_undefined():
    assert pt.SUBTYPES[pt.TYPE_DATA]["undefined"] == 0x06
    assert boards.load_board("esp32-4mb").partition(boards.STATE_PARTITION).subtype == 0x06


@pytest.mark.parametrize("chip", ["esp32", "esp32s3", "esp32c3"])
def test_chip_facts_match_esptool(chip):
    target = CHIP_DEFS[chip]
    assert boards.chip_id_for(chip) == target.IMAGE_CHIP_ID
    assert boards.CHIPS[chip].bootloader_offset == target.BOOTLOADER_FLASH_OFFSET


def test_chip_id_for_board_names():
    assert boards.chip_id_for("esp32-4mb") == 0
    assert boards.chip_id_for("esp32s3-8mb") == 9
    assert boards.chip_id_for("esp32c3-4mb") == 5


def test_list_boards():
    assert boards.list_boards() == ["esp32-4mb", "esp32-4mb-romfs", "esp32c3-4mb", "esp32s3-8mb"]


def test_unknown_board_names_the_known_ones():
    with pytest.raises(MpbootError) as e:
        boards.load_board("esp8266")
    assert "esp8266" in str(e.value) and "esp32-4mb" in str(e.value)
    with pytest.raises(MpbootError) as e:
        boards.chip_id_for("esp32c6")
    assert "esp32s3" in str(e.value) and "esp32c3-4mb" in str(e.value)


def test_unknown_partition_names_the_board_partitions():
    with pytest.raises(MpbootError) as e:
        boards.load_board("esp32-4mb").partition("factory")
    assert "ota_0" in str(e.value)


def _board_file(tmp_path, **changes):
    spec = json.loads((boards.BOARDS_DIR / "esp32-4mb.json").read_text())
    spec.update(changes)
    path = tmp_path / "custom.json"
    path.write_text(json.dumps(spec))
    return path


def test_board_file_by_path(tmp_path):
    board = boards.load_board(str(_board_file(tmp_path, name="custom")))
    assert board.name == "custom" and board.flash_size == 0x400000


@pytest.mark.parametrize("changes,message", [
    ({"flash_size": "0x200000"}, "past the"),
    ({"chip": "esp8266"}, "chip"),
    ({"partitions": [{"name": "a", "type": "app", "subtype": "ota_0", "offset": "0x18000", "size": "0x10000"}]},
     "not aligned"),
    ({"partitions": [{"name": "a", "type": "data", "subtype": "nvs", "offset": "0x9000", "size": "0x4000"},
                     {"name": "b", "type": "data", "subtype": "nvs", "offset": "0xc000", "size": "0x2000"}]},
     "overlap"),
    ({"partitions": [{"name": "a", "type": "data", "subtype": "nope", "offset": "0x9000", "size": "0x4000"}]},
     "subtype"),
    ({"partitions": [{"name": "a", "type": "data", "offset": "0x9000", "size": "0x4000"}]}, "malformed"),
])
def test_bad_board_files_are_refused(tmp_path, changes, message):
    with pytest.raises(MpbootError) as e:
        boards.load_board(str(_board_file(tmp_path, **changes)))
    assert message in str(e.value)
