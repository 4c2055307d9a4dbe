"""Ed25519 verify on the device: RFC 8032 vectors, the strictness rules and random signatures.

The data files come from tests/test_ed25519_crosscheck.py, which regenerates them from fixed
seeds with cryptography (random cases) and libsodium (edge cases) and checks they still match.
"""

import json
from binascii import unhexlify

from devtest import data_path
from mpboot_fw.ed25519 import verify


def _load(name):
    with open(data_path(name)) as f:
        return json.load(f)


def _flipped(data, bit):
    out = bytearray(data)
    out[bit >> 3] ^= 1 << (bit & 7)
    return bytes(out)


def _message(case):
    if "message_length" in case:
        return bytes(i & 255 for i in range(case["message_length"]))
    return unhexlify(case["message"])


def test_rfc8032_vectors():
    for v in _load("ed25519_rfc8032.json"):
        pk, msg, sig = unhexlify(v["public_key"]), unhexlify(v["message"]), unhexlify(v["signature"])
        assert verify(pk, msg, sig) is True, v["name"]
        # One flipped bit anywhere in R, in S (low and high), in the key or in the message.
        for bit in (0, 255, 256, 500):
            assert verify(pk, msg, _flipped(sig, bit)) is False, (v["name"], bit)
        for bit in (0, 254):
            assert verify(_flipped(pk, bit), msg, sig) is False, (v["name"], bit)
        if msg:
            assert verify(pk, _flipped(msg, len(msg) * 4), sig) is False, v["name"]
        else:
            assert verify(pk, b"\x00", sig) is False, v["name"]


def test_strictness_edge_cases():
    # S >= L, non-canonical A and R (y >= p), small-order A and R, cofactorless equation.
    for case in _load("ed25519_edge.json"):
        pk, sig = unhexlify(case["public_key"]), unhexlify(case["signature"])
        assert verify(pk, _message(case), sig) is case["valid"], case["name"]


def test_64k_message_with_one_flipped_bit():
    case = _load("ed25519_edge.json")[-1]
    assert case["name"] == "64 KiB message"
    msg = bytearray(_message(case))
    msg[40000] ^= 0x10
    assert verify(unhexlify(case["public_key"]), msg, unhexlify(case["signature"])) is False


def test_random_signatures_from_cryptography():
    answers = [0, 0]
    for pk, msg, sig, valid in _load("ed25519_random.json"):
        assert verify(unhexlify(pk), unhexlify(msg), unhexlify(sig)) is valid, (pk, msg, sig)
        answers[valid] += 1
    assert answers[0] > 100 and answers[1] > 50, answers


def test_wrong_lengths_are_rejected_without_raising():
    v = _load("ed25519_rfc8032.json")[1]
    pk, msg, sig = unhexlify(v["public_key"]), unhexlify(v["message"]), unhexlify(v["signature"])
    for bad_pk in (b"", pk[:31], pk + b"\x00"):
        assert verify(bad_pk, msg, sig) is False
    for bad_sig in (b"", sig[:63], sig + b"\x00", sig[:32]):
        assert verify(pk, msg, bad_sig) is False


def test_garbage_is_rejected_without_raising():
    for pk in (b"\x00" * 32, b"\xff" * 32, b"\x01" + b"\x00" * 31):
        for sig in (b"\x00" * 64, b"\xff" * 64, b"\x01" + b"\x00" * 63):
            assert verify(pk, b"m", sig) is False


def test_accepts_bytearray_and_memoryview():
    v = _load("ed25519_rfc8032.json")[2]
    pk, msg, sig = unhexlify(v["public_key"]), unhexlify(v["message"]), unhexlify(v["signature"])
    assert verify(bytearray(pk), memoryview(bytearray(msg)), memoryview(sig)) is True
    assert verify(memoryview(pk), bytearray(msg), bytearray(sig)) is True
