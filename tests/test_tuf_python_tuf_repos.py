"""The device's TUF client against repositories made with python-tuf, attack by attack.

Every step is run twice on the same bytes: by the device's tuf.TrustedSet and by python-tuf's
own TrustedMetadataSet (the reference client), and both must reach the same verdict; the device
must also name the attack (its error class). Whole refreshes are compared with python-tuf's
ngclient Updater over the same repository, including which files each one requests.
"""

import hashlib
import json
from datetime import timedelta

import pytest
from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import MetaFile
from tuf.api.serialization import DeserializationError
from tuf.ngclient import Updater
from tuf.ngclient._internal.trusted_metadata_set import TrustedMetadataSet
from tuf.ngclient.config import EnvelopeType
from tuf.ngclient.fetcher import FetcherInterface

from mpboot_fw import tuf, tufclient
from tufrepo import NOW, Repo, fixed_key, unix

# python-tuf's error -> the device errors that mean the same. Checked most specific first.
SAME_VERDICT = [
    (tuf_errors.EqualVersionNumberError, tuf.EqualVersion),
    (tuf_errors.BadVersionNumberError, tuf.BadVersion),
    (tuf_errors.UnsignedMetadataError, tuf.BadSignature),
    (tuf_errors.ExpiredMetadataError, tuf.Expired),
    (tuf_errors.LengthOrHashMismatchError, tuf.LengthOrHashMismatch),
    (DeserializationError, tuf.BadMetadata),
    (tuf_errors.RepositoryError, tuf.RepositoryError),
]


class Both:
    """python-tuf's TrustedMetadataSet and the device's TrustedSet, fed the same bytes."""

    def __init__(self, root_data, now=NOW):
        self.ref = TrustedMetadataSet(root_data, EnvelopeType.METADATA)
        self.ref.reference_time = now
        self.dev = tuf.TrustedSet(root_data, unix(now))

    def step(self, method, data, *args):
        """Run one update on both; return the device's error class (None if it accepted)."""
        ref_error = _error(getattr(self.ref, method), data, *args)
        dev_error = _error(getattr(self.dev, method), data, *args)
        expected = None if ref_error is None else _device_kind(ref_error)
        assert (dev_error is None) == (expected is None), (method, ref_error, dev_error)
        if expected is not None:
            assert issubclass(dev_error, expected), (method, ref_error, dev_error)
        return dev_error

    def load(self, repo, *roles):
        for role in roles:
            assert self.step("update_" + role, repo.published[role][-1]) is None


def _error(fn, *args):
    try:
        fn(*args)
    except Exception as e:  # noqa: BLE001 - the class is the verdict under test
        return type(e)
    return None


def _device_kind(ref_error):
    for ref_class, dev_class in SAME_VERDICT:
        if issubclass(ref_error, ref_class):
            return dev_class
    raise AssertionError("python-tuf raised %s" % ref_error.__name__)


def _published(repo, role, version):
    return repo.published[role][version - 1]


# -- the plain path -------------------------------------------------------------------------------
@pytest.mark.parametrize("compact", [True, False])
def test_full_update_agrees(compact):
    repo = Repo(compact=compact)
    repo.add_target("fw/app.bin", b"firmware")
    repo.publish_targets()
    both = Both(_published(repo, "root", 1))
    both.load(repo, "timestamp", "snapshot", "targets")
    assert both.dev.targets["targets"]["fw/app.bin"]["length"] == 8
    assert both.dev.safe_time_floor() == unix(NOW)


def test_time_floor_only_after_a_full_update():
    repo = Repo()
    both = Both(_published(repo, "root", 1))
    both.load(repo, "timestamp", "snapshot")
    assert both.dev.safe_time_floor() is None


# -- arbitrary metadata ---------------------------------------------------------------------------
def test_timestamp_signed_by_an_unknown_key():
    repo = Repo()
    both = Both(_published(repo, "root", 1))
    forged = repo.sign("timestamp", signers=[fixed_key("attacker")])
    assert both.step("update_timestamp", forged) is tuf.BadSignature


