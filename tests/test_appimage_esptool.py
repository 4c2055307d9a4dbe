"""appimage against esptool (the oracle) on the real MicroPython firmware and corrupted copies.

esptool's `image-info` prints each check's verdict; its `LoadFirmwareImage` gives the segment
table and the length it hashes. appimage must agree on every field and every verdict.
"""

import re
import subprocess
import sys

import pytest
from esptool.bin_image import LoadFirmwareImage

import appbuilder  # tests/device is on sys.path (conftest.py)
from mpboot_fw import appimage
from mpboot_fw.blockdev import BytesDevice
from realfirmware import micropython_app


def image_info(tmp_path, data, chip="esp32"):
    path = tmp_path / "app.bin"
    path.write_bytes(data)
    out = subprocess.run([sys.executable, "-m", "esptool", "--chip", chip, "image-info", str(path)],
                         capture_output=True, text=True)
    return out.stdout + out.stderr


def field(text, name):
    m = re.search(r"^%s: (.*)$" % re.escape(name), text, re.M)
    return m.group(1).strip() if m else None


@pytest.fixture(scope="module")
def real_app():
    return micropython_app()


def test_real_firmware_agrees_with_esptool(tmp_path, real_app):
    info = image_info(tmp_path, real_app)
    oracle = LoadFirmwareImage("esp32", real_app)
    img = appimage.validate(BytesDevice(real_app), limit=0x180000, chip_id=0)

    assert field(info, "Checksum") == "0x%02x (valid)" % img.checksum
    assert field(info, "Validation hash") == "%s (valid)" % img.digest.hex()
    assert int(field(info, "Segments")) == img.segments == len(oracle.segments)
    assert int(field(info, "Entry point"), 16) == img.entry
    assert field(info, "Chip ID").startswith("%d " % img.chip_id)
    assert field(info, "ESP-IDF") == img.idf_ver
    assert field(info, "Compile time") == "%s %s" % (img.date, img.time)
    assert field(info, "ELF file SHA256") == img.app_elf_sha256.hex()
    assert int(field(info, "Secure version")) == img.secure_version
    assert (field(info, "App version") or "") == img.version
    assert (field(info, "Project name") or "") == img.project_name
    assert [(s.addr, s.file_offs + 8, len(s.data)) for s in oracle.segments] == list(img.segment_table)
    assert img.image_length == oracle.data_length + 32
    assert img.checksum == oracle.checksum == oracle.calculate_checksum()
    assert img.digest == oracle.stored_digest == oracle.calc_digest


def test_real_firmware_is_too_big_for_a_smaller_slot(real_app):
    with pytest.raises(appimage.AppImageError, match="image too long"):
        appimage.validate(BytesDevice(real_app), limit=0x100000)


def flip(data, offset):
    out = bytearray(data)
    out[offset] ^= 0x01
    return bytes(out)


def test_corrupted_real_firmware_verdicts_match_esptool(tmp_path, real_app):
    oracle = LoadFirmwareImage("esp32", real_app)
    first, irom = oracle.segments[0], oracle.segments[4]
    cases = {
        # a byte inside segment data: esptool's checksum turns invalid, and so does the hash
        "data": flip(real_app, irom.file_offs + 8 + 1000),
        # a segment header byte: only the hash sees it
        "header": flip(real_app, first.file_offs + 2),
        # the appended hash itself
        "digest": flip(real_app, oracle.data_length + 5),
    }
    for name, data in cases.items():
        info = image_info(tmp_path, data)
        checksum_ok = field(info, "Checksum").endswith("(valid)")
        hash_ok = field(info, "Validation hash").endswith("(valid)")
        assert not (checksum_ok and hash_ok), name
        with pytest.raises(appimage.AppImageError) as e:
            appimage.validate(BytesDevice(data))
        # ESP-IDF checks the checksum before the hash; the verdict names the first that fails.
        assert str(e.value) == ("hash" if checksum_ok else "checksum"), name


def test_bad_magic_is_refused_by_both(tmp_path, real_app):
    data = b"\x00" + real_app[1:]
    assert "invalid magic number" in image_info(tmp_path, data)
    with pytest.raises(appimage.AppImageError, match="magic"):
        appimage.parse(BytesDevice(data))


@pytest.mark.parametrize("chip,chip_id", [("esp32", 0), ("esp32s3", 9), ("esp32c3", 5)])
def test_synthetic_images_agree_with_esptool(tmp_path, chip, chip_id):
    data = appbuilder.build(version="3.1.4", secure_version=2, chip_id=chip_id, data_segments=(4100, 600))
    info = image_info(tmp_path, data, chip)
    img = appimage.validate(BytesDevice(data), chip_id=chip_id)
    assert field(info, "Checksum") == "0x%02x (valid)" % img.checksum
    assert field(info, "Validation hash") == "%s (valid)" % img.digest.hex()
    assert field(info, "App version") == img.version == "3.1.4"
    assert int(field(info, "Secure version")) == img.secure_version == 2
    assert LoadFirmwareImage(chip, data).data_length + 32 == img.image_length == len(data)
