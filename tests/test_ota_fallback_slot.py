"""The updater downloading into a slot that otadata still selects: after the bootloader fell
back from an image it could not boot (bit rot in the slot it was told to boot), the running image
is the other one, and the inactive slot is the selected one. A malicious mirror's bytes written
there, refused by the updater, would boot next: install.claim points otadata back first."""

from mpboot import keys as keymod
from otaworld import output_line, world  # noqa: F401 (fixture)


def test_a_refused_download_into_the_slot_the_bootloader_fell_back_from_never_boots(world):
    w = world
    w.publish("1.1.0")  # same security version: 1.0.0 in ota_0 stays allowed
    assert w.boot().outcome == "reset"  # downloaded, installed
    w.boot()  # trial boot, confirmed
    record = w.boot()
    assert w.running(record) == ("ota_1", "1.1.0") and output_line(record, "ota:") == "current"
    # Bit rot in ota_1: otadata still selects it; the bootloader falls back to ota_0 (1.0.0, sv1).
    addr = w.board.board.partition("ota_1").offset + 0x200
    w.flash.load(addr, bytes([w.flash.mem[addr] ^ 0x40]))
    v2 = w.publish("2.0.0")
    target = next(w.repo_dir.glob("targets/esp32-4mb/stable/*.2.0.0.mpb"))
    evil_key = w.keys / "attacker.pem"
    keymod.generate_keypair(evil_key)
    evil = w.image("9.0.0", keys=(evil_key.name,))  # a valid app, signed by no key the root trusts
    assert len(evil) <= len(v2)
    target.write_bytes(evil + b"\xff" * (len(v2) - len(evil)))  # what a malicious mirror serves
    record = w.boot()
    assert w.running(record) == ("ota_0", "1.0.0"), record.text
    assert output_line(record, "ota-failed:").split()[:2] == ["ota-refused", "LengthOrHashMismatch"]
    for _ in range(3):
        record = w.boot()
        assert w.running(record)[1] != "9.0.0", "booted the refused download: " + record.text
    assert w.running(record) == ("ota_0", "1.0.0"), record.text
