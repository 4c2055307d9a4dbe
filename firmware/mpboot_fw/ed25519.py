"""Ed25519 signature verification (RFC 8032), as strict as libsodium: docs/ed25519.md."""

# verify(public_key, message, signature) -> bool accepts a signature only if
#   S < L, neither A nor R is one of the 8 points of small order, A is a canonical encoding
#   (y < p) of a curve point, and encode([S]B - [h]A) == R byte for byte, h = SHA-512(R||A||M)
#   mod L: the cofactorless equation, with libsodium's extra rules (comparing encodings also
#   refuses every non-canonical R). It returns False, never raises, for bytes-like arguments
#   of any length.
#
# Speed on MicroPython (no native code; every 255-bit value is a heap object, and a reduction
# mod p costs about three multiplications) comes from doing few big-int operations:
# [S]B - [h]A in one chain of doublings with signed-digit windows (width _WB for B from a table
# built at import, width _WA for A from 8 multiples built per call), doublings that compute T
# only when an addition follows, one square root to decode A, one inversion to encode the
# result, and both of those as addition chains whose runs of squarings are single
# pow(x, 2**k, p) calls. Docstrings stay short: MicroPython keeps them in RAM.

from mpboot_fw.sha512 import sha512

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


_P = const(2**255 - 19)
_L = const(2**252 + 27742317777372353535851937790883648493)
_D = const(37095705934669439343138083508754565189542113879843219016388785533085940283555)
_D2 = const(16295367250680780974490674513165176452449235426866156013048779062215315747161)  # 2d
_BX = const(15112221349535400772501151409588531511454012693041857206046113283949847762202)
_BY = const(46316835694926478169428394003475163141307993866256225615783033603165251855960)
_SQRT_M1 = const(19681161376707505956807079304988542015446066515923890162744021073123829784752)
_Y_MASK = const((1 << 255) - 1)
_WB = const(7)  # window width for B: 32 table points, 5.8 KB of RAM (docs/ed25519.md)
_WA = const(5)  # window width for A: 8 points per call
# y of the 8 points of small order (x is fixed by y up to sign): the identity (1), order 2
# (p-1), order 4 (0) and order 8 (the last two). libsodium refuses them as A and as R.
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
    r = int.from_bytes(signature[0:32], "little")
    if (r & _Y_MASK) in _SMALL_ORDER_Y:
        return False
    a = _decode_negated(public_key)
    if a is None:
        return False
    hasher = sha512(signature[0:32])
    hasher.update(public_key)
    hasher.update(message)
    h = int.from_bytes(hasher.digest(), "little") % _L
    x, y, z = _s_b_plus_h_a(s, h, a)
    zi = _invert(z)
    return (y * zi % _P | (x * zi % _P & 1) << 255) == r


def in_prime_subgroup(public_key):
    # True only for a canonical encoding of a point of order L: [L]A is the identity. A key with
    # a torsion component (A + T, T of small order) is a second encoding one secret signs for
    # (pick the nonce so T's order divides h), so it must never stand beside A in a role.
    if len(public_key) != 32:
        return False
    a = _decode_negated(public_key)
    if a is None:
        return False
    x, y, z = _s_b_plus_h_a(0, _L, a)
    return x % _P == 0 and (y - z) % _P == 0


def _decode_negated(encoding):
    """-A as (x, y) for a canonical encoding of a point A not of small order, else None."""
    y = int.from_bytes(encoding, "little")
    sign = y >> 255
    y &= _Y_MASK
    if y >= _P or y in _SMALL_ORDER_Y:
        return None
    # x = sqrt(u / v) = u v^3 (u v^7)^((p-5)/8), then fix by sqrt(-1) (RFC 8032 5.1.3).
    yy = y * y % _P
    u = (yy - 1) % _P
    v = (_D * yy + 1) % _P
    v3 = v * v % _P * v % _P
    x = u * v3 % _P * _pow_p58(u * v3 % _P * v3 % _P * v % _P) % _P
    vxx = v * x % _P * x % _P
    if vxx != u:
        if vxx != _P - u:
            return None
        x = x * _SQRT_M1 % _P
    # Small-order points are already refused, so x != 0 and the sign bit is meaningful.
    if (x & 1) == sign:
        x = _P - x
    return x, y


