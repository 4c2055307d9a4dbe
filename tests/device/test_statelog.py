"""The state log (mpboot_fw.statelog) on a RAM test double of the flash (nor_ram.NorRam).

Runs on CPython and on MicroPython. Power cuts at every flash operation are in
tests/test_statelog_powercut.py (CPython, NorFlash model).
"""

import struct

import devtest
from mpboot_fw import staterec as R
from mpboot_fw import statelog as S
from nor_ram import NorRam, PowerCut
from statelog_craft import craft_sector, crafted_snapshot, free_sectors

ROOT = b'{"signed": {"version": 1}, "pad": "' + b"r" * 1900 + b'"}'
SHA = bytes(range(32))


def fresh(blocks=16, root=ROOT, version=1, **kw):
    dev = NorRam(blocks)
    S.format_partition(dev, root, root_version=version, **kw)
    return dev, S.load(dev)


def clean(dev):
    """Flash discipline: never a 0 -> 1 program, every write 16-byte aligned."""
    assert dev.faults == 0, "programmed over non-erased bytes"
    assert dev.misaligned == 0, "write not 16-byte aligned"


def snapshot_of(st):
    return (st.floor, st.time_floor, st.boot_count, st.pending, st.root_version, st.root(),
            [(n, st.blob_version(n), st.blob(n)) for n in st.blob_names()], list(st.events()))


def append_raw(dev, st, typ, payload, flags=0, seq=None, corrupt=False):
    """Write a record by hand at the end of the log (what an attacker or a bug could leave)."""
    n = len(payload)
    buf = bytearray(R.size(n) - R.HEAD)
    buf[:n] = payload
    head = bytearray(R.HEAD)
    seq = st._seq + 1 if seq is None else seq
    R.seal(head, typ, flags, n, seq, memoryview(buf))
    if corrupt:
        head[12] ^= 1
    if buf:
        dev.writeblocks(st._sec, buf, st._off + R.HEAD)
    dev.writeblocks(st._sec, head, st._off)
    st._off += R.size(n)
    st._seq = seq


def test_format_then_load():
    dev, st = fresh(floor=2, time_floor=1700000000)
    assert st.root() == ROOT and st.root_version == 1
    assert (st.floor, st.time_floor, st.boot_count) == (2, 1700000000, 0)
    assert st.pending is None and list(st.events()) == [] and st.blob_names() == ["root"]
    assert st.generation == 0 and not st.wear()["needs_compaction"]
    clean(dev)


def test_format_takes_the_version_from_a_verified_root():
    with open(devtest.data_path("root.json"), "rb") as f:
        root = f.read()
    dev = NorRam(16)
    st = S.format_partition(dev, root)
    assert st.root() == root and st.root_version == 1
    devtest.raises(Exception, S.format_partition, NorRam(16), root[:-40] + b"}" * 40)


def test_unformatted_and_too_small():
    devtest.raises(S.StateError, S.load, NorRam(4))
    dev = NorRam(4)
    dev.mem[100:200] = bytes(range(100))
    devtest.raises(S.StateError, S.load, dev)
    devtest.raises(S.StateError, S.format_partition, NorRam(3), b"x" * 8192, 1)
    devtest.raises(S.StateError, S.State, NorRam(1))


def test_each_mutation_round_trips():
    dev, st = fresh()
    assert st.raise_floor(3) == 3
    assert st.raise_time(1700000100) == 1700000100
    assert st.next_boot() == 1 and st.next_boot() == 2
    st.set_pending("ota_1", "1.2.0", 3, SHA)
    st.log_event("installed", "ota_1 v1.2.0", "secver=3")
    st.set_blob("timestamp", b'{"t": 1}', 7)
    st.set_root(b'{"root": 2}', 2)
    again = S.load(dev)
    assert snapshot_of(again) == snapshot_of(st)
    assert again.floor == 3 and again.time_floor == 1700000100 and again.boot_count == 2
    assert again.pending == {"slot": "ota_1", "version": "1.2.0", "secver": 3, "sha256": SHA, "boot": 2}
    assert list(again.events()) == [(2, "installed", "ota_1 v1.2.0", "secver=3")]
    assert again.blob("timestamp") == b'{"t": 1}' and again.blob_version("timestamp") == 7
    assert again.root() == b'{"root": 2}' and again.root_version == 2
    again.clear_pending()
    assert S.load(dev).pending is None
    clean(dev)


def test_monotonic_values_ignore_lower_ones():
    dev, st = fresh()
    st.raise_floor(5)
    st.raise_time(2000)
    ops = dev.ops
    assert st.raise_floor(4) == 5 and st.raise_floor(5) == 5
    assert st.raise_time(1999) == 2000
    assert dev.ops == ops, "a lower value must not even be written"
    devtest.raises(ValueError, st.raise_floor, -1)
    devtest.raises(ValueError, st.raise_floor, 1 << 32)
    devtest.raises(ValueError, st.set_root, b"{}", 0)
    assert S.load(dev).floor == 5


