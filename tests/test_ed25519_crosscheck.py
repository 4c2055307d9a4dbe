"""The device's Ed25519 verify against independent implementations (CPython only).

`cryptography` (OpenSSL) is the oracle for random signatures; libsodium (PyNaCl) is the oracle for
the strictness edge cases, because the device follows libsodium's rules (docs/ed25519.md).

This module also generates the data files the device tests read (tests/device/data/), from fixed
seeds: the tests below regenerate them and require the committed files to match, so they cannot
drift from what the oracles say. To rewrite them after changing a generator:

    .venv/bin/python tests/test_ed25519_crosscheck.py --write
"""

import hashlib
import json
import os
import random
import sys
from pathlib import Path

import nacl.bindings as sodium
import nacl.exceptions
import nacl.signing
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from mpboot_fw import ed25519
from mpboot_fw.ed25519 import verify

DATA = Path(__file__).resolve().parent / "device" / "data"
RANDOM_FILE = DATA / "ed25519_random.json"
EDGE_FILE = DATA / "ed25519_edge.json"
RANDOM_SEED = 8032
RANDOM_COUNT = 256

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
# A point of order 8 (libsodium's blacklist lists its y); its multiples are all 8 small-order points.
ORDER8_Y = 2707385501144840649318225287225658788936804267575313519463743609750303402022


# -- oracles ----------------------------------------------------------------------------------
def cryptography_accepts(pk, msg, sig):
    try:
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg)
        return True
    except (InvalidSignature, ValueError):
        return False


def libsodium_accepts(pk, msg, sig):
    try:
        nacl.signing.VerifyKey(pk).verify(msg, sig)
        return True
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError):
        return False


# -- random cases -----------------------------------------------------------------------------
KINDS = ("valid", "signature", "message", "key")


def random_case(rng, kind):
    """A signature by a fresh key; for kinds other than "valid", one bit of that field flipped."""
    key = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
    pk = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    msg = rng.randbytes(rng.randrange(1, 80))
    sig = key.sign(msg)
    fields = {"key": pk, "message": msg, "signature": sig}
    if kind != "valid":
        field = bytearray(fields[kind])
        bit = rng.randrange(len(field) * 8)
        field[bit >> 3] ^= 1 << (bit & 7)
        fields[kind] = bytes(field)
    return fields["key"], fields["message"], fields["signature"]


def random_cases(seed=RANDOM_SEED, count=RANDOM_COUNT):
    rng = random.Random(seed)
    cases = []
    for i in range(count):
        pk, msg, sig = random_case(rng, KINDS[i % len(KINDS)])
        cases.append([pk.hex(), msg.hex(), sig.hex(), cryptography_accepts(pk, msg, sig)])
    return cases


# -- edge cases -------------------------------------------------------------------------------
def _le(n):
    return n.to_bytes(32, "little")


def _base_mul(k):
    return sodium.crypto_scalarmult_ed25519_base_noclamp(_le(k % L))


def _h(r, a, msg):
    return int.from_bytes(hashlib.sha512(r + a + msg).digest(), "little") % L


def _small_order_points():
    """[k]T for k = 0..7, T of order 8: the canonical encodings of all 8 small-order points."""
    t = _le(ORDER8_Y)
    points = [t]
    while len(points) < 8:
        points.append(sodium.crypto_core_ed25519_add(points[-1], t))
    return [points[-1]] + points[:-1]


def _canonical(enc):
    """The canonical encoding of the point a lax decoder (y mod p, any sign for x = 0) reads."""
    y = (int.from_bytes(enc, "little") & ((1 << 255) - 1)) % P
    sign = 0 if y in (1, P - 1) else enc[31] >> 7
    return _le(y | sign << 255)


