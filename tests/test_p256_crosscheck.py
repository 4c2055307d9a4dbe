"""The device's ECDSA P-256 verify against `cryptography` (OpenSSL), and its TUF verdicts on
ECDSA-signed metadata against python-tuf's client (CPython only).

This module also generates the data files tests/device/test_p256.py reads (tests/device/data/
p256_*.json) from fixed seeds, with deterministic (RFC 6979) signatures: the tests below
regenerate them and require the committed files to match, and every verdict in them is what
cryptography or python-tuf says. To rewrite them after changing a generator:

    .venv/bin/python tests/test_p256_crosscheck.py --write
"""

import base64
import hashlib
import json
import os
import random
import sys
from datetime import timedelta
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import Signature, SSlibKey
from tuf.api.exceptions import RepositoryError
from tuf.api.metadata import Metadata, Root
from tuf.api.serialization.json import CanonicalJSONSerializer, JSONSerializer
from tuf.ngclient._internal.trusted_metadata_set import TrustedMetadataSet
from tuf.ngclient.config import EnvelopeType

from mpboot_fw import image, p256, trust, tuf
from mpboot_fw.blockdev import BytesDevice
from tufrepo import NOW, Repo, fixed_key, unix

DATA = Path(__file__).resolve().parent / "device" / "data"
RANDOM_FILE = DATA / "p256_random.json"
EDGE_FILE = DATA / "p256_edge.json"
KEYS_FILE = DATA / "p256_keys.json"
TRUST_FILE = DATA / "p256_trust.json"
RANDOM_SEED = 25619
RANDOM_COUNT = 48

P = 2**256 - 2**224 + 2**192 + 2**96 - 1
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
G = (0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
     0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5)
SHA256 = ec.ECDSA(hashes.SHA256())
DETERMINISTIC = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
EDGE_MESSAGE = b"mpboot p256 edge case"


# -- oracles and helpers ----------------------------------------------------------------------
def key_from_seed(label):
    return ec.derive_private_key(int.from_bytes(hashlib.sha256(b"mpboot p256 " + label.encode()).digest(), "big") % (N - 1) + 1,
                                 ec.SECP256R1())


def x962(public_key):
    return public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def pem(public_key):
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def cryptography_accepts(pk, msg, der):
    """OpenSSL's verdict on DER signature bytes as they are."""
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pk).verify(der, msg, SHA256)
        return True
    except (InvalidSignature, ValueError):
        return False


def cryptography_accepts_raw(pk, msg, raw):
    """OpenSSL's verdict on a 64-byte r || s (IEEE P1363): in range, then the DER of (r, s)."""
    if len(raw) != 64:
        return False
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    if not (0 < r < N and 0 < s < N):
        return False  # OpenSSL refuses these too; encode_dss_signature would only hide it
    return cryptography_accepts(pk, msg, encode_dss_signature(r, s))


def device_accepts(pk, msg, sig, encoding):
    return p256.verify(pk, msg, p256.decode_der(sig) if encoding == "der" else p256.decode_raw(sig))


def raw_of(der):
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _der_int(value_bytes):
    return b"\x02" + bytes([len(value_bytes)]) + value_bytes


def _min_int(v):
    """Minimal DER INTEGER content of v >= 0."""
    b = v.to_bytes(33, "big").lstrip(b"\x00") or b"\x00"
    return b"\x00" + b if b[0] & 0x80 else b


def _seq(body):
    return b"\x30" + bytes([len(body)]) + body


def der(r, s):
    return _seq(_der_int(_min_int(r)) + _der_int(_min_int(s)))


# A plain affine P-256 (textbook formulas, pow for inverses): only to craft the edge cases
# the curve arithmetic must get right; every verdict still comes from cryptography.
def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and (a[1] + b[1]) % P == 0:
        return None
    if a == b:
        lam = (3 * a[0] * a[0] - 3) * pow(2 * a[1], P - 2, P) % P
    else:
        lam = (b[1] - a[1]) * pow(b[0] - a[0], P - 2, P) % P
    x = (lam * lam - a[0] - b[0]) % P
    return x, (lam * (a[0] - x) - a[1]) % P


