"""`mpboot install --flash FLASH.bin APP.mpbundle`: a bundle installed by hand on the emulated
board through the device's bundle store (bundlestore.install at the REPL, over the emulated
serial link), then its trial (the boot stage verifies it, imports its entry, confirms it). The
flash image is made by the CLI (device-files, flash-image --bundle) from the real MicroPython
firmware; the exit status and the reason printed are the device's verdict from its log."""

import json
import shutil

import pytest

import bootstage
import clihelp
from mpboot import keys, resources
from mpboot.cli import main as cli
from realfirmware import micropython_firmware

APP = "VERSION = %r\n\n\ndef main():\n    print('APP', VERSION)\n"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Keys and a root made by the CLI, the bundle "app" at 1.0.0 (sv1), 2.0.0 (sv2) and a
    tampered 2.0.0, and a flash image with bundle 1.0.0 installed, made once."""
    d = tmp_path_factory.mktemp("bundleinstall")
    for argv in (["keygen", d / "root.pem"], ["keygen", d / "release.pem"],
                 ["root", "init", d / "root.json", "--root-key", d / "root.pem", "--targets-key", d / "release.pem.pub"]):
        assert cli([str(a) for a in argv]) == 0
    (d / "image.mpb").write_bytes(bootstage.signed("1.0.0", 1, keys=(keys.load_private_key(str(d / "release.pem")),)))
    for version, secver in (("1.0.0", 1), ("2.0.0", 2)):
        src = d / ("app-" + version)
        src.mkdir()
        (src / "app.py").write_text(APP % version)
        assert cli(["bundle", str(src), "--name", "app", "--version", version, "--security-version", str(secver),
                    "--entry", "app:main", "--board", "esp32-4mb", "--key", str(d / "release.pem"),
                    "-o", str(d / ("app-%s.mpbundle" % version))]) == 0
    v2 = (d / "app-2.0.0.mpbundle").read_bytes()
    (d / "tampered.mpbundle").write_bytes(v2.replace(b"'2.0.0'", b"'6.6.6'"))
    assert cli(["device-files", "--board", "esp32-4mb", "--root", str(d / "root.json"), "-o", str(d / "dev")]) == 0
    (d / "dev" / "main.py").write_bytes(resources.main_py())  # the starter of the bundle's entry
    assert cli(["flash-image", "--board", "esp32-4mb", "--app", str(d / "image.mpb"),
                "--firmware", str(micropython_firmware()), "--root", str(d / "root.json"), "--files", str(d / "dev"),
                "--bundle", str(d / "app-1.0.0.mpbundle"), "-o", str(d / "flash.bin")]) == 0
    return d


@pytest.fixture
def flash(made, tmp_path):
    path = tmp_path / "flash.bin"
    shutil.copy(made / "flash.bin", path)
    return path


def _log(capsys, flash):
    return json.loads(clihelp.run(capsys, "log", flash, "--json").out)


def test_a_bundle_installed_by_hand_is_confirmed_after_its_trial(made, flash, capsys):
    r = clihelp.run(capsys, "install", "--flash", flash, made / "app-2.0.0.mpbundle", "--json")
    assert r.code == 0, r.out + r.err
    out = json.loads(r.out)
    assert out["accepted"] and out["reason"] == "confirmed app 2.0.0 b", out
    assert out["running"] == "b" and out["floor"] == 2
    codes = [(e["code"], e["detail"]) for e in out["events"] if e["code"].startswith("bundle-")]
    assert codes == [("bundle-installed", "app 2.0.0 b"), ("bundle-verified", "app 2.0.0 b"),
                     ("bundle-confirmed", "app 2.0.0 b")], out["events"]
    # The application now runs 2.0.0 (the board boots on into it; the last boot printed it).
    console = _console(made, flash)
    assert any("APP 2.0.0" in line for line in console), console
    # Installed again: below the floor it is refused, the device names why, exit status 1.
    line = clihelp.fails(capsys, "install", "--flash", flash, made / "app-1.0.0.mpbundle")
    assert "the device did not accept" in line and "bundle-refused downgrade app" in line, line


def _console(made, flash):
    from mpboot.emulator.board import Board

    with Board(str(flash), "esp32-4mb", run_timeout=20) as board:
        return board.boot().output


def test_the_text_report_and_a_tampered_bundle(made, flash, capsys):
    r = clihelp.run(capsys, "install", "--flash", flash, made / "tampered.mpbundle")
    assert r.code == 1
    line = r.err.strip().splitlines()[-1]
    assert "the device did not accept" in line and "bundle-refused file-hash app app.py" in line, line
    assert "`mpboot log %s`" % flash in line
    # The running copy and its pointer stayed: installing the good one then works.
    r = clihelp.run(capsys, "install", "--flash", flash, made / "app-2.0.0.mpbundle")
    assert r.code == 0, r.err
    assert r.out == "%s: installed and confirmed app 2.0.0 b; running from copy b, security floor 2\n" % (
        made / "app-2.0.0.mpbundle")
    events = [(e["code"], e["reason"], e["detail"]) for e in _log(capsys, flash)["events"]]
    assert ("bundle-refused", "file-hash", "app app.py") in events


def test_a_bundle_installed_over_a_serial_port(made, flash, tmp_path, capsys):
    # The same through the real mpremote on the emulated board's serial console (a pty): the
    # bundle crosses the raw REPL as asked for, and the stream ends at its length.
    from serialboard import SerialBoard

    with SerialBoard(flash, tmp_path) as board:
        r = clihelp.run(capsys, "install", "--port", board.port, made / "app-2.0.0.mpbundle", "-v")
        assert r.code == 0, r.out + r.err
        lines = r.out.splitlines()
        assert lines[-1] == "%s: installed and confirmed app 2.0.0 b; running from copy b, security floor 2" % (
            made / "app-2.0.0.mpbundle"), r.out
        assert "APP 2.0.0" in r.out
        error = clihelp.fails(capsys, "install", "--port", board.port, made / "tampered.mpbundle")
        assert "did not accept" in error and "bundle-refused file-hash app app.py" in error, error
        code, _ = board.stop()
    assert code == 0
