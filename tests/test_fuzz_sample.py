"""A short deterministic sample of every fuzz target (fuzz/), on CPython and, for the device
parsers, on real MicroPython. `make fuzz` runs the long campaign; this keeps the harness and the
properties it checks working in every `make test`.

A finding already recorded in fuzz/findings/<target>/ (found, reported, not fixed yet) does not
fail the sample; any other finding does."""

import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"
sys.path.insert(0, str(FUZZ))

import run  # noqa: E402
import targets  # noqa: E402
import worker  # noqa: E402

SAMPLE = 40
MP_SAMPLE = 6
NAMES = sorted(targets.all_targets())


@pytest.fixture(scope="module", autouse=True)
def _alarm():
    import signal

    old = signal.signal(signal.SIGALRM, worker._alarm)
    yield
    signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("name", NAMES)
def test_every_seed_is_accepted(name):
    """The seeds are valid inputs: a target whose seeds fail explores nothing past the first check."""
    t = targets.get(name)
    for i, seed in enumerate(t.seeds):
        assert worker.run_one(t, seed, {"seed": i, "fixed": False}, 5.0) is None, (name, i)


@pytest.mark.parametrize("name", NAMES)
def test_a_deterministic_sample_finds_nothing_new(name):
    t = targets.get(name)
    known = run.known_signatures(name)
    new = []
    for i in range(SAMPLE):
        data, info = targets.input_for(t, 1, i)
        hit = worker.run_one(t, data, info, 2.0)
        if hit is not None and hit[0] not in known:
            new.append((i, hit[0], hit[1][-600:]))
    assert not new, new


def test_inputs_are_rebuilt_exactly():
    t = targets.get("statelog")
    assert targets.input_for(t, 7, 3) == targets.input_for(t, 7, 3)
    assert targets.input_for(t, 7, 3)[0] != targets.input_for(t, 7, 4)[0]


def test_a_broken_property_is_a_finding():
    """The properties can fail: an image accepted with a changed, unsigned payload is reported."""
    t = targets.get("image")
    seed = t.seeds[0]
    signed = next(iter(t.signed))
    t.signed[signed] = b"something else"
    try:
        hit = worker.run_one(t, seed, {"seed": 0, "fixed": False}, 5.0)
    finally:
        t.signed[signed] = seed[:len(t.signed[signed])]
    assert hit is not None and hit[0].startswith("PropertyError")


def test_statelog_append_only_floor_property_can_fail():
    t = targets.get("statelog")
    t.floors[0] = (10 ** 9, 0, 0)
    hit = worker.run_one(t, t.seeds[0], {"seed": 0, "fixed": True, "append_only": True}, 5.0)
    assert hit is not None and "monotonic value lower" in hit[1]


def test_device_parsers_agree_on_micropython(micropython):
    """The device targets' summaries on real MicroPython equal CPython's for a fixed sample
    (targets with a recorded disagreement in fuzz/findings/ are reported, not failed)."""
    import devtargets
    from targets import device

    ctx = device.context()
    run._boot(micropython, ctx, [])
    bad = []
    for name in run.DEVICE:
        t = targets.get(name)
        inputs = list(t.seeds) + [targets.input_for(t, 1, i)[0] for i in range(MP_SAMPLE)]
        want = [devtargets.outcome(name, d, ctx).replace("\n", " ") for d in inputs]
        got = run.mp_outcomes(micropython, ctx, name, inputs)
        tolerated = any(s.startswith("Disagree") for s in run.known_signatures(name))
        for i, (w, g) in enumerate(zip(want, got)):
            if w != g and not (tolerated and i >= len(t.seeds)):
                bad.append((name, i, w, g))
    assert not bad, bad
