"""Small synthetic ESP-IDF app images for tests, built on either runtime.

An image written here follows esp_image_format.h independently of the reader under test: a
24-byte header, a first (flash-mapped DROM) segment that starts with esp_app_desc_t, further
RAM segments of pseudo-random bytes, the 0xEF XOR checksum in the last byte of a 16-byte block,
and the SHA-256 of all that when `hash_appended`. esptool's image-info accepts these images.
"""

import hashlib
import struct

DROM_BASE = {0: 0x3F400000, 5: 0x3C000000, 9: 0x3C000000}  # flash-mapped data, per chip id
DRAM_BASE = {0: 0x3FFB0000, 5: 0x3FC80000, 9: 0x3FC88000}
DESC_MAGIC = 0xABCD5432


def app_desc(version, secure_version=0, project_name="mpboot-test", time="12:00:00", date="Jan  1 2025",
             idf_ver="v5.2.1", elf_sha256=b"\x11" * 32):
    return (struct.pack("<II8x", DESC_MAGIC, secure_version) + _field(version, 32) + _field(project_name, 32)
            + _field(time, 16) + _field(date, 16) + _field(idf_ver, 32) + elf_sha256 + b"\x00" * 80)


def build(version="1.0.0", secure_version=0, chip_id=0, data_segments=(1000, 3000), desc_segment=512,
          hash_appended=True, entry=0x40081000, seed=1, **desc):
    """The image bytes: a DROM segment of `desc_segment` bytes, then RAM segments of those lengths."""
    body = bytearray(app_desc(version, secure_version, **desc))
    body += _noise(desc_segment - len(body), seed)
    segments = [(DROM_BASE[chip_id] + 0x20, body)]
    load = DRAM_BASE[chip_id]
    for i, length in enumerate(data_segments):
        segments.append((load, _noise(length, seed + i + 1)))
        load += length
    header = struct.pack("<BBBBIBBBBHBHHBBBBB", 0xE9, len(segments), 2, 0x20, entry, 0xEE, 0, 0, 0,
                         chip_id, 0, 0, 0, 0, 0, 0, 0, 1 if hash_appended else 0)
    out = bytearray(header)
    checksum = 0xEF
    for addr, data in segments:
        out += struct.pack("<II", addr, len(data)) + data
        for b in data:
            checksum ^= b
    out += b"\x00" * (15 - len(out) % 16) + bytes([checksum])
    if hash_appended:
        out += hashlib.sha256(out).digest()
    return bytes(out)


def _field(text, size):
    raw = text.encode()
    return raw + b"\x00" * (size - len(raw))


def _noise(n, seed):
    """n pseudo-random bytes (a 32-bit LCG), n a multiple of 4."""
    out = bytearray(n)
    x = seed * 2654435761 & 0xFFFFFFFF
    for i in range(0, n, 4):
        x = (x * 1664525 + 1013904223) & 0xFFFFFFFF
        struct.pack_into("<I", out, i, x)
    return out
