"""Canonical JSON, byte for byte as securesystemslib's `encode_canonical` writes it.

TUF signs the canonical form of `signed`: object keys sorted by code point, no whitespace, `,`
and `:` as separators, strings quoted with only backslash and double quote escaped (every other
character raw, then UTF-8), integers in decimal, `true`/`false`/`null`. Floats cannot be
encoded: TUF metadata has none, and a float's text is not canonical.

MicroPython's json.loads turns an escaped surrogate pair (`\\ud83d\\ude00`, which is how
python-tuf's ASCII-only output writes any character above U+FFFF) into two 3-byte surrogate
sequences instead of one character; `encode` joins them into the 4-byte UTF-8 CPython produces,
and refuses a lone surrogate as CPython does.
"""


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


def _utf8(text):
    data = text.encode()
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
