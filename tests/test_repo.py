"""The update repository: init, publish, timestamp, renew, rotate, status; every state checked by
python-tuf's own ngclient (reading the directory through a no-network fetcher) and by the device
code where the device is the one that will read it."""

import json
import os
import stat
from datetime import timedelta

import pytest
from securesystemslib.formats import encode_canonical
from tuf.api.metadata import Metadata, Targets, TargetFile

from mpboot import anchor, keys
from mpboot.errors import MpbootError
from mpboot.repo import layout, maintain, publish as publish_mod, status as status_mod, store
from mpboot.repo.store import Repository
from mpboot_fw import trust
from repotest import DirFetcher, device_fetch, key_dir, keyring, make_repo, signed_image, tree, updater, write_image

BASE = "http://repo.invalid/"


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path / "repo")


def kd(repo, name):
    return key_dir(repo.dir) / name


def client_refresh(repo, tmp_path, root=None, name="client"):
    """A python-tuf ngclient refresh from the repository directory, trusting `root` (default
    1.root.json). Later calls with the same `name` and root=False continue from that client's
    stored metadata, as a long-lived client would."""
    fetcher = DirFetcher(repo.dir)
    if root is None:
        root = (repo.dir / "metadata" / "1.root.json").read_bytes()
    u = updater(tmp_path / name, root or None, BASE, fetcher)
    u.refresh()
    return u, fetcher


def publish(repo, tmp_path, version="1.0.0", keys_=("targets.pem",), channel="stable", force=False, **kw):
    image = write_image(tmp_path / ("img-%s.mpb" % version), [kd(repo, k) for k in keys_], version=version, **kw)
    report = publish_mod.publish(repo, keyring(repo), image, channel, force=force)
    return report, image


# --- init -----------------------------------------------------------------------------------

def test_init_makes_a_working_repository(repo, tmp_path):
    md = repo.dir / "metadata"
    assert sorted(p.name for p in md.iterdir()) == [
        "1.root.json", "1.snapshot.json", "1.targets.json", "root.json", "timestamp.json"]
    assert (md / "root.json").read_bytes() == (md / "1.root.json").read_bytes()
    for role in layout.ROLES:
        key = kd(repo, role + ".pem")
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert (key_dir(repo.dir) / (role + ".pem.pub")).exists()
    root = Metadata.from_bytes((md / "root.json").read_bytes()).signed
    assert root.consistent_snapshot is True
    assert len({tuple(root.roles[r].keyids) for r in layout.ROLES}) == 4  # a separate key per role
    # The device accepts it as its trust anchor, and python-tuf's client refreshes from it.
    trust.load_root((md / "root.json").read_bytes())
    u, fetched = client_refresh(repo, tmp_path)
    assert fetched.fetched == ["metadata/2.root.json", "metadata/timestamp.json", "metadata/1.snapshot.json",
                               "metadata/1.targets.json"]


def test_init_lifetimes_and_thresholds(tmp_path):
    repo = make_repo(tmp_path / "r", thresholds={"targets": 2}, lifetimes={"timestamp": 3600, "root": 30 * 86400})
    assert repo.root.roles["targets"].threshold == 2
    assert len(repo.root.roles["targets"].keyids) == 2
    assert (key_dir(repo.dir) / "targets-2.pem").exists()
    assert repo.targets.expires - repo.timestamp.expires == timedelta(days=90, hours=-1)
    assert repo.root.expires - repo.targets.expires == timedelta(days=30 - 90)
    assert repo.settings.lifetimes["timestamp"] == 3600
    with pytest.raises(MpbootError, match="whole days"):
        make_repo(tmp_path / "r2", lifetimes={"root": 3600})


def test_init_refuses_an_existing_repository_and_reuses_keys(repo, tmp_path):
    with pytest.raises(MpbootError, match="already a repository"):
        make_repo(repo.dir)
    # A second repository with the same key directory uses the same keys, generating none.
    other = make_repo(tmp_path / "other", key_dir=key_dir(repo.dir))
    assert other.root.roles == repo.root.roles


