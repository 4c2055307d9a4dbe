"""Partition table binary format: the real MicroPython firmware's table, and bytes written by hand."""

import hashlib

import pytest

from mpboot import boards
from mpboot.espidf import partition_table as pt
from realfirmware import PARTITION_TABLE_OFFSET, micropython_firmware


@pytest.fixture(scope="module")
def real_table():
    data = micropython_firmware().read_bytes()
    return data[PARTITION_TABLE_OFFSET:PARTITION_TABLE_OFFSET + pt.TABLE_MAX_LEN]


def test_real_firmware_table_parses(real_table):
    parts = pt.from_binary(real_table)
    assert [(p.name, p.type, p.subtype, p.offset, p.size) for p in parts] == [
        ("nvs", 1, 0x02, 0x9000, 0x6000),
        ("phy_init", 1, 0x01, 0xF000, 0x1000),
        ("factory", 0, 0x00, 0x10000, 0x180000),
        ("vfs", 1, 0x81, 0x200000, 0x200000),
    ]
    pt.validate(parts, 0x400000)


def test_real_firmware_table_round_trips_byte_for_byte(real_table):
    # The download's table was written by ESP-IDF's gen_esp32part.py: ours must write the same bytes.
    assert pt.to_binary(pt.from_binary(real_table)) == real_table


# Two entries written out by hand from the format: magic AA 50, type, subtype, offset LE, size LE,
# 16-byte label, flags LE.
HAND_ROWS = bytes.fromhex(
    "aa50" "01" "02" "00900000" "00400000" "6e7673" + "00" * 13 + "00000000"       # nvs data/nvs 0x9000 0x4000
    "aa50" "00" "10" "00000100" "00001800" "6f74615f30" + "00" * 11 + "01000000"   # ota_0 app/ota_0, encrypted
)


def test_table_written_by_hand():
    parts = [pt.Partition("nvs", 1, 2, 0x9000, 0x4000), pt.Partition("ota_0", 0, 0x10, 0x10000, 0x180000, 1)]
    data = pt.to_binary(parts)
    assert len(data) == 0xC00
    assert data[:64] == HAND_ROWS
    assert data[64:96] == b"\xeb\xeb" + b"\xff" * 14 + hashlib.md5(HAND_ROWS).digest()
    assert data[96:] == b"\xff" * (0xC00 - 96)
    assert pt.from_binary(data) == parts
    assert parts[1].encrypted and parts[1].ota_index == 0 and parts[0].ota_index is None


@pytest.mark.parametrize("name", boards.list_boards())
def test_board_tables_round_trip(name):
    board = boards.load_board(name)
    assert tuple(pt.from_binary(pt.to_binary(board.partitions))) == board.partitions


def test_bad_md5_is_refused(real_table):
    bad = bytearray(real_table)
    bad[4 * 32 + 20] ^= 1
    with pytest.raises(pt.PartitionTableError, match="MD5"):
        pt.from_binary(bytes(bad))
    bad = bytearray(real_table)
    bad[40] ^= 1  # an entry byte: the MD5 no longer covers it
    with pytest.raises(pt.PartitionTableError, match="MD5"):
        pt.from_binary(bytes(bad))


def test_malformed_tables_are_refused(real_table):
    with pytest.raises(pt.PartitionTableError, match="magic"):
        pt.from_binary(b"\x00" * 0xC00)
    with pytest.raises(pt.PartitionTableError, match="no MD5"):
        pt.from_binary(HAND_ROWS + b"\xff" * (0xC00 - len(HAND_ROWS)))
    with pytest.raises(pt.PartitionTableError, match="at most 95"):
        pt.to_binary([pt.Partition("p%d" % i, 1, 2, 0x9000 + i * 0x1000, 0x1000) for i in range(96)])


def test_names_and_numbers():
    assert pt.parse_type("app") == 0 and pt.parse_type("0x40") == 0x40
    assert pt.parse_subtype(pt.TYPE_APP, "ota_15") == 0x1F
    assert pt.parse_subtype(pt.TYPE_DATA, "undefined") == 0x06
    assert pt.subtype_name(pt.TYPE_DATA, 0x81) == "fat" and pt.subtype_name(0x40, 0x81) == "0x81"
    with pytest.raises(pt.PartitionTableError):
        pt.parse_type("0x1ff")
