"""Twin Ed25519 keys: A and A + T (T of small order) are two canonical encodings, neither of
small order, and A's secret signs for both (a nonce that makes h a multiple of T's order), so
{A, A + T} would meet a threshold of 2 with one signer. This module generates
tests/device/data/twin_keys.json (`python tests/test_twin_keys.py --write` rewrites it), checks
it against libsodium, and checks that every host command that takes keys or roots refuses them.
"""

import json
import os
import random
import sys
from pathlib import Path

import nacl.bindings as sodium
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from clihelp import fails, run
from test_ed25519_crosscheck import L, P, _base_mul, _h, _le, _on_curve, _small_order_points, libsodium_accepts

from mpboot_fw import cjson, trust
from mpboot_fw.ed25519 import in_prime_subgroup

DATA_FILE = Path(__file__).resolve().parent / "device" / "data" / "twin_keys.json"
SEED = 8
# small[k] = [k]T8: k = 4 has order 2, k = 2 and 6 order 4, odd k order 8.
ORDER = {0: 1, 1: 8, 2: 4, 3: 8, 4: 2, 5: 8, 6: 4, 7: 8}


def _sign(rng, scalar, public, message, order):
    """A signature by `scalar` valid under `public` = [scalar]B + T, T of order `order`: retry
    the nonce until T's order divides h, so [h]T vanishes from [S]B - [h]A."""
    while True:
        r = rng.randrange(1, L)
        big_r = _base_mul(r)
        h = _h(big_r, public, message)
        if h % order == 0:
            return big_r + _le((r + h * scalar) % L)


def _root(rng, version, roles, signers):
    """Root metadata text: roles = {role: ([public keys], threshold)}, signed by each
    (scalar, public, order) in signers."""
    keys = {}
    role_objects = {}
    for name in trust.ROLE_NAMES:
        publics, threshold = roles[name]
        keyids = []
        for public in publics:
            obj = trust.ed25519_key_object(public)
            keyid = trust.keyid_of(obj)
            keys[keyid] = obj
            keyids.append(keyid)
        role_objects[name] = {"keyids": keyids, "threshold": threshold}
    signed = {"_type": "root", "consistent_snapshot": True, "expires": "2036-01-01T00:00:00Z", "keys": keys,
              "roles": role_objects, "spec_version": "1.0.31", "version": version}
    message = cjson.encode(signed)
    signatures = [{"keyid": trust.keyid_of(trust.ed25519_key_object(public)),
                   "sig": _sign(rng, scalar, public, message, order).hex()} for scalar, public, order in signers]
    return cjson.encode({"signatures": signatures, "signed": signed}).decode()


def twin_data():
    rng = random.Random(SEED)
    small = _small_order_points()
    a, b, c = (rng.randrange(1, L) for _ in range(3))
    A, B, C = _base_mul(a), _base_mul(b), _base_mul(c)
    twins = {k: sodium.crypto_core_ed25519_add(A, small[k]) for k in range(1, 8)}

    points = []

    def point(name, key):
        points.append({"name": name, "key": key.hex(), "valid": sodium.crypto_core_ed25519_is_valid_point(key)})

    for i in range(4):
        point("random key %d" % i, _base_mul(rng.randrange(1, L)))
    point("-A (sign bit flipped)", bytes(A[:31]) + bytes([A[31] ^ 0x80]))
    for k in range(1, 8):
        point("A + [%d]T8 (torsion of order %d)" % (k, ORDER[k]), twins[k])
    point("-(A + T8)", bytes(twins[1][:31]) + bytes([twins[1][31] ^ 0x80]))
    for k in range(8):
        point("[%d]T8 (small order %d)" % (k, ORDER[k]), small[k])
    for y in [0, 1] + [y for y in range(2, 19) if _on_curve(y)]:
        point("non-canonical y = p + %d" % y, _le(P + y))
    point("on the curve, y = %d (mixed order)" % next(y for y in range(2, P) if _on_curve(y)),
          _le(next(y for y in range(2, P) if _on_curve(y))))
    point("not on the curve", _le(next(y for y in range(2, P) if not _on_curve(y))))

    roots = {}
    for k in (4, 1):  # twins of order 2 and order 8
        twin = (a, twins[k], ORDER[k])
        roots["root_twin%d.json" % ORDER[k]] = _root(
            rng, 1, {"root": ([A, twins[k]], 2), "targets": ([A, twins[k]], 2), "snapshot": ([A], 1), "timestamp": ([A], 1)},
            [(a, A, 1), twin])
    roots["root_pair.json"] = _root(
        rng, 1, {"root": ([A, B], 2), "targets": ([A, B], 2), "snapshot": ([A], 1), "timestamp": ([A], 1)},
        [(a, A, 1), (b, B, 1)])
    # Root rotation: 1 trusts C alone; 2 hands the root role to {A, A + T8} or (control) {A, B}.
    one = {role: ([C], 1) for role in trust.ROLE_NAMES}
    roots["1.root.json"] = _root(rng, 1, one, [(c, C, 1)])
    for name, second, signer in (("2.root_twin8.json", twins[1], (a, twins[1], 8)), ("2.root_pair.json", B, (b, B, 1))):
        roles = dict(one, root=([A, second], 2), targets=([A, second], 2))
        roots[name] = _root(rng, 2, roles, [(c, C, 1), (a, A, 1), signer])
    return {"public_a": A.hex(), "twin_order_8": twins[1].hex(), "points": points, "roots": roots}


