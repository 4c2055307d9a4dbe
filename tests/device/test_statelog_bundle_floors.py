"""Bundle floors in the state log (statelog.State.bundle_floor / raise_bundle_floor): one
security version floor per bundle name, monotonic like the global floor.

Runs on CPython and on MicroPython (RAM NOR double). The power-cut sweep with bundle floors is
in tests/test_statelog_powercut.py.
"""

import struct

import devtest
from mpboot_fw import staterec as R
from mpboot_fw import statelog as S
from nor_ram import NorRam, PowerCut
from statelog_craft import craft_sector, crafted_snapshot, free_sectors

ROOT = b'{"signed": {"version": 1}, "pad": "' + b"r" * 600 + b'"}'


def fresh(blocks=16):
    dev = NorRam(blocks)
    S.format_partition(dev, ROOT, root_version=1)
    return dev, S.load(dev)


def clean(dev):
    assert dev.faults == 0, "programmed over non-erased bytes"
    assert dev.misaligned == 0, "write not 16-byte aligned"


def bfloor(name, floor):
    raw = name.encode() if isinstance(name, str) else name
    return bytes([len(raw)]) + raw + struct.pack("<I", floor)


def test_raise_is_monotonic_and_persists():
    dev, st = fresh()
    assert st.bundle_floor("app") == 0 and st.bundle_floors() == []
    assert st.raise_bundle_floor("app", 3) == 3
    ops = dev.ops
    assert st.raise_bundle_floor("app", 2) == 3 and st.raise_bundle_floor("app", 3) == 3
    assert st.raise_bundle_floor("other", 0) == 0
    assert dev.ops == ops, "a value that is not higher must not even be written"
    assert st.raise_bundle_floor("mpboot", 1) == 1
    assert st.raise_bundle_floor("app", 7) == 7
    again = S.load(dev)
    assert again.bundle_floors() == [("app", 7), ("mpboot", 1)]
    assert again.bundle_floor("app") == 7 and again.bundle_floor("nothing") == 0
    assert again.floor == 0, "the global floor is another value"
    clean(dev)


def test_bad_names_and_versions_are_refused():
    dev, st = fresh()
    ops = dev.ops
    for name in ("", "App", "1app", "a" * 33, "a/b", "a.b", "caf\u00e9", None, b"app"):
        devtest.raises(ValueError, st.raise_bundle_floor, name, 1)
    devtest.raises(ValueError, st.raise_bundle_floor, "app", -1)
    devtest.raises(ValueError, st.raise_bundle_floor, "app", 1 << 32)
    assert dev.ops == ops
    assert st.raise_bundle_floor("a" * 32, 0xFFFFFFFF) == 0xFFFFFFFF
    assert st.raise_bundle_floor("z0_-", 1) == 1
    assert S.load(dev).bundle_floors() == [("a" * 32, 0xFFFFFFFF), ("z0_-", 1)]


def test_the_name_check_agrees_with_bundle_is_name():
    from mpboot_fw import bundle

    for c in range(256):
        for text in (chr(c), "a" + chr(c), chr(c) + "a"):
            raw = text.encode()
            assert R.is_name(raw, 0, len(raw)) == bundle.is_name(text), repr(text)
    for text in ("a" * 32, "a" * 33, "x-1_y"):
        raw = text.encode()
        assert R.is_name(raw, 0, len(raw)) == bundle.is_name(text)


def test_cap_refuses_a_seventeenth_name_before_writing():
    dev, st = fresh()
    for i in range(S.MAX_BUNDLES):
        st.raise_bundle_floor("b%02d" % i, i + 1)
    ops = dev.ops
    devtest.raises(S.StateError, st.raise_bundle_floor, "one-more", 1)
    assert dev.ops == ops, "refused before writing anything"
    st.raise_bundle_floor("b00", 50)  # a name it has still goes up
    again = S.load(dev)
    assert len(again.bundle_floors()) == S.MAX_BUNDLES and again.bundle_floor("b00") == 50
    assert again.bundle_floor("one-more") == 0
    clean(dev)


