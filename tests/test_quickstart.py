"""The README's round trip works when pasted: run its shell block (the one that signs) as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_round_trip(tmp_path):
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert "make demo" in blocks[0] and "make test" in blocks[0]  # the README opens with the two commands
    [round_trip] = [b for b in blocks if "mpboot sign" in b]
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"],
               TMPDIR=str(tmp_path))
    r = subprocess.run(["bash", "-e", "-c", round_trip], cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "app-v1.mpb: valid: version 1.0.0, security version 1, board esp32-4mb" in r.stdout
    assert "verdict: valid" in r.stdout
    assert "tampered.mpb: invalid image: payload-hash" in r.stderr
    assert r.stdout.rstrip().endswith("refused, as it should be")
