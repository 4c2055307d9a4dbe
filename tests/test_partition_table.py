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
    # 94 entries, the MD5 row and the end marker fill the 0xC00 bytes; one more leaves no end marker.
    most = [pt.Partition("p%d" % i, 1, 2, 0x9000 + i * 0x1000, 0x1000) for i in range(94)]
    assert pt.from_binary(pt.to_binary(most)) == most
    with pytest.raises(pt.PartitionTableError, match="at most 94"):
        pt.to_binary(most + [pt.Partition("p94", 1, 2, 0x67000, 0x1000)])


def test_names_and_numbers():
    assert pt.parse_type("app") == 0 and pt.parse_type("0x40") == 0x40
    assert pt.parse_subtype(pt.TYPE_APP, "ota_15") == 0x1F
    assert pt.parse_subtype(pt.TYPE_DATA, "undefined") == 0x06
    assert pt.subtype_name(pt.TYPE_DATA, 0x81) == "fat" and pt.subtype_name(0x40, 0x81) == "0x81"
    with pytest.raises(pt.PartitionTableError):
        pt.parse_type("0x1ff")


def table_with(rows):
    """A 0xC00-byte table of the given 32-byte rows, FF after them."""
    data = b"".join(rows)
    return data + b"\xff" * (pt.TABLE_MAX_LEN - len(data))


def md5_row(before):
    return b"\xeb\xeb" + b"\xff" * 14 + hashlib.md5(before).digest()


def test_rows_after_the_md5_row_are_refused():
    entry = HAND_ROWS[:32]
    md5 = md5_row(entry)
    assert pt.from_binary(table_with([entry, md5])) == [pt.Partition("nvs", 1, 2, 0x9000, 0x4000)]
    for after in (HAND_ROWS[32:], md5_row(entry + md5), b"\x00" * 32):
        with pytest.raises(pt.PartitionTableError, match="after its MD5 row"):
            pt.from_binary(table_with([entry, md5, after]))
    # The end marker is what esp_partition_table_verify looks for: magic FF FF, type FF, subtype FF.
    assert pt.from_binary(table_with([entry, md5, b"\xff" * 4 + b"\x00" * 28])) == pt.from_binary(table_with([entry, md5]))
    with pytest.raises(pt.PartitionTableError, match="no end"):
        pt.from_binary(entry * 95 + md5_row(entry * 95))  # the MD5 row ends the 0xC00 bytes


@pytest.mark.parametrize("name", boards.list_boards())
def test_every_entry_must_fit_in_the_flash(name):
    board = boards.load_board(name)
    table = pt.to_binary(board.partitions)
    assert tuple(pt.from_binary(table, board.flash_size)) == board.partitions
    for i, p in enumerate(board.partitions):
        for bad in (p._replace(size=board.flash_size - p.offset + 0x1000),   # ends one sector past the flash
                    p._replace(offset=board.flash_size),                     # starts at its end
                    p._replace(size=(1 << 32) - p.offset)):                  # ESP-IDF's uint32 sum wraps to 0
            parts = list(board.partitions)
            parts[i] = bad
            data = pt.to_binary(parts)
            assert pt.from_binary(data) == parts  # the format itself is fine ...
            with pytest.raises(pt.PartitionTableError, match="partition %d \\(%s\\) .* exceeds the 0x%x-byte flash"
                               % (i, p.name, board.flash_size)):
                pt.from_binary(data, board.flash_size)  # ... the bootloader's check is not


@pytest.mark.parametrize("field", [
    b"vf\xe9s", b"\xc3\xa9t\xc3\xa9",   # Latin-1, and UTF-8 (what gen_esp32part writes for "été")
    b"vfs\x00junk", b"a\x01b", b"tab\there", b"del\x7f",
])
def test_labels_must_be_printable_ascii_padded_with_nuls(field):
    row = b"\xaa\x50\x01\x02" + (0x9000).to_bytes(4, "little") + (0x4000).to_bytes(4, "little") \
        + field.ljust(16, b"\x00") + bytes(4)
    with pytest.raises(pt.PartitionTableError, match="label .* is not printable ASCII"):
        pt.from_binary(table_with([row, md5_row(row)]))


@pytest.mark.parametrize("name", ["\xe9t\xe9", "vfs\x00", "x" * 17, "caf\u00e9"])
def test_labels_that_would_not_read_back_are_not_written(name):
    with pytest.raises(pt.PartitionTableError, match="printable ASCII"):
        pt.to_binary([pt.Partition(name, 1, 2, 0x9000, 0x4000)])
    with pytest.raises(pt.PartitionTableError, match="printable ASCII"):
        pt.validate([pt.Partition(name, 1, 2, 0x9000, 0x4000)], 0x400000)


@pytest.mark.parametrize("name", ["a", "sixteen_chars_ok", "with space", "~!#$%&()*+,-./:;"])
def test_every_label_written_reads_back_as_the_same_bytes(name):
    data = pt.to_binary([pt.Partition(name, 1, 2, 0x9000, 0x4000)])
    parts = pt.from_binary(data)
    assert parts[0].name == name and pt.to_binary(parts) == data
