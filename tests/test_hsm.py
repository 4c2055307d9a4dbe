"""Keys inside a PKCS#11 token (SoftHSM2, real): made there, never readable, and signing images,
TUF metadata and a whole release that the device's own code and python-tuf accept.

The token is looked at with PyKCS11 directly, not through mpboot.hsm, and every signature is
checked by an implementation other than the one that made it (`cryptography`, python-tuf, the
device's mpboot_fw), so a bug in mpboot.hsm cannot hide itself.
"""

import json
import os
import pty
import struct
import sys
from urllib.parse import quote
from binascii import unhexlify
from datetime import datetime, timedelta, timezone

import PyKCS11
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import Signature, Signer, SSlibKey
from tuf.api.metadata import Metadata, Targets

import appbuilder
from clihelp import fails, run
from hsmtoken import token  # noqa: F401 (fixture)
from mpboot import hsm, keys
from mpboot_fw import bundle as bundle_format, image, trust, tuf
from mpboot_fw.blockdev import BytesDevice
from repotest import DirFetcher, updater

KEY_TYPES = ("ed25519", "ecdsa")
P256_OID = bytes.fromhex("06082a8648ce3d030107")


def keygen(capsys, uri, key_type):
    r = run(capsys, "keygen", uri, "--type", key_type, "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


def public_from_token(session, label):
    """The public key as the token holds it, decoded here without mpboot.hsm."""
    (handle,) = session.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY), (PyKCS11.CKA_LABEL, label)])
    key_type, params, point = session.getAttributeValue(
        handle, [PyKCS11.CKA_KEY_TYPE, PyKCS11.CKA_EC_PARAMS, PyKCS11.CKA_EC_POINT], allAsBinary=True)
    params, point = bytes(params), bytes(point)
    assert point[0] == 0x04 and point[1] == len(point) - 2  # DER OCTET STRING
    if params == P256_OID:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point[2:])
    return Ed25519PublicKey.from_public_bytes(point[2:])


def private_handle(session, label):
    (handle,) = session.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_LABEL, label)])
    return handle


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_a_key_made_in_the_token_never_leaves_it(token, capsys, key_type):
    made = keygen(capsys, token.uri("release"), key_type)
    session = token.session()
    private = private_handle(session, "release")
    sensitive, extractable, always_sensitive, never_extractable, sign = session.getAttributeValue(private, [
        PyKCS11.CKA_SENSITIVE, PyKCS11.CKA_EXTRACTABLE, PyKCS11.CKA_ALWAYS_SENSITIVE, PyKCS11.CKA_NEVER_EXTRACTABLE,
        PyKCS11.CKA_SIGN])
    assert (sensitive, extractable, always_sensitive, never_extractable, sign) == (True, False, True, True, True)
    # Reading the secret itself is refused by the token (the raw call: PyKCS11's wrapper would
    # turn the refusal into a None).
    template = PyKCS11.LowLevel.ckattrlist(1)
    template[0].SetType(PyKCS11.CKA_VALUE)
    assert session.lib.C_GetAttributeValue(session.session, private, template) == PyKCS11.CKR_ATTRIBUTE_SENSITIVE
    # So is wrapping it out under a key we hold.
    wrapping = session.generateKey([(PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY), (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_AES),
                                    (PyKCS11.CKA_VALUE_LEN, 32), (PyKCS11.CKA_WRAP, True), (PyKCS11.CKA_TOKEN, False)],
                                   PyKCS11.Mechanism(PyKCS11.CKM_AES_KEY_GEN, None))
    with pytest.raises(PyKCS11.PyKCS11Error) as refused:
        session.wrapKey(wrapping, private, PyKCS11.Mechanism(PyKCS11.CKM_AES_KEY_WRAP_PAD, None))
    assert refused.value.value == PyKCS11.CKR_KEY_UNEXTRACTABLE
    # The keyid printed is the one of the public key the token holds.
    assert made["keyid"] == SSlibKey.from_crypto(public_from_token(session, "release")).keyid
    assert made["protection"] == {"sensitive": True, "extractable": False, "always_sensitive": True,
                                  "never_extractable": True}
    r = run(capsys, "pubkey", token.uri("release"), "--protection", "--json")
    assert r.code == 0, r.err
    shown = json.loads(r.out)
    assert shown["keyid"] == made["keyid"]
    assert shown["protection"] == {"sensitive": True, "extractable": False, "always_sensitive": True,
                                   "never_extractable": True}


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_token_signatures_verify_with_cryptography(token, capsys, key_type):
    keygen(capsys, token.uri("k"), key_type)
    key = keys.load_private_key(token.uri("k"))
    public = public_from_token(token.session(), "k")
    for n in range(1, 17):  # (SoftHSM2 refuses to sign an empty message; mpboot never signs one)
        message = b"message %d " % n * n
        raw = keys.image_signature(key, message)
        metadata_sig = unhexlify(keys.tuf_signer(key).sign(message).signature)
        assert len(raw) == 64
        if key_type == "ed25519":
            public.verify(raw, message)
            public.verify(metadata_sig, message)
        else:
            # The image slot's r || s and the metadata's DER are the same kind of signature.
            public.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
                          message, ec.ECDSA(hashes.SHA256()))
            public.verify(metadata_sig, message, ec.ECDSA(hashes.SHA256()))
            with pytest.raises(Exception):
                public.verify(metadata_sig, message + b"!", ec.ECDSA(hashes.SHA256()))