def test_crafted_lower_records_do_not_lower_them():
    dev, st = fresh(blocks=4)
    st.raise_bundle_floor("app", 9)
    st.raise_bundle_floor("mpboot", 4)
    # A lower record appended to the live log, valid CRC, next sequence number.
    off = craft_sector(dev, st._sec, [(R.T_BFLOOR, 0, st._seq + 1, bfloor("app", 2))], off=st._off)
    assert off > st._off
    again = S.load(dev)
    assert again.bundle_floor("app") == 9 and not again.wear()["needs_compaction"]
    # A whole crafted snapshot in a free sector, numbered above, with its own root and lower
    # bundle floors: it is taken as the state, the floors stay.
    snap = crafted_snapshot(again._seq + 1, 77, 0, b"crafted root")
    seq = snap[-1][2]
    snap[-1:] = [(R.T_BFLOOR, R.F_SNAP, seq, bfloor("app", 1)), (R.T_BFLOOR, R.F_SNAP, seq + 1, bfloor("mpboot", 0)),
                 (R.T_END, R.F_SNAP, seq + 2, struct.pack("<I", snap[0][2]))]
    craft_sector(dev, free_sectors(again)[0], snap)
    taken = S.load(dev)
    assert taken.generation == 77 and taken.root() == b"crafted root"
    assert taken.bundle_floors() == [("app", 9), ("mpboot", 4)]
    # ... and compaction carries the maxima forward past the erase of the old sectors.
    for i in range(200):
        taken.log_event("e", "x" * 60)
    final = S.load(dev)
    assert final.generation > 78 and final.bundle_floors() == [("app", 9), ("mpboot", 4)]
    assert dev.faults == 0


def test_malformed_records_are_invisible():
    dev, st = fresh()
    st.raise_bundle_floor("app", 5)
    bad = [bfloor("App", 9), bfloor("", 9), bfloor("a" * 33, 9), bfloor("a/b", 9), bfloor("9a", 9),
           bfloor("app", 9)[:-1], bfloor("app", 9) + b"\x00", b"\x05app" + struct.pack("<I", 9),
           b"\x02app" + struct.pack("<I", 9)]
    for payload in bad:
        d2, s2 = fresh()
        s2.raise_bundle_floor("app", 5)
        craft_sector(d2, s2._sec, [(R.T_BFLOOR, 0, s2._seq + 1, payload)], off=s2._off)
        again = S.load(d2)
        assert again.bundle_floors() == [("app", 5)], payload
        assert again.wear()["needs_compaction"], payload  # a record, not erased space
        again.raise_bundle_floor("app", 6)
        assert S.load(d2).bundle_floors() == [("app", 6)]
    # Unknown flags: the same.
    craft_sector(dev, st._sec, [(R.T_BFLOOR, 2, st._seq + 1, bfloor("app", 9))], off=st._off)
    assert S.load(dev).bundle_floor("app") == 5


def test_torn_record_is_invisible():
    dev, st = fresh()
    st.raise_bundle_floor("app", 1)
    for mode in ("before", "torn", "after"):
        for k in range(2):
            d2 = NorRam(16)
            d2.mem[:] = dev.mem
            s2 = S.load(d2)
            d2.cut(k, mode)
            devtest.raises(PowerCut, s2.raise_bundle_floor, "app", 2)
            got = S.load(d2).bundle_floor("app")
            want = 2 if (k, mode) == (1, "after") else 1
            assert got == want, (k, mode, got)
            # The log goes on: the next raise lands.
            again = S.load(d2)
            again.raise_bundle_floor("app", 3)
            assert S.load(d2).bundle_floor("app") == 3
            assert d2.faults == 0


def test_more_names_than_the_writer_writes_fail_closed():
    dev, st = fresh()
    st.raise_bundle_floor("app", 2)
    free = free_sectors(st)
    recs = [(R.T_BFLOOR, 0, 5000 + i, bfloor("n%02d" % i, 1)) for i in range(S.MAX_BUNDLES - 1)]
    craft_sector(dev, free[0], recs)
    # 16 names together: still a state (crafted names raise floors, as a crafted floor does).
    assert len(S.load(dev).bundle_floors()) == S.MAX_BUNDLES
    # A 17th, even in another sector: no state could carry them all, and dropping one could
    # lower it: load refuses.
    craft_sector(dev, free[1], [(R.T_BFLOOR, 0, 9000, bfloor("extra", 1))])
    devtest.raises(S.StateError, S.load, dev)


def test_carried_across_compactions_with_everything_else():
    dev, st = fresh(blocks=4)
    for i in range(S.MAX_BUNDLES):
        st.raise_bundle_floor(("n%02d-" % i) + "x" * 28, i + 1)
    st.raise_floor(3)
    for i in range(160):
        st.log_event("boot", "n%d" % i + "x" * 60)
        if i % 40 == 0:
            st.raise_bundle_floor("n00-" + "x" * 28, 100 + i)
    again = S.load(dev)
    assert again.generation >= 2, again.generation
    floors = dict(again.bundle_floors())
    assert len(floors) == S.MAX_BUNDLES and floors["n00-" + "x" * 28] == 220
    assert floors["n15-" + "x" * 28] == 16 and again.floor == 3
    clean(dev)


