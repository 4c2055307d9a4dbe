"""Power-cut sweep over a whole manual install: the install boot (stream into the inactive slot,
verify, pending record, set_boot), the trial boot (verify, health check, confirm, floor, restart
without the watchdog) and the first boot of the new image. Every flash operation of a clean run
is numbered; the power is cut before it, in the middle of it (torn) or after it, and the board
then boots on until the application runs with nothing pending. bootstage.install_run checks
after every boot that the application only ran on a correctly signed image at or above the
floor, that the floor never went down, and that a good slot and a bootable board remained.

Four starting points: a fresh state log, one whose log compacts amid the install (at the
pending record) or amid the confirmation (at the floor), and a fresh one installing an image
whose health check passes only once ("flaky"): a cut after otadata said VALID makes its repeated
trial fail the health check, rolled back before the floor rose, finished after it (never rolled
back below the floor). `make test` cuts every operation of
the fresh run in all three modes, and every second operation of the compacting runs in one mode
(rotating through the three; the state log's own sweep cuts inside compactions exhaustively);
MPBOOT_FULL_SWEEP=1, and `make bench` (which also times it), cut every operation in every mode.
"""

import os

import pytest

from bootstage import board, compacting_at, install_run, provisioned, signed
from emuboard import board_runtime
from mpboot.emulator.flash import CUT_MODES, CutPlan

V1 = signed("1.0.0", 1)
V2 = signed("2.0.0", 2)
FLAKY = signed("flaky-2.0.0", 2)
FULL = os.environ.get("MPBOOT_FULL_SWEEP") == "1"
VARIANTS = ("fresh", "compacts-at-pending", "compacts-at-floor", "flaky")
IMAGES = {"flaky": (FLAKY, "flaky-2.0.0")}
CHUNKS = 4
_BASES = {}


def base(variant, runtime):
    """The flash of a provisioned board after its first boot (v1 running), per variant."""
    if variant not in _BASES:
        flash = provisioned(V1)
        board(flash, runtime).boot()
        flash.reset_log()
        start = bytes(flash.mem)
        if variant.startswith("compacts"):
            start = compacting_at(start, V2, 1 if variant == "compacts-at-pending" else 5)
        _, _, _, boots = install_run(start, runtime, new_image(variant))
        _BASES[variant] = (start, sum(r.flash["operations"] for r in boots))
    return _BASES[variant]


def new_image(variant):
    return IMAGES.get(variant, (V2, "2.0.0"))[0]


def cut_points(variant, ops):
    if FULL or variant in ("fresh", "flaky"):
        return [(k, mode) for k in range(ops) for mode in CUT_MODES]
    return [(k, CUT_MODES[k // 2 % 3]) for k in range(0, ops, 2)]


def sweep(variant, chunk, runtime):
    start, ops = base(variant, runtime)
    points = cut_points(variant, ops)[chunk::CHUNKS]
    ends = {}
    for k, mode in points:
        slot, version, floor, boots = install_run(start, runtime, new_image(variant), CutPlan(k, mode))
        assert boots[0].outcome == "power_cut" or any(r.outcome == "power_cut" for r in boots), (k, mode)
        assert (slot, version, floor) in (("ota_0", "1.0.0", 1), ("ota_1", _version(variant), 2)), (k, mode, slot, version, floor)
        ends[(slot, version)] = ends.get((slot, version), 0) + 1
    return points, ends


def _version(variant):
    return IMAGES.get(variant, (V2, "2.0.0"))[1]


def test_clean_run_installs_and_confirms():
    micropython = board_runtime()
    for variant in VARIANTS:
        start, ops = base(variant, micropython)
        slot, version, floor, boots = install_run(start, micropython, new_image(variant))
        assert (slot, version, floor) == ("ota_1", _version(variant), 2)
        assert [r.outcome for r in boots] == ["reset", "reset", "ok"]
        print("%s: %d flash operations, %d cut points" % (variant, ops, len(cut_points(variant, ops))))


@pytest.mark.parametrize("chunk", range(CHUNKS))
@pytest.mark.parametrize("variant", VARIANTS)
def test_power_cut_at_every_flash_operation(variant, chunk):
    points, ends = sweep(variant, chunk, board_runtime())
    assert points
    # Cuts early in the run leave v1, late ones v2: both ends must occur in a sweep this wide.
    assert set(ends) == {("ota_0", "1.0.0"), ("ota_1", _version(variant))}, ends