def root_with_token_keys(capsys, token, tmp_path, targets_type):
    keygen(capsys, token.uri("root"), "ed25519")
    keygen(capsys, token.uri("targets"), targets_type)
    root_file = tmp_path / "root.json"
    r = run(capsys, "root", "init", root_file, "--root-key", token.uri("root"), "--targets-key", token.uri("targets"))
    assert r.code == 0, r.err
    return root_file


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_an_image_signed_in_the_token_verifies_on_the_device(token, capsys, tmp_path, key_type):
    root_file = root_with_token_keys(capsys, token, tmp_path, key_type)
    (tmp_path / "app.bin").write_bytes(appbuilder.build(version="1.0.0"))
    out = tmp_path / "app.mpb"
    r = run(capsys, "sign", "--key", token.uri("targets"), "--version", "1.0.0", "--security-version", 1,
            "--board", "esp32-4mb", tmp_path / "app.bin", "-o", out, "--root", root_file)
    assert r.code == 0, r.err
    data = out.read_bytes()
    root = trust.load_root(root_file.read_bytes())
    manifest = image.verify_slot(BytesDevice(data), root, board="esp32-4mb")
    assert [keyid for keyid, _ in manifest.signatures] == list(root.roles["targets"][0])
    assert run(capsys, "verify", "--pubkey", token.uri("targets"), out).code == 0
    # A flipped bit in the signature is refused by the device.
    bad = bytearray(data)
    bad[manifest.offset + image.SIGNED_SIZE + image.COUNT_SIZE + image.KEYID_SIZE + 5] ^= 1
    with pytest.raises(image.ImageError) as e:
        image.verify_slot(BytesDevice(bytes(bad)), root)
    assert e.value.reason == "signature-threshold"


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_a_bundle_signed_in_the_token_verifies_on_the_device(token, capsys, tmp_path, key_type):
    root_file = root_with_token_keys(capsys, token, tmp_path, key_type)
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.py").write_text("print('signed in a token')\n")
    out = tmp_path / "app.mpbundle"
    r = run(capsys, "bundle", app, "--name", "app", "--version", "1.0.0", "--security-version", 1, "--key",
            token.uri("targets"), "--board", "esp32-4mb", "--root", root_file, "-o", out)
    assert r.code == 0, r.err
    assert run(capsys, "verify", "--root", root_file, out).code == 0  # the device's streaming verifier
    # securesystemslib checks the manifest's signature over the canonical JSON of `signed`, too.
    data = out.read_bytes()
    length = struct.unpack(bundle_format.HEADER_FORMAT, data[:bundle_format.HEADER_SIZE])[3]
    doc = json.loads(data[bundle_format.HEADER_SIZE:bundle_format.HEADER_SIZE + length])
    (entry,) = doc["signatures"]
    root_md = Metadata.from_bytes(root_file.read_bytes())
    root_md.signed.get_key(entry["keyid"]).verify_signature(
        Signature(entry["keyid"], entry["sig"]), encode_canonical(doc["signed"]).encode())


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_tuf_metadata_signed_in_the_token_verifies_with_python_tuf(token, capsys, tmp_path, key_type):
    root_file = root_with_token_keys(capsys, token, tmp_path, key_type)
    root_md = Metadata.from_bytes(root_file.read_bytes())
    root_md.signed.verify_delegate("root", root_md.signed_bytes, root_md.signatures)
    targets = Metadata(Targets(expires=datetime.now(timezone.utc) + timedelta(days=7)))
    targets.sign(keys.tuf_signer(keys.load_private_key(token.uri("targets"))))
    root_md.signed.verify_delegate("targets", targets.signed_bytes, targets.signatures)
    # securesystemslib's own signer interface finds the token signer by its URI scheme.
    public = root_md.signed.get_key(root_md.signed.roles["targets"].keyids[0])
    again = Metadata(Targets(version=2, expires=targets.signed.expires))
    again.sign(Signer.from_priv_key_uri(token.uri("targets"), public))
    root_md.signed.verify_delegate("targets", again.signed_bytes, again.signatures)
    assert public.keytype == key_type


