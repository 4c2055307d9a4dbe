"""ESP-IDF partition tables: the binary format the bootloader reads at 0x8000, and its layout rules.

Format (components/partition_table/gen_esp32part.py, esp_flash_partitions.h): 32-byte entries
`<2sBBII16sI` (magic AA 50, type, subtype, offset, size, NUL-padded label, flags; flags bit 0 =
encrypted), then an MD5 row (EB EB, 14 x FF, MD5 of every entry byte before it), then FF up to
0xC00 bytes.

What ESP-IDF's bootloader accepts (esp_partition_table_verify, flash_partitions.c): rows up to
the end marker (magic FF FF, type FF, subtype FF), each an entry or one MD5 row whose digest
matches the rows before it; no end marker within 0xC00 bytes, another magic, a second MD5 row or
an entry with `offset > flash size or offset + size > flash size` refuses the table. This reader
refuses the same tables and, deliberately, a few more that no ESP-IDF tool writes:
- no MD5 row (the app's esp_partition, CONFIG_PARTITION_TABLE_MD5 on by default, then finds no
  partition at all; every MicroPython download has one);
- entries after the MD5 row (the bootloader and the app would read different tables);
- an entry whose end passes 2^32 (ESP-IDF adds in uint32_t, so its check lets such an entry
  through: the flash chip would wrap the address);
- a label that is not printable ASCII padded with NULs: labels are names here (the vfs and state
  partitions are found by label) and are printed by `mpboot inspect` and `mpboot log`, so every
  label read must be one exact string that writes back as the same 16 bytes.
"""

import hashlib
import struct
from typing import NamedTuple

from mpboot.errors import MpbootError

TABLE_OFFSET = 0x8000
TABLE_MAX_LEN = 0xC00
ENTRY = struct.Struct("<2sBBII16sI")
MAGIC = b"\xaa\x50"
MD5_MAGIC = b"\xeb\xeb"
FLAG_ENCRYPTED = 1

TYPE_APP = 0x00
TYPE_DATA = 0x01
TYPES = {"app": TYPE_APP, "data": TYPE_DATA}

SUBTYPE_FACTORY = 0x00
SUBTYPE_OTA_0 = 0x10
OTA_SLOTS_MAX = 16
SUBTYPE_TEST = 0x20
SUBTYPE_OTADATA = 0x00
# esp_partition_subtype_t; "undefined" (0x06) is what gen_esp32part gives a data partition whose
# subtype is left empty: ESP-IDF assigns it no meaning, so applications use it for their own data.
SUBTYPES = {
    TYPE_APP: dict({"factory": SUBTYPE_FACTORY, "test": SUBTYPE_TEST},
                   **{"ota_%d" % i: SUBTYPE_OTA_0 + i for i in range(OTA_SLOTS_MAX)}),
    TYPE_DATA: {"ota": 0x00, "phy": 0x01, "nvs": 0x02, "coredump": 0x03, "nvs_keys": 0x04, "efuse": 0x05,
                "undefined": 0x06, "esphttpd": 0x80, "fat": 0x81, "spiffs": 0x82, "littlefs": 0x83},
}

ENTRIES_MAX = TABLE_MAX_LEN // ENTRY.size - 2  # room for the MD5 row and the end marker
END_MARKER = b"\xff" * 4  # magic FF FF, type FF, subtype FF: all esp_partition_table_verify looks at

APP_ALIGN = 0x10000
DATA_ALIGN = 0x1000
OTADATA_SIZE = 0x2000
LABEL_MAX = 16


class PartitionTableError(MpbootError):
    """A partition table that ESP-IDF would not accept (or that does not fit the flash)."""


class Partition(NamedTuple):
    name: str
    type: int
    subtype: int
    offset: int
    size: int
    flags: int = 0

    @property
    def end(self):
        return self.offset + self.size

    @property
    def encrypted(self):
        return bool(self.flags & FLAG_ENCRYPTED)

    @property
    def ota_index(self):
        """0..15 for an OTA app slot, else None."""
        if self.type == TYPE_APP and SUBTYPE_OTA_0 <= self.subtype < SUBTYPE_OTA_0 + OTA_SLOTS_MAX:
            return self.subtype - SUBTYPE_OTA_0
        return None

    def describe(self):
        return "%-9s %-4s %-9s 0x%06x 0x%06x" % (
            self.name, type_name(self.type), subtype_name(self.type, self.subtype), self.offset, self.size)


def type_name(ptype):
    for name, value in TYPES.items():
        if value == ptype:
            return name
    return "0x%02x" % ptype


def subtype_name(ptype, subtype):
    for name, value in SUBTYPES.get(ptype, {}).items():
        if value == subtype:
            return name
    return "0x%02x" % subtype


def parse_type(text):
    """'app', 'data' or a number (0x40-0xFE are application types)."""
    return _parse_name(text, TYPES, "partition type")


def parse_subtype(ptype, text):
    return _parse_name(text, SUBTYPES.get(ptype, {}), "partition subtype")


