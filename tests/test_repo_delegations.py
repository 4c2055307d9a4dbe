"""Delegated targets roles on the repository side: `repo delegate` (a role per board, nested
roles, hashed bins), `publish` into the role a device's search finds the path in, `--role`,
`repo rotate-delegation`, `repo renew` and `repo status` of delegated roles. Every published
target is found through the delegations by python-tuf's own ngclient (reading the directory, and
over `mpboot serve`'s HTTPS), every refusal leaves the repository byte-identical, and the CLI
answers bad input with one error line."""

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tuf.api.metadata import TargetFile

import appbuilder
from mpboot import keys, serve, tls
from mpboot.cli import main
from mpboot.errors import MpbootError
from mpboot.repo import delegations, maintain, publish as publish_mod, status as status_mod
from mpboot.repo.store import DEVICE_CAPS, Repository
from mpboot_fw import tuf as device_tuf
from repotest import CAFetcher, DirFetcher, key_dir, keyring, make_repo, run_cli as run, tree, updater, write_image

BASE = "http://repo.invalid/"
ROOT = Path(__file__).resolve().parents[1]
# Board name -> chip id, for images of each board.
CHIP = {"esp32-4mb": 0, "esp32c3-4mb": 5, "esp32s3-8mb": 9}


@pytest.fixture
def repo(tmp_path):
    r = make_repo(tmp_path / "repo")
    for name in ("board", "board-2", "team"):
        keys.generate_keypair(tmp_path / ("%s.pem" % name))
    return r


def fresh(repo):
    return Repository(repo.dir)


def delegate(repo, role, paths, key_files, **kw):
    r = fresh(repo)
    return delegations.delegate(r, keyring(r, kw.pop("given", None)), role, paths, key_files, **kw)


def publish(repo, tmp_path, version="1.0.0", board="esp32-4mb", channel="stable", role=None, given=None,
            security_version=1, **kw):
    image = write_image(tmp_path / ("%s-%s-%s-%d.mpb" % (board, channel, version, security_version)),
                        [key_dir(repo.dir) / "targets.pem"], version=version, board=board, chip_id=CHIP[board],
                        security_version=security_version, seed=len(board) * 100 + len(version) + security_version)
    r = fresh(repo)
    return publish_mod.publish(r, keyring(r, given), image, channel, role=role, **kw), image


def client(repo, tmp_path, name="client", again=False):
    """A python-tuf ngclient refreshed from the repository directory, trusting 1.root.json; with
    `again`, continuing from the metadata client `name` stored, as a long-lived client does."""
    root = None if again else (repo.dir / "metadata" / "1.root.json").read_bytes()
    u = updater(tmp_path / name, root, BASE, DirFetcher(repo.dir))
    u.refresh()
    return u


def found(u, path):
    """The target ngclient finds for `path` through the delegations, downloaded and verified."""
    info = u.get_targetinfo(path)
    assert info is not None, path
    return Path(u.download_target(info)).read_bytes()


def role_md(repo, role):
    return fresh(repo).metadata[role].signed


# --- delegate and publish -------------------------------------------------------------------

def test_a_role_per_board_holds_its_boards_targets(repo, tmp_path):
    report = delegate(repo, "esp32-4mb", ["esp32-4mb/*/*"], [tmp_path / "board.pem"])
    assert report["versions"] == {"targets": 2, "esp32-4mb": 1, "snapshot": 2, "timestamp": 2}
    names = sorted(p.name for p in (repo.dir / "metadata").iterdir())
    assert "1.esp32-4mb.json" in names and "2.targets.json" in names
    r = fresh(repo)
    delegated = r.targets.delegations.roles["esp32-4mb"]
    assert (delegated.paths, delegated.threshold, delegated.terminating) == (["esp32-4mb/*/*"], 1, False)
    assert delegated.keyids == [keys.tuf_key(keys.load_public_key(tmp_path / "board.pem")).keyid]
    assert r.snapshot.meta["esp32-4mb.json"].version == 1 and r.snapshot.meta["esp32-4mb.json"].length
    report, image = publish(repo, tmp_path)
    assert report["role"] == "esp32-4mb"
    assert report["versions"] == {"esp32-4mb": 2, "snapshot": 3, "timestamp": 3}  # top-level targets untouched
    other, other_image = publish(repo, tmp_path, board="esp32c3-4mb")
    assert other["role"] == "targets"  # no role for that board: top-level targets, as before
    assert list(role_md(repo, "esp32-4mb").targets) == ["esp32-4mb/stable/1.0.0.mpb"]
    assert list(role_md(repo, "targets").targets) == ["esp32c3-4mb/stable/1.0.0.mpb"]
    u = client(repo, tmp_path)
    assert found(u, "esp32-4mb/stable/1.0.0.mpb") == image.read_bytes()
    assert found(u, "esp32c3-4mb/stable/1.0.0.mpb") == other_image.read_bytes()
    assert status_mod.status(fresh(repo))["problems"] == []


