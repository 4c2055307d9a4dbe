"""ECDSA P-256 (secp256r1) signature verification with SHA-256, strict: docs/p256.md."""

# Public keys are 65 bytes, 0x04 || x || y (SEC1 uncompressed), taken only from the exact
# SubjectPublicKeyInfo PEM that cryptography, OpenSSL and Go write (public_key_from_pem) and
# only for a point on the curve. Signatures are (r, s) integers with 1 <= r, s < n, decoded
# from strict DER (TUF metadata) or from a 64-byte r || s slot (image manifests); each decoder
# returns None for anything else. s above n/2 verifies, as in OpenSSL: ECDSA has no low-s rule
# in TUF, and the device must accept what python-tuf accepts.
#
# Speed on MicroPython (every 256-bit value is a heap object; `%` costs about three
# multiplications): [u1]G + [u2]Q in one chain of Jacobian doublings (a = -3) with signed
# windows (width _WG for G from a constant table, width _WQ for Q from 8 multiples built per
# call), every addition mixed (both tables affine; Q's made affine with one inversion), and
# the result compared as X == r Z^2 instead of inverting Z.

import hashlib

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


_P = const(0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF)
_N = const(0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551)
_B = const(0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B)
_GX = const(0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296)
_GY = const(0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5)
_WG = const(7)  # window width for G: 32 table points
_WQ = const(5)  # window width for Q: 8 points per call
_DIGITS = const(257)  # a width-w NAF of a 256-bit scalar has at most 257 digits

PUBLIC_KEY_SIZE = const(65)
# SEQUENCE { SEQUENCE { OID id-ecPublicKey, OID prime256v1 }, BIT STRING (0 unused bits) 04 ...
_SPKI_PREFIX = b"\x30\x59\x30\x13\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07\x03\x42\x00"
_PEM_HEAD = "-----BEGIN PUBLIC KEY-----\n"
_PEM_TAIL = "-----END PUBLIC KEY-----\n"
_PEM_SIZE = const(178)  # head, 64 + 1 and 60 + 1 characters of base64 for 91 bytes, tail
_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def public_key_from_pem(text):
    """The 65-byte key of a P-256 SubjectPublicKeyInfo PEM written exactly as cryptography
    writes it (64-character lines, one final newline), or None for anything else."""
    if not isinstance(text, str) or len(text) != _PEM_SIZE or text[:len(_PEM_HEAD)] != _PEM_HEAD:
        return None
    # The SPKI has a fixed size, so its PEM has a fixed layout: lines of 64 and 60 characters.
    body = text[len(_PEM_HEAD):len(text) - len(_PEM_TAIL)]
    if text[len(text) - len(_PEM_TAIL):] != _PEM_TAIL or body[64] != "\n" or body[-1] != "\n":
        return None
    spki = _base64(body[:64] + body[65:-1])
    if spki is None or spki[:len(_SPKI_PREFIX)] != _SPKI_PREFIX:
        return None
    public = bytes(spki[len(_SPKI_PREFIX):])
    return public if point_valid(public) else None


def _base64(text):
    """Strict base64 (RFC 4648: padded, no other characters, unused bits zero) -> bytearray,
    or None. Not binascii: its decoders skip different characters on each runtime."""
    pad = len(text) - len(text.rstrip("="))
    if len(text) % 4 or pad > 2:
        return None
    out = bytearray()
    acc = 0
    bits = 0
    for i in range(len(text) - pad):
        v = _BASE64.find(text[i])
        if v < 0:
            return None
        acc = (acc << 6 | v) & 0xFFF
        bits += 6
        if bits >= 8:
            bits -= 8
            out.append(acc >> bits & 255)
    # Padding must be what the length needs and the bits it leaves over must be zero.
    if bits != 2 * pad or acc & ((1 << bits) - 1):
        return None
    return out


def point_valid(public_key):
    """True for 0x04 || x || y with x, y < p and y^2 = x^3 - 3x + b (never the point at
    infinity, which has no such encoding). P-256 has cofactor 1: such a point has order n."""
    if len(public_key) != PUBLIC_KEY_SIZE or public_key[0] != 4:
        return False
    x = int.from_bytes(public_key[1:33], "big")
    y = int.from_bytes(public_key[33:65], "big")
    return x < _P and y < _P and (y * y - (x * x - 3) * x - _B) % _P == 0


