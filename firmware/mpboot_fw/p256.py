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
# windows (width _WG for G from a table built at import, width _WQ for Q from 8 multiples built
# per call), every addition mixed (both tables affine; Q's made affine with one inversion), and
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


def _wnaf(k, w, plan, shift):
    """Add k's width-w non-adjacent form into plan[i] (bit i), shifted left by `shift`: each
    odd digit m, m > 0 as m (table index m >> 1), m < 0 as 255 - (-m >> 1) (its index from 255)."""
    width = 1 << w
    mask = width - 1
    i = 0
    while k:
        if k & 1:
            v = k & mask
            if v < width >> 1:
                plan[i] |= v << shift
                k -= v
            else:
                plan[i] |= (255 - ((width - v) >> 1)) << shift
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
    # plan[i]: the digit of u1 at bit i (low byte) and of u2 (high byte), 0 for none.
    plan = [0] * _DIGITS
    _wnaf(u1, _WG, plan, 0)
    _wnaf(u2, _WQ, plan, 8)
    tq = _odd_multiples_affine(qx, qy, 1 << (_WQ - 2))
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
        if not d:
            continue
        table = _G_ODD_MULTIPLES
        while d:  # G's digit (low byte), then Q's
            k = d & 255
            if k:
                if k < 128:
                    x, y = table[k >> 1]
                else:
                    x, y = table[255 - k]
                    y = _P - y
                X, Y, Z = _add_affine(X, Y, Z, x, y)
            d >>= 8
            table = tq
    return X, Y, Z


# [1, 3, .., 2**(_WG-1) - 1]G, computed once at import (no long literals: on MicroPython a
# module's constants stay in RAM for good, and a long int literal over-allocates).
_G_ODD_MULTIPLES = _odd_multiples_affine(_GX, _GY, 1 << (_WG - 2))
