"""A refresh that accepts a new timestamp but not the snapshot it names must not make the device
forget its trusted snapshot (and targets): that snapshot is what spec 5.5.5 (targets versions
only go up, no targets file disappears) is checked against on the next refresh.

The attack: the device trusts a snapshot naming targets v3, which withdrew a release that
targets v2 offered. A later refresh gets timestamp v4 but not snapshot v4 (404, a bad hash, a
dropped connection). Then whoever holds the online timestamp and snapshot keys, but no targets
key, serves timestamp v5 and snapshot v5 naming the old, genuine targets v2. The device must
refuse it as a rollback and never offer the withdrawn release.

The device side is the real store (tufstore over the state log on a RAM NOR flash) driven by
tufclient, committed as the updater does; python-tuf's ngclient, fed the same files, is the
oracle for every refresh's verdict.
"""

import hashlib
from datetime import timedelta

import pytest
from nor_ram import NorRam
from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import MetaFile
from tuf.ngclient import Updater
from tuf.ngclient.fetcher import FetcherInterface

from mpboot_fw import statelog, tuf, tufclient, tufstore
from tufrepo import NOW, Repo, fixed_key, unix

WITHDRAWN = "esp32/stable/1.0.0.mpb"


class Faulty:
    """The repository's files, with one path failing in the way under test."""

    def __init__(self, repo):
        self.repo = repo
        self.path = None
        self.fault = None

    def get(self, path):
        """The bytes served for `path` ("metadata/..."), None for a 404; may raise."""
        if path == self.path:
            if self.fault == "dropped":
                raise ConnectionResetError("connection dropped")
            if self.fault == "bad-hash":
                data = bytearray(self.repo.fetch(path))
                data[-2] ^= 1  # a different byte inside the signed part's JSON string or number
                return bytes(data)
            return None
        return self.repo.fetch(path)


class NgFetcher(FetcherInterface):
    def __init__(self, files):
        self.files = files

    def _fetch(self, url):
        data = self.files.get(url[len("http://repo/"):])
        if data is None:
            raise tuf_errors.DownloadHTTPError("not found", 404)
        return iter([data])


class Device:
    """The updater's refresh: a TrustedSet from the stored root, tufclient, the store committed
    whatever happened."""

    def __init__(self, root):
        self.dev = NorRam(16)
        statelog.format_partition(self.dev, root)
        self.targets = None

    def refresh(self, files):
        state = statelog.load(self.dev)
        trusted = tuf.TrustedSet(state.root(), unix(NOW))
        store = tufstore.Store(state, trusted)

        def fetch(path, max_length):
            data = files.get("metadata/" + path)
            assert data is None or len(data) <= max_length
            return data

        try:
            tufclient.refresh(trusted, fetch, store)
        finally:
            store.commit()
            self.targets = trusted.targets  # what the updater would choose from

    def stored(self, role):
        return tufstore.Store(statelog.load(self.dev), None).load(role)


def _ngclient_refresh(tmp_path, files, root):
    bootstrap = None if (tmp_path / "root.json").exists() else root
    updater = Updater(str(tmp_path), "http://repo/metadata/", fetcher=NgFetcher(files), bootstrap=bootstrap)
    updater._trusted_set.reference_time = NOW
    updater.refresh()
    return updater


def _both(tmp_path, device, files, root):
    """Refresh both clients; return the device's error class (None: accepted). The verdicts
    must agree."""
    try:
        ref = _ngclient_refresh(tmp_path, files, root)
        ref_error = None
    except Exception as e:  # noqa: BLE001 - the verdict is what is compared
        ref, ref_error = None, e
    try:
        device.refresh(files)
        dev_error = None
    except Exception as e:  # noqa: BLE001
        dev_error = e
    assert (ref_error is None) == (dev_error is None), (ref_error, dev_error)
    if ref is not None:
        offered = set(device.targets["targets"])
        assert offered == set(ref._trusted_set.targets.targets)
    return None if dev_error is None else type(dev_error)


def _story(tmp_path, fault):
    """Run the sequence up to the refresh that gets timestamp v4 but not snapshot v4; return
    (repo, files, device)."""
    repo = Repo(consistent_snapshot=True, hashes=True)
    root = repo.published["root"][0]
    files = Faulty(repo)
    device = Device(root)
    repo.add_target(WITHDRAWN, b"release with a flaw")
    repo.publish_targets()  # targets v2 offers it
    assert _both(tmp_path, device, files, root) is None
    assert WITHDRAWN in device.targets["targets"]
    del repo.targets.targets[WITHDRAWN]
    repo.publish_targets()  # targets v3 withdraws it
    assert _both(tmp_path, device, files, root) is None
    assert WITHDRAWN not in device.targets["targets"]
    repo.publish("snapshot")  # snapshot v4 (still naming targets v3), timestamp v4
    repo.update_timestamp()
    files.path, files.fault = "metadata/4.snapshot.json", fault
    expected = tuf.LengthOrHashMismatch if fault == "bad-hash" else Exception
    error = _both(tmp_path, device, files, root)
    assert error is not None and issubclass(error, expected)
    files.path = None
    return repo, files, device, root


