"""Bundles in the update repository: `mpboot publish` of a .mpbundle (its manifest as a TUF target,
its files content-addressed in files/sha256/), its refusals, --keep and prune per bundle, a
targets-key rotation that would strand a bundle, `repo status`, and `mpboot serve` of files/.
Every published state is read back by python-tuf's own ngclient."""

import hashlib
import http.client
import json
import shutil

import pytest

from mpboot import keys, serve
from mpboot.errors import MpbootError
from mpboot.repo import delegations, layout, maintain, publish as publish_mod, status as status_mod, store
from mpboot.repo.store import Repository
from mpboot_fw import bundle as fmt, trust
from repotest import BUNDLE_FILES as FILES, DirFetcher, key_dir, keyring, make_bundle, make_repo, run_cli, tree, updater, write_image

BASE = "http://repo.invalid/"


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path / "repo")


def manifest_of(data):
    n = int.from_bytes(data[8:12], "little")
    return data[fmt.HEADER_SIZE:fmt.HEADER_SIZE + n]


def client(repo, tmp_path, name="client"):
    u = updater(tmp_path / name, (repo.dir / "metadata" / "1.root.json").read_bytes(), BASE, DirFetcher(repo.dir))
    u.refresh()
    return u


def stored(repo):
    return sorted(p.name for p in (repo.dir / "files" / "sha256").iterdir())


def test_a_bundle_is_its_manifest_as_a_target_and_its_files_by_hash(repo, tmp_path):
    source = make_bundle(repo, tmp_path, mpy=6, min_firmware="1.2.0")
    data = source.read_bytes()
    report = publish_mod.publish(repo, keyring(repo), source, "stable")
    path = "esp32-4mb/stable/app-1.0.0.mpbm"
    assert (report["target"], report["kind"], report["role"], report["changed"]) == (path, "bundle", "targets", True)
    u = client(repo, tmp_path)
    info = u.get_targetinfo(path)
    assert info.custom == {"bundle": "app", "channel": "stable", "board": "esp32-4mb", "chip_id": 0,
                           "version": "1.0.0", "security_version": 1, "mpy": 6, "min_firmware": "1.2.0",
                           "files": 3, "total": sum(len(v) for v in FILES.values())}
    with open(u.download_target(info), "rb") as f:
        assert f.read() == manifest_of(data)  # exactly the signed manifest bytes
    for content in FILES.values():
        digest = hashlib.sha256(content).hexdigest()
        assert layout.content_file(repo.dir, digest).read_bytes() == content
    assert len(stored(repo)) == 3
    assert not [p for p in tree(repo.dir) if "/." in "/" + p]  # no temporary file left behind
    # The device's own manifest check accepts the target against the repository's root.
    root = trust.load_root(repo.raw["root"])
    assert fmt.load_manifest(manifest_of(data), root, name="app", board="esp32-4mb", chip_id=0).version == "1.0.0"
    st = status_mod.status(Repository(repo.dir))
    assert st["problems"] == []
    row = {k: v for k, v in info.custom.items() if k not in ("bundle", "channel")}
    assert st["bundles"] == {"stable": [{"bundle": "app", "directory": "esp32-4mb/stable",
                                         "versions": [dict(row, path=path, role="targets")]}]}


def test_identical_content_is_stored_once_across_versions_and_bundles(repo, tmp_path):
    publish_mod.publish(repo, keyring(repo), make_bundle(repo, tmp_path), "stable")
    first = {name: (repo.dir / "files" / "sha256" / name).stat().st_mtime_ns for name in stored(repo)}
    changed = dict(FILES, **{"lib.py": b"V = '1.1.0'\n"})
    report = publish_mod.publish(repo, keyring(repo), make_bundle(repo, tmp_path, "1.1.0", files=changed), "stable")
    assert [p.rsplit("/", 1)[1] for p in report["stored"]] == [hashlib.sha256(changed["lib.py"]).hexdigest()]
    other = make_bundle(repo, tmp_path, name="other", files={"main.py": FILES["main.py"]})
    assert publish_mod.publish(repo, keyring(repo), other, "stable")["stored"] == []
    assert len(stored(repo)) == 4
    for name, mtime in first.items():  # shared, never rewritten
        assert (repo.dir / "files" / "sha256" / name).stat().st_mtime_ns == mtime


