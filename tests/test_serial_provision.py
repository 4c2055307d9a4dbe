"""`mpboot provision --port` onto an emulated board over its serial console, through the real
mpremote; then the flash image is booted on its own to see the boot stage run."""

import json
import os
import time

import pytest

import bootstage
import clihelp
from emuboard import new_flash
from mpboot.emulator.board import Board
from mpboot.emulator.flash import NorFlash
from serialboard import SerialBoard

SETTINGS = ("--health", "app_health:check", "--health-ms", "1000")


@pytest.fixture
def unprovisioned(tmp_path):
    """A board running MicroPython with mpboot's partition table and a signed 1.0.0 in ota_0,
    its app on the filesystem, and nothing of the boot stage: no boot.py, an erased state."""
    path = tmp_path / "flash.bin"
    new_flash(files={"/main.py": bootstage.MAIN, "/app_health.py": bootstage.HEALTH},
              slots={0: bootstage.signed("1.0.0", 1)}, path=path).close()
    (tmp_path / "root.json").write_bytes(bootstage.ROOT)
    (tmp_path / "other-root.json").write_bytes(bootstage.make_root(targets=(bootstage.RELEASE2,)))
    return path


def test_provision_then_the_boot_stage_runs(unprovisioned, tmp_path, capsys):
    with SerialBoard(unprovisioned, tmp_path) as board:
        before = int(time.time())
        r = clihelp.run(capsys, "provision", "--port", board.port, "--root", tmp_path / "root.json", *SETTINGS,
                        "--update-url", "https://updates.lan:8443/", "--tls-dir", tmp_path / "tls", "--json")
        assert r.code == 0, r.err
        report = json.loads(r.out)
        assert report["board"] == "esp32-4mb" and report["root"] == "stored" and report["unchanged"] == []
        # The device verified its running image (1.0.0, security version 1) against the root:
        # the floors start at its security version and now (mpboot.floors).
        state = report["state"]
        assert (state["security_floor"], state["security_from"], state["time_from"]) == (1, "image", "now")
        assert before <= state["time_floor"] <= time.time() and report["running_image"] is None
        assert report["written"][-1] == "/boot.py" and "/lib/mpboot_fw/stage.mpy" in report["written"]
        again = clihelp.run(capsys, "provision", "--port", board.port, *SETTINGS, "--reset", "--json")
        assert again.code == 0, again.err
        second = json.loads(again.out)
        # Only changed files go again: none, unless someone edits the package meanwhile.
        assert second["root"] == "kept" and {"/boot.py", "/mpboot.json"} <= set(second["unchanged"])
        assert all(p.startswith("/lib/mpboot_fw/") for p in second["written"]), second
        on_device = board.mpremote("exec", "import json; print(json.load(open('/mpboot.json'))['health'])")
        assert on_device.stdout.strip() == "app_health:check"
        # the updater's settings went on too, read back by the device's own reader
        on_device = board.mpremote("exec", "from mpboot_fw import otaconfig; c = otaconfig.load(); "
                                   "print(c.url, c.ca, open(c.ca).read() == open('/mpboot-ca.pem').read())")
        assert on_device.stdout.split() == ["https://updates.lan:8443/", "/mpboot-ca.pem", "True"]
        code, _ = board.stop()
    assert code == 0
    with Board(str(unprovisioned), bootstage.BOARD, run_timeout=10) as emulated:
        record = emulated.boot()
    assert record.outcome == "ok", record.text
    stage = [line for line in record.output if line.startswith("mpboot: ")]
    assert len(stage) == 1 and stage[0].endswith(": ota_0 1.0.0 sv1 verified"), record.text
    assert "APP ota_0 1.0.0" in record.output
    flash = NorFlash(path=unprovisioned)
    try:
        stored = bootstage.state(flash)
        assert (stored.floor, stored.time_floor) == (1, state["time_floor"])
    finally:
        flash.close()


def test_provision_keeps_the_trust_anchor_unless_told(unprovisioned, tmp_path, capsys):
    with SerialBoard(unprovisioned, tmp_path) as board:
        clihelp.fails(capsys, "provision", "--port", board.port, *SETTINGS, match="holds no trust anchor: pass --root")
        clihelp.fails(capsys, "provision", "--port", board.port, "--board", "esp32s3-8mb",
                      match="is not board esp32s3-8mb's")
        assert clihelp.run(capsys, "provision", "--port", board.port, "--root", tmp_path / "root.json").code == 0
        clihelp.fails(capsys, "provision", "--port", board.port, "--root", tmp_path / "other-root.json",
                      match="already trusts another root")
        r = clihelp.run(capsys, "provision", "--port", board.port, "--root", tmp_path / "other-root.json",
                        "--replace-root", "--json", "--time-floor", "1767225600")
        assert r.code == 0 and json.loads(r.out)["root"] == "replaced", r.err
        # The running image is not signed by the other root's targets key: floor 0, and a warning.
        report = json.loads(r.out)
        assert report["running_image"].startswith("signature-threshold")
        assert (report["state"]["security_floor"], report["state"]["security_from"]) == (0, "unverified")
        assert r.err.startswith("mpboot: warning: the image the board runs does not verify against --root")
    flash = NorFlash(path=unprovisioned)
    try:
        stored = bootstage.state(flash)
        assert stored.root() == (tmp_path / "other-root.json").read_bytes()
        assert (stored.floor, stored.time_floor) == (0, 1767225600)
    finally:
        flash.close()


def test_provision_refuses_a_bad_root_before_touching_the_device(tmp_path, capsys):
    (tmp_path / "root.json").write_bytes(bootstage.ROOT.replace(b'"version"', b'"versionX"', 1))
    clihelp.fails(capsys, "provision", "--port", tmp_path / "no-such-port", "--root", tmp_path / "root.json",
                  match="--root cannot be the trust anchor")


def test_provision_refuses_bad_floors_before_touching_the_device(tmp_path, capsys):
    (tmp_path / "root.json").write_bytes(bootstage.ROOT)
    clihelp.fails(capsys, "provision", "--port", tmp_path / "no-such-port", "--root", tmp_path / "root.json",
                  "--time-floor", "soon", match="--time-floor 'soon': give now, none or Unix seconds")
    clihelp.fails(capsys, "provision", "--port", tmp_path / "no-such-port", "--security-floor", "1",
                  match="they need --root")


def test_no_board_on_the_port(tmp_path, capsys):
    clihelp.fails(capsys, "provision", "--port", tmp_path / "no-such-port", match="cannot open")


def test_a_port_where_nothing_answers(tmp_path, capsys):
    master, slave = os.openpty()  # a pty with no MicroPython behind it
    try:
        clihelp.fails(capsys, "provision", "--port", os.ttyname(slave), match="no MicroPython REPL answers")
    finally:
        os.close(master)
        os.close(slave)