def test_nested_roles_and_the_first_match_of_the_search(repo, tmp_path):
    delegate(repo, "esp32", ["esp32*/*/*"], [tmp_path / "team.pem"])
    delegate(repo, "esp32-4mb-beta", ["esp32-4mb/beta/*"], [tmp_path / "board.pem"], parent="esp32")
    assert fresh(repo).metadata["esp32"].signed.version == 2  # the delegating role got a new version
    beta, _ = publish(repo, tmp_path, channel="beta")
    stable, _ = publish(repo, tmp_path, channel="stable")
    s3, _ = publish(repo, tmp_path, board="esp32s3-8mb")
    assert (beta["role"], stable["role"], s3["role"]) == ("esp32-4mb-beta", "esp32", "esp32")
    # --role: any role the device's search reaches for the path, and no other.
    explicit, _ = publish(repo, tmp_path, version="1.1.0", channel="beta", role="esp32")
    assert explicit["role"] == "esp32"
    before = tree(repo.dir)
    with pytest.raises(MpbootError, match=r"^esp32-4mb-beta is not delegated esp32-4mb/stable/1\.1\.0\.mpb: a device "
                                          r"looking for it visits targets, esp32 and never esp32-4mb-beta"):
        publish(repo, tmp_path, version="1.1.0", role="esp32-4mb-beta")
    with pytest.raises(MpbootError, match="--role nope: no such targets role"):
        publish(repo, tmp_path, version="1.1.0", role="nope")
    with pytest.raises(MpbootError, match="--role snapshot: no such targets role"):
        publish(repo, tmp_path, version="1.1.0", role="snapshot")
    assert tree(repo.dir) == before
    u = client(repo, tmp_path)
    for path in ("esp32-4mb/beta/1.0.0.mpb", "esp32-4mb/beta/1.1.0.mpb", "esp32-4mb/stable/1.0.0.mpb",
                 "esp32s3-8mb/stable/1.0.0.mpb"):
        found(u, path)
    assert status_mod.status(fresh(repo))["problems"] == []


def test_a_terminating_delegation_hides_later_roles(repo, tmp_path):
    delegate(repo, "esp32-4mb", ["esp32-4mb/*/*"], [tmp_path / "board.pem"], terminating=True)
    delegate(repo, "late", ["*/*/*"], [tmp_path / "team.pem"])
    before = tree(repo.dir)
    with pytest.raises(MpbootError, match="late is not delegated esp32-4mb/stable/1.0.0.mpb: a device looking for it "
                                          "visits targets, esp32-4mb and never late"):
        publish(repo, tmp_path, role="late")
    assert tree(repo.dir) == before
    assert publish(repo, tmp_path)[0]["role"] == "esp32-4mb"
    assert publish(repo, tmp_path, board="esp32c3-4mb", role="late")[0]["role"] == "late"
    u = client(repo, tmp_path)
    found(u, "esp32-4mb/stable/1.0.0.mpb")
    found(u, "esp32c3-4mb/stable/1.0.0.mpb")


def test_status_names_a_target_no_device_finds(repo, tmp_path):
    """A role that lists a path outside its delegation (made here by hand with python-tuf, signed
    with the role's key): ngclient does not find it, and status says so."""
    delegate(repo, "esp32-4mb", ["esp32-4mb/*/*"], [tmp_path / "board.pem"])
    publish(repo, tmp_path, board="esp32c3-4mb", role="targets")
    r = fresh(repo)
    change = r.change(keyring(r))
    target = r.targets.targets["esp32c3-4mb/stable/1.0.0.mpb"]
    change.edit("esp32-4mb").targets["esp32c3-4mb/stable/1.0.0.mpb"] = target
    del change.edit("targets").targets["esp32c3-4mb/stable/1.0.0.mpb"]
    change.commit()
    problems = status_mod.status(fresh(repo))["problems"]
    assert problems == ["target esp32c3-4mb/stable/1.0.0.mpb: listed by esp32-4mb, but a device's search never reaches "
                        "it, so no device installs it from there (publish it again without --role)"]
    assert client(repo, tmp_path).get_targetinfo("esp32c3-4mb/stable/1.0.0.mpb") is None


def test_channel_checks_and_keep_span_every_role(repo, tmp_path):
    publish(repo, tmp_path, version="1.0.0")  # in top-level targets: there was no role yet
    delegate(repo, "esp32-4mb", ["esp32-4mb/*/*"], [tmp_path / "board.pem"])
    before = tree(repo.dir)
    with pytest.raises(MpbootError, match="version 0.9.0 is not newer than 1.0.0, already on esp32-4mb/stable"):
        publish(repo, tmp_path, version="0.9.0")
    with pytest.raises(MpbootError, match="security version 0 is below 1"):
        publish(repo, tmp_path, version="1.5.0", security_version=0)
    with pytest.raises(MpbootError, match="already published with different content"):
        publish(repo, tmp_path, version="1.0.0", board="esp32-4mb", security_version=2)
    assert tree(repo.dir) == before
    publish(repo, tmp_path, version="2.0.0")
    report, _ = publish(repo, tmp_path, version="3.0.0", keep=1)
    assert report["removed"] == ["esp32-4mb/stable/2.0.0.mpb", "esp32-4mb/stable/1.0.0.mpb"]
    assert set(report["versions"]) == {"targets", "esp32-4mb", "snapshot", "timestamp"}
    r = fresh(repo)
    assert list(r.listed_targets()) == ["esp32-4mb/stable/3.0.0.mpb"]
    # prune works over every role too
    publish(repo, tmp_path, version="4.0.0")
    r = fresh(repo)
    assert publish_mod.prune(r, keyring(r), 1)["removed"] == ["esp32-4mb/stable/3.0.0.mpb"]