def test_init_with_passphrase_encrypts_generated_keys(tmp_path):
    repo = make_repo(tmp_path / "r", passphrase=b"correct horse")
    pem = (key_dir(repo.dir) / "timestamp.pem").read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in pem
    with pytest.raises(MpbootError, match="encrypted"):
        maintain.refresh_timestamp(repo, keyring(repo))
    maintain.refresh_timestamp(repo, keyring(repo, passphrase=b"correct horse"))
    assert Repository(repo.dir).timestamp.version == 2


def test_init_adopts_a_root_from_root_init(tmp_path):
    ks = {}
    for role in layout.ROLES:
        keys.generate_keypair(tmp_path / (role + ".pem"))
        ks[role] = keys.load_private_key(tmp_path / (role + ".pem"))
    data = anchor.create_root([ks["root"]], {r: [ks[r].public_key()] for r in ("targets", "snapshot", "timestamp")})
    (tmp_path / "root.json").write_bytes(data)
    given = {r: [tmp_path / (r + ".pem")] for r in ("targets", "snapshot", "timestamp")}
    repo = make_repo(tmp_path / "repo", root_file=tmp_path / "root.json", given=given)
    assert (repo.dir / "metadata" / "1.root.json").read_bytes() == data  # adopted byte for byte
    assert not key_dir(repo.dir).exists()  # nothing generated
    client_refresh(repo, tmp_path, root=data)
    # Publishing needs no key options: the adopted keys are remembered.
    image = write_image(tmp_path / "a.mpb", [tmp_path / "targets.pem"])
    publish_mod.publish(repo, keyring(repo), image, "stable")


def test_init_adopting_a_root_needs_its_keys(tmp_path):
    ks = {r: keys.generate_keypair(tmp_path / (r + ".pem")) for r in layout.ROLES}
    (tmp_path / "root.json").write_bytes(anchor.create_root([ks["root"]], {r: [ks[r].public_key()] for r in ("targets", "snapshot", "timestamp")}))
    keys.generate_keypair(tmp_path / "stranger.pem")
    given = {"targets": [tmp_path / "stranger.pem"], "snapshot": [tmp_path / "snapshot.pem"], "timestamp": [tmp_path / "timestamp.pem"]}
    with pytest.raises(MpbootError, match="stranger.pem is not a targets key"):
        make_repo(tmp_path / "repo", root_file=tmp_path / "root.json", given=given)
    with pytest.raises(MpbootError, match="--targets-key"):
        make_repo(tmp_path / "repo", root_file=tmp_path / "root.json", given={"snapshot": [tmp_path / "snapshot.pem"], "timestamp": [tmp_path / "timestamp.pem"]})
    assert not (tmp_path / "repo" / "metadata").exists()


def test_init_refuses_a_root_without_consistent_snapshots(tmp_path):
    repo = make_repo(tmp_path / "ref")
    md = Metadata.from_bytes((repo.dir / "metadata" / "1.root.json").read_bytes())
    md.signed.consistent_snapshot = False
    md.signatures.clear()
    md.sign(keys.tuf_signer(keys.load_private_key(kd(repo, "root.pem"))))
    (tmp_path / "root.json").write_bytes(layout.encode(md))
    with pytest.raises(MpbootError, match="consistent_snapshot"):
        make_repo(tmp_path / "r2", root_file=tmp_path / "root.json", key_dir=key_dir(repo.dir))


# --- bytes on disk ----------------------------------------------------------------------------

def test_metadata_is_compact_ascii_and_signed_bytes_are_canonical(repo, tmp_path):
    publish(repo, tmp_path, "1.0.0")
    for path in (repo.dir / "metadata").iterdir():
        data = path.read_bytes()
        data.decode("ascii")
        doc = json.loads(data)
        # securesystemslib's encoder (what python-tuf signs), independent of the device's cjson
        canonical = encode_canonical(doc["signed"]).encode()
        start = data.index(b',"signed":') + len(b',"signed":')
        assert data[start:-1] == canonical, path.name
        assert data == json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def test_non_ascii_or_control_characters_are_refused_not_written(repo):
    for bad in ("caf\u00e9/x.mpb", "a\nb.mpb"):
        md = Metadata(Targets(version=1))
        md.signed.targets[bad] = TargetFile(1, {"sha256": "00" * 32}, bad)
        with pytest.raises(MpbootError, match="canonical"):
            layout.encode(md)


