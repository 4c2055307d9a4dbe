"""The state log against records it did not write: replayed old sectors and crafted records
with valid CRCs in the sectors that hold nothing live (docs/state-log.md, "Hostile records").

Runs on CPython and on MicroPython; the property test takes a smaller sample on MicroPython.
"""

import struct

import devtest
from mpboot_fw import staterec as R
from mpboot_fw import statelog as S
from nor_ram import NorRam
from statelog_craft import U32, Rng, blob_records, craft_sector, crafted_snapshot, erase, free_sectors

ROOT = b'{"signed": {"version": 1}}' + b" " * 300
SHA = bytes(range(32))


def fresh(blocks=8):
    dev = NorRam(blocks)
    S.format_partition(dev, ROOT, root_version=1)
    return dev, S.load(dev)


def observe(st):
    return (st.floor, st.time_floor, st.boot_count, st.pending, st.root_version, st.root(),
            [(n, st.blob_version(n), st.blob(n)) for n in st.blob_names()], list(st.events()),
            st.bundle_floors())


def bundle_floors_not_lower(seen, want):
    floors = dict(seen[8])
    return all(floors.get(name, 0) >= floor for name, floor in want[8])


def genuine(dev):
    st = S.load(dev)
    st.raise_floor(9)
    st.raise_time(1700000000)
    st.next_boot()
    st.set_root(ROOT + b"2", 2)
    st.set_pending("ota_1", "1.2.0", 9, SHA)
    st.log_event("installed", "ota_1 1.2.0")
    return S.load(dev)


def test_a_low_numbered_snapshot_in_a_free_sector_does_not_mask_the_log():
    """BEGIN 0 + END 1 (valid CRCs) sort before the genuine log, which starts at 1."""
    dev, _ = fresh()
    st = genuine(dev)
    before = observe(st)
    craft_sector(dev, free_sectors(st)[0], [(R.T_BEGIN, R.F_SNAP, 0, struct.pack("<BI", R.FORMAT, 0)),
                                            (R.T_END, R.F_SNAP, 1, struct.pack("<I", 0))])
    again = S.load(dev)
    assert observe(again) == before
    assert again.floor == 9 and again.root_version == 2
    again.log_event("after", "")
    assert S.load(dev).floor == 9 and list(S.load(dev).events())[-1][1] == "after"
    assert dev.faults == 0


def test_a_snapshot_without_a_root_is_never_the_state():
    """Above the genuine log, complete, valid CRCs, but no root: ignored (a state always has one)."""
    dev, _ = fresh()
    st = genuine(dev)
    before = observe(st)
    for seq in (0, 1, st._seq + 1, U32 - 6):
        erase(dev, free_sectors(st)[0])
        craft_sector(dev, free_sectors(st)[0], crafted_snapshot(seq, 5, 0))
        assert observe(S.load(dev)) == before, seq


def test_old_copies_of_live_sectors_change_nothing():
    """Every sector as it stood at every earlier step, replayed into a free sector."""
    dev, st = fresh()
    images = []
    for i in range(12):
        st.log_event("e%d" % i, "x" * 40)
        st.raise_floor(i)
        images += [bytes(dev.mem[s * 4096:(s + 1) * 4096]) for s in range(dev.blocks) if st._used[s]]
    before = observe(S.load(dev))
    for img in images:
        target = free_sectors(st)[0]
        dev.mem[target * 4096:(target + 1) * 4096] = img
        assert observe(S.load(dev)) == before
        erase(dev, target)