def test_hashed_bins_split_a_role_by_path_hash(repo, tmp_path):
    report = delegate(repo, "bins", ["*/*/*"], [tmp_path / "team.pem", tmp_path / "board.pem"], threshold=2, bins=16)
    assert report["bins"] == ["bins-%x" % n for n in range(16)]
    bins_md = role_md(repo, "bins")
    assert [d.path_hash_prefixes for d in bins_md.delegations.roles.values()] == [["%x" % n] for n in range(16)]
    assert all(d.threshold == 2 and len(d.keyids) == 2 for d in bins_md.delegations.roles.values())
    assert delegations.hashed_bins("b", 32)[:2] == [("b-00-07", ["%02x" % n for n in range(8)]),
                                                    ("b-08-0f", ["%02x" % n for n in range(8, 16)])]
    assert delegations.hashed_bins("b", 1024)[0] == ("b-000-003", ["000", "001", "002", "003"])
    images = {}
    for board in CHIP:
        for version in ("1.0.0", "1.1.0", "2.0.0"):
            report, image = publish(repo, tmp_path, version=version, board=board)
            path = report["target"]
            assert report["role"] == "bins-" + hashlib.sha256(path.encode()).hexdigest()[0]
            images[path] = image.read_bytes()
    u = client(repo, tmp_path)
    for path, data in images.items():
        assert found(u, path) == data
    assert status_mod.status(fresh(repo))["problems"] == []


def test_too_many_bins_for_the_devices_snapshot_cap_is_refused(repo, tmp_path):
    before = tree(repo.dir)
    with pytest.raises(MpbootError, match=r"^bins metadata would be \d+ bytes, more than the 12288 devices accept: it "
                                          r"delegates to too many roles \(use fewer --hashed-bins\)$"):
        delegate(repo, "bins", ["*/*/*"], [tmp_path / "team.pem"], bins=128)
    with pytest.raises(MpbootError, match=r"^snapshot metadata would be \d+ bytes, more than the 8192 devices accept: it "
                                          r"lists every delegated role, so use fewer roles \(fewer --hashed-bins\)$"):
        delegate(repo, "bins", ["*/*/*"], [tmp_path / "team.pem"], bins=64)
    assert tree(repo.dir) == before
    delegate(repo, "bins", ["*/*/*"], [tmp_path / "team.pem"], bins=32)  # the most that fits


def test_a_role_over_the_device_cap_is_refused_naming_the_fix(repo, tmp_path):
    delegate(repo, "esp32-4mb", ["esp32-4mb/*/*"], [tmp_path / "board.pem"])
    published = 0
    with pytest.raises(MpbootError) as e:
        for n in range(60):
            publish(repo, tmp_path, version="1.0.%d" % n)
            published += 1
            before = tree(repo.dir)
    assert 25 < published < 40
    assert re.match(r"^esp32-4mb metadata would be \d+ bytes, more than the %d devices accept: give its boards or "
                    r"channels roles of their own \(`mpboot repo delegate DIR ROLE --paths BOARD/\*/\*`\) or drop old "
                    r"versions" % device_tuf.TARGETS_MAX, str(e.value)), str(e.value)
    assert tree(repo.dir) == before
    assert len(fresh(repo).raw["esp32-4mb"]) <= device_tuf.TARGETS_MAX
    report, _ = publish(repo, tmp_path, version="1.0.%d" % published, keep=10)
    assert report["changed"] and len(fresh(repo).listed_targets()) == 10


# --- refusals -------------------------------------------------------------------------------

@pytest.mark.parametrize("role, paths, keys_, kw, message", [
    ("Board", ["esp32-4mb/*/*"], ["board"], {}, "role name 'Board': use 1-48 lower-case letters"),
    ("../x", ["esp32-4mb/*/*"], ["board"], {}, "role name '../x'"),
    ("a.b", ["esp32-4mb/*/*"], ["board"], {}, "role name 'a.b'"),
    ("", ["esp32-4mb/*/*"], ["board"], {}, "role name ''"),
    ("x" * 49, ["esp32-4mb/*/*"], ["board"], {}, "role name"),
    ("snapshot", ["esp32-4mb/*/*"], ["board"], {}, "snapshot is a top-level role"),
    ("targets", ["esp32-4mb/*/*"], ["board"], {}, "targets is a top-level role"),
    ("old", ["esp32-4mb/*/*"], ["board"], {}, "the repository already has a role old"),
    ("b", ["esp32-4mb/*/*"], ["board"], {"bins": 4, "parent": "old"}, "the repository already has a role b-0-3"),
    ("b", [], ["board"], {}, "give the paths the role is trusted for"),
    ("b", [""], ["board"], {}, "a pattern is relative"),
    ("b", ["/esp32-4mb/*/*"], ["board"], {}, "a pattern is relative"),
    ("b", ["esp32-4mb/../*"], ["board"], {}, "a pattern is relative"),
    ("b", ["esp32-4mb//*"], ["board"], {}, "a pattern is relative"),
    ("b", ["esp32-4mb/*"], ["board"], {}, "has 2 part\\(s\\): target paths are BOARD/CHANNEL/VERSION.mpb"),
    ("b", ["esp32 4mb/*/*"], ["board"], {}, "printable ASCII without spaces"),
    ("b", ["a/*/*", "a/*/*"], ["board"], {}, "names a pattern twice"),
    ("b", ["esp32-4mb/*/*"], [], {}, "give the role's keys"),
    ("b", ["esp32-4mb/*/*"], ["board", "board"], {}, "names key [0-9a-f]{16} a second time"),
    ("b", ["esp32-4mb/*/*"], ["board"], {"threshold": 2}, "--threshold 2 with 1 key"),
    ("b", ["esp32-4mb/*/*"], ["board"], {"threshold": 0}, "--threshold 0 with 1 key"),
    ("b", ["esp32-4mb/*/*"], ["TOP:targets"], {}, "is a targets key: a delegated role needs keys of its own"),
    ("b", ["esp32-4mb/*/*"], ["TOP:timestamp"], {}, "is a timestamp key"),
    ("b", ["esp32-4mb/*/*"], ["TOP:root"], {}, "is a root key"),
    ("b", ["esp32-4mb/*/*"], ["board"], {"parent": "nope"}, "--from nope: no such targets role"),
    ("b", ["esp32-4mb/*/*"], ["board"], {"parent": "snapshot"}, "--from snapshot: no such targets role"),
    ("b", ["esp32-4mb/*/*"], ["board"], {"bins": 3}, "--hashed-bins 3: use a power of 2 from 2 to 1024"),
    ("b", ["esp32-4mb/*/*"], ["board"], {"bins": 2048}, "--hashed-bins 2048"),
    ("b", ["esp32-4mb/*/*"], ["lonely.pem.pub"], {}, "signing b needs 1 key\\(s\\) of the role, 0 at hand: pass "
                                                     "--delegated-key b=FILE"),
])
def test_delegate_refusals_leave_the_repository_unchanged(repo, tmp_path, role, paths, keys_, kw, message):
    delegate(repo, "old", ["old/*/*"], [tmp_path / "team.pem"])
    (tmp_path / "lonely.pem.pub").write_bytes((tmp_path / "board.pem.pub").read_bytes())
    if "b-0-3" in message:
        delegate(repo, "b-0-3", ["x/*/*"], [tmp_path / "team.pem"])
    files = [key_dir(repo.dir) / ("%s.pem" % k[4:]) if k.startswith("TOP:") else tmp_path / (k if "." in k else k + ".pem")
             for k in keys_]
    before = tree(repo.dir)
    with pytest.raises(MpbootError, match=message):
        delegate(repo, role, paths, files, **kw)
    assert tree(repo.dir) == before


