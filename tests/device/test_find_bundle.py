# The updater's choice of a bundle among trusted targets (tufclient.find_bundle), and that the
# image choice never takes a bundle's manifest for a firmware image (the two share directories).
from mpboot_fw import tufclient

MPY = 6 | 0x0A00  # sys.implementation._mpy: the major version in the low byte, flags above


def _bundle(version, name="app", board="esp32-4mb", chip_id=0, security=1, mpy=None, min_firmware=None,
            channel="stable"):
    custom = {"bundle": name, "channel": channel, "board": board, "chip_id": chip_id, "version": version,
              "security_version": security, "mpy": mpy, "min_firmware": min_firmware, "files": 2, "total": 100}
    return {"length": 900, "hashes": {"sha256": "00" * 32}, "custom": custom}


def _pick(entries, name="app", floor=0, current=None, mpy=MPY, firmware="2.0.0", board="esp32-4mb", chip_id=0,
          channel="stable"):
    found = tufclient.find_bundle({"targets": entries}, name, channel, board, chip_id, floor, current, mpy, firmware)
    return None if found is None else found[0]


def test_the_newest_newer_version_of_that_bundle_is_chosen():
    entries = {
        "esp32-4mb/stable/app-1.0.0.mpbm": _bundle("1.0.0"),
        "esp32-4mb/stable/app-1.2.0.mpbm": _bundle("1.2.0"),
        "esp32-4mb/stable/app-1.10.0.mpbm": _bundle("1.10.0"),
        "esp32-4mb/stable/other-9.0.0.mpbm": _bundle("9.0.0", name="other"),
        "esp32-4mb/beta/app-3.0.0.mpbm": _bundle("3.0.0", channel="beta"),
    }
    assert _pick(entries) == "esp32-4mb/stable/app-1.10.0.mpbm"
    assert _pick(entries, current="1.10.0") is None
    assert _pick(entries, current="1.2.0") == "esp32-4mb/stable/app-1.10.0.mpbm"
    assert _pick(entries, name="other") == "esp32-4mb/stable/other-9.0.0.mpbm"
    assert _pick(entries, channel="beta") == "esp32-4mb/beta/app-3.0.0.mpbm"
    assert _pick(entries, name="none") is None


def test_board_and_chip_any_or_equal():
    entries = {
        "esp32-4mb/stable/app-1.0.0.mpbm": _bundle("1.0.0"),
        "esp32/stable/app-1.1.0.mpbm": _bundle("1.1.0", board=""),
        "esp32s3-8mb/stable/app-5.0.0.mpbm": _bundle("5.0.0", board="esp32s3-8mb", chip_id=9),
        "esp32-4mb/stable/app-1.2.0.mpbm": _bundle("1.2.0", board="", chip_id=None),
        "esp32c3/stable/app-4.0.0.mpbm": _bundle("4.0.0", board="", chip_id=5),
    }
    assert _pick(entries) == "esp32-4mb/stable/app-1.2.0.mpbm"  # any board, any chip
    assert _pick(entries, chip_id=9, board="esp32s3-8mb") == "esp32s3-8mb/stable/app-5.0.0.mpbm"
    assert _pick(entries, chip_id=5, board="esp32c3-4mb") == "esp32c3/stable/app-4.0.0.mpbm"
    assert _pick(entries, chip_id=9, board="other-s3") == "esp32-4mb/stable/app-1.2.0.mpbm"


def test_the_security_floor_is_the_bundles_own():
    entries = {
        "esp32-4mb/stable/app-2.0.0.mpbm": _bundle("2.0.0", security=1),
        "esp32-4mb/stable/app-1.5.0.mpbm": _bundle("1.5.0", security=3),
    }
    assert _pick(entries, floor=1) == "esp32-4mb/stable/app-2.0.0.mpbm"
    assert _pick(entries, floor=2) == "esp32-4mb/stable/app-1.5.0.mpbm"
    assert _pick(entries, floor=4) is None


def test_a_release_this_firmware_cannot_run_does_not_hide_the_one_below():
    entries = {
        "esp32-4mb/stable/app-3.0.0.mpbm": _bundle("3.0.0", min_firmware="3.0.0"),
        "esp32-4mb/stable/app-2.5.0.mpbm": _bundle("2.5.0", mpy=5),
        "esp32-4mb/stable/app-2.0.0.mpbm": _bundle("2.0.0", mpy=6, min_firmware="2.0.0-rc.1"),
    }
    assert _pick(entries) == "esp32-4mb/stable/app-2.0.0.mpbm"
    assert _pick(entries, firmware="3.0.0") == "esp32-4mb/stable/app-3.0.0.mpbm"
    assert _pick(entries, mpy=5, firmware="2.0.0") == "esp32-4mb/stable/app-2.5.0.mpbm"
    # a firmware version that does not order meets no minimum; unknown ones are not checked
    assert _pick(entries, mpy=5, firmware="nightly") == "esp32-4mb/stable/app-2.5.0.mpbm"
    assert _pick(entries, mpy=None, firmware=None) == "esp32-4mb/stable/app-3.0.0.mpbm"


