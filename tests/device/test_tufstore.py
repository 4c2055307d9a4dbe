# The updater's TUF store (mpboot_fw.tufstore) over the state log on a RAM NOR double, both
# runtimes, with the python-tuf-made repository history of tests/device/data/tuf: exact bytes,
# the root persisted at once, the rest as one consistent set, and a power cut at every flash
# operation of a commit leaving the old set or the new one.
import devtest
from mpboot_fw import statelog, tuf, tufclient, tufstore
from nor_ram import NorRam, PowerCut
from test_tuf import NOW, Repository, _fill, _read

ROLES = ("timestamp", "snapshot", "targets")


def _repo(version=3, root2=False):
    files = {"timestamp.json": "%d.timestamp.json" % version,
             "%d.snapshot.json" % version: "%d.snapshot.json" % version,
             "%d.targets.json" % version: "%d.targets.json" % version}
    if root2:
        files["2.root.json"] = "2.root.json"
    return Repository(files)


def _device():
    dev = NorRam(16)
    statelog.format_partition(dev, _read("1.root.json"))
    return dev


def _refresh(dev, repo, now=NOW):
    """One refresh through the store, committed as the updater does; returns the store."""
    state = statelog.load(dev)
    trusted = tuf.TrustedSet(state.root(), now)
    store = tufstore.Store(state, trusted)
    try:
        tufclient.refresh(trusted, repo.fetch, store)
    finally:
        store.commit()
    return store


def _stored(dev):
    """{role: bytes or None} as a fresh boot reads them back."""
    state = statelog.load(dev)
    store = tufstore.Store(state, None)
    return dict((role, store.load(role)) for role in ("root",) + ROLES)


def test_refresh_keeps_each_document_as_received():
    dev = _device()
    _refresh(dev, _repo(3))
    stored = _stored(dev)
    for role in ROLES:
        assert stored[role] == _read("3.%s.json" % role), role
    assert stored["root"] == _read("1.root.json")
    s = tufstore.stored(statelog.load(dev))
    assert s.versions == [3, 3, 3]
    # each document's expiry, and the earliest of them and the root's (all 2026-07-01 here)
    assert s.expiries == [1782864000] * 3 and s.expires == 1782864000


def test_a_check_that_finds_nothing_new_writes_nothing():
    dev = _device()
    _refresh(dev, _repo(3))
    ops = dev.ops
    repo = _repo(3)
    _refresh(dev, repo)
    assert repo.requests == ["2.root.json", "timestamp.json"]
    assert dev.ops == ops


def test_newer_set_replaces_the_old_one():
    dev = _device()
    _refresh(dev, _repo(1))
    assert _stored(dev)["targets"] == _read("1.targets.json")
    _refresh(dev, _repo(3))
    stored = _stored(dev)
    assert [stored[r] for r in ROLES] == [_read("3.%s.json" % r) for r in ROLES]


def test_root_rotation_is_stored_at_once():
    dev = _device()
    repo = _repo(3, root2=True)
    del repo.files["timestamp.json"]  # the refresh fails right after the rotation
    devtest.raises(tufclient.NotFound, _refresh, dev, repo)
    state = statelog.load(dev)
    assert state.root() == _read("2.root.json") and state.root_version == 2
    assert _stored(dev)["timestamp"] is None


def _cut_short(dev, missing="3.snapshot.json"):
    """Set 2 trusted, then a refresh of set 3 that gets timestamp 3 but not `missing`."""
    _refresh(dev, _repo(2))
    repo = _repo(3)
    del repo.files[missing]
    devtest.raises(tufclient.NotFound, _refresh, dev, repo)


def test_a_refresh_cut_short_keeps_the_last_verified_snapshot():
    dev = _device()
    _cut_short(dev)
    stored = _stored(dev)
    # the newer timestamp (its versions only go up) beside the snapshot and targets verified
    # last: the next refresh checks the repository's snapshot against that snapshot (5.5.5)
    assert stored["timestamp"] == _read("3.timestamp.json")
    assert stored["snapshot"] == _read("2.snapshot.json")
    assert stored["targets"] == _read("2.targets.json")
    assert tufstore.stored(statelog.load(dev)).versions == [3, 2, 2]
    repo = _repo(3)
    _refresh(dev, repo)
    assert repo.requests == ["2.root.json", "timestamp.json", "3.snapshot.json", "3.targets.json"]
    assert [_stored(dev)[r] for r in ROLES] == [_read("3.%s.json" % r) for r in ROLES]


def test_the_kept_snapshot_guards_the_next_one():
    # What the next refresh does with the stored copies: timestamp 3 loads, snapshot 2 loads as
    # intermediate (not the version timestamp 3 names), and a snapshot that takes targets back
    # below what snapshot 2 named is a rollback.
    dev = _device()
    _cut_short(dev)
    stored = _stored(dev)
    trusted = tuf.TrustedSet(stored["root"], NOW)
    trusted.update_timestamp(stored["timestamp"])
    devtest.raises(tuf.MixAndMatch, trusted.update_snapshot, stored["snapshot"], True)
    assert trusted.snapshot["meta"]["targets.json"]["version"] == 2
    devtest.raises(tuf.Rollback, trusted.update_snapshot, _read("1.snapshot.json"), True)


