"""Canonical JSON, byte for byte as securesystemslib's `encode_canonical` writes it.

TUF signs the canonical form of `signed`: object keys sorted by code point, no whitespace, `,`
and `:` as separators, strings quoted with only backslash and double quote escaped (every other
character raw, then UTF-8), integers in decimal, `true`/`false`/`null`. Floats cannot be
encoded: TUF metadata has none, and a float's text is not canonical.

MicroPython's json.loads turns an escaped surrogate pair (`\\ud83d\\ude00`, which is how
python-tuf's ASCII-only output writes any character above U+FFFF) into two 3-byte surrogate
sequences instead of one character; `encode` joins them into the 4-byte UTF-8 CPython produces,
and refuses a lone surrogate as CPython does.

`load_object` parses a canonical object a member at a time and proves the bytes are its encoding,
so a caller can keep part of a large document without ever holding all of it parsed (a scoped
TUF targets role, trust.load_envelope's `select`).

`check_syntax` is the gate in front of json.loads: MicroPython's parser accepts text CPython's
refuses (missing separators, unquoted or integer keys, trailing bytes, leading zeros, raw control
characters, unknown escapes), and deep nesting ends in RecursionError on one runtime and
"pystack exhausted" on the other, at different depths. Text that passes it parses to the same
value on both runtimes (escaped surrogates aside, see above).
"""

import json
import sys

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# CPython refuses to convert an integer of more digits (sys.int_info.default_max_str_digits);
# MicroPython has no such limit.
_INT_DIGITS = const(4300)
# Parser states: what may come next.
_VALUE = const(0)
_VALUE_OR_CLOSE = const(1)  # after "["
_KEY = const(2)  # after "," in an object
_KEY_OR_CLOSE = const(3)  # after "{"
_COLON = const(4)
_NEXT = const(5)  # after a value: ",", the container's close, or the end of the text
# 1 for a byte that stands for itself inside a string (printable ASCII but quote and backslash):
# one lookup per byte of keyids, hashes and signatures, most of any metadata.
_PLAIN = bytes(1 if 0x20 <= c < 0x80 and c != 0x22 and c != 0x5C else 0 for c in range(256))


def encode(obj):
    """The canonical JSON of `obj` (dict, list, tuple, str, int, bool, None) as UTF-8 bytes."""
    parts = []
    _encode(obj, parts.append)
    return _utf8("".join(parts))


def encoded_at(obj, data, start=0):
    """The end offset if data[start:end] is exactly encode(obj), else -1.

    Compares part by part and never builds the whole encoding: a device receiving metadata that
    its publisher already wrote canonically verifies the signature over the received bytes in
    place, instead of holding a second copy the size of the document.
    """
    pos = [start]

    def compare(part):
        b = _utf8(part)
        end = pos[0] + len(b)
        if data[pos[0]:end] != b:
            raise _Mismatch
        pos[0] = end

    try:
        _encode(obj, compare)
    except _Mismatch:
        return -1
    return pos[0]


class _Mismatch(Exception):
    pass


# What a `select` of load_object returns for a member it does not keep.
DROP = object()
_VIEWS = sys.implementation.name == "micropython"  # its json.loads reads a memoryview; CPython's cannot


def load_object(data, start, member, select):
    """(obj, end) when data[start:end] is exactly encode() of the JSON object there, else None.

    Parsed a member at a time (json.loads of each key and value, each compared with its own
    encoding as encoded_at does, the keys in canonical order and none twice), so the whole of
    data[start:end] is the canonical encoding of the object json.loads would have returned: a
    signature checked over those bytes covers exactly that object. The members of its member
    named `member`, when that is an object, are parsed the same way one at a time and each
    passed to select(key, value), which returns the value to keep or DROP: what is dropped is
    still covered (compared, then let go), and never more than one member of it is parsed at
    once. `data` (bytes or bytearray) must already have passed check_syntax. None is no error:
    the caller parses the text whole instead.
    """
    mv = memoryview(data)
    try:
        return _object(data, mv, start, len(mv), member, select, False)
    except (ValueError, IndexError, _Mismatch):
        return None


