# The device's TUF client on both runtimes, over a repository history made with python-tuf
# (tests/make_tuf_data.py; tests/test_fixture_data.py keeps the files equal to what it builds).
# tests/test_tuf_python_tuf_repos.py compares every verdict with python-tuf on CPython; this file
# shows the same code reaches them on MicroPython too.
import devtest
from mpboot_fw import tuf, tufclient


def _read(name):
    with open(devtest.data_path("tuf/" + name), "rb") as f:
        return f.read()


NOW = int(_read("now.txt"))


class Repository:
    """The fixture files served by name, as a static repository would; records requests."""

    def __init__(self, files):
        self.files = files
        self.requests = []

    def fetch(self, path, max_length):
        self.requests.append(path)
        name = self.files.get(path)
        if name is None:
            return None
        data = _read(name)
        assert len(data) <= max_length
        return data


class Store:
    def __init__(self, **roles):
        self.roles = roles

    def load(self, role):
        return self.roles.get(role)

    def save(self, role, data):
        self.roles[role] = data


LATEST = {
    "timestamp.json": "3.timestamp.json",
    "3.snapshot.json": "3.snapshot.json",
    "3.targets.json": "3.targets.json",
}


def _trusted(version=3, now=NOW):
    """A set that trusts root v1 and timestamp/snapshot/targets `version`."""
    t = tuf.TrustedSet(_read("1.root.json"), now)
    t.update_timestamp(_read("%d.timestamp.json" % version))
    t.update_snapshot(_read("%d.snapshot.json" % version))
    t.update_targets(_read("%d.targets.json" % version))
    return t


def test_full_refresh():
    repo = Repository(LATEST)
    store = Store(root=_read("1.root.json"))
    t = tuf.TrustedSet(store.load("root"), NOW)
    tufclient.refresh(t, repo.fetch, store)
    assert repo.requests == ["2.root.json", "timestamp.json", "3.snapshot.json", "3.targets.json"]
    assert store.load("targets") == _read("3.targets.json")
    assert t.targets["version"] == 3
    assert t.safe_time_floor() == NOW
    # A second refresh finds nothing new and keeps using the stored copies.
    repo.requests = []
    t = tuf.TrustedSet(store.load("root"), NOW)
    tufclient.refresh(t, repo.fetch, store)
    assert repo.requests == ["2.root.json", "timestamp.json"]
    assert t.targets["version"] == 3


def test_refresh_from_older_stored_metadata():
    repo = Repository(LATEST)
    store = Store(root=_read("1.root.json"), timestamp=_read("1.timestamp.json"),
                  snapshot=_read("1.snapshot.json"), targets=_read("1.targets.json"))
    t = tuf.TrustedSet(store.load("root"), NOW)
    tufclient.refresh(t, repo.fetch, store)
    assert store.load("snapshot") == _read("3.snapshot.json")
    assert t.targets["version"] == 3


def test_rollback_of_the_timestamp():
    t = tuf.TrustedSet(_read("1.root.json"), NOW)
    t.update_timestamp(_read("3.timestamp.json"))
    devtest.raises(tuf.Rollback, t.update_timestamp, _read("2.timestamp.json"))
    devtest.raises(tuf.EqualVersion, t.update_timestamp, _read("3.timestamp.json"))
    assert t.timestamp["version"] == 3


def test_refresh_refuses_a_rolled_back_repository():
    repo = Repository({"timestamp.json": "2.timestamp.json"})
    store = Store(root=_read("1.root.json"), timestamp=_read("3.timestamp.json"))
    t = tuf.TrustedSet(store.load("root"), NOW)
    devtest.raises(tuf.Rollback, tufclient.refresh, t, repo.fetch, store)
    assert store.load("timestamp") == _read("3.timestamp.json")


def test_forged_timestamp():
    t = tuf.TrustedSet(_read("1.root.json"), NOW)
    e = devtest.raises(tuf.BadSignature, t.update_timestamp, _read("timestamp_forged.json"))
    assert "threshold" in str(e)
    assert t.timestamp is None


