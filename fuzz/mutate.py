"""Seeded byte mutations: everything one input needs comes from one `random.Random`, so a
(target, seed, index) triple always rebuilds the same input."""

import struct

BOUNDARY = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000,
            0xFFFFFFFE, 0xFFFFFFFF, 0x1000, 0xFFF, 0x1001, 16, 15, 128, 4096 * 3)
TOKENS = (b"\x00", b"\xff" * 4, b"{", b"}", b"[", b"]", b'"', b"\\", b"\\u0000", b"\\ud800", b"\\ud83d\\ude00",
          b"1e9", b"-0", b"1.5", b"null", b"true", b"\xed\xa0\x80", b"\xc3", b"\r\n", b"\r\n\r\n", b":",
          b",", b"99999999999999999999", b"mB", b"MPB1", b"\xe9", b"\xaa\x50", b"\xeb\xeb", b"..", b"/", b"%2e")


def _bitflip(rng, buf):
    if buf:
        i = rng.randrange(len(buf))
        buf[i] ^= 1 << rng.randrange(8)


def _byte(rng, buf):
    if buf:
        buf[rng.randrange(len(buf))] = rng.randrange(256)


def _boundary(rng, buf):
    width = rng.choice((1, 2, 4, 8))
    if len(buf) < width:
        return
    i = rng.randrange(len(buf) - width + 1)
    v = rng.choice(BOUNDARY) & ((1 << 8 * width) - 1)
    if rng.random() < 0.2:
        v = (v + rng.choice((-1, 1))) & ((1 << 8 * width) - 1)
    buf[i:i + width] = v.to_bytes(width, rng.choice(("little", "big")))


def _insert(rng, buf):
    i = rng.randrange(len(buf) + 1)
    if rng.random() < 0.5:
        piece = rng.choice(TOKENS)
    else:
        piece = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 17)))
    buf[i:i] = piece


def _delete(rng, buf):
    if buf:
        i = rng.randrange(len(buf))
        del buf[i:i + rng.randrange(1, 1 + min(64, len(buf) - i))]


def _duplicate(rng, buf):
    if buf:
        i = rng.randrange(len(buf))
        n = rng.randrange(1, 1 + min(256, len(buf) - i))
        j = rng.randrange(len(buf) + 1)
        buf[j:j] = buf[i:i + n]


def _truncate(rng, buf):
    if buf:
        del buf[rng.randrange(len(buf)):]


def _number(rng, buf):
    """Replace a run of ASCII digits (JSON numbers, header values) with a boundary number."""
    digits = [i for i in range(len(buf)) if 48 <= buf[i] <= 57]
    if not digits:
        return
    i = rng.choice(digits)
    j = i
    while j < len(buf) and 48 <= buf[j] <= 57:
        j += 1
    buf[i:j] = str(rng.choice(BOUNDARY + (-1, 10 ** 30, 2 ** 64))).encode()


MUTATORS = (_bitflip, _bitflip, _byte, _boundary, _boundary, _insert, _delete, _duplicate, _truncate, _number)


def splice(rng, buf, other):
    """Replace a range of `buf` with a range of another seed."""
    if not other:
        return
    i = rng.randrange(len(other))
    n = rng.randrange(1, 1 + min(512, len(other) - i))
    j = rng.randrange(len(buf) + 1)
    buf[j:j + rng.randrange(0, n + 1)] = other[i:i + n]


def mutate(rng, data, seeds=(), focus=None):
    """`data` with 1-4 stacked mutations; `focus` (start, end) keeps most of them in one region
    (the fields that matter) of a large input."""
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        if seeds and rng.random() < 0.08:
            splice(rng, buf, rng.choice(seeds))
            continue
        op = rng.choice(MUTATORS)
        if focus is not None and rng.random() < 0.8 and op not in (_truncate,):
            start, end = focus
            start = min(start, len(buf))
            end = min(max(end, start), len(buf))
            region = buf[start:end]
            op(rng, region)
            buf[start:end] = region
        else:
            op(rng, buf)
    return bytes(buf)


def put_u(buf, off, width, value):
    struct.pack_into("<" + {1: "B", 2: "H", 4: "I", 8: "Q"}[width], buf, off, value)
