"""mpboot root init/show: python-tuf must accept what we write, and bad requests write nothing."""

import json
from datetime import datetime, timedelta, timezone

import pytest
from securesystemslib.formats import encode_canonical
from tuf.api.metadata import Metadata

from clihelp import fails, run
from mpboot import keys


@pytest.fixture
def kd(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PASS", "pw")
    for name in ("root1", "root2", "release1", "release2", "online"):
        assert run(capsys, "keygen", tmp_path / (name + ".pem")).code == 0
    assert run(capsys, "keygen", tmp_path / "locked.pem", "--passphrase-env", "PASS").code == 0
    return tmp_path


def keyid(path):
    return keys.tuf_key(keys.load_public_key(path)).keyid


def test_root_init_defaults(kd, capsys):
    out = kd / "root.json"
    r = run(capsys, "root", "init", out, "--root-key", kd / "root1.pem", "--targets-key", kd / "release1.pem.pub")
    assert r.code == 0, r.err
    md = Metadata.from_bytes(out.read_bytes())
    root = md.signed
    # python-tuf verifies it with its own root role.
    root.verify_delegate("root", md.signed_bytes, md.signatures)
    assert root.version == 1 and root.consistent_snapshot is True
    assert root.roles["root"].keyids == [keyid(kd / "root1.pem.pub")]
    release = [keyid(kd / "release1.pem.pub")]
    for role in ("targets", "snapshot", "timestamp"):
        assert root.roles[role].keyids == release and root.roles[role].threshold == 1
    expected = datetime.now(timezone.utc) + timedelta(days=365)
    assert abs((root.expires - expected).total_seconds()) < 60
    # Compact canonical JSON: the signed bytes in the file are exactly what was signed.
    data = out.read_bytes()
    assert encode_canonical(json.loads(data)["signed"]).encode() in data
    assert data == encode_canonical(json.loads(data)).encode()


@pytest.mark.parametrize("expires,days", [("730d", 730), ("730", 730), ("1d", 1)])
def test_root_init_expires_is_written_as_the_repo_commands_write_it(kd, capsys, expires, days):
    out = kd / ("root-%s.json" % expires)
    r = run(capsys, "root", "init", out, "--root-key", kd / "root1.pem", "--targets-key", kd / "release1.pem.pub",
            "--expires", expires)
    assert r.code == 0, r.err
    md = Metadata.from_bytes(out.read_bytes())
    assert abs((md.signed.expires - datetime.now(timezone.utc)).total_seconds() - days * 86400) < 120


def test_root_init_with_every_option(kd, capsys, monkeypatch):
    out = kd / "root.json"
    r = run(capsys, "root", "init", out, "--root-key", kd / "root1.pem", "--root-key", kd / "locked.pem",
            "--root-threshold", 2, "--targets-key", kd / "release1.pem.pub", "--targets-key", kd / "release2.pem",
            "--targets-threshold", 2, "--snapshot-key", kd / "online.pem.pub", "--timestamp-key", kd / "online.pem.pub",
            "--expires", 30, "--version", 7, "--passphrase-env", "PASS", "--json")
    assert r.code == 0, r.err
    summary = json.loads(r.out)
    md = Metadata.from_bytes(out.read_bytes())
    md.signed.verify_delegate("root", md.signed_bytes, md.signatures)
    assert len(md.signatures) == 2 and md.signed.version == summary["version"] == 7
    assert md.signed.roles["root"].threshold == 2 and md.signed.roles["targets"].threshold == 2
    assert md.signed.roles["timestamp"].keyids == [keyid(kd / "online.pem.pub")]
    assert set(md.signed.roles["targets"].keyids) == {keyid(kd / "release1.pem.pub"), keyid(kd / "release2.pem.pub")}
    assert summary["roles"]["targets"]["threshold"] == 2
    assert abs((md.signed.expires - datetime.now(timezone.utc)).days - 30) <= 1
    show = run(capsys, "root", "show", out, "--json")
    assert show.code == 0 and json.loads(show.out) == summary


def test_a_root_mixes_ed25519_and_p256_keys(kd, capsys):
    """One root key of each type, both signing; targets keys of both types. python-tuf and the
    device's own check accept it, and show names every key."""
    assert run(capsys, "keygen", kd / "root-p256.pem", "--type", "ecdsa").code == 0
    assert run(capsys, "keygen", kd / "release-p256.pem", "--type", "ecdsa").code == 0
    out = kd / "root.json"
    r = run(capsys, "root", "init", out, "--root-key", kd / "root1.pem", "--root-key", kd / "root-p256.pem",
            "--root-threshold", "2", "--targets-key", kd / "release1.pem.pub", "--targets-key",
            kd / "release-p256.pem.pub", "--json")
    assert r.code == 0, r.err
    md = Metadata.from_bytes(out.read_bytes())
    md.signed.verify_delegate("root", md.signed_bytes, md.signatures)
    assert len(md.signatures) == 2
    types = {md.signed.keys[k].keytype: md.signed.keys[k].scheme for k in md.signed.roles["root"].keyids}
    assert types == {"ed25519": "ed25519", "ecdsa": "ecdsa-sha2-nistp256"}
    summary = json.loads(r.out)
    assert summary["roles"]["targets"]["keyids"] == [keyid(kd / "release1.pem.pub"), keyid(kd / "release-p256.pem.pub")]
    assert sorted(len(bytes.fromhex(v)) for v in summary["keys"].values()) == [32, 32, 65, 65]  # as the device holds them
    assert run(capsys, "root", "show", out).code == 0


def test_root_show_text(kd, capsys):
    out = kd / "root.json"
    run(capsys, "root", "init", out, "--root-key", kd / "root1.pem", "--targets-key", kd / "release1.pem.pub")
    r = run(capsys, "root", "show", out)
    assert r.code == 0 and "valid root: version 1" in r.out and "targets   threshold 1 of 1" in r.out


@pytest.mark.parametrize("extra,match", [
    (["--root-threshold", "2"], "could never sign"),
    (["--targets-threshold", "2"], "could never sign"),
    (["--expires", "0"], "not a duration: '0'"),
    (["--expires", "36h"], "--expires must be whole days (e.g. 365d)"),
    (["--version", "0"], "--version must be at least 1"),
    (["--root-key", "locked.pem"], "is encrypted"),
    (["--root-key", "release2.pem.pub"], "is a public key"),
    (["--targets-key", "missing.pub"], "not found"),
])
def test_root_init_bad_requests_write_nothing(kd, capsys, extra, match):
    argv = ["root", "init", kd / "root.json", "--root-key", kd / "root1.pem", "--targets-key", kd / "release1.pem.pub"]
    argv += [kd / a if a.endswith((".pem", ".pub")) else a for a in extra]
    fails(capsys, *argv, match=match)
    assert not (kd / "root.json").exists()


def test_root_init_refuses_to_overwrite_unless_forced(kd, capsys):
    out = kd / "root.json"
    out.write_bytes(b"old")
    fails(capsys, "root", "init", out, "--root-key", kd / "root1.pem", "--targets-key", kd / "release1.pem.pub",
          match="refusing to overwrite")
    assert out.read_bytes() == b"old"
    assert run(capsys, "root", "init", out, "--root-key", kd / "root1.pem", "--targets-key",
               kd / "release1.pem.pub", "--force").code == 0
    Metadata.from_bytes(out.read_bytes())


def test_root_show_rejects_a_tampered_root(kd, capsys):
    out = kd / "root.json"
    run(capsys, "root", "init", out, "--root-key", kd / "root1.pem", "--targets-key", kd / "release1.pem.pub")
    doc = json.loads(out.read_bytes())
    doc["signed"]["roles"]["targets"]["keyids"] = [keyid(kd / "online.pem.pub")]
    doc["signed"]["keys"][keyid(kd / "online.pem.pub")] = keys.tuf_key(keys.load_public_key(kd / "online.pem.pub")).to_dict()
    out.write_text(json.dumps(doc))
    fails(capsys, "root", "show", out, match="not a valid signed root: threshold: 0 of 1 root signatures")
    (kd / "empty.json").write_bytes(b"")
    fails(capsys, "root", "show", kd / "empty.json", match="root: not JSON")


def test_a_deeply_nested_root_is_one_error_line(kd, capsys):
    # CPython's json.loads raised RecursionError on it (a traceback); it is refused by syntax now.
    deep = kd / "deep.json"
    deep.write_bytes(b'{"signed":' + b"[" * 100000 + b"]" * 100000 + b',"signatures":[]}')
    image = kd / "app.mpb"
    image.write_bytes(b"\0" * 64)
    match = "root: not JSON (json: nested deeper than"
    fails(capsys, "root", "show", deep, match=match)
    fails(capsys, "verify", "--root", deep, image, match=match)
    fails(capsys, "inspect", image, "--root", deep, match=match)
    fails(capsys, "sign", "--key", kd / "release1.pem", "--version", "1.0.0", "--security-version", 1,
          "--board", "esp32-4mb", "--root", deep, image, "-o", kd / "out.mpb", match=match)