def test_ties_board_specific_first_then_the_smaller_path():
    for order in ((0, 1, 2), (2, 1, 0), (1, 2, 0)):
        paths = ("esp32-4mb/stable/app-2.0.0.mpbm", "esp32-4mb/stable/app-2.0.0+b.mpbm", "esp32/stable/app-2.0.0.mpbm")
        made = (_bundle("2.0.0", board=""), _bundle("2.0.0+b"), _bundle("2.0.0", board=""))
        entries = {}
        for i in order:
            entries[paths[i]] = made[i]
        assert _pick(entries) == paths[1], order  # the one for this board, whatever the order
        del entries[paths[1]]
        assert _pick(entries) == paths[0], order  # then by path, not by dict order


def test_malformed_entries_are_skipped():
    good = _bundle("1.0.0")
    bad = []
    for key, value in (("version", "nightly"), ("version", 2), ("security_version", True), ("security_version", -1),
                       ("chip_id", "0"), ("chip_id", True), ("board", None), ("mpy", "6"), ("mpy", -1),
                       ("min_firmware", "x.y"), ("min_firmware", 1), ("channel", None)):
        entry = _bundle("9.0.0")
        entry["custom"][key] = value
        bad.append(entry)
    entries = {"esp32-4mb/stable/app-1.0.0.mpbm": good, "esp32-4mb/stable/x.mpbm": "not an entry",
               "esp32-4mb/stable/y.mpbm": {"custom": ["not", "an", "object"]}}
    for i, entry in enumerate(bad):
        entries["esp32-4mb/stable/app-9.0.%d.mpbm" % i] = entry
    assert _pick(entries) == "esp32-4mb/stable/app-1.0.0.mpbm"


def test_find_image_skips_bundles():
    image = {"length": 4000, "hashes": {"sha256": "00" * 32},
             "custom": {"channel": "stable", "chip_id": 0, "board": "esp32-4mb", "security_version": 1,
                        "version": "1.1.0"}}
    entries = {"esp32-4mb/stable/1.1.0.mpb": image, "esp32-4mb/stable/app-9.0.0.mpbm": _bundle("9.0.0")}
    path, _ = tufclient.find_image({"targets": entries}, 0, "esp32-4mb", "stable", 0, "1.0.0")
    assert path == "esp32-4mb/stable/1.1.0.mpb", path
    del entries["esp32-4mb/stable/1.1.0.mpb"]
    assert tufclient.find_image({"targets": entries}, 0, "esp32-4mb", "stable", 0, "1.0.0") is None


def test_a_version_whose_trial_failed_is_passed_over_for_the_next_newest():
    # The updater's failed= (versions its event log shows rolled back on this device).
    entries = {
        "esp32-4mb/stable/app-1.1.0.mpbm": _bundle("1.1.0"),
        "esp32-4mb/stable/app-2.0.0.mpbm": _bundle("2.0.0"),
        "esp32-4mb/stable/app-2.0.0-x.mpbm": _bundle("2.0.0", board=""),
    }
    pick = tufclient.find_bundle({"targets": entries}, "app", "stable", "esp32-4mb", 0, 0, "1.0.0", MPY, "2.0.0",
                                 ("2.0.0",))
    assert pick[0] == "esp32-4mb/stable/app-1.1.0.mpbm"
    assert tufclient.find_bundle({"targets": entries}, "app", "stable", "esp32-4mb", 0, 0, "1.0.0", MPY, "2.0.0",
                                 ("2.0.0", "1.1.0")) is None
    image = {"length": 900, "hashes": {"sha256": "00" * 32},
             "custom": {"channel": "stable", "chip_id": 0, "board": "esp32-4mb", "version": "3.0.0",
                        "security_version": 1}}
    images = {"esp32-4mb/stable/3.0.0.mpb": image}
    assert tufclient.find_image({"targets": images}, 0, "esp32-4mb", "stable", 0, "2.0.0")[0] == "esp32-4mb/stable/3.0.0.mpb"
    assert tufclient.find_image({"targets": images}, 0, "esp32-4mb", "stable", 0, "2.0.0", None, ("3.0.0",)) is None