def test_republishing_is_a_no_op_that_restores_missing_files(repo, tmp_path):
    source = make_bundle(repo, tmp_path)
    publish_mod.publish(repo, keyring(repo), source, "stable")
    before = tree(repo.dir)
    again = publish_mod.publish(Repository(repo.dir), keyring(repo), source, "stable")
    assert again["changed"] is False and tree(repo.dir) == before
    victim = layout.content_file(repo.dir, hashlib.sha256(FILES["lib.py"]).hexdigest())
    victim.unlink()
    assert any("lib.py" in p and "missing" in p for p in status_mod.status(Repository(repo.dir))["problems"])
    again = publish_mod.publish(Repository(repo.dir), keyring(repo), source, "stable")
    assert again["changed"] is False and again["stored"] == [str(victim)]
    assert tree(repo.dir) == before
    victim.write_bytes(b"V = 'evil'\n")  # same size or not, a damaged copy is never shared
    assert any("lib.py" in p and "damaged" in p for p in status_mod.status(Repository(repo.dir))["problems"])
    assert publish_mod.publish(Repository(repo.dir), keyring(repo), source, "stable")["stored"] == [str(victim)]
    assert tree(repo.dir) == before


def test_what_publish_refuses_changes_nothing(repo, tmp_path):
    publish_mod.publish(repo, keyring(repo), make_bundle(repo, tmp_path, "1.1.0", 2), "stable")
    before = tree(repo.dir)
    keys.generate_keypair(key_dir(repo.dir) / "stranger.pem")
    tampered = make_bundle(repo, tmp_path, "1.2.0", 2)
    raw = bytearray(tampered.read_bytes())
    raw[-1] ^= 1
    tampered.write_bytes(bytes(raw))
    rebuilt = make_bundle(repo, tmp_path, "1.1.0", 2, files=dict(FILES, **{"lib.py": b"V = 2\n"}))
    cases = [
        (make_bundle(repo, tmp_path, "1.2.0", 2, key="stranger.pem"), {}, "sign it with 1 of the targets keys"),
        (tampered, {}, "file-hash"),
        (rebuilt, {}, "already published with different content"),
        (make_bundle(repo, tmp_path, "1.0.9", 2), {}, "version 1.0.9 is not newer than 1.1.0, already on "
                                                      "esp32-4mb/stable for bundle app"),
        (make_bundle(repo, tmp_path, "1.3.0", 1), {}, "security version 1 is below 2"),
        (make_bundle(repo, tmp_path, "2.0.0", board=None, chip_id=None), {}, "give --board BOARD or --chip CHIP"),
        (make_bundle(repo, tmp_path, "2.0.0"), {"board": "esp32s3-8mb"}, "is made for board esp32-4mb"),
        (make_bundle(repo, tmp_path, "2.0.0", board=None), {"chip": "esp32s3"}, "made for esp32, not --chip esp32s3"),
        (make_bundle(repo, tmp_path, "2.0.0", board=None), {"board": "esp32s3-8mb"}, "not board esp32s3-8mb"),
        (make_bundle(repo, tmp_path, "2.0.0", board=None, chip_id=None), {"board": "esp32-4mb", "chip": "esp32s3"},
         "not --chip esp32s3"),
        (make_bundle(repo, tmp_path, "2.0.0", board=None, chip_id=None), {"chip": "esp8266"}, "--chip esp8266: use one of"),
        (write_image(tmp_path / "img.mpb", [key_dir(repo.dir) / "targets.pem"]), {"board": "esp32-4mb"},
         "--board and --chip are for a bundle"),
    ]
    for source, options, message in cases:
        with pytest.raises(MpbootError, match=message.replace("(", r"\(").replace(".", r"\.")):
            publish_mod.publish(Repository(repo.dir), keyring(repo), source, "stable", **options)
        assert tree(repo.dir) == before, message
    # --force publishes what devices on the channel would skip, and says so.
    report = publish_mod.publish(Repository(repo.dir), keyring(repo), make_bundle(repo, tmp_path, "1.0.9", 1), "stable",
                                 force=True)
    assert len(report["warnings"]) == 2


