"""ECDSA P-256 on the device: random and edge-case signatures, public key parsing, roots mixing
Ed25519 and ECDSA keys, and images signed by a P-256 key (r || s in the manifest's slot).

The data files come from tests/test_p256_crosscheck.py, which regenerates them from fixed seeds
with cryptography (every signature verdict) and python-tuf (every root verdict) and checks they
still match.
"""

import json
import struct
from binascii import unhexlify

import devtest
from devtest import data_path
from mpboot_fw import image, p256, trust
from mpboot_fw.blockdev import BytesDevice
from mpboot_fw.image import ImageError


def _load(name):
    with open(data_path(name)) as f:
        return json.load(f)


def _flipped(data, bit):
    out = bytearray(data)
    out[bit >> 3] ^= 1 << (bit & 7)
    return bytes(out)


def _accepts(pk, msg, sig, encoding):
    return p256.verify(pk, msg, p256.decode_der(sig) if encoding == "der" else p256.decode_raw(sig))


def test_random_signatures():
    for i, (pk, msg, sig, valid) in enumerate(_load("p256_random.json")):
        pk, msg, sig = unhexlify(pk), unhexlify(msg), unhexlify(sig)
        assert _accepts(pk, msg, sig, "der") is valid, i
        if valid:
            # One flipped bit in r's and in s's last byte, in the key's x and y, in the message.
            for bit in (8 * (4 + sig[3]) - 1, 8 * len(sig) - 1):
                assert _accepts(pk, msg, _flipped(sig, bit), "der") is False, (i, bit)
            for bit in (8 * 32, 8 * 64 + 3):
                assert _accepts(_flipped(pk, bit), msg, sig, "der") is False, (i, bit)
            assert _accepts(pk, _flipped(msg, 0) if msg else b"\x00", sig, "der") is False, i


def test_edge_cases():
    # r, s at 0, 1, n - 1, n and above; high s; every DER rule broken once; x(R) >= n; a sum
    # at infinity; keys that are small multiples of G (exceptional additions).
    for case in _load("p256_edge.json"):
        pk, msg, sig = (unhexlify(case[k]) for k in ("public_key", "message", "signature"))
        assert _accepts(pk, msg, sig, case["encoding"]) is case["valid"], case["name"]


