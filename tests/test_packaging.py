"""An installed mpboot works away from the checkout: the wheel `pip wheel .` builds carries the
board definitions and the device's boot.py, and the README's round trip runs with it.

The wheel is installed with --no-deps into a directory of its own, put first on PYTHONPATH, so
its dependencies come from this environment (no download) while every mpboot module, and every
file it reads, comes from the wheel: the test checks where `mpboot` was imported from."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mpboot.mpy import runtime

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", "-w", str(base / "dist"), str(ROOT)],
                   check=True, cwd=base)
    [wheel] = (base / "dist").glob("mpboot-*.whl")
    subprocess.run(pip + ["install", "--no-deps", "--target", str(base / "site"), str(wheel)], check=True, cwd=base)
    return base / "site"


def _env(site, tmp_path):
    return dict(os.environ, PYTHONPATH=str(site), TMPDIR=str(tmp_path),
                PATH=str(site / "bin") + os.pathsep + str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"],
                MPBOOT_CACHE=str(ROOT / ".cache"))  # the firmware download the checkout has already


def _mpboot(site, tmp_path, *argv, env=None):
    return subprocess.run([sys.executable, "-m", "mpboot", *argv], cwd=tmp_path, env=dict(_env(site, tmp_path), **(env or {})),
                          capture_output=True, text=True, timeout=300)


def test_the_wheel_is_what_runs(installed, tmp_path):
    r = subprocess.run([sys.executable, "-c", "import mpboot, mpboot_fw; print(mpboot.__file__); print(mpboot_fw.__file__)"],
                       cwd=tmp_path, env=_env(installed, tmp_path), capture_output=True, text=True, check=True)
    assert all(line.startswith(str(installed)) for line in r.stdout.split()), r.stdout
    assert _mpboot(installed, tmp_path, "--version").stdout.strip() == "mpboot 0.1.0"


def test_readme_round_trip_with_the_installed_package(installed, tmp_path):
    # Block 1 (keys, signing, verify): the later blocks need the emulator's MicroPython runtime.
    round_trip = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)[1]
    assert "mpboot sign" in round_trip and "mpboot verify" in round_trip
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "mpboot").write_text('#!/bin/sh\nexec "%s" -m mpboot "$@"\n' % sys.executable)
    (shim / "mpboot").chmod(0o755)
    (shim / "python").symlink_to(sys.executable)
    env = _env(installed, tmp_path)
    env["PATH"] = str(shim) + os.pathsep + env["PATH"]
    r = subprocess.run(["bash", "-e", "-c", round_trip], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "app-v1.mpb: valid: version 1.0.0, security version 1, board esp32-4mb" in r.stdout
    assert "tampered.mpb: invalid image: payload-hash" in r.stderr


def test_device_files_from_the_installed_package(installed, tmp_path):
    r = _mpboot(installed, tmp_path, "device-files", "--board", "esp32-4mb", "-o", "device", "--json")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "device" / "boot.py").read_bytes() == (ROOT / "firmware" / "boot.py").read_bytes()
    # The device package, compiled (.mpy is the default): one module for each source module.
    shipped = sorted(p.stem for p in (tmp_path / "device" / "lib" / "mpboot_fw").glob("*.mpy"))
    assert shipped == sorted(p.stem for p in (ROOT / "firmware" / "mpboot_fw").glob("*.py"))
    assert json.loads((tmp_path / "device" / "mpboot.json").read_text())["board"] == "esp32-4mb"


def test_the_installed_board_runs_and_a_missing_runtime_is_one_line_naming_the_fix(installed, tmp_path):
    # Away from a checkout the unix port (a wheel of its own, with the bridge module the mpboot
    # wheel carries) runs the board; the WebAssembly port needs node_modules, and without them the
    # emulator says how to get it.
    from mpboot.fixtures import micropython_firmware

    def ok(*argv):
        r = _mpboot(installed, tmp_path, *argv)
        assert r.returncode == 0, r.stderr

    ok("keygen", "k.pem")
    ok("root", "init", "root.json", "--root-key", "k.pem", "--targets-key", "k.pem.pub")
    ok("sign", "--key", "k.pem", "--version", "1.0.0", "--security-version", "1", "--board", "esp32-4mb",
       str(micropython_firmware()), "-o", "app.mpb")
    ok("device-files", "--board", "esp32-4mb", "-o", "device")
    ok("flash-image", "--board", "esp32-4mb", "--app", "app.mpb", "--firmware", str(micropython_firmware()),
       "--root", "root.json", "--files", "device", "-o", "flash.bin")
    r = _mpboot(installed, tmp_path, "emulate", "flash.bin", env={"MPBOOT_BOARD_RUNTIME": "unix"})
    assert r.returncode == 0 and "ota_0 1.0.0 sv1 verified" in r.stdout, r.stdout + r.stderr
    r = _mpboot(installed, tmp_path, "emulate", "flash.bin", env={"MPBOOT_BOARD_RUNTIME": "wasm"})
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "npm install @micropython/micropython-webassembly-pyscript@%s" % runtime._PORT_VERSION in r.stderr


def test_the_runtime_version_named_is_the_locked_one():
    lock = json.loads((ROOT / "package-lock.json").read_text())
    locked = lock["packages"]["node_modules/" + runtime._PORT_NPM]["version"]
    assert runtime._PORT_VERSION == locked