# --- publish ----------------------------------------------------------------------------------

def test_publish_adds_target_with_manifest_fields(repo, tmp_path):
    report, image = publish(repo, tmp_path, "1.2.0", security_version=3)
    assert report["target"] == "esp32-4mb/stable/1.2.0.mpb"
    assert report["versions"] == {"targets": 2, "snapshot": 2, "timestamp": 2}
    repo2 = Repository(repo.dir)
    target = repo2.targets.targets["esp32-4mb/stable/1.2.0.mpb"]
    data = image.read_bytes()
    assert target.length == len(data)
    from mpboot_fw import image as image_fmt
    from mpboot_fw.blockdev import BytesDevice
    m = image_fmt.read_manifest(BytesDevice(data))
    assert target.custom == {"board": "esp32-4mb", "chip_id": 0, "channel": "stable", "version": "1.2.0",
                             "security_version": 3, "payload_len": m.payload_len,
                             "payload_sha256": m.payload_sha256.hex(), "created": 1767225600}
    stored = repo.dir / "targets" / "esp32-4mb" / "stable" / ("%s.1.2.0.mpb" % target.hashes["sha256"])
    assert stored.read_bytes() == data
    # python-tuf's client finds it and downloads it from the consistent-snapshot path.
    u, fetcher = client_refresh(repo, tmp_path)
    info = u.get_targetinfo("esp32-4mb/stable/1.2.0.mpb")
    path = u.download_target(info)
    assert open(path, "rb").read() == data
    assert fetcher.fetched[-1] == "targets/esp32-4mb/stable/%s.1.2.0.mpb" % target.hashes["sha256"]


def test_snapshot_and_timestamp_list_length_and_hashes(repo, tmp_path):
    publish(repo, tmp_path, "1.0.0")
    r = Repository(repo.dir)
    r.timestamp.snapshot_meta.verify_length_and_hashes(r.raw["snapshot"])
    r.snapshot.meta["targets.json"].verify_length_and_hashes(r.raw["targets"])
    assert r.timestamp.snapshot_meta.length == len(r.raw["snapshot"])


def test_publish_for_any_board_of_a_chip(repo, tmp_path):
    report, _ = publish(repo, tmp_path, "1.0.0", board="")
    assert report["target"] == "esp32/stable/1.0.0.mpb"


def test_publish_refuses_an_image_signed_by_another_key(repo, tmp_path):
    before = tree(repo.dir)
    with pytest.raises(MpbootError, match="not authorized by this repository: signature-threshold"):
        publish(repo, tmp_path, "1.0.0", keys_=("snapshot.pem",))  # a repository key, but not a targets key
    assert tree(repo.dir) == before


def test_publish_refuses_an_image_below_the_targets_threshold(tmp_path):
    repo = make_repo(tmp_path / "r", thresholds={"targets": 2})
    before = tree(repo.dir)
    with pytest.raises(MpbootError, match="signature-threshold: 1 of 2"):
        publish(repo, tmp_path, "1.0.0", keys_=("targets.pem",))
    assert tree(repo.dir) == before
    report, _ = publish(repo, tmp_path, "1.0.1", keys_=("targets.pem", "targets-2.pem"))
    assert report["changed"]
    client_refresh(repo, tmp_path)


def test_publish_refuses_a_tampered_image(repo, tmp_path):
    data = bytearray(signed_image([kd(repo, "targets.pem")]))
    data[100] ^= 1
    (tmp_path / "t.mpb").write_bytes(data)
    with pytest.raises(MpbootError, match="payload-hash|bad-app"):
        publish_mod.publish(repo, keyring(repo), tmp_path / "t.mpb", "stable")
    (tmp_path / "u.mpb").write_bytes(signed_image([kd(repo, "targets.pem")]) + b"junk")
    with pytest.raises(MpbootError, match="after its signatures"):
        publish_mod.publish(repo, keyring(repo), tmp_path / "u.mpb", "stable")


