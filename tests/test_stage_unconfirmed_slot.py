"""Never write the inactive slot while the running image is unconfirmed (issue 8, items 2 and 5).

With rollback enabled, a running image whose otadata entry is still PENDING_VERIFY is rolled
back on the next reset, into the other slot: whatever an install just wrote there boots, signed
by nobody. Hence: the stage confirms a slot it switched to (trial-only too), an install refuses
to start during a trial boot and otherwise makes the running entry VALID first, a refused image
is erased, and the app never runs on an image whose confirmation failed. And a repeated trial
whose floor already rose finishes its confirmation instead of rolling back below the floor.
"""

from bootstage import (BOARD, HEALTH, MAIN, STRANGER, app, app_line, board, events, provisioned, signed,
                       slot_manifest, state)
from mpboot import manualinstall
from mpboot.emulator.app import AppSession
from mpboot.emulator.flash import CUT_MODES, CutPlan, NorFlash
from mpboot.emulator.ota import image_ok
from mpboot.emulator.partition import ESP_FAIL, esp_error
from mpboot.espidf import otadata as od
from mpboot.manualinstall import REPL_CODE, SERVICE, SerialLink
from mpboot_fw import image

V1 = signed("1.0.0", 1)
V11 = signed("1.1.0", 1)  # same security version: v1 in ota_0 stays allowed
V2 = signed("2.0.0", 2)
FORGED = signed("3.0.0", 3, keys=(STRANGER,))  # a valid ESP-IDF app, signed by a key the root does not know


def flip(flash, slot, offset):
    addr = BOARD.partition(slot).offset + offset
    flash.load(addr, bytes([flash.mem[addr] ^ 0x40]))


def switched_trial_only(runtime):
    """A trial-only board on v1.1 in ota_1 whose manifest became unreadable: the stage refuses
    it and switches to v1 in ota_0 (selected, not booted yet)."""
    b = board(provisioned(V1, policy="trial-only"), runtime)
    b.boot()
    assert manualinstall.install(b, V11).accepted
    flip(b.flash, "ota_1", image.manifest_offset(len(app("1.1.0", 1))))  # the manifest's magic
    since = state(b.flash).boot_count
    record = b.boot()
    assert (record.slot, record.outcome) == ("ota_1", "reset"), record.text
    assert events(b.flash, since) == [("boot-refused", "bad-magic", "ota_1"), ("switched", "", "ota_0 1.0.0 sv1")]
    return b


def test_trial_only_confirms_the_slot_it_switched_to_and_a_refused_install_never_boots(micropython):
    b = switched_trial_only(micropython)
    since = state(b.flash).boot_count
    result = manualinstall.install(b, FORGED)  # the first boot of ota_0 since the switch
    assert not result.accepted
    for _ in range(3):  # otadata holds ota_0 VALID: no reset rolls back into the refused bytes
        record = b.boot()
        assert record.app["version"] != "3.0.0", "booted the refused image: " + record.text
        assert app_line(record) == ("ota_0", "1.0.0"), record.text
    assert [(e["code"], e["reason"]) for e in result.events] == [("confirmed", ""), ("refused", "signature-threshold")]
    assert events(b.flash, since)[0] == ("confirmed", "", "ota_0 1.0.0 sv1")
    assert events(b.flash, since + 1)[1:] == []  # confirmed once: later boots run unchecked again


def test_a_refused_install_leaves_its_slot_unbootable(micropython):
    b = board(provisioned(V1), micropython)
    b.boot()
    result = manualinstall.install(b, FORGED)
    assert (result.events[0]["code"], result.events[0]["reason"]) == ("refused", "signature-threshold")
    ota_1 = BOARD.partition("ota_1")
    assert isinstance(image_ok(b.flash, ota_1, BOARD.chip_id), Exception)  # ESP-IDF would not load it
    assert bytes(b.flash.mem[ota_1.offset:ota_1.offset + 4096]) == b"\xff" * 4096
    assert app_line(b.boot()) == ("ota_0", "1.0.0")


INSTALLING_HEALTH = HEALTH + """

_check = check


def check():
    from mpboot_fw import install
    try:
        install.run(open('/next.mpb', 'rb'), reset=False)
        print('HOOK INSTALLED')
    except install.InstallError as e:
        print('HOOK REFUSED', e.reason)
    return _check()
"""


def test_an_install_started_by_the_health_check_of_a_trial_boot_is_refused(micropython):
    flash = provisioned(V1, files={"/app_health.py": INSTALLING_HEALTH, "/next.mpb": signed("3.0.0", 3)})
    b = board(flash, micropython)
    b.boot()
    result = manualinstall.install(b, V2)
    assert "HOOK REFUSED trial-in-progress" in result.boots[1].output, result.boots[1].text
    assert [(e["code"], e["reason"]) for e in result.events] == [
        ("installed", ""), ("verified", ""), ("refused", "trial-in-progress"), ("confirmed", "")]
    assert result.accepted and (result.running, result.floor) == ("ota_1", 2), result.reason
    assert slot_manifest(b.flash, "ota_0").version == "1.0.0"  # the previous slot untouched
    assert app_line(b.boot()) == ("ota_1", "2.0.0") and state(b.flash).pending is None