def test_blobs_replace_delete_and_budget():
    dev, st = fresh()
    st.set_blob("snapshot", b"a" * 3000, 1)
    st.set_blob("snapshot", b"b" * 10, 2)
    st.set_blob("targets", b"t" * 5000, 3)
    st.delete_blob("snapshot")
    again = S.load(dev)
    assert again.blob("snapshot") is None and again.blob_version("snapshot") is None
    assert again.blob("targets") == b"t" * 5000
    devtest.raises(ValueError, st.set_blob, "root", b"{}")
    devtest.raises(ValueError, st.set_blob, "a-name-longer-than-16", b"{}")
    devtest.raises(ValueError, st.set_blob, "timestamp", b"x" * (S.MAX_BLOBS - 5000 + 1))
    devtest.raises(ValueError, st.set_root, b"x" * (S.MAX_ROOT + 1), 9)
    devtest.raises(ValueError, st.set_pending, "ota_0", "1", 1, b"short")
    clean(dev)


def test_largest_root_and_blobs_survive_compactions():
    dev, st = fresh()
    big = bytes(i * 7 & 0xFF for i in range(S.MAX_ROOT))
    st.set_root(big, 2)
    st.set_blob("targets", b"T" * S.MAX_BLOBS, 4)
    for i in range(700):
        st.log_event("check", "update check %d" % i, "x" * 40)
    assert st.generation >= 2, st.generation
    again = S.load(dev)
    assert again.root() == big and again.blob("targets") == b"T" * S.MAX_BLOBS
    assert [e[2] for e in again.events()] == ["update check %d" % i for i in range(700 - S.EVENT_RING, 700)]
    clean(dev)


def test_event_ring_keeps_the_last_events_in_order():
    dev, st = fresh(blocks=4)
    for i in range(300):
        st.next_boot()
        st.log_event("boot", "n%d" % i)
    events = list(S.load(dev).events())
    assert len(events) == S.EVENT_RING
    assert events == [(i + 1, "boot", "n%d" % i, None) for i in range(300 - S.EVENT_RING, 300)]
    assert S.load(dev).generation >= 1
    clean(dev)


def test_event_text_is_cut_on_character_boundaries():
    dev, st = fresh()
    st.log_event("a-code-longer-than-twenty-four", "\u00e9" * 60, "d\u20ac" * 40)
    st.log_event("bundle-trial-failed", "import-error", "app 1.2.0 b")
    (boot, code, reason, detail), spec = list(S.load(dev).events())
    assert code == "a-code-longer-than-twent"
    assert spec == (0, "bundle-trial-failed", "import-error", "app 1.2.0 b"), "the spec's codes fit"
    assert reason == "\u00e9" * 48
    assert len(detail.encode()) <= 64 and detail.startswith("d\u20acd")


def test_crafted_lower_floor_does_not_lower_it():
    dev, st = fresh()
    st.raise_floor(7)
    append_raw(dev, st, R.T_FLOOR, struct.pack("<I", 2))
    assert S.load(dev).floor == 7
    # A whole crafted snapshot that says floor 1 (valid CRCs, the next sequence numbers, in a
    # free sector): it is taken as the state, but the floor stays.
    craft_sector(dev, free_sectors(st)[0], crafted_snapshot(st._seq + 1, 99, 1, b"crafted root"))
    again = S.load(dev)
    assert again.generation == 99 and again.floor == 7 and again.root() == b"crafted root"
    # ... and compaction carries the maximum forward, past the erase of the old records.
    for i in range(800):
        again.log_event("e", "x" * 60)
    final = S.load(dev)
    assert final.floor == 7 and final.generation > 99


def test_corrupt_or_gapped_records_are_ignored():
    dev, st = fresh()
    st.raise_floor(3)
    before = snapshot_of(S.load(dev))
    append_raw(dev, st, R.T_FLOOR, struct.pack("<I", 9), corrupt=True)
    assert snapshot_of(S.load(dev)) == before
    assert S.load(dev).wear()["needs_compaction"]
    dev, st = fresh()
    append_raw(dev, st, R.T_EVENT, b"\x00" * 8, seq=st._seq + 2)  # a gap in the sequence
    assert list(S.load(dev).events()) == []
    # The next mutation repairs the log by compacting, then works normally.
    again = S.load(dev)
    again.log_event("ok", "after repair")
    assert [e[1] for e in S.load(dev).events()] == ["ok"]
    assert S.load(dev).generation == 1 and not S.load(dev).wear()["needs_compaction"]
    clean(dev)


def test_garbage_in_erased_space_is_never_programmed_over():
    dev, st = fresh()
    st.log_event("one", "")
    tail, off = st._sec, st._off
    dev.mem[tail * 4096 + off + 100] = 0x12  # a stray programmed byte after the log
    dev.mem[((tail + 2) % 16) * 4096 + 5] = 0x00  # and in a sector the log has not reached
    again = S.load(dev)
    assert [e[1] for e in again.events()] == ["one"]
    assert again.wear()["needs_compaction"]
    for i in range(200):
        again.log_event("two", "y" * 50)
    assert [e[1] for e in S.load(dev).events()][-1] == "two"
    clean(dev)


