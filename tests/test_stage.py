"""The boot stage and the manual installer on the emulated board (real MicroPython, ESP-IDF's
bootloader rules, NOR flash): install -> trial boot -> confirm, every refusal the issue lists,
trial boots that fail, and normal boots that find a bad image. Each scenario reads the verdict
from the device's own state log and checks which image runs afterwards.

The "crash before confirming" image uses the emulated board's `faults` hook: it stands in for
native code that panics, which cannot run here (the emulator runs MicroPython, not the image's
Xtensa code).
"""

import pytest

from bootstage import (BOARD, RELEASE, RELEASE2, STRANGER, app, app_line, board, events, make_root, provisioned,
                       signed, slot_manifest, state)
from mpboot import manualinstall
from mpboot.emulator.flash import CutPlan, NorFlash
from mpboot_fw import image

V1 = signed("1.0.0", 1)
V2 = signed("2.0.0", 2)
M2 = image.manifest_offset(len(app("2.0.0", 2)))


def flipped(data, offset):
    out = bytearray(data)
    out[offset] ^= 0x01
    return bytes(out)


def booted(runtime, first=V1, **kw):
    """A provisioned board after its first boot (v1 verified, the app ran)."""
    faults = kw.pop("faults", None)
    timeout = kw.pop("run_timeout", 5.0)
    b = board(provisioned(first, **kw), runtime, faults=faults, run_timeout=timeout)
    record = b.boot()
    assert record.outcome == "ok" and app_line(record) == ("ota_0", "1.0.0"), record.text
    return b


def assert_on_v1(b, floor=1):
    """The device is back on its good image: the app runs v1 from ota_0, nothing pending."""
    record = b.boot()
    assert record.outcome == "ok" and app_line(record) == ("ota_0", "1.0.0"), record.text
    st = state(b.flash)
    assert st.floor == floor and st.pending is None


def test_first_boot_verifies_the_image_and_runs_the_app(micropython):
    b = booted(micropython)
    assert "mpboot: boot 1: ota_0 1.0.0 sv1 verified" in b.records[0].output
    st = state(b.flash)
    assert (st.boot_count, st.floor, st.pending, list(st.events())) == (1, 1, None, [])


def test_install_trial_boot_and_confirmation(micropython):
    b = booted(micropython)
    result = manualinstall.install(b, V2)
    assert result.accepted, result.reason
    assert (result.running, result.floor, result.reason) == ("ota_1", 2, "confirmed ota_1 2.0.0 sv2")
    assert [(e["boot"], e["code"]) for e in result.events] == [(2, "installed"), (3, "verified"), (3, "confirmed")]
    # install resets into the trial boot; the trial boot confirms and restarts without the
    # health check's watchdog; then the application runs on v2.
    assert [(r.slot, r.outcome) for r in result.boots] == [("ota_0", "reset"), ("ota_1", "reset"), ("ota_1", "ok")]
    assert app_line(result.boots[-1]) == ("ota_1", "2.0.0")
    again = b.boot()
    assert app_line(again) == ("ota_1", "2.0.0") and "mpboot: boot 5: ota_1 2.0.0 sv2 verified" in again.output
    assert events(b.flash, since=3) == [] and state(b.flash).pending is None


def test_install_without_health_check_continues_to_the_app(micropython):
    b = booted(micropython, health=False)
    result = manualinstall.install(b, V2)
    assert result.accepted, result.reason
    assert [(r.slot, r.outcome) for r in result.boots] == [("ota_0", "reset"), ("ota_1", "ok")]
    assert app_line(result.boots[-1]) == ("ota_1", "2.0.0")


