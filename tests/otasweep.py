"""Power-cut sweep over an over-the-air update on the emulated board (tests/otaworld.py).

A base flash: the device (v1.0.0) has checked once, and the repository then got 2.0.0 (and, in
the "rotation" variant, a new root that replaces the timestamp key). From there a clean run is
the update check (metadata refresh into the state log, time floor, download into ota_1,
pending record, set_boot), the trial boot (the boot stage confirms) and the next check. Every
flash operation of that run is numbered; `run(cut)` cuts the power before, in the middle of
(torn) or after one of them, then boots on until the application runs with nothing pending.

After every boot it checks what must hold whatever the cut:
- the application ran only on an image that verifies against the stored root, at or above the
  floor (checked with the device's own image.verify_slot);
- the security floor and the time floor never went down;
- the trusted metadata in the state is a consistent set: the stored root verifies itself, the
  stored timestamp (when kept: a rotation drops what the old keys signed) verifies under it,
  the stored snapshot is the one it names or an older one kept after a check cut short, and
  the stored targets are what that snapshot names, hashes included (checked with the device's
  own TrustedSet);
- the board always had an image to boot and the stage never held the application back.
The run must end on 2.0.0: an interrupted update is completed by a later check.
"""

import time

from mpboot.emulator.flash import CUT_MODES, CutPlan, NorFlash
from mpboot.emulator.partition import FlashPartition
from mpboot_fw import image, trust, tuf, tufstore
from otaworld import BOARD, World

MAX_BOOTS = 8


def prepare(tmp_path, runtime, variant="plain"):
    """(world, base flash bytes): a device that checked once, and a repository with 2.0.0."""
    w = World(tmp_path, runtime)
    assert "ota: current" in w.boot().output
    if variant == "rotation":
        w.add_key("timestamp", "timestamp-2.pem", replace=True)
    w.publish("2.0.0")
    w.flash.reset_log()
    return w, bytes(w.flash.mem)


def run(w, base, cut=None):
    """Boot a copy of `base` (with the power cut per `cut`) until the application ran with
    nothing pending; check the invariants after every boot. Returns (slot, version, boots)."""
    flash = NorFlash(data=base)
    flash.cut = cut
    w.use_flash(flash)
    st = w.state()
    floor, time_floor = st.floor, st.time_floor
    # One fixed clock for every run of a base: with the real clock, whether a check writes a new
    # time floor depends on whether a second has passed since the last one, so the number of
    # flash operations (and so which cut points exist) changed with the machine's load.
    clock = time_floor + 60
    boots = []
    while True:
        record = w.boot(clock=clock, options={"backoff_ms": 10})
        boots.append(record)
        where = "boot %d (%s, cut %s): %s" % (len(boots) - 1, record.outcome, _cut_name(cut), record.error or "")
        assert record.outcome in ("ok", "reset", "power_cut"), where + "\n" + record.text
        st = w.state()
        assert st.floor >= floor and st.time_floor >= time_floor, "a floor went down at " + where
        root = trust.load_root(st.root())
        ran = "status:" in record.text
        if ran:
            part = BOARD.partition(record.slot)
            m = image.verify_slot(FlashPartition(flash, part.offset, part.size), root, 0, BOARD.name, floor)
            assert (m.version, m.security_version) == (record.app["version"], 1), where
        assert_consistent_metadata(st, where)
        floor, time_floor = st.floor, st.time_floor
        if ran and st.pending is None:
            break
        assert len(boots) < MAX_BOOTS, "no stable state: %s" % [r.outcome for r in boots]
    return record.slot, record.app["version"], boots


def assert_consistent_metadata(st, where):
    """The stored set verifies under the stored root (a rotation may have dropped what the old
    keys signed): the timestamp; the newest snapshot that verified, which may be older than the
    one the timestamp names after a check cut short (it then loads as intermediate, spec 5.5.5);
    targets only beside the snapshot that names their version, hashes included."""
    store = tufstore.Store(st, None)
    data = {role: store.load(role) for role in tufstore.ROLES}
    trusted = tuf.TrustedSet(st.root(), int(time.time()))
    present = [role for role in tufstore.ROLES if data[role] is not None]
    assert present == list(tufstore.ROLES[:len(present)]), where
    if not present:
        return
    trusted.update_timestamp(data["timestamp"])
    if data["snapshot"] is None:
        return
    try:
        trusted.update_snapshot(data["snapshot"], trusted=True)
    except tuf.MixAndMatch:
        # A kept older snapshot: its targets, if stored, are the version it names.
        if data["targets"] is not None:
            signed = trust.load_envelope(data["targets"], "targets")[0]
            assert signed["version"] == trusted.snapshot["meta"]["targets.json"]["version"], where
        return
    if data["targets"] is not None:
        trusted.update_targets(data["targets"])


def clean_ops(w, base):
    slot, version, boots = run(w, base)
    assert (slot, version) == ("ota_1", "2.0.0")
    return sum(r.flash["operations"] for r in boots), boots


def cut_points(ops, full):
    """Every operation in every mode (full), else every operation in one mode, rotating."""
    if full:
        return [(k, mode) for k in range(ops) for mode in CUT_MODES]
    return [(k, CUT_MODES[k % 3]) for k in range(ops)]


def sweep(w, base, points):
    """Run every cut point; returns {(slot, version): count} of where the boots ended."""
    ends = {}
    for k, mode in points:
        slot, version, boots = run(w, base, CutPlan(k, mode))
        assert any(r.outcome == "power_cut" for r in boots), (k, mode)
        ends[(slot, version)] = ends.get((slot, version), 0) + 1
    return ends


def _cut_name(cut):
    return "none" if cut is None else "%s op %d" % (cut.mode, cut.at)