def test_changed_after_signing():
    repo = Repo()
    doc = json.loads(repo.published["timestamp"][-1])
    doc["signed"]["version"] += 1
    both = Both(_published(repo, "root", 1))
    assert both.step("update_timestamp", json.dumps(doc).encode()) is tuf.BadSignature


def test_corrupted_signature():
    repo = Repo()
    doc = json.loads(repo.published["snapshot"][-1])
    sig = doc["signatures"][0]["sig"]
    doc["signatures"][0]["sig"] = sig[:-2] + ("00" if sig[-2:] != "00" else "01")
    both = Both(_published(repo, "root", 1))
    both.load(repo, "timestamp")
    repo.hashes = False
    assert both.step("update_snapshot", json.dumps(doc).encode(), True) is tuf.BadSignature


def test_targets_signed_by_the_snapshot_key():
    repo = Repo(hashes=False)
    forged = repo.sign("targets", signers=repo.signers["snapshot"])
    both = Both(_published(repo, "root", 1))
    both.load(repo, "timestamp", "snapshot")
    assert both.step("update_targets", forged) is tuf.BadSignature


def test_wrong_type():
    repo = Repo()
    both = Both(_published(repo, "root", 1))
    assert both.step("update_timestamp", repo.published["snapshot"][-1]) is tuf.BadMetadata


def test_not_json():
    repo = Repo()
    both = Both(_published(repo, "root", 1))
    assert both.step("update_timestamp", b"{not json") is tuf.BadMetadata


# -- rollback -------------------------------------------------------------------------------------
def test_timestamp_rollback_and_replay():
    repo = Repo()
    repo.update_timestamp()
    both = Both(_published(repo, "root", 1))
    assert both.step("update_timestamp", _published(repo, "timestamp", 2)) is None
    assert both.step("update_timestamp", _published(repo, "timestamp", 1)) is tuf.Rollback
    assert both.step("update_timestamp", _published(repo, "timestamp", 2)) is tuf.EqualVersion


def test_snapshot_version_rollback_in_timestamp():
    repo = Repo(hashes=False)
    repo.update_snapshot()  # snapshot v2, timestamp v2 naming it
    both = Both(_published(repo, "root", 1))
    both.load(repo, "timestamp")
    repo.timestamp.snapshot_meta = MetaFile(1)
    assert both.step("update_timestamp", repo.publish("timestamp")) is tuf.Rollback


def _second_update(repo, old=1):
    """A set that trusts timestamp and snapshot version `old`, then the newest timestamp and (as
    python-tuf's Updater does) the stored snapshot `old`, intermediate now."""
    both = Both(_published(repo, "root", 1))
    assert both.step("update_timestamp", _published(repo, "timestamp", old)) is None
    assert both.step("update_timestamp", repo.published["timestamp"][-1]) is None
    assert both.step("update_snapshot", _published(repo, "snapshot", old), True) is tuf.MixAndMatch
    return both


def test_snapshot_rolls_targets_back():
    repo = Repo(hashes=False)
    repo.targets.version = 2
    repo.publish_targets()  # snapshot v2 names targets v3
    repo.snapshot.meta["targets.json"] = MetaFile(2)
    repo.publish("snapshot")
    repo.update_timestamp()
    both = _second_update(repo, old=2)
    assert both.step("update_snapshot", repo.published["snapshot"][-1]) is tuf.Rollback


def test_snapshot_drops_a_targets_file():
    repo = Repo(hashes=False)
    repo.snapshot.meta["extra.json"] = MetaFile(1)
    repo.publish("snapshot", bump=False)
    repo.published["snapshot"] = repo.published["snapshot"][-1:]
    repo.update_timestamp()
    repo.published["timestamp"] = repo.published["timestamp"][:1]
    del repo.snapshot.meta["extra.json"]
    repo.publish("snapshot")
    repo.update_timestamp()
    both = _second_update(repo)
    assert both.step("update_snapshot", repo.published["snapshot"][-1]) is tuf.Rollback