def test_targets_are_kept_only_beside_the_snapshot_that_names_them():
    dev = _device()
    _cut_short(dev, missing="3.targets.json")
    stored = _stored(dev)
    assert stored["snapshot"] == _read("3.snapshot.json") and stored["targets"] is None
    assert tufstore.stored(statelog.load(dev)).lengths[2] == 0


def test_power_cut_at_every_operation_of_a_commit_cut_short():
    old = dict((r, _read("2.%s.json" % r)) for r in ROLES)
    new = dict(old, timestamp=_read("3.timestamp.json"))
    dev = _device()
    _refresh(dev, _repo(2))
    ops = dev.ops
    _cut_short(dev)
    total = dev.ops - ops
    assert total > 2
    seen = set()
    for at in range(total):
        for mode in ("before", "torn", "after"):
            dev = _device()
            _refresh(dev, _repo(2))
            repo = _repo(3)
            del repo.files["3.snapshot.json"]
            dev.cut(at, mode)
            devtest.raises(PowerCut, _refresh, dev, repo)
            got = dict((r, _stored(dev)[r]) for r in ROLES)
            assert got in (old, new), (at, mode)
            seen.add(got == new)
    assert seen == {False, True}


def test_a_format_1_set_is_still_read():
    # the blob as the store wrote it before per-document expiries: each document is taken to
    # expire at the head's earliest expiry, and the next commit writes format 2
    import struct

    docs = [_read("2.%s.json" % r) for r in ROLES]
    dev = _device()
    state = statelog.load(dev)
    head = struct.pack("<2sBxQ6I", b"TF", 1, 1782864000, 2, len(docs[0]), 2, len(docs[1]), 2, len(docs[2]))
    state.set_blob(tufstore.BLOB, head + b"".join(docs))
    s = tufstore.stored(statelog.load(dev))
    assert (s.versions, s.expiries, s.expires) == ([2, 2, 2], [1782864000] * 3, 1782864000)
    assert [_stored(dev)[r] for r in ROLES] == docs
    repo = _repo(2)
    _refresh(dev, repo)  # nothing new: read as stored, nothing fetched past the timestamp
    assert repo.requests == ["2.root.json", "timestamp.json"]
    _refresh(dev, _repo(3))
    blob = statelog.load(dev).blob(tufstore.BLOB)
    assert blob[2] == 2 and len(blob) == tufstore.HEAD + sum(len(_read("3.%s.json" % r)) for r in ROLES)


def test_a_refused_document_changes_nothing():
    dev = _device()
    _refresh(dev, _repo(3))
    before = _stored(dev)
    repo = Repository({"timestamp.json": "2.timestamp.json"})
    devtest.raises(tuf.Rollback, _refresh, dev, repo)
    assert _stored(dev) == before


def test_chain_cut_to_the_metadata_budget():
    dev = _device()
    state = statelog.load(dev)
    # another blob leaves room for timestamp and snapshot, not targets
    room = len(_read("3.timestamp.json")) + len(_read("3.snapshot.json")) + tufstore.HEAD
    state.set_blob("other", bytes(statelog.MAX_BLOBS - room))
    _refresh(dev, _repo(3))
    stored = _stored(dev)
    assert stored["snapshot"] == _read("3.snapshot.json") and stored["targets"] is None
    # the next refresh fetches targets again and still verifies them against that snapshot
    repo = _repo(3)
    _refresh(dev, repo)
    assert repo.requests == ["2.root.json", "timestamp.json", "3.targets.json"]


def _commit_ops(before_version):
    """Flash operations of committing set 3 over set `before_version`."""
    dev = _device()
    if before_version:
        _refresh(dev, _repo(before_version))
    ops = dev.ops
    _refresh(dev, _repo(3))
    return dev.ops - ops


def test_power_cut_at_every_operation_of_a_commit():
    old = dict((r, _read("1.%s.json" % r)) for r in ROLES)
    new = dict((r, _read("3.%s.json" % r)) for r in ROLES)
    total = _commit_ops(1)
    assert total > 4
    seen = {"old": 0, "new": 0}
    for at in range(total):
        for mode in ("before", "torn", "after"):
            dev = _device()
            _refresh(dev, _repo(1))
            dev.cut(at, mode)
            devtest.raises(PowerCut, _refresh, dev, _repo(3))
            stored = _stored(dev)
            got = dict((r, stored[r]) for r in ROLES)
            assert got in (old, new), (at, mode)
            seen["old" if got == old else "new"] += 1
            # and the next check completes it
            _refresh(dev, _repo(3))
            assert dict((r, _stored(dev)[r]) for r in ROLES) == new
    assert seen["old"] and seen["new"]


