"""A release larger than the device's slot (published by a repository that skipped mpboot
publish's size check, or for a board with larger slots under the same name) must not hide the
installable release below it: the updater passes over it without downloading a byte."""

from otaworld import output_line, world  # noqa: F401 (fixture)


def test_a_release_too_large_for_the_slot_is_passed_over(world):
    w = world
    w.publish("1.5.0")
    slot = w.board.board.app_slots[1].size
    custom = {"channel": "stable", "chip_id": 0, "board": "esp32-4mb", "security_version": 1, "version": "2.0.0"}
    w.forge(add=[("esp32-4mb/stable/2.0.0.mpb", b"\xe9" * (slot + 4096), custom)])
    install = w.boot()
    assert install.outcome == "reset", install.output
    trial = w.boot()
    assert (trial.slot, trial.app["version"]) == ("ota_1", "1.5.0")
    assert output_line(trial, "ota:") == "current"
    assert not [line for line in w.access if "2.0.0.mpb" in line]
    assert "ota-refused" not in [e[0] for e in w.ota_events()]