def decode_der(sig):
    """(r, s) from a DER ECDSA-Sig-Value with 1 <= r, s < n, or None: short-form lengths only
    (the longest valid one is 72 bytes), minimal positive INTEGERs, no trailing bytes."""
    if len(sig) < 8 or sig[0] != 0x30 or sig[1] != len(sig) - 2:
        return None
    r, i = _der_integer(sig, 2)
    if r is None:
        return None
    s, i = _der_integer(sig, i)
    if s is None or i != len(sig):
        return None
    return r, s


def _der_integer(sig, i):
    """(value, next index) of the INTEGER at sig[i], in [1, n), or (None, 0)."""
    if i + 2 > len(sig) or sig[i] != 0x02:
        return None, 0
    length = sig[i + 1]
    start = i + 2
    end = start + length
    # 33 bytes at most: 32 and a zero byte for the sign. Length 0x80 and up is long form.
    if length < 1 or length > 33 or end > len(sig):
        return None, 0
    first = sig[start]
    if first & 0x80:
        return None, 0  # negative
    if first == 0 and (length == 1 or not sig[start + 1] & 0x80):
        return None, 0  # a zero byte the sign does not need (or the value 0)
    value = int.from_bytes(sig[start:end], "big")
    if value >= _N:
        return None, 0
    return value, end


def decode_raw(sig):
    """(r, s) from 64 bytes r || s (IEEE P1363, big-endian) with 1 <= r, s < n, or None."""
    if len(sig) != 64:
        return None
    r = int.from_bytes(sig[0:32], "big")
    s = int.from_bytes(sig[32:64], "big")
    if not 0 < r < _N or not 0 < s < _N:
        return None
    return r, s


def verify(public_key, message, rs):
    """True if rs = (r, s) (from decode_der or decode_raw; None never verifies) is a signature
    of SHA-256(message) by the 65-byte public_key. Never raises for bytes-like arguments."""
    if rs is None or not point_valid(public_key):
        return False
    r, s = rs
    if not 0 < r < _N or not 0 < s < _N:
        return False
    e = int.from_bytes(hashlib.sha256(message).digest(), "big")
    w = _invert(s, _N)
    u1 = e * w % _N
    u2 = r * w % _N
    x = int.from_bytes(public_key[1:33], "big")
    y = int.from_bytes(public_key[33:65], "big")
    X, _, Z = _u1_g_plus_u2_q(u1, u2, x, y)
    if not Z:
        return False  # the point at infinity has no x
    # x(R) mod n == r, with x(R) = X / Z^2 < p < 2n: x(R) is r or r + n.
    zz = Z * Z % _P
    if X == r * zz % _P:
        return True
    return r + _N < _P and X == (r + _N) * zz % _P


def _invert(a, m):
    """1/a mod m (0 < a < m, gcd 1) by the extended Euclidean algorithm: about a third of the
    time of an exponentiation here (pow(a, m - 2, m), or an addition chain of squarings)."""
    b = m
    x0 = 1
    x1 = 0
    while b:
        q = a // b
        a, b = b, a - q * b
        x0, x1 = x1, x0 - q * x1
    return x0 % m


def _wnaf(k, w, plan, start):
    """Write k's width-w non-adjacent form into plan[start + i] (bit i): each odd digit m,
    m > 0 as m (table index m >> 1), m < 0 as 255 - (-m >> 1) (its index from 255)."""
    width = 1 << w
    mask = width - 1
    i = start
    while k:
        if k & 1:
            v = k & mask
            if v < width >> 1:
                plan[i] = v
                k -= v
            else:
                plan[i] = 255 - ((width - v) >> 1)
                k += width - v
        k >>= 1
        i += 1