REFUSALS = {
    "flipped payload byte": (flipped(V2, 5000), "payload-hash"),
    "flipped manifest byte": (flipped(V2, M2 + 20), "signature-threshold"),
    "flipped signature byte": (flipped(V2, M2 + 128 + 4 + 32 + 10), "signature-threshold"),
    "key the root does not authorize": (signed("2.0.0", 2, keys=(STRANGER,)), "signature-threshold"),
    "security version below the floor": (signed("0.9.0", 0), "downgrade"),
    "another board": (signed("2.0.0", 2, board="esp32-wrover"), "wrong-board"),
    "another chip": (signed("2.0.0", 2, board="", chip_id=9), "wrong-chip"),
    "truncated": (V2[:len(V2) * 2 // 3], "truncated"),
    "larger than the slot": (signed("2.0.0", 2, size=BOARD.partition("ota_1").size), "too-large"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refused_images_leave_the_device_on_its_good_image(micropython, case):
    data, reason = REFUSALS[case]
    b = booted(micropython)
    result = manualinstall.install(b, data)
    assert not result.accepted
    assert result.events[0]["code"] == "refused" and result.events[0]["reason"] == reason, result.events
    assert result.reason.startswith("refused " + reason)
    assert [(r.slot, r.outcome) for r in result.boots] == [("ota_0", "ok")]  # no reset, no switch
    assert_on_v1(b)


def test_signatures_below_the_threshold_are_refused(micropython):
    root = make_root(targets=(RELEASE, RELEASE2), threshold=2)
    b = booted(micropython, first=signed("1.0.0", 1, keys=(RELEASE, RELEASE2)), root=root)
    result = manualinstall.install(b, signed("2.0.0", 2, keys=(RELEASE,)))
    assert (result.events[0]["code"], result.events[0]["reason"]) == ("refused", "signature-threshold")
    assert manualinstall.install(b, signed("2.0.0", 2, keys=(RELEASE, RELEASE2))).accepted


def test_downgrade_to_the_previous_release_is_refused_once_the_floor_rose(micropython):
    b = booted(micropython)
    assert manualinstall.install(b, V2).accepted
    result = manualinstall.install(b, V1)  # correctly signed, security version 1 < floor 2
    assert (result.events[0]["code"], result.events[0]["reason"]) == ("refused", "downgrade")
    assert result.running == "ota_1" and state(b.flash).floor == 2


TRIAL_FAILURES = {
    # version of the new image: (what the trial boot logs after "installed", how it ends)
    "fail-2.0.0": ([("verified", ""), ("trial-failed", "health-failed")], "reset"),
    "raise-2.0.0": ([("verified", ""), ("trial-failed", "health-error")], "reset"),
    # over the time limit: the watchdog resets the device before anything more is logged
    "slow-2.0.0": ([("verified", "")], "wdt"),
    "hang-2.0.0": ([("verified", "")], "hang"),
    "crash-2.0.0": ([], "panic"),
}


@pytest.mark.parametrize("version", sorted(TRIAL_FAILURES))
def test_a_trial_boot_that_fails_rolls_back_to_the_previous_image(micropython, version):
    logged, outcome = TRIAL_FAILURES[version]
    b = booted(micropython, faults={"crash-2.0.0": "panic"}, run_timeout=3.0)
    result = manualinstall.install(b, signed(version, 2))
    assert not result.accepted
    assert [(r.slot, r.outcome) for r in result.boots] == [("ota_0", "reset"), ("ota_1", outcome), ("ota_0", "ok")]
    codes = [(e["code"], e["reason"]) for e in result.events]
    assert codes == [("installed", "")] + logged + [("rolled-back", "not confirmed")]
    failed = [" ".join(c) for c in logged if c[0] == "trial-failed"]
    assert result.reason.startswith(failed[0] if failed else "rolled-back not confirmed ota_1 " + version)
    assert_on_v1(b)


def test_a_repeated_trial_that_fails_selects_the_previous_slot_itself(micropython):
    # The first trial's confirmation is cut right after otadata said VALID: the bootloader will
    # not roll that image back any more. Its second trial fails the health check, so the stage
    # selects the previous slot with set_boot before resetting.
    image = signed("flaky-2.0.0", 2)
    base = booted(micropython).flash.mem
    probe = board(NorFlash(data=base), micropython)
    probe.flash.reset_log()
    assert manualinstall.install(probe, image).accepted
    otadata = BOARD.otadata
    writes = [op[0] for op in probe.flash.ops if otadata.offset <= op[2] < otadata.offset + otadata.size]
    mark_valid = writes[5]  # set_boot (erase, write), bootloader PENDING_VERIFY (2), then this erase+write
    flash = NorFlash(data=base)
    flash.cut = CutPlan(mark_valid, "after")
    b = board(flash, micropython)
    result = manualinstall.install(b, image)
    assert not result.accepted
    assert [(r.slot, r.outcome) for r in result.boots] == [
        ("ota_0", "reset"), ("ota_1", "power_cut"), ("ota_1", "reset"), ("ota_0", "ok")]
    assert [(e["code"], e["reason"]) for e in result.events] == [
        ("installed", ""), ("verified", ""), ("verified", ""), ("trial-failed", "health-failed"),
        ("rolled-back", "not confirmed")]
    assert_on_v1(b)
    assert [app_line(r) for r in b.run(2)] == [("ota_0", "1.0.0")] * 2  # the stage confirmed ota_0 again


def corrupt(flash, slot, offset):
    """Flip one bit in `slot` at `offset`, as bit rot would (outside the device's writes)."""
    addr = BOARD.partition(slot).offset + offset
    flash.load(addr, bytes([flash.mem[addr] ^ 0x40]))


def test_a_running_image_that_fails_verification_is_replaced_by_the_other_slot(micropython):
    b = booted(micropython)
    assert manualinstall.install(b, signed("1.1.0", 1)).accepted  # same security version: v1 stays allowed
    # A bit flips in ota_1's signature: ESP-IDF's bootloader still boots the app, the stage refuses it.
    corrupt(b.flash, "ota_1", image.manifest_offset(len(app("1.1.0", 1))) + 128 + 4 + 32 + 5)
    since = state(b.flash).boot_count
    switched, after = b.boot(), b.boot()
    assert (switched.slot, switched.outcome) == ("ota_1", "reset")
    assert (after.slot, after.outcome, app_line(after)) == ("ota_0", "ok", ("ota_0", "1.0.0"))
    assert events(b.flash, since) == [("boot-refused", "signature-threshold", "ota_1"),
                                      ("switched", "", "ota_0 1.0.0 sv1")]
    # The stage confirmed ota_0 on that boot: the bootloader keeps it from now on.
    assert [(r.slot, app_line(r)) for r in b.run(2)] == [("ota_0", ("ota_0", "1.0.0"))] * 2


def test_bit_rot_in_the_app_is_caught_by_the_bootloader_and_the_fallback_is_verified(micropython):
    b = booted(micropython)
    assert manualinstall.install(b, signed("1.1.0", 1)).accepted
    corrupt(b.flash, "ota_1", 5000)  # app bytes: ESP-IDF's checksum fails, it boots ota_0 instead
    record = b.boot()
    assert "ota_1 is not bootable: image checksum check failed" in record.bootloader
    assert "mpboot: boot 5: ota_0 1.0.0 sv1 verified" in record.output and app_line(record) == ("ota_0", "1.0.0")


def test_no_image_at_or_above_the_floor_holds_the_application_back(micropython):
    b = booted(micropython)
    assert manualinstall.install(b, V2).accepted  # floor 2; ota_0 keeps v1 (security version 1)
    corrupt(b.flash, "ota_1", 5000)  # the bootloader falls back to ota_0, below the floor
    since = state(b.flash).boot_count
    record = b.boot()
    assert record.slot == "ota_0" and record.outcome == "exception" and app_line(record) is None  # main.py never ran
    assert "Recovery: no verified image: ota_0 downgrade, ota_1 payload-hash" in record.text
    assert events(b.flash, since) == [("boot-refused", "downgrade", "ota_0"), ("recovery", "payload-hash", "ota_1")]
    # A manual install still works from recovery, into the other slot.
    result = manualinstall.install(b, signed("3.0.0", 3))
    assert result.accepted and result.running == "ota_1", result.reason
    assert app_line(result.boots[-1]) == ("ota_1", "3.0.0")


def test_trial_only_policy_skips_the_check_on_normal_boots(micropython):
    b = booted(micropython, policy="trial-only")
    assert "mpboot: boot 1: ota_0 runs unchecked (trial-only policy)" in b.records[0].output
    assert manualinstall.install(b, V2).accepted  # the trial boot still verifies
    corrupt(b.flash, "ota_1", M2 + 128 + 4 + 32 + 5)
    assert app_line(b.boot()) == ("ota_1", "2.0.0")  # the price of the policy: a bad signature goes unseen


def test_without_a_trust_anchor_nothing_runs(micropython):
    flash = provisioned(V1)
    flash.load(BOARD.partition("mpboot").offset, b"\xff" * BOARD.partition("mpboot").size)
    record = board(flash, micropython).boot()
    assert record.outcome == "exception" and app_line(record) is None
    assert "boot stage failed: StateError('no state: format the partition'" in record.text


def test_a_bad_config_is_logged_and_the_defaults_apply(micropython):
    flash = provisioned(V1, files={"/mpboot.json": '{"policy": "sometimes"}'})
    record = board(flash, micropython).boot()
    assert app_line(record) == ("ota_0", "1.0.0")
    assert "mpboot: boot 1: ota_0 1.0.0 sv1 verified" in record.output  # every-boot, the default
    assert events(flash) == [("bad-config", "policy must be every-boot or trial-only", None)]


def test_slot_contents_after_a_confirmed_install(micropython):
    b = booted(micropython)
    manualinstall.install(b, V2)
    assert slot_manifest(b.flash, "ota_1").version == "2.0.0"
    assert slot_manifest(b.flash, "ota_0").version == "1.0.0"
