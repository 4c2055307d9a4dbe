"""mpboot keygen and key loading: files, modes, passphrases, and every way a key can be wrong."""

import json
import os
import stat

import pytest
from binascii import unhexlify

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
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


def test_keygen_ecdsa_writes_a_p256_key_as_securesystemslib_names_it(tmp_path, capsys):
    key_path = tmp_path / "release.pem"
    r = run(capsys, "keygen", key_path, "--type", "ecdsa", "--json")
    assert r.code == 0, r.err
    result = json.loads(r.out)
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600 and result["key_type"] == "ecdsa"
    private = serialization.load_pem_private_key(key_path.read_bytes(), None)
    public = serialization.load_pem_public_key((tmp_path / "release.pem.pub").read_bytes())
    assert isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(private.curve, ec.SECP256R1)
    assert public.public_numbers() == private.public_key().public_numbers()
    # The key object is securesystemslib's, byte for byte, and the device reads the same keyid
    # and the same point from it.
    tuf_key = SSlibKey.from_crypto(public)
    assert tuf_key.to_dict() == {"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256",
                                 "keyval": {"public": public.public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()}}
    assert result["keyid"] == tuf_key.keyid == trust.keyid_of(tuf_key.to_dict())
    assert result["public"] == tuf_key.keyval["public"]
    device = trust.parse_keys({tuf_key.keyid: tuf_key.to_dict()}, "test")
    assert device == {tuf_key.keyid: public.public_bytes(serialization.Encoding.X962,
                                                         serialization.PublicFormat.UncompressedPoint)}


def test_an_encrypted_p256_key_loads_with_its_passphrase(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PASS", "p256 phrase")
    key_path = tmp_path / "k.pem"
    assert run(capsys, "keygen", key_path, "--type", "ecdsa", "--passphrase-env", "PASS").code == 0
    assert b"ENCRYPTED PRIVATE KEY" in key_path.read_bytes()
    with pytest.raises(MpbootError, match="wrong passphrase"):
        keys.load_private_key(key_path, b"other")
    loaded = keys.load_private_key(key_path, b"p256 phrase")
    assert loaded.public_key().public_numbers() == keys.load_public_key(str(key_path) + ".pub").public_numbers()


def test_p256_signatures_cross_check_with_cryptography(tmp_path):
    """Image signatures are r || s (IEEE P1363), TUF's are DER: both over SHA-256, both checked
    by cryptography, and the same (r, s) ranges as the standard requires."""
    keys.generate_keypair(tmp_path / "k.pem", key_type="ecdsa")
    private = keys.load_private_key(tmp_path / "k.pem")
    public = private.public_key()
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    for n in range(50):
        message = b"manifest %d" % n * (n + 1)
        raw = keys.image_signature(private, message)
        assert len(raw) == 64
        r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        assert 0 < r < order and 0 < s < order
        public.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
        der = unhexlify(keys.tuf_signer(private).sign(message).signature)
        public.verify(der, message, ec.ECDSA(hashes.SHA256()))
        assert 0 < decode_dss_signature(der)[0] < order


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
    for name, other in (("p384", ec.generate_private_key(ec.SECP384R1())),
                        ("rsa", rsa.generate_private_key(public_exponent=65537, key_size=2048))):
        (tmp_path / (name + ".pem")).write_bytes(other.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        (tmp_path / (name + ".pub")).write_bytes(other.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (tmp_path / "garbage.pem").write_bytes(b"this is not a key\n")
    return tmp_path


@pytest.mark.parametrize("name,passphrase,match", [
    ("locked.pem", None, "is encrypted: pass --passphrase-env"),
    ("locked.pem", b"wrong", "wrong passphrase"),
    ("plain.pem.pub", None, "is a public key"),
    ("p384.pem", None, "is an ECDSA secp384r1 key: mpboot signs with Ed25519 or ECDSA P-256 keys"),
    ("rsa.pem", None, "is neither Ed25519 nor ECDSA: mpboot signs with Ed25519 or ECDSA P-256 keys"),
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
    ("p384.pub", "is an ECDSA secp384r1 key"),
    ("rsa.pub", "is neither Ed25519 nor ECDSA"),
    ("garbage.pem", "not a PEM public key"),
])
def test_public_key_errors(keydir, name, match):
    with pytest.raises(MpbootError, match=match):
        keys.load_public_key(keydir / name)


def test_public_key_from_a_private_key_file(keydir):
    assert keys.raw_public(keys.load_public_key(keydir / "plain.pem")) == \
        keys.raw_public(keys.load_public_key(keydir / "plain.pem.pub"))