@pytest.mark.parametrize("fault", ["not-found", "bad-hash", "dropped"])
def test_snapshot_naming_withdrawn_targets_is_refused(tmp_path, fault):
    repo, files, device, root = _story(tmp_path, fault)
    # the attacker: timestamp and snapshot keys (online), no targets key
    old = repo.published["targets"][1]
    repo.snapshot.meta["targets.json"] = MetaFile(2, len(old), {"sha256": hashlib.sha256(old).hexdigest()})
    repo.publish("snapshot")
    repo.update_timestamp()
    assert _both(tmp_path, device, files, root) is tuf.Rollback
    assert device.targets is None
    stored = device.stored("targets")
    assert stored is not None and WITHDRAWN.encode() not in stored


@pytest.mark.parametrize("fault", ["not-found", "bad-hash", "dropped"])
def test_the_repository_recovers_after_the_failed_refresh(tmp_path, fault):
    repo, files, device, root = _story(tmp_path, fault)
    # what was verified last is still on flash, beside the newer timestamp
    assert device.stored("timestamp") == repo.published["timestamp"][3]
    assert device.stored("snapshot") == repo.published["snapshot"][2]
    assert device.stored("targets") == repo.published["targets"][2]
    assert _both(tmp_path, device, files, root) is None
    assert device.stored("snapshot") == repo.published["snapshot"][3]
    assert WITHDRAWN not in device.targets["targets"]


def test_a_withdrawal_the_device_never_verified_binds_neither_client(tmp_path):
    # The same attack one step earlier: the refresh that fails is the one that would have
    # brought the withdrawal (snapshot v3 naming targets v3). The kept snapshot v2 names targets
    # v2, so a snapshot naming targets v2 again is no rollback for the device or for python-tuf.
    repo = Repo(consistent_snapshot=True, hashes=True)
    root = repo.published["root"][0]
    files = Faulty(repo)
    device = Device(root)
    repo.add_target(WITHDRAWN, b"release with a flaw")
    repo.publish_targets()
    assert _both(tmp_path, device, files, root) is None
    del repo.targets.targets[WITHDRAWN]
    repo.publish_targets()
    files.path, files.fault = "metadata/3.snapshot.json", "not-found"
    assert _both(tmp_path, device, files, root) is not None
    files.path = None
    old = repo.published["targets"][1]
    repo.snapshot.meta["targets.json"] = MetaFile(2, len(old), {"sha256": hashlib.sha256(old).hexdigest()})
    repo.publish("snapshot")
    repo.update_timestamp()
    assert _both(tmp_path, device, files, root) is None
    assert WITHDRAWN in device.targets["targets"]


def test_the_earliest_expiry_counts_the_kept_snapshot(tmp_path):
    # updater.status() reports "expired" from the blob head's earliest expiry: beside a newer
    # timestamp, the older snapshot kept is what expires first, and each document keeps its own
    repo = Repo(consistent_snapshot=True, hashes=True)
    device = Device(repo.published["root"][0])
    files = Faulty(repo)
    repo.snapshot.expires = NOW + timedelta(days=3)
    repo.timestamp.expires = NOW + timedelta(days=5)
    repo.update_snapshot()  # snapshot v2, timestamp v2
    device.refresh(files)
    repo.snapshot.expires = NOW + timedelta(days=20)
    repo.timestamp.expires = NOW + timedelta(days=10)
    repo.update_snapshot()  # snapshot v3, timestamp v3
    files.path, files.fault = "metadata/3.snapshot.json", "not-found"
    with pytest.raises(tufclient.NotFound):
        device.refresh(files)
    s = tufstore.stored(statelog.load(device.dev))
    assert s.versions == [3, 2, 1]
    assert s.expiries == [unix(NOW + timedelta(days=10)), unix(NOW + timedelta(days=3)), unix(repo.expiry)]
    assert s.expires == unix(NOW + timedelta(days=3))


def test_a_snapshot_key_rotation_drops_the_timestamp_too():
    # spec 5.3.11: rotated timestamp and/or snapshot keys void both stored copies, so that the
    # repository can take versions back down after a fast-forward by the old keys
    repo = Repo(consistent_snapshot=True, hashes=True)
    device = Device(repo.published["root"][0])
    files = Faulty(repo)
    device.refresh(files)
    repo.remove_key("snapshot", repo.signers["snapshot"][0])
    repo.add_key("snapshot", fixed_key("snapshot-2"))
    repo.publish("root")
    repo.update_snapshot()
    files.path, files.fault = "metadata/timestamp.json", "not-found"
    with pytest.raises(tufclient.NotFound):
        device.refresh(files)
    state = statelog.load(device.dev)
    assert state.root_version == 2
    assert [device.stored(role) for role in tufstore.ROLES] == [None, None, None]
    files.path = None
    device.refresh(files)
    assert device.stored("snapshot") == repo.published["snapshot"][-1]
