# cjson.check_syntax on both runtimes: it passes exactly one RFC 8259 value, so what passes
# parses to the same value on CPython and MicroPython, and everything else is a ValueError.
# The MALFORMED corpus holds, first, texts MicroPython's json.loads accepts and CPython's
# refuses (seen on MicroPython 1.27), then texts CPython accepts that are not JSON.
import json

import devtest
from mpboot_fw import cjson, trust

VALID = [
    b"0",
    b"-0",
    b'""',
    b"{}",
    b"[]",
    b" \t\r\n[ 1 , 2 ]\n",
    b"-12.5e+3",
    b"1E-2",
    b"0.0",
    b'{"a":[1,2.5,-3e2,true,false,null],"b":{"c":{}},"":""}',
    b'"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u00E9"',
    # Raw UTF-8 of 2, 3 and 4 bytes, at the edges of the valid ranges.
    b'"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"',
    b'{"signed":{"_type":"root","version":1},"signatures":[{"keyid":"ab","sig":"cd"}]}',
    b"1" * 4300,  # CPython's default limit for an integer's digits
    b"-" + b"1" * 4300,
    b"1" * 5000 + b".5",  # a float has no such limit
]

MALFORMED = [
    # Accepted by MicroPython's json.loads:
    b"[1 2]",  # missing separators
    b'{"a":1 "b":2}',
    b"[true false]",
    b'{"a"1}',
    b'{"a",1}',
    b"[1:2]",
    b"[,1]",
    b"[1,]",  # trailing commas
    b'{"a":1,}',
    b'{"a":}',
    b"[1]\x00trailing",  # bytes after a NUL
    b"{1:2}",  # integer key
    b'"a\x01b"',  # raw control characters in a string
    b'"a\nb"',
    b'"a\x00"',
    b'"\\x41"',  # unknown escape
    b'"\\a"',
    b"[01]",  # leading zeros
    b"[-01]",
    b"[1.]",
    b'"\xed\xa0\x80"',  # a raw surrogate, then overlong and out-of-range UTF-8
    b'"\xc0\x80"',
    b'"\xe0\x80\xaf"',
    b'"\xf4\x90\x80\x80"',
    b"1" * 4301,  # CPython refuses the conversion; MicroPython has no limit
    # Refused by both parsers already, kept so neither check can loosen:
    b"{a:1}",
    b"[1]]",
    b"[1] x",
    b"[.5]",
    b"[+1]",
    b"[-]",
    b"[1e]",
    b"[1e+]",
    b"tru",
    b"nul",
    b"truex",
    b"",
    b" ",
    b'"\\u12"',
    b'"\\u12g4"',
    b'"open',
    b'"\\',
    b"[",
    b'{"a":1',
    b'"\xff"',
    b'"\xc3"',
    b"\xef\xbb\xbf[1]",  # a byte order mark (CPython's bytes decoder skips it)
    b"[1]\x0c",  # form feed is not JSON whitespace
    # Accepted by CPython, not JSON:
    b"[NaN]",
    b"[Infinity]",
    b"[-Infinity]",
]


def test_valid_texts_pass_and_parse_alike():
    for text in VALID:
        for data in (text, bytearray(text), memoryview(text)):
            cjson.check_syntax(data, 3)
        json.loads(text)  # and parses (the oracle for the value is CPython, below)
    cjson.check_syntax("[\"\u00e9\U0001f600\"]", 1)


def test_malformed_texts_raise_value_error():
    for text in MALFORMED:
        e = devtest.raises(ValueError, cjson.check_syntax, text, 8)
        assert str(e).startswith("json: "), (text, e)


def test_trust_refuses_malformed_metadata_before_parsing():
    for text in MALFORMED:
        e = devtest.raises(trust.TrustError, trust.load_envelope, text, "root")
        assert str(e).startswith("root: not JSON (json: "), (text, e)


def test_depth_bound_is_exact():
    for opener, closer in ((b"[", b"]"), (b'{"k":', b"}"), (b'[{"k":', b"}]")):
        for depth in range(1, 5):
            text = opener * depth + b"0" + closer * depth
            reached = depth * len(opener.replace(b'"k":', b""))
            cjson.check_syntax(text, reached)
            devtest.raises(ValueError, cjson.check_syntax, text, reached - 1)
    cjson.check_syntax(b"7", 0)
    devtest.raises(ValueError, cjson.check_syntax, b"[]", 0)
    # Siblings do not add up: depth is what is open at once.
    cjson.check_syntax(b"[[],[],{},[[]]]", 3)


def test_metadata_at_and_over_the_depth_bound():
    def doc(extra):
        return b'{"signatures":[],"signed":{"_type":"root","x":' + b"[" * extra + b"]" * extra + b"}}"

    # The document and signed are 2 of the MAX_DEPTH levels.
    signed, _, _ = trust.load_envelope(doc(trust.MAX_DEPTH - 2), "root")
    assert signed["_type"] == "root"
    e = devtest.raises(trust.TrustError, trust.load_envelope, doc(trust.MAX_DEPTH - 1), "root")
    assert "nested deeper than %d" % trust.MAX_DEPTH in str(e), e


def test_nesting_far_past_the_runtimes_limits_is_a_value_error():
    # Past CPython's recursion limit and MicroPython's pystack: only the declared error.
    for text in (b"[" * 5000, b"[" * 5000 + b"]" * 5000, b'{"a":' * 3000 + b"1" + b"}" * 3000):
        devtest.raises(ValueError, cjson.check_syntax, text, trust.MAX_DEPTH)
        devtest.raises(trust.TrustError, trust.load_envelope, text, "root")


def _root_bytes():
    with open(devtest.data_path("tuf/1.root.json"), "rb") as f:
        return f.read()


def test_signed_root_with_bytes_after_a_nul_or_a_missing_comma_is_refused():
    # Each one verified on MicroPython before check_syntax (its json.loads took the text) and
    # was refused on CPython.
    good = _root_bytes()
    trust.load_root(good)
    for data in (good + b"\x00 garbage", _without_top_level_comma(good)):
        e = devtest.raises(trust.TrustError, trust.load_root, data)
        assert str(e).startswith("root: not JSON (json: "), e


def _without_top_level_comma(data):
    # The comma between the document's two members: the first one at depth 1.
    depth = 0
    in_string = False
    escaped = False
    for i in range(len(data)):
        c = data[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == 0x5C:
                escaped = True
            elif c == 0x22:
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c == 0x5B or c == 0x7B:
            depth += 1
        elif c == 0x5D or c == 0x7D:
            depth -= 1
        elif c == 0x2C and depth == 1:
            return data[:i] + data[i + 1:]
    raise AssertionError("no top-level comma")


def test_a_u_escape_takes_exactly_the_hex_digits():
    # Every byte in each of the four digit places: only 0-9, a-f, A-F pass (the fuzzer found
    # control bytes 0x10-0x19 taken as digits, and CPython's json.loads refusing the text).
    hexdigits = b"0123456789abcdefABCDEF"
    for place in range(4):
        for b in range(256):
            digits = bytearray(b"00e9")
            digits[place] = b
            text = b'"\\u' + bytes(digits) + b'"'
            ok = True
            try:
                cjson.check_syntax(text, 4)
            except ValueError:
                ok = False
            assert ok == (b in hexdigits), (place, b)