def test_a_missing_parent_key_is_named_and_nothing_is_written(repo, tmp_path):
    (key_dir(repo.dir) / "targets.pem").rename(tmp_path / "offline-targets.pem")
    before = tree(repo.dir)
    with pytest.raises(MpbootError, match="signing targets needs 1 key\\(s\\) of the role, 0 at hand: pass --targets-key"):
        delegate(repo, "esp32-4mb", ["esp32-4mb/*/*"], [tmp_path / "board.pem"])
    assert tree(repo.dir) == before
    delegate(repo, "esp32-4mb", ["esp32-4mb/*/*"], [tmp_path / "board.pem"],
             given={"targets": [tmp_path / "offline-targets.pem"]})


# --- the delegated role's own offline keys --------------------------------------------------

def test_publishing_with_the_role_key_offline(repo, tmp_path):
    delegate(repo, "esp32-4mb", ["esp32-4mb/*/*"], [tmp_path / "board.pem"])
    settings = json.loads((repo.dir / "mpboot-repo.json").read_text())
    assert list(settings["keys"]["esp32-4mb"].values()) == [os.path.relpath(tmp_path / "board.pem", repo.dir)]
    (tmp_path / "board.pem").rename(tmp_path / "usb.pem")
    (repo.dir / "img").mkdir()
    before = tree(repo.dir)
    with pytest.raises(MpbootError, match="signing esp32-4mb needs 1 key\\(s\\) of the role, 0 at hand: pass "
                                          "--delegated-key esp32-4mb=FILE"):
        publish(repo, tmp_path)
    with pytest.raises(MpbootError, match="is not a esp32-4mb key of this repository"):
        publish(repo, tmp_path, given={"esp32-4mb": [tmp_path / "team.pem"]})
    assert tree(repo.dir) == before
    report, image = publish(repo, tmp_path, given={"esp32-4mb": [tmp_path / "usb.pem"]})
    assert report["role"] == "esp32-4mb"
    assert found(client(repo, tmp_path), report["target"]) == image.read_bytes()


def test_rotate_delegation_replaces_and_revokes_keys(repo, tmp_path):
    delegate(repo, "esp32-4mb", ["esp32-4mb/*/*"], [tmp_path / "board.pem"])
    publish(repo, tmp_path)
    client(repo, tmp_path)  # a long-lived client that knows the old keys
    old = keys.tuf_key(keys.load_public_key(tmp_path / "board.pem")).keyid
    new = keys.tuf_key(keys.load_public_key(tmp_path / "board-2.pem")).keyid
    r = fresh(repo)
    report = delegations.rotate_delegation(r, keyring(r), "esp32-4mb", add=[tmp_path / "board-2.pem"], remove=[old[:12]])
    assert (report["added"], report["removed"], report["keyids"], report["parent"]) == ([new], [old], [new], "targets")
    assert report["versions"] == {"targets": 3, "esp32-4mb": 3, "snapshot": 4, "timestamp": 4}
    r = fresh(repo)
    md = r.metadata["esp32-4mb"]
    assert [s.keyid for s in md.signatures.values()] == [new]  # re-signed by the new key only, right away
    assert old not in r.targets.delegations.keys
    assert list(json.loads((repo.dir / "mpboot-repo.json").read_text())["keys"]["esp32-4mb"]) == [new]
    found(client(repo, tmp_path, again=True), "esp32-4mb/stable/1.0.0.mpb")
    assert publish(repo, tmp_path, version="1.1.0")[0]["role"] == "esp32-4mb"
    found(client(repo, tmp_path, "client-2"), "esp32-4mb/stable/1.1.0.mpb")
    before = tree(repo.dir)
    for kw, message in (({}, "nothing to rotate"),
                        ({"threshold": 2}, "esp32-4mb would have threshold 2 with 1 key"),
                        ({"remove": [new]}, "esp32-4mb would have threshold 1 with 0 key"),
                        ({"add": [tmp_path / "board-2.pem"]}, "already a esp32-4mb key"),
                        ({"add": [key_dir(repo.dir) / "snapshot.pem"]}, "is a snapshot key"),
                        ({"remove": ["0123456789abcdef"]}, "--remove-key 0123456789abcdef: not a esp32-4mb key")):
        r = fresh(repo)
        with pytest.raises(MpbootError, match=message):
            delegations.rotate_delegation(r, keyring(r), "esp32-4mb", **kw)
    with pytest.raises(MpbootError, match="targets is not a delegated role"):
        delegations.rotate_delegation(fresh(repo), keyring(r), "targets", threshold=1)
    assert tree(repo.dir) == before


