"""The device chooses images and bundles by the custom fields `mpboot publish` writes: the two
must agree.

For images the manifest here is the device's own Manifest object with its fields set by hand
(publish copies them from a verified image; building and signing one is publish's own tests'
job). Bundles are built, signed and published for real, and read back by the device's TUF client."""

import json
import time

from mpboot import keys
from mpboot.repo import delegations, publish as publish_mod
from mpboot.repo.publish import custom_fields
from mpboot.repo.store import Repository
from mpboot_fw import image, tuf as device_tuf, tufclient
from repotest import device_fetch, key_dir, keyring, make_bundle, make_repo, write_image


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


def test_find_bundle_picks_what_publish_writes(tmp_path):
    # Real bundles and an image published by `mpboot publish` into one repository (a role per
    # board for one of the boards), read back by the device's own TUF client (refresh and the
    # directory search the updater makes), then chosen by find_bundle / find_image.
    repo = make_repo(tmp_path / "repo")
    keys.generate_keypair(tmp_path / "s3.pem")
    delegations.delegate(repo, keyring(repo), "esp32s3-8mb", ["esp32s3-8mb/*/*"], [tmp_path / "s3.pem"])

    def put(source, **options):
        r = Repository(repo.dir)
        return publish_mod.publish(r, keyring(r), source, options.pop("channel", "stable"), **options)["target"]

    b100 = put(make_bundle(repo, tmp_path, "1.0.0", 1))
    b110 = put(make_bundle(repo, tmp_path, "1.1.0", 2, mpy=6, min_firmware="2.0.0"))
    generic = put(make_bundle(repo, tmp_path, "1.0.5", 1, board=None, chip_id=None), board="esp32-4mb", force=True)
    chipwide = put(make_bundle(repo, tmp_path, "1.2.0", 2, board=None, chip_id=0))
    s3 = put(make_bundle(repo, tmp_path, "3.0.0", 1, board="esp32s3-8mb", chip_id=9))
    beta = put(make_bundle(repo, tmp_path, "2.0.0-rc.1", 2), channel="beta")
    lib = put(make_bundle(repo, tmp_path, "0.1.0", 0, name="lib"))
    image = put(write_image(tmp_path / "img.mpb", [key_dir(repo.dir) / "targets.pem"], version="1.5.0"))

    def device(board, chip_id, channel="stable"):
        root = (repo.dir / "metadata" / "1.root.json").read_bytes()
        fetch = device_fetch(repo.dir)
        trusted = device_tuf.TrustedSet(root, int(time.time()))
        tufclient.refresh(trusted, fetch, _NoStore())
        found = {}
        for directory in tufclient.directories(chip_id, board, channel):
            found.update(tufclient.find_targets(trusted, fetch, None, directory))
        return {"targets": json.loads(json.dumps(found))}

    c3 = device("esp32-4mb", 0)
    assert set(c3["targets"]) == {b100, b110, generic, chipwide, lib, image}

    def pick(targets, name="app", floor=0, current=None, mpy=6, firmware="2.0.0", board="esp32-4mb", chip_id=0,
             channel="stable"):
        found = tufclient.find_bundle(targets, name, channel, board, chip_id, floor, current, mpy, firmware)
        return None if found is None else found[0]

    assert pick(c3) == chipwide  # 1.2.0, for any board of the esp32
    assert pick(c3, firmware="1.0.0") == chipwide
    assert pick(c3, current="1.2.0") is None
    assert pick(c3, floor=2, mpy=5, firmware="1.0.0") == chipwide
    assert pick(c3, name="lib") == lib
    assert tufclient.find_image(c3, 0, "esp32-4mb", "stable", 0, "1.0.0")[0] == image
    del c3["targets"][chipwide]
    assert pick(c3) == b110
    assert pick(c3, mpy=5) == generic  # 1.1.0 needs .mpy 6; 1.0.5 (any board, any chip) is next
    assert pick(c3, firmware="1.9.0") == generic
    assert pick(c3, floor=2, firmware="1.9.0") is None
    assert pick(c3, floor=1, current="1.0.0", mpy=5) == generic
    found = tufclient.find_bundle(c3, "app", "stable", "esp32-4mb", 0, 0, None, 6, "2.0.0")
    assert found[1]["custom"]["files"] == 3 and found[1]["length"] > 0
    s3_device = device("esp32s3-8mb", 9)
    assert pick(s3_device, board="esp32s3-8mb", chip_id=9) == s3  # listed by the board's delegated role
    assert tufclient.find_image(s3_device, 9, "esp32s3-8mb", "stable", 0) is None
    assert pick(device("esp32-4mb", 0, "beta"), channel="beta") == beta


class _NoStore:
    def load(self, role):
        return None

    def save(self, role, data):
        pass