def test_root_replayed():
    repo = Repo()
    both = Both(_published(repo, "root", 1))
    assert both.step("update_root", _published(repo, "root", 1)) is tuf.Rollback


# -- freeze ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["timestamp", "snapshot", "targets"])
def test_expired(role):
    repo = Repo(hashes=False)
    repo.md[role].signed.expires = NOW - timedelta(seconds=1)
    if role == "targets":
        repo.publish_targets()
    elif role == "snapshot":
        repo.update_snapshot()
    else:
        repo.update_timestamp()
    both = Both(_published(repo, "root", 1))
    roles = ["timestamp", "snapshot", "targets"]
    both.load(repo, *roles[: roles.index(role)])
    assert both.step("update_" + role, repo.published[role][-1]) is tuf.Expired


def test_expiry_is_exact_to_the_second():
    repo = Repo()
    repo.timestamp.expires = NOW + timedelta(seconds=1)
    repo.update_timestamp()
    assert Both(_published(repo, "root", 1)).step("update_timestamp", repo.published["timestamp"][-1]) is None
    both = Both(_published(repo, "root", 1), now=NOW + timedelta(seconds=1))
    assert both.step("update_timestamp", repo.published["timestamp"][-1]) is tuf.Expired


def test_expired_final_root():
    repo = Repo()
    both = Both(_published(repo, "root", 1), now=repo.expiry)
    assert both.step("update_timestamp", repo.published["timestamp"][-1]) is tuf.Expired


def test_expired_timestamp_still_guards_against_rollback():
    repo = Repo()
    repo.timestamp.expires = NOW - timedelta(days=1)
    repo.update_timestamp()  # v2, expired
    both = Both(_published(repo, "root", 1))
    assert both.step("update_timestamp", _published(repo, "timestamp", 2)) is tuf.Expired
    # intermediate: v1 is now a rollback, although the trusted v2 is expired
    assert both.step("update_timestamp", _published(repo, "timestamp", 1)) is tuf.Rollback
    # and the expired timestamp lets no snapshot load
    with pytest.raises(tuf.Expired):
        both.dev.update_snapshot(repo.published["snapshot"][-1])


# -- mix and match --------------------------------------------------------------------------------
def test_snapshot_other_than_timestamp_names():
    repo = Repo(hashes=False)
    repo.update_snapshot()  # snapshot v2 and timestamp v2
    both = Both(_published(repo, "root", 1))
    both.load(repo, "timestamp")
    assert both.step("update_snapshot", _published(repo, "snapshot", 1)) is tuf.MixAndMatch


def test_targets_other_than_snapshot_names():
    repo = Repo(hashes=False)
    repo.publish_targets()  # targets v2
    both = Both(_published(repo, "root", 1))
    both.load(repo, "timestamp", "snapshot")
    assert both.step("update_targets", _published(repo, "targets", 1)) is tuf.MixAndMatch


@pytest.mark.parametrize("role", ["snapshot", "targets"])
def test_hash_mismatch(role):
    repo = Repo(hashes=True)
    repo.publish_targets()
    both = Both(_published(repo, "root", 1))
    both.load(repo, *["timestamp", "snapshot"][: 1 if role == "snapshot" else 2])
    assert both.step("update_" + role, _published(repo, role, 1)) is tuf.LengthOrHashMismatch


def test_length_mismatch_with_matching_hash_is_refused():
    repo = Repo(hashes=False)
    data = repo.published["snapshot"][-1]
    repo.timestamp.snapshot_meta = MetaFile(1, len(data) + 1, {"sha256": hashlib.sha256(data).hexdigest()})
    repo.publish("timestamp")
    both = Both(_published(repo, "root", 1))
    both.load(repo, "timestamp")
    assert both.step("update_snapshot", data) is tuf.LengthOrHashMismatch


