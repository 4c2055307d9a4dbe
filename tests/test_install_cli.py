"""`mpboot install --flash` and `mpboot device-files` end to end, on a flash image made by the
CLI from the real MicroPython firmware: the exit status follows the device's verdict, and the
reason printed is the one the device logged."""

import json
import shutil

import pytest

import clihelp
from mpboot import resources
from mpboot.cli import main as cli
from realfirmware import micropython_firmware


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """keys, root, v1/v2 images and a provisioned flash image, made once with the CLI."""
    d = tmp_path_factory.mktemp("install")
    fw = str(micropython_firmware())
    (d / "app").mkdir()
    (d / "app" / "main.py").write_text("print('APP')\n")
    (d / "app" / "health.py").write_text("def ok():\n    return True\n")
    for argv in (["keygen", d / "root.pem"], ["keygen", d / "rel.pem"],
                 ["root", "init", d / "root.json", "--root-key", d / "root.pem", "--targets-key", d / "rel.pem.pub"],
                 ["device-files", "--board", "esp32-4mb", "--app", d / "app", "--health", "health:ok", "-o", d / "dev"]):
        assert cli([str(a) for a in argv]) == 0
    for version, secver in (("1.0.0", 1), ("2.0.0", 2)):
        assert cli(["sign", "--key", str(d / "rel.pem"), "--version", version, "--security-version", str(secver),
                    "--board", "esp32-4mb", fw, "-o", str(d / ("v%d.mpb" % secver))]) == 0
    assert cli(["flash-image", "--board", "esp32-4mb", "--app", str(d / "v1.mpb"), "--firmware", fw,
                "--root", str(d / "root.json"), "--files", str(d / "dev"), "-o", str(d / "flash.bin")]) == 0
    return d


@pytest.fixture
def flash(made, tmp_path):
    path = tmp_path / "flash.bin"
    shutil.copy(made / "flash.bin", path)
    return path


def test_device_files_layout(made):
    dev = made / "dev"
    assert (dev / "boot.py").read_bytes() == resources.boot_py()  # the fixed loader, as shipped
    assert (dev / "lib" / "mpboot_fw" / "stage.mpy").exists() and (dev / "main.py").read_text() == "print('APP')\n"
    assert json.loads((dev / "mpboot.json").read_text()) == {
        "board": "esp32-4mb", "chip_id": 0, "health": "health:ok", "state": "mpboot"}


def test_install_accepted(made, flash, capsys):
    r = clihelp.run(capsys, "install", "--flash", flash, made / "v2.mpb")
    assert r.code == 0, r.err
    assert r.out == "%s: installed and confirmed ota_1 2.0.0 sv2; running from ota_1, security floor 2\n" % (made / "v2.mpb")
    log = json.loads(clihelp.run(capsys, "log", flash, "--json").out)
    assert [e["code"] for e in log["events"]] == ["installed", "verified", "confirmed"] and log["floor"] == 2


def test_install_verbose_shows_the_console(made, flash, capsys):
    r = clihelp.run(capsys, "install", "--flash", flash, made / "v2.mpb", "-v")
    assert r.code == 0
    assert "  | boot: otadata[1] NEW -> PENDING_VERIFY (first boot of this image)" in r.out
    assert "  | mpboot: boot 2: confirmed ota_1 2.0.0 sv2" in r.out and r.out.count("  | APP") == 2


def test_install_json(made, flash, capsys):
    r = clihelp.run(capsys, "install", "--flash", flash, made / "v2.mpb", "--json")
    result = json.loads(r.out)
    assert r.code == 0 and result["accepted"] and (result["running"], result["floor"]) == ("ota_1", 2)
    assert [b["outcome"] for b in result["boots"]] == ["reset", "reset", "ok"]
    r = clihelp.run(capsys, "install", "--flash", flash, made / "v1.mpb", "--json")
    result = json.loads(r.out)
    assert r.code == 1 and not result["accepted"] and result["reason"] == "refused downgrade ota_0"


def test_refusal_is_one_error_line_with_the_devices_reason(made, flash, tmp_path, capsys):
    data = bytearray((made / "v2.mpb").read_bytes())
    data[0x30000] ^= 0x80
    (tmp_path / "bad.mpb").write_bytes(bytes(data))
    line = clihelp.fails(capsys, "install", "--flash", flash, tmp_path / "bad.mpb")
    assert line == "mpboot: error: the device did not accept %s: refused payload-hash ota_1 (see `mpboot log %s`)" % (
        tmp_path / "bad.mpb", flash)


@pytest.mark.parametrize("args,match", [
    (["install", "--flash", "FLASH", "missing.mpb"], "image not found: missing.mpb"),
    (["install", "--flash", "missing.bin", "IMAGE"], "flash image not found: missing.bin"),
    (["install", "--flash", "IMAGE", "IMAGE"], "matches no board in boards/"),
    (["install", "--flash", "FLASH", "IMAGE", "--board", "esp32s3-8mb"], "but board esp32s3-8mb has 8388608 bytes"),
    (["install", "--flash", "FLASH", "IMAGE", "--timeout", "0"], "--timeout must be more than 0 seconds"),
    (["install", "--flash", "BLANK", "IMAGE", "--board", "esp32-4mb"],
     "has no usable mpboot state (no state: format the partition): make it with mpboot flash-image --root"),
    (["install", "--port", "/dev/null", "IMAGE", "--baud", "0"], "--baud must be a positive number"),
    (["device-files", "--board", "esp32-4mb", "--health", "nocolon", "-o", "out"], "health must be module:function"),
    (["device-files", "--board", "esp32-4mb", "--health-ms", "10", "-o", "out"], "health_ms must be an integer from 1000"),
    (["device-files", "--board", "esp32-4mb", "--app", "IMAGE", "-o", "out"], "is not a directory"),
    (["device-files", "--board", "nosuchboard", "-o", "out"], "unknown board"),
])
def test_bad_input(made, flash, tmp_path, monkeypatch, capsys, args, match):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "blank.bin").write_bytes(b"\xff" * 4 * 1024 * 1024)  # erased flash: no state partition contents
    names = {"FLASH": str(flash), "IMAGE": str(made / "v2.mpb"), "BLANK": str(tmp_path / "blank.bin")}
    args = [names.get(a, a) for a in args]
    clihelp.fails(capsys, *args, match=match)
    assert not (tmp_path / "out").exists()