def bad_contents():
    """Records with valid CRCs whose payload the writer could never have written."""
    pending = bytearray(128)
    n = R.put_pending(pending, "ota_1", "1.0", 1, SHA, 0)
    event = bytearray(256)
    m = R.put_event(event, 1, "code", "reason", "detail")
    return [
        ("utf-8", R.T_EVENT, 0, struct.pack("<I", 1) + b"\x02\xc3\x28\x00\x00"),
        ("overlong utf-8", R.T_EVENT, 0, struct.pack("<I", 1) + b"\x02\xc0\x80\x00\x00"),
        ("surrogate", R.T_BLOB, 0, b"\x03\xed\xa0\x80" + bytes(11)),
        ("string past its payload", R.T_PENDING, 0, b"\x40ota_1"),
        ("string past its payload", R.T_EVENT, 0, bytes(event[:5]) + b"\x7f"),
        ("short pending", R.T_PENDING, 0, bytes(pending[:n - 1])),
        ("long pending", R.T_PENDING, 0, bytes(pending[:n]) + b"\x00"),
        ("short floor", R.T_FLOOR, 0, b"\x01\x02"),
        ("empty floor", R.T_FLOOR, 0, b""),
        ("short time", R.T_TIME, 0, b"\x01" * 7),
        ("short boot", R.T_BOOT, 0, b""),
        ("short begin", R.T_BEGIN, R.F_SNAP, b"\x01"),
        ("short end", R.T_END, R.F_SNAP, b"\x00\x00"),
        ("short blob", R.T_BLOB, 0, b"\x04root\x01"),
        ("event longer than its caps", R.T_EVENT, 0, bytes(event[:m]) + b"x"),
        ("event code over its cap", R.T_EVENT, 0, struct.pack("<I", 1) + b"\x19" + b"c" * 25 + b"\x00\x00"),
        ("unknown type", 0, 0, b""),
        ("unknown type", 11, 0, b"\x00" * 4),
        ("bundle floor without a name", R.T_BFLOOR, 0, b"\x00" * 5),
        ("bundle floor, not a bundle name", R.T_BFLOOR, 0, b"\x03Ap\xc3" + struct.pack("<I", 99)),
        ("bundle floor, name past its payload", R.T_BFLOOR, 0, b"\x09app" + struct.pack("<I", 99)),
        ("short bundle floor", R.T_BFLOOR, 0, b"\x03app\x63"),
        ("long bundle floor", R.T_BFLOOR, 0, b"\x03app" + struct.pack("<I", 99) + b"\x00"),
        ("unknown flags", R.T_FLOOR, 2, struct.pack("<I", 99)),
    ]


def test_a_record_whose_contents_the_writer_never_writes_reads_as_no_record():
    """UnicodeDecodeError, IndexError and struct.error escaped load() and the getters; now such
    a record is not committed, the same on both runtimes: the state stays, the log needs repair."""
    for what, typ, flags, payload in bad_contents():
        dev, _ = fresh()
        st = genuine(dev)
        before = observe(st)
        craft_sector(dev, st._sec, [(typ, flags, st._seq + 1, payload)], off=st._off)
        again = S.load(dev)
        assert observe(again) == before, what
        assert again.wear()["needs_compaction"], what
        again.log_event("repaired", what)
        assert list(S.load(dev).events())[-1] == (1, "repaired", what, None), what
        assert S.load(dev).floor == 9 and dev.faults == 0, what


def test_an_empty_floor_record_at_the_very_end_of_a_sector():
    """Its value would be read past the end of the sector: struct.error from load() before. Here
    it ends a sector of crafted records that continue the log (which the log takes)."""
    dev, st = fresh()
    seq = st._seq + 1
    recs = [(R.T_BOOT, 0, seq + i, struct.pack("<I", 0)) for i in range(127)]
    recs += [(R.T_PENDING, 0, seq + 127, b""), (R.T_FLOOR, 0, seq + 128, b"")]
    assert craft_sector(dev, free_sectors(st)[0], recs) == 4096
    again = S.load(dev)
    assert again.floor == 0 and again.root() == ROOT and again.wear()["needs_compaction"]
    again.raise_floor(3)
    assert S.load(dev).floor == 3 and dev.faults == 0