def test_unknown_hash_algorithm_is_refused():
    repo = Repo(hashes=False)
    repo.timestamp.snapshot_meta = MetaFile(1, hashes={"md5": "00" * 16})
    repo.publish("timestamp")
    both = Both(_published(repo, "root", 1))
    both.load(repo, "timestamp")
    assert both.step("update_snapshot", repo.published["snapshot"][-1]) is tuf.LengthOrHashMismatch


# -- keys and thresholds --------------------------------------------------------------------------
def _timestamp_threshold_two():
    """A repository whose root v1 asks for two timestamp signatures."""
    repo = Repo()
    repo.add_key("timestamp", fixed_key("timestamp-2"))
    repo.root.roles["timestamp"].threshold = 2
    repo.publish("root", bump=False)
    repo.published["root"] = repo.published["root"][-1:]
    return repo


def test_below_threshold():
    repo = _timestamp_threshold_two()
    both = Both(_published(repo, "root", 1))
    one_key = repo.sign("timestamp", signers=repo.signers["timestamp"][:1])
    assert both.step("update_timestamp", one_key) is tuf.BadSignature
    assert both.step("update_timestamp", repo.sign("timestamp")) is None


def test_one_key_signing_twice_is_refused():
    repo = _timestamp_threshold_two()
    doc = json.loads(repo.sign("timestamp", signers=repo.signers["timestamp"][:1]))
    doc["signatures"].append(dict(doc["signatures"][0]))
    both = Both(_published(repo, "root", 1))
    assert both.step("update_timestamp", json.dumps(doc).encode()) is tuf.BadMetadata


def test_revoked_key_after_rotation():
    repo = Repo()
    old_key = repo.signers["timestamp"][0]
    stale = repo.sign("timestamp")
    repo.remove_key("timestamp", old_key)
    repo.add_key("timestamp", fixed_key("timestamp-2"))
    repo.publish("root")
    both = Both(_published(repo, "root", 1))
    assert both.step("update_root", _published(repo, "root", 2)) is None
    assert both.step("update_timestamp", stale) is tuf.BadSignature
    assert both.step("update_timestamp", repo.sign("timestamp")) is None


def test_root_rotation_skipping_a_version():
    repo = Repo()
    repo.publish("root")
    repo.publish("root")
    both = Both(_published(repo, "root", 1))
    assert both.step("update_root", _published(repo, "root", 3)) is tuf.BadVersion
    assert both.step("update_root", _published(repo, "root", 2)) is None
    assert both.step("update_root", _published(repo, "root", 3)) is None


def _rotate_root_key(repo):
    old, new = repo.signers["root"][0], fixed_key("root-2")
    repo.remove_key("root", old)
    repo.add_key("root", new)
    return old, new


@pytest.mark.parametrize("signed_by", ["old", "new", "both"])
def test_root_rotation_needs_old_and_new_thresholds(signed_by):
    repo = Repo()
    old, new = _rotate_root_key(repo)
    signers = {"old": [old], "new": [new], "both": [old, new]}[signed_by]
    data = repo.publish("root", signers=signers)
    both = Both(_published(repo, "root", 1))
    assert both.step("update_root", data) is (None if signed_by == "both" else tuf.BadSignature)


def test_root_with_duplicate_keyids_in_a_role():
    repo = Repo()
    doc = json.loads(repo.published["root"][0])
    role = doc["signed"]["roles"]["timestamp"]
    role["keyids"].append(role["keyids"][0])
    repo.md["root"].signed.version += 1
    doc["signed"]["version"] = 2
    from securesystemslib.formats import encode_canonical

    message = encode_canonical(doc["signed"]).encode()
    doc["signatures"] = [{"keyid": s["keyid"], "sig": repo.signers["root"][0].sign(message).hex()} for s in doc["signatures"]]
    both = Both(_published(repo, "root", 1))
    assert both.step("update_root", json.dumps(doc).encode()) is tuf.BadMetadata


