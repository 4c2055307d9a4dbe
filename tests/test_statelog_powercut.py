"""Power cuts at every flash operation of the state log (NorFlash model, CPython).

For each scripted mutation j, the flash as it stood before j is the checkpoint (a device boots,
loads its state, makes one change). Every operation k of that boot (load + mutation) is cut
before, torn (at several fractions) and after; then the state read back must be exactly the
state before j or the state after j, computed by an independent model (never a mix, never an
older one), the floor must not have gone down, and the log must go on working: the rest of the
mutation and the next one are applied and checked. Random runs cut again and again, including
in the middle of the repair (compaction) that follows a cut. The bundle floors (one per name)
are in the scripts: a cut leaves each at its old or new value, never lower.
"""

import random

import pytest

from mpboot.emulator.flash import NorFlash, CutPlan, PowerCut
from mpboot.emulator.partition import FlashPartition
from mpboot_fw import statelog

SECTOR = 4096
SHA = bytes(range(32))
CUTS = [("before", 0.5), ("after", 0.5), ("torn", 0.5), ("torn", 0.1), ("torn", 0.9)]


class Model:
    """What the state must be after each mutation: the semantics, written independently."""

    def __init__(self, root, version):
        self.floor = self.time = self.boot = 0
        self.pending = None
        self.root = (version, root)
        self.blobs = {}
        self.events = []
        self.bundles = {}

    def apply(self, m):
        op, args = m[0], m[1:]
        if op == "floor":
            self.floor = max(self.floor, args[0])
        elif op == "time":
            self.time = max(self.time, args[0])
        elif op == "boot":
            self.boot += 1
        elif op == "pending":
            slot, version, secver = args
            self.pending = {"slot": slot, "version": version, "secver": secver, "sha256": SHA, "boot": self.boot}
        elif op == "clear":
            self.pending = None
        elif op == "event":
            self.events = (self.events + [(self.boot, args[0], args[1], args[2])])[-statelog.EVENT_RING:]
        elif op == "blob":
            self.blobs[args[0]] = (args[2], args[1])
        elif op == "delete":
            self.blobs.pop(args[0], None)
        elif op == "root":
            self.root = (args[1], args[0])
        elif op == "bfloor":
            self.bundles[args[0]] = max(self.bundles.get(args[0], 0), args[1])

    def observe(self):
        return (self.floor, self.time, self.boot, self.pending, self.root,
                sorted((n, v, d) for n, (v, d) in self.blobs.items()), self.events, sorted(self.bundles.items()))


def observe(st):
    blobs = sorted((n, st.blob_version(n), st.blob(n)) for n in st.blob_names() if n != statelog.ROOT)
    return (st.floor, st.time_floor, st.boot_count, st.pending, (st.root_version, st.root()), blobs,
            list(st.events()), st.bundle_floors())


def bundle_floors_not_lower(got, before):
    """Every bundle floor of `before` is still there, at least as high."""
    floors = dict(got[7])
    return all(floors.get(name, 0) >= floor for name, floor in before[7])


def mutate(st, m):
    op, args = m[0], m[1:]
    if op == "floor":
        st.raise_floor(args[0])
    elif op == "time":
        st.raise_time(args[0])
    elif op == "boot":
        st.next_boot()
    elif op == "pending":
        st.set_pending(args[0], args[1], args[2], SHA)
    elif op == "clear":
        st.clear_pending()
    elif op == "event":
        st.log_event(*args)
    elif op == "blob":
        st.set_blob(*args)
    elif op == "delete":
        st.delete_blob(args[0])
    elif op == "root":
        st.set_root(*args)
    elif op == "bfloor":
        st.raise_bundle_floor(*args)