def _wnaf(k, w, plan, base):
    """Write k's width-w non-adjacent form into plan[base + i] (bit i): each odd digit m as a
    table index, m > 0 as m (index m >> 1), m < 0 as 255 - (-m >> 1)."""
    b = k.to_bytes(36, "little")  # the refills below read at most up to byte 34
    width = 1 << w
    mask = width - 1
    neg = 511 - width  # (neg + v) >> 1 == 255 - ((width - v) >> 1)
    # acc: bits i.. of k plus the carry, a small int refilled 16 bits at a time (cheaper
    # here than rebuilding a window from three bytes at every step).
    acc = b[0] | b[1] << 8 | b[2] << 16
    n = 24
    j = 3
    i = 0
    while i < 254:
        if n < 16:
            acc += (b[j] | b[j + 1] << 8) << n
            n += 16
            j += 2
        if acc & 1:
            v = acc & mask
            if v < width >> 1:
                plan[base + i] = v
                acc >>= w
            else:
                plan[base + i] = (neg + v) >> 1
                acc = (acc >> w) + 1
            i += w
            n -= w
        elif acc & 2:
            acc >>= 1
            i += 1
            n -= 1
        elif acc & 4:
            acc >>= 2
            i += 2
            n -= 2
        else:
            acc >>= 3
            i += 3
            n -= 3


def _odd_multiples(x, y, n):
    """[1, 3, .., 2n-1]P for affine P = (x, y), each as (Y-X, Y+X, 2dT, 2Z) for additions."""
    t = x * y % _P
    # 2P by the doubling formula in _s_b_plus_h_a (Z = 1), as an addend.
    xx = x * x % _P
    yy = y * y % _P
    e = (t + t) % _P
    g = yy - xx
    f = 2 - g
    s = xx + yy
    x2 = e * f % _P
    y2 = g * s % _P
    ymx = y2 - x2
    ypx = y2 + x2
    t2d = e * s % _P * _D2 % _P
    z2 = f * g % _P * 2
    out = [(y - x, y + x, t * _D2 % _P, 2)]
    X = x
    Y = y
    Z = 1
    T = t
    for _ in range(n - 1):
        pa = (Y - X) * ymx % _P
        pb = (Y + X) * ypx % _P
        c = T * t2d % _P
        zz = Z * z2 % _P
        e = pb - pa
        h = pb + pa
        f = zz - c
        g = zz + c
        X = e * f % _P
        Y = g * h % _P
        Z = f * g % _P
        T = e * h % _P
        out.append((Y - X, Y + X, T * _D2 % _P, Z + Z))
    return out


def _halved_affine(points):
    """(Y-X, Y+X, 2dT) / 2Z of each point: its affine ((y-x)/2, (y+x)/2, dxy), which an
    addition may use with D = Z instead of 2Z (every term halves; the sum is the same
    projective point). One inversion for all (Montgomery's trick)."""
    prefix = []
    acc = 1
    for p in points:
        prefix.append(acc)
        acc = acc * p[3] % _P
    inv = _invert(acc)
    out = [None] * len(points)
    for k in range(len(points) - 1, -1, -1):
        ymx, ypx, t2d, z2 = points[k]
        w = inv * prefix[k] % _P  # 1 / z2
        inv = inv * z2 % _P
        # "| 0" copies each into an exact-size int: % leaves a product-sized digit buffer,
        # which would nearly double the table's RAM on MicroPython.
        out[k] = (ymx * w % _P | 0, ypx * w % _P | 0, t2d * w % _P | 0)
    return tuple(out)


