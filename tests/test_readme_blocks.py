"""The README, exactly as written: it opens with the two make commands, and every other fenced block
is a shell block that runs, in order, in one `bash -e` shell and a fresh directory, as a newcomer
pastes them: $FIRMWARE found as the README finds it, the server in the background and stopped by
the README itself, the emulated board's serial console used by the real mpremote, no network but
loopback. The port 8443 of the device's URL and of the server becomes one that is free here."""

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
FENCED = re.findall(r"^```(\w*)\n(.*?)^```", (ROOT / "README.md").read_text(), re.S | re.M)
VENV_BIN = str(Path(sys.executable).parent)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_fenced_block_is_shell():
    assert len(FENCED) >= 5 and [lang for lang, _ in FENCED] == ["sh"] * len(FENCED)


def test_the_readme_opens_with_make_demo_and_make_test():
    commands = [line.split("#")[0].strip() for line in FENCED[0][1].splitlines()]
    assert commands == ["make demo", "make test"]
    # Not run here (make test would run this test again): make must know both, as the README says.
    r = subprocess.run(["make", "-n", "demo", "test"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "-m mpboot.demo" in r.stdout and "-m pytest" in r.stdout, r.stdout


def test_the_walkthrough_runs_as_written(tmp_path):
    micropython_firmware()  # in the cache already, so the README's own line needs no network
    script = "\n".join(body for _, body in FENCED[1:])
    assert script.count("8443") == 2  # the device's update URL and the server's port
    script = script.replace("8443", str(_free_port()))
    (tmp_path / "tmp").mkdir()
    env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ["PATH"], TMPDIR=str(tmp_path / "tmp"),
               PIP_NO_INDEX="1")  # a download would fail instead of reaching out
    env.pop("FIRMWARE", None)
    # A session of its own, so the background server and board go too if the script stops half way.
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
    [work] = (tmp_path / "tmp").iterdir()  # the README's `cd "$(mktemp -d)"`

    # block 1: a valid image, its inspection, the tampered copy refused
    assert "app-v1.mpb: valid: version 1.0.0, security version 1, board esp32-4mb" in out
    assert "verdict: valid" in out
    assert "tampered.mpb: invalid image: payload-hash" in err
    # block 2: v1 boots verified; v2 confirmed by the manual install; v1 then refused by the floor
    assert "boot: otadata[0] seq=1 state=VALID" in out and "mpboot: boot 1: ota_0 1.0.0 sv1 verified" in out
    assert "app-v2.mpb: installed and confirmed ota_1 2.0.0 sv2; running from ota_1, security floor 2" in out
    assert "the device did not accept app-v1.mpb: refused downgrade" in err
    assert out.count("refused, as it should be") == 2
    first_log, last_log = out.split("state partition mpboot at")[1:]
    assert "security version floor  2" in first_log
    # block 3: mpremote wrote main.py through the console, and the flash kept it
    assert "cp main.py :main.py" in out and re.search(r"\d+ mpboot-ota\.json", out)
    # block 4: over the air from the repository that adopted block 1's root: 3.0.0 confirmed, then current
    assert "update check failed" not in out
    assert out.index("confirmed ota_0 3.0.0 sv3") < out.index("update check: current")
    assert "security version floor  3" in last_log
    assert re.search(r"GET /targets/esp32-4mb/stable/[0-9a-f]{64}\.3\.0\.0\.mpb 200 ", (work / "serve.log").read_text())
    report = json.loads(subprocess.run([sys.executable, "-m", "mpboot", "log", "flash.bin", "--json"], cwd=work,
                                       env=env, capture_output=True, text=True, check=True).stdout)
    assert report["floor"] == 3
    assert [e["code"] for e in report["events"]] == [
        "installed", "verified", "confirmed", "refused",
        "ota-download", "installed", "verified", "confirmed", "ota-current"]

    # block 5: myapp 1.0.0 as a bundle on a fresh device, 2.0.0 over the air, confirmed, then run
    bundles = out[out.index("-> myapp-1.0.0.mpbundle: myapp 1.0.0"):]
    assert re.findall(r"^myapp (\S+)$", bundles, re.M) == ["1.0.0", "1.0.0", "2.0.0"], bundles[-3000:]
    assert bundles.index("bundle-confirmed myapp 2.0.0 b") < bundles.index("\nmyapp 2.0.0\n")
    assert bundles.count("update check: current") == 2
    report = json.loads((work / "bundles-log.json").read_text())
    assert report["bundle_floors"] == {"myapp": 1}
    assert [e["code"] for e in report["events"]] == [
        "ota-current", "ota-bundle", "bundle-installed", "ota-bundle", "bundle-verified", "bundle-confirmed",
        "ota-current"]
    assert report["events"][3]["detail"].startswith("myapp 2.0.0 1+")  # one file downloaded
