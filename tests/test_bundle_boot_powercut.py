"""Power cuts over a bundle's trial and confirmation on the emulated board (unix port: LittleFS
inside the flash model, every program and erase of it a numbered flash operation).

Four runs, each from a board that just installed a new copy (pointer "a b"), through its
trial, its confirmation or rollback, and the first boot after: the application bundle v2
(confirmed), one whose health check fails (rolled back), mpboot's own package 1.1.0 (the fixed
loader's trial, confirmed by the stage) and a copy of it that does not import (rolled back by
the loader). The power is cut before, in the middle of (torn) or after an operation of the
clean run, then the board boots on until the application runs with no trial left. After every
boot: the application only ran at or above its bundle's floor, no floor went down, nothing
was refused (the other copy always verified), the board never ended in an exception; at the
end one more boot changes nothing, and the device is on the new copy (confirmed, its floor
raised) or on the old one (its trial rolled back, the floor unchanged), as the cut allows.

`make test` cuts a deterministic sample (every second to fifth operation, STEP, the cut mode
rotating; 20 cuts, about 25 s); MPBOOT_FULL_SWEEP=1 cuts every operation of every run in all
three modes (192 cuts, about 3 minutes here).
"""

import os

import pytest

from bootstage import board, state
from bundleboard import app_bundle, app_version, bundle_events, install, package_bundle, pointer, provisioned
from emuboard import unix_runtime
from mpboot.emulator.flash import CUT_MODES, CutPlan, NorFlash

FULL = os.environ.get("MPBOOT_FULL_SWEEP") == "1"
NEW_PACKAGE = {"mpboot_fw/release.py": b"V = '1.1.0'\n"}
BROKEN_PACKAGE = {"mpboot_fw/stage.mpy": None, "mpboot_fw/stage.py": b"def main(:\n"}
# run: (package installed at provisioning, the new bundle, the bundle it is, the end states a cut may leave)
RUNS = {
    "app": (False, lambda: app_bundle("2.0.0", 2), "app", {"b": 2, "a": 1}),
    "app-fails": (False, lambda: app_bundle("2.0.0", 2, health="fail"), "app", {"a": 1}),
    "mpboot": (True, lambda: package_bundle("1.1.0", 2, NEW_PACKAGE), "mpboot", {"b": 2, "a": 1}),
    "mpboot-broken": (True, lambda: package_bundle("1.1.0", 2, BROKEN_PACKAGE), "mpboot", {"a": 1}),
}
STEP = {"app": 2, "app-fails": 4, "mpboot": 3, "mpboot-broken": 5}
SV = {"1.0.0": 1, "2.0.0": 2}
_BASES = {}


def base(run, runtime):
    """(flash bytes with the new copy installed, operations of the clean run from there)."""
    if run not in _BASES:
        package, new, _, _ = RUNS[run]
        flash = provisioned(package=package_bundle("1.0.0") if package else None)
        b = board(flash, runtime)
        assert app_version(b.boot()) == "1.0.0"
        record = install(b, new())
        assert "INSTALLED" in record.text, record.text
        start = bytes(flash.mem)
        flash.reset_log()
        _, boots = boot_on(NorFlash(data=start), runtime, run)
        _BASES[run] = (start, sum(r.flash["operations"] for r in boots))
    return _BASES[run]


def boot_on(flash, runtime, run, max_boots=6):
    """Boot until the application runs with no bundle trial left, checking every boot; returns
    the end state (name's pointer, floor) and the boots."""
    name = RUNS[run][2]
    b = board(flash, runtime, run_timeout=10.0)
    floors = dict(state(flash).bundle_floors())
    boots = []
    while True:
        record = b.boot()
        boots.append(record)
        where = "boot %d (%s) of %s" % (len(boots) - 1, record.outcome, [r.outcome for r in boots])
        assert record.outcome in ("ok", "reset", "power_cut"), where + "\n" + record.text
        now = dict(state(flash).bundle_floors())
        for n, floor in floors.items():
            assert now.get(n, 0) >= floor, "the floor of %s went down at %s" % (n, where)
        ran = app_version(record)
        if ran is not None:
            assert SV[ran] >= floors.get("app", 0), "the app ran below its floor at " + where
        floors = now
        refused = [e for e in bundle_events(flash) if e[0] in ("bundle-refused", "bundle-held")]
        assert not refused, "%s at %s\n%s" % (refused, where, record.text)
        if ran is not None and " " not in pointer(flash, "app") and " " not in (pointer(flash, "mpboot") or ""):
            break
        assert len(boots) < max_boots, "no stable state after %d boots: %s" % (max_boots, [r.outcome for r in boots])
    end = pointer(flash, name), state(flash).bundle_floor(name)
    again = b.boot()
    assert app_version(again) == ran and (pointer(flash, name), state(flash).bundle_floor(name)) == end, again.text
    return end, boots


def cut_points(run, ops):
    if FULL:
        return [(k, mode) for k in range(ops) for mode in CUT_MODES]
    return [(k, CUT_MODES[k // STEP[run] % 3]) for k in range(0, ops, STEP[run])]


@pytest.mark.parametrize("run", sorted(RUNS))
def test_a_power_cut_anywhere_in_a_bundle_trial_leaves_a_verified_copy_running(run):
    runtime = unix_runtime()
    start, ops = base(run, runtime)
    ends = set()
    for at, mode in cut_points(run, ops):
        flash = NorFlash(data=start)
        flash.cut = CutPlan(at, mode)
        try:
            (copy, floor), boots = boot_on(flash, runtime, run)
        except AssertionError as e:
            raise AssertionError("cut %s operation %d: %s" % (mode, at, e)) from None
        assert [r.outcome for r in boots].count("power_cut") == 1, "cut %s operation %d never came" % (mode, at)
        assert RUNS[run][3].get(copy) == floor, "cut %s operation %d: ended on copy %s, floor %d" % (mode, at, copy,
                                                                                                  floor)
        ends.add(copy)
    if run in ("app", "mpboot"):
        # Both outcomes occur: cuts before the confirmation roll back, those after it finish.
        assert ends == {"a", "b"}, ends