def test_publish_keeps_channels_moving_forward(repo, tmp_path):
    publish(repo, tmp_path, "1.1.0", security_version=2)
    with pytest.raises(MpbootError, match="1.0.9 is not newer than 1.1.0"):
        publish(repo, tmp_path, "1.0.9", security_version=2)
    with pytest.raises(MpbootError, match="1.1.0-rc.1 is not newer"):
        publish(repo, tmp_path, "1.1.0-rc.1", security_version=2)
    with pytest.raises(MpbootError, match="security version 1 is below 2"):
        publish(repo, tmp_path, "1.2.0", security_version=1)
    publish(repo, tmp_path, "1.10.0", security_version=2)  # numeric, not text, ordering
    # Other channels and boards are separate.
    publish(repo, tmp_path, "1.0.0", channel="beta", security_version=1)
    publish(repo, tmp_path, "0.1.0", board="esp32", security_version=0)
    # --force adds it anyway, and says what devices will make of it.
    report, _ = publish(repo, tmp_path, "1.0.9", security_version=1, force=True)
    assert len(report["warnings"]) == 2
    assert sorted(Repository(repo.dir).targets.targets) == [
        "esp32-4mb/beta/1.0.0.mpb", "esp32-4mb/stable/1.0.9.mpb", "esp32-4mb/stable/1.1.0.mpb",
        "esp32-4mb/stable/1.10.0.mpb", "esp32/stable/0.1.0.mpb"]


def test_publish_is_idempotent_and_a_version_names_one_build(repo, tmp_path):
    publish(repo, tmp_path, "1.0.0")
    before = tree(repo.dir)
    report = publish_mod.publish(repo, keyring(repo), tmp_path / "img-1.0.0.mpb", "stable")
    assert report["changed"] is False
    assert tree(repo.dir) == before
    other = write_image(tmp_path / "other.mpb", [kd(repo, "targets.pem")], version="1.0.0", seed=7)
    with pytest.raises(MpbootError, match="already published with different content"):
        publish_mod.publish(repo, keyring(repo), other, "stable", force=True)


def test_publish_refuses_unordered_versions_and_bad_channels(repo, tmp_path):
    with pytest.raises(MpbootError, match="versions that order"):
        publish(repo, tmp_path, "nightly")
    image = write_image(tmp_path / "a.mpb", [kd(repo, "targets.pem")])
    for channel in ("Stable", "a/b", "", "../x"):
        with pytest.raises(MpbootError, match="channel"):
            publish_mod.publish(repo, keyring(repo), image, channel)


def test_publish_with_the_targets_key_offline(repo, tmp_path):
    offline = tmp_path / "usb"
    offline.mkdir()
    os.rename(kd(repo, "targets.pem"), offline / "targets.pem")
    image = write_image(tmp_path / "a.mpb", [offline / "targets.pem"])
    before = tree(repo.dir)
    with pytest.raises(MpbootError, match="pass --targets-key FILE"):
        publish_mod.publish(repo, keyring(repo), image, "stable")
    assert tree(repo.dir) == before
    with pytest.raises(MpbootError, match="is not a targets key"):
        publish_mod.publish(repo, keyring(repo, {"targets": [kd(repo, "snapshot.pem")]}), image, "stable")
    publish_mod.publish(repo, keyring(repo, {"targets": [offline / "targets.pem"]}), image, "stable")


# --- atomicity --------------------------------------------------------------------------------

def _writes_of_one_publish(repo, tmp_path, monkeypatch):
    """Paths a publish writes, in order (found by running one on a copy of the repository)."""
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(repo.dir, copy)
    shutil.copytree(key_dir(repo.dir), key_dir(copy))
    seen = []
    real = store.atomic_write
    monkeypatch.setattr(store, "atomic_write", lambda p, d, **kw: (seen.append(p.relative_to(copy)), real(p, d, **kw)))
    r = Repository(copy)
    publish_mod.publish(r, keyring(r), tmp_path / "img-1.1.0.mpb", "stable")
    monkeypatch.setattr(store, "atomic_write", real)
    return [str(p) for p in seen]


