"""A device built by `mpboot flash-image --root` is protected from its first boot: its state starts
with the security version floor at the security version of the image it runs and the trusted time
floor at the provisioning time (mpboot.floors), so it refuses older releases before any update and
refuses expired metadata on its first check even with its clock unset."""

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

import clihelp
from mpboot import floors, provision
from mpboot.emulator.flash import NorFlash
from mpboot.errors import MpbootError
from mpboot.otaprovision import ota_files
from mpboot.repo.maintain import refresh_timestamp
from otaworld import BOARD, MAIN, World, output_line, status
from realfirmware import micropython_firmware

DATA = Path(__file__).parent / "device" / "data"
IMAGE_SV = 5  # tests/device/data/image.mpb: security version 5, signed 2026-01-01
IMAGE_CREATED = 1767225600


@pytest.fixture(scope="module")
def firmware():
    return micropython_firmware()


def flash_image(capsys, tmp_path, firmware, *options, app=DATA / "image.mpb", root=DATA / "root.json", files=None):
    out = tmp_path / "flash.bin"
    args = ["flash-image", "--board", "esp32-4mb", "--app", app, "--firmware", firmware, "-o", out]
    args += ["--root", root] if root else []
    args += ["--files", files] if files else []
    return clihelp.run(capsys, *args, *options), out