def test_sequence_number_at_the_top_in_a_free_sector():
    """A record numbered 0xFFFFFFFF broke wear() and every mutator on CPython (struct.error)
    while MicroPython wrapped to 0. Now it is dropped by the repair it causes; the next
    numbers follow the genuine log's, on both runtimes."""
    for seq in (U32, U32 - 1, U32 - 3):
        dev, _ = fresh()
        st = genuine(dev)
        before = observe(st)
        top = st._seq
        craft_sector(dev, free_sectors(st)[2], [(R.T_EVENT, 0, seq, b"\x00" * 4 + b"\x00\x00\x00")])
        again = S.load(dev)
        assert observe(again) == before
        w = again.wear()
        assert w["sequence"] == seq and w["needs_compaction"]
        again.raise_floor(10)
        assert S.load(dev).wear()["sequence"] < top + 64
        for i in range(40):
            again.log_event("more", "x" * 80)
        final = S.load(dev)
        assert final.floor == 10 and final.root_version == 2 and not final.wear()["needs_compaction"]
        assert dev.faults == 0


def test_a_state_numbered_up_to_the_top_refuses_changes_alike_on_both_runtimes():
    """A crafted whole snapshot that ends at 0xFFFFFFFF is the state (nothing tells it from a
    genuine one), but nothing can follow it: every mutator raises StateError, nothing written."""
    dev, _ = fresh()
    st = genuine(dev)
    recs = crafted_snapshot(U32 - 6, U32, 3, b"crafted root")
    assert recs[-1][2] == U32
    craft_sector(dev, free_sectors(st)[0], recs)
    again = S.load(dev)
    assert again.floor == 9 and again.root() == b"crafted root" and again.generation == U32
    assert again.wear()["sequence"] == U32
    ops = dev.ops
    for fn, args in ((again.raise_floor, (12,)), (again.next_boot, ()), (again.log_event, ("e",)),
                     (again.set_blob, ("t", b"x", 1)), (again.set_pending, ("ota_0", "1", 1, SHA)),
                     (again.set_root, (ROOT, 3))):
        devtest.raises(S.StateError, fn, *args)
    assert dev.ops == ops, "refused before writing anything"
    assert S.load(dev).floor == 9


def test_generation_at_the_top_stays_there():
    dev, _ = fresh()
    st = genuine(dev)
    craft_sector(dev, free_sectors(st)[0], crafted_snapshot(st._seq + 1, U32, 0, ROOT))
    again = S.load(dev)
    assert again.generation == U32
    for i in range(200):
        again.log_event("e", "y" * 80)
    assert S.load(dev).generation == U32 and S.load(dev).floor == 9


def test_root_is_never_removed_or_downgraded_by_a_record():
    dev, _ = fresh()
    st = genuine(dev)
    top = st._seq
    head = bytearray(64)
    n = R.put_blob(head, "root", 0, 0, 0, 0)
    recs = [(R.T_BLOB, 0, top + 1, bytes(head[:n]))] + blob_records(0, top + 2, "root", 1, b"old root")
    craft_sector(dev, st._sec, recs, off=st._off)
    again = S.load(dev)
    assert again.root() == ROOT + b"2" and again.root_version == 2


class _StuckSector(NorRam):
    """A flash whose sector `bad` no longer erases: what it held stays."""

    def __init__(self, blocks, bad):
        NorRam.__init__(self, blocks)
        self.bad = bad
        self.stuck = False

    def ioctl(self, op, arg):
        if op == 6 and arg == self.bad and self.stuck:
            self.ops += 1
            return 0
        return NorRam.ioctl(self, op, arg)


def test_a_repair_that_does_not_take_refuses_instead_of_appending_over_dirt():
    """The repair compacts, then re-reads. When the new snapshot did not take (here: it went into
    a sector that no longer erases), appending after the repair would program over the dirt it
    came to repair (I2): it refuses instead, and the state stays as it was."""
    dev = _StuckSector(4, 2)
    S.format_partition(dev, ROOT, root_version=1)
    st = S.load(dev)
    st.raise_floor(9)
    # Garbage after the log's end: the next change must compact, into sector 2 or later.
    dev.mem[st._sec * 4096 + st._off + 40] = 0
    again = S.load(dev)
    assert again.wear()["needs_compaction"]
    target = free_sectors(again)[0]
    dev.bad = target
    dev.mem[target * 4096:(target + 1) * 4096] = b"\x00" * 4096
    dev.stuck = True
    devtest.raises(S.StateError, again.log_event, "x")
    final = S.load(dev)
    assert final.floor == 9 and final.root() == ROOT


