"""SHA-512 (FIPS 180-4) for the signature check: the runtime's own when it has one (CPython),
otherwise this pure-Python one (MicroPython's hashlib has only sha256, on the WebAssembly port
and on ESP32 builds alike).

`sha512(data=b"")` behaves like hashlib's: update() streams any bytes-like input through one
reused 128-byte buffer (whole blocks are read in place from the caller's buffer) and digest()
leaves the state usable.

On MicroPython every 64-bit word is a heap-allocated big int, so the compression function is
written for the fewest operations and bytecodes: its 16 message words and 16 round constants are
locals (struct unpacks them; the next 16 words replace them in place), 16 rounds are unrolled so
the working variables rotate by name, a 64-bit right rotation is one shift of x * (2**64 + 1),
sums are masked only where a value is stored (the bits above 64 never reach the low 64), and
Maj(a, b, c) = b ^ ((a ^ b) & (b ^ c)) reuses the previous round's a ^ b.
"""

from binascii import unhexlify
from struct import pack, pack_into, unpack, unpack_from

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


_M = const(0xFFFFFFFFFFFFFFFF)
_R = const(0x10000000000000001)  # x * _R == x | x << 64
# Built from bytes so each word is a compact int (a long literal over-allocates on MicroPython).
_IV = unpack(
    ">8Q",
    unhexlify(
        "6a09e667f3bcc908bb67ae8584caa73b3c6ef372fe94f82ba54ff53a5f1d36f1"
        "510e527fade682d19b05688c2b3e6c1f1f83d9abfb41bd6b5be0cd19137e2179"
    ),
)
_K_WORDS = unpack(
    ">80Q",
    unhexlify(
        "428a2f98d728ae227137449123ef65cdb5c0fbcfec4d3b2fe9b5dba58189dbbc3956c25bf348b53859f111f1b605d019"
        "923f82a4af194f9bab1c5ed5da6d8118d807aa98a303024212835b0145706fbe243185be4ee4b28c550c7dc3d5ffb4e2"
        "72be5d74f27b896f80deb1fe3b1696b19bdc06a725c71235c19bf174cf692694e49b69c19ef14ad2efbe4786384f25e3"
        "0fc19dc68b8cd5b5240ca1cc77ac9c652de92c6f592b02754a7484aa6ea6e4835cb0a9dcbd41fbd476f988da831153b5"
        "983e5152ee66dfaba831c66d2db43210b00327c898fb213fbf597fc7beef0ee4c6e00bf33da88fc2d5a79147930aa725"
        "06ca6351e003826f142929670a0e6e7027b70a8546d22ffc2e1b21385c26c9264d2c6dfc5ac42aed53380d139d95b3df"
        "650a73548baf63de766a0abb3c77b2a881c2c92e47edaee692722c851482353ba2bfe8a14cf10364a81a664bbc423001"
        "c24b8b70d0f89791c76c51a30654be30d192e819d6ef5218d69906245565a910f40e35855771202a106aa07032bbd1b8"
        "19a4c116b8d2d0c81e376c085141ab532748774cdf8eeb9934b0bcb5e19b48a8391c0cb3c5c95a634ed8aa4ae3418acb"
        "5b9cca4f7763e373682e6ff3d6b2b8a3748f82ee5defb2fc78a5636f43172f6084c87814a1f0ab728cc702081a6439ec"
        "90befffa23631e28a4506cebde82bde9bef9a3f7b2c67915c67178f2e372532bca273eceea26619cd186b8c721c0c207"
        "eada7dd6cde0eb1ef57d4f7fee6ed17806f067aa72176fba0a637dc5a2c898a6113f9804bef90dae1b710b35131c471b"
        "28db77f523047d8432caab7b40c724933c9ebe0a15c9bebc431d67c49c100d4c4cc5d4becb3e42b6597f299cfc657e2a"
        "5fcb6fab3ad6faec6c44198c4a475817"
    ),
)
_K = tuple(_K_WORDS[i : i + 16] for i in range(0, 80, 16))
del _K_WORDS