def log(capsys, flash):
    r = clihelp.run(capsys, "log", flash, "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


# --- the floors flash-image writes, and what `mpboot log` shows -----------------------------------

def test_the_state_starts_at_the_image_security_version_and_now(tmp_path, firmware, capsys):
    before = int(time.time())
    r, out = flash_image(capsys, tmp_path, firmware)
    after = int(time.time())
    assert r.code == 0, r.err
    report = log(capsys, out)
    assert report["floor"] == IMAGE_SV
    assert before <= report["time_floor"] <= after and report["time_floor"] > IMAGE_CREATED
    summary = r.out.splitlines()[-1]
    assert summary.startswith("  the state starts with: security version floor 5 (the image's security version); "
                              "trusted time floor %d (" % report["time_floor"]) and summary.endswith(": now")
    text = clihelp.run(capsys, "log", out).out
    when = datetime.fromtimestamp(report["time_floor"], timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "  security version floor  5\n" in text
    assert "  trusted time floor      %d (%s)\n" % (report["time_floor"], when) in text


def test_options_override_the_floors(tmp_path, firmware, capsys):
    r, out = flash_image(capsys, tmp_path, firmware, "--security-floor", "2", "--time-floor", "1767225600", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["state"] == {"security_floor": 2, "security_from": "option",
                                          "time_floor": 1767225600, "time_from": "option"}
    report = log(capsys, out)
    assert (report["floor"], report["time_floor"]) == (2, 1767225600)
    first = out.read_bytes()
    time.sleep(1.1)
    flash_image(capsys, tmp_path, firmware, "--security-floor", "2", "--time-floor", "1767225600", "--force")
    assert out.read_bytes() == first  # a fixed time floor makes the same bytes on every run
    r, out = flash_image(capsys, tmp_path, firmware, "--time-floor", "none", "--json", "--force")
    assert json.loads(r.out)["state"]["time_floor"] == 0 and log(capsys, out)["time_floor"] == 0
    r, out = flash_image(capsys, tmp_path, firmware, "--json", "--force", root=None)
    assert json.loads(r.out)["state"] is None  # no root: no state partition, no floors


@pytest.mark.parametrize("options,app,message", [
    (("--security-floor", "6"), "image.mpb", "--security-floor 6 is above the security version of the image the "
                                             "device runs (5): the boot stage would refuse it; give 5 or less"),
    (("--security-floor", "-1"), "image.mpb", "--security-floor -1: give 0 or more"),
    (("--time-floor", "tomorrow"), "image.mpb", "--time-floor 'tomorrow': give now, none or Unix seconds"),
    (("--time-floor", "99999999999"), "image.mpb", "--time-floor 99999999999 is in the future"),
    ((), "image_wrong_key.mpb", "--app does not verify against --root, so the boot stage would not run it: "
                                "invalid image: signature-threshold"),
    ((), "image_esp32c3.mpb", "ESP-IDF app for esp32"),
])
def test_bad_floors_or_an_image_the_root_refuses(tmp_path, firmware, capsys, options, app, message):
    out = tmp_path / "out.bin"
    clihelp.fails(capsys, "flash-image", "--board", "esp32-4mb", "--app", DATA / app, "--firmware", firmware,
                  "--root", DATA / "root.json", "-o", out, *options, match=message)
    assert not out.exists()


def test_floor_options_need_a_root(tmp_path, firmware, capsys):
    clihelp.fails(capsys, "flash-image", "--board", "esp32-4mb", "--app", DATA / "image.mpb", "--firmware", firmware,
                  "-o", tmp_path / "out.bin", "--time-floor", "none", match="they need --root")
    assert not (tmp_path / "out.bin").exists()


def test_choose():
    image = SimpleNamespace(security_version=3, created=2000)
    assert floors.choose(image, now=5000) == floors.Start(3, "image", 5000, "now")
    # A signing time later than this machine's clock: the release exists, so time is past it.
    assert floors.choose(image, now=1500) == floors.Start(3, "image", 2000, "created")
    assert floors.choose(None, now=5000) == floors.Start(0, "unverified", 5000, "now")
    assert floors.choose(image, 1, "1234", now=5000) == floors.Start(1, "option", 1234, "option")
    assert floors.choose(image, 0, " NONE ", now=5000) == floors.Start(0, "option", 0, "none")
    assert floors.choose(image, None, "2000", now=1500).time_floor == 2000  # up to the signing time
    with pytest.raises(MpbootError, match="in the future"):
        floors.choose(image, None, "2001", now=1500)
    assert floors.choose(None, 7, now=1).security_floor == 7  # no verified image: nothing to compare with


# --- the floors at work on the emulated board -------------------------------------------------------

def _device_dir(w, tmp_path, ota=True):
    """The files `mpboot device-files` writes for the World's device: with `ota`, its update
    configuration and a main.py that checks; else a main.py that only prints."""
    files = ota_files(w.url, tmp_path / "tls" / "ca.pem") if ota else {}
    files["/main.py"] = MAIN.encode() if ota else b"print('APP')\n"
    directory = tmp_path / ("device" if ota else "device-no-ota")
    for path, data in provision.device_files(BOARD, files).items():
        (directory / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (directory / path.lstrip("/")).write_bytes(data)
    return directory


def _flash_world_device(w, capsys, tmp_path, firmware, name, *options, ota=True):
    """A flash image of the World's device made by `mpboot flash-image` (v1.0.0 in ota_0, the
    repository's root) in tmp_path/name/flash.bin, which the World runs from now on."""
    (tmp_path / "v1.mpb").write_bytes(w.v1)
    work = tmp_path / name
    work.mkdir()
    r, out = flash_image(capsys, work, firmware, *options, app=tmp_path / "v1.mpb",
                         root=w.repo_dir / "metadata" / "root.json", files=_device_dir(w, tmp_path, ota))
    assert r.code == 0, r.err
    flash = NorFlash(path=out)
    w.use_flash(flash)
    return flash


def test_first_check_refuses_expired_metadata_with_the_clock_unset(tmp_path, micropython, firmware, capsys):
    w = World(tmp_path, micropython)
    try:
        # What a freeze or replay serves: metadata correctly signed, valid two days ago, expired now.
        repo = w.repo()
        refresh_timestamp(repo, w.keyring(repo), now=datetime.now(timezone.utc) - timedelta(days=2))
        unset = 1000  # a board's RTC after power-on, before any time sync: 1970
        flash = _flash_world_device(w, capsys, tmp_path, firmware, "new")
        floor = w.state().time_floor
        record = w.boot(clock=unset)
        assert output_line(record, "ota-failed:").startswith("ota-refused Expired timestamp"), record.output
        assert record.outcome == "ok" and (record.slot, record.app["version"]) == ("ota_0", "1.0.0")
        assert status(record)["clock_behind"] and w.state().time_floor == floor
        assert "tuf" not in w.state().blob_names()  # nothing of the expired set is trusted
        flash.close()

        # The same device with its time floor left at 0, as flash-image formatted it before:
        # by its unset clock the expired metadata is fresh, and it trusts it.
        flash = _flash_world_device(w, capsys, tmp_path, firmware, "old", "--time-floor", "none")
        record = w.boot(clock=unset)
        assert output_line(record, "ota:") == "current", record.output
        assert "tuf" in w.state().blob_names()
        flash.close()
    finally:
        w.close()


def test_an_older_release_is_refused_before_any_update(tmp_path, micropython, firmware, capsys):
    w = World(tmp_path, micropython, security_version=2)
    try:
        # Signed by the repository's own targets key, so only the floor can refuse it.
        (tmp_path / "older.mpb").write_bytes(w.image("1.1.0", security_version=1))
        flash = _flash_world_device(w, capsys, tmp_path, firmware, "new", ota=False)
        assert w.state().floor == 2
        flash.close()
        r = clihelp.run(capsys, "install", "--flash", tmp_path / "new" / "flash.bin", tmp_path / "older.mpb")
        assert r.code == 1 and "refused downgrade" in r.err, (r.out, r.err)
        # Started with --security-floor 1 (or at 0, as before), the device takes it.
        flash = _flash_world_device(w, capsys, tmp_path, firmware, "lower", "--security-floor", "1", ota=False)
        flash.close()
        r = clihelp.run(capsys, "install", "--flash", tmp_path / "lower" / "flash.bin", tmp_path / "older.mpb")
        assert r.code == 0, (r.out, r.err)
        assert "installed and confirmed ota_1 1.1.0 sv1" in r.out
    finally:
        w.close()
