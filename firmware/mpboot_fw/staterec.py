"""Record format of the state log (docs/state-log.md): bytes in, bytes out, no I/O.

A record is a 16-byte head and a payload padded with 0xFF to a multiple of 16 bytes:

    0  2  magic b"mB"
    2  1  type (T_*)
    3  1  flags (F_SNAP: part of a snapshot)
    4  2  payload length n (u16 LE)
    6  2  reserved, 0
    8  4  sequence number (u32 LE), one more than the record before it in the log
    12 4  CRC-32 of head bytes 0..11 then the n payload bytes

The writer programs the payload first and the head last: the head is the commit. Records are
16-byte aligned because ESP-IDF writes an encrypted partition in 16-byte units, each unit once.

A record counts only when it is also well formed (`parse`): the writer never writes anything
else, so a record with a valid CRC but a payload its type cannot hold (a short integer, a string
running past its payload, text that is not UTF-8) is crafted, and reads as no record at all.
The getters below then never fail on what `parse` accepted.
"""

import struct
from binascii import crc32

from mpboot_fw.cjson import utf8_end

try:
    from micropython import const
except ImportError:
    const = lambda x: x  # noqa: E731

MAGIC0 = const(0x6D)  # b"m"
MAGIC1 = const(0x42)  # b"B"
HEAD = const(16)
FORMAT = const(1)

T_BEGIN = const(1)  # snapshot start: format u8, generation u32
T_END = const(2)  # snapshot commit: sequence number of its T_BEGIN u32
T_FLOOR = const(3)  # security version floor u32
T_TIME = const(4)  # trusted time floor, unix seconds u64
T_BOOT = const(5)  # boot counter u32
T_PENDING = const(6)  # pending install (empty payload: none)
T_CHUNK = const(7)  # a piece of a blob's bytes
T_BLOB = const(8)  # blob commit: name, version, length, chunk count, present
T_EVENT = const(9)  # event: boot u32, code, reason, detail
T_BFLOOR = const(10)  # a bundle's security version floor: name str8 (a bundle name), floor u32

F_SNAP = const(1)

SHA256_LEN = const(32)
MAX_NAME = const(32)  # bytes of a bundle name (bundle.MAX_NAME)
# An event's code, reason and detail caps, in bytes. The code's was 16, too short for the bundle
# events' ("bundle-trial-failed"); 24 still pads the largest event to the same 192 bytes.
CODE_CAP = const(24)
_FIXED = b"\x00\x05\x04\x04\x08\x04"  # payload length of T_BEGIN..T_BOOT, by type


def size(n):
    """Bytes a record with an n-byte payload takes on flash."""
    return HEAD + ((n + 15) & ~15)


def seal(head, typ, flags, n, seq, payload):
    """Fill the 16-byte `head` for `payload` (its first n bytes)."""
    head[0] = MAGIC0
    head[1] = MAGIC1
    struct.pack_into("<BBHHI", head, 2, typ, flags, n, 0, seq)
    struct.pack_into("<I", head, 12, crc32(payload[:n], crc32(memoryview(head)[:12])))


def parse(mv, off, end):
    """Payload length of the committed record at mv[off:], or -1 if there is none there."""
    if off + HEAD > end or mv[off] != MAGIC0 or mv[off + 1] != MAGIC1 or mv[off + 6] or mv[off + 7]:
        return -1
    n = mv[off + 4] | mv[off + 5] << 8
    if off + size(n) > end:
        return -1
    if crc32(mv[off + HEAD:off + HEAD + n], crc32(mv[off:off + 12])) != struct.unpack_from("<I", mv, off + 12)[0]:
        return -1
    return n if _formed(mv, mv[off + 2], mv[off + 3], off + HEAD, n) else -1


def _formed(mv, typ, flags, pos, n):
    """Whether a payload mv[pos:pos + n] is one the writer could have written for `typ`."""
    end = pos + n
    if flags & ~F_SNAP:
        return False
    if typ < len(_FIXED):
        return typ > 0 and n == _FIXED[typ]
    if typ == T_CHUNK:
        return True
    if typ == T_PENDING:
        off = _str_end(mv, _str_end(mv, pos, end, 16), end, 32)
        return not n or off >= 0 and off + 8 + SHA256_LEN == end and _text(mv, pos, off)
    if typ == T_BLOB:
        off = _str_end(mv, pos, end, 16)
        return off > pos + 1 and off + 11 == end and _text(mv, pos, off)
    if typ == T_BFLOOR:
        return n > 5 and mv[pos] + 5 == n and is_name(mv, pos + 1, end - 4)
    if typ == T_EVENT:
        # Inline: every boot walks every event record.
        a = pos + 4
        if a >= end or mv[a] > CODE_CAP:
            return False
        b = a + 1 + mv[a]
        if b >= end or mv[b] > 96:
            return False
        c = b + 1 + mv[b]
        return c < end and mv[c] <= 64 and c + 1 + mv[c] == end and _text(mv, a, end)
    return False