def test_a_token_that_fails_mid_command_is_one_line(token, capsys):
    """A session the module closed (a token pulled out looks the same): python-tuf would wrap the
    signer's error in its own; keys.sign_metadata gives back the one line."""
    keygen(capsys, token.uri("k"), "ecdsa")
    key = keys.load_private_key(token.uri("k"))
    key.token.session.closeSession()
    metadata = Metadata(Targets(expires=datetime.now(timezone.utc) + timedelta(days=1)))
    with pytest.raises(hsm.MpbootError, match="PKCS#11 token '%s' refused to sign with %s: CKR_SESSION_HANDLE_INVALID"
                       % (token.label, token.uri("k"))):
        keys.sign_metadata(metadata, keys.tuf_signer(key))
    with pytest.raises(hsm.MpbootError, match="refused to sign"):
        keys.image_signature(key, b"MPB1")


def test_a_root_mixes_key_types_across_files_and_tokens(token, capsys, tmp_path):
    keygen(capsys, token.uri("root-p256"), "ecdsa")
    keygen(capsys, token.uri("targets-ed"), "ed25519")
    for name, key_type in (("root-ed.pem", "ed25519"), ("targets-p256.pem", "ecdsa")):
        assert run(capsys, "keygen", tmp_path / name, "--type", key_type).code == 0
    root_file = tmp_path / "root.json"
    r = run(capsys, "root", "init", root_file, "--root-key", token.uri("root-p256"), "--root-key", tmp_path / "root-ed.pem",
            "--root-threshold", 2, "--targets-key", token.uri("targets-ed"), "--targets-key",
            tmp_path / "targets-p256.pem.pub", "--targets-threshold", 2)
    assert r.code == 0, r.err
    md = Metadata.from_bytes(root_file.read_bytes())
    md.signed.verify_delegate("root", md.signed_bytes, md.signatures)
    assert sorted(md.signed.keys[k].keytype for k in md.signed.roles["root"].keyids) == ["ecdsa", "ed25519"]
    root = trust.load_root(root_file.read_bytes())
    (tmp_path / "app.bin").write_bytes(appbuilder.build(version="2.0.0"))
    r = run(capsys, "sign", "--key", token.uri("targets-ed"), "--key", tmp_path / "targets-p256.pem", "--version", "2.0.0",
            "--security-version", 1, "--board", "esp32-4mb", tmp_path / "app.bin", "-o", tmp_path / "app.mpb",
            "--root", root_file)
    assert r.code == 0, r.err
    image.verify_slot(BytesDevice((tmp_path / "app.mpb").read_bytes()), root)


