# Canonical JSON on both runtimes. The expected bytes were produced by securesystemslib's
# encode_canonical; tests/test_cjson_oracle.py re-derives every one of them from it on CPython
# and cross-checks random documents on both runtimes, so these literals cannot drift.
import json

import devtest
from mpboot_fw import cjson

VECTORS = [
    ({}, b"{}"),
    ([], b"[]"),
    ("", b'""'),
    ({"b": 1, "a": [1, 2, 3], "A": None}, b'{"A":null,"a":[1,2,3],"b":1}'),
    # Only backslash and double quote are escaped; control characters stay raw.
    ('q"uo\\te', b'"q\\"uo\\\\te"'),
    ("line\nbreak\ttab\x00nul\x7f", b'"line\nbreak\ttab\x00nul\x7f"'),
    # Keys sort by code point: U+FFFF before U+1F600 (UTF-16 order would swap them).
    (
        {"\u00e9": 1, "z": 2, "Z": 3, "\u00e4": 4, "\U0001f600": 5, "\uffff": 6, "": 7},
        b'{"":7,"Z":3,"z":2,"\xc3\xa4":4,"\xc3\xa9":1,"\xef\xbf\xbf":6,"\xf0\x9f\x98\x80":5}',
    ),
    ([0, -1, 2**64, -(2**70)], b"[0,-1,18446744073709551616,-1180591620717411303424]"),
    ([True, False, None, [[]], {"k": {}}], b'[true,false,null,[[]],{"k":{}}]'),
    (("t", 1), b'["t",1]'),
]


def test_vectors():
    for obj, expected in VECTORS:
        assert cjson.encode(obj) == expected, (obj, cjson.encode(obj), expected)


def test_round_trip_of_parsed_json_is_canonical():
    text = '{ "signed" : {"z": [1, 2], "_type": "root", "a\\u00e9": "\\"\\\\"},\n "x": null }'
    assert cjson.encode(json.loads(text)) == b'{"signed":{"_type":"root","a\xc3\xa9":"\\"\\\\","z":[1,2]},"x":null}'


def test_escaped_surrogate_pairs_are_one_character():
    # python-tuf writes ASCII-only JSON, so characters above U+FFFF arrive as escaped pairs.
    doc = json.loads('{"\\ud83d\\ude00": "x\\ud83d\\ude00", "\\uffff": 2}')
    assert cjson.encode(doc) == b'{"\xef\xbf\xbf":2,"\xf0\x9f\x98\x80":"x\xf0\x9f\x98\x80"}'


def test_lone_surrogates_are_refused():
    devtest.raises(ValueError, cjson.encode, json.loads('["\\ud83d"]'))
    devtest.raises(ValueError, cjson.encode, json.loads('["\\ude00\\ud83d"]'))


def test_floats_are_refused():
    e = devtest.raises(ValueError, cjson.encode, {"a": [1.5]})
    assert "float" in str(e)
    devtest.raises(ValueError, cjson.encode, json.loads("[1.0]"))


def test_non_json_values_are_refused():
    devtest.raises(ValueError, cjson.encode, {1: "int key"})
    devtest.raises(ValueError, cjson.encode, b"bytes")
    devtest.raises(ValueError, cjson.encode, [object()])
