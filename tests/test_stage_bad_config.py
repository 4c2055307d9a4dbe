"""A /mpboot.json that cannot be used, on the emulated board (real MicroPython): the stage logs
bad-config and runs with the defaults, never an unlogged Recovery, and the board check still
holds, from the running image's manifest, also when the file is gone.

Before: MicroPython's json.loads took text with a missing comma or bytes after a NUL (its
trial-only policy then applied, nothing logged), an int key made config raise TypeError (an
unlogged Recovery) and so did a state label no partition has; with the file bad or missing an image for another board installed.
"""

import pytest

from bootstage import BOARD, HEALTH, MAIN, ROOT, app_line, board, events, provisioned, signed, state, state_dev
from emuboard import new_flash
from mpboot import manualinstall, provision
from mpboot_fw import statelog

from test_stage import V1, assert_on_v1

GOOD = '"board": "esp32-4mb", "chip_id": 0, "health": "app_health:check"'
BAD = {
    "no comma": ('{' + GOOD + ' "policy": "trial-only"}', "not JSON"),
    "bytes after a NUL": ('{' + GOOD + ', "policy": "trial-only"}\x00{"policy": "x"}', "not JSON"),
    "an int key": ('{' + GOOD + ', 1: "trial-only"}', "not JSON"),
    "a lone surrogate": ('{' + GOOD + ', "channel": "\\ud800"}', "channel must be text of 1-32 printable ASCII characters"),
    "a misspelt field": ('{' + GOOD + ', "polcy": "trial-only"}', "unknown field polcy"),
    "no such state partition": ('{' + GOOD + ', "policy": "trial-only", "state": "mpbot"}', "state: no partition mpbot"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_config_is_logged_and_every_boot_applies(micropython, case):
    text, why = BAD[case]
    flash = provisioned(V1, files={"/mpboot.json": text.encode()})
    record = board(flash, micropython).boot()
    assert record.outcome == "ok" and app_line(record) == ("ota_0", "1.0.0"), record.text
    assert "mpboot: boot 1: ota_0 1.0.0 sv1 verified" in record.output  # every-boot, not trial-only
    assert events(flash) == [("bad-config", why, None)]


def test_with_a_misspelt_field_an_image_for_another_board_is_refused(micropython):
    flash = provisioned(V1, files={"/mpboot.json": ('{' + GOOD + ', "polcy": "every-boot"}').encode()})
    b = board(flash, micropython)
    result = manualinstall.install(b, signed("2.0.0", 2, board="esp32-wrover"))
    assert not result.accepted
    assert [(e["code"], e["reason"]) for e in result.events] == [("bad-config", "unknown field polcy"),
                                                                 ("refused", "wrong-board")]
    assert_on_v1(b)
    assert manualinstall.install(b, signed("2.0.0", 2)).accepted  # this board's image still installs


def _without_config(files=None):
    """A provisioned flash (v1 in ota_0, the test app) with no /mpboot.json, plus `files`."""
    device = provision.device_files(BOARD, {"/main.py": MAIN, "/app_health.py": HEALTH})
    del device["/mpboot.json"]
    device.update(files or {})
    flash = new_flash(device, slots={0: V1})
    statelog.format_partition(state_dev(flash), ROOT, floor=1)
    return flash


def test_without_a_config_file_the_board_check_holds(micropython):
    flash = _without_config()
    b = board(flash, micropython)
    result = manualinstall.install(b, signed("2.0.0", 2, board="esp32-wrover"))
    assert not result.accepted and [(e["code"], e["reason"]) for e in result.events] == [("refused", "wrong-board")]
    assert_on_v1(b)


def test_a_config_that_cannot_be_read_is_logged_not_taken_for_a_missing_one(micropython):
    flash = _without_config({"/mpboot.json/x": b"{}"})  # a directory where the file belongs
    record = board(flash, micropython).boot()
    assert record.outcome == "ok" and app_line(record) == ("ota_0", "1.0.0"), record.text
    [(code, why, _)] = events(flash)
    assert code == "bad-config" and why.startswith("cannot "), why
