"""Power-cut sweep over an over-the-air update on the emulated board: the metadata refresh
(with and without a root rotation), the download into the inactive slot, the install, the trial
boot and the next check, cut before, in the middle of or after each flash operation
(tests/otasweep.py says what is checked after every boot).

`make test` cuts every operation of both variants in one mode each (rotating through before,
torn, after); MPBOOT_FULL_SWEEP=1, and `make bench` (bench_ota, which also times it), cut every
operation in all three modes.
"""

import os

import pytest

import otasweep
from emuboard import board_runtime

FULL = os.environ.get("MPBOOT_FULL_SWEEP") == "1"
CHUNKS = 2


@pytest.fixture(scope="module", params=["plain", "rotation"])
def variant(request, tmp_path_factory):
    w, base = otasweep.prepare(tmp_path_factory.mktemp(request.param), board_runtime(), request.param)
    ops, boots = otasweep.clean_ops(w, base)
    yield w, base, ops, boots
    w.close()


def test_clean_run(variant):
    w, base, ops, boots = variant
    assert [r.outcome for r in boots] == ["reset", "ok"]
    # the update writes metadata, the image, the pending record and otadata, then confirms
    assert ops > 30


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_power_cut_at_every_flash_operation(variant, chunk):
    w, base, ops, _ = variant
    points = otasweep.cut_points(ops, FULL)[chunk::CHUNKS]
    ends = otasweep.sweep(w, base, points)
    # every cut ends on the new image: a later check completes what the cut interrupted
    assert ends == {("ota_1", "2.0.0"): len(points)}