def _on_curve(y):
    """Whether some x satisfies -x^2 + y^2 = 1 + d x^2 y^2 (Euler's criterion on x^2)."""
    d = -121665 * pow(121666, P - 2, P) % P
    xx = (y * y - 1) * pow(d * y * y + 1, P - 2, P) % P
    return xx == 0 or pow(xx, (P - 1) // 2, P) == 1


def _grind(prefix, r_and_a, wanted):
    """First message prefix+counter whose h = H(R||A||M) mod L satisfies wanted(h)."""
    r, a = r_and_a
    n = 0
    while True:
        msg = prefix + str(n).encode()
        if wanted(_h(r, a, msg)):
            return msg
        n += 1


def edge_cases():
    """(name, public key, message, signature, valid) for each strictness rule of the verifier.

    Each rejected case is built so that a laxer verifier would accept it: S >= L still satisfies
    the equation, the small-order key cases have h = 0 mod 8 so [h]A vanishes, and so on.
    """
    rng = random.Random(25519)
    cases = []

    def add(name, pk, msg, sig):
        cases.append({"name": name, "public_key": pk.hex(), "message": msg.hex(),
                      "signature": sig.hex(), "valid": libsodium_accepts(pk, msg, sig)})

    # A prime-order key with a known scalar, signed through libsodium's arithmetic.
    a = rng.randrange(1, L)
    pk = _base_mul(a)
    msg = b"strict"
    r = rng.randrange(1, L)
    big_r = _base_mul(r)
    s = (r + _h(big_r, pk, msg) * a) % L
    add("valid signature", pk, msg, big_r + _le(s))
    add("S + L (same point, non-canonical scalar)", pk, msg, big_r + _le(s + L))
    add("S = L", pk, msg, big_r + _le(L))
    add("S = L + 1", pk, msg, big_r + _le(L + 1))
    add("S = 2^256 - 1", pk, msg, big_r + b"\xff" * 32)

    small = _small_order_points()
    noncanonical_small = [
        ("y = p (the order-4 y = 0)", _le(P)),
        ("y = p, sign bit set", _le(P | 1 << 255)),
        ("y = p + 1 (identity)", _le(P + 1)),
        ("y = p + 1, sign bit set", _le((P + 1) | 1 << 255)),
        ("identity with sign bit set", _le(1 | 1 << 255)),
        ("order 2 with sign bit set", _le((P - 1) | 1 << 255)),
    ]
    # Small-order keys: with h = 0 mod 8, [S]B - [h]A = R holds for R = [r]B, S = r.
    for label, key in [("[%d]T" % k, small[k]) for k in range(8)] + noncanonical_small:
        m = _grind(b"small key ", (big_r, key), lambda h: h % 8 == 0)
        add("small-order A " + label, key, m, big_r + _le(r))
    # Small-order R: the key A = [a]B + T has a torsion part; with S = h*a the equation
    # leaves -[h]T, so grind h until that is the R under test.
    mixed = sodium.crypto_core_ed25519_add(pk, small[1])
    for k in range(8):
        m = _grind(b"small R ", (small[k], mixed), lambda h, k=k: (-h) % 8 == k)
        add("small-order R [%d]T" % k, mixed, m, small[k] + _le(_h(small[k], mixed, m) * a % L))
    # Non-canonical R: ground so that a verifier that decodes R and compares points would accept.
    for label, enc in noncanonical_small:
        target = small.index(_canonical(enc))
        m = _grind(b"noncanonical R ", (enc, mixed), lambda h, t=target: (-h) % 8 == t)
        add("non-canonical R " + label, mixed, m, enc + _le(_h(enc, mixed, m) * a % L))
    # A key with a torsion part but a genuine signature: cofactorless accepts iff [h]T = 0.
    for label, cond in (("h = 0 mod 8", lambda h: h % 8 == 0), ("h = 1 mod 8", lambda h: h % 8 == 1)):
        m = _grind(b"mixed key ", (big_r, mixed), cond)
        add("mixed-order A, " + label, mixed, m, big_r + _le((r + _h(big_r, mixed, m) * a) % L))
    # Keys that are not points at all, or y >= p for a point off the small-order list.
    for y in range(2, 19):
        enc = _le(P + y)
        if _on_curve(y):
            add("non-canonical A y = p + %d" % y, enc, msg, big_r + _le(s))
    off_curve = next(y for y in range(2, P) if not _on_curve(y))
    add("A not on the curve", _le(off_curve), msg, big_r + _le(s))
    # A 64 KiB message (bytes i mod 256): the device test builds it and flips one of its bits.
    key = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
    cases.append({"name": "64 KiB message", "message_length": 65536, "valid": True,
                  "public_key": key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex(),
                  "signature": key.sign(pattern_message(65536)).hex()})
    return cases


def pattern_message(n):
    return bytes(i & 255 for i in range(n))


def render(obj):
    return json.dumps(obj, indent=1) + "\n"


# -- tests ------------------------------------------------------------------------------------
def test_random_data_file_matches_its_generator():
    assert RANDOM_FILE.read_text() == render(random_cases()), "run this module with --write"


def test_edge_data_file_matches_its_generator():
    assert EDGE_FILE.read_text() == render(edge_cases()), "run this module with --write"


def test_random_data_file_covers_each_kind_and_both_answers():
    cases = random_cases()
    assert len(cases) >= 200
    assert sum(c[3] for c in cases) == RANDOM_COUNT // len(KINDS)


def test_rfc8032_vectors_are_what_cryptography_signs():
    """The vectors file was typed in from RFC 8032; deterministic signing must reproduce it."""
    for v in json.loads((DATA / "ed25519_rfc8032.json").read_text()):
        key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(v["secret_key"]))
        pk = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        assert pk.hex() == v["public_key"], v["name"]
        assert key.sign(bytes.fromhex(v["message"])).hex() == v["signature"], v["name"]