ROTATION = {"2.root.json": "2.root.json", "3.root.json": "3.root.json",
            "timestamp.json": "timestamp_after_rotation.json",
            "3.snapshot.json": "3.snapshot.json", "3.targets.json": "3.targets.json"}


def _verifies_under_its_root(dev):
    """The stored set loads, as a chain, into a TrustedSet made from the stored root."""
    stored = _stored(dev)
    trusted = tuf.TrustedSet(stored["root"], NOW)
    if stored["timestamp"] is not None:
        trusted.update_timestamp(stored["timestamp"])
        if stored["snapshot"] is not None:
            trusted.update_snapshot(stored["snapshot"])
            if stored["targets"] is not None:
                trusted.update_targets(stored["targets"])
    else:
        assert stored["snapshot"] is None and stored["targets"] is None
    return stored


def test_rotation_drops_what_the_new_root_no_longer_trusts():
    # root v2 replaces the timestamp key: the stored timestamp (old key) is dropped before the
    # new root is stored, so the state never holds a set its own root does not verify
    dev = _device()
    _refresh(dev, _repo(3))
    _refresh(dev, Repository(ROTATION))
    stored = _verifies_under_its_root(dev)
    assert stored["root"] == _read("3.root.json")
    assert stored["timestamp"] == _read("timestamp_after_rotation.json")
    assert stored["targets"] == _read("3.targets.json")


def test_power_cut_at_every_operation_of_a_rotation():
    dev = _device()
    _refresh(dev, _repo(3))
    ops = dev.ops
    _refresh(dev, Repository(ROTATION))
    total = dev.ops - ops
    roots = set()
    # MicroPython's WebAssembly port collects no garbage within a test: one mode per operation
    # there (rotating), all three on CPython.
    modes = ("before", "torn", "after")
    for at in range(total):
        for mode in (modes[at % 3],) if devtest.ON_MICROPYTHON else modes:
            dev = _device()
            _refresh(dev, _repo(3))
            dev.cut(at, mode)
            devtest.raises(PowerCut, _refresh, dev, Repository(ROTATION))
            roots.add(_verifies_under_its_root(dev)["root"])
            _refresh(dev, Repository(ROTATION))
            assert _verifies_under_its_root(dev)["timestamp"] == _read("timestamp_after_rotation.json")
    assert len(roots) == 3  # cuts left root v1, v2 and v3


def test_a_refresh_through_one_document_buffer_keeps_every_document():
    # The updater reads every document into one buffer (tuf.DocumentBuffer), which each fetch
    # overwrites: what the store keeps must be its own copy.
    dev = _device()
    repo = _repo(3)
    docs = tuf.DocumentBuffer()

    def fetch(path, max_length):
        data = repo.fetch(path, max_length)
        if data is None:
            return None

        return docs.read(_fill(data), max_length)

    state = statelog.load(dev)
    trusted = tuf.TrustedSet(state.root(), NOW)
    store = tufstore.Store(state, trusted)
    tufclient.refresh(trusted, fetch, store)
    docs.read(_fill(b"junk"), 4)  # a later fetch overwrites the buffer
    assert store.commit()
    stored = _stored(dev)
    assert [stored[r] for r in ROLES] == [_read("3.%s.json" % r) for r in ROLES]


def test_a_blob_that_does_not_add_up_reads_as_nothing_stored_and_the_next_refresh_fetches_again():
    # Found by the fuzzer (target tufstore): a blob of just the magic raised IndexError from
    # tufstore.stored (the updater's status and every check), and documents said to run past the
    # blob's end were handed back cut short (on a 32-bit MicroPython, slicing there overflowed).
    import struct

    docs = [_read("3.%s.json" % r) for r in ROLES]
    short = struct.pack("<2sBxQIIQIIQIIQ", b"TF", 2, NOW, 3, len(docs[0]), NOW, 3, len(docs[1]), NOW,
                        3, len(docs[2]) + 1, NOW) + b"".join(docs)
    huge = struct.pack("<2sBxQIIQIIQIIQ", b"TF", 3, NOW, 1, 0x7FFFFFFF, NOW, 1, 0x7FFFFFFF, NOW,
                       1, 0x7FFFFFFF, NOW) + b"x" * 8
    for blob in (b"TF", b"TF\x02", short, huge, short[:tufstore.HEAD - 1]):
        dev = _device()
        statelog.load(dev).set_blob(tufstore.BLOB, blob)
        state = statelog.load(dev)
        s = tufstore.stored(state)
        assert (s.expires, s.lengths, s.delegated) == (None, [0, 0, 0], [])
        store = tufstore.Store(state, tuf.TrustedSet(state.root(), NOW))
        assert [store.load(r) for r in ROLES] == [None] * 3
        repo = _repo(3)
        _refresh(dev, repo)
        assert [_stored(dev)[r] for r in ROLES] == docs