def test_an_image_whose_confirmation_fails_does_not_run(micropython, monkeypatch):
    b = board(provisioned(V1), micropython)
    b.boot()
    assert manualinstall.install(b, V11).accepted
    flip(b.flash, "ota_1", image.manifest_offset(len(app("1.1.0", 1))) + 128 + 4 + 32 + 5)  # its signature
    assert b.boot().outcome == "reset"  # refused, switched to ota_0 (its entry: NEW)
    valid = AppSession._valid

    def failing(self, arg, body, n):  # mark_app_valid fails whenever it would have to write
        entries = self.ota.otadata.read()
        if entries[od.select(entries)].state != od.VALID:
            raise esp_error(ESP_FAIL)
        return valid(self, arg, body, n)

    monkeypatch.setattr(AppSession, "_valid", failing)
    since = state(b.flash).boot_count
    record = b.boot()
    assert record.slot == "ota_0" and app_line(record) is None, record.text  # main.py never ran
    assert record.outcome == "exception" and "Recovery: boot stage failed: OSError" in record.text
    assert [e[:2] for e in events(b.flash, since)] == [("stage-error", "OSError")]


class TrialCuts:
    """An install of `image` over v1 and its trial boot, run once to number the trial's flash
    operations; `cut_after(k)` replays both with the power cut right after operation k."""

    def __init__(self, runtime, image):
        self.runtime = runtime
        self.image = image
        b = board(provisioned(V1), runtime)
        b.boot()
        self.base = bytes(b.flash.mem)
        probe = board(NorFlash(data=self.base), runtime)
        probe.flash.reset_log()
        assert manualinstall.install(probe, image).accepted
        otadata, st = BOARD.otadata, BOARD.partition("mpboot")
        self.mark_valid = [op[0] for op in probe.flash.ops
                           if otadata.offset <= op[2] < otadata.offset + otadata.size][5]
        self.state_ops = [op[0] for op in probe.flash.ops
                          if op[0] > self.mark_valid and st.offset <= op[2] < st.offset + st.size]

    def cut_after(self, k):
        flash = NorFlash(data=self.base)
        flash.cut = CutPlan(k, "after")
        dev = board(flash, self.runtime)
        dev.services[SERVICE] = SerialLink(self.image)
        assert dev.boot(repl=REPL_CODE % len(self.image)).outcome == "reset"
        assert dev.boot().outcome == "power_cut"
        return dev


def test_a_cut_after_the_floor_rose_finishes_the_confirmation(micropython):
    # The first trial passes its health check ("flaky": healthy once), marks otadata VALID and
    # raises the floor; the power goes right after. The repeated trial would fail its health
    # check, and rolling back would land on v1, below the floor now: the decision was made.
    cuts = TrialCuts(micropython, signed("flaky-2.0.0", 2))
    for k in cuts.state_ops:  # the floor record's commit: the first cut after which the floor is 2
        b = cuts.cut_after(k)
        if state(b.flash).floor == 2:
            break
    assert state(b.flash).pending is not None and [e[0] for e in events(b.flash)][-1] == "verified"
    since = state(b.flash).boot_count
    record = b.boot()
    assert (record.slot, record.outcome, app_line(record)) == ("ota_1", "ok", ("ota_1", "flaky-2.0.0")), record.text
    assert [e[:2] for e in events(b.flash, since)] == [("verified", ""), ("confirmed", "")]
    st = state(b.flash)
    assert (st.floor, st.pending) == (2, None)
    assert app_line(b.boot()) == ("ota_1", "flaky-2.0.0")


def test_a_repeated_trial_that_keeps_the_security_version_still_runs_its_health_check(micropython):
    # The same cut right after otadata said VALID, for an update that keeps the security version:
    # the previous image is still allowed, so nothing is decided yet. The repeated trial runs the
    # health check again ("flaky": it fails now) and rolls back to v1, instead of confirming an
    # image whose health check fails.
    cuts = TrialCuts(micropython, signed("flaky-1.1.0", 1))
    dev = cuts.cut_after(cuts.mark_valid)
    assert state(dev.flash).pending is not None and state(dev.flash).floor == 1
    since = state(dev.flash).boot_count
    record = dev.boot()
    assert record.outcome == "reset" and [e[0] for e in events(dev.flash, since)] == ["verified", "trial-failed"]
    record = dev.boot()
    assert app_line(record) == ("ota_0", "1.0.0"), record.text
    assert state(dev.flash).floor == 1


def test_power_cuts_around_the_switch_and_the_refused_install_never_boot_the_refused_image(micropython):
    """The boot after the switch (confirm ota_0, log) and the refused install in it (claim, the
    blocks, verify, erase, log), cut before, torn and after each flash operation: the forged
    image never boots, and the device settles on v1, confirmed."""
    start = bytes(switched_trial_only(micropython).flash.mem)

    def run(cut=None):
        flash = NorFlash(data=start)
        flash.reset_log()
        flash.cut = cut
        dev = board(flash, micropython)
        dev.services[SERVICE] = SerialLink(FORGED)
        return dev, dev.boot(repl=REPL_CODE % len(FORGED))

    dev, record = run()
    assert "mpboot: install refused: signature-threshold" in "\n".join(record.output), record.text
    total = record.flash["operations"]
    for k in range(total):
        for mode in CUT_MODES:
            dev, record = run(CutPlan(k, mode))
            assert record.outcome == "power_cut", (k, mode, record.outcome)
            for _ in range(6):
                record = dev.boot()
                where = (k, mode, record.text)
                assert record.app is None or record.app["version"] != "3.0.0", where
                if app_line(record) is not None:
                    break
            assert app_line(record) == ("ota_0", "1.0.0"), where
            again = dev.boot()
            assert app_line(again) == ("ota_0", "1.0.0") and state(dev.flash).floor == 1, (k, mode, again.text)
    assert total > 15, total