def test_publish_writes_timestamp_last(repo, tmp_path, monkeypatch):
    write_image(tmp_path / "img-1.1.0.mpb", [kd(repo, "targets.pem")], version="1.1.0")
    order = _writes_of_one_publish(repo, tmp_path, monkeypatch)
    assert order[0].startswith("targets/esp32-4mb/stable/")
    assert order[1:] == ["metadata/2.targets.json", "metadata/2.snapshot.json", "metadata/timestamp.json"]


@pytest.mark.parametrize("fail_at", range(4))
def test_publish_interrupted_at_any_write_leaves_clients_on_the_old_state(repo, tmp_path, monkeypatch, fail_at):
    publish(repo, tmp_path, "1.0.0")
    old_timestamp = (repo.dir / "metadata" / "timestamp.json").read_bytes()
    write_image(tmp_path / "img-1.1.0.mpb", [kd(repo, "targets.pem")], version="1.1.0")
    real = store.atomic_write
    calls = []

    def failing(path, data, **kw):
        calls.append(path)
        if len(calls) > fail_at:
            raise OSError(28, "No space left on device")
        real(path, data, **kw)

    monkeypatch.setattr(store, "atomic_write", failing)
    r = Repository(repo.dir)
    with pytest.raises(OSError):
        publish_mod.publish(r, keyring(r), tmp_path / "img-1.1.0.mpb", "stable")
    monkeypatch.setattr(store, "atomic_write", real)
    assert (repo.dir / "metadata" / "timestamp.json").read_bytes() == old_timestamp
    after = Repository(repo.dir)
    assert sorted(after.targets.targets) == ["esp32-4mb/stable/1.0.0.mpb"]
    assert status_mod.status(after)["problems"] == []
    u, _ = client_refresh(after, tmp_path, name="c%d" % fail_at)
    assert u.get_targetinfo("esp32-4mb/stable/1.1.0.mpb") is None
    # Running it again completes it, over whatever the interrupted run left.
    publish_mod.publish(after, keyring(after), tmp_path / "img-1.1.0.mpb", "stable")
    u, _ = client_refresh(after, tmp_path, root=False, name="c%d" % fail_at)
    assert u.get_targetinfo("esp32-4mb/stable/1.1.0.mpb") is not None


# --- timestamp and renew ----------------------------------------------------------------------

def test_timestamp_resigns_timestamp_only_while_snapshot_is_fresh(repo, tmp_path):
    report = maintain.refresh_timestamp(repo, keyring(repo))
    assert report["versions"] == {"timestamp": 2}
    r = Repository(repo.dir)
    assert r.snapshot.version == 1 and r.timestamp.version == 2
    client_refresh(r, tmp_path)


def test_timestamp_also_renews_a_snapshot_past_half_its_life(repo, tmp_path):
    later = store.utcnow() + timedelta(days=16)
    report = maintain.refresh_timestamp(repo, keyring(repo), now=later)
    assert report["versions"] == {"timestamp": 2, "snapshot": 2}
    r = Repository(repo.dir)
    assert r.snapshot.expires == later + timedelta(days=30)
    assert r.timestamp.expires == later + timedelta(days=1)


def test_timestamp_with_the_snapshot_key_away_warns_and_still_signs(repo):
    os.unlink(kd(repo, "snapshot.pem"))
    report = maintain.refresh_timestamp(repo, keyring(repo), now=store.utcnow() + timedelta(days=20))
    assert report["versions"] == {"timestamp": 2}
    assert any(n.startswith("WARNING: snapshot expires") for n in report["notes"])


def test_timestamp_needs_the_timestamp_key(repo):
    os.unlink(kd(repo, "timestamp.pem"))
    before = tree(repo.dir)
    with pytest.raises(MpbootError, match="signing timestamp needs 1 key"):
        maintain.refresh_timestamp(repo, keyring(repo))
    assert tree(repo.dir) == before


def test_timestamp_expiry_option(repo):
    now = store.utcnow()
    maintain.refresh_timestamp(repo, keyring(repo), lifetime=7200, now=now)
    assert Repository(repo.dir).timestamp.expires == now + timedelta(hours=2)