class PureSha512:
    digest_size = 64
    block_size = 128

    def __init__(self, data=b""):
        self._h = list(_IV)
        self._buf = bytearray(128)
        self._fill = 0
        self._length = 0
        if data:
            self.update(data)

    def update(self, data):
        n = len(data)
        self._length += n
        off = 0
        fill = self._fill
        if fill:
            take = min(128 - fill, n)
            self._buf[fill : fill + take] = memoryview(data)[:take]
            fill += take
            off = take
            if fill < 128:
                self._fill = fill
                return
            _compress(self._h, self._buf, 0)
        h = self._h
        while n - off >= 128:
            _compress(h, data, off)
            off += 128
        rest = n - off
        if rest:
            self._buf[:rest] = memoryview(data)[off:]
        self._fill = rest

    def digest(self):
        h = list(self._h)
        buf = bytearray(self._buf)
        fill = self._fill
        buf[fill] = 0x80
        for i in range(fill + 1, 128):
            buf[i] = 0
        if fill >= 112:
            _compress(h, buf, 0)
            for i in range(112):
                buf[i] = 0
        pack_into(">QQ", buf, 112, self._length >> 61, (self._length << 3) & _M)
        _compress(h, buf, 0)
        return pack(">8Q", *h)

    def hexdigest(self):
        return "".join("%02x" % b for b in self.digest())


try:
    from hashlib import sha512
except ImportError:
    sha512 = PureSha512


