"""A trial that fails while the previous image fails verification too (here a bit flipped in its
manifest signature, which ESP-IDF's own checks do not see; a root rotation that dropped its key
does the same): the stage must hold the application back, not switch to the image whose trial
just failed. Before, it switched, the trial failed again and rolled back, and the device reset
between the two without end, writing the state log on every boot."""

from bootstage import BOARD, app, app_line, board, events, provisioned, signed, state
from mpboot import manualinstall
from mpboot_fw import image

V1 = signed("1.0.0", 1)
M1 = image.manifest_offset(len(app("1.0.0", 1)))


def test_a_failed_trial_over_a_failing_previous_image_ends_in_recovery(micropython):
    b = board(provisioned(V1), micropython)
    b.boot()
    addr = BOARD.partition("ota_0").offset + M1 + 128 + 4 + 32 + 5  # a byte of v1's signature
    b.flash.load(addr, bytes([b.flash.mem[addr] ^ 0x40]))
    result = manualinstall.install(b, signed("fail-2.0.0", 2), max_boots=8)
    assert [(r.slot, r.outcome) for r in result.boots] == [("ota_0", "reset"), ("ota_1", "reset"),
                                                          ("ota_0", "exception")], result.boots
    since = state(b.flash).boot_count
    record = b.boot()  # stays there: no reset
    assert (record.slot, record.outcome, app_line(record)) == ("ota_0", "exception", None), record.text
    assert "Recovery: no verified image: ota_0 signature-threshold, ota_1 rolled-back" in record.text
    assert events(b.flash, since) == [("rolled-back", "not confirmed", "ota_1 fail-2.0.0"),
                                      ("boot-refused", "signature-threshold", "ota_0"),
                                      ("recovery", "rolled-back", "ota_1")]
    assert state(b.flash).floor == 1
    # A manual install still works from recovery, into the abandoned slot.
    result = manualinstall.install(b, signed("3.0.0", 3))
    assert result.accepted and result.running == "ota_1", result.reason
    assert app_line(b.boot()) == ("ota_1", "3.0.0") and state(b.flash).pending is None