# -- order and caps -------------------------------------------------------------------------------
def test_load_order_is_enforced():
    repo = Repo()
    dev = tuf.TrustedSet(_published(repo, "root", 1), unix(NOW))
    with pytest.raises(RuntimeError):
        dev.update_snapshot(repo.published["snapshot"][-1])
    dev.update_timestamp(repo.published["timestamp"][-1])
    with pytest.raises(RuntimeError):
        dev.update_targets(repo.published["targets"][-1])
    dev.update_snapshot(repo.published["snapshot"][-1])
    with pytest.raises(RuntimeError):
        dev.update_root(repo.published["root"][-1])
    dev.update_targets(repo.published["targets"][-1])
    with pytest.raises(RuntimeError):
        dev.update_snapshot(repo.published["snapshot"][-1])


def test_over_the_cap_is_refused_before_parsing():
    repo = Repo()
    dev = tuf.TrustedSet(_published(repo, "root", 1), unix(NOW))
    data = repo.published["timestamp"][-1]
    padded = data[:-1] + b" " * (tuf.TIMESTAMP_MAX - len(data)) + b"}"
    assert len(padded) == tuf.TIMESTAMP_MAX
    dev.update_timestamp(padded)
    with pytest.raises(tuf.TooLarge):
        tuf.TrustedSet(_published(repo, "root", 1), unix(NOW)).update_timestamp(padded + b" ")


# -- whole refreshes against python-tuf's ngclient ------------------------------------------------
class RepoFetcher(FetcherInterface):
    def __init__(self, repo):
        self.repo = repo

    def _fetch(self, url):
        data = self.repo.fetch(url[len("http://repo/"):])
        if data is None:
            raise tuf_errors.DownloadHTTPError("not found", 404)
        return iter([data])


class DictStore(dict):
    def load(self, role):
        return self.get(role)

    def save(self, role, data):
        self[role] = data


class Clients:
    """ngclient and the device workflow, each with its own storage, on one repository."""

    def __init__(self, repo, tmp_path):
        self.repo = repo
        self.dir = tmp_path / "ngclient"
        self.dir.mkdir()
        self.root = _published(repo, "root", 1)
        self.store = DictStore(root=self.root)

    def refresh(self, now=NOW):
        """Refresh both; return (ngclient ok, device error class or None, paths each requested)."""
        self.repo.requests.clear()
        updater = Updater(str(self.dir), "http://repo/metadata/", fetcher=RepoFetcher(self.repo), bootstrap=None
                          if (self.dir / "root.json").exists() else self.root)
        updater._trusted_set.reference_time = now
        ref_ok = _error(updater.refresh) is None
        ref_paths = list(self.repo.requests)
        self.repo.requests.clear()
        trusted = tuf.TrustedSet(self.store["root"], unix(now))

        def fetch(path, max_length):
            data = self.repo.fetch("metadata/" + path)
            assert data is None or len(data) <= max_length
            return data

        dev_error = _error(tufclient.refresh, trusted, fetch, self.store)
        assert ref_ok == (dev_error is None), (ref_ok, dev_error)
        assert ref_paths == list(self.repo.requests)
        return dev_error, ref_paths


@pytest.mark.parametrize("consistent", [True, False])
def test_refresh_requests_the_same_files_as_ngclient(tmp_path, consistent):
    repo = Repo(consistent_snapshot=consistent)
    clients = Clients(repo, tmp_path)
    error, paths = clients.refresh()
    assert error is None
    if consistent:
        assert paths == ["metadata/2.root.json", "metadata/timestamp.json", "metadata/1.snapshot.json",
                         "metadata/1.targets.json"]
    else:
        assert paths == ["metadata/2.root.json", "metadata/timestamp.json", "metadata/snapshot.json",
                         "metadata/targets.json"]
    # nothing new: only root N+1 and timestamp are asked for; the stored copies stay in use
    assert clients.refresh() == (None, ["metadata/2.root.json", "metadata/timestamp.json"])
    repo.publish_targets()
    error, paths = clients.refresh()
    assert error is None and len(paths) == 4