def blob(tag, n):
    return (tag * (n // len(tag) + 1))[:n]


def script_small():
    """A small partition (5 sectors) so that compaction comes every few mutations."""
    s = [("boot",), ("event", "boot", "first boot", None), ("blob", "timestamp", blob(b"ts1", 300), 1),
         ("blob", "snapshot", blob(b"sn1", 700), 1), ("blob", "targets", blob(b"tg1", 1500), 1),
         ("floor", 1), ("bfloor", "mpboot", 1), ("bfloor", "app", 2), ("time", 1700000000), ("pending", "ota_1", "1.1.0", 2),
         ("event", "installed", "ota_1 1.1.0", "secver=2"), ("boot",), ("event", "verified", "sig ok", None),
         ("floor", 2), ("clear",), ("event", "confirmed", "health ok", None)]
    for i in range(8):
        s += [("boot",), ("event", "check", "update check %d ok" % i, None), ("time", 1700000100 + i),
              ("blob", "timestamp", blob(b"ts%d" % i, 280 + 40 * i), 2 + i),
              ("blob", "targets", blob(b"tg%d" % i, 1400 + 50 * i), 2 + i)]
        if i == 2:
            s += [("root", blob(b"root2", 2600), 2), ("delete", "snapshot")]
        if i in (1, 3, 6):
            s += [("bfloor", "app", 2 + i), ("bfloor", "mpboot", i)]  # i == 1: mpboot not higher
        if i == 5:
            s += [("bfloor", "ui-" + "x" * 29, 0xFFFFFFFF)]
        if i == 4:
            s += [("blob", "snapshot", blob(b"sn5", 900), 5), ("event", "refused", "security version 1 below floor 2", None)]
    return 5, blob(b"root1", 1200), s


def script_board():
    """The board's 64 KiB partition with realistic metadata sizes, new targets metadata often."""
    s = [("boot",), ("blob", "timestamp", blob(b"T", 600), 1), ("blob", "snapshot", blob(b"S", 900), 1)]
    for i in range(44):
        s += [("blob", "targets", blob(b"tgt%d" % i, 3000 + 37 * i), 1 + i), ("event", "check", "new targets", "v=%d" % i)]
        if i % 10 == 4:
            s += [("pending", "ota_%d" % (i % 2), "1.%d.0" % i, i), ("boot",), ("floor", i), ("clear",)]
        if i in (13, 31):
            s += [("bfloor", "app" if i == 13 else "mpboot", i)]
    return 16, blob(b"R", 2200), s


def run_counting(blocks, root, script):
    """Run the script boot by boot; return the checkpoints, op counts and model states."""
    flash = NorFlash(blocks * SECTOR)
    part = FlashPartition(flash, 0, blocks * SECTOR)
    statelog.format_partition(part, root, root_version=1)
    model = Model(root, 1)
    states = [model.observe()]
    images, ops = [], []
    for m in script:
        images.append(bytes(flash.mem))
        flash.reset_log()
        mutate(statelog.load(part), m)
        ops.append(flash.op_count)
        model.apply(m)
        states.append(model.observe())
        assert observe(statelog.load(part)) == states[-1], m
    assert not flash.faults
    return images, ops, states, statelog.load(part).generation


def boot_with_cut(image, m, plan):
    flash = NorFlash(data=image)
    part = FlashPartition(flash, 0, len(image))
    flash.cut = plan
    try:
        mutate(statelog.load(part), m)
    except PowerCut:
        flash.cut = None
        return flash, part, True
    flash.cut = None
    return flash, part, False


@pytest.mark.parametrize("make", [script_small, script_board], ids=["small", "board"])
def test_every_cut_point_reads_back_old_or_new(make):
    blocks, root, script = make()
    images, ops, states, generation = run_counting(blocks, root, script)
    assert generation >= 3, "the script must force several compactions"
    count = 0
    for j, m in enumerate(script):
        before, after = states[j], states[j + 1]
        for k in range(ops[j]):
            for mode, fraction in CUTS:
                flash, part, cut = boot_with_cut(images[j], m, CutPlan(k, mode, fraction))
                assert cut, "op %d of mutation %d was not reached" % (k, j)
                count += 1
                got = observe(statelog.load(part))
                where = "mutation %d %r, op %d %s %.1f: %r" % (j, m[0], k, mode, fraction, flash.ops[-1])
                assert got in (before, after), where
                if mode == "before" and k == 0:
                    assert got == before, where
                if mode == "after" and k == ops[j] - 1:
                    assert got == after, where
                assert got[0] >= before[0], "floor went down: " + where
                assert bundle_floors_not_lower(got, before), "a bundle floor went down: " + where
                # Recovery: finish the interrupted change if it was lost, then one more.
                if got == before:
                    mutate(statelog.load(part), m)
                    assert observe(statelog.load(part)) == after, where
                if j + 1 < len(script):
                    mutate(statelog.load(part), script[j + 1])
                    assert observe(statelog.load(part)) == states[j + 2], where
                assert not flash.faults, where
    print("\n%s: %d mutations, %d flash operations, %d cut points, all old-or-new"
          % (make.__name__, len(script), sum(ops), count))


@pytest.mark.parametrize("seed", range(12))
def test_random_repeated_cuts_including_during_repair(seed):
    rng = random.Random(seed)
    blocks, root, script = script_small() if seed % 2 else script_board()
    _, _, states, _ = run_counting(blocks, root, script)
    flash = NorFlash(blocks * SECTOR)
    part = FlashPartition(flash, 0, blocks * SECTOR)
    statelog.format_partition(part, root, root_version=1)
    done = 0  # mutations known committed
    cuts = repair_cuts = 0
    floor = 0
    while done < len(script):
        flash.reset_log()
        st = statelog.load(part)
        if rng.random() < 0.7:
            flash.cut = CutPlan(rng.randrange(0, 12), rng.choice(["before", "torn", "after"]), rng.random())
        try:
            mutate(st, script[done])
            done += 1
        except PowerCut:
            cuts += 1
            repair_cuts += st.wear()["needs_compaction"]
        flash.cut = None
        got = observe(statelog.load(part))
        assert got in (states[done], states[done + 1] if done < len(script) else None), (seed, done)
        assert bundle_floors_not_lower(got, states[done]), (seed, done)
        if got != states[done]:
            done += 1
        assert got[0] >= floor
        floor = got[0]
        assert not flash.faults
    assert observe(statelog.load(part)) == states[-1]
    assert cuts > 5 and repair_cuts > 0, (cuts, repair_cuts)
    print("\nseed %d: %d cuts, %d of them during the repair of an earlier cut" % (seed, cuts, repair_cuts))


@pytest.mark.parametrize("make", [script_small, script_board], ids=["small", "board"])
def test_a_long_lived_state_writes_what_a_fresh_load_writes(make):
    """The sweep loads the state before each mutation; a State kept open across mutations must
    issue exactly the same flash operations, so the sweep covers it too."""
    blocks, root, script = make()
    runs = []
    for reload in (True, False):
        flash = NorFlash(blocks * SECTOR)
        part = FlashPartition(flash, 0, blocks * SECTOR)
        st = statelog.format_partition(part, root, root_version=1)
        flash.reset_log()
        for m in script:
            mutate(statelog.load(part) if reload else st, m)
        runs.append((flash.ops, bytes(flash.mem)))
    assert runs[0] == runs[1]


def hostile_image():
    """A genuine log, then in its free sectors a crafted record numbered 0xFFFFFFFF (its repair
    drops that sector and numbers on from the log's own top) and a crafted floor above the
    log's (kept until a snapshot carries it): the two new paths of the repair."""
    from statelog_craft import U32, free_sectors, record
    from mpboot_fw import staterec as R

    flash = NorFlash(6 * SECTOR)
    part = FlashPartition(flash, 0, 6 * SECTOR)
    statelog.format_partition(part, blob(b"root1", 1200), root_version=1)
    st = statelog.load(part)
    for m in script_small()[2][:12]:
        mutate(st, m)
    free = free_sectors(st)
    flash.load(free[1] * SECTOR, record(R.T_EVENT, 0, U32, b"\x00" * 7))
    flash.load(free[0] * SECTOR, record(R.T_FLOOR, 0, 3, (50).to_bytes(4, "little")))
    return bytes(flash.mem)


@pytest.mark.parametrize("m", [("event", "check", "after hostile records", None), ("floor", 60),
                               ("blob", "targets", blob(b"tg9", 2500), 9)], ids=["event", "floor", "blob"])
def test_cut_points_of_a_repair_around_hostile_records(m):
    image = hostile_image()
    part = FlashPartition(NorFlash(data=image), 0, len(image))
    start = statelog.load(part)
    assert start.wear()["needs_compaction"] and start.floor == 50
    before = observe(start)
    flash = NorFlash(data=image)
    part = FlashPartition(flash, 0, len(image))
    mutate(statelog.load(part), m)
    after = observe(statelog.load(part))
    assert after != before and statelog.load(part).wear()["sequence"] < 1000
    count = 0
    for k in range(flash.op_count):
        for mode, fraction in CUTS:
            flash, part, cut = boot_with_cut(image, m, CutPlan(k, mode, fraction))
            assert cut
            count += 1
            got = observe(statelog.load(part))
            where = "op %d %s %.1f: %r" % (k, mode, fraction, flash.ops[-1])
            assert got in (before, after), where
            assert got[0] >= 50, "floor went down: " + where
            if got == before:
                mutate(statelog.load(part), m)
            assert observe(statelog.load(part)) == after, where
            assert not flash.faults, where
    assert count > 100, count
    print("\n%s after hostile records: %d cut points, all old-or-new" % (m[0], count))
