# Delegated targets roles on the device, both runtimes, over the python-tuf-made repository of
# tests/device/data/tuf_delegations (tests/make_tuf_delegation_data.py, which also records what
# python-tuf's ngclient answers there): the pre-order depth-first search for one path, the
# directory search the updater makes, path matching, and the store keeping delegated metadata.
# tests/test_tuf_delegations_oracle.py compares with ngclient over hundreds of random trees.
import json

import devtest
from mpboot_fw import delegations, statelog, tuf, tufclient, tufstore
from mpboot_fw.trust import TrustError
from nor_ram import NorRam, PowerCut


def _read(name):
    with open(devtest.data_path("tuf_delegations/" + name), "rb") as f:
        return f.read()


EXPECTED = json.loads(_read("expected.json"))
NOW = EXPECTED["now"]


class Repository:
    """State `state` of the fixture repository, served by path; records requests."""

    def __init__(self, state="A", prefix=""):
        self.state = state
        self.prefix = prefix
        self.requests = []

    def fetch(self, path, max_length):
        self.requests.append(path)
        name = path
        if path == "timestamp.json" and not self.prefix:
            name = self.state + ".timestamp.json"  # one per state
        if not self.prefix and path not in EXPECTED["states"][self.state]["files"]:
            return None
        try:
            data = _read(self.prefix + name)
        except OSError:
            return None
        assert len(data) <= max_length
        return data


class Store:
    def __init__(self, root):
        self.roles = {"root": root}

    def load(self, role):
        return self.roles.get(role)

    def save(self, role, data):
        self.roles[role] = data


def _refreshed(state="A", scope=None, prefix=""):
    repo = Repository(state, prefix)
    store = Store(_read(prefix + "1.root.json"))
    trusted = tuf.TrustedSet(store.roles["root"], NOW, scope)
    tufclient.refresh(trusted, repo.fetch, store)
    return trusted, repo, store


def test_path_matching_is_fnmatch_per_component():
    for name, pattern, expected in EXPECTED["fnmatch"]:
        assert delegations.fnmatch(name, pattern) == expected, (name, pattern)
    assert delegations.path_matches("esp32-4mb/stable/1.0.mpb", "esp32-4mb/*/*")
    assert not delegations.path_matches("esp32-4mb/stable/1.0.mpb", "esp32-4mb/*")  # * stops at /
    assert not delegations.path_matches("a/b", "a/b/*")


def test_each_path_found_as_ngclient_finds_it():
    for state in ("A", "B", "C"):
        trusted, repo, store = _refreshed(state)
        for path, expected in sorted(EXPECTED["states"][state]["paths"].items()):
            assert tufclient.target_info(trusted, path, repo.fetch, store) == expected, (state, path)


def test_directory_search_finds_what_ngclient_finds_path_by_path():
    for state in ("A", "B", "C"):
        for directory, expected in sorted(EXPECTED["states"][state]["directories"].items()):
            for scope in (None, (directory,)):
                trusted, repo, store = _refreshed(state, scope)
                assert tufclient.find_targets(trusted, repo.fetch, store, directory) == expected, (state, directory)


def test_a_device_fetches_only_the_roles_on_its_way():
    # esp32-4mb/stable/: only its board's role, which terminates and holds the whole
    # directory, so nothing listed after it is fetched (the chip role, the catch-all, the
    # bins), nor the beta role it delegates
    trusted, repo, store = _refreshed("A", ("esp32-4mb/stable/", "esp32/stable/"))
    repo.requests = []
    found = tufclient.find_targets(trusted, repo.fetch, store, "esp32-4mb/stable/")
    assert sorted(found) == ["esp32-4mb/stable/1.0.0.mpb"]
    assert repo.requests == ["1.esp32-4mb.json"]
    # esp32/stable/: the chip role, the catch-all, and the hashed bins (which could hold any path)
    repo.requests = []
    assert sorted(tufclient.find_targets(trusted, repo.fetch, store, "esp32/stable/")) == ["esp32/stable/1.0.5.mpb"]
    assert repo.requests == ["1.chips.json", "1.legacy.json", "1.bins%200-7.json", "1.bins%208-f.json"]
    # scoped: only what these directories need stays parsed
    assert sorted(trusted.targets_roles["esp32-4mb"]["targets"]) == ["esp32-4mb/stable/1.0.0.mpb"]
    assert trusted.delegations["esp32-4mb"].roles == []


