"""`make demo` (python -m mpboot.demo) runs the whole story and ends as the narration says."""

import re
import subprocess
import sys


def test_demo_runs_the_story(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mpboot.demo", "--keep", str(tmp_path / "demo")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    out = r.stdout
    assert "mpboot: boot 1: ota_0 1.0.0 sv1 verified" in out and "hello from the application" in out
    assert "app-v2.mpb: installed and confirmed ota_1 2.0.0 sv2; running from ota_1, security floor 2" in out
    assert "the device did not accept app-v1.mpb: refused downgrade" in r.stderr
    assert "the device did not accept tampered.mpb: refused payload-hash" in r.stderr
    log = out[out.index("$ mpboot log flash.bin"):out.index("== 7.")]
    assert "security version floor  2" in log
    assert [line.split()[2] for line in log.splitlines() if re.match(r"  boot \d+ ", line)] == [
        "installed", "verified", "confirmed", "refused", "refused"]

    # the over-the-air chapters (mpboot.demo_ota): an update to 3.0.0, then two refused attacks
    ota = out[out.index("== 8."):]
    assert "mpboot: boot 8: confirmed ota_0 3.0.0 sv3" in ota and "update check: current" in ota
    assert "update check failed: ota-refused Rollback timestamp v2 after v3" in ota
    assert "update check failed: ota-refused Expired timestamp" in ota
    log = out[out.index("== 10."):out.index("== 11.")]
    assert "security version floor  3" in log
    assert [line.split()[2] for line in log.splitlines() if re.match(r"  boot \d+ ", line)][5:] == [
        "ota-download", "installed", "verified", "confirmed", "ota-current", "ota-refused", "ota-refused"]

    # the bundles chapters (mpboot.demo_bundles): a fresh device, its package and app as bundles;
    # myapp 1.0.0 -> 2.0.0 over the air, then a broken 3.0.0 whose trial fails
    bundles = out[out.index("== 11."):]
    assert "bundles/mpboot/a/ as .mpy" in bundles
    assert re.findall(r"^myapp (\S+)$", bundles, re.M) == ["1.0.0", "1.0.0", "2.0.0", "2.0.0"]
    assert "bundle-confirmed myapp 2.0.0 b" in bundles
    assert "bundle-trial-failed health-failed myapp 3.0.0 a" in bundles
    log = out[out.index("== 14."):]
    assert "bundle floors           myapp 1" in log
    assert [line.split()[2] for line in log.splitlines() if re.match(r"  boot \d+ ", line)] == [
        "ota-current", "ota-bundle", "bundle-installed", "ota-bundle", "bundle-verified", "bundle-confirmed",
        "ota-current", "ota-bundle", "bundle-installed", "ota-bundle", "bundle-verified", "bundle-trial-failed"]
