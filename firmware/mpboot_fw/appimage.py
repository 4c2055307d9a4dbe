"""ESP-IDF app images (what an OTA slot holds), read through a block device, streaming.

`dev` is anything with esp32.Partition's `readblocks(block_num, buf, offset)` (4096-byte blocks)
and `info()` (size at index 3): a partition on the board, the emulator's flash, or
`blockdev.BytesDevice` over bytes on the host.

Layout (esp_image_format.h, esp_app_format.h): a 24-byte header (magic 0xE9, segment count,
SPI mode, flash size/frequency nibbles, entry point, ..., chip id u16 @12, min/max chip revision,
`hash_appended` @23), then the segments, each an 8-byte {load address, length} and its data;
then padding so that the checksum byte (0xEF XOR every data byte) ends a 16-byte block; then,
when `hash_appended`, the SHA-256 of everything before it. `esp_app_desc_t` is the start of the
first segment's data (image offset 0x20): magic, secure_version, version, project name, build
time and date, IDF version, ELF SHA-256.

- `parse(dev, limit=None)` reads the header, the app descriptor and the segment headers (a few
  hundred bytes) and computes `image_length`: everything the image occupies, padding, checksum
  and appended hash included. It checks the structure on the way.
- `validate(dev, limit=None, chip_id=None)` also streams the whole image once, in 4 KiB blocks
  through one buffer, to check what ESP-IDF's bootloader checks (esp_image_format.c
  image_load): magic, chip id, segment count and lengths, flash-mapped segment alignment,
  checksum, appended SHA-256, and that the image fits in `limit` (the partition size).
  Not checked: chip revision (the emulated chip accepts any) and Secure Boot signatures (off
  in MicroPython builds).

Failures raise AppImageError whose message names the failed check.
"""

import hashlib
import struct

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

MAGIC = const(0xE9)
DESC_MAGIC = const(0xABCD5432)
MAX_SEGMENTS = const(16)
BLOCK = const(4096)
HASH_LEN = const(32)
_HEADER_LEN = const(24)
_SEGMENT_HEADER_LEN = const(8)
_DESC_OFFSET = const(0x20)
_DESC_LEN = const(256)
_SEGMENT_MAX = const(0x1000000)  # verify_segment_header: data_len < 16 MB
_MMU_PAGE = const(0x10000)

# Flash-mapped (cache) address ranges per chip id, from esptool's targets: a segment loaded
# there must sit in flash at the same offset within a 64 KiB page as its load address.
_MAPPED = {
    0: ((0x400D0000, 0x40400000), (0x3F400000, 0x3F800000)),  # ESP32
    5: ((0x42000000, 0x42800000), (0x3C000000, 0x3C800000)),  # ESP32-C3
    9: ((0x42000000, 0x44000000), (0x3C000000, 0x3E000000)),  # ESP32-S3
}


class AppImageError(ValueError):
    pass


class AppImage:
    """What parse() reads; validate() adds `checksum` and `digest` (the appended SHA-256)."""

    def __init__(self):
        self.checksum = None
        self.digest = None


def parse(dev, limit=None):
    if limit is None:
        limit = dev.info()[3]
    if limit < _DESC_OFFSET + _DESC_LEN:
        raise AppImageError("truncated")
    head = bytearray(_DESC_OFFSET + _DESC_LEN)
    dev.readblocks(0, head, 0)
    if head[0] != MAGIC:
        raise AppImageError("magic")
    img = AppImage()
    count = head[1]
    if count == 0 or count > MAX_SEGMENTS:
        raise AppImageError("segment count")
    img.segments = count
    img.flash_mode = head[2]
    img.flash_size = 0x100000 << (head[3] >> 4)
    img.flash_freq = head[3] & 0xF
    img.entry, img.chip_id = struct.unpack_from("<IxxxxH", head, 4)
    img.min_chip_rev_full, img.max_chip_rev_full = struct.unpack_from("<HH", head, 15)
    img.hash_appended = head[23] != 0
    magic, img.secure_version = struct.unpack_from("<II", head, _DESC_OFFSET)
    if magic != DESC_MAGIC:
        raise AppImageError("app desc magic")
    img.version = _text(head, 0x30, 32)
    img.project_name = _text(head, 0x50, 32)
    img.time = _text(head, 0x70, 16)
    img.date = _text(head, 0x80, 16)
    img.idf_ver = _text(head, 0x90, 32)
    img.app_elf_sha256 = bytes(head[0xB0:0xD0])
    img.segment_table = _walk_segments(dev, img, limit)
    return img