def test_rotating_a_binned_role_rotates_its_bins(repo, tmp_path):
    delegate(repo, "bins", ["*/*/*"], [tmp_path / "team.pem"], bins=4)
    publish(repo, tmp_path)
    r = fresh(repo)
    report = delegations.rotate_delegation(r, keyring(r), "bins", add=[tmp_path / "board.pem"], threshold=2)
    assert report["bins"] == ["bins-0-3", "bins-4-7", "bins-8-b", "bins-c-f"]
    r = fresh(repo)
    for name in report["bins"]:
        assert r.metadata["bins"].signed.delegations.roles[name].threshold == 2
        assert len(r.metadata[name].signatures) == 2
    found(client(repo, tmp_path), "esp32-4mb/stable/1.0.0.mpb")
    assert status_mod.status(r)["problems"] == []


def test_renew_and_the_cron_job_know_delegated_roles(repo, tmp_path):
    delegate(repo, "esp32-4mb", ["esp32-4mb/*/*"], [tmp_path / "board.pem"])
    r = fresh(repo)
    report = maintain.renew(r, keyring(r), "esp32-4mb", lifetime=3600)
    assert report["versions"] == {"esp32-4mb": 2, "snapshot": 3, "timestamp": 3}
    r = fresh(repo)
    notes = maintain.refresh_timestamp(r, keyring(r))["notes"]
    # 1h00m, or 0h59m when the clock (whole seconds) ticked between the renew and this run
    assert any(n.startswith(("WARNING: esp32-4mb expires in 1h00m", "WARNING: esp32-4mb expires in 0h59m"))
               for n in notes), notes
    assert any("esp32-4mb expires in" in w for w in status_mod.status(fresh(repo))["warnings"])
    with pytest.raises(MpbootError, match="--role mirror: no such role \\(the repository has root, targets, snapshot, "
                                          "timestamp, esp32-4mb\\)"):
        maintain.renew(fresh(repo), keyring(r), "mirror")


# --- ngclient over HTTPS, status, the CLI ----------------------------------------------------

def test_ngclient_over_https_fetches_only_the_roles_on_the_path(repo, tmp_path):
    for board in ("esp32-4mb", "esp32c3-4mb", "esp32s3-8mb"):
        delegate(repo, board, ["%s/*/*" % board], [tmp_path / "board.pem"])
        publish(repo, tmp_path, board=board)
    dev = tls.ensure_dev_tls(tmp_path / "tls")
    lines = []
    with serve.start_server(repo.dir, ssl_context=tls.server_context(dev), timeout=20, log=lines.append) as server:
        u = updater(tmp_path / "https-client", (repo.dir / "metadata" / "1.root.json").read_bytes(),
                    "https://localhost:%d/" % server.port, CAFetcher(dev.ca_cert))
        u.refresh()
        info = u.get_targetinfo("esp32c3-4mb/stable/1.0.0.mpb")
        u.download_target(info)
    requested = [line.split()[3] for line in lines]
    assert [p for p in requested if p.startswith("/metadata/") and not re.search(r"/\d+\.(root|snapshot)\.json$|timestamp", p)] == [
        "/metadata/4.targets.json", "/metadata/2.esp32c3-4mb.json"]


def test_status_shows_the_delegation_tree(repo, tmp_path, capsys):
    delegate(repo, "esp32", ["esp32*/*/*"], [tmp_path / "team.pem"])
    delegate(repo, "esp32-4mb", ["esp32-4mb/*/*"], [tmp_path / "board.pem"], parent="esp32", terminating=True)
    delegate(repo, "bins", ["*/*/*"], [tmp_path / "team.pem"], bins=2)
    publish(repo, tmp_path)
    code, out, err = run(capsys, "repo", "status", repo.dir, "--json")
    assert (code, err) == (0, "")
    report = json.loads(out)
    rows = [(d["role"], d["parent"], d["depth"], d["paths"], d["path_hash_prefixes"], d["terminating"], d["threshold"],
             d["version"], d["targets"]) for d in report["delegations"]]
    assert rows == [
        ("esp32", "targets", 1, ["esp32*/*/*"], None, False, 1, 2, 0),
        ("esp32-4mb", "esp32", 2, ["esp32-4mb/*/*"], None, True, 1, 2, 1),
        ("bins", "targets", 1, ["*/*/*"], None, False, 1, 1, 0),
        ("bins-0-7", "bins", 2, None, ["%x" % n for n in range(8)], False, 1, 1, 0),
        ("bins-8-f", "bins", 2, None, ["%x" % n for n in range(8, 16)], False, 1, 1, 0),
    ]
    d = report["delegations"][1]
    assert d["keyids"] == [keys.tuf_key(keys.load_public_key(tmp_path / "board.pem")).keyid]
    assert d["expires_in"] in ("90d00h", "89d23h") and d["key_files_here"] == 1  # 90 days, less the seconds the test took
    assert report["targets"][0]["role"] == "esp32-4mb"
    code, out, err = run(capsys, "repo", "status", repo.dir)
    assert code == 0
    assert "delegations (search order):" in out
    assert re.search(r"^    esp32-4mb +2 +\S+ +(90d00h|89d23h) +1 of 1 +1 +esp32-4mb/\*/\* \(terminating\)$", out, re.M), out
    assert re.search(r"^    bins-0-7 +1 .* hash prefixes 0,1,2,3,4,5,6,7$", out, re.M), out
    assert re.search(r"^  esp32-4mb/stable/1.0.0.mpb .* in esp32-4mb$", out, re.M), out