def _parse_name(text, names, what):
    if isinstance(text, int):
        value = text
    elif text in names:
        return names[text]
    else:
        try:
            value = int(text, 0)
        except (TypeError, ValueError):
            raise PartitionTableError("unknown %s %r (use one of %s or a number)" % (what, text, ", ".join(names))) from None
    if not 0 <= value <= 0xFE:
        raise PartitionTableError("%s %r out of range 0..0xFE" % (what, text))
    return value


def to_binary(partitions):
    """The 0xC00-byte table ESP-IDF's gen_esp32part.py writes (entries, MD5 row, FF padding)."""
    if len(partitions) > ENTRIES_MAX:
        raise PartitionTableError("partition table too long: %d entries (at most %d)" % (len(partitions), ENTRIES_MAX))
    rows = b"".join(
        ENTRY.pack(MAGIC, p.type, p.subtype, p.offset, p.size, label_bytes(p.name), p.flags) for p in partitions)
    rows += MD5_MAGIC + b"\xff" * 14 + hashlib.md5(rows).digest()
    return rows + b"\xff" * (TABLE_MAX_LEN - len(rows))


def label_bytes(name):
    """The 16-byte label field for `name`: printable ASCII, at most 16 bytes, NUL-padded."""
    if not isinstance(name, str) or len(name) > LABEL_MAX or not all(" " <= c <= "~" for c in name):
        raise PartitionTableError("partition label %r must be at most 16 printable ASCII characters" % (name,))
    return name.encode("ascii").ljust(LABEL_MAX, b"\x00")


def from_binary(data, flash_size=None):
    """Entries of a binary table, refusing what the module docstring lists; with `flash_size`,
    also an entry that does not fit in the flash (the bootloader's check)."""
    data = bytes(data[:TABLE_MAX_LEN])
    partitions = []
    md5_seen = False
    for pos in range(0, len(data) - ENTRY.size + 1, ENTRY.size):
        row = data[pos:pos + ENTRY.size]
        if row[:4] == END_MARKER:
            if not md5_seen:
                raise PartitionTableError("partition table has no MD5 row (ESP-IDF requires one)")
            return partitions
        if md5_seen:
            raise PartitionTableError("partition table continues after its MD5 row")
        if row[:2] == MD5_MAGIC:
            if row[16:] != hashlib.md5(data[:pos]).digest():
                raise PartitionTableError("partition table MD5 does not match its entries")
            md5_seen = True
            continue
        if row[:2] != MAGIC:
            raise PartitionTableError("partition table entry %d has no AA 50 magic" % len(partitions))
        _, ptype, subtype, offset, size, label, flags = ENTRY.unpack(row)
        name = _label(label, len(partitions))
        if flash_size is not None and offset + size > flash_size:
            raise PartitionTableError("partition %d (%s) at 0x%x size 0x%x exceeds the 0x%x-byte flash"
                                      % (len(partitions), name, offset, size, flash_size))
        partitions.append(Partition(name, ptype, subtype, offset, size, flags))
    raise PartitionTableError("partition table has no end (no end marker within 0xC00 bytes)")


def _label(field, index):
    name, _, padding = field.partition(b"\x00")
    if padding.strip(b"\x00") or not all(0x20 <= b <= 0x7E for b in name):
        raise PartitionTableError("partition %d label %r is not printable ASCII padded with NULs" % (index, field))
    return name.decode("ascii")


def validate(partitions, flash_size, table_offset=TABLE_OFFSET):
    """The checks gen_esp32part.py makes, plus: everything fits in the flash."""
    seen = set()
    for p in partitions:
        if not p.name:
            raise PartitionTableError("a partition has an empty label")
        label_bytes(p.name)
        if p.name in seen:
            raise PartitionTableError("partition label %r is used twice" % p.name)
        seen.add(p.name)
        align = APP_ALIGN if p.type == TYPE_APP else DATA_ALIGN
        if p.offset % align:
            raise PartitionTableError("partition %s at 0x%x is not aligned to 0x%x" % (p.name, p.offset, align))
        if p.size <= 0 or p.size % DATA_ALIGN:
            raise PartitionTableError("partition %s size 0x%x is not a positive multiple of 0x1000" % (p.name, p.size))
        if p.offset < table_offset + 0x1000:
            raise PartitionTableError("partition %s at 0x%x overlaps the partition table" % (p.name, p.offset))
        if p.end > flash_size:
            raise PartitionTableError("partition %s ends at 0x%x, past the 0x%x-byte flash" % (p.name, p.end, flash_size))
    ordered = sorted(partitions, key=lambda p: p.offset)
    for a, b in zip(ordered, ordered[1:]):
        if b.offset < a.end:
            raise PartitionTableError("partitions %s and %s overlap" % (a.name, b.name))
    otadata = [p for p in partitions if p.type == TYPE_DATA and p.subtype == SUBTYPE_OTADATA]
    if len(otadata) > 1:
        raise PartitionTableError("more than one otadata partition")
    if otadata and otadata[0].size != OTADATA_SIZE:
        raise PartitionTableError("otadata partition must be 0x2000 bytes")
