"""Ed25519 signature verification (RFC 8032), strict in the way libsodium is.

verify(public_key, message, signature) -> bool accepts a signature only if
    S < L, A and R are canonical encodings (y < p) of points not of small order, and
    encode([S]B - [h]A) == R  with h = SHA-512(R || A || M) mod L  (cofactorless).
It returns False (never raises) for bytes-like arguments of any length.
"""

from mpboot_fw.sha512 import sha512

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = 37095705934669439343138083508754565189542113879843219016388785533085940283555
_SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752
_BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960
# y coordinates of the eight points of small order: the identity (1), order 2 (p-1),
# order 4 (0) and order 8 (the last two); x is determined by y up to sign.
_SMALL_ORDER_Y = (
    0,
    1,
    _P - 1,
    2707385501144840649318225287225658788936804267575313519463743609750303402022,
    55188659117513257062467267217118295137698188065244968500265048394206261417927,
)


def verify(public_key, message, signature):
    if len(public_key) != 32 or len(signature) != 64:
        return False
    s = int.from_bytes(signature[32:64], "little")
    if s >= _L:
        return False
    r_y = int.from_bytes(signature[0:32], "little") & ((1 << 255) - 1)
    if r_y >= _P or r_y in _SMALL_ORDER_Y:
        return False
    a = _decode(public_key)
    if a is None:
        return False
    hasher = sha512(signature[0:32])
    hasher.update(public_key)
    hasher.update(message)
    h = int.from_bytes(hasher.digest(), "little") % _L
    x, y, z, t = a
    minus_a = (_P - x, y, z, _P - t)
    check = _add(_mul(s, (_BX, _BY, 1, _BX * _BY % _P)), _mul(h, minus_a))
    return _encode(check) == bytes(signature[0:32])


def _decode(b):
    y = int.from_bytes(b, "little") & ((1 << 255) - 1)
    if y >= _P or y in _SMALL_ORDER_Y:
        return None
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    vxx = v * x * x % _P
    if vxx != u:
        if vxx != _P - u:
            return None
        x = x * _SQRT_M1 % _P
    if x & 1 != b[31] >> 7:
        x = _P - x
    return (x, y, 1, x * y % _P)


def _encode(pt):
    x, y, z, _ = pt
    zi = pow(z, _P - 2, _P)
    x = x * zi % _P
    y = y * zi % _P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _add(p, q):
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = 2 * _D * t1 * t2 % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(k, p):
    q = (0, 1, 1, 0)
    while k:
        if k & 1:
            q = _add(q, p)
        p = _add(p, p)
        k >>= 1
    return q