def validate(dev, limit=None, chip_id=None, buf=None):
    """parse() plus the checksum and hash over the whole image; `buf`: a reusable 4 KiB buffer."""
    img = parse(dev, limit)
    if chip_id is not None and img.chip_id != chip_id:
        raise AppImageError("chip id")
    hashed_end = img.image_length - (HASH_LEN if img.hash_appended else 0)
    sha = hashlib.sha256() if img.hash_appended else None
    if buf is None:
        buf = bytearray(BLOCK)
    mv = memoryview(buf)
    # XOR of bytes does not depend on their position, so each block's segment data is folded in
    # as one integer: about 45x faster on MicroPython than a loop over bytes, for one short-lived
    # 4 KiB integer per block.
    acc = 0
    pos = 0
    while pos < hashed_end:
        n = min(BLOCK, hashed_end - pos)
        chunk = mv[:n]
        dev.readblocks(pos // BLOCK, chunk, 0)
        if sha:
            sha.update(chunk)
        for _, start, length in img.segment_table:
            a = max(start, pos)
            b = min(start + length, pos + n)
            if a < b:
                acc ^= int.from_bytes(chunk[a - pos:b - pos], "little")
        pos += n
    checksum = 0xEF
    while acc:
        checksum ^= acc & 0xFF
        acc >>= 8
    # The last block read ends with the checksum byte.
    if checksum != buf[n - 1]:
        raise AppImageError("checksum")
    img.checksum = checksum
    if sha:
        digest = mv[:HASH_LEN]
        dev.readblocks(hashed_end // BLOCK, digest, hashed_end % BLOCK)
        if sha.digest() != bytes(digest):
            raise AppImageError("hash")
        img.digest = bytes(digest)
    return img


def _walk_segments(dev, img, limit):
    """Segment headers in order; sets img.image_length. Returns ((load, data offset, length), ...)."""
    table = []
    header = bytearray(_SEGMENT_HEADER_LEN)
    mapped = _MAPPED.get(img.chip_id, ())
    pos = _HEADER_LEN
    for _ in range(img.segments):
        if pos + _SEGMENT_HEADER_LEN > limit:
            raise AppImageError("image too long")
        dev.readblocks(pos // BLOCK, header, pos % BLOCK)
        load, length = struct.unpack("<II", header)
        pos += _SEGMENT_HEADER_LEN
        if length & 3 or length >= _SEGMENT_MAX:
            raise AppImageError("segment length")
        for low, high in mapped:
            if low <= load < high and pos % _MMU_PAGE != load % _MMU_PAGE:
                raise AppImageError("segment mapping")
        table.append((load, pos, length))
        pos += length
        if pos > limit:
            raise AppImageError("image too long")
    # The checksum byte ends the next 16-byte block; the appended hash follows it.
    end = (pos + 16) & ~15
    if img.hash_appended:
        end += HASH_LEN
    if end > limit:
        raise AppImageError("image too long")
    img.image_length = end
    return tuple(table)


def _text(buf, offset, size):
    raw = bytes(buf[offset:offset + size])
    end = raw.find(b"\x00")
    try:
        return (raw if end < 0 else raw[:end]).decode()
    except UnicodeError:
        raise AppImageError("app desc text")