def test_expired_timestamp_is_intermediate():
    t = tuf.TrustedSet(_read("1.root.json"), NOW)
    devtest.raises(tuf.Expired, t.update_timestamp, _read("timestamp_expired.json"))
    # kept for rollback protection, but no snapshot loads over it
    devtest.raises(tuf.Rollback, t.update_timestamp, _read("3.timestamp.json"))
    devtest.raises(tuf.Expired, t.update_snapshot, _read("3.snapshot.json"))


def test_expiry_against_the_reference_time():
    late = NOW + 31 * 86400
    t = tuf.TrustedSet(_read("1.root.json"), late)
    devtest.raises(tuf.Expired, t.update_timestamp, _read("3.timestamp.json"))


def test_snapshot_must_match_the_timestamp_hashes():
    t = tuf.TrustedSet(_read("1.root.json"), NOW)
    t.update_timestamp(_read("3.timestamp.json"))
    devtest.raises(tuf.LengthOrHashMismatch, t.update_snapshot, _read("2.snapshot.json"))
    # the stored copy (trusted=True) skips the hash check, then fails as mix-and-match
    devtest.raises(tuf.MixAndMatch, t.update_snapshot, _read("2.snapshot.json"), True)
    devtest.raises(tuf.RepositoryError, t.update_targets, _read("2.targets.json"))
    t.update_snapshot(_read("3.snapshot.json"))
    devtest.raises(tuf.LengthOrHashMismatch, t.update_targets, _read("2.targets.json"))
    t.update_targets(_read("3.targets.json"))


def test_root_rotation():
    t = tuf.TrustedSet(_read("1.root.json"), NOW)
    devtest.raises(tuf.BadVersion, t.update_root, _read("3.root_skip.json"))
    devtest.raises(tuf.BadSignature, t.update_root, _read("3.root.json"))
    devtest.raises(tuf.BadSignature, t.update_root, _read("2.root_new_key_only.json"))
    t.update_root(_read("2.root.json"))
    devtest.raises(tuf.Rollback, t.update_root, _read("2.root.json"))
    t.update_root(_read("3.root.json"))
    assert t.root.version == 3
    # the timestamp key was rotated: its old signatures no longer count
    devtest.raises(tuf.BadSignature, t.update_timestamp, _read("3.timestamp.json"))
    t.update_timestamp(_read("timestamp_after_rotation.json"))


def test_rotation_recovers_from_a_fast_forwarded_timestamp():
    # The stored timestamp is v3, signed by the key root v2 rotates out; the repository's new
    # timestamp is v1. After the rotation the stored copy fails to verify and is not a floor.
    files = {"2.root.json": "2.root.json", "3.root.json": "3.root.json",
             "timestamp.json": "timestamp_after_rotation.json"}
    repo = Repository(files)
    store = Store(root=_read("1.root.json"), timestamp=_read("3.timestamp.json"))
    t = tuf.TrustedSet(store.load("root"), NOW)
    e = devtest.raises(tufclient.NotFound, tufclient.refresh, t, repo.fetch, store)
    assert str(e) == "3.snapshot.json"
    assert store.load("root") == _read("3.root.json")
    assert store.load("timestamp") == _read("timestamp_after_rotation.json")


def test_size_caps():
    data = _read("3.timestamp.json")
    padded = data[:-1] + b" " * (tuf.TIMESTAMP_MAX - len(data) + 1) + b"}"
    t = tuf.TrustedSet(_read("1.root.json"), NOW)
    devtest.raises(tuf.TooLarge, t.update_timestamp, padded)
    devtest.raises(tuf.TooLarge, tuf.TrustedSet, b" " * (tuf.ROOT_MAX + 1), NOW)


def test_malformed():
    t = tuf.TrustedSet(_read("1.root.json"), NOW)
    devtest.raises(tuf.BadMetadata, t.update_timestamp, b"{\"signed\": 1")
    devtest.raises(tuf.BadMetadata, t.update_timestamp, _read("3.snapshot.json"))
    devtest.raises(tuf.BadMetadata, t.update_timestamp, b"[" * 2000 + b"]" * 2000)