def test_bundles_images_and_other_bundles_order_apart(repo, tmp_path):
    image = write_image(tmp_path / "img.mpb", [key_dir(repo.dir) / "targets.pem"], version="5.0.0", security_version=4)
    publish_mod.publish(repo, keyring(repo), image, "stable")
    # A bundle's version and security version are its own: the image's 5.0.0 / 4 do not count.
    publish_mod.publish(repo, keyring(repo), make_bundle(repo, tmp_path, "1.0.0", 1), "stable")
    publish_mod.publish(repo, keyring(repo), make_bundle(repo, tmp_path, "0.1.0", 0, name="lib"), "stable")
    image = write_image(tmp_path / "img6.mpb", [key_dir(repo.dir) / "targets.pem"], version="6.0.0", security_version=4)
    publish_mod.publish(repo, keyring(repo), image, "stable")
    assert sorted(Repository(repo.dir).targets.targets) == [
        "esp32-4mb/stable/5.0.0.mpb", "esp32-4mb/stable/6.0.0.mpb", "esp32-4mb/stable/app-1.0.0.mpbm",
        "esp32-4mb/stable/lib-0.1.0.mpbm"]


def test_any_board_bundles_go_where_the_devices_look(repo, tmp_path):
    generic = make_bundle(repo, tmp_path, board=None, chip_id=None)
    a = publish_mod.publish(repo, keyring(repo), generic, "stable", board="esp32-4mb")
    b = publish_mod.publish(Repository(repo.dir), keyring(repo), generic, "stable", chip="esp32s3")
    chip_wide = make_bundle(repo, tmp_path, "1.0.1", board=None, chip_id=5)
    c = publish_mod.publish(Repository(repo.dir), keyring(repo), chip_wide, "stable")
    assert [(r["target"], r["board"], r["chip_id"]) for r in (a, b, c)] == [
        ("esp32-4mb/stable/app-1.0.0.mpbm", "esp32-4mb", 0), ("esp32s3/stable/app-1.0.0.mpbm", "", 9),
        ("esp32c3/stable/app-1.0.1.mpbm", "", 5)]
    assert len(stored(repo)) == 3  # one set of files for all three


def test_keep_and_prune_count_each_bundle_apart_and_files_stay(repo, tmp_path):
    for i in range(3):
        publish_mod.publish(Repository(repo.dir), keyring(repo),
                            make_bundle(repo, tmp_path, "1.%d.0" % i, files=dict(FILES, v=b"%d" % i)), "stable")
    publish_mod.publish(Repository(repo.dir), keyring(repo), make_bundle(repo, tmp_path, name="lib"), "stable")
    image = write_image(tmp_path / "img.mpb", [key_dir(repo.dir) / "targets.pem"])
    publish_mod.publish(Repository(repo.dir), keyring(repo), image, "stable")
    report = publish_mod.publish(Repository(repo.dir), keyring(repo),
                                 make_bundle(repo, tmp_path, "1.3.0", files=dict(FILES, v=b"3")), "stable", keep=2)
    assert sorted(report["removed"]) == ["esp32-4mb/stable/app-1.0.0.mpbm", "esp32-4mb/stable/app-1.1.0.mpbm"]
    report = publish_mod.prune(Repository(repo.dir), keyring(repo), 1)
    assert report["removed"] == ["esp32-4mb/stable/app-1.2.0.mpbm"]
    r = Repository(repo.dir)
    assert sorted(r.targets.targets) == ["esp32-4mb/stable/1.0.0.mpb", "esp32-4mb/stable/app-1.3.0.mpbm",
                                         "esp32-4mb/stable/lib-1.0.0.mpbm"]
    # files/ keeps everything: what listed manifests name, and what a device may still be fetching.
    assert len(stored(repo)) == 3 + 4
    st = status_mod.status(r)
    assert st["problems"] == []
    # The "v" files of 1.0.0-1.2.0 are named by no listed manifest any more; the shared ones are.
    assert st["unreferenced_files"] == sorted(hashlib.sha256(b"%d" % i).hexdigest() for i in range(3))


def test_a_bundle_goes_into_the_delegated_role_a_device_searches(repo, tmp_path):
    keys.generate_keypair(tmp_path / "board.pem")
    delegations.delegate(repo, keyring(repo), "esp32-4mb", ["esp32-4mb/*/*"], [tmp_path / "board.pem"])
    report = publish_mod.publish(Repository(repo.dir), keyring(repo), make_bundle(repo, tmp_path), "stable")
    assert report["role"] == "esp32-4mb"
    u = client(repo, tmp_path)
    assert u.get_targetinfo("esp32-4mb/stable/app-1.0.0.mpbm").custom["bundle"] == "app"
    assert status_mod.status(Repository(repo.dir))["problems"] == []