def _dbl(X, Y, Z):
    # dbl-2001-b (a = -3), with Z3 = 2YZ. Infinity (Z = 0) stays infinity. Inlined in
    # _u1_g_plus_u2_q, where a call per doubling would cost about a tenth of a verify.
    delta = Z * Z % _P
    gamma = Y * Y % _P
    beta = X * gamma % _P
    alpha = (X - delta) * (X + delta) % _P * 3
    X3 = (alpha * alpha - (beta << 3)) % _P
    return X3, (alpha * ((beta << 2) - X3) - (gamma * gamma << 3)) % _P, (Y + Y) * Z % _P


def _add_affine(X, Y, Z, x, y):
    """(X, Y, Z) + affine (x, y), complete for every input: infinity, equal, opposite."""
    if not Z:
        return x, y, 1
    zz = Z * Z % _P
    h = (x * zz - X) % _P
    rr = (y * zz % _P * Z - Y) % _P
    if not h:
        return _dbl(X, Y, Z) if not rr else (1, 1, 0)
    hh = h * h % _P
    hhh = hh * h % _P
    v = X * hh % _P
    X3 = (rr * rr - hhh - 2 * v) % _P
    return X3, (rr * (v - X3) - Y * hhh) % _P, Z * h % _P


def _odd_multiples_affine(x, y, count):
    """[1, 3, .., 2 count - 1](x, y) as affine (x, y) pairs, with one inversion for all."""
    X2, Y2, Z2 = _dbl(x, y, 1)
    # Build the multiples on the isomorphic curve where 2P is affine, (X, Y) -> (X / u^2,
    # Y / u^3) with u = 1 / Z2: P is (x Z2^2, y Z2^3) there. Mixed additions do not depend on
    # the curve's a, and a point (X, Y, Z) there is (X, Y, Z Z2) on P-256: no inversion for 2P.
    # (No addition here meets its doubling case, which assumes a = -3: the multiples of a point
    # of order n are distinct.)
    zz = Z2 * Z2 % _P
    points = [(x * zz % _P, y * zz % _P * Z2 % _P, 1)]
    for _ in range(count - 1):
        X, Y, Z = points[-1]
        points.append(_add_affine(X, Y, Z, X2, Y2))
    # Montgomery's trick: invert the product of all Z Z2, then peel off each one.
    prefix = []
    acc = 1
    for k in range(count):
        prefix.append(acc)
        acc = acc * points[k][2] % _P * Z2 % _P
    inv = _invert(acc, _P)
    out = [None] * count
    for k in range(count - 1, -1, -1):
        X, Y, Z = points[k]
        zi = inv * prefix[k] % _P
        inv = inv * Z % _P * Z2 % _P
        zi2 = zi * zi % _P
        # "| 0" copies each into an exact-size int: % leaves a product-sized digit buffer.
        out[k] = (X * zi2 % _P | 0, Y * zi2 % _P * zi % _P | 0)
    return out


def _u1_g_plus_u2_q(u1, u2, qx, qy):
    """[u1]G + [u2]Q as Jacobian (X, Y, Z); Z = 0 for the point at infinity."""
    # plan[i]: the digit of u1 at bit i, plan[_DIGITS + i] that of u2, 0 for none. Bytes: a
    # list would be one block of 257 pointers (2 KiB on a 64-bit port) for a fragmented heap
    # to find in one piece, as Ed25519's plan was (docs/ed25519.md).
    plan = bytearray(2 * _DIGITS)
    _wnaf(u1, _WG, plan, 0)
    _wnaf(u2, _WQ, plan, _DIGITS)
    tq = _odd_multiples_affine(qx, qy, 1 << (_WQ - 2))
    tg = _G_TABLE
    from_bytes = int.from_bytes
    X = Y = 1
    Z = 0
    for i in range(_DIGITS - 1, -1, -1):
        if Z:  # the doubling of _dbl
            delta = Z * Z % _P
            gamma = Y * Y % _P
            beta = X * gamma % _P
            alpha = (X - delta) * (X + delta) % _P * 3
            Z = (Y + Y) * Z % _P
            X = (alpha * alpha - (beta << 3)) % _P
            Y = (alpha * ((beta << 2) - X) - (gamma * gamma << 3)) % _P
        d = plan[i]
        if d:  # G's digit: its point decoded from the table, negated for d >= 128
            o = 64 * (d >> 1 if d < 128 else 255 - d)
            y = from_bytes(tg[o + 32 : o + 64], "big")
            X, Y, Z = _add_affine(X, Y, Z, from_bytes(tg[o : o + 32], "big"), y if d < 128 else _P - y)
        d = plan[_DIGITS + i]
        if d:  # Q's
            if d < 128:
                x, y = tq[d >> 1]
            else:
                x, y = tq[255 - d]
                y = _P - y
            X, Y, Z = _add_affine(X, Y, Z, x, y)
    return X, Y, Z


