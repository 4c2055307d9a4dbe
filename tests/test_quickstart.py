"""docs/quickstart.md's round trip works when pasted: run its second shell block as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_round_trip(tmp_path):
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "docs" / "quickstart.md").read_text(), re.S)
    setup, round_trip = blocks[0], blocks[1]
    assert "make setup" in setup  # the first block only prepares the venv this test already runs in
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"],
               TMPDIR=str(tmp_path))
    r = subprocess.run(["bash", "-e", "-c", round_trip], cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "app-v1.mpb: valid: version 1.0.0, security version 1, board esp32-4mb" in r.stdout
    assert "verdict: valid" in r.stdout
    assert "tampered.mpb: invalid image: payload-hash" in r.stderr
    assert r.stdout.rstrip().endswith("refused, as it should be")
