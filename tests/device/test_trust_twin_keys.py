# Twin keys on both runtimes (data: tests/test_twin_keys.py, checked against libsodium there).
# A and A + T (T of small order 2 or 8) are two encodings one secret signs for: verify_role,
# which tells keys apart by encoding, counts them as two signers. A root carrying such a key is
# refused wherever a root is accepted: trust.load_root (host commands, provisioning,
# statelog.format_partition) and tuf.TrustedSet (its first root and every rotation).
import json

import devtest
from mpboot_fw import ed25519, statelog, trust, tuf
from nor_ram import NorRam

with open(devtest.data_path("twin_keys.json")) as f:
    DATA = json.load(f)
ROOTS = dict((name, text.encode()) for name, text in DATA["roots"].items())
TWINS = ("root_twin2.json", "root_twin8.json")
NOW = 1767225600  # 2026-01-01: every root here expires in 2036


def test_in_prime_subgroup_agrees_with_libsodium():
    for point in DATA["points"]:
        key = bytes.fromhex(point["key"])
        assert ed25519.in_prime_subgroup(key) is point["valid"], point["name"]
    assert not ed25519.in_prime_subgroup(b"\x01" * 31)


def test_one_secret_meets_a_threshold_of_two_twin_keys():
    # The hazard itself: verify_role (unchanged) counts both encodings.
    for name in TWINS + ("2.root_twin8.json",):
        signed, message, signatures = trust.load_envelope(ROOTS[name], "root")
        root = trust.parse_root(signed)
        keyids, threshold = root.roles["root"]
        assert threshold == 2 and len(signatures) >= 2
        trust.verify_role(root.keys, root.roles["root"], message, signatures, "root")
        assert [ed25519.in_prime_subgroup(root.keys[k]) for k in keyids] == [True, False]


def test_load_root_refuses_a_root_with_a_twin_key():
    trust.load_root(ROOTS["root_pair.json"])  # the same shape with two genuine keys loads
    for name in TWINS:
        e = devtest.raises(trust.TrustError, trust.load_root, ROOTS[name])
        twin = trust.parse_root(json.loads(ROOTS[name])["signed"]).roles["root"][0][1]
        assert str(e) == "root: key %s is not an Ed25519 point of prime order" % twin[:16], e


def test_root_rotation_to_a_twin_key_is_refused():
    one = trust.load_root(ROOTS["1.root.json"])
    assert trust.load_root(ROOTS["2.root_pair.json"], trusted=one).version == 2
    devtest.raises(trust.TrustError, trust.load_root, ROOTS["2.root_twin8.json"], trusted=one)
    trusted = tuf.TrustedSet(ROOTS["1.root.json"], NOW)
    e = devtest.raises(tuf.BadMetadata, trusted.update_root, ROOTS["2.root_twin8.json"])
    assert "not an Ed25519 point of prime order" in str(e), e
    assert trusted.root.version == 1
    assert trusted.update_root(ROOTS["2.root_pair.json"]).version == 2


def test_trusted_set_refuses_a_first_root_with_a_twin_key():
    tuf.TrustedSet(ROOTS["root_pair.json"], NOW)
    for name in TWINS:
        devtest.raises(tuf.BadMetadata, tuf.TrustedSet, ROOTS[name], NOW)


def test_provisioning_refuses_a_root_with_a_twin_key():
    statelog.format_partition(NorRam(4), ROOTS["root_pair.json"])
    devtest.raises(trust.TrustError, statelog.format_partition, NorRam(4), ROOTS["root_twin8.json"])