def test_refresh_through_root_rotations(tmp_path):
    repo = Repo()
    clients = Clients(repo, tmp_path)
    assert clients.refresh()[0] is None
    for n in range(3):
        old, new = _rotate_root_key(repo)
        repo.signers["root"] = [new]
        repo.publish("root", signers=[old, new])
        repo.signers["root"] = [new]
    error, paths = clients.refresh()
    assert error is None
    assert paths[:4] == ["metadata/2.root.json", "metadata/3.root.json", "metadata/4.root.json",
                         "metadata/5.root.json"]
    assert clients.store["root"] == _published(repo, "root", 4)


def test_fast_forward_recovery(tmp_path):
    """A stolen timestamp key pushed the version to 1000; rotating that key must let the
    device accept the repository's real, lower timestamp versions again (spec 5.3.11)."""
    repo = Repo()
    clients = Clients(repo, tmp_path)
    assert clients.refresh()[0] is None
    repo.timestamp.version = 999
    repo.update_timestamp()
    assert clients.refresh()[0] is None
    repo.timestamp.version = 1
    repo.update_timestamp()
    assert clients.refresh()[0] is tuf.Rollback
    repo.remove_key("timestamp", repo.signers["timestamp"][0])
    repo.add_key("timestamp", fixed_key("timestamp-new"))
    repo.publish("root")
    repo.update_timestamp()
    assert clients.refresh()[0] is None
    assert json.loads(clients.store["timestamp"])["signed"]["version"] == 3


def test_refresh_with_an_expired_local_timestamp(tmp_path):
    repo = Repo()
    clients = Clients(repo, tmp_path)
    assert clients.refresh()[0] is None
    later = NOW + timedelta(days=31)
    assert clients.refresh(now=later)[0] is tuf.Expired
    for role in ("root", "targets", "snapshot", "timestamp"):
        repo.md[role].signed.expires = later + timedelta(days=30)
    repo.publish("root")
    repo.publish_targets()
    assert clients.refresh(now=later)[0] is None


def test_missing_timestamp_fails_the_refresh(tmp_path):
    repo = Repo()
    repo.published["timestamp"].clear()
    clients = Clients(repo, tmp_path)
    assert clients.refresh()[0] is tufclient.NotFound


def test_target_paths_match_ngclient(tmp_path):
    repo = Repo(consistent_snapshot=True)
    repo.add_target("dir/sub/app.bin", b"image bytes")
    repo.publish_targets()
    updater = Updater(str(tmp_path), "http://repo/metadata/", target_dir=str(tmp_path),
                      target_base_url="http://repo/targets/", fetcher=RepoFetcher(repo),
                      bootstrap=_published(repo, "root", 1))
    updater._trusted_set.reference_time = NOW
    info = updater.get_targetinfo("dir/sub/app.bin")
    repo.requests.clear()
    updater.download_target(info)
    trusted = tuf.TrustedSet(_published(repo, "root", 1), unix(NOW))
    tufclient.refresh(trusted, lambda p, n: repo.fetch("metadata/" + p), DictStore())
    ngclient_paths = repo.requests[:1]
    entry = tufclient.target_info(trusted, "dir/sub/app.bin")
    assert ngclient_paths == ["targets/" + tuf.target_path("dir/sub/app.bin", entry, True)]
    assert tuf.target_path("dir/sub/app.bin", entry, False) == "dir/sub/app.bin"
    check = tuf.target_check(entry)
    check.update(repo.artifacts["dir/sub/app.bin"])
    check.verify()


def test_metadata_paths_quote_role_names_like_ngclient():
    from urllib.parse import quote

    for name in ("targets", "a/b", "ünï code", "x%y", "~_.-"):
        assert tuf.metadata_path(name) == quote(name, "") + ".json"
        assert tuf.metadata_path(name, 7) == "7." + quote(name, "") + ".json"