def test_renew_targets_and_root(repo, tmp_path):
    report = maintain.renew(repo, keyring(repo), "targets", lifetime=10 * 86400)
    assert report["versions"] == {"targets": 2, "snapshot": 2, "timestamp": 2}
    report = maintain.renew(Repository(repo.dir), keyring(repo), "root")
    assert report["versions"] == {"root": 2}
    assert (repo.dir / "metadata" / "root.json").read_bytes() == (repo.dir / "metadata" / "2.root.json").read_bytes()
    u, fetcher = client_refresh(Repository(repo.dir), tmp_path)
    assert "metadata/2.root.json" in fetcher.fetched and "metadata/3.root.json" in fetcher.fetched


# --- rotate -----------------------------------------------------------------------------------

def test_rotate_targets_key_revokes_the_old_one(repo, tmp_path):
    publish(repo, tmp_path, "1.0.0")
    u, _ = client_refresh(repo, tmp_path)  # a client that trusts the old key set
    keys.generate_keypair(tmp_path / "targets-new.pem")
    old = repo.root.roles["targets"].keyids[0]
    # forced: 1.0.0 is signed by the old key only (test_repo_rotation.py has the refusal)
    report = maintain.rotate(repo, keyring(repo), "targets", add=[tmp_path / "targets-new.pem"], remove=[old[:12]],
                             force=True)
    assert report["stranded"] == ["esp32-4mb/stable/1.0.0.mpb"]
    assert report["versions"] == {"root": 2, "targets": 3, "snapshot": 3, "timestamp": 3}
    r = Repository(repo.dir)
    assert r.root.roles["targets"].keyids == [keys.tuf_key(keys.load_public_key(tmp_path / "targets-new.pem")).keyid]
    # The device accepts root 2 as the successor of root 1.
    trust.load_root(r.raw["root"], trusted=trust.load_root((repo.dir / "metadata" / "1.root.json").read_bytes()))
    u, _ = client_refresh(r, tmp_path, root=False)  # python-tuf: rotates to root 2, accepts the new key's targets
    assert u.get_targetinfo("esp32-4mb/stable/1.0.0.mpb") is not None
    # Images signed by the removed key are refused now; the new key's are accepted.
    with pytest.raises(MpbootError, match="signature-threshold"):
        publish(r, tmp_path, "1.1.0")
    image = write_image(tmp_path / "n.mpb", [tmp_path / "targets-new.pem"], version="1.1.0")
    publish_mod.publish(r, keyring(r), image, "stable")
    assert r.settings.keys["targets"] == {r.root.roles["targets"].keyids[0]: os.path.relpath(tmp_path / "targets-new.pem", repo.dir)}


def test_rotate_root_key_needs_old_and_new_signatures(repo, tmp_path):
    keys.generate_keypair(tmp_path / "root-new.pem")
    old = repo.root.roles["root"].keyids[0]
    before = tree(repo.dir)
    # Only the public half of the new key: the new root cannot be signed by its own key set.
    (tmp_path / "pub").mkdir()
    os.rename(tmp_path / "root-new.pem.pub", tmp_path / "pub" / "root-new.pem.pub")
    with pytest.raises(MpbootError, match="1 more signature.*new root keys"):
        maintain.rotate(repo, keyring(repo), "root", add=[tmp_path / "pub" / "root-new.pem.pub"], remove=[old])
    assert tree(repo.dir) == before
    # Old key missing: the current root's threshold is not met.
    os.rename(kd(repo, "root.pem"), tmp_path / "root-old.pem")
    with pytest.raises(MpbootError, match="current root keys"):
        maintain.rotate(Repository(repo.dir), keyring(repo), "root", add=[tmp_path / "root-new.pem"], remove=[old])
    assert tree(repo.dir) == before
    r = Repository(repo.dir)
    maintain.rotate(r, keyring(r, {"root": [tmp_path / "root-old.pem"]}), "root", add=[tmp_path / "root-new.pem"], remove=[old])
    r = Repository(repo.dir)
    v2 = Metadata.from_bytes(r.raw["root"])
    assert set(v2.signatures) == {old, r.root.roles["root"].keyids[0]}
    trust.load_root(r.raw["root"], trusted=trust.load_root((repo.dir / "metadata" / "1.root.json").read_bytes()))
    client_refresh(r, tmp_path)
    # The next rotation needs only the new root key.
    maintain.rotate(r, keyring(r), "snapshot", threshold=1)
    assert Repository(repo.dir).root.version == 3