def test_the_der_decoder_gives_r_and_s():
    case = _load("p256_edge.json")[0]
    assert case["name"] == "valid signature"
    raw = unhexlify(_load("p256_edge.json")[2]["signature"])
    rs = p256.decode_der(unhexlify(case["signature"]))
    assert rs == p256.decode_raw(raw)
    assert rs == (int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def test_verify_refuses_what_no_decoder_returns():
    case = _load("p256_edge.json")[0]
    pk, msg = unhexlify(case["public_key"]), unhexlify(case["message"])
    r, s = p256.decode_der(unhexlify(case["signature"]))
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    assert p256.verify(pk, msg, (r, s)) is True
    for rs in (None, (0, s), (r, 0), (r + n, s), (r, s + n), (r, s - n)):
        assert p256.verify(pk, msg, rs) is False, rs
    assert p256.verify(pk[:64], msg, (r, s)) is False
    assert p256.verify(b"\x03" + pk[1:], msg, (r, s)) is False


def test_public_keys():
    for case in _load("p256_keys.json"):
        key = p256.public_key_from_pem(case["pem"])
        expected = None if case["public_key"] is None else unhexlify(case["public_key"])
        assert key == expected, case["name"]
    assert p256.public_key_from_pem(None) is None
    assert p256.public_key_from_pem(b"-----BEGIN PUBLIC KEY-----\n") is None


def test_roots_mixing_ed25519_and_ecdsa_keys():
    # Root and targets roles: one Ed25519 and one ECDSA key, threshold 2.
    for case in _load("p256_trust.json")["roots"]:
        data = case["root"].encode()
        if case["valid"]:
            root = trust.load_root(data)
            assert sorted(len(k) for k in root.keys.values()) == [32, 65], case["name"]
        else:
            e = devtest.raises(trust.TrustError, trust.load_root, data)
            assert str(e) == "threshold: 1 of 2 root signatures", (case["name"], str(e))


def _mixed_root():
    return trust.load_root(_load("p256_trust.json")["roots"][0]["root"].encode())


def test_a_bad_ecdsa_key_fails_the_root_closed():
    doc = json.loads(_load("p256_trust.json")["roots"][0]["root"])
    keys = doc["signed"]["keys"]
    for case in _load("p256_keys.json"):
        if case["public_key"] is None:
            obj = {"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256", "keyval": {"public": case["pem"]}}
            e = devtest.raises(trust.TrustError, trust.parse_keys, {trust.keyid_of(obj): obj}, "root")
            assert str(e) == "root: bad ecdsa key", case["name"]
    # A scheme the device does not verify is skipped, like any other key type: never counted.
    obj = {"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp384", "keyval": {"public": "x"}}
    assert trust.parse_keys({trust.keyid_of(obj): obj}, "root") == {}
    parsed = trust.parse_keys(keys, "root")
    assert sorted(len(k) for k in parsed.values()) == [32, 65]


def test_check_key_points_checks_both_key_types():
    root = _mixed_root()
    trust.check_key_points(root.keys, "root")
    keyid = [k for k in sorted(root.keys) if len(root.keys[k]) == 65][0]
    bad = dict(root.keys)
    bad[keyid] = root.keys[keyid][:64] + bytes([root.keys[keyid][64] ^ 1])
    e = devtest.raises(trust.TrustError, trust.check_key_points, bad, "targets x")
    assert str(e) == "targets x: key %s is not a P-256 point" % keyid[:16]


def test_the_signature_encoding_comes_from_its_source_not_its_length():
    # The same r || s bytes verify from an image slot and never as metadata (which is DER).
    root = _mixed_root()
    entries = _load("p256_trust.json")["image_entries"]
    keyid, sig = entries["ecdsa"]
    signed = image.read_manifest(BytesDevice(_read("image.mpb"))).signed
    role = ((keyid,), 1)
    trust.verify_role(root.keys, role, signed, {keyid: trust.SlotSignature(unhexlify(sig))}, "targets")
    e = devtest.raises(trust.TrustError, trust.verify_role, root.keys, role, signed, {keyid: unhexlify(sig)}, "targets")
    assert str(e) == "threshold: 0 of 1 targets signatures"


def _read(name):
    with open(data_path(name), "rb") as f:
        return f.read()


def _image_signed_by(*names):
    """image.mpb with its signatures replaced by the named entries of p256_trust.json."""
    data = _read("image.mpb")
    m = image.read_manifest(BytesDevice(data))
    entries = _load("p256_trust.json")["image_entries"]
    out = bytearray(data[:m.offset + image.SIGNED_SIZE])
    out += struct.pack(image.COUNT_FORMAT, len(names), 0)
    for name in names:
        keyid, sig = entries[name]
        out += unhexlify(keyid) + unhexlify(sig)
    return bytes(out)


def test_images_signed_by_a_p256_key():
    root = _mixed_root()  # targets: the Ed25519 and the ECDSA key, threshold 2
    for names in (("ed25519", "ecdsa"), ("ecdsa", "ed25519"), ("ecdsa high s", "ed25519")):
        assert image.verify_slot(BytesDevice(_image_signed_by(*names)), root).version == "1.2.3", names
    for names in (("ecdsa",), ("ed25519",), ("ecdsa s = 0", "ed25519")):
        e = devtest.raises(ImageError, image.verify_slot, BytesDevice(_image_signed_by(*names)), root)
        assert e.reason == "signature-threshold" and str(e) == "signature-threshold: 1 of 2 targets signatures", names
    e = devtest.raises(ImageError, image.verify_slot, BytesDevice(_image_signed_by("ecdsa", "ecdsa high s")), root)
    assert e.reason == "duplicate-signature"