def test_a_way_over_the_search_limit():
    trusted, repo, store = _refreshed("A", prefix="deep.")
    assert tufclient.target_info(trusted, "deep/x", repo.fetch, store) is None  # as ngclient: not reached
    e = devtest.raises(tuf.TooManyRoles, tufclient.find_targets, trusted, repo.fetch, store, "deep/")
    assert str(e) == "over 32 roles hold deep/"


def test_a_role_is_loaded_only_as_its_delegator_delegates_it():
    trusted, repo, store = _refreshed("A")
    devtest.raises(RuntimeError, trusted.update_delegated_targets, _read("1.esp32-4mb%2Fbeta.json"),
                   "esp32-4mb/beta", "esp32-4mb")  # its delegator is not loaded yet
    tufclient.target_info(trusted, "esp32-4mb/stable/1.0.0.mpb", repo.fetch, store)
    e = devtest.raises(tuf.BadMetadata, trusted.update_delegated_targets, _read("1.chips.json"), "chips", "esp32-4mb")
    assert str(e) == "esp32-4mb does not delegate chips"
    trusted.update_delegated_targets(_read("1.esp32-4mb%2Fbeta.json"), "esp32-4mb/beta", "esp32-4mb")


def test_delegations_are_checked_with_the_same_text_on_both_runtimes():
    key = {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": "00" * 32}}
    keyid = delegations.trust.keyid_of(key)
    role = {"name": "a", "keyids": [keyid], "threshold": 1, "terminating": False, "paths": ["a/*"]}
    good = {"keys": {keyid: key}, "roles": [role]}
    assert delegations.parse(good, "t").role("a") == ((keyid,), 1)
    cases = [
        ({"keys": {}, "roles": [dict(role, path_hash_prefixes=["0"])]}, "t: bad delegated role a"),
        ({"keys": {}, "roles": [dict(role, paths=None)]}, "t: bad delegated role a"),
        ({"keys": {}, "roles": [role, role]}, "t: role a delegated twice"),
        ({"keys": {}, "roles": [dict(role, name="targets")]}, "t: bad delegated role name"),
        ({"keys": {}, "roles": [dict(role, name="")]}, "t: bad delegated role name"),
        ({"keys": {}, "roles": [dict(role, name="n" * 65)]}, "t: bad delegated role name"),
        ({"keys": {}, "roles": [dict(role, terminating=1)]}, "t: bad delegated role a"),
        ({"keys": {}, "roles": [dict(role, paths=["a", 1])]}, "t: bad delegated role a"),
        ({"keys": {}, "roles": [dict(role, threshold=0)]}, "t: bad role a"),
        ({"keys": {}, "roles": [dict(role, keyids=[keyid, keyid])]}, "t: duplicate keyid in a"),
        ({"keys": {}, "roles": [role] * 65}, "t: over 64 delegated roles"),
        ({"keys": {}}, "t: delegations need roles or succinct_roles"),
        ({"keys": {}, "roles": [], "succinct_roles": {}}, "t: delegations need roles or succinct_roles"),
        ({"keys": {}, "succinct_roles": {"keyids": [], "threshold": 1, "bit_length": 33, "name_prefix": "b"}},
         "t: bad succinct_roles"),
        ({"roles": []}, "t: bad keys"),
        ({"keys": {"ab" * 32: key}, "roles": []}, "t: keyid mismatch " + "ab" * 8),
        ([], "t: bad delegations"),
    ]
    for obj, text in cases:
        e = devtest.raises(TrustError, delegations.parse, obj, "t")
        assert str(e) == text, (str(e), text)


def test_succinct_bins_are_named_as_python_tuf_names_them():
    d = delegations.parse({"keys": {}, "succinct_roles": {"keyids": [], "threshold": 1, "bit_length": 8,
                                                          "name_prefix": "bin"}}, "t")
    digest = delegations.path_digest("pkg/a")
    assert d.roles_for("pkg/a") == [("bin-%02x" % digest[0], True)]
    assert d.role("bin-ff") == ((), 1) and d.role("bin-100") is None and d.role("bin-0F") is None
    assert len(d.roles_for_directory("pkg/")) == 256


# -- the store ------------------------------------------------------------------------------------
def _device():
    dev = NorRam(16)
    statelog.format_partition(dev, _read("1.root.json"))
    return dev


DIRECTORIES = ("esp32-4mb/stable/", "esp32/stable/")
ROLES_A = [("esp32-4mb", 1), ("chips", 1), ("legacy", 1), ("bins 0-7", 1), ("bins 8-f", 1)]
FOUND_A = ["esp32-4mb/stable/1.0.0.mpb", "esp32/stable/1.0.5.mpb"]
FOUND_B = ["esp32-4mb/stable/1.0.0.mpb", "esp32-4mb/stable/1.1.0.mpb", "esp32/stable/1.0.5.mpb"]


def _check(dev, state):
    """One updater check's metadata part through the state log, as updater.py makes it:
    refresh, the searches of the board's and the chip's directory, commit; (found, requests)."""
    repo = Repository(state)
    state_log = statelog.load(dev)
    trusted = tuf.TrustedSet(state_log.root(), NOW, DIRECTORIES)
    store = tufstore.Store(state_log, trusted)
    found = {}
    try:
        tufclient.refresh(trusted, repo.fetch, store)
        for directory in DIRECTORIES:
            found.update(tufclient.find_targets(trusted, repo.fetch, store, directory))
    finally:
        store.commit()
    return sorted(found), repo.requests


def _stored_roles(dev):
    return [(e[0], e[1]) for e in tufstore.stored(statelog.load(dev)).delegated]


def test_delegated_roles_are_stored_and_used_by_the_next_check():
    dev = _device()
    assert _check(dev, "A")[0] == FOUND_A
    assert _stored_roles(dev) == ROLES_A
    state = statelog.load(dev)
    assert tufstore.Store(state, None).load("esp32-4mb") == _read("1.esp32-4mb.json")
    # nothing new: nothing fetched past the timestamp, nothing written
    ops = dev.ops
    found, requests = _check(dev, "A")
    assert found == FOUND_A and requests == ["2.root.json", "timestamp.json"]
    assert dev.ops == ops


def test_a_role_the_snapshot_moves_past_is_replaced():
    dev = _device()
    _check(dev, "A")
    found, requests = _check(dev, "B")
    assert found == FOUND_B
    assert requests == ["2.root.json", "timestamp.json", "3.snapshot.json", "2.esp32-4mb.json"]
    assert _stored_roles(dev) == [("esp32-4mb", 2)] + ROLES_A[1:]


def test_a_rotation_of_the_delegating_roles_keys_drops_the_stored_copy():
    dev = _device()
    _check(dev, "B")
    found, requests = _check(dev, "C")
    assert found == FOUND_B
    assert requests == ["2.root.json", "timestamp.json", "4.snapshot.json", "3.targets.json", "3.esp32-4mb.json"]
    assert _stored_roles(dev) == [("esp32-4mb", 3)] + ROLES_A[1:]
    assert tufstore.Store(statelog.load(dev), None).load("esp32-4mb") == _read("3.esp32-4mb.json")


def test_a_check_that_never_searched_keeps_what_its_snapshot_names():
    dev = _device()
    _check(dev, "A")
    repo = Repository("B")
    state_log = statelog.load(dev)
    trusted = tuf.TrustedSet(state_log.root(), NOW)
    store = tufstore.Store(state_log, trusted)
    tufclient.refresh(trusted, repo.fetch, store)  # no search: the new snapshot names esp32-4mb v2
    store.commit()
    assert _stored_roles(dev) == ROLES_A[1:]


def test_delegated_roles_are_cut_first_to_fit_the_budget():
    dev = _device()
    state = statelog.load(dev)
    sizes = [len(_read(n)) for n in ("A.timestamp.json", "2.snapshot.json", "2.targets.json", "1.esp32-4mb.json",
                                     "1.chips.json")]
    # room for the top-level set and two roles (with their entries: count, name length, name,
    # version, length, expires), not the rest
    room = tufstore.HEAD + sum(sizes) + 1 + (1 + 9 + 16) + (1 + 5 + 16)
    state.set_blob("other", bytes(statelog.MAX_BLOBS - room))
    assert _check(dev, "A")[0] == FOUND_A
    assert _stored_roles(dev) == ROLES_A[:2]
    found, requests = _check(dev, "A")
    assert found == FOUND_A
    assert requests == ["2.root.json", "timestamp.json", "1.legacy.json", "1.bins%200-7.json", "1.bins%208-f.json"]


def test_power_cut_at_every_operation_of_a_commit_with_delegated_roles():
    dev = _device()
    _check(dev, "A")
    ops = dev.ops
    _check(dev, "B")
    total = dev.ops - ops
    old = ROLES_A
    new = [("esp32-4mb", 2)] + ROLES_A[1:]
    seen = set()
    modes = ("before", "torn", "after")
    for at in range(total):
        # one mode per operation on MicroPython's WebAssembly port (it collects no garbage within
        # a test), all three for the last one, whose "after" is the commit
        for mode in (modes[at % 3],) if devtest.ON_MICROPYTHON and at < total - 1 else modes:
            dev = _device()
            _check(dev, "A")
            dev.cut(at, mode)
            devtest.raises(PowerCut, _check, dev, "B")
            got = _stored_roles(dev)
            assert got in (old, new), (at, mode, got)
            seen.add(got == new)
            assert _check(dev, "B")[0] == FOUND_B
    assert seen == {False, True}


def test_a_delegated_section_that_does_not_add_up_is_read_as_none_stored():
    dev = _device()
    _check(dev, "A")
    blob = statelog.load(dev).blob(tufstore.BLOB)
    assert tufstore.Stored(blob).delegated  # the good one
    start = tufstore.Stored(blob).offset(3)
    for bad in (blob[:start + 5], blob[:-1], blob[:start + 1] + b"\xff" + blob[start + 2:],
                blob[:start] + b"\x09" + blob[start + 1:]):
        assert tufstore.Stored(bad).delegated == []


def test_stored_reads_the_head_and_the_delegated_section_as_the_whole_blob_gives_them():
    # tufstore.stored reads the blob's head and its delegated section alone, not the documents
    # between them: the same description as from the whole blob, good or not adding up.
    dev = _device()
    _check(dev, "A")
    blob = statelog.load(dev).blob(tufstore.BLOB)
    start = tufstore.Stored(blob).offset(3)
    for data in (blob, blob[:start + 5], blob[:-1], blob[:start] + b"\x09" + blob[start + 1:], blob[:40], b"TF"):
        statelog.load(dev).set_blob(tufstore.BLOB, data)
        whole, parts = tufstore.Stored(data), tufstore.stored(statelog.load(dev))
        for name in ("expires", "versions", "lengths", "expiries", "delegated", "start"):
            assert getattr(parts, name) == getattr(whole, name), (len(data), name)
    assert tufstore.Stored(blob).delegated


def test_the_updaters_choice_over_both_directories():
    # updater.py: find_targets over the board's and the chip's directory, then find_image with
    # its custom-field rules: the chip-wide 1.0.5 is newer than the board's 1.0.0 in state A
    trusted, repo, store = _refreshed("A", DIRECTORIES)
    found = {}
    for directory in tufclient.directories(0, "esp32-4mb", "stable"):
        found.update(tufclient.find_targets(trusted, repo.fetch, store, directory))
    assert sorted(found) == FOUND_A
    path, entry = tufclient.find_image({"targets": found}, 0, "esp32-4mb", "stable", 0, "0.1.0")
    assert path == "esp32/stable/1.0.5.mpb" and entry["custom"]["board"] == ""
    assert tufclient.find_image({"targets": found}, 0, "esp32-4mb", "stable", 0, "1.0.5") is None
