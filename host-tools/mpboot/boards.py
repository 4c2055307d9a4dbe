"""Board definitions (boards/*.json): chip, flash size and partition layout, as data.

A board file names its chip (`esp32`, `esp32s3`, `esp32c3`), its flash size and its partitions
(`name`, `type`, `subtype` by ESP-IDF name or number, `offset`, `size` as hex strings). The chip
fixes what the ESP-IDF image header must say (`chip_id`) and where the second-stage bootloader
lives. Every layout is checked with the rules ESP-IDF's gen_esp32part.py applies.

The boot stage keeps its state in its own data partition labelled `mpboot` (type data, subtype
0x06 "undefined": the subtype ESP-IDF gives a data partition of no ESP-IDF meaning), taken from
the end of flash so the OTA slots keep MicroPython's offsets.
"""

import json
from pathlib import Path
from typing import NamedTuple

from mpboot import resources
from mpboot.errors import MpbootError
from mpboot.espidf import partition_table as pt

BOARDS_DIR = resources.boards_dir()
STATE_PARTITION = "mpboot"
VFS_PARTITION = "vfs"
ROMFS_PARTITION = "romfs"  # the label vfs.rom_ioctl maps (micropython ports/esp32/esp32_partition.c)


class Chip(NamedTuple):
    name: str
    chip_id: int  # esp_image_header_t.chip_id (esp_chip_id_t)
    bootloader_offset: int


CHIPS = {
    "esp32": Chip("esp32", 0, 0x1000),
    "esp32s3": Chip("esp32s3", 9, 0x0),
    "esp32c3": Chip("esp32c3", 5, 0x0),
}


class Board(NamedTuple):
    name: str
    chip: str
    chip_id: int
    flash_size: int
    bootloader_offset: int
    partitions: tuple
    description: str = ""
    partition_table_offset: int = pt.TABLE_OFFSET

    def partition(self, name):
        for p in self.partitions:
            if p.name == name:
                return p
        raise MpbootError("board %s has no partition %r (it has: %s)"
                          % (self.name, name, ", ".join(p.name for p in self.partitions)))

    @property
    def app_slots(self):
        """The OTA app partitions in slot order (ota_0, ota_1, ...)."""
        return sorted((p for p in self.partitions if p.ota_index is not None), key=lambda p: p.subtype)

    @property
    def otadata(self):
        for p in self.partitions:
            if p.type == pt.TYPE_DATA and p.subtype == pt.SUBTYPE_OTADATA:
                return p
        raise MpbootError("board %s has no otadata partition" % self.name)


def list_boards():
    return sorted(p.stem for p in BOARDS_DIR.glob("*.json"))


def load_board(name):
    """The board called `name` (a file in boards/), or the board file at path `name`."""
    path = Path(name)
    if path.suffix != ".json" or not path.exists():
        path = BOARDS_DIR / (str(name) + ".json")
        if not path.exists():
            raise MpbootError("unknown board %r (known boards: %s)" % (name, ", ".join(list_boards())))
    try:
        spec = json.loads(path.read_text())
        return _board_from_spec(spec, path.stem)
    except (KeyError, TypeError, ValueError) as e:
        raise MpbootError("board file %s is malformed: %s" % (path, e)) from None


def slot_room(board_name, chip_id):
    """(bytes, board name) of the smallest app slot an image signed for `board_name` ("": any
    board with chip `chip_id`) has to fit, over the boards in boards/; None when none matches.
    A larger image can be signed and published but never installed: every device refuses it.
    A board that boards/ does not define (a user's own) is not known here: None."""
    if board_name and board_name not in list_boards():
        return None
    names = [board_name] if board_name else list_boards()
    rooms = []
    for name in names:
        board = load_board(name)
        if board.chip_id == chip_id and board.app_slots:
            rooms.append((min(p.size for p in board.app_slots), board.name))
    return min(rooms) if rooms else None


def check_fits(length, board_name, chip_id, what):
    """Raise MpbootError when an image of `length` bytes fits no app slot of its board(s)."""
    room = slot_room(board_name, chip_id)
    if room is not None and length > room[0]:
        raise MpbootError("%s is %d bytes, larger than the %d-byte app slot of board %s: no device could install "
                          "it; build a smaller firmware (or use a board with larger OTA slots)"
                          % (what, length, room[0], room[1]))


def match_image(image):
    """The board whose flash size and partition table a whole-flash image has, else None."""
    table = bytes(image[pt.TABLE_OFFSET:pt.TABLE_OFFSET + pt.TABLE_MAX_LEN])
    for name in list_boards():
        board = load_board(name)
        if board.flash_size == len(image) and pt.to_binary(board.partitions) == table:
            return board
    return None


def recognise(image, path):
    """The board of a whole-flash `image` (read from `path`) by match_image, or one MpbootError
    line that names --board."""
    board = match_image(image)
    if board is None:
        raise MpbootError("%s matches no board in boards/ (flash size and partition table): is it a whole-flash "
                          "image from `mpboot flash-image`? pass --board if so" % path)
    return board


def chip_id_for(name):
    """ESP-IDF image chip id for a board name or a bare chip name (esp32, esp32s3, esp32c3)."""
    if name in CHIPS:
        return CHIPS[name].chip_id
    try:
        return load_board(name).chip_id
    except MpbootError:
        raise MpbootError("unknown board or chip %r (chips: %s; boards: %s)"
                          % (name, ", ".join(CHIPS), ", ".join(list_boards()))) from None


def _board_from_spec(spec, default_name):
    chip = CHIPS.get(spec["chip"])
    if chip is None:
        raise ValueError("chip %r is not one of %s" % (spec["chip"], ", ".join(CHIPS)))
    flash_size = int(spec["flash_size"], 0)
    partitions = []
    for entry in spec["partitions"]:
        ptype = pt.parse_type(entry["type"])
        partitions.append(pt.Partition(
            entry["name"], ptype, pt.parse_subtype(ptype, entry["subtype"]),
            int(entry["offset"], 0), int(entry["size"], 0), 1 if entry.get("encrypted") else 0))
    pt.validate(partitions, flash_size)
    return Board(spec.get("name", default_name), chip.name, chip.chip_id, flash_size,
                 chip.bootloader_offset, tuple(partitions), spec.get("description", ""))