def test_a_snapshot_record_is_sized_before_the_raise():
    """The snapshot after a raise that adds a name is one record larger: the writer lays that
    out before writing, and a partition too small for it refuses, leaving the state as it was."""
    dev = NorRam(2)
    S.format_partition(dev, b"r" * 3700, root_version=1)
    st = S.load(dev)
    n = 0
    while True:
        try:
            st.raise_bundle_floor("b%02d" % n + "y" * 29, 1)
        except S.StateError:
            break
        n += 1
        assert n <= S.MAX_BUNDLES
    again = S.load(dev)
    assert len(again.bundle_floors()) == n < S.MAX_BUNDLES
    assert again.wear()["free_sectors"] >= again.wear()["snapshot_sectors"]
    clean(dev)


def test_old_logs_without_bundle_floors_read_as_before():
    """A log as the writer before bundle floors left it (no T_BFLOOR anywhere): same state."""
    dev = NorRam(4)
    event = struct.pack("<I", 2) + b"\x02ok\x00\x00"
    craft_sector(dev, 0, crafted_snapshot(1, 3, 5, ROOT) + [(R.T_EVENT, 0, 8, event)])
    st = S.load(dev)
    assert st.generation == 3 and st.floor == 5 and st.bundle_floors() == []
    assert list(st.events()) == [(2, "ok", "", None)]
    st.raise_bundle_floor("app", 1)
    assert S.load(dev).bundle_floors() == [("app", 1)] and S.load(dev).floor == 5


def test_cut_at_every_operation_of_a_compacting_raise():
    """A raise that compacts first (the log is full) then adds a name: every operation cut
    before / torn / after leaves each floor at its old or new value, and the log goes on."""
    dev = NorRam(2)  # a snapshot fills most of a sector: few records for each load to read
    st = S.format_partition(dev, b"r" * 3600, root_version=1)
    st.raise_bundle_floor("mpboot", 2)
    st.raise_bundle_floor("app", 1)
    n = 1
    while True:  # fill with raises of the same size until the raise must compact
        if st._off + 32 <= st._bs:  # it fits the tail sector: no compaction, no need to try
            n += 1
            st.raise_bundle_floor("app", n)
            continue
        image = bytes(dev.mem)
        probe = NorRam(2)
        probe.mem[:] = image
        start = probe.ops
        S.load(probe).raise_bundle_floor("ui", 7)
        ops = probe.ops - start
        if S.load(probe).generation > S.load(dev).generation:
            break
        n += 1
        st.raise_bundle_floor("app", n)
        assert n < 1000
    old = [("app", n), ("mpboot", 2)]
    new = [("app", n), ("mpboot", 2), ("ui", 7)]
    assert S.load(probe).bundle_floors() == new and ops > 10
    seen = set()
    for k in range(ops):
        for mode in ("before", "torn", "after"):
            dev.mem[:] = image
            again = S.load(dev)
            dev.cut(k, mode)
            devtest.raises(PowerCut, again.raise_bundle_floor, "ui", 7)
            after = S.load(dev)
            got = after.bundle_floors()
            assert got in (old, new), (k, mode, got)
            seen.add(len(got))
            after.raise_bundle_floor("app", n + 1)
            assert S.load(dev).bundle_floors() == [("app", n + 1)] + got[1:]
            assert dev.faults == 0 and dev.misaligned == 0
    assert seen == {2, 3}, seen


def test_a_higher_floor_outside_the_log_is_kept_until_a_snapshot_carries_it():
    """A crafted (or stranded) higher bundle floor in a free sector raises that floor; its sector
    is not erased before a snapshot carries the value, so it survives every compaction after."""
    dev, st = fresh(blocks=4)
    st.raise_bundle_floor("app", 3)
    sector = free_sectors(st)[-1]
    craft_sector(dev, sector, [(R.T_BFLOOR, 0, 3, bfloor("app", 40)), (R.T_BFLOOR, 0, 4, bfloor("new", 2))])
    again = S.load(dev)
    assert again.bundle_floors() == [("app", 40), ("new", 2)]
    assert again.wear()["needs_compaction"] and again._used[sector]
    for i in range(200):
        again.log_event("e", "x" * 60)
    final = S.load(dev)
    assert final.generation >= 2 and final.bundle_floors() == [("app", 40), ("new", 2)]
    assert dev.erases[sector] >= 1, "the crafted sector was reused after the snapshot carried it"
    clean(dev)