def _mul(k, point):
    out = None
    while k:
        if k & 1:
            out = _add(out, point)
        point = _add(point, point)
        k >>= 1
    return out


def _encode_point(point):
    return b"\x04" + point[0].to_bytes(32, "big") + point[1].to_bytes(32, "big")


def _e(msg):
    return int.from_bytes(hashlib.sha256(msg).digest(), "big")


def _point_with_large_x():
    """A curve point whose x is at least n (x mod n != x: the r + n case of the check)."""
    x = N
    while True:
        rhs = (x * x * x - 3 * x + B) % P
        y = pow(rhs, (P + 1) // 4, P)  # p = 3 mod 4
        if y * y % P == rhs:
            return x, y
        x += 1


# -- random cases -----------------------------------------------------------------------------
KINDS = ("valid", "signature", "message", "key")


def random_case(rng, kind):
    """(public key, message, DER signature) for one random key; corrupted per `kind`."""
    key = ec.derive_private_key(rng.randrange(1, N), ec.SECP256R1())
    msg = rng.randbytes(rng.randrange(0, 200))
    sig = key.sign(msg, DETERMINISTIC)
    pk = x962(key.public_key())
    if kind == "signature":
        sig = bytearray(sig)
        sig[rng.randrange(4, len(sig))] ^= 1 << rng.randrange(8)
        sig = bytes(sig)
    elif kind == "message":
        msg = msg + b"\x00" if not msg else bytes([msg[0] ^ 1]) + msg[1:]
    elif kind == "key":
        pk = x962(ec.derive_private_key(rng.randrange(1, N), ec.SECP256R1()).public_key())
    return pk, msg, sig


def random_cases(seed=RANDOM_SEED, count=RANDOM_COUNT):
    rng = random.Random(seed)
    out = []
    for i in range(count):
        pk, msg, sig = random_case(rng, KINDS[i % len(KINDS)])
        out.append([pk.hex(), msg.hex(), sig.hex(), cryptography_accepts(pk, msg, sig)])
    return out


# -- edge cases -------------------------------------------------------------------------------
def edge_cases():
    """Signatures at every boundary of the range and the DER rules, with OpenSSL's verdict."""
    out = []

    def add(name, pk, msg, sig, encoding="der"):
        valid = cryptography_accepts(pk, msg, sig) if encoding == "der" else cryptography_accepts_raw(pk, msg, sig)
        out.append({"name": name, "public_key": pk.hex(), "message": msg.hex(), "signature": sig.hex(),
                    "encoding": encoding, "valid": valid})

    key = key_from_seed("edge")
    pk = x962(key.public_key())
    msg = EDGE_MESSAGE
    good = key.sign(msg, DETERMINISTIC)
    r, s = decode_dss_signature(good)
    add("valid signature", pk, msg, good)
    add("high s (n - s)", pk, msg, der(r, N - s))
    add("valid r || s", pk, msg, raw_of(good), "raw")
    add("high s as r || s", pk, msg, r.to_bytes(32, "big") + (N - s).to_bytes(32, "big"), "raw")
    for name, rr, ss in (("r = 0", 0, s), ("s = 0", r, 0), ("r = n", N, s), ("s = n", r, N),
                         ("r = n - 1", N - 1, s), ("s = n - 1", r, N - 1), ("r = 1", 1, s),
                         ("r + n", r + N, s), ("s + n", r, s + N), ("r = 2^256 - 1", 2**256 - 1, s)):
        if rr < 2**256 and ss < 2**256:
            add(name, pk, msg, der(rr, ss))
            add(name + " as r || s", pk, msg, rr.to_bytes(32, "big") + ss.to_bytes(32, "big"), "raw")
    # DER rules: each case is the valid signature with one rule broken.
    ri, si = _der_int(_min_int(r)), _der_int(_min_int(s))
    body = ri + si
    add("long-form SEQUENCE length", pk, msg, b"\x30\x81" + bytes([len(body)]) + body)
    add("long-form INTEGER length", pk, msg, _seq(b"\x02\x81" + bytes([len(_min_int(r))]) + _min_int(r) + si))
    add("extra zero byte before r", pk, msg, _seq(_der_int(b"\x00" + _min_int(r)) + si))
    add("extra zero byte before s", pk, msg, _seq(ri + _der_int(b"\x00" + _min_int(s))))
    add("indefinite length", pk, msg, b"\x30\x80" + body + b"\x00\x00")
    add("trailing byte after the SEQUENCE", pk, msg, good + b"\x00")
    add("trailing byte inside the SEQUENCE", pk, msg, _seq(body + b"\x00"))
    add("SEQUENCE length one short", pk, msg, b"\x30" + bytes([len(body) - 1]) + body)
    add("SET instead of SEQUENCE", pk, msg, b"\x31" + good[1:])
    add("BIT STRING instead of INTEGER", pk, msg, _seq(b"\x03" + ri[1:] + si))
    add("INTEGER of length 0", pk, msg, _seq(b"\x02\x00" + si))
    add("r only", pk, msg, _seq(ri))
    add("empty", pk, msg, b"")
    add("r || s where DER is expected", pk, msg, raw_of(good))
    add("DER where r || s is expected", pk, msg, good, "raw")
    add("r || s one byte short", pk, msg, raw_of(good)[:63], "raw")
    # Negative INTEGERs: a signature whose r (and one whose s) has its top bit set, written
    # without the zero byte the sign needs.
    for which in (0, 1):
        i = 0
        while True:
            m = msg + bytes([i])
            rr, ss = decode_dss_signature(key.sign(m, DETERMINISTIC))
            if (rr, ss)[which] >> 255:
                break
            i += 1
        bare = [_min_int(rr), _min_int(ss)]
        bare[which] = bare[which][1:]
        add("negative " + "rs"[which] + " (sign bit set, no zero byte)", pk, m, _seq(_der_int(bare[0]) + _der_int(bare[1])))
    # The curve arithmetic's corners. x(R) >= n, so r = x(R) - n: Q = (sR - eG) / r.
    big = _point_with_large_x()
    rr, ss = big[0] - N, 12345
    q = _mul(pow(rr, N - 2, N), _add(_mul(ss, big), _mul(N - _e(msg) % N, G)))
    add("x(R) >= n: r = x(R) - n", _encode_point(q), msg, der(rr, ss))
    add("x(R) >= n: r = x(R)", _encode_point(q), msg, der(big[0], ss))
    # u1 G + u2 Q is the point at infinity: Q = dG with e + r d = 0 (mod n), any s.
    d = (N - _e(msg)) * pow(r, N - 2, N) % N
    add("u1 G + u2 Q = infinity", x962(ec.derive_private_key(d, ec.SECP256R1()).public_key()), msg, der(r, s))
    # Keys that are small multiples of G, and -G: table points equal or opposite to the sum.
    for d in (1, 2, 3, N - 1, N - 2):
        k = ec.derive_private_key(d, ec.SECP256R1())
        add("key %sG" % (d if d < N // 2 else "-%d" % (N - d)), x962(k.public_key()), msg, k.sign(msg, DETERMINISTIC))
    add("wrong key", x962(key_from_seed("other").public_key()), msg, good)
    add("wrong message", pk, msg + b"!", good)
    return out


# -- public keys --------------------------------------------------------------------------------
def _pem_of(spki, line=64, newline="\n", final=True):
    b64 = base64.b64encode(spki).decode()
    lines = [b64[i:i + line] for i in range(0, len(b64), line)]
    text = "-----BEGIN PUBLIC KEY-----" + newline + newline.join(lines) + newline + "-----END PUBLIC KEY-----"
    return text + newline if final else text


SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")


def key_cases():
    """PEM texts with the device's verdict (None: refused) and what cryptography loads."""
    key = key_from_seed("keys")
    pub = key.public_key()
    point = x962(pub)
    x, y = int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big")
    # A point with x < 2^256 - p, so that x + p still fits in 32 bytes.
    small = 1
    while pow((small ** 3 - 3 * small + B) % P, (P - 1) // 2, P) != 1:
        small += 1
    small_y = pow((small ** 3 - 3 * small + B) % P, (P + 1) // 4, P)
    compressed_point = pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    out = []

    def add(name, text, valid):
        out.append({"name": name, "pem": text, "public_key": point.hex() if valid else None})

    add("as cryptography writes it", pem(pub), True)
    add("compressed point", _pem_of(bytes.fromhex("3039301306072a8648ce3d020106082a8648ce3d030107032200") + compressed_point), False)
    out.append({"name": "a point with a small x", "pem": _pem_of(SPKI_PREFIX + _encode_point((small, small_y))),
                "public_key": _encode_point((small, small_y)).hex()})
    add("the same point with x + p", _pem_of(SPKI_PREFIX + b"\x04" + (small + P).to_bytes(32, "big") + small_y.to_bytes(32, "big")),
        False)
    add("not on the curve", _pem_of(SPKI_PREFIX + b"\x04" + x.to_bytes(32, "big") + ((y + 1) % P).to_bytes(32, "big")), False)
    add("(0, 0)", _pem_of(SPKI_PREFIX + b"\x04" + bytes(64)), False)
    add("point at infinity", _pem_of(bytes.fromhex("3019301306072a8648ce3d020106082a8648ce3d030107030200") + b"\x00"), False)
    add("secp256k1 OID", _pem_of(bytes.fromhex("3056301006072a8648ce3d020106052b8104000a034200") + point), False)
    p384 = ec.derive_private_key(7, ec.SECP384R1()).public_key()
    add("a P-384 key", pem(p384), False)
    add("CRLF line ends", _pem_of(SPKI_PREFIX + point, newline="\r\n"), False)
    add("no final newline", _pem_of(SPKI_PREFIX + point, final=False), False)
    add("76-character lines", _pem_of(SPKI_PREFIX + point, line=76), False)
    add("one line", _pem_of(SPKI_PREFIX + point, line=200), False)
    add("text after the end", pem(pub) + "\n", False)
    add("BEGIN EC PUBLIC KEY", pem(pub).replace("PUBLIC KEY", "EC PUBLIC KEY"), False)
    add("trailing byte in the SPKI", _pem_of(b"\x30\x5a" + SPKI_PREFIX[2:] + point + b"\x00"), False)
    add("not base64", pem(pub).replace("M", "*", 1), False)
    add("empty", "", False)
    return out


# -- TUF metadata and images -----------------------------------------------------------------
def _sign_md(md, signers):
    """Sign python-tuf Metadata deterministically: ECDSA by RFC 6979, Ed25519 by its nature."""
    md.signatures.clear()
    message = CanonicalJSONSerializer().serialize(md.signed)
    for private_key in signers:
        public = SSlibKey.from_crypto(private_key.public_key()).keyval["public"]
        keyid = [k for k, v in md.signed.keys.items() if v.keyval["public"] == public][0]
        if isinstance(private_key, Ed25519PrivateKey):
            sig = private_key.sign(message)
        else:
            sig = private_key.sign(message, DETERMINISTIC)
        md.signatures[keyid] = Signature(keyid, sig.hex())
    return md


def _mixed_root(legacy=False):
    """Root metadata whose root and targets roles are one Ed25519 and one ECDSA key, threshold 2."""
    root = Root(expires=NOW + timedelta(days=365), consistent_snapshot=True)
    ed, ec_key = fixed_key("mixed-ed25519"), key_from_seed("mixed-ecdsa")
    for role in ("root", "targets"):
        for private_key in (ed, ec_key):
            tuf_key = SSlibKey.from_crypto(private_key.public_key())
            if legacy and tuf_key.keytype == "ecdsa":
                tuf_key = SSlibKey(tuf_key.keyid, "ecdsa-sha2-nistp256", tuf_key.scheme, tuf_key.keyval)
                tuf_key = SSlibKey(_keyid(tuf_key), tuf_key.keytype, tuf_key.scheme, tuf_key.keyval)
            root.add_key(tuf_key, role)
        root.roles[role].threshold = 2
    for role in ("snapshot", "timestamp"):
        root.add_key(SSlibKey.from_crypto(ed.public_key()), role)
    return Metadata(root), ed, ec_key


def _keyid(tuf_key):
    return hashlib.sha256(encode_canonical(tuf_key.to_dict()).encode()).hexdigest()


def _bytes(md):
    return md.to_bytes(JSONSerializer(compact=True))


def trust_cases():
    """Roots mixing an Ed25519 and an ECDSA key (threshold 2), python-tuf's verdict on each, and
    image signatures for tests/device/data/image.mpb's manifest by the same two keys."""
    roots = []
    md, ed, ec_key = _mixed_root()
    ec_keyid = SSlibKey.from_crypto(ec_key.public_key()).keyid
    ed_keyid = SSlibKey.from_crypto(ed.public_key()).keyid

    def add(name, md):
        data = _bytes(md)
        roots.append({"name": name, "root": data.decode(), "valid": _tuf_accepts(data)})

    add("both sign", _sign_md(md, [ed, ec_key]))
    add("only the Ed25519 key signs", _sign_md(md, [ed]))
    add("only the ECDSA key signs", _sign_md(md, [ec_key]))
    both = _sign_md(md, [ed, ec_key])
    r, s = decode_dss_signature(bytes.fromhex(both.signatures[ec_keyid].signature))
    both.signatures[ec_keyid] = Signature(ec_keyid, der(r, N - s).hex())
    add("ECDSA signature with high s", both)
    both = _sign_md(md, [ed, ec_key])
    both.signatures[ec_keyid] = Signature(ec_keyid, (r.to_bytes(32, "big") + s.to_bytes(32, "big")).hex())
    add("ECDSA signature as r || s", both)
    both.signatures[ec_keyid] = Signature(ec_keyid, _seq(_der_int(b"\x00" + _min_int(r)) + _der_int(_min_int(s))).hex())
    add("ECDSA signature with an extra zero byte", both)
    legacy, _, _ = _mixed_root(legacy=True)
    add("legacy keytype ecdsa-sha2-nistp256", _sign_md(legacy, [ed, ec_key]))
    m = image.read_manifest(BytesDevice((DATA / "image.mpb").read_bytes()))
    signed = m.signed
    ec_raw = raw_of(ec_key.sign(signed, DETERMINISTIC))
    entries = {"ed25519": [ed_keyid, ed.sign(signed).hex()], "ecdsa": [ec_keyid, ec_raw.hex()],
               "ecdsa high s": [ec_keyid, (ec_raw[:32] + (N - int.from_bytes(ec_raw[32:], "big")).to_bytes(32, "big")).hex()],
               "ecdsa s = 0": [ec_keyid, (ec_raw[:32] + bytes(32)).hex()]}
    return {"roots": roots, "image_entries": entries}


def _tuf_accepts(data):
    try:
        TrustedMetadataSet(data, EnvelopeType.METADATA)
        return True
    except (RepositoryError, ValueError, KeyError, TypeError):
        return False


def render(obj):
    return json.dumps(obj, indent=1) + "\n"


# -- tests ------------------------------------------------------------------------------------
def test_data_files_match_their_generators():
    for path, make in ((RANDOM_FILE, random_cases), (EDGE_FILE, edge_cases), (KEYS_FILE, key_cases),
                       (TRUST_FILE, trust_cases)):
        assert path.read_text() == render(make()), "%s: run this module with --write" % path.name


def test_random_data_file_covers_each_kind_and_both_answers():
    cases = random_cases()
    assert sum(c[3] for c in cases) == RANDOM_COUNT // len(KINDS)


def test_edge_cases_agree_with_openssl():
    cases = edge_cases()
    for c in cases:
        pk, msg, sig = (bytes.fromhex(c[k]) for k in ("public_key", "message", "signature"))
        assert device_accepts(pk, msg, sig, c["encoding"]) is c["valid"], c["name"]
    valid = [c["name"] for c in cases if c["valid"]]
    # OpenSSL has no low-s rule and refuses every non-canonical DER encoding, like the device.
    assert valid == ["valid signature", "high s (n - s)", "valid r || s", "high s as r || s",
                     "x(R) >= n: r = x(R) - n", "key 1G", "key 2G", "key 3G", "key -1G", "key -2G"], valid


def test_the_der_decoder_refuses_exactly_the_non_canonical_encodings():
    """decode_der returns (r, s) only when re-encoding them minimally gives the same bytes."""
    for c in edge_cases():
        sig = bytes.fromhex(c["signature"])
        if c["encoding"] == "der":
            rs = p256.decode_der(sig)
            if rs is not None:
                assert der(*rs) == sig, c["name"]
                assert 0 < rs[0] < N and 0 < rs[1] < N


def test_the_table_of_g_multiples_is_what_openssl_computes():
    # The device's constant table: [1, 3, .., 63]G affine, x then y, 32 bytes big-endian each;
    # OpenSSL's public key of private scalar k is [k]G.
    table = p256._G_TABLE
    assert len(table) == 64 << (p256._WG - 2)
    for i in range(len(table) // 64):
        want = ec.derive_private_key(2 * i + 1, ec.SECP256R1()).public_key().public_numbers()
        got = (int.from_bytes(table[64 * i : 64 * i + 32], "big"), int.from_bytes(table[64 * i + 32 : 64 * i + 64], "big"))
        assert got == (want.x, want.y), "entry %d ([%d]G)" % (i, 2 * i + 1)


def test_key_parsing_is_cryptography_or_stricter():
    """A PEM the device reads is one cryptography loads to the same point; what the device
    refuses and cryptography loads is only a compressed point or a non-canonical PEM text."""
    laxer = []
    for c in key_cases():
        device = p256.public_key_from_pem(c["pem"])
        assert (device.hex() if device else None) == c["public_key"], c["name"]
        try:
            loaded = serialization.load_pem_public_key(c["pem"].encode())
            loaded = x962(loaded) if isinstance(loaded, ec.EllipticCurvePublicKey) and loaded.curve.name == "secp256r1" else None
        except ValueError:
            loaded = None
        if device is not None:
            assert loaded == device, c["name"]
        elif loaded is not None:
            laxer.append(c["name"])
    assert laxer == ["compressed point", "CRLF line ends", "no final newline", "76-character lines", "one line",
                     "text after the end"], laxer


def test_3000_random_signatures_agree_with_cryptography():
    seed = int.from_bytes(os.urandom(8), "little")
    rng = random.Random(seed)
    answers = {True: 0, False: 0}
    for i in range(3000):
        pk, msg, sig = random_case(rng, KINDS[i % len(KINDS)])
        expected = cryptography_accepts(pk, msg, sig)
        assert device_accepts(pk, msg, sig, "der") is expected, "seed %d case %d" % (seed, i)
        raw = raw_of(sig) if p256.decode_der(sig) else rng.randbytes(64)
        assert device_accepts(pk, msg, raw, "raw") is cryptography_accepts_raw(pk, msg, raw), "seed %d case %d raw" % (seed, i)
        answers[expected] += 1
    assert answers[True] == 750, answers


def _mutations(rng, sig):
    """Structural corruptions of a DER signature: a byte changed, dropped, inserted or
    duplicated; a length or a tag changed; a zero byte inserted after a tag and length."""
    b = bytearray(sig)
    kind = rng.randrange(6)
    i = rng.randrange(len(b))
    if kind == 0:
        b[i] = rng.randrange(256)
    elif kind == 1:
        del b[i]
    elif kind == 2:
        b.insert(i, rng.randrange(256))
    elif kind == 3:
        b[1] = (b[1] + rng.choice((-1, 1, 0x80))) & 255
    elif kind == 4:
        j = rng.choice((2, 4 + b[3]))
        if j < len(b):
            b[j + 1] += 1
            b.insert(j + 2, 0)
            b[1] += 1
    else:
        b += b[rng.randrange(len(b)):]
    return bytes(b)


def test_3000_corrupted_der_encodings_agree_with_cryptography():
    seed = int.from_bytes(os.urandom(8), "little")
    rng = random.Random(seed)
    key = key_from_seed("mutations")
    pk = x962(key.public_key())
    accepted = 0
    for i in range(3000):
        msg = rng.randbytes(16)
        sig = _mutations(rng, key.sign(msg, SHA256))
        expected = cryptography_accepts(pk, msg, sig)
        assert device_accepts(pk, msg, sig, "der") is expected, "seed %d case %d: %s" % (seed, i, sig.hex())
        accepted += expected
    assert accepted < 3000 // 6, accepted


def test_mixed_roots_agree_with_python_tuf():
    cases = trust_cases()["roots"]
    for c in cases:
        try:
            trust.load_root(c["root"].encode())
            device = True
        except trust.TrustError:
            device = False
        assert device is c["valid"], c["name"]
    assert [c["name"] for c in cases if c["valid"]] == [
        "both sign", "ECDSA signature with high s", "legacy keytype ecdsa-sha2-nistp256"]


# -- whole repositories: the device's TrustedSet against python-tuf's, ECDSA and mixed keys ----
def _ec_key(rng):
    return ec.derive_private_key(rng.randrange(1, N), ec.SECP256R1())


def _corrupt_ecdsa(rng, data, ecdsa_keyids):
    """Metadata bytes with one ECDSA signature changed in a way python-tuf may or may not accept:
    high s, r || s instead of DER, an extra zero byte, a flipped bit, or s = n. The signatures
    are told apart by their keys (an Ed25519 signature starts with "30" one time in 256)."""
    doc = json.loads(data)
    ecdsa = [e for e in doc["signatures"] if e["keyid"] in ecdsa_keyids]
    if not ecdsa:
        return data
    entry = rng.choice(ecdsa)
    r, s = decode_dss_signature(bytes.fromhex(entry["sig"]))
    choice = rng.randrange(5)
    if choice == 0:
        sig = der(r, N - s)
    elif choice == 1:
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif choice == 2:
        sig = _seq(_der_int(b"\x00" + _min_int(r)) + _der_int(_min_int(s)))
    elif choice == 3:
        sig = bytearray(bytes.fromhex(entry["sig"]))
        sig[rng.randrange(len(sig))] ^= 1 << rng.randrange(8)
    else:
        sig = der(r, N)
    entry["sig"] = bytes(sig).hex()
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def _verdict(fn, data):
    try:
        fn(data)
        return True
    except Exception:  # noqa: BLE001 - only whether it was accepted is compared here
        return False


def test_ecdsa_repositories_agree_with_python_tuf():
    """Random repositories whose roles hold ECDSA and Ed25519 keys in random mixes and
    thresholds, signed by random subsets, some signatures corrupted: each metadata file gets the
    same verdict from the device's tuf.TrustedSet as from python-tuf's TrustedMetadataSet."""
    seed = int.from_bytes(os.urandom(8), "little")
    rng = random.Random(seed)
    verdicts = {True: 0, False: 0}
    for n in range(40):
        repo = Repo()
        for role in ("root", "timestamp", "snapshot", "targets"):
            repo.remove_key(role, repo.signers[role][0])
            count = rng.randrange(1, 4)
            for _ in range(count):
                private_key = _ec_key(rng) if rng.random() < 0.7 else Ed25519PrivateKey.generate()
                repo.add_key(role, private_key, sign=rng.random() < 0.85)
            repo.root.roles[role].threshold = rng.randrange(1, count + 1)
        repo.root.version = 1
        repo.published = {role: [] for role in repo.published}
        root = repo.publish("root")
        ref_ok = _verdict(lambda d: TrustedMetadataSet(d, EnvelopeType.METADATA), root)
        dev_ok = _verdict(lambda d: tuf.TrustedSet(d, unix(NOW)), root)
        assert ref_ok is dev_ok, "seed %d repo %d root" % (seed, n)
        verdicts[ref_ok] += 1
        if not ref_ok:
            continue
        ref = TrustedMetadataSet(root, EnvelopeType.METADATA)
        ref.reference_time = NOW
        dev = tuf.TrustedSet(root, unix(NOW))
        repo.publish("targets")
        repo.snapshot.meta["targets.json"] = repo._metafile("targets")
        repo.publish("snapshot")
        repo.timestamp.snapshot_meta = repo._metafile("snapshot")
        repo.publish("timestamp")
        for role in ("timestamp", "snapshot", "targets"):
            data = repo.published[role][-1]
            if rng.random() < 0.4:
                data = _corrupt_ecdsa(rng, data, {k for k, key in repo.root.keys.items() if key.keytype != "ed25519"})
            ref_ok = _verdict(getattr(ref, "update_" + role), data)
            dev_ok = _verdict(getattr(dev, "update_" + role), data)
            assert ref_ok is dev_ok, "seed %d repo %d %s" % (seed, n, role)
            verdicts[ref_ok] += 1
            if not ref_ok:
                break
    assert verdicts[True] > 20 and verdicts[False] > 10, verdicts


def _ecdsa_repo(rng):
    """A repository made with python-tuf whose every role is signed by ECDSA P-256 keys only,
    as tuf-on-ci and KMS- or token-backed repositories are."""
    repo = Repo()
    for role in ("root", "timestamp", "snapshot", "targets"):
        repo.remove_key(role, repo.signers[role][0])
        repo.add_key(role, _ec_key(rng))
    repo.root.version = 1
    repo.published = {role: [] for role in repo.published}
    repo.publish_all()
    return repo


def test_an_ecdsa_repository_refreshes_as_with_ngclient(tmp_path):
    """Whole refreshes of an ECDSA-only repository by the device workflow (tufclient) and by
    python-tuf's ngclient: the same verdicts and the same files requested, through new targets,
    a root rotation to a mixed Ed25519 + ECDSA root role of threshold 2, a timestamp whose
    ECDSA signature has high s (accepted) and one with s = n (refused)."""
    from test_tuf_python_tuf_repos import Clients

    rng = random.Random(256)
    repo = _ecdsa_repo(rng)
    assert {k.keytype for k in repo.root.keys.values()} == {"ecdsa"}
    clients = Clients(repo, tmp_path)
    assert clients.refresh()[0] is None
    repo.add_target("board/app.bin", b"app")
    repo.publish_targets()
    assert clients.refresh()[0] is None
    repo.add_key("root", fixed_key("root-ed25519"))
    repo.root.roles["root"].threshold = 2
    repo.publish("root")
    assert clients.refresh()[0] is None
    doc = json.loads(repo.update_timestamp())
    (entry,) = doc["signatures"]
    r, s = decode_dss_signature(bytes.fromhex(entry["sig"]))
    entry["sig"] = der(r, N - s).hex()
    repo.published["timestamp"][-1] = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    assert clients.refresh()[0] is None
    # A newer timestamp whose signature has s = n: refused by both.
    doc = json.loads(repo.update_timestamp())
    (entry,) = doc["signatures"]
    r, s = decode_dss_signature(bytes.fromhex(entry["sig"]))
    entry["sig"] = der(r, N).hex()
    repo.published["timestamp"][-1] = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    error, _ = clients.refresh()
    assert error is not None and issubclass(error, tuf.BadSignature), error


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    for path, make in ((RANDOM_FILE, random_cases), (EDGE_FILE, edge_cases), (KEYS_FILE, key_cases),
                       (TRUST_FILE, trust_cases)):
        path.write_text(render(make()))