def _object(data, mv, i, n, member, select, selecting):
    if mv[i] != 0x7B:  # {
        raise _Mismatch
    obj = {}
    i += 1
    if mv[i] == 0x7D:
        return obj, i + 1
    last = None
    while True:
        if mv[i] != 0x22:  # a key, right after { or , (canonical: no whitespace)
            raise _Mismatch
        end = _string_end(mv, i + 1, n)
        key = _piece(data, mv, i, end)
        order = _utf8(key)
        if last is not None and not last < order:  # the encoder's order, and no key twice
            raise _Mismatch
        last = order
        if mv[end] != 0x3A:  # :
            raise _Mismatch
        i = end + 1
        if not selecting and key == member and mv[i] == 0x7B:
            value, i = _object(data, mv, i, n, None, select, True)
        else:
            end = value_end(mv, i, n)
            value = _piece(data, mv, i, end)
            i = end
            if selecting:
                value = select(key, value)
        if value is not DROP:
            obj[key] = value
        value = None
        c = mv[i]
        i += 1
        if c == 0x7D:  # }
            return obj, i
        if c != 0x2C:  # ,
            raise _Mismatch


def loads_at(mv, i, end):
    """json.loads of mv[i:end] (a memoryview), without copying the bytes where the runtime can."""
    return json.loads(mv[i:end] if _VIEWS else bytes(mv[i:end]))


def _piece(data, mv, i, end):
    """json.loads of data[i:end], which must be exactly the canonical encoding of the result."""
    value = loads_at(mv, i, end)
    if encoded_at(value, data, i) != end:
        raise _Mismatch
    return value


def value_end(mv, i, n):
    """The index after the JSON value that starts at mv[i], in text that passed check_syntax."""
    c = mv[i]
    if c == 0x22:
        return _string_end(mv, i + 1, n)
    if c != 0x7B and c != 0x5B:  # a number or a literal: up to the next separator
        while i < n:
            c = mv[i]
            if c == 0x2C or c == 0x7D or c == 0x5D or c == 0x20 or c == 0x0A or c == 0x0D or c == 0x09:
                break
            i += 1
        return i
    depth = 0
    while i < n:
        c = mv[i]
        if c == 0x22:
            i = _string_end(mv, i + 1, n)
            continue
        if c == 0x7B or c == 0x5B:
            depth += 1
        elif c == 0x7D or c == 0x5D:
            depth -= 1
            if not depth:
                return i + 1
        i += 1
    raise ValueError("json: unexpected end")


def _utf8(text):
    try:
        data = text.encode()
    except UnicodeError:  # CPython: a lone surrogate; MicroPython encodes it and it is caught below
        raise ValueError("cjson: lone surrogate")
    return _join_surrogates(data) if b"\xed" in data else data


def _join_surrogates(data):
    out = bytearray()
    start = 0
    i = data.find(b"\xed")
    while i >= 0:
        if 0xA0 <= data[i + 1] <= 0xBF:  # ED A0..BF xx encodes U+D800..U+DFFF: a surrogate
            if data[i + 1] > 0xAF or data[i + 3 : i + 4] != b"\xed" or not 0xB0 <= data[i + 4] <= 0xBF:
                raise ValueError("cjson: lone surrogate")
            high = ((data[i + 1] & 0x0F) << 6) | (data[i + 2] & 0x3F)
            low = ((data[i + 4] & 0x0F) << 6) | (data[i + 5] & 0x3F)
            cp = 0x10000 + (high << 10) + low
            out += data[start:i]
            out.append(0xF0 | cp >> 18)
            out.append(0x80 | (cp >> 12) & 0x3F)
            out.append(0x80 | (cp >> 6) & 0x3F)
            out.append(0x80 | cp & 0x3F)
            start = i + 6
            i = data.find(b"\xed", start)
        else:
            i = data.find(b"\xed", i + 1)
    out += data[start:]
    return bytes(out)