def test_two_keys_of_one_token_sign_in_one_command(token, capsys, tmp_path, monkeypatch):
    """Each key has its own session; the second finds the token logged in already, and is not
    asked for the PIN again (here only the first URI has one)."""
    for name, key_type in (("root", "ed25519"), ("t1", "ed25519"), ("t2", "ecdsa")):
        keygen(capsys, token.uri(name), key_type)
    root_file = tmp_path / "root.json"
    assert run(capsys, "root", "init", root_file, "--root-key", token.uri("root"), "--targets-key", token.uri("t1"),
               "--targets-key", token.uri("t2"), "--targets-threshold", 2).code == 0
    (tmp_path / "app.bin").write_bytes(appbuilder.build(version="1.0.0"))
    monkeypatch.delenv(hsm.PIN_ENV)
    r = run(capsys, "sign", "--key", token.uri("t1", **{"pin-value": token.pin}), "--key", token.uri("t2"), "--version", "1.0.0",
            "--security-version", 1, "--board", "esp32-4mb", tmp_path / "app.bin", "-o", tmp_path / "app.mpb",
            "--root", root_file)
    assert r.code == 0, r.err
    manifest = image.verify_slot(BytesDevice((tmp_path / "app.mpb").read_bytes()), trust.load_root(root_file.read_bytes()))
    assert len(manifest.signatures) == 2


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_a_whole_release_signed_by_token_keys(token, capsys, tmp_path, monkeypatch, key_type):
    """Root and targets keys in the token (the offline ones); snapshot and timestamp online
    files. python-tuf's ngclient and the device's TrustedSet both take the release."""
    monkeypatch.chdir(tmp_path)
    keygen(capsys, token.uri("root"), key_type)
    keygen(capsys, token.uri("targets"), key_type)
    for role in ("snapshot", "timestamp"):
        assert run(capsys, "keygen", role + ".pem", "--type", key_type).code == 0
    assert run(capsys, "root", "init", "root.json", "--root-key", token.uri("root"), "--targets-key", token.uri("targets"),
               "--snapshot-key", "snapshot.pem.pub", "--timestamp-key", "timestamp.pem.pub").code == 0
    # (The PIN in the URI here only to show that the repository does not keep it.)
    r = run(capsys, "repo", "init", "repo", "--root", "root.json", "--targets-key", token.uri("targets", **{"pin-value": token.pin}),
            "--snapshot-key", "snapshot.pem", "--timestamp-key", "timestamp.pem")
    assert r.code == 0, r.err
    (tmp_path / "app.bin").write_bytes(appbuilder.build(version="1.0.0"))
    assert run(capsys, "sign", "--key", token.uri("targets"), "--version", "1.0.0", "--security-version", 1,
               "--board", "esp32-4mb", "app.bin", "-o", "app.mpb").code == 0
    # The repository remembers the token key by its URI (never the PIN): no --targets-key needed.
    assert token.pin not in (tmp_path / "repo" / "mpboot-repo.json").read_text()
    r = run(capsys, "publish", "repo", "app.mpb", "--channel", "stable", "--json")
    assert r.code == 0, r.err
    target = json.loads(r.out)["target"]
    assert run(capsys, "repo", "status", "repo").code == 0
    keygen(capsys, token.uri("stranger"), key_type)
    line = fails(capsys, "repo", "renew", "repo", "--role", "targets", "--targets-key",
                 token.uri("stranger", **{"pin-value": token.pin}), match="is not a targets key of this repository")
    assert line.startswith("mpboot: error: %s is not" % token.uri("stranger")) and token.pin not in line
    # python-tuf, the reference client.
    u = updater(tmp_path / "client", (tmp_path / "root.json").read_bytes(), "http://repo.invalid/", DirFetcher(tmp_path / "repo"))
    u.refresh()
    info = u.get_targetinfo(target)
    assert info is not None
    # The device's client over the same files, then the image check it runs before installing.
    meta = tmp_path / "repo" / "metadata"
    trusted = tuf.TrustedSet((tmp_path / "root.json").read_bytes(), int(datetime.now(timezone.utc).timestamp()))
    trusted.update_timestamp((meta / "timestamp.json").read_bytes())
    version = trusted.timestamp["meta"]["snapshot.json"]["version"]
    trusted.update_snapshot((meta / ("%d.snapshot.json" % version)).read_bytes())
    version = trusted.snapshot["meta"]["targets.json"]["version"]
    trusted.update_targets((meta / ("%d.targets.json" % version)).read_bytes())
    assert target in trusted.targets["targets"]
    data = (tmp_path / "app.mpb").read_bytes()
    image.verify_slot(BytesDevice(data), trust.load_root((tmp_path / "root.json").read_bytes()), board="esp32-4mb")


# -- every way a token can be wrong: one line, exit 1, nothing written ---------------------------

