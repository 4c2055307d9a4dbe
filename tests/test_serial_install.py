"""`mpboot install --port`: a signed image streamed over the emulated board's serial console (a
pty) into the device's installer through the real mpremote, then the trial boot; the verdict
comes from the device's log, and the flash image is checked on its own afterwards."""

import json

import pytest

import bootstage
import clihelp
from mpboot.emulator.flash import NorFlash
from serialboard import SerialBoard


@pytest.fixture
def device(tmp_path):
    """A provisioned board (boot stage, health check, root, floor 1) running 1.0.0 from ota_0."""
    path = tmp_path / "flash.bin"
    path.write_bytes(bootstage.provisioned(bootstage.signed("1.0.0", 1)).mem)
    return path


def on_flash(path):
    """(running slot by otadata + the app's line, floor, event codes) from the flash image alone."""
    flash = NorFlash(path=path)
    try:
        st = bootstage.state(flash)
        versions = {s.name: getattr(bootstage.slot_manifest(flash, s.name), "version", None)
                    for s in bootstage.BOARD.app_slots}
        return versions, st.floor, [code for _, code, _, _ in st.events()]
    finally:
        flash.close()


def test_install_confirmed_then_a_tampered_image_refused(device, tmp_path, capsys):
    v2 = bootstage.signed("2.0.0", 2)
    (tmp_path / "v2.mpb").write_bytes(v2)
    tampered = bytearray(bootstage.signed("3.0.0", 3))
    tampered[1000] ^= 1  # inside the app: the payload hash no longer matches the signed one
    (tmp_path / "v3.mpb").write_bytes(tampered)
    with SerialBoard(device, tmp_path) as board:
        r = clihelp.run(capsys, "install", "--port", board.port, tmp_path / "v2.mpb", "-v")
        assert r.code == 0, r.err
        lines = r.out.splitlines()
        assert lines[-1] == "%s: installed and confirmed ota_1 2.0.0 sv2; running from ota_1, security floor 2" % (
            tmp_path / "v2.mpb")
        console = "\n".join(lines)
        # -v shows the board's console: the trial boot through the bootloader and the stage.
        assert "boot: otadata[1] NEW -> PENDING_VERIFY" in console and ": verified ota_1 2.0.0 sv2" in console
        assert "APP ota_1 2.0.0" in console

        error = clihelp.fails(capsys, "install", "--port", board.port, tmp_path / "v3.mpb")
        assert "did not accept" in error and "refused payload-hash ota_0" in error
        running = board.mpremote("exec", "import esp32; print(esp32.Partition(esp32.Partition.RUNNING).info()[4])")
        assert running.stdout.strip() == "ota_1"
        stranger = bootstage.signed("4.0.0", 4, keys=(bootstage.STRANGER,))
        (tmp_path / "v4.mpb").write_bytes(stranger)
        r = clihelp.run(capsys, "install", "--port", board.port, tmp_path / "v4.mpb", "--json")
        verdict = json.loads(r.out)
        assert r.code == 1 and not verdict["accepted"] and verdict["running"] == "ota_1"
        assert verdict["reason"].startswith("refused signature-threshold")
        code, _ = board.stop()
    assert code == 0
    versions, floor, codes = on_flash(device)
    # ota_1 keeps 2.0.0; ota_0 holds the last refused bytes, which never verify and never boot.
    assert versions == {"ota_0": None, "ota_1": "2.0.0"} and floor == 2
    assert codes == ["installed", "verified", "confirmed", "refused", "refused"]


def test_install_on_a_port_without_the_boot_stage(tmp_path, capsys):
    path = tmp_path / "flash.bin"
    bootstage.new_flash({"/main.py": "print('plain MicroPython')\n"}, path=path).close()
    (tmp_path / "v2.mpb").write_bytes(bootstage.signed("2.0.0", 2))
    with SerialBoard(path, tmp_path) as board:
        clihelp.fails(capsys, "install", "--port", board.port, tmp_path / "v2.mpb",
                      match="is not provisioned for mpboot")