def _compress(h, block, off):
    (w0, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10, w11, w12, w13, w14, w15) = unpack_from(">16Q", block, off)
    a, b, c, d, e, f, g, hh = h
    ab1 = b ^ c
    r = 0
    while True:
        (k0, k1, k2, k3, k4, k5, k6, k7, k8, k9, k10, k11, k12, k13, k14, k15) = _K[r]
        t = e * _R
        t = hh + ((t >> 14) ^ (t >> 18) ^ (t >> 41)) + (g ^ (e & (f ^ g))) + k0 + w0
        d = (d + t) & _M
        ab0 = a ^ b
        u = a * _R
        hh = (t + ((u >> 28) ^ (u >> 34) ^ (u >> 39)) + (b ^ (ab0 & ab1))) & _M
        t = d * _R
        t = g + ((t >> 14) ^ (t >> 18) ^ (t >> 41)) + (f ^ (d & (e ^ f))) + k1 + w1
        c = (c + t) & _M
        ab1 = hh ^ a
        u = hh * _R
        g = (t + ((u >> 28) ^ (u >> 34) ^ (u >> 39)) + (a ^ (ab1 & ab0))) & _M
        t = c * _R
        t = f + ((t >> 14) ^ (t >> 18) ^ (t >> 41)) + (e ^ (c & (d ^ e))) + k2 + w2
        b = (b + t) & _M
        ab0 = g ^ hh
        u = g * _R
        f = (t + ((u >> 28) ^ (u >> 34) ^ (u >> 39)) + (hh ^ (ab0 & ab1))) & _M
        t = b * _R
        t = e + ((t >> 14) ^ (t >> 18) ^ (t >> 41)) + (d ^ (b & (c ^ d))) + k3 + w3
        a = (a + t) & _M
        ab1 = f ^ g
        u = f * _R
        e = (t + ((u >> 28) ^ (u >> 34) ^ (u >> 39)) + (g ^ (ab1 & ab0))) & _M
        t = a * _R
        t = d + ((t >> 14) ^ (t >> 18) ^ (t >> 41)) + (c ^ (a & (b ^ c))) + k4 + w4
        hh = (hh + t) & _M
        ab0 = e ^ f
        u = e * _R
        d = (t + ((u >> 28) ^ (u >> 34) ^ (u >> 39)) + (f ^ (ab0 & ab1))) & _M
        t = hh * _R
        t = c + ((t >> 14) ^ (t >> 18) ^ (t >> 41)) + (b ^ (hh & (a ^ b))) + k5 + w5
        g = (g + t) & _M
        ab1 = d ^ e
        u = d * _R
        c = (t + ((u >> 28) ^ (u >> 34) ^ (u >> 39)) + (e ^ (ab1 & ab0))) & _M
        t = g * _R
        t = b + ((t >> 14) ^ (t >> 18) ^ (t >> 41)) + (a ^ (g & (hh ^ a))) + k6 + w6
        f = (f + t) & _M
        ab0 = c ^ d
        u = c * _R
        b = (t + ((u >> 28) ^ (u >> 34) ^ (u >> 39)) + (d ^ (ab0 & ab1))) & _M
        t = f * _R
        t = a + ((t >> 14) ^ (t >> 18) ^ (t >> 41)) + (hh ^ (f & (g ^ hh))) + k7 + w7
        e = (e + t) & _M
        ab1 = b ^ c
        u = b * _R
        a = (t + ((u >> 28) ^ (u >> 34) ^ (u >> 39)) + (c ^ (ab1 & ab0))) & _M
        t = e * _R
        t = hh + ((t >> 14) ^ (t >> 18) ^ (t >> 41)) + (g ^ (e & (f ^ g))) + k8 + w8
        d = (d + t) & _M
        ab0 = a ^ b
        u = a * _R
        hh = (t + ((u >> 28) ^ (u >> 34) ^ (u >> 39)) + (b ^ (ab0 & ab1))) & _M
        t = d * _R
        t = g + ((t >> 14) ^ (t >> 18) ^ (t >> 41)) + (f ^ (d & (e ^ f))) + k9 + w9
        c = (c + t) & _M
        ab1 = hh ^ a
        u = hh * _R
        g = (t + ((u >> 28) ^ (u >> 34) ^ (u >> 39)) + (a ^ (ab1 & ab0))) & _M
        t = c * _R
        t = f + ((t >> 14) ^ (t >> 18) ^ (t >> 41)) + (e ^ (c & (d ^ e))) + k10 + w10
        b = (b + t) & _M
        ab0 = g ^ hh
        u = g * _R
        f = (t + ((u >> 28) ^ (u >> 34) ^ (u >> 39)) + (hh ^ (ab0 & ab1))) & _M
        t = b * _R
        t = e + ((t >> 14) ^ (t >> 18) ^ (t >> 41)) + (d ^ (b & (c ^ d))) + k11 + w11
        a = (a + t) & _M
        ab1 = f ^ g
        u = f * _R
        e = (t + ((u >> 28) ^ (u >> 34) ^ (u >> 39)) + (g ^ (ab1 & ab0))) & _M
        t = a * _R
        t = d + ((t >> 14) ^ (t >> 18) ^ (t >> 41)) + (c ^ (a & (b ^ c))) + k12 + w12
        hh = (hh + t) & _M
        ab0 = e ^ f
        u = e * _R
        d = (t + ((u >> 28) ^ (u >> 34) ^ (u >> 39)) + (f ^ (ab0 & ab1))) & _M
        t = hh * _R
        t = c + ((t >> 14) ^ (t >> 18) ^ (t >> 41)) + (b ^ (hh & (a ^ b))) + k13 + w13
        g = (g + t) & _M
        ab1 = d ^ e
        u = d * _R
        c = (t + ((u >> 28) ^ (u >> 34) ^ (u >> 39)) + (e ^ (ab1 & ab0))) & _M
        t = g * _R
        t = b + ((t >> 14) ^ (t >> 18) ^ (t >> 41)) + (a ^ (g & (hh ^ a))) + k14 + w14
        f = (f + t) & _M
        ab0 = c ^ d
        u = c * _R
        b = (t + ((u >> 28) ^ (u >> 34) ^ (u >> 39)) + (d ^ (ab0 & ab1))) & _M
        t = f * _R
        t = a + ((t >> 14) ^ (t >> 18) ^ (t >> 41)) + (hh ^ (f & (g ^ hh))) + k15 + w15
        e = (e + t) & _M
        ab1 = b ^ c
        u = b * _R
        a = (t + ((u >> 28) ^ (u >> 34) ^ (u >> 39)) + (c ^ (ab1 & ab0))) & _M
        r += 1
        if r == 5:
            break
        # The next 16 message words replace these in place (w[t] from w[t-16, -15, -7, -2]).
        t = w1 * _R
        u = w14 * _R
        w0 = (w0 + ((t >> 1) ^ (t >> 8) ^ (w1 >> 7)) + w9 + ((u >> 19) ^ (u >> 61) ^ (w14 >> 6))) & _M
        t = w2 * _R
        u = w15 * _R
        w1 = (w1 + ((t >> 1) ^ (t >> 8) ^ (w2 >> 7)) + w10 + ((u >> 19) ^ (u >> 61) ^ (w15 >> 6))) & _M
        t = w3 * _R
        u = w0 * _R
        w2 = (w2 + ((t >> 1) ^ (t >> 8) ^ (w3 >> 7)) + w11 + ((u >> 19) ^ (u >> 61) ^ (w0 >> 6))) & _M
        t = w4 * _R
        u = w1 * _R
        w3 = (w3 + ((t >> 1) ^ (t >> 8) ^ (w4 >> 7)) + w12 + ((u >> 19) ^ (u >> 61) ^ (w1 >> 6))) & _M
        t = w5 * _R
        u = w2 * _R
        w4 = (w4 + ((t >> 1) ^ (t >> 8) ^ (w5 >> 7)) + w13 + ((u >> 19) ^ (u >> 61) ^ (w2 >> 6))) & _M
        t = w6 * _R
        u = w3 * _R
        w5 = (w5 + ((t >> 1) ^ (t >> 8) ^ (w6 >> 7)) + w14 + ((u >> 19) ^ (u >> 61) ^ (w3 >> 6))) & _M
        t = w7 * _R
        u = w4 * _R
        w6 = (w6 + ((t >> 1) ^ (t >> 8) ^ (w7 >> 7)) + w15 + ((u >> 19) ^ (u >> 61) ^ (w4 >> 6))) & _M
        t = w8 * _R
        u = w5 * _R
        w7 = (w7 + ((t >> 1) ^ (t >> 8) ^ (w8 >> 7)) + w0 + ((u >> 19) ^ (u >> 61) ^ (w5 >> 6))) & _M
        t = w9 * _R
        u = w6 * _R
        w8 = (w8 + ((t >> 1) ^ (t >> 8) ^ (w9 >> 7)) + w1 + ((u >> 19) ^ (u >> 61) ^ (w6 >> 6))) & _M
        t = w10 * _R
        u = w7 * _R
        w9 = (w9 + ((t >> 1) ^ (t >> 8) ^ (w10 >> 7)) + w2 + ((u >> 19) ^ (u >> 61) ^ (w7 >> 6))) & _M
        t = w11 * _R
        u = w8 * _R
        w10 = (w10 + ((t >> 1) ^ (t >> 8) ^ (w11 >> 7)) + w3 + ((u >> 19) ^ (u >> 61) ^ (w8 >> 6))) & _M
        t = w12 * _R
        u = w9 * _R
        w11 = (w11 + ((t >> 1) ^ (t >> 8) ^ (w12 >> 7)) + w4 + ((u >> 19) ^ (u >> 61) ^ (w9 >> 6))) & _M
        t = w13 * _R
        u = w10 * _R
        w12 = (w12 + ((t >> 1) ^ (t >> 8) ^ (w13 >> 7)) + w5 + ((u >> 19) ^ (u >> 61) ^ (w10 >> 6))) & _M
        t = w14 * _R
        u = w11 * _R
        w13 = (w13 + ((t >> 1) ^ (t >> 8) ^ (w14 >> 7)) + w6 + ((u >> 19) ^ (u >> 61) ^ (w11 >> 6))) & _M
        t = w15 * _R
        u = w12 * _R
        w14 = (w14 + ((t >> 1) ^ (t >> 8) ^ (w15 >> 7)) + w7 + ((u >> 19) ^ (u >> 61) ^ (w12 >> 6))) & _M
        t = w0 * _R
        u = w13 * _R
        w15 = (w15 + ((t >> 1) ^ (t >> 8) ^ (w0 >> 7)) + w8 + ((u >> 19) ^ (u >> 61) ^ (w13 >> 6))) & _M
    h[0] = (h[0] + a) & _M
    h[1] = (h[1] + b) & _M
    h[2] = (h[2] + c) & _M
    h[3] = (h[3] + d) & _M
    h[4] = (h[4] + e) & _M
    h[5] = (h[5] + f) & _M
    h[6] = (h[6] + g) & _M
    h[7] = (h[7] + hh) & _M