def _string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _encode(obj, out):
    # `is` tests before isinstance(int): bool is a subclass of int on both runtimes.
    if obj is True:
        out("true")
    elif obj is False:
        out("false")
    elif obj is None:
        out("null")
    elif isinstance(obj, str):
        out(_string(obj))
    elif isinstance(obj, int):
        out(str(obj))
    elif isinstance(obj, (list, tuple)):
        out("[")
        first = True
        for item in obj:
            if not first:
                out(",")
            first = False
            _encode(item, out)
        out("]")
    elif isinstance(obj, dict):
        for key in obj:
            if not isinstance(key, str):
                raise ValueError("cjson: non-string key")
        out("{")
        first = True
        # UTF-8 byte order is code point order, once surrogate pairs are joined.
        for key in sorted(obj, key=_utf8):
            if not first:
                out(",")
            first = False
            out(_string(key))
            out(":")
            _encode(obj[key], out)
        out("}")
    else:
        raise ValueError("cjson: cannot encode " + type(obj).__name__)


def check_syntax(data, max_depth):
    """Raise ValueError unless `data` (bytes-like or str) is exactly one JSON value (RFC 8259,
    UTF-8, optional whitespace around it, no NaN/Infinity, no byte order mark) with at most
    `max_depth` arrays and objects open at once.

    Iterative, and walks a memoryview by index: its only allocations are that view and a
    `max_depth`-byte stack, whatever the size of the text.
    """
    if isinstance(data, str):
        try:
            data = data.encode()
        except UnicodeError:  # a lone surrogate in a CPython str
            raise ValueError("json: not UTF-8")
    mv = memoryview(data)
    n = len(mv)
    in_object = bytearray(max_depth)  # per open container: 1 object, 0 array
    depth = 0
    state = _VALUE
    i = 0
    while True:
        while i < n:
            c = mv[i]
            if c != 0x20 and c != 0x0A and c != 0x0D and c != 0x09:
                break
            i += 1
        if i >= n:
            if state == _NEXT and depth == 0:
                return
            raise ValueError("json: unexpected end")
        c = mv[i]
        if state == _NEXT:
            if depth == 0:
                raise ValueError("json: extra data at %d" % i)
            obj = in_object[depth - 1]
            if c == 0x2C:  # ,
                state = _KEY if obj else _VALUE
            elif c == (0x7D if obj else 0x5D):  # } or ]
                depth -= 1
            else:
                raise ValueError("json: expected , or close at %d" % i)
            i += 1
        elif state == _COLON:
            if c != 0x3A:
                raise ValueError("json: expected : at %d" % i)
            state = _VALUE
            i += 1
        elif state == _KEY or state == _KEY_OR_CLOSE:
            if c == 0x7D and state == _KEY_OR_CLOSE:
                depth -= 1
                state = _NEXT
                i += 1
            elif c == 0x22:
                i = _string_end(mv, i + 1, n)
                state = _COLON
            else:
                raise ValueError("json: expected string key at %d" % i)
        elif c == 0x5D and state == _VALUE_OR_CLOSE:
            depth -= 1
            state = _NEXT
            i += 1
        elif c == 0x5B or c == 0x7B:  # [ {
            if depth >= max_depth:
                raise ValueError("json: nested deeper than %d" % max_depth)
            in_object[depth] = c == 0x7B
            depth += 1
            state = _KEY_OR_CLOSE if c == 0x7B else _VALUE_OR_CLOSE
            i += 1
        else:
            if c == 0x22:
                i = _string_end(mv, i + 1, n)
            elif c == 0x2D or 0x30 <= c <= 0x39:  # - or a digit
                i = _number_end(mv, i, n)
            elif c == 0x74:
                i = _word_end(mv, i, n, b"true")
            elif c == 0x66:
                i = _word_end(mv, i, n, b"false")
            elif c == 0x6E:
                i = _word_end(mv, i, n, b"null")
            else:
                raise ValueError("json: unexpected byte at %d" % i)
            state = _NEXT