# [1, 3, .., 2**(_WG-1) - 1]G, affine, each x then y, 32 bytes big-endian: a bytes constant,
# which stays in flash when the module runs from ROMFS (32 pairs of ints were 3.7 KB of heap
# for good; docs/p256.md). tests/test_p256_crosscheck.py recomputes it with cryptography.
_G_TABLE = (
    b"\x6b\x17\xd1\xf2\xe1\x2c\x42\x47\xf8\xbc\xe6\xe5\x63\xa4\x40\xf2"
    b"\x77\x03\x7d\x81\x2d\xeb\x33\xa0\xf4\xa1\x39\x45\xd8\x98\xc2\x96"
    b"\x4f\xe3\x42\xe2\xfe\x1a\x7f\x9b\x8e\xe7\xeb\x4a\x7c\x0f\x9e\x16"
    b"\x2b\xce\x33\x57\x6b\x31\x5e\xce\xcb\xb6\x40\x68\x37\xbf\x51\xf5"
    b"\x5e\xcb\xe4\xd1\xa6\x33\x0a\x44\xc8\xf7\xef\x95\x1d\x4b\xf1\x65"
    b"\xe6\xc6\xb7\x21\xef\xad\xa9\x85\xfb\x41\x66\x1b\xc6\xe7\xfd\x6c"
    b"\x87\x34\x64\x0c\x49\x98\xff\x7e\x37\x4b\x06\xce\x1a\x64\xa2\xec"
    b"\xd8\x2a\xb0\x36\x38\x4f\xb8\x3d\x9a\x79\xb1\x27\xa2\x7d\x50\x32"
    b"\x51\x59\x0b\x7a\x51\x51\x40\xd2\xd7\x84\xc8\x56\x08\x66\x8f\xdf"
    b"\xef\x8c\x82\xfd\x1f\x5b\xe5\x24\x21\x55\x4a\x0d\xc3\xd0\x33\xed"
    b"\xe0\xc1\x7d\xa8\x90\x4a\x72\x7d\x8a\xe1\xbf\x36\xbf\x8a\x79\x26"
    b"\x0d\x01\x2f\x00\xd4\xd8\x08\x88\xd1\xd0\xbb\x44\xfd\xa1\x6d\xa4"
    b"\x8e\x53\x3b\x6f\xa0\xbf\x7b\x46\x25\xbb\x30\x66\x7c\x01\xfb\x60"
    b"\x7e\xf9\xf8\xb8\xa8\x0f\xef\x5b\x30\x06\x28\x70\x31\x87\xb2\xa3"
    b"\x73\xeb\x1d\xbd\xe0\x33\x18\x36\x6d\x06\x9f\x83\xa6\xf5\x90\x00"
    b"\x53\xc7\x36\x33\xcb\x04\x1b\x21\xc5\x5e\x1a\x86\xc1\xf4\x00\xb4"
    b"\xea\x68\xd7\xb6\xfe\xdf\x0b\x71\x87\x89\x38\xd5\x1d\x71\xf8\x72"
    b"\x9e\x0a\xcb\x8c\x2c\x6d\xf8\xb3\xd7\x9e\x8a\x4b\x90\x94\x9e\xe0"
    b"\x2a\x27\x44\xc9\x72\xc9\xfc\xe7\x87\x01\x4a\x96\x4a\x8e\xa0\xc8"
    b"\x4d\x71\x4f\xea\xa4\xde\x82\x3f\xe8\x5a\x22\x4a\x4d\xd0\x48\xfa"
    b"\x3e\xd1\x13\xb7\x88\x3b\x4c\x59\x06\x38\x37\x9d\xb0\xc2\x1c\xda"
    b"\x16\x74\x2e\xd0\x25\x50\x48\xbf\x43\x33\x91\xd3\x74\xbc\x21\xd1"
    b"\x90\x99\x20\x9a\xcc\xc4\xc8\xa2\x24\xc8\x43\xaf\xa4\xf4\xc6\x8a"
    b"\x09\x0d\x04\xda\x5e\x98\x89\xda\xe2\xf8\xee\xfc\xe8\x2a\x37\x40"
    b"\x17\x7c\x83\x7a\xe0\xac\x49\x5a\x61\x80\x5d\xf2\xd8\x5e\xe2\xfc"
    b"\x79\x2e\x28\x4b\x65\xea\xd5\x8a\x98\xe1\x5d\x9d\x46\x07\x2c\x01"
    b"\x63\xbb\x58\xcd\x4e\xbe\xa5\x58\xa2\x40\x91\xad\xb4\x0f\x4e\x72"
    b"\x26\xee\x14\xc3\xa1\xfb\x4d\xf3\x9c\x43\xbb\xe2\xef\xc7\xbf\xd8"
    b"\xf0\x45\x4d\xc6\x97\x1a\xba\xe7\xad\xfb\x37\x89\x99\x88\x82\x65"
    b"\xae\x03\xaf\x92\xde\x3a\x0e\xf1\x63\x66\x8c\x63\xe5\x9b\x9d\x5f"
    b"\xb5\xb9\x3e\xe3\x59\x2e\x2d\x1f\x4e\x65\x94\xe5\x1f\x96\x43\xe6"
    b"\x2a\x3b\x21\xce\x75\xb5\xfa\x3f\x47\xe5\x9c\xde\x0d\x03\x4f\x36"
    b"\x47\x77\x69\x04\xc0\xf1\xcc\x3a\x9c\x09\x84\xb6\x6f\x75\x30\x1a"
    b"\x5f\xa6\x86\x78\xf0\xd6\x4a\xf8\xba\x1a\xbc\xe3\x47\x38\xa7\x3e"
    b"\xaa\x00\x5e\xe6\xb5\xb9\x57\x28\x62\x31\x85\x65\x77\x64\x8e\x83"
    b"\x81\xb2\x80\x44\x28\xd5\x73\x3f\x32\xf7\x87\xff\x71\xf1\xfc\xdc"
    b"\xcb\x6d\x28\x61\x10\x2c\x0c\x25\xce\x39\xb7\xc1\x71\x08\xc5\x07"
    b"\x78\x2c\x45\x22\x57\x88\x48\x95\xc1\xfc\x7b\x74\xab\x03\xed\x83"
    b"\x58\xd7\x61\x4b\x24\xd9\xef\x51\x5c\x35\xe7\x10\x0d\x6d\x6c\xe4"
    b"\xa4\x96\x71\x6e\x30\xfa\x3e\x03\xe3\x91\x50\x75\x2b\xce\xcd\xaa"
    b"\x32\x50\xfc\xf6\x86\x63\x7c\x7b\x2e\x4a\xc8\x6e\xb4\x73\xbc\xa5"
    b"\x3a\x58\x21\x39\xf4\x2b\x15\x23\xfd\x76\x36\x4e\x67\x39\x9e\x83"
    b"\x42\xe7\xc3\x42\x66\x7d\x35\x93\x97\xb3\x09\x0d\x1d\x7e\xb8\x8c"
    b"\x89\x7c\xd3\xc3\x3b\x56\x6a\x82\x15\xde\x24\xa0\x71\xd4\x8c\x09"
    b"\x0e\x91\xc7\x23\x9c\x26\x40\xd7\xd2\x8a\x3e\x39\xd4\x58\x3f\xa6"
    b"\x3c\x0b\xc0\xa5\xdf\x64\xa4\xfe\x67\x2e\x57\x30\x45\xca\x78\x96"
    b"\x5d\xf6\x5c\x3b\x55\x0d\xba\x22\x1a\x22\x73\x3b\xb8\xe0\xbd\x6d"
    b"\x7e\x68\x83\x35\x75\xe7\xa5\xae\x13\x80\x46\x54\x31\x40\xad\x55"
    b"\x3a\x67\xe2\x55\x4b\x0c\x0b\xb6\x85\xf4\xf5\x2d\x8c\x07\xfa\x84"
    b"\x41\x65\x2f\xc5\xb7\x6f\x1b\x24\x84\xa4\xdc\x45\xf2\x00\xd6\x87"
    b"\x27\xd0\xf1\x87\x2f\x1f\xcf\x43\x26\xda\xf2\x67\x16\x3a\xfb\x0d"
    b"\x8c\x18\x8a\xf7\x35\xa7\x61\x8a\xa9\xed\x16\xb3\x02\xf7\x93\x24"
    b"\x18\x4f\xfa\x58\x19\xd8\x0d\x51\xde\xba\x2f\xac\x46\x11\xf3\x78"
    b"\x57\x63\x55\xbd\x68\x3e\x54\xab\xf2\xe2\x01\x17\x3b\x08\x83\xd1"
    b"\xc0\xa6\x6e\x27\x66\x88\xf3\x59\xa4\xc6\xd9\x08\x26\xcb\x99\x95"
    b"\x45\xbd\xec\xcc\x63\xf0\x49\x16\x20\xd2\x42\xc2\x60\x90\x6e\x6f"
    b"\xd6\xd3\x3a\xde\xfa\x19\x5b\x07\xa7\xc3\x6d\xa0\x90\x85\x3b\x8c"
    b"\xfd\x8c\xd1\xc6\x88\xb5\x8a\x41\xde\xdd\x69\x3d\x1c\x78\x4d\xef"
    b"\x84\xaa\xba\x16\xee\x19\x5d\x7e\x3f\x78\x24\x5f\x55\x8a\x5d\xcb"
    b"\x09\xa1\x66\xab\x4b\x95\xed\xed\x55\x0c\x12\x45\x93\xd1\xbc\xa6"
    b"\x30\x1d\x9e\x50\x2d\xc7\xe0\x5d\xa8\x5d\xa0\x26\xa7\xae\x9a\xa0"
    b"\xfa\xc9\xdb\x7d\x52\xa9\x5b\x3e\x3e\x3f\x9a\xa0\xa1\xb4\x5b\x8b"
    b"\x65\x51\xb6\xf6\xb3\x06\x12\x23\xe0\xd2\x3c\x02\x6b\x01\x7d\x72"
    b"\x29\x8d\x9a\xe4\x68\x87\xca\x61\xd5\x8d\xb6\xae\xa1\x7e\xe2\x67"
    b"\x98\x07\xd6\x99\xfc\xd8\x13\x56\xfa\x9a\xa2\x5b\x89\xd9\xd3\x4e"
    b"\xa0\x3b\x0a\x53\x3a\xa8\x72\xfd\x65\xc1\x00\xf3\xcb\x2c\xd7\x93"
    b"\xc2\xa5\x9c\xdc\xca\xb1\x1b\xf2\x86\xa0\x1a\x4d\x1d\x09\x1b\x2f"
    b"\xff\xe6\x30\xb9\x6c\x58\x78\x53\x2f\x6b\xf9\x24\x79\x63\x4a\xf4"
    b"\xd5\x8d\x4a\x58\x9e\xd2\x7d\x16\x8f\xfa\x3a\xd7\x32\x6c\x48\xca"
    b"\x94\xe8\xe1\xfe\x92\xaf\x97\x00\xa1\x2d\x38\x90\x33\xbb\x29\x1a"
    b"\xd4\x55\x14\xd1\x02\x72\x6b\x85\x76\xea\x92\x63\x2d\xc7\xfe\xf6"
    b"\x67\x27\x1c\x16\x3b\x03\x49\x79\xa5\xb0\xc9\xc6\xf5\x86\xb9\xd5"
    b"\x41\x9a\x6a\x64\x6d\xdb\x81\x7d\xd6\xb0\x97\x86\x11\xa8\x26\xaa"
    b"\xe0\xd2\x13\x79\x24\x6b\xfd\x44\x73\xa9\x28\x94\x50\x2b\x33\x48"
    b"\x33\x25\x44\xcf\x11\x02\xf5\x84\x54\x5c\x9f\xb1\x95\x4c\x2f\xd5"
    b"\x13\xc6\xd0\x72\xf3\xde\xe1\xe2\xdb\x1d\x6c\x81\xb0\x92\x14\xb2"
    b"\x22\xa6\x82\xf7\xc3\x99\x6d\x4d\x42\x01\x49\x76\xa1\x79\x04\x6e"
    b"\x54\x7b\x94\x2d\xd2\xd1\x38\xd4\xa0\xc1\x99\xdd\xfb\x27\x76\xc4"
    b"\x4f\x46\x06\xb0\x10\x22\x23\xee\xb9\x18\xc9\x83\x5a\x54\x35\x6c"
    b"\x97\x9d\xcc\x31\x02\x65\xb0\x68\x53\x47\xf6\x49\xcb\xaa\x28\x5d"
    b"\x67\xa6\xbe\xc2\x40\xde\xe0\x65\x1c\xf2\x58\xd2\xe6\xcf\xe8\xaa"
    b"\x60\x67\xc5\xc3\xd4\x17\x5a\x59\x3a\x7d\xe6\x94\x99\x5d\x2f\xa2"
    b"\xde\x69\x2b\x70\x22\xd1\x31\x58\x6c\x24\x9b\x49\x46\x4d\x44\x99"
    b"\x15\x42\xc7\xee\x20\x9a\xca\x6c\x49\xc2\x4c\xe1\x44\x1f\xee\xd5"
    b"\x98\x6a\xe2\x50\x6f\x1f\xf1\x04\xd0\x42\x30\x86\x1d\x8f\x4b\x49"
    b"\x8f\x4b\xc4\xc6\xd0\x09\xb3\x0f\x75\x44\xdc\x12\x9b\x82\xd2\x8d"
    b"\x00\x3c\xcc\xc0\xa6\x46\x0e\x0a\xe3\x28\xa4\xd9\x7d\x3c\x7b\x61"
    b"\xd8\x6f\xc6\x28\x9c\x18\x9f\x25\x25\x11\x0c\x44\x1b\xb0\x7e\x97"
    b"\xa8\x91\xd0\x66\x70\xbd\xe9\x9b\x3e\xcd\x0f\x5d\xdf\xf0\x67\x2e"
    b"\x0f\x5f\x60\x9e\xdd\x29\xd6\xd9\x79\xc7\x80\x80\xfa\xe0\xba\x03"
    b"\xb5\x96\xcd\x92\x2c\xbf\xa1\xc1\x41\x9a\x88\xc4\x03\x3c\x1c\xe7"
    b"\x1c\x6b\x38\xf0\xfe\xb0\xf2\xcc\xef\xc3\xed\xc8\x16\x69\x34\xae"
    b"\x42\xc3\x15\xcc\x48\x95\x87\x08\x59\x53\x61\xea\x83\x07\x1b\xbc"
    b"\xdd\x5b\x31\x58\x3e\x19\x06\x6d\x51\xd6\x89\x22\x7b\x1c\x0d\x7c"
    b"\x64\x9a\x61\xce\x57\x1b\x95\x85\x29\x14\xd1\xdf\xbb\x7a\x79\x90"
    b"\x74\xf1\xa1\xe1\xeb\x87\xf1\x64\xd6\xc4\xa7\x2b\xb2\xf9\xb1\xb9"
    b"\xf7\x85\xb0\xe0\x98\x06\x88\x75\xbb\x22\xb1\x46\x86\x6e\x6c\x05"
    b"\x28\xfb\x7e\xa9\x75\x8f\xd4\xfd\x7d\x22\x8c\xe6\xa5\x67\x44\x55"
    b"\x73\xfd\xb0\xbf\x60\x80\xda\x6e\xe1\x5c\x76\x7f\x0d\x9f\x5b\x41"
    b"\x4b\x04\xb6\xfd\x5f\x3a\xa6\x0a\xe7\xbc\x49\x0c\x10\xd6\x24\x08"
    b"\x67\x2c\x4a\x51\x4d\x9d\xe4\x3e\xaa\xde\xe6\x86\x3c\x1d\x68\xbc"
    b"\x95\xf7\xeb\x56\xe8\x10\x08\xff\x04\x43\x60\xf0\x01\x8e\x22\xb1"
    b"\x54\x8c\x7e\x91\x96\xa2\x5b\xfe\x61\x1d\xe5\xa4\xac\xe2\x03\xf7"
    b"\x13\x62\x46\x58\x97\x04\xd9\x41\x99\x35\x39\x91\x91\xf3\x71\x04"
    b"\x6f\x01\xbd\x49\xc9\xd9\x52\x45\x5a\x47\x80\x22\x54\xb8\x80\x39"
    b"\x98\x2b\x1c\xa7\x8d\xe9\xb9\x83\xf1\x26\xec\x9f\x74\x49\xd0\x36"
    b"\x15\x62\x08\x0f\xf1\xd5\xde\xab\x11\xa0\xf2\x1a\x60\x87\x76\xce"
    b"\xa7\x85\x51\xbf\xc3\x74\x9b\x08\x36\x02\x33\xdd\x98\x9e\x17\xdb"
    b"\x07\x9d\xba\x7b\xa0\x68\xc9\x26\x75\x71\xa1\x09\xfe\x7f\xea\x2c"
    b"\xc2\xa5\x95\xb7\x62\xc1\xea\xda\xde\xc1\xdf\xf7\xdf\x6e\x60\xa0"
    b"\xdc\x1e\x19\xb7\x43\xd4\xd1\x81\x1d\x22\x3f\x9d\x2a\x95\x88\xab"
    b"\x83\xeb\x2d\xf3\x57\x51\xa3\x97\xfb\x0d\xa5\xae\xb4\x82\x4d\xea"
    b"\xc1\x16\xe3\x0e\xbb\x4d\x28\x65\x12\x6d\x45\xa8\xea\x90\x7f\x86"
    b"\x28\x9d\x40\x6e\x2d\x6c\x6b\xd8\x8a\xbd\x97\xb1\xd0\xf5\x60\x77"
    b"\xe9\x47\x88\x23\xc3\x5b\x30\xc2\xb8\xb1\x6d\x9b\xb1\x3b\x87\x65"
    b"\x7d\x5b\xd5\xe8\x9e\x59\xc8\xc5\x31\x3f\xd7\xfd\xa4\x10\xc2\x06"
    b"\x66\x5f\x1a\x6f\xfe\x0c\x64\x37\x76\x5b\x27\x84\xfc\xa9\xbd\xf7"
    b"\xe5\x09\x41\x11\x9e\x8d\xc8\xec\xa2\xb6\xea\x0e\x0f\xaa\x4b\x45"
    b"\x49\x0e\x2c\xa4\x9f\xfd\x18\xc2\x6e\x8c\xca\x29\xf7\xea\xc3\x7f"
    b"\x7d\xed\xe5\xbf\x81\xe2\x15\xbc\x6e\x25\xa6\x60\x2b\x7f\x4c\xcf"
    b"\x05\x9c\xcb\x19\xed\xd3\xda\x9a\x2d\x3a\x6b\x3d\x8d\x99\x00\x01"
    b"\x3e\x79\x10\xa0\x8b\x72\x4f\xd5\x59\x39\xac\x38\x0d\x32\xaf\x0e"
    b"\xbb\x6a\xd7\xec\xca\xd4\x91\x59\xda\x65\x28\x1b\x93\x45\x63\x8e"
    b"\x16\x21\xf7\xa3\x39\x56\xce\xcd\x92\x8e\x1e\x3c\x97\xfe\x91\xd1"
    b"\x6a\x95\x01\xd8\x5b\xf5\xdc\x80\x2a\x1f\x28\xa0\x8a\xcc\x7d\x8f"
    b"\xdf\x53\xc8\xaf\x01\xa7\xcd\x38\x32\xa2\x90\x82\x5d\x8b\xda\xc1"
    b"\xca\x64\x0a\xd1\x93\x47\x37\x43\x81\xc6\xc6\xe4\x4a\x3c\x56\xa3"
    b"\xf8\x46\x1b\x5c\x69\x7a\x6f\x35\x30\xaf\xf5\x3d\x5f\x1e\xf1\xa3"
)
