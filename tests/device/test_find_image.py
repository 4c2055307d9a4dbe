# The updater's choice among trusted targets: a release too large for this device's slot is
# passed over for the next one down, instead of being refused on every check while the
# installable release below it waits for ever.
from mpboot_fw import tufclient


def _entry(version, length, board="esp32-4mb", security=1):
    custom = {"channel": "stable", "chip_id": 0, "board": board, "security_version": security, "version": version}
    return {"length": length, "hashes": {"sha256": "00" * 32}, "custom": custom}


TARGETS = {"targets": {
    "esp32-4mb/stable/2.0.0.mpb": _entry("2.0.0", 2000000),
    "esp32-4mb/stable/1.5.0.mpb": _entry("1.5.0", 1500000),
    "esp32-4mb/stable/1.9.0.mpb": _entry("1.9.0", "big"),  # not a length: never fits
}}
SLOT = 0x180000


def test_the_newest_release_that_fits_the_slot_is_chosen():
    path, entry = tufclient.find_image(TARGETS, 0, "esp32-4mb", "stable", 1, "1.0.0", SLOT)
    assert path == "esp32-4mb/stable/1.5.0.mpb", path
    assert entry["length"] <= SLOT


def test_nothing_fits_means_nothing_to_install():
    assert tufclient.find_image(TARGETS, 0, "esp32-4mb", "stable", 1, "1.0.0", 1000) is None


def test_without_a_room_the_newest_is_chosen():
    path, _ = tufclient.find_image(TARGETS, 0, "esp32-4mb", "stable", 1, "1.0.0")
    assert path == "esp32-4mb/stable/2.0.0.mpb", path


def test_a_tie_is_decided_by_path_not_by_dict_order():
    for order in ((0, 1), (1, 0)):
        paths = ("esp32-4mb/stable/a.mpb", "esp32-4mb/stable/b.mpb")
        targets = {"targets": {}}
        for i in order:
            targets["targets"][paths[i]] = _entry("2.0.0", 1000)
        path, _ = tufclient.find_image(targets, 0, "esp32-4mb", "stable", 1, "1.0.0", SLOT)
        assert path == paths[0], (order, path)
