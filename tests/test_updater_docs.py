"""docs/updater.md's "An OTA-ready device with the CLI alone" works when pasted: its shell block runs
as written (the real mpboot commands, `mpboot serve` in the background, the emulated board on the
network), with $FIRMWARE the real MicroPython download and the port one that is free here."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

from realfirmware import micropython_firmware

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "updater.md"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_cli_example_updates_a_device(tmp_path):
    [block] = [b for b in re.findall(r"```sh\n(.*?)```", DOC.read_text(), re.S) if "device-files" in b]
    assert block.count("8443") == 2  # the server's port and the device's URL: one free port here
    script = block.replace("8443", str(_free_port()))
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"],
               FIRMWARE=str(micropython_firmware()))
    # A session of its own, so the background server goes too if the script stops half way.
    proc = subprocess.Popen(["bash", "-e", "-c", script], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, out[-4000:] + err
    # current on 1.0.0; after the publish, the update confirmed on its trial boot; current again
    assert "update check failed" not in out, out
    assert out.index("update check: current") < out.index("confirmed ota_1 1.1.0 sv2") \
        < out.rindex("update check: current"), out
    # the device's own account, read from the flash image
    report = json.loads(subprocess.run([sys.executable, "-m", "mpboot", "log", "flash.bin", "--json"], cwd=tmp_path,
                                       env=env, capture_output=True, text=True, check=True).stdout)
    assert report["floor"] == 2
    assert [e["code"] for e in report["events"]] == [
        "ota-current", "ota-download", "installed", "verified", "confirmed", "ota-current", "ota-current"]
    # the device files the CLI wrote: the configuration, the serve CA, owner-only where secret
    device = tmp_path / "device"
    assert (device / "mpboot-ca.pem").read_bytes() == (tmp_path / "tls" / "ca.pem").read_bytes()
    assert json.loads((device / "mpboot-ota.json").read_text())["url"].startswith("https://localhost:")
    assert (device / "mpboot-ota.json").stat().st_mode & 0o077 == 0