def test_target_check_streams():
    t = _trusted()
    entry = tufclient.target_info(t, "esp32-4mb/stable/1.2.0.mpb")
    good = _read("target.esp32-4mb_stable_1.2.0.mpb")
    check = tuf.target_check(entry)
    check.update(good[:4])
    check.update(good[4:])
    check.verify()
    check = tuf.target_check(entry)
    devtest.raises(tuf.LengthOrHashMismatch, check.update, good + b"x")
    check = tuf.target_check(entry)
    check.update(good[:-1] + b"X")
    devtest.raises(tuf.LengthOrHashMismatch, check.verify)
    check = tuf.target_check(entry)
    check.update(good[:-1])
    devtest.raises(tuf.LengthOrHashMismatch, check.verify)
    devtest.raises(tuf.BadMetadata, tuf.target_check, {"length": 1})
    devtest.raises(tuf.LengthOrHashMismatch, tuf.target_check, {"length": 1, "hashes": {"md5": "00"}})


def test_paths():
    t = _trusted()
    entry = tufclient.target_info(t, "esp32-4mb/stable/1.2.0.mpb")
    path = tuf.target_path("esp32-4mb/stable/1.2.0.mpb", entry, True)
    assert path == "esp32-4mb/stable/" + entry["hashes"]["sha256"] + ".1.2.0.mpb"
    assert tuf.target_path("a.bin", entry, False) == "a.bin"
    assert tuf.metadata_path("timestamp") == "timestamp.json"
    assert tuf.metadata_path("root", 4) == "4.root.json"
    assert tuf.metadata_path("a/b c", 2) == "2.a%2Fb%20c.json"


def _choice(chip_id, board, channel, floor, current=None):
    found = tufclient.find_image(_trusted().targets, chip_id, board, channel, floor, current)
    return None if found is None else found[0]


def test_find_image_newest_for_this_board_and_channel():
    assert _choice(0, "esp32-4mb", "stable", 0) == "esp32-4mb/stable/1.5.0.mpb"
    assert _choice(0, "esp32-4mb", "stable", 0, "1.4.9") == "esp32-4mb/stable/1.5.0.mpb"
    assert _choice(0, "esp32-4mb", "stable", 0, "1.5.0") is None
    assert _choice(0, "esp32-4mb", "stable", 0, "1.5.0-rc.2") == "esp32-4mb/stable/1.5.0.mpb"
    assert _choice(9, "esp32s3-8mb", "stable", 0) == "esp32s3-8mb/stable/2.0.0.mpb"
    assert _choice(5, "esp32c3-4mb", "stable", 0) is None
    assert _choice(0, "esp32-4mb", "nightly", 0) is None


def test_find_image_never_below_the_security_floor():
    # 1.5.0 has security version 1: a device whose floor is 2 takes 1.2.0, never 1.5.0
    assert _choice(0, "esp32-4mb", "stable", 2) == "esp32-4mb/stable/1.2.0.mpb"
    assert _choice(0, "esp32-4mb", "stable", 2, "1.2.0") is None
    assert _choice(0, "esp32-4mb", "stable", 3) is None


def test_find_image_board_build_before_chip_wide_build():
    # esp32-4mb/stable/1.2.0 and esp32/stable/1.2.0 (any esp32 board) tie on version
    assert _choice(0, "esp32-4mb", "stable", 2) == "esp32-4mb/stable/1.2.0.mpb"
    assert _choice(0, "esp32-other", "stable", 0) == "esp32/stable/1.2.0.mpb"
    assert _choice(0, "esp32-4mb", "beta", 0, "1.1.0-rc.1") == "esp32/beta/1.3.0.mpb"


def test_find_image_skips_malformed_entries():
    targets = {"targets": {
        "a": {"custom": {"channel": "stable", "chip_id": 0, "board": "", "version": "x", "security_version": 5}},
        "b": {"custom": {"channel": "stable", "chip_id": 0, "board": "", "version": "2.0.0", "security_version": True}},
        "c": {"custom": "stable"},
        "d": {"custom": {"channel": "stable", "chip_id": 0, "board": "", "version": "1.0.0", "security_version": 0}},
    }}
    assert tufclient.find_image(targets, 0, "b", "stable", 0)[0] == "d"


