"""The floor holds under the trial-only policy too. When the confirmed image's slot no longer
loads (bit rot), the bootloader falls back to the other slot, which holds the previous release,
below the floor: it must not run unchecked. The stage reads its manifest (no hash, no signature:
the cost of trial-only stays a few hundred bytes read) and refuses it as on every-boot."""

from bootstage import BOARD, app_line, board, events, provisioned, signed, state
from mpboot import manualinstall

V1 = signed("1.0.0", 1)
V2 = signed("2.0.0", 2)


def corrupt(flash, slot, offset):
    addr = BOARD.partition(slot).offset + offset
    flash.load(addr, bytes([flash.mem[addr] ^ 0x40]))


def test_trial_only_refuses_a_fallback_to_an_image_below_the_floor(micropython):
    b = board(provisioned(V1, policy="trial-only"), micropython)
    assert app_line(b.boot()) == ("ota_0", "1.0.0")
    assert manualinstall.install(b, V2).accepted  # floor 2; ota_0 keeps v1 (security version 1)
    assert app_line(b.boot()) == ("ota_1", "2.0.0")
    corrupt(b.flash, "ota_1", 5000)  # the bootloader falls back to ota_0
    since = state(b.flash).boot_count
    record = b.boot()
    assert record.slot == "ota_0" and app_line(record) is None, record.text  # main.py never ran
    assert "Recovery: no verified image: ota_0 downgrade, ota_1 payload-hash" in record.text
    assert events(b.flash, since) == [("boot-refused", "downgrade", "ota_0"), ("recovery", "payload-hash", "ota_1")]


def test_trial_only_still_runs_an_image_at_the_floor_unchecked(micropython):
    b = board(provisioned(V1, policy="trial-only"), micropython)
    record = b.boot()
    assert app_line(record) == ("ota_0", "1.0.0")
    assert "mpboot: boot 1: ota_0 runs unchecked (trial-only policy)" in record.output