def _s_b_plus_h_a(s, h, minus_a):
    """[s]B + [h](-A) as projective (X, Y, Z): one chain of doublings, with an addition from
    a table at each nonzero signed digit of s (table for B) and of h (table for -A)."""
    # plan[i]: the digit of s at bit i, plan[254 + i] that of h, 0 for none. Bytes: a list
    # would be one block of 254 pointers (2 KiB on a 64-bit port), which a fragmented heap
    # may not have in one piece while parsed metadata is alive (a refresh at the caps failed
    # so on the unix port, tests/test_tuf_memory.py).
    plan = bytearray(508)
    _wnaf(s, _WB, plan, 0)
    _wnaf(h, _WA, plan, 254)
    ta = _odd_multiples(minus_a[0], minus_a[1], 1 << (_WA - 2))
    tb = _B_ODD_MULTIPLES
    top = 253
    while not (plan[top] or plan[254 + top]):
        top -= 1
    # Start from the identity: its doubling in the first pass costs one doubling and no branch.
    X = 0
    Y = 1
    Z = 1
    for i in range(top, -1, -1):
        # Doubling (dbl-2008-hwcd with a = -1, every coordinate negated, which saves the
        # negations); T only when an addition follows.
        xx = X * X % _P
        yy = Y * Y % _P
        # 2XY only folded below 2^262 (it is only ever a factor of a product reduced mod p):
        # cheaper than % here, but each fold allocates 190 bytes more (docs/ed25519.md).
        ee = (X + X) * Y
        ee = (ee & _Y_MASK) + (ee >> 255) * 19
        g = yy - xx
        hh = xx + yy
        f = (Z + Z) * Z % _P - g
        X = ee * f % _P
        Y = g * hh % _P
        Z = f * g % _P
        d = plan[i]
        e = plan[254 + i]
        if not (d or e):
            continue
        T = ee * hh % _P
        # The two additions below differ only in their table and in D (Z here, Z * 2Z_Q
        # there); they are written out because a call per addition costs about 3 % here.
        if d:
            # Add the table's halved affine ((y-x)/2, (y+x)/2, dxy) of digit d (so D = Z);
            # for -Q swap the first two and negate the third (which swaps f and g).
            if d < 128:
                ymx, ypx, t2d = tb[d >> 1]
            else:
                ypx, ymx, t2d = tb[255 - d]
            pa = (Y - X) * ymx % _P
            pb = (Y + X) * ypx % _P
            c = T * t2d % _P
            if d < 128:
                f = Z - c
                g = Z + c
            else:
                f = Z + c
                g = Z - c
            ee = pb - pa
            hh = pb + pa
            X = ee * f % _P
            Y = g * hh % _P
            Z = f * g % _P
            if e:
                T = ee * hh % _P
        if e:
            if e < 128:
                ymx, ypx, t2d, z2 = ta[e >> 1]
            else:
                ypx, ymx, t2d, z2 = ta[255 - e]
            pa = (Y - X) * ymx % _P
            pb = (Y + X) * ypx % _P
            c = T * t2d % _P
            zz = Z * z2 % _P
            if e < 128:
                f = zz - c
                g = zz + c
            else:
                f = zz + c
                g = zz - c
            ee = pb - pa
            hh = pb + pa
            X = ee * f % _P
            Y = g * hh % _P
            Z = f * g % _P
    return X, Y, Z


def _pow_2_250_1(z):
    """(z^(2^250 - 1), z^11): the common part of the inversion and square-root chains."""
    z2 = z * z % _P
    z9 = pow(z2, 4, _P) * z % _P
    z11 = z9 * z2 % _P
    z_5 = z11 * z11 % _P * z9 % _P  # z^(2^5 - 1)
    z_10 = pow(z_5, 1 << 5, _P) * z_5 % _P
    z_20 = pow(z_10, 1 << 10, _P) * z_10 % _P
    z_40 = pow(z_20, 1 << 20, _P) * z_20 % _P
    z_50 = pow(z_40, 1 << 10, _P) * z_10 % _P
    z_100 = pow(z_50, 1 << 50, _P) * z_50 % _P
    z_200 = pow(z_100, 1 << 100, _P) * z_100 % _P
    return pow(z_200, 1 << 50, _P) * z_50 % _P, z11


def _invert(z):
    """z^(p-2) = z^(2^255 - 21)."""
    z_250, z11 = _pow_2_250_1(z)
    return pow(z_250, 1 << 5, _P) * z11 % _P


def _pow_p58(z):
    """z^((p-5)/8) = z^(2^252 - 3)."""
    z_250, _ = _pow_2_250_1(z)
    return pow(z_250, 4, _P) * z % _P


# [1, 3, .., 2**(_WB-1) - 1]B, computed once at import (no long literals: on MicroPython a
# module's constants stay in RAM for good, and a long int literal over-allocates).
_B_ODD_MULTIPLES = _halved_affine(_odd_multiples(_BX, _BY, 1 << (_WB - 2)))