def test_signature_checked_over_received_bytes_when_they_are_canonical():
    import json

    from mpboot_fw import cjson, trust

    data = _read("3.targets.json")
    signed = json.loads(data)["signed"]
    canonical = cjson.encode(signed)
    view = trust.signed_bytes(data, signed)
    assert isinstance(view, memoryview) and bytes(view) == canonical
    # pretty-printed, or "signed": first met somewhere else: re-encoded, same bytes
    pretty = json.dumps({"signatures": [], "signed": signed}, separators=(", ", ": ")).encode()
    assert trust.signed_bytes(pretty, signed) == canonical
    decoy = b'{"signatures":[{"signed":1}],"signed":' + canonical + b"}"
    assert trust.signed_bytes(decoy, signed) == canonical
    start = data.find(b'"signed":') + 9
    assert cjson.encoded_at(signed, data, start) == start + len(canonical)
    assert cjson.encoded_at(signed, data, start + 1) == -1
    assert cjson.encoded_at(signed, data[:-10], start) == -1


def _fill(data):
    def fill(buf):
        assert len(buf) >= len(data)
        buf[:len(data)] = data
        return len(data)

    return fill


def test_document_buffer_gives_each_document_at_its_length():
    docs = tuf.DocumentBuffer()
    big = bytes(range(256)) * (tuf.TARGETS_MAX // 256)
    # longest first, then shorter, empty, and back up: each read sees only its own bytes
    for data, max_length in ((big, tuf.TARGETS_MAX), (b"{}", 4096), (b"", 100), (big[:5000], 8192), (big, len(big))):
        out = docs.read(_fill(data), max_length)
        assert bytes(out) == data and len(out) == len(data)
    # the fetcher is handed max_length bytes: it can never read past the cap it was given
    seen = []
    docs.read(lambda buf: seen.append(len(buf)) or 0, 777)
    assert seen == [777]
    devtest.raises(ValueError, docs.read, _fill(b""), tuf.TARGETS_MAX + 1)


def test_document_buffer_reads_without_a_block_of_the_documents_size():
    # The point of it: on MicroPython, a document at the cap costs no allocation of its size
    # (the buffer shrinks and grows back in place), whatever the heap's holes. (CPython
    # allocates afresh, and has the memory.)
    if not devtest.ON_MICROPYTHON:
        return
    import gc

    docs = tuf.DocumentBuffer()
    small = docs.read(_fill(b"x" * 100), 100)
    fill = _fill(b"y" * tuf.TARGETS_MAX)
    gc.collect()
    before = gc.mem_alloc()
    out = docs.read(fill, tuf.TARGETS_MAX)
    assert gc.mem_alloc() - before < 1024, gc.mem_alloc() - before
    assert out is small and len(out) == tuf.TARGETS_MAX


def test_a_root_the_caller_parsed_is_kept_and_its_bytes_still_verified():
    # The updater passes the context's root (parsed from the same state bytes at load): the set
    # keeps that object instead of a second parse, but only for the same version, and the
    # signatures over the bytes are checked all the same.
    import json
    from mpboot_fw import trust

    def parsed(name):
        return trust.parse_root(json.loads(_read(name))["signed"])

    one = parsed("1.root.json")
    t = tuf.TrustedSet(_read("1.root.json"), NOW, parsed=one)
    assert t.root is one
    t.update_root(_read("2.root.json"))  # a rotation replaces it, as without
    assert t.root.version == 2 and one.version == 1
    t = tuf.TrustedSet(_read("1.root.json"), NOW, parsed=parsed("2.root.json"))
    assert t.root.version == 1
    data = _read("1.root.json")
    i = data.index(b'"sig":"') + 7
    forged = data[:i] + (b"1" if data[i:i + 1] == b"0" else b"0") + data[i + 1:]
    devtest.raises(tuf.BadSignature, tuf.TrustedSet, forged, NOW, None, one)
