"""The device chooses images by the custom fields `mpboot publish` writes: the two must agree.

The manifest here is the device's own Manifest object with its fields set by hand (publish copies
them from a verified image; building and signing one is publish's own tests' job)."""

import json

from mpboot.repo.publish import custom_fields
from mpboot_fw import image, tufclient


def _entry(board, chip_id, version, security_version, channel):
    m = image.Manifest()
    m.board, m.chip_id, m.version, m.security_version = board, chip_id, version, security_version
    m.payload_len, m.payload_sha256, m.created = 4, bytes(32), 1780000000
    custom = json.loads(json.dumps(custom_fields(m, channel)))  # as it travels in targets.json
    return {"length": 4, "hashes": {"sha256": "00" * 32}, "custom": custom}


def test_find_image_reads_what_publish_writes():
    targets = {"targets": {
        "esp32-4mb/stable/1.2.0.mpb": _entry("esp32-4mb", 0, "1.2.0", 3, "stable"),
        "esp32/stable/1.3.0.mpb": _entry("", 0, "1.3.0", 2, "stable"),
        "esp32-4mb/beta/2.0.0-rc.1.mpb": _entry("esp32-4mb", 0, "2.0.0-rc.1", 3, "beta"),
    }}
    assert tufclient.find_image(targets, 0, "esp32-4mb", "stable", 0, "1.1.0")[0] == "esp32/stable/1.3.0.mpb"
    assert tufclient.find_image(targets, 0, "esp32-4mb", "stable", 3, "1.1.0")[0] == "esp32-4mb/stable/1.2.0.mpb"
    assert tufclient.find_image(targets, 0, "esp32-4mb", "beta", 3, "1.3.0")[0] == "esp32-4mb/beta/2.0.0-rc.1.mpb"
    assert tufclient.find_image(targets, 9, "esp32s3-8mb", "stable", 0) is None


def test_the_device_searches_the_directories_publish_writes_to():
    # publish: `<board, or the chip's name for a build for any board>/<channel>/<version>.mpb`
    from mpboot import boards

    assert tufclient.CHIP_GROUPS == {chip.chip_id: chip.name for chip in boards.CHIPS.values()}
    for name in boards.list_boards():
        board = boards.load_board(name)
        assert tufclient.directories(board.chip_id, board.name, "stable") == [
            board.name + "/stable/", board.chip + "/stable/"]
    assert tufclient.directories(77, "", "beta") == []  # an unknown chip and no board: nowhere