def test_rotate_timestamp_key_and_threshold_checks(repo, tmp_path):
    keys.generate_keypair(tmp_path / "ts2.pem")
    maintain.rotate(repo, keyring(repo), "timestamp", add=[tmp_path / "ts2.pem"], threshold=2)
    r = Repository(repo.dir)
    assert r.root.roles["timestamp"].threshold == 2
    assert len(r.metadata["timestamp"].signatures) == 2
    maintain.refresh_timestamp(r, keyring(r))  # both remembered keys sign
    client_refresh(Repository(repo.dir), tmp_path)
    with pytest.raises(MpbootError, match="could never sign"):
        maintain.rotate(Repository(repo.dir), keyring(repo), "timestamp", threshold=3)
    with pytest.raises(MpbootError, match="already a timestamp key"):
        maintain.rotate(Repository(repo.dir), keyring(repo), "timestamp", add=[tmp_path / "ts2.pem"])
    with pytest.raises(MpbootError, match="not a timestamp key"):
        maintain.rotate(Repository(repo.dir), keyring(repo), "timestamp", remove=["00000000"])
    with pytest.raises(MpbootError, match="nothing to rotate"):
        maintain.rotate(Repository(repo.dir), keyring(repo), "timestamp")


# --- status -----------------------------------------------------------------------------------

def test_status_reports_and_checks(repo, tmp_path):
    publish(repo, tmp_path, "1.0.0")
    r = Repository(repo.dir)
    s = status_mod.status(r)
    assert s["problems"] == []
    assert [t["path"] for t in s["targets"]] == ["esp32-4mb/stable/1.0.0.mpb"]
    assert s["roles"]["targets"]["version"] == 2
    assert any("root key file" in w for w in s["warnings"])
    soon = status_mod.status(r, now=store.utcnow() + timedelta(hours=20))
    assert any(w.startswith("timestamp expires in") for w in soon["warnings"])
    late = status_mod.status(r, now=store.utcnow() + timedelta(days=2))
    assert any(p.startswith("timestamp expired") for p in late["problems"])


def test_status_finds_tampering(repo, tmp_path):
    report, _ = publish(repo, tmp_path, "1.0.0")
    stored = repo.dir / "targets" / "esp32-4mb" / "stable" / ("%s.1.0.0.mpb" % report["sha256"])
    data = bytearray(stored.read_bytes())
    data[5] ^= 1
    stored.write_bytes(data)
    snap = repo.dir / "metadata" / "2.snapshot.json"
    snap.write_bytes(snap.read_bytes().replace(b'"expires":"20', b'"expires":"21', 1))
    problems = status_mod.status(Repository(repo.dir))["problems"]
    assert any("does not match its length and hash" in p for p in problems)
    assert any(p.startswith("snapshot does not match what timestamp lists") for p in problems)
    assert any(p.startswith("snapshot version") and "not signed" in p for p in problems)


def test_damaged_repository_gives_one_line(repo):
    (repo.dir / "metadata" / "1.snapshot.json").unlink()
    with pytest.raises(MpbootError, match="1.snapshot.json is missing"):
        Repository(repo.dir)
    (repo.dir / "metadata" / "timestamp.json").write_text("{")
    with pytest.raises(MpbootError, match="timestamp.json is not valid TUF metadata"):
        Repository(repo.dir)


# --- the devices' size caps, and pruning ------------------------------------------------------