def test_torn_record_reads_as_the_previous_state():
    dev, st = fresh()
    st.log_event("kept", "")
    sec, off = st._sec, st._off
    st.log_event("torn", "this one loses its head")
    dev.mem[sec * 4096 + off:sec * 4096 + off + R.HEAD] = b"\xff" * R.HEAD  # as if cut before the commit
    again = S.load(dev)
    assert [e[1] for e in again.events()] == ["kept"]
    again.log_event("next", "")
    assert [e[1] for e in S.load(dev).events()] == ["kept", "next"]
    clean(dev)


def test_full_partition_refuses_without_damage():
    dev, st = fresh(blocks=3, root=b"r" * 1000)
    ops = dev.ops
    devtest.raises(S.StateError, st.set_blob, "targets", b"t" * 6000)
    assert dev.ops == ops, "refused before writing anything"
    assert S.load(dev).blob("targets") is None
    for i in range(60):
        st.log_event("still", "works %d" % i)
    assert list(S.load(dev).events())[-1][2] == "works 59"
    clean(dev)


def test_everything_at_its_cap_fits_the_board_partition():
    """16 sectors hold two snapshots of the largest state the caps allow (16 bundle floors with
    the longest names among it): never 'full'."""
    dev, st = fresh(root=b"R" * S.MAX_ROOT)
    each = S.MAX_BLOBS // S.MAX_BLOB_COUNT
    for i in range(S.MAX_BLOB_COUNT):
        st.set_blob("blob%d" % i, bytes([i]) * each, i)
    st.set_pending("ota_1", "v" * 40, 9, SHA)
    for i in range(S.MAX_BUNDLES):
        st.raise_bundle_floor("b%02d" % i + "n" * 29, 0xFFFFFFF0 + i % 16)
    for i in range(600):
        st.log_event("c" * 30, "\u20ac" * 40, "d" * 80)
        if i % 50 == 0:
            st.set_blob("blob%d" % (i % S.MAX_BLOB_COUNT), bytes([i & 0xFF]) * each, i)
    assert st.generation >= 3
    again = S.load(dev)
    assert again.root() == b"R" * S.MAX_ROOT and len(list(again.events())) == S.EVENT_RING
    assert sum(len(again.blob(n)) for n in again.blob_names()) == S.MAX_ROOT + S.MAX_BLOBS
    assert len(again.bundle_floors()) == S.MAX_BUNDLES and 2 * again.wear()["snapshot_sectors"] < 16
    clean(dev)


def test_wear_spreads_erases_over_every_sector():
    dev, st = fresh()
    for i in range(1500):
        st.log_event("check", "update check ok", "v=1.2.%d" % i)
    w = st.wear()
    assert w["sectors"] == 16 and w["live_sectors"] + w["free_sectors"] == 16
    assert max(dev.erases) - min(dev.erases) <= 2, dev.erases
    clean(dev)


def _script(st, j):
    """Mutation j of a short history that compacts a 3-sector partition."""
    step = j % 7
    if step == 0:
        st.set_blob("targets", bytes([j]) * (1000 + 40 * j), j)
    elif step == 1:
        st.log_event("check", "update check %d" % j, "x" * 30)
    elif step == 2:
        st.raise_floor(j)
    elif step == 3:
        st.set_blob("timestamp", bytes([j]) * 500, j)
    elif step == 4:
        st.set_pending("ota_%d" % (j & 1), "1.%d.0" % j, j, SHA)
    elif step == 5:
        st.next_boot()
    else:
        st.clear_pending()


def test_cut_at_every_operation_reads_back_old_or_new():
    """The power-cut sweep again, on this runtime (CPython's full sweep: test_statelog_powercut)."""
    dev, st = fresh(blocks=3, root=b"r" * 600)
    states = [snapshot_of(st)]
    images = []
    ops = []
    mutations = 28
    for j in range(mutations):
        images.append(bytes(dev.mem))
        start = dev.ops
        _script(S.load(dev), j)
        ops.append(dev.ops - start)
        states.append(snapshot_of(S.load(dev)))
    assert S.load(dev).generation >= 1
    points = 0
    for j in range(mutations):
        for k in range(ops[j]):
            for mode in ("before", "torn", "after"):
                dev.mem[:] = images[j]
                st = S.load(dev)
                dev.cut(k, mode)
                devtest.raises(PowerCut, _script, st, j)
                got = snapshot_of(S.load(dev))
                assert got == states[j] or got == states[j + 1], (j, k, mode)
                assert got[0] >= states[j][0]
                points += 1
    assert points == 3 * sum(ops) and points > 300, points
    clean(dev)