def test_cli_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "repo", "init", "repo")[0] == 0
    assert run(capsys, "keygen", "board.pem")[0] == 0
    code, out, err = run(capsys, "repo", "delegate", "repo", "esp32-4mb", "--paths", "esp32-4mb/*/*", "--key", "board.pem")
    assert (code, err) == (0, "")
    assert out.startswith("delegated esp32-4mb/*/* from targets to esp32-4mb (threshold 1 of 1 keys)\n")
    (tmp_path / "app.bin").write_bytes(appbuilder.build(version="1.0.0"))
    assert run(capsys, "sign", "--key", "repo-keys/targets.pem", "--version", "1.0.0", "--security-version", "1",
               "--board", "esp32-4mb", "app.bin", "-o", "app.mpb")[0] == 0
    os.rename("board.pem", "usb.pem")
    code, out, err = run(capsys, "publish", "repo", "app.mpb", "--channel", "stable", "--role", "esp32-4mb",
                         "--delegated-key", "esp32-4mb=usb.pem", "--json")
    assert code == 0, err
    assert json.loads(out)["role"] == "esp32-4mb"
    assert run(capsys, "keygen", "board-2.pem")[0] == 0
    code, out, err = run(capsys, "repo", "rotate-delegation", "repo", "esp32-4mb", "--add-key", "board-2.pem",
                         "--remove-key", "usb.pem", "--delegated-key", "esp32-4mb=usb.pem")
    assert code == 0, err
    assert out.startswith("esp32-4mb now: threshold 1, keys ")
    code, out, err = run(capsys, "repo", "renew", "repo", "--role", "esp32-4mb", "--delegated-key", "esp32-4mb=board-2.pem")
    assert code == 0, err
    assert out.startswith("esp32-4mb renewed: version 4")
    assert run(capsys, "repo", "status", "repo")[0] == 0
    u = updater(tmp_path / "client", Path("repo/metadata/1.root.json").read_bytes(), BASE, DirFetcher(tmp_path / "repo"))
    u.refresh()
    assert found(u, "esp32-4mb/stable/1.0.0.mpb") == Path("app.mpb").read_bytes()


@pytest.mark.parametrize("argv", [
    "repo delegate repo Bad --paths a/*/* --key board.pem",
    "repo delegate repo b --paths a/* --key board.pem",
    "repo delegate repo b --paths a/*/* --key nope.pem",
    "repo delegate repo b --paths a/*/* --key garbage.pem",
    "repo delegate repo b --paths a/*/* --key board.pem --threshold 3",
    "repo delegate repo b --paths a/*/* --key board.pem --hashed-bins 12",
    "repo delegate repo b --paths a/*/* --key board.pem --hashed-bins x",
    "repo delegate repo b --paths a/*/* --key board.pem --from nope",
    "repo delegate repo b --paths a/*/* --key board.pem --delegated-key b",
    "repo delegate repo b --paths a/*/* --key repo-keys/targets.pem",
    "repo delegate repo b --paths",
    "repo delegate nope b --paths a/*/* --key board.pem",
    "repo rotate-delegation repo nope --threshold 1",
    "repo rotate-delegation repo targets --threshold 1",
    "publish repo app.mpb --channel stable --role nope",
    "publish repo app.mpb --channel stable --delegated-key =x",
    "repo renew repo --role nope",
])
def test_cli_bad_input_is_one_error_line(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "repo", "init", "repo")[0] == 0
    assert run(capsys, "keygen", "board.pem")[0] == 0
    Path("garbage.pem").write_text("-----BEGIN nonsense")
    (tmp_path / "app.bin").write_bytes(appbuilder.build(version="1.0.0"))
    assert run(capsys, "sign", "--key", "repo-keys/targets.pem", "--version", "1.0.0", "--security-version", "1",
               "--board", "esp32-4mb", "app.bin", "-o", "app.mpb")[0] == 0
    before = tree(tmp_path / "repo")
    capsys.readouterr()
    try:
        code = main(argv.split())
    except SystemExit as e:  # argparse's own errors
        code = e.code
    out, err = capsys.readouterr()
    assert code in (1, 2), (code, out, err)
    assert "Traceback" not in err
    if code == 1:
        assert err.startswith("mpboot: error: ") and err.count("\n") == 1, err
    assert tree(tmp_path / "repo") == before


# --- docs/repository.md's Delegations section runs as written --------------------------------

def _delegation_blocks():
    text = (ROOT / "docs" / "repository.md").read_text()
    section = text.split("\n## Delegations\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```sh\n(.*?)^```", section, re.S | re.M)


