"""A second manual install while the first one awaits its reset (the serial installer runs with
reset=False, so two `mpboot install` in a row do this): the inactive slot is then the one otadata
selects for the next boot, and an image written there boots whatever the installer decides
about it. The same after the bootloader fell back from a slot it could not boot. A refused image
must never be what the bootloader boots next (install.claim)."""

from bootstage import BOARD, STRANGER, app_line, board, provisioned, signed, slot_manifest, state
from mpboot import manualinstall
from mpboot.emulator.flash import CUT_MODES, CutPlan, NorFlash
from mpboot.manualinstall import SERVICE, SerialLink

V1 = signed("1.0.0", 1)
V2 = signed("2.0.0", 2)
FORGED = signed("3.0.0", 3, keys=(STRANGER,))  # a valid ESP-IDF app, signed by a key the root does not know



def corrupt(flash, slot, offset):
    """Flip one bit in `slot` at `offset`, as bit rot would."""
    addr = BOARD.partition(slot).offset + offset
    flash.load(addr, bytes([flash.mem[addr] ^ 0x40]))


TWO_INSTALLS = """
from _emu import call
from mpboot_fw import install


class _Serial:
    def readinto(self, buf):
        return call("serial.read", None, buf, 0)


for n in %s:
    try:
        install.run(_Serial(), n, reset=False)
        print("INSTALLED")
    except install.InstallError as e:
        print("REFUSED", e.reason)
"""


def test_a_refused_install_over_a_pending_one_never_boots(micropython):
    b = board(provisioned(V1), micropython)
    assert app_line(b.boot()) == ("ota_0", "1.0.0")
    b.services[SERVICE] = SerialLink(V2 + FORGED)
    record = b.boot(repl=TWO_INSTALLS % ((len(V2), len(FORGED)),))
    del b.services[SERVICE]
    lines = [line for line in record.output if line.startswith(("INSTALLED", "REFUSED"))]
    assert lines == ["INSTALLED", "REFUSED signature-threshold"], record.text
    nxt = b.boot()
    # Whatever the bootloader picks next must hold a correctly signed image.
    assert slot_manifest(b.flash, nxt.slot) is not None, "booted the refused image: " + nxt.text
    # The second install replaced the first: refused, it leaves the device on v1, nothing pending.
    assert app_line(nxt) == ("ota_0", "1.0.0"), nxt.text
    st = state(b.flash)
    assert (st.floor, st.pending) == (1, None)
    assert manualinstall.install(b, V2).accepted

def test_a_refused_install_into_a_slot_the_bootloader_fell_back_from_never_boots(micropython):
    b = board(provisioned(V1), micropython)
    b.boot()
    assert manualinstall.install(b, V2).accepted  # floor 2; ota_0 keeps v1
    corrupt(b.flash, "ota_1", 5000)  # otadata still selects ota_1; the bootloader falls back to ota_0
    result = manualinstall.install(b, FORGED)  # from recovery, into ota_1
    assert ("refused", "signature-threshold") in [(e["code"], e["reason"]) for e in result.events], result.events
    for _ in range(3):  # the bootloader must not roll back into it either
        nxt = b.boot()
        assert slot_manifest(b.flash, nxt.slot) is not None, "booted the refused image: " + nxt.text
    # ... and a good image still installs from there.
    assert manualinstall.install(b, signed("3.0.0", 3)).accepted
    assert app_line(b.boot()) == ("ota_1", "3.0.0")


def test_power_cuts_around_the_second_install_never_boot_the_refused_image(micropython):
    """The first install awaits its reset; the second (refused) one, in the same session, is
    cut at each of its flash operations. Whatever the cut, no boot runs the refused image, and
    the device settles on v1 or on the first install's v2, nothing pending, at its floor."""
    b = board(provisioned(V1), micropython)
    b.boot()
    start = bytes(b.flash.mem)

    def installs(images, cut=None):
        flash = NorFlash(data=start)
        flash.reset_log()
        flash.cut = cut
        dev = board(flash, micropython)
        dev.services[SERVICE] = SerialLink(b"".join(images))
        record = dev.boot(repl=TWO_INSTALLS % (tuple(len(x) for x in images),))
        return dev, record

    first = installs([V2])[1].flash["operations"]
    dev, record = installs([V2, FORGED])
    assert "REFUSED signature-threshold" in record.output, record.text
    total = record.flash["operations"]
    ends = set()
    for k in range(first, total):
        for mode in CUT_MODES:
            dev, record = installs([V2, FORGED], CutPlan(k, mode))
            assert record.outcome == "power_cut", (k, mode, record.outcome)
            dev.flash.cut = None
            for _ in range(6):
                record = dev.boot()
                where = (k, mode, record.text)
                assert slot_manifest(dev.flash, record.slot) is not None, where
                ran = app_line(record)
                if ran is not None and state(dev.flash).pending is None:
                    break
            assert ran in (("ota_0", "1.0.0"), ("ota_1", "2.0.0")), where
            assert state(dev.flash).floor == int(ran[1][0]), where
            ends.add(ran)
    assert total - first > 10 and ends == {("ota_0", "1.0.0"), ("ota_1", "2.0.0")}, (first, total, ends)
