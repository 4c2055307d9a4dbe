"""mpboot keygen and key loading: files, modes, passphrases, and every way a key can be wrong."""

import json
import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from securesystemslib.signer import SSlibKey

from clihelp import fails, run
from mpboot import keys
from mpboot.errors import MpbootError
from mpboot_fw import trust


def test_keygen_writes_a_private_key_0600_and_its_public_key(tmp_path, capsys):
    key_path = tmp_path / "release.pem"
    r = run(capsys, "keygen", key_path, "--json")
    assert r.code == 0, r.err
    result = json.loads(r.out)
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    assert not result["encrypted"]
    private = serialization.load_pem_private_key(key_path.read_bytes(), None)
    public = serialization.load_pem_public_key((tmp_path / "release.pem.pub").read_bytes())
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    assert key_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
    assert public.public_bytes_raw() == private.public_key().public_bytes_raw()
    # The keyid is securesystemslib's, and the device computes the same one.
    assert result["keyid"] == SSlibKey.from_crypto(public).keyid
    assert trust.keyid_of(trust.ed25519_key_object(public.public_bytes_raw())) == result["keyid"]
    assert result["public"] == public.public_bytes_raw().hex()


def test_keygen_with_a_passphrase_encrypts(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PASS", "s3cret phrase")
    key_path = tmp_path / "k.pem"
    assert run(capsys, "keygen", key_path, "--passphrase-env", "PASS").code == 0
    assert b"ENCRYPTED PRIVATE KEY" in key_path.read_bytes()
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(key_path.read_bytes(), None)
    loaded = keys.load_private_key(key_path, b"s3cret phrase")
    assert loaded.public_key().public_bytes_raw() == keys.load_public_key(str(key_path) + ".pub").public_bytes_raw()


@pytest.mark.parametrize("existing", ["k.pem", "k.pem.pub"])
def test_keygen_refuses_to_overwrite(tmp_path, capsys, existing):
    (tmp_path / existing).write_bytes(b"keep me")
    fails(capsys, "keygen", tmp_path / "k.pem", match="refusing to overwrite")
    assert (tmp_path / existing).read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]


@pytest.mark.parametrize("value,match", [(None, "not set"), ("", "is empty")])
def test_keygen_passphrase_variable_must_hold_something(tmp_path, capsys, monkeypatch, value, match):
    monkeypatch.delenv("PASS", raising=False)
    if value is not None:
        monkeypatch.setenv("PASS", value)
    fails(capsys, "keygen", tmp_path / "k.pem", "--passphrase-env", "PASS", match=match)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where,match", [("missing-dir/k.pem", "missing-dir does not exist (create it first)"),
                                         ("a-file/k.pem", "a-file is not a directory")])
def test_keygen_into_an_unwritable_place(tmp_path, capsys, where, match):
    (tmp_path / "a-file").write_bytes(b"")
    line = fails(capsys, "keygen", tmp_path / where, match=match)
    assert line.startswith("mpboot: error: cannot write %s: " % (tmp_path / where))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_output_that_is_a_directory_is_refused(tmp_path, capsys):
    keys = tmp_path / "k.pem"
    run(capsys, "keygen", keys)
    (tmp_path / "out").mkdir()
    fails(capsys, "root", "init", tmp_path / "out", "--root-key", keys, "--targets-key", keys, "--force",
          match="it is a directory (give a file name inside it)")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_failing_public_key_write_removes_the_private_key(tmp_path, monkeypatch):
    real = keys.atomic_write

    def fail_on_pub(path, data, **kw):
        if str(path).endswith(".pub"):
            raise MpbootError("cannot write %s: No space left on device" % path)
        return real(path, data, **kw)

    monkeypatch.setattr(keys, "atomic_write", fail_on_pub)
    with pytest.raises(MpbootError, match="No space"):
        keys.generate_keypair(tmp_path / "k.pem")
    assert list(tmp_path.iterdir()) == []


def test_a_disk_error_mid_write_leaves_nothing(tmp_path, capsys, monkeypatch):
    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    fails(capsys, "keygen", tmp_path / "k.pem", match="No space left on device")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def keydir(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PASS", "right")
    run(capsys, "keygen", tmp_path / "plain.pem")
    run(capsys, "keygen", tmp_path / "locked.pem", "--passphrase-env", "PASS")
    p256 = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "p256.pem").write_bytes(p256.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (tmp_path / "p256.pub").write_bytes(p256.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (tmp_path / "garbage.pem").write_bytes(b"this is not a key\n")
    return tmp_path


@pytest.mark.parametrize("name,passphrase,match", [
    ("locked.pem", None, "is encrypted: pass --passphrase-env"),
    ("locked.pem", b"wrong", "wrong passphrase"),
    ("plain.pem.pub", None, "is a public key"),
    ("p256.pem", None, "not an Ed25519 key"),
    ("garbage.pem", None, "not a PEM private key"),
    ("absent.pem", None, "key file not found"),
])
def test_private_key_errors_are_one_clear_line(keydir, name, passphrase, match):
    with pytest.raises(MpbootError, match=match) as e:
        keys.load_private_key(keydir / name, passphrase)
    assert "\n" not in str(e.value)


def test_a_passphrase_is_ignored_for_an_unencrypted_key(keydir):
    keys.load_private_key(keydir / "plain.pem", b"anything")
    keys.load_private_key(keydir / "locked.pem", b"right")


@pytest.mark.parametrize("name,match", [
    ("p256.pub", "not an Ed25519 public key"),
    ("garbage.pem", "not a PEM public key"),
])
def test_public_key_errors(keydir, name, match):
    with pytest.raises(MpbootError, match=match):
        keys.load_public_key(keydir / name)


def test_public_key_from_a_private_key_file(keydir):
    assert keys.raw_public(keys.load_public_key(keydir / "plain.pem")) == \
        keys.raw_public(keys.load_public_key(keydir / "plain.pem.pub"))