def _history(rng, dev, steps):
    """A genuine log with every kind of change; returns old sector images and what it committed."""
    st = S.load(dev)
    images = []
    root = ROOT
    for i in range(steps):
        k = rng.below(10)
        if k == 9:
            name = rng.choice(("app", "mpboot", "ui"))
            st.raise_bundle_floor(name, st.bundle_floor(name) + rng.below(3))
        elif k == 0:
            st.raise_floor(st.floor + rng.below(3))
        elif k == 1:
            st.raise_time(st.time_floor + rng.below(1000))
        elif k == 2:
            st.next_boot()
        elif k == 3:
            root = rng.bytes(100 + rng.below(900))
            st.set_root(root, st.root_version + rng.below(2))
        elif k == 4:
            st.set_blob(rng.choice(("timestamp", "snapshot")), rng.bytes(rng.below(1200)), i)
        elif k == 5:
            st.set_pending("ota_%d" % rng.below(2), "1.%d" % i, rng.below(20), SHA)
        elif k == 6:
            st.clear_pending()
        else:
            st.log_event("e%d" % i, "\u20ac" * rng.below(30), "d" if rng.below(2) else None)
        if rng.below(2):
            s = rng.below(dev.blocks)
            images.append(bytes(dev.mem[s * 4096:(s + 1) * 4096]))
    return images, S.load(dev)


def _hostile_payload(rng, typ, top):
    k = rng.below(4)
    if k == 0:
        return rng.bytes(rng.choice((0, 1, 3, 4, 5, 8, 15, 16, 40, 255)))
    if typ in (R.T_FLOOR, R.T_BOOT, R.T_END):
        return struct.pack("<I", rng.choice((0, 1, top, U32, rng.u32())))
    if typ == R.T_TIME:
        return struct.pack("<II", rng.u32(), rng.u32())
    if typ == R.T_BEGIN:
        return struct.pack("<BI", rng.choice((R.FORMAT, 0, 2)), rng.u32())
    buf = bytearray(256)
    text = rng.choice(("", "ok", "\u20ac", "x" * 40))
    if typ == R.T_EVENT:
        n = R.put_event(buf, rng.u32(), text, text, text)
    elif typ == R.T_PENDING:
        n = R.put_pending(buf, text, text, rng.u32(), SHA, rng.u32())
    elif typ == R.T_BLOB:
        n = R.put_blob(buf, rng.choice(("root", "timestamp", "x")), rng.u32(), rng.below(600), rng.below(3), rng.below(2))
    elif typ == R.T_BFLOOR:
        n = R.put_bfloor(buf, rng.choice(("app", "mpboot", "ui", "x", "n%d" % rng.below(20))),
                         rng.choice((0, 1, top, U32, rng.u32())))
    else:
        return rng.bytes(rng.below(600))
    if k == 1 and n:
        buf[rng.below(n)] = rng.choice((0x80, 0xC0, 0xED, 0xFF, 0x7F))  # bad text or a bad length
    return bytes(buf[:n])


def _crafted_sector(rng, dev, sector, st):
    top = st._seq
    live = [s for s in range(st._n) if st._used[s]]
    fork = R.seq_at(dev.mem, rng.choice(live) * 4096)  # where a live sector starts
    seq = rng.choice((0, 1, 2, top - 1, top, top + 1, top + 2, U32 - 1, U32, rng.u32(),
                      max(0, top - rng.below(40)), fork, fork))
    recs = []
    if rng.below(4) == 0:
        root = rng.choice((None, None, b"crafted root"))
        recs = crafted_snapshot(min(seq, U32 - 6), rng.u32(), rng.below(8), root, rng.below(4))
        seq = recs[-1][2] + 1
    for _ in range(rng.below(12)):
        typ = rng.choice((R.T_BEGIN, R.T_END, R.T_FLOOR, R.T_TIME, R.T_BOOT, R.T_PENDING, R.T_CHUNK,
                          R.T_BLOB, R.T_EVENT, R.T_BFLOOR, rng.below(256)))
        flags = rng.choice((0, 0, R.F_SNAP, rng.below(256)))
        recs.append((typ, flags, seq & U32, _hostile_payload(rng, typ, top)))
        seq = seq + 1 if rng.below(5) else rng.u32()
    craft_sector(dev, sector, recs)
    return any(r[0] == R.T_BLOB and r[3][1:5] == b"root" for r in recs)