def test_edge_cases_agree_with_libsodium_and_openssl_is_laxer_only_on_small_order():
    cases = edge_cases()
    openssl_differs = []
    for c in cases:
        msg = pattern_message(c["message_length"]) if "message_length" in c else bytes.fromhex(c["message"])
        pk, sig = bytes.fromhex(c["public_key"]), bytes.fromhex(c["signature"])
        assert verify(pk, msg, sig) is c["valid"], c["name"]
        if cryptography_accepts(pk, msg, sig) is not c["valid"]:
            openssl_differs.append(c["name"])
    assert [c["name"] for c in cases if c["valid"]] == [
        "valid signature", "mixed-order A, h = 0 mod 8", "64 KiB message"]
    # OpenSSL accepts every small-order case: proof that those signatures satisfy the equation,
    # so only the small-order rule rejects them. Everywhere else it agrees with libsodium.
    assert openssl_differs == [c["name"] for c in cases if c["name"].startswith("small-order")]


def test_2000_random_signatures_agree_with_cryptography():
    seed = int.from_bytes(os.urandom(8), "little")
    rng = random.Random(seed)
    answers = {True: 0, False: 0}
    for i in range(2000):
        pk, msg, sig = random_case(rng, KINDS[i % len(KINDS)])
        expected = cryptography_accepts(pk, msg, sig)
        assert verify(pk, msg, sig) is expected, "seed %d case %d" % (seed, i)
        answers[expected] += 1
    assert answers[True] == 500 and answers[False] == 1500, answers


def _affine(encoding):
    """(x, y) of the point a canonical encoding names (RFC 8032 5.1.3, written out here)."""
    y = int.from_bytes(encoding, "little") & ((1 << 255) - 1)
    d = -121665 * pow(121666, P - 2, P) % P
    xx = (y * y - 1) * pow(d * y * y + 1, P - 2, P) % P
    x = pow(xx, (P + 3) // 8, P)
    if x * x % P != xx:
        x = x * pow(2, (P - 1) // 4, P) % P
    assert x * x % P == xx
    if x & 1 != encoding[31] >> 7:
        x = P - x
    return x, y


def test_the_table_of_b_multiples_is_what_libsodium_computes():
    # The device's constant table: [1, 3, .., 63]B as ((y-x)/2, (y+x)/2, dxy) mod p, 32 bytes
    # little-endian each; libsodium's [k]B gives the points.
    d = -121665 * pow(121666, P - 2, P) % P
    half = pow(2, P - 2, P)
    table = ed25519._B_TABLE
    assert len(table) == 96 << (ed25519._WB - 2)
    for i in range(len(table) // 96):
        x, y = _affine(_base_mul(2 * i + 1))
        want = [(y - x) * half % P, (y + x) * half % P, d * x * y % P]
        got = [int.from_bytes(table[96 * i + 32 * j : 96 * i + 32 * j + 32], "little") for j in range(3)]
        assert got == want, "entry %d ([%d]B)" % (i, 2 * i + 1)


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    RANDOM_FILE.write_text(render(random_cases()))
    EDGE_FILE.write_text(render(edge_cases()))
