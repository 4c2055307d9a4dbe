"""Every input the fuzzer found a bug with, once the bug is fixed (fuzz/crashes/<target>/), must
get the declared behaviour: the target's declared error or a result, every property holding.
Findings not fixed yet wait in fuzz/findings/ and are not replayed here."""

import json
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"
sys.path.insert(0, str(FUZZ))

import targets  # noqa: E402
import worker  # noqa: E402

CASES = sorted(FUZZ.glob("crashes/*/*.bin"))


def _info(path):
    txt = path.with_suffix(".txt")
    for line in txt.read_text().splitlines() if txt.exists() else ():
        if line.startswith("info: "):
            return json.loads(line[6:])
    return {"seed": 0, "fixed": True}


@pytest.mark.parametrize("path", CASES, ids=[str(p.relative_to(FUZZ)) for p in CASES])
def test_saved_crash_gets_the_declared_behaviour(path):
    import signal

    old = signal.signal(signal.SIGALRM, worker._alarm)
    try:
        info = _info(path)
        info.setdefault("seed", 0)
        info.setdefault("fixed", True)
        hit = worker.run_one(targets.get(path.parent.name), path.read_bytes(), info, 5.0)
    finally:
        signal.signal(signal.SIGALRM, old)
    assert hit is None, hit[1][-2000:]


def test_every_saved_input_names_a_target_and_has_its_story():
    for folder in ("crashes", "findings"):
        for path in FUZZ.glob(folder + "/*/*.bin"):
            assert path.parent.name in targets.all_targets(), path
            assert path.with_suffix(".txt").exists(), path
