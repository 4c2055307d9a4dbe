"""`mpboot repo ...` and `mpboot publish` end to end through the CLI: the round trip from
`mpboot keygen`/`root init`/`sign` to a published target, JSON output, and one-line errors."""

import json

import pytest

from mpboot.cli import main
from repotest import DirFetcher, run_cli as run, tree, updater

import appbuilder


def test_round_trip_from_root_init(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.bin").write_bytes(appbuilder.build(version="1.0.0"))
    assert run(capsys, "keygen", "root.pem")[0] == 0
    assert run(capsys, "keygen", "release.pem")[0] == 0
    assert run(capsys, "root", "init", "root.json", "--root-key", "root.pem", "--targets-key", "release.pem.pub")[0] == 0
    # One key serves targets, snapshot and timestamp in this root: naming it once is enough.
    code, out, err = run(capsys, "repo", "init", "repo", "--root", "root.json", "--targets-key", "release.pem")
    assert (code, err) == (0, "")
    assert "Keys to take OFFLINE now: root and targets" in out
    assert (tmp_path / "repo" / "metadata" / "1.root.json").read_bytes() == (tmp_path / "root.json").read_bytes()
    assert run(capsys, "sign", "--key", "release.pem", "--version", "1.0.0", "--security-version", "1",
               "--board", "esp32-4mb", "app.bin", "-o", "app.mpb")[0] == 0
    code, out, err = run(capsys, "publish", "repo", "app.mpb", "--channel", "stable", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["target"] == "esp32-4mb/stable/1.0.0.mpb" and report["versions"]["timestamp"] == 2
    code, out, err = run(capsys, "repo", "status", "repo", "--json")
    assert code == 0
    status = json.loads(out)
    assert status["problems"] == [] and [t["path"] for t in status["targets"]] == ["esp32-4mb/stable/1.0.0.mpb"]
    assert run(capsys, "repo", "timestamp", "repo")[1].startswith("timestamp version 3, expires ")
    u = updater(tmp_path / "client", (tmp_path / "root.json").read_bytes(), "http://repo.invalid/", DirFetcher(tmp_path / "repo"))
    u.refresh()
    assert u.get_targetinfo("esp32-4mb/stable/1.0.0.mpb").custom["security_version"] == 1


def test_development_repository_commands(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "repo", "init", "repo", "--timestamp-expires", "6h", "--json")
    report = json.loads(out)
    assert code == 0 and report["roles"]["timestamp"]["lifetime"] == "6h"
    assert len(report["generated"]) == 4
    code, out, _ = run(capsys, "repo", "status", "repo")
    assert code == 0 and "ok: everything verifies" in out and "WARNING: root key file(s)" in out
    code, out, _ = run(capsys, "repo", "renew", "repo", "--role", "targets", "--expires", "30d")
    assert code == 0 and out.startswith("targets renewed: version 2")
    run(capsys, "keygen", "ts2.pem")
    code, out, err = run(capsys, "repo", "rotate", "repo", "--role", "timestamp", "--add-key", "ts2.pem", "--threshold", "2")
    assert code == 0, err
    assert "timestamp role now: threshold 2, keys" in out
    code, out, _ = run(capsys, "repo", "status", "repo", "--json")
    assert json.loads(out)["roles"]["root"]["version"] == 2


@pytest.mark.parametrize(
    "argv,message",
    [
        (["repo", "status", "nowhere"], "not a repository"),
        (["repo", "timestamp", "repo", "--expires", "soon"], None),  # argparse: exit 2
        (["publish", "repo", "missing.mpb", "--channel", "stable"], "image or bundle not found: missing.mpb"),
        (["publish", "repo", "junk.mpb", "--channel", "stable"], "is not authorized by this repository"),
        (["publish", "repo", "junk.mpb", "--channel", "Bad Channel"], "channel 'Bad Channel'"),
        (["repo", "rotate", "repo", "--role", "targets"], "nothing to rotate"),
        (["repo", "timestamp", "repo", "--passphrase-env", "MPBOOT_TEST_UNSET_VAR"], "not set"),
        (["repo", "init", "repo"], "already a repository"),
    ],
)
def test_errors_are_one_line_and_change_nothing(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "repo", "init", "repo")[0] == 0
    (tmp_path / "junk.mpb").write_bytes(b"\xe9" + bytes(4000))
    before = tree(tmp_path / "repo")
    if message is None:
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        return
    code, out, err = run(capsys, *argv)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("mpboot: error: ") and message in err, err
    assert tree(tmp_path / "repo") == before


def test_status_exit_code_on_problems(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run(capsys, "repo", "init", "repo")
    (tmp_path / "repo" / "metadata" / "root.json").write_bytes(b"{}")
    code, out, _ = run(capsys, "repo", "status", "repo")
    assert code == 1 and "PROBLEM: root.json is not a copy of 1.root.json" in out


@pytest.mark.parametrize("prepared_keys", [False, True], ids=["new-key-dir", "existing-key-dir"])
def test_failed_init_leaves_no_keys_behind(tmp_path, capsys, monkeypatch, prepared_keys):
    # The keys are generated before the repository directory is made: when that fails (here the
    # path is a file), the new private keys must not stay on disk, and a key directory the user
    # had keeps exactly what it held.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "repo").write_text("a file, not a directory\n")
    if prepared_keys:
        (tmp_path / "repo-keys").mkdir()
        (tmp_path / "repo-keys" / "notes.txt").write_text("mine\n")
    before = tree(tmp_path)
    code, _, err = run(capsys, "repo", "init", "repo")
    assert code == 1 and err.count("\n") == 1 and "cannot create repository directory" in err, err
    assert tree(tmp_path) == before
    assert (tmp_path / "repo-keys").exists() == prepared_keys


def test_publish_refuses_an_image_larger_than_its_boards_slot(tmp_path, capsys, monkeypatch):
    # Published, it would head its channel and every device would refuse it on every check.
    # `mpboot sign` already refuses to make one; here it was signed with the library.
    from mpboot import keys, signing

    monkeypatch.chdir(tmp_path)
    assert run(capsys, "repo", "init", "repo")[0] == 0
    app = appbuilder.build(data_segments=(0x180000 - 0x2000,))
    key = keys.load_private_key(tmp_path / "repo-keys" / "targets.pem")
    (tmp_path / "big.mpb").write_bytes(signing.sign_app(app, [key], "1.0.0", 1, 0, "esp32-4mb"))
    before = tree(tmp_path / "repo")
    code, _, err = run(capsys, "publish", "repo", "big.mpb", "--channel", "stable")
    assert code == 1 and err.count("\n") == 1, err
    assert "larger than the 1572864-byte app slot of board esp32-4mb: no device could install it" in err
    assert tree(tmp_path / "repo") == before