def test_publish_refuses_targets_metadata_devices_would_refuse(repo, tmp_path):
    from mpboot_fw import tuf as device_tuf
    n = 0
    while len(repo.raw["targets"]) < device_tuf.TARGETS_MAX * 3 // 4:
        publish(repo, tmp_path, "1.0.%d" % n)
        n += 1
    assert any("targets metadata is" in w for w in status_mod.status(repo)["warnings"])
    with pytest.raises(MpbootError, match="targets metadata would be .* more than the 12288 devices accept: drop old versions"):
        for n in range(n, n + 20):
            before = tree(repo.dir)
            publish(repo, tmp_path, "1.0.%d" % n)
    assert tree(repo.dir) == before  # the refused publish wrote nothing
    last_listed = n - 1
    # Keeping the newest few makes room again, in the same change.
    image = write_image(tmp_path / "v2.mpb", [kd(repo, "targets.pem")], version="2.0.0")
    report = publish_mod.publish(repo, keyring(repo), image, "stable", keep=3)
    assert len(report["removed"]) == last_listed + 1 - 2
    assert sorted(Repository(repo.dir).targets.targets) == [
        "esp32-4mb/stable/1.0.%d.mpb" % (last_listed - 1), "esp32-4mb/stable/1.0.%d.mpb" % last_listed,
        "esp32-4mb/stable/2.0.0.mpb"]
    client_refresh(repo, tmp_path)


def test_prune_keeps_the_newest_of_each_board_and_channel(repo, tmp_path):
    for v in ("1.0.0", "1.2.0", "1.10.0", "1.9.0-rc.1"):
        publish(repo, tmp_path, v, force=True)
    publish(repo, tmp_path, "0.1.0", channel="beta")
    report = publish_mod.prune(repo, keyring(repo), keep=2)
    assert sorted(report["removed"]) == ["esp32-4mb/stable/1.0.0.mpb", "esp32-4mb/stable/1.2.0.mpb"]
    assert sorted(Repository(repo.dir).targets.targets) == [
        "esp32-4mb/beta/0.1.0.mpb", "esp32-4mb/stable/1.10.0.mpb", "esp32-4mb/stable/1.9.0-rc.1.mpb"]
    before = tree(repo.dir)
    assert publish_mod.prune(repo, keyring(repo), keep=2) == {"changed": False, "removed": []}
    assert tree(repo.dir) == before
    with pytest.raises(MpbootError, match="--keep must be at least 1"):
        publish_mod.prune(repo, keyring(repo), keep=0)
    client_refresh(repo, tmp_path)


# --- the device's own client reads what the repository writes ---------------------------------

class _Store:
    def __init__(self):
        self.saved = {}

    def load(self, role):
        return self.saved.get(role)

    def save(self, role, data):
        self.saved[role] = data


def _device_refresh(repo, store, root):
    """mpboot_fw.tufclient (the device's TUF client, run on CPython) against the directory."""
    import time

    from mpboot_fw import tuf as device_tuf, tufclient

    fetch = device_fetch(repo.dir)
    trusted = device_tuf.TrustedSet(store.load("root") or root, int(time.time()))
    tufclient.refresh(trusted, fetch, store)
    return trusted, tufclient


def test_device_client_refreshes_and_chooses_the_published_image(repo, tmp_path):
    root = (repo.dir / "metadata" / "1.root.json").read_bytes()
    store = _Store()
    publish(repo, tmp_path, "1.0.0", security_version=1)
    publish(repo, tmp_path, "1.1.0", security_version=2)
    publish(repo, tmp_path, "2.0.0-rc.1", security_version=2, channel="beta")
    trusted, client = _device_refresh(repo, store, root)
    path, entry = client.find_image(trusted.targets, 0, "esp32-4mb", "stable", floor=1, current="1.0.0")
    assert path == "esp32-4mb/stable/1.1.0.mpb"
    stored = repo.dir / "targets" / path.replace("1.1.0.mpb", "%s.1.1.0.mpb" % entry["hashes"]["sha256"])
    assert stored.stat().st_size == entry["length"]
    # After a targets key rotation the device walks to root 2 and accepts the re-signed targets.
    keys.generate_keypair(tmp_path / "t2.pem")
    maintain.rotate(repo, keyring(repo), "targets", add=[tmp_path / "t2.pem"], remove=[repo.root.roles["targets"].keyids[0]],
                    force=True)  # the published images are signed by the removed key only
    trusted, _ = _device_refresh(repo, store, root)
    assert trusted.root.version == 2 and store.saved["root"] == repo.raw["root"]
    assert store.saved["targets"] == repo.raw["targets"]
