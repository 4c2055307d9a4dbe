"""ESP-IDF app image parse/validate on synthetic images (tests/device/appbuilder.py builds them
independently of the reader); esptool cross-checks the reader in tests/test_appimage_esptool.py."""

import struct

import appbuilder
from devtest import raises

from mpboot_fw import appimage
from mpboot_fw.blockdev import BytesDevice

# Segments that cross 4 KiB block boundaries, so streaming has to stitch blocks.
SEGMENTS = (4100, 6000, 12)


def _image(**kw):
    kw.setdefault("data_segments", SEGMENTS)
    return appbuilder.build(**kw)


def _expected_length(desc_segment, segments, hash_appended):
    unpadded = 24 + 8 + desc_segment + sum(8 + n for n in segments)
    return (unpadded + 16) // 16 * 16 + (32 if hash_appended else 0)


def _corrupt(data, offset, value):
    out = bytearray(data)
    out[offset] = value
    return bytes(out)


def _reason(data, **kw):
    return str(raises(appimage.AppImageError, appimage.validate, BytesDevice(data), **kw))


def test_parse_reads_header_descriptor_and_length():
    data = _image(version="2.5.1", secure_version=7, project_name="thermo", chip_id=9, idf_ver="v5.3")
    img = appimage.parse(BytesDevice(data))
    assert img.chip_id == 9
    assert img.segments == 1 + len(SEGMENTS)
    assert img.entry == 0x40081000
    assert img.flash_mode == 2 and img.flash_size == 4 * 1024 * 1024
    assert img.hash_appended
    assert (img.version, img.secure_version, img.project_name, img.idf_ver) == ("2.5.1", 7, "thermo", "v5.3")
    assert img.time == "12:00:00" and img.date == "Jan  1 2025"
    assert img.app_elf_sha256 == b"\x11" * 32
    assert img.image_length == len(data) == _expected_length(512, SEGMENTS, True)
    assert [s[2] for s in img.segment_table] == [512] + list(SEGMENTS)
    assert img.segment_table[0][:2] == (0x3C000020, 0x20)


def test_image_length_ignores_what_follows_the_image():
    data = _image()
    img = appimage.parse(BytesDevice(data + b"\xa5" * 5000))
    assert img.image_length == len(data)


def test_validate_accepts_a_good_image_and_reports_checksum_and_digest():
    data = _image()
    img = appimage.validate(BytesDevice(data + b"\xff" * 3000), chip_id=0)
    assert img.checksum == data[len(data) - 33]
    assert img.digest == data[-32:]


def test_validate_without_appended_hash():
    data = _image(hash_appended=False)
    img = appimage.validate(BytesDevice(data))
    assert not img.hash_appended and img.digest is None
    assert img.image_length == len(data) == _expected_length(512, SEGMENTS, False)
    assert img.checksum == data[-1]


def test_validate_reuses_a_caller_buffer():
    buf = bytearray(appimage.BLOCK)
    for version in ("1", "2"):
        assert appimage.validate(BytesDevice(_image(version=version)), buf=buf).version == version


def test_each_failed_check_is_named():
    data = _image()
    seg1 = 24 + 8 + 512  # header of the second segment
    assert _reason(_corrupt(data, 0, 0xE8)) == "magic"
    assert _reason(_corrupt(data, 1, 0)) == "segment count"
    assert _reason(_corrupt(data, 1, 17)) == "segment count"
    assert _reason(_corrupt(data, 0x20, 0x33)) == "app desc magic"
    assert _reason(_corrupt(data, seg1 + 4, data[seg1 + 4] + 1)) == "segment length"
    # A data byte changes the checksum; a header byte (not in the checksum) only the hash.
    assert _reason(_corrupt(data, seg1 + 100, data[seg1 + 100] ^ 1)) == "checksum"
    assert _reason(_corrupt(data, seg1, data[seg1] ^ 4)) == "hash"
    assert _reason(_corrupt(data, len(data) - 1, data[-1] ^ 1)) == "hash"
    assert _reason(data, chip_id=5) == "chip id"


def test_checksum_is_checked_without_appended_hash():
    data = _image(hash_appended=False)
    assert _reason(_corrupt(data, 24 + 8 + 512 + 8 + 7, data[24 + 8 + 512 + 8 + 7] ^ 0x80)) == "checksum"
    assert _reason(_corrupt(data, len(data) - 1, data[-1] ^ 1)) == "checksum"


def test_flash_mapped_segment_must_keep_its_page_offset():
    data = bytearray(_image())
    struct.pack_into("<I", data, 24, 0x3F400024)  # DROM load address 4 bytes off its flash offset
    assert _reason(bytes(data)) == "segment mapping"


def test_image_must_fit_its_limit():
    data = _image()
    assert appimage.validate(BytesDevice(data), limit=len(data)).image_length == len(data)
    assert _reason(data, limit=len(data) - 1) == "image too long"
    assert _reason(data[:len(data) - 40]) == "image too long"
    assert _reason(data[:5000]) == "image too long"
    assert str(raises(appimage.AppImageError, appimage.parse, BytesDevice(data[:100]))) == "truncated"
    huge = bytearray(data)
    struct.pack_into("<I", huge, 24 + 8 + 512 + 4, 0x800000)  # a segment far past the end
    assert _reason(bytes(huge)) == "image too long"


def test_erased_flash_is_not_an_image():
    assert _reason(b"\xff" * 8192) == "magic"


def test_bytes_device_reads_like_a_partition():
    dev = BytesDevice(bytes(range(256)) * 40)
    buf = bytearray(4)
    dev.readblocks(2, buf, 1)
    assert bytes(buf) == bytes([1, 2, 3, 4])
    assert dev.info()[3] == 10240 and dev.ioctl(4, 0) == 2 and dev.ioctl(5, 0) == 4096
    assert raises(OSError, dev.readblocks, 2, bytearray(4), 2045).args[0] == -260
    assert raises(OSError, dev.readblocks, 3, bytearray(1)).args[0] == -258