def _str_end(mv, off, end, cap):
    """Offset after the str8 at `off` if it is at most `cap` bytes and inside `end`, else -1."""
    if not 0 <= off < end or mv[off] > cap or off + 1 + mv[off] > end:
        return -1
    return off + 1 + mv[off]


def _text(mv, start, end):
    """Whether mv[start:end] (str8 fields: length bytes are below 0x80) is strict UTF-8, as
    CPython decodes it; MicroPython's str() also takes overlong forms and surrogates."""
    if start == end or max(mv[start:end]) < 0x80:
        return True
    i = start
    try:
        while i < end:
            i = i + 1 if mv[i] < 0x80 else utf8_end(mv, i, mv[i], end)
    except ValueError:
        return False
    return True


def is_name(mv, start, end):
    """Whether mv[start:end] is a bundle name as bundle.is_name has it: 1-32 bytes of a-z 0-9 _ -,
    starting with a letter (checked on the bytes: the reader walks records without decoding)."""
    if not 0 < end - start <= MAX_NAME or not 0x61 <= mv[start] <= 0x7A:
        return False
    for i in range(start + 1, end):
        c = mv[i]
        if not (0x61 <= c <= 0x7A or 0x30 <= c <= 0x39 or c == 0x5F or c == 0x2D):
            return False
    return True


def seq_at(mv, off):
    """Sequence number in the head at mv[off:]."""
    return mv[off + 8] | mv[off + 9] << 8 | mv[off + 10] << 16 | mv[off + 11] << 24


def put_str(buf, off, text, cap):
    """Write `text` as u8 length + UTF-8, cut to `cap` bytes on a character boundary."""
    raw = text.encode() if text else b""
    n = min(len(raw), cap)
    while n < len(raw) and raw[n] & 0xC0 == 0x80:
        n -= 1
    buf[off] = n
    buf[off + 1:off + 1 + n] = raw[:n]
    return off + 1 + n


def get_str(mv, off):
    """(text, offset after it) of a string written by put_str (in a record `parse` accepted)."""
    n = mv[off]
    return str(bytes(mv[off + 1:off + 1 + n]), "utf-8"), off + 1 + n


def put_pending(buf, slot, version, secver, sha256, boot):
    off = put_str(buf, 0, slot, 16)
    off = put_str(buf, off, version, 32)
    struct.pack_into("<II", buf, off, secver, boot)
    buf[off + 8:off + 8 + SHA256_LEN] = sha256
    return off + 8 + SHA256_LEN


def get_pending(mv, n):
    """The pending install as a dict, or None for a cleared record."""
    if not n:
        return None
    slot, off = get_str(mv, 0)
    version, off = get_str(mv, off)
    secver, boot = struct.unpack_from("<II", mv, off)
    sha = bytes(mv[off + 8:off + 8 + SHA256_LEN])
    return {"slot": slot, "version": version, "secver": secver, "sha256": sha, "boot": boot}


def put_blob(buf, name, version, length, chunks, present):
    off = put_str(buf, 0, name, 16)
    struct.pack_into("<IIHB", buf, off, version, length, chunks, present)
    return off + 11


def get_blob(mv, off):
    """(name, version, length, chunk count, present) of the blob commit at mv[off:]."""
    name, off = get_str(mv, off)
    return (name,) + struct.unpack_from("<IIHB", mv, off)


def put_bfloor(buf, name, floor):
    """A bundle floor record's payload (name already checked with is_name)."""
    off = put_str(buf, 0, name, MAX_NAME)
    struct.pack_into("<I", buf, off, floor)
    return off + 4


def get_bfloor(mv, pos):
    """(name, floor) of the bundle floor record whose payload starts at mv[pos:]."""
    name, off = get_str(mv, pos)
    return name, struct.unpack_from("<I", mv, off)[0]


def put_event(buf, boot, code, reason, detail):
    struct.pack_into("<I", buf, 0, boot)
    off = put_str(buf, 4, code, CODE_CAP)
    off = put_str(buf, off, reason, 96)
    return put_str(buf, off, detail, 64)


def get_event(mv):
    """(boot, code, reason, detail) of an event; detail None when empty."""
    boot = struct.unpack_from("<I", mv, 0)[0]
    code, off = get_str(mv, 4)
    reason, off = get_str(mv, off)
    detail, off = get_str(mv, off)
    return boot, code, reason, detail or None