def test_the_delegations_section_runs_as_written(tmp_path):
    """Every sh block of the section, in order, in one `bash -e` in a fresh directory with the venv's
    mpboot first on PATH; firmware.bin and c3-firmware.bin (the section's inputs) are ESP-IDF apps
    the tests build."""
    blocks = _delegation_blocks()
    assert len(blocks) >= 3
    (tmp_path / "firmware.bin").write_bytes(appbuilder.build(version="1.0.0"))
    (tmp_path / "c3-firmware.bin").write_bytes(appbuilder.build(version="2.0.0", chip_id=CHIP["esp32c3-4mb"]))
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    proc = subprocess.run(["bash", "-e", "-c", "\n".join(blocks)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    repo = Repository(tmp_path / "repo")
    assert status_mod.status(repo)["problems"] == []
    u = updater(tmp_path / "client", (tmp_path / "repo/metadata/1.root.json").read_bytes(), BASE, DirFetcher(repo.dir))
    u.refresh()
    roles = {path: role for path, (role, _) in repo.listed_targets().items()}
    c3 = "esp32c3-4mb/stable/2.0.0.mpb"
    assert roles == {"esp32-4mb/stable/1.0.0.mpb": "esp32-4mb", "esp32-4mb/stable/1.0.1.mpb": "esp32-4mb",
                     "esp32-4mb/beta/1.1.0-rc.1.mpb": "esp32-4mb-beta", c3: "bins-" + hashlib.sha256(c3.encode()).hexdigest()[0]}
    for path in roles:
        found(u, path)
    assert json.loads((tmp_path / "status.json").read_text())["problems"] == []


# --- keys of both types, in files or in a PKCS#11 token ---------------------------------------

def test_a_delegated_role_signed_inside_a_token(tmp_path, capsys, monkeypatch):
    """The role's key is made in a real SoftHSM2 token and never leaves it: `repo delegate --key
    pkcs11:...` signs version 1 there, the repository remembers the URI (never a PIN), publish
    signs with it without options, and ngclient finds the target through the role."""
    from hsmtoken import make_token

    token = make_token(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    uri = token.uri("esp32-4mb-role")
    assert run(capsys, "keygen", uri, "--type", "ecdsa")[0] == 0
    assert run(capsys, "repo", "init", "repo")[0] == 0
    code, out, err = run(capsys, "repo", "delegate", "repo", "esp32-4mb", "--paths", "esp32-4mb/*/*",
                         "--key", uri + "?pin-value=" + token.pin)
    assert (code, err) == (0, ""), err
    remembered = json.loads(Path("repo/mpboot-repo.json").read_text())["keys"]["esp32-4mb"]
    assert list(remembered.values()) == [uri]  # the PIN given in the URI is not written down
    delegated = Repository(tmp_path / "repo").targets.delegations
    assert [delegated.keys[k].scheme for k in delegated.roles["esp32-4mb"].keyids] == ["ecdsa-sha2-nistp256"]
    repo = Repository(tmp_path / "repo")
    report, image = publish(repo, tmp_path)
    assert report["role"] == "esp32-4mb"
    assert found(client(repo, tmp_path), report["target"]) == image.read_bytes()


def test_a_p256_key_file_signs_a_delegated_role(repo, tmp_path):
    keys.generate_keypair(tmp_path / "p256.pem", key_type="ecdsa")
    delegate(repo, "esp32-4mb", ["esp32-4mb/*/*"], [tmp_path / "p256.pem"])
    report, image = publish(repo, tmp_path)
    md = fresh(repo).metadata["esp32-4mb"]
    assert [fresh(repo).targets.delegations.keys[s.keyid].scheme for s in md.signatures.values()] == ["ecdsa-sha2-nistp256"]
    assert found(client(repo, tmp_path), report["target"]) == image.read_bytes()


def test_only_an_ecdsa_keys_pem_may_hold_a_newline(tmp_path):
    """The file escapes the PEM's newlines (canonical JSON does not): allowed for key values, and
    for nothing else, so a name is still refused when the bytes would not be canonical."""
    from tuf.api.metadata import DelegatedRole, Delegations, Metadata, Targets, TargetFile

    from mpboot.repo import layout

    keys.generate_keypair(tmp_path / "p256.pem", key_type="ecdsa")
    key = keys.tuf_key(keys.load_public_key(tmp_path / "p256.pem"))
    assert "\n" in key.keyval["public"]
    md = Metadata(Targets(version=1))
    md.signed.delegations = Delegations(keys={key.keyid: key}, roles={
        "b": DelegatedRole("b", [key.keyid], 1, False, paths=["b/*/*"])})
    data = layout.encode(md)
    assert Metadata.from_bytes(data).signed.delegations.keys[key.keyid] == key
    md.signed.targets["b/x\ny/1.mpb"] = TargetFile(1, {"sha256": "00" * 32}, "b/x\ny/1.mpb")
    with pytest.raises(MpbootError, match="targets metadata would not be canonical JSON as written"):
        layout.encode(md)


def test_a_thousand_targets_over_twenty_boards_stay_small_per_lookup(tmp_path):
    """A role per board and channel (40 roles of 25 targets, 1,000 in all, for 20 boards): every
    file stays under the device's caps, and ngclient looking up one board's target fetches
    timestamp, snapshot, targets and that one role. The targets are added through the store's
    Change (as publish adds them) with entries shaped like publish's, since mpboot has three real
    boards and 1,000 signed images would only slow the test down."""
    repo = make_repo(tmp_path / "repo")
    keys.generate_keypair(tmp_path / "k.pem")
    roles = ["board%02d-%s" % (b, ch) for b in range(20) for ch in ("stable", "beta")]
    for role in roles:
        delegate(repo, role, ["%s/%s/*" % tuple(role.split("-"))], [tmp_path / "k.pem"])
    r = fresh(repo)
    change = r.change(keyring(r))
    for role in roles:
        board, channel = role.split("-")
        for n in range(25):
            path = "%s/%s/1.%d.0.mpb" % (board, channel, n)
            target = TargetFile(1500000 + n, {"sha256": hashlib.sha256(path.encode()).hexdigest()}, path)
            target.unrecognized_fields["custom"] = {
                "board": board, "chip_id": 0, "channel": channel, "version": "1.%d.0" % n, "security_version": 1,
                "payload_len": 1400000, "payload_sha256": hashlib.sha256(b"app" + path.encode()).hexdigest(),
                "created": 1767225600}
            change.edit(role).targets[path] = target
    change.commit()
    r = fresh(repo)
    assert len(r.listed_targets()) == 1000
    fetcher = DirFetcher(repo.dir)
    u = updater(tmp_path / "client", (repo.dir / "metadata" / "1.root.json").read_bytes(), BASE, fetcher)
    u.refresh()
    assert u.get_targetinfo("board07/stable/1.24.0.mpb").custom["board"] == "board07"
    assert fetcher.fetched[1:] == ["metadata/timestamp.json", "metadata/%d.snapshot.json" % r.snapshot.version,
                                   "metadata/%d.targets.json" % r.targets.version,
                                   "metadata/%d.board07-stable.json" % r.metadata["board07-stable"].signed.version]
    sizes = {role: len(r.raw[role]) for role in ("timestamp", "snapshot", "targets", "board07-stable")}
    caps = dict(DEVICE_CAPS, **{"board07-stable": device_tuf.TARGETS_MAX})
    assert all(sizes[role] <= caps[role] for role in sizes), sizes
    # The figure docs/repository.md gives: about 23 KB of metadata per lookup (measured 22,899).
    assert 20000 < sum(sizes.values()) < 26000, sizes




@pytest.mark.parametrize("fail_at", range(6))
def test_delegate_interrupted_at_any_write_leaves_clients_on_the_old_state(repo, tmp_path, monkeypatch, fail_at):
    """A disk that fills up at each of a delegation's writes (the bins, their role, targets,
    snapshot, timestamp, in that order): the repository stays what it was for clients and for
    status, and running the command again completes it."""
    from mpboot.repo import store

    publish(repo, tmp_path)
    old_timestamp = (repo.dir / "metadata" / "timestamp.json").read_bytes()
    real = store.atomic_write
    calls = []

    def failing(path, data, **kw):
        calls.append(path.name)
        if len(calls) > fail_at:
            raise OSError(28, "No space left on device")
        real(path, data, **kw)

    monkeypatch.setattr(store, "atomic_write", failing)
    with pytest.raises(OSError):
        delegate(repo, "bins", ["*/*/*"], [tmp_path / "team.pem"], bins=2)
    monkeypatch.setattr(store, "atomic_write", real)
    assert calls[:fail_at] == ["1.bins.json", "1.bins-0-7.json", "1.bins-8-f.json", "3.targets.json",
                               "3.snapshot.json"][:fail_at]
    assert (repo.dir / "metadata" / "timestamp.json").read_bytes() == old_timestamp
    after = fresh(repo)
    assert after.targets_roles == ["targets"] and status_mod.status(after)["problems"] == []
    found(client(repo, tmp_path, "c%d" % fail_at), "esp32-4mb/stable/1.0.0.mpb")
    delegate(repo, "bins", ["*/*/*"], [tmp_path / "team.pem"], bins=2)
    assert publish(repo, tmp_path, version="1.1.0")[0]["role"].startswith("bins-")
    found(client(repo, tmp_path, "c%d" % fail_at, again=True), "esp32-4mb/stable/1.1.0.mpb")


def test_a_targets_key_rotation_sees_the_images_delegated_roles_list(repo, tmp_path):
    """The images are signed by the targets keys whatever role lists them: removing the key that
    signed an image only a delegated role lists would strand the devices running it."""
    delegate(repo, "esp32-4mb", ["esp32-4mb/*/*"], [tmp_path / "board.pem"])
    publish(repo, tmp_path)
    keys.generate_keypair(tmp_path / "targets-2.pem")
    r = fresh(repo)
    before = tree(repo.dir)
    with pytest.raises(MpbootError, match="devices would be stranded: esp32-4mb/stable/1.0.0.mpb is signed by fewer"):
        maintain.rotate(r, keyring(r), "targets", add=[tmp_path / "targets-2.pem"], remove=[r.root.roles["targets"].keyids[0]])
    assert tree(repo.dir) == before


def test_the_search_visits_top_level_targets_and_32_delegated_roles_as_ngclient_does():
    # A chain targets -> r1 -> ... -> r40, each delegating "a/*/*" onwards: ngclient's walk
    # (max_delegations 32) reaches r32 and no further, and so must publish's placement.
    from tuf.api.metadata import DelegatedRole, Delegations, Metadata, Targets
    from tuf.ngclient.config import UpdaterConfig

    names = ["targets"] + ["r%d" % i for i in range(1, 41)]
    metadata = {}
    for name, child in zip(names, names[1:] + [None]):
        targets = Targets()
        if child is not None:
            targets.delegations = Delegations(keys={}, roles={child: DelegatedRole(child, [], 1, False, paths=["a/*/*"])})
        metadata[name] = Metadata(targets)
    assert UpdaterConfig().max_delegations == delegations.MAX_DELEGATIONS
    assert list(delegations.visits(metadata, "a/b/c")) == names[:1 + delegations.MAX_DELEGATIONS]