def _word_end(mv, i, n, word):
    end = i + len(word)
    if end > n:
        raise ValueError("json: bad literal at %d" % i)
    for k in range(len(word)):
        if mv[i + k] != word[k]:
            raise ValueError("json: bad literal at %d" % i)
    return end


def _digits_end(mv, i, n):
    start = i
    while i < n and 0x30 <= mv[i] <= 0x39:
        i += 1
    if i == start:
        raise ValueError("json: bad number at %d" % i)
    return i


def _number_end(mv, i, n):
    if mv[i] == 0x2D:
        i += 1
    start = i
    if i < n and mv[i] == 0x30:  # a leading 0 stands alone: "01" leaves "1" as extra data
        i += 1
    else:
        i = _digits_end(mv, i, n)
    integer = i - start
    fraction = i < n and mv[i] == 0x2E
    if fraction:
        i = _digits_end(mv, i + 1, n)
    exponent = i < n and (mv[i] == 0x65 or mv[i] == 0x45)
    if exponent:
        i += 1
        if i < n and (mv[i] == 0x2B or mv[i] == 0x2D):
            i += 1
        i = _digits_end(mv, i, n)
    if integer > _INT_DIGITS and not fraction and not exponent:
        raise ValueError("json: integer over %d digits" % _INT_DIGITS)
    return i


def _string_end(mv, i, n):
    """The index after the closing quote of the string whose body starts at i."""
    plain = _PLAIN
    while i < n:
        c = mv[i]
        if plain[c]:
            i += 1
            continue
        if c == 0x22:
            return i + 1
        if c < 0x20:
            raise ValueError("json: control character in string at %d" % i)
        if c == 0x5C:  # backslash
            i += 1
            c = mv[i] if i < n else 0
            if c == 0x75:  # u: four hex digits
                if i + 4 >= n:
                    break
                for k in range(i + 1, i + 5):
                    h = mv[k]
                    # Digits as they are, letters in either case (OR-ing 0x20 into a digit
                    # test would pass control bytes 0x10-0x19 as digits).
                    if not (0x30 <= h <= 0x39 or 0x61 <= (h | 0x20) <= 0x66):
                        raise ValueError("json: bad \\u escape at %d" % i)
                i += 5
            elif c == 0x22 or c == 0x5C or c == 0x2F or c == 0x62 or c == 0x66 or c == 0x6E or c == 0x72 or c == 0x74:
                i += 1
            else:
                raise ValueError("json: bad escape at %d" % i)
        else:
            i = utf8_end(mv, i, c, n)
    raise ValueError("json: unterminated string")


def utf8_end(mv, i, c, n):
    # RFC 3629, as CPython's decoder: no overlong forms, no surrogates (ED A0..BF), nothing past
    # U+10FFFF. MicroPython's str takes some of these.
    lo = 0x80
    hi = 0xBF
    if 0xC2 <= c <= 0xDF:
        count = 1
    elif 0xE0 <= c <= 0xEF:
        count = 2
        if c == 0xE0:
            lo = 0xA0
        elif c == 0xED:
            hi = 0x9F
    elif 0xF0 <= c <= 0xF4:
        count = 3
        if c == 0xF0:
            lo = 0x90
        elif c == 0xF4:
            hi = 0x8F
    else:
        raise ValueError("json: not UTF-8 at %d" % i)
    if i + count >= n:
        raise ValueError("json: not UTF-8 at %d" % i)
    for k in range(i + 1, i + 1 + count):
        b = mv[k]
        if not lo <= b <= hi:
            raise ValueError("json: not UTF-8 at %d" % i)
        lo = 0x80
        hi = 0xBF
    return i + 1 + count