def test_property_replayed_and_crafted_sectors_never_lower_a_value_or_lose_the_root():
    """Seeded random histories; then, in the sectors that hold nothing live, old images of any
    sector and crafted records (random types, sequence numbers and payloads, valid CRCs). load()
    never reports a floor, bundle floor, time floor or boot counter below what was committed, never loses the
    root, raises nothing but StateError; replays alone change nothing; the log goes on working."""
    trials = 12 if devtest.ON_MICROPYTHON else 160
    outcomes = {"same": 0, "changed": 0, "refused": 0}
    for seed in range(trials):
        rng = Rng(seed)
        dev = NorRam(6)
        S.format_partition(dev, ROOT, root_version=1)
        images, st = _history(rng, dev, 30 + rng.below(40))
        want = observe(st)
        genuine_mem = bytes(dev.mem)
        for trial in range(3):
            dev.mem[:] = genuine_mem
            crafted = rooted = False
            for s in free_sectors(st)[:1 + rng.below(len(free_sectors(st)))]:
                erase(dev, s)
                if images and rng.below(2):
                    dev.mem[s * 4096:(s + 1) * 4096] = rng.choice(images)
                else:
                    crafted = True
                    rooted = _crafted_sector(rng, dev, s, st) or rooted
            try:
                got = S.load(dev)
            except S.StateError:
                outcomes["refused"] += 1
                continue
            seen = observe(got)
            where = (seed, trial)
            assert seen[0] >= want[0] and seen[1] >= want[1] and seen[2] >= want[2], where
            assert bundle_floors_not_lower(seen, want), where
            assert got.root() is not None, where
            if not crafted:
                assert seen == want, where
            elif not rooted:
                assert got.root_version >= want[4], where
            outcomes["same" if seen == want else "changed"] += 1
            # The log goes on: a higher floor lands, without programming over anything.
            floor = min(got.floor + 1, U32)
            try:
                got.raise_floor(floor)
                got.log_event("after", "")
            except S.StateError:
                outcomes["refused"] += 1
                continue
            after = S.load(dev)
            assert after.floor >= floor and after.root() is not None, where
            assert bundle_floors_not_lower(observe(after), want), where
            assert dev.faults == 0, where
    print("hostile sectors: %r" % outcomes)
    assert outcomes["same"] > outcomes["changed"] > 0, outcomes
    assert outcomes["refused"] < trials // 4, outcomes


class _Flicker(NorRam):
    """A flash whose sector `bad` reads one byte differently from the second read on (a cell
    left weakly programmed by a cut)."""

    def __init__(self, blocks):
        NorRam.__init__(self, blocks)
        self.bad = -1
        self.reads = 0

    def readblocks(self, n, buf, off=0):
        NorRam.readblocks(self, n, buf, off)
        if n == self.bad and off == 0 and len(buf) == 4096:
            self.reads += 1
            if self.reads > 1:
                buf[40] ^= 0x10


def test_a_sector_that_reads_back_differently_is_a_state_error():
    """The reader walks the live sectors twice; the second time it trusts the first walk's
    checks only if the bytes are the same (a CRC-32 of the run), else StateError."""
    dev = _Flicker(8)
    S.format_partition(dev, ROOT, root_version=1)
    dev.bad = S.load(dev)._sec
    dev.reads = 0
    devtest.raises(S.StateError, S.load, dev)