def render(obj):
    return json.dumps(obj, indent=1, sort_keys=True) + "\n"


def _signatures(root_text):
    doc = json.loads(root_text)
    return cjson.encode(doc["signed"]), {s["keyid"]: bytes.fromhex(s["sig"]) for s in doc["signatures"]}, doc


def test_data_file_matches_its_generator():
    assert DATA_FILE.read_text() == render(twin_data()), "run this module with --write"


def test_twin_signatures_are_real_for_libsodium():
    # One secret signed for both encodings; libsodium accepts both signatures.
    data = twin_data()
    for name in ("root_twin2.json", "root_twin8.json", "2.root_twin8.json"):
        message, signatures, doc = _signatures(data["roots"][name])
        keys = {keyid: bytes.fromhex(obj["keyval"]["public"]) for keyid, obj in doc["signed"]["keys"].items()}
        root_keyids = doc["signed"]["roles"]["root"]["keyids"]
        assert len(root_keyids) == 2 and doc["signed"]["roles"]["root"]["threshold"] == 2
        for keyid in root_keyids:
            assert libsodium_accepts(keys[keyid], message, signatures[keyid]), (name, keyid)
        assert [sodium.crypto_core_ed25519_is_valid_point(keys[k]) for k in root_keyids] == [True, False]


def test_points_cover_both_answers():
    points = twin_data()["points"]
    assert {p["valid"] for p in points} == {True, False}
    assert sum(p["valid"] for p in points) == 5  # the random keys and -A


def test_in_prime_subgroup_agrees_with_libsodium_on_fresh_keys():
    seed = int.from_bytes(os.urandom(8), "little")
    rng = random.Random(seed)
    small = _small_order_points()
    for i in range(200):
        key = _base_mul(rng.randrange(1, L))
        if i % 2:
            key = sodium.crypto_core_ed25519_add(key, small[rng.randrange(1, 8)])
        if i % 5 == 0:
            key = rng.randbytes(32)
        assert in_prime_subgroup(key) is sodium.crypto_core_ed25519_is_valid_point(key), "seed %d case %d" % (seed, i)


# -- host commands -----------------------------------------------------------------------------
def _pem(public):
    return Ed25519PublicKey.from_public_bytes(public).public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture
def twin_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = json.loads(DATA_FILE.read_text())
    Path("a.pem.pub").write_bytes(_pem(bytes.fromhex(data["public_a"])))
    Path("twin.pem.pub").write_bytes(_pem(bytes.fromhex(data["twin_order_8"])))
    for name, text in data["roots"].items():
        Path(name).write_text(text)
    return tmp_path


def test_root_commands_refuse_a_root_with_a_twin_key(twin_files, capsys):
    assert run(capsys, "root", "show", "root_pair.json").code == 0
    Path("app.mpb").write_bytes(b"\0" * 64)
    for name in ("root_twin2.json", "root_twin8.json"):
        match = "not a valid signed root: root: key "
        line = fails(capsys, "root", "show", name, match=match)
        assert "is not an Ed25519 point of prime order" in line
        fails(capsys, "verify", "--root", name, "app.mpb", match=match)
        fails(capsys, "inspect", "app.mpb", "--root", name, match=match)


def test_key_commands_refuse_a_twin_public_key(twin_files, capsys):
    assert run(capsys, "keygen", "root.pem").code == 0
    match = "twin.pem.pub is not a usable Ed25519 public key: not a point of prime order"
    fails(capsys, "root", "init", "root.json", "--root-key", "root.pem", "--targets-key", "a.pem.pub",
          "--targets-key", "twin.pem.pub", "--targets-threshold", 2, match=match)
    assert not Path("root.json").exists()
    fails(capsys, "repo", "init", "repo", "--targets-key", "twin.pem.pub", match=match)
    assert not Path("repo/metadata").exists()
    fails(capsys, "repo", "init", "repo2", "--root", "root_twin8.json", match="not a valid signed root: root: key ")
    assert run(capsys, "repo", "init", "repo3").code == 0
    fails(capsys, "repo", "rotate", "repo3", "--role", "targets", "--add-key", "twin.pem.pub", match=match)
    # The control: the same commands take the genuine key.
    assert run(capsys, "root", "init", "root.json", "--root-key", "root.pem", "--targets-key", "a.pem.pub").code == 0


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    DATA_FILE.write_text(render(twin_data()))
