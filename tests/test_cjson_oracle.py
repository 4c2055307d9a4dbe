"""Canonical JSON against securesystemslib (the encoder python-tuf signs with), on both runtimes."""

import hashlib
import json
import random

from securesystemslib.formats import encode_canonical

import test_cjson as device_vectors
from mpboot_fw import cjson

ALPHABET = 'aZ0 "\\\n\t\x00\x1f\x7f/\u00e9\u00e4\u20ac\uffff\U0001f600\ud7ff'


def _random_string(rng):
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(6)))


def _random_value(rng, depth=0):
    kind = rng.randrange(7 if depth < 4 else 4)
    if kind == 0:
        return rng.choice([True, False, None])
    if kind == 1:
        return rng.randrange(-(2**70), 2**70)
    if kind == 2:
        return rng.randrange(-3, 1000)
    if kind == 3:
        return _random_string(rng)
    if kind in (4, 5):
        return {_random_string(rng): _random_value(rng, depth + 1) for _ in range(rng.randrange(5))}
    return [_random_value(rng, depth + 1) for _ in range(rng.randrange(5))]


def _random_documents(n, seed):
    rng = random.Random(seed)
    return [_random_value(rng) for _ in range(n)]


def test_device_vectors_come_from_securesystemslib():
    for obj, expected in device_vectors.VECTORS:
        assert encode_canonical(obj).encode() == expected


def test_random_documents_match_securesystemslib():
    for doc in _random_documents(2000, seed=1):
        assert cjson.encode(doc) == encode_canonical(doc).encode()


def test_random_documents_match_on_micropython(micropython):
    docs = _random_documents(300, seed=2)
    # ASCII-escaped JSON in, canonical bytes out: MicroPython parses and re-encodes each one.
    code = """
import json, hashlib, binascii
from mpboot_fw import cjson
for line in open('/docs.txt'):
    print(binascii.hexlify(hashlib.sha256(cjson.encode(json.loads(line))).digest()).decode())
"""
    files = {"/docs.txt": "\n".join(json.dumps(d) for d in docs)}
    lines = micropython.run_fresh(code, files=files).check().split("\n")
    expected = [hashlib.sha256(encode_canonical(d).encode()).hexdigest() for d in docs]
    assert lines == expected