def test_token_errors_are_one_clear_line_and_write_nothing(token, capsys, tmp_path, monkeypatch):
    keygen(capsys, token.uri("release"), "ed25519")
    (tmp_path / "app.bin").write_bytes(appbuilder.build(version="1.0.0"))
    out = tmp_path / "app.mpb"

    def sign_fails(uri, match):
        fails(capsys, "sign", "--key", uri, "--version", "1.0.0", "--security-version", 1, "--board", "esp32-4mb",
              tmp_path / "app.bin", "-o", out, match=match)
        assert not out.exists()
        fails(capsys, "root", "init", tmp_path / "root.json", "--root-key", uri, "--targets-key", uri, match=match)
        assert not (tmp_path / "root.json").exists()

    sign_fails(token.uri("release").replace(token.label, "absent"),
               "no PKCS#11 token labelled 'absent' in %s (tokens there: '%s')" % (token.module, token.label))
    sign_fails(token.uri("release").replace("token=", "serial=0000;token="),
               "no PKCS#11 token labelled '%s' serial '0000' in %s" % (token.label, token.module))
    sign_fails(token.uri("nothing"), "no private key labelled 'nothing' in PKCS#11 token '%s' (its private keys: "
               "'release')" % token.label)
    sign_fails(token.uri("release", **{"module-path": tmp_path / "none.so"}),
               "PKCS#11 module %s not found" % (tmp_path / "none.so"))
    (tmp_path / "junk.so").write_bytes(b"not a shared object")
    sign_fails(token.uri("release", **{"module-path": tmp_path / "junk.so"}),
               "%s is not a usable PKCS#11 module" % (tmp_path / "junk.so"))
    sign_fails(token.uri("release").replace("object=", "label="), "unknown attribute 'label'")
    monkeypatch.setenv(hsm.PIN_ENV, "999999")
    sign_fails(token.uri("release"), "wrong PIN for PKCS#11 token '%s'" % token.label)
    fails(capsys, "keygen", token.uri("new"), match="wrong PIN for PKCS#11 token '%s'" % token.label)
    assert token.session().findObjects([(PyKCS11.CKA_LABEL, "new")]) == []
    monkeypatch.delenv(hsm.PIN_ENV)
    sign_fails(token.uri("release"), "PKCS#11 token '%s' needs its user PIN: export %s=PIN" % (token.label, hsm.PIN_ENV))
    # The PIN in the URI works (docs/keys.md says why the variable is better), and is never shown.
    r = run(capsys, "pubkey", token.uri("release", **{"pin-value": token.pin}), "--protection")
    assert r.code == 0 and token.pin not in r.out, r.err
    line = fails(capsys, "pubkey", token.uri("absent", **{"pin-value": token.pin}), "--protection")
    assert token.pin not in line


def test_a_uri_copied_from_p11tool_names_the_token_by_its_fields(token, capsys):
    made = keygen(capsys, token.uri("release"), "ecdsa")
    info = token.session().keep_lib.getTokenInfo(
        next(s for s in token.session().keep_lib.getSlotList(tokenPresent=True)
             if token.session().keep_lib.getTokenInfo(s).label.strip() == token.label))
    uri = "pkcs11:model=%s;manufacturer=%s;serial=%s;token=%s;object=release;type=private" % tuple(
        quote(v.strip(), safe="") for v in (info.model, info.manufacturerID, info.serialNumber, info.label))
    r = run(capsys, "pubkey", uri, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["keyid"] == made["keyid"]


def test_on_a_terminal_the_pin_is_asked_for(token, capsys, monkeypatch):
    """A real pseudo-terminal: mpboot asks once, reads the PIN without echo, and signs."""
    made = keygen(capsys, token.uri("release"), "ecdsa")
    monkeypatch.delenv(hsm.PIN_ENV)
    pid, fd = pty.fork()
    if pid == 0:  # the child: mpboot on the terminal
        os.execv(sys.executable, [sys.executable, "-m", "mpboot", "pubkey", token.uri("release"), "--protection", "--json"])
    screen = b""
    while b"PIN for PKCS#11 token '%s': " % token.label.encode() not in screen:
        screen += os.read(fd, 1024)
    os.write(fd, token.pin.encode() + b"\n")
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    assert os.waitpid(pid, 0)[1] == 0, screen
    assert token.pin.encode() not in screen  # not echoed
    out = screen.decode().split("': ", 1)[1]
    assert json.loads(out[out.index("{"):])["keyid"] == made["keyid"]
    assert screen.count(b"PIN for") == 1


def test_without_pykcs11_a_uri_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "PyKCS11", None)  # as when the hsm extra is not installed
    fails(capsys, "pubkey", "pkcs11:token=t;object=k", match="pkcs11: keys need PyKCS11, which is not installed: "
          "pip install 'mpboot[hsm]'")
    assert run(capsys, "keygen", tmp_path / "file.pem").code == 0  # key files need nothing more