def test_a_targets_rotation_that_strands_a_bundle_is_refused(repo, tmp_path):
    publish_mod.publish(repo, keyring(repo), make_bundle(repo, tmp_path), "stable")
    keys.generate_keypair(tmp_path / "new.pem")
    r = Repository(repo.dir)
    with pytest.raises(MpbootError, match="esp32-4mb/stable/app-1.0.0.mpbm is signed by fewer than 1"):
        maintain.rotate(r, keyring(r), "targets", add=[tmp_path / "new.pem"], remove=[key_dir(repo.dir) / "targets.pem"])
    r = Repository(repo.dir)
    assert maintain.rotate(r, keyring(r), "targets", add=[tmp_path / "new.pem"])["stranded"] == []


def test_publish_cli_and_status_json(repo, tmp_path, capsys):
    source = make_bundle(repo, tmp_path, board=None)
    code, out, err = run_cli(capsys, "publish", repo.dir, source, "--channel", "beta", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["target"], report["bundle"], report["files"], len(report["stored"])) == (
        "esp32/beta/app-1.0.0.mpbm", "app", 3, 3)
    code, out, err = run_cli(capsys, "publish", repo.dir, source, "--channel", "beta")
    assert code == 0 and "nothing to do" in out
    code, out, _ = run_cli(capsys, "repo", "status", repo.dir)
    assert code == 0 and "bundles on beta:" in out and "app " in out and "1.0.0 (security 1)" in out, out
    code, out, _ = run_cli(capsys, "repo", "status", repo.dir, "--json")
    rows = json.loads(out)["bundles"]["beta"]
    assert [(r["bundle"], r["directory"], [v["version"] for v in r["versions"]]) for r in rows] == [
        ("app", "esp32/beta", ["1.0.0"])]
    code, out, err = run_cli(capsys, "publish", repo.dir, make_bundle(repo, tmp_path, board=None, chip_id=None),
                             "--channel", "beta")
    assert code == 1 and err.count("\n") == 1 and "--board BOARD or --chip CHIP" in err


def test_serve_serves_files_by_hash_with_ranges(repo, tmp_path):
    publish_mod.publish(repo, keyring(repo), make_bundle(repo, tmp_path), "stable")
    digest = hashlib.sha256(FILES["data.bin"]).hexdigest()
    (repo.dir / "files" / ".tmp-half").write_bytes(b"x")
    with serve.start_server(repo.dir, log=lambda line: None) as server:
        def get(path, headers=None):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            try:
                conn.request("GET", path, headers=headers or {})
                r = conn.getresponse()
                return r.status, r.read()
            finally:
                conn.close()

        assert get("/files/sha256/" + digest) == (200, FILES["data.bin"])
        assert get("/files/sha256/" + digest, {"Range": "bytes=1000-"}) == (206, FILES["data.bin"][1000:])
        assert get("/files/.tmp-half")[0] == 404
        assert get("/files/sha256/" + "0" * 64)[0] == 404


def test_a_publish_cut_at_any_write_leaves_clients_where_they_were(repo, tmp_path, monkeypatch):
    # Writes: the 3 files, the manifest target, targets, snapshot, timestamp: timestamp last, so
    # until it is written no client sees the bundle, and every file it names is there before.
    source = make_bundle(repo, tmp_path)
    real = store.atomic_write
    for fail_at in range(7):
        shutil.rmtree(repo.dir / "files", ignore_errors=True)  # else the next run shares what this one stored
        calls = []

        def failing(path, data, **kw):
            calls.append(path.relative_to(repo.dir).as_posix())
            if len(calls) > fail_at:
                raise OSError(28, "No space left on device")
            real(path, data, **kw)

        monkeypatch.setattr(store, "atomic_write", failing)
        with pytest.raises(OSError):
            publish_mod.publish(Repository(repo.dir), keyring(repo), source, "stable")
        monkeypatch.setattr(store, "atomic_write", real)
        assert client(repo, tmp_path, "c%d" % fail_at).get_targetinfo("esp32-4mb/stable/app-1.0.0.mpbm") is None
        assert status_mod.status(Repository(repo.dir))["problems"] == []
    assert [c.split("/")[0] for c in calls] == ["files"] * 3 + ["targets"] + ["metadata"] * 3
    assert calls[-1] == "metadata/timestamp.json"
    publish_mod.publish(Repository(repo.dir), keyring(repo), source, "stable")
    assert client(repo, tmp_path, "done").get_targetinfo("esp32-4mb/stable/app-1.0.0.mpbm") is not None
    assert status_mod.status(Repository(repo.dir))["problems"] == []