def test_keygen_in_a_token_never_replaces_a_key(token, capsys):
    first = keygen(capsys, token.uri("release"), "ed25519")
    fails(capsys, "keygen", token.uri("release"), "--type", "ecdsa",
          match="already holds a key labelled 'release': choose another object=")
    fails(capsys, "keygen", token.uri("other"), "--force", match="--force does not apply to a token key")
    session = token.session()
    assert len(session.findObjects([(PyKCS11.CKA_LABEL, "release")])) == 2  # the first pair, alone
    assert session.findObjects([(PyKCS11.CKA_LABEL, "other")]) == []
    assert SSlibKey.from_crypto(public_from_token(session, "release")).keyid == first["keyid"]


def test_a_public_key_object_of_another_pair_is_refused_before_signing(token, capsys, tmp_path):
    """The halves are found by label and id: a public object that belongs to another key pair
    (relabelled, or a second pair with the same names) must not produce unverifiable signatures."""
    keygen(capsys, token.uri("a"), "ed25519")
    keygen(capsys, token.uri("b"), "ed25519")
    session = token.session()
    a_id = bytes(session.getAttributeValue(private_handle(session, "a"), [PyKCS11.CKA_ID], allAsBinary=True)[0])
    (a_public,) = session.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY), (PyKCS11.CKA_LABEL, "a")])
    (b_public,) = session.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY), (PyKCS11.CKA_LABEL, "b")])
    session.destroyObject(a_public)
    session.setAttributeValue(b_public, [(PyKCS11.CKA_LABEL, "a"), (PyKCS11.CKA_ID, tuple(a_id))])
    (tmp_path / "app.bin").write_bytes(appbuilder.build(version="1.0.0"))
    fails(capsys, "sign", "--key", token.uri("a"), "--version", "1.0.0", "--security-version", 1, "--board", "esp32-4mb",
          tmp_path / "app.bin", "-o", tmp_path / "app.mpb",
          match="the token's private key does not match its public key object")
    assert not (tmp_path / "app.mpb").exists()


def test_a_public_key_is_read_without_the_pin(token, capsys, tmp_path, monkeypatch):
    made = keygen(capsys, token.uri("release"), "ecdsa")
    monkeypatch.delenv(hsm.PIN_ENV)
    r = run(capsys, "pubkey", token.uri("release"), "-o", tmp_path / "release.pub", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["keyid"] == made["keyid"]
    written = serialization.load_pem_public_key((tmp_path / "release.pub").read_bytes())
    assert SSlibKey.from_crypto(written).keyid == made["keyid"]
    assert keys.tuf_key(keys.load_public_key(tmp_path / "release.pub")).keyid == made["keyid"]


@pytest.mark.parametrize("uri,match", [
    ("pkcs11:object=x", "names no token: add token=LABEL"),
    ("pkcs11:token=t", "names no key: add object=LABEL"),
    ("pkcs11:token=t;object=x;object=y", "object given twice"),
    ("pkcs11:token=t;object=x;type=secret-key", "type=secret-key does not name a key pair half"),
    ("pkcs11:token=t;object=x?pin-source=file:/p", "unknown attribute 'pin-source'"),
])
def test_uris_that_do_not_name_one_key_are_refused(uri, match):
    with pytest.raises(hsm.MpbootError, match=match):
        hsm.TokenURI(uri)


def test_uri_parts_are_percent_decoded():
    uri = hsm.TokenURI("pkcs11:token=My%20Token;object=release%3Bkey;id=%01%ff?module-path=/usr/lib/x.so&pin-value=1%262")
    assert (uri.token, uri.object, uri.id, uri.module, uri.pin) == ("My Token", "release;key", b"\x01\xff", "/usr/lib/x.so", "1&2")
    assert str(uri) == "pkcs11:token=My%20Token;object=release%3Bkey;id=%01%ff"  # no PIN, ever
    assert uri.shareable() == str(uri) + "?module-path=/usr/lib/x.so"
    assert hsm.TokenURI(uri.shareable()).module == "/usr/lib/x.so"
