"""SHA-512 (FIPS 180-4) for the signature check: the runtime's own when it has one (CPython),
otherwise this pure-Python one (MicroPython's hashlib has only sha256, on the WebAssembly port
and on ESP32 builds alike).

`sha512(data=b"")` behaves like hashlib's: update() streams any bytes-like input through one
reused 128-byte buffer and digest() leaves the state usable. Each compression unpacks its
sixteen words straight from the caller's buffer with struct, and runs its 80 rounds eight at a
time so the working variables rotate by name instead of being shuffled (that halves the cost
per block on MicroPython); a 64-bit right rotation is one shift of `x | x << 64`.
"""

import struct

_M = 0xFFFFFFFFFFFFFFFF
_IV = (
    0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b, 0xa54ff53a5f1d36f1,
    0x510e527fade682d1, 0x9b05688c2b3e6c1f, 0x1f83d9abfb41bd6b, 0x5be0cd19137e2179,
)
_K = (
    0x428a2f98d728ae22, 0x7137449123ef65cd, 0xb5c0fbcfec4d3b2f, 0xe9b5dba58189dbbc,
    0x3956c25bf348b538, 0x59f111f1b605d019, 0x923f82a4af194f9b, 0xab1c5ed5da6d8118,
    0xd807aa98a3030242, 0x12835b0145706fbe, 0x243185be4ee4b28c, 0x550c7dc3d5ffb4e2,
    0x72be5d74f27b896f, 0x80deb1fe3b1696b1, 0x9bdc06a725c71235, 0xc19bf174cf692694,
    0xe49b69c19ef14ad2, 0xefbe4786384f25e3, 0x0fc19dc68b8cd5b5, 0x240ca1cc77ac9c65,
    0x2de92c6f592b0275, 0x4a7484aa6ea6e483, 0x5cb0a9dcbd41fbd4, 0x76f988da831153b5,
    0x983e5152ee66dfab, 0xa831c66d2db43210, 0xb00327c898fb213f, 0xbf597fc7beef0ee4,
    0xc6e00bf33da88fc2, 0xd5a79147930aa725, 0x06ca6351e003826f, 0x142929670a0e6e70,
    0x27b70a8546d22ffc, 0x2e1b21385c26c926, 0x4d2c6dfc5ac42aed, 0x53380d139d95b3df,
    0x650a73548baf63de, 0x766a0abb3c77b2a8, 0x81c2c92e47edaee6, 0x92722c851482353b,
    0xa2bfe8a14cf10364, 0xa81a664bbc423001, 0xc24b8b70d0f89791, 0xc76c51a30654be30,
    0xd192e819d6ef5218, 0xd69906245565a910, 0xf40e35855771202a, 0x106aa07032bbd1b8,
    0x19a4c116b8d2d0c8, 0x1e376c085141ab53, 0x2748774cdf8eeb99, 0x34b0bcb5e19b48a8,
    0x391c0cb3c5c95a63, 0x4ed8aa4ae3418acb, 0x5b9cca4f7763e373, 0x682e6ff3d6b2b8a3,
    0x748f82ee5defb2fc, 0x78a5636f43172f60, 0x84c87814a1f0ab72, 0x8cc702081a6439ec,
    0x90befffa23631e28, 0xa4506cebde82bde9, 0xbef9a3f7b2c67915, 0xc67178f2e372532b,
    0xca273eceea26619c, 0xd186b8c721c0c207, 0xeada7dd6cde0eb1e, 0xf57d4f7fee6ed178,
    0x06f067aa72176fba, 0x0a637dc5a2c898a6, 0x113f9804bef90dae, 0x1b710b35131c471b,
    0x28db77f523047d84, 0x32caab7b40c72493, 0x3c9ebe0a15c9bebc, 0x431d67c49c100d4c,
    0x4cc5d4becb3e42b6, 0x597f299cfc657e2a, 0x5fcb6fab3ad6faec, 0x6c44198c4a475817,
)



class PureSha512:
    digest_size = 64
    block_size = 128

    def __init__(self, data=b""):
        self._h = list(_IV)
        self._buf = bytearray(128)
        self._fill = 0
        self._length = 0
        self._w = [0] * 80
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
            _compress(self._h, self._buf, 0, self._w)
        h = self._h
        w = self._w
        while n - off >= 128:
            _compress(h, data, off, w)
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
            _compress(h, buf, 0, self._w)
            for i in range(112):
                buf[i] = 0
        struct.pack_into(">QQ", buf, 112, self._length >> 61, (self._length << 3) & _M)
        _compress(h, buf, 0, self._w)
        return struct.pack(">8Q", *h)

    def hexdigest(self):
        return "".join("%02x" % b for b in self.digest())


try:
    from hashlib import sha512
except ImportError:
    sha512 = PureSha512


def _compress(h, block, off, w):
    w[0:16] = struct.unpack_from(">16Q", block, off)
    for t in range(16, 80):
        x = w[t - 15]
        xx = x | x << 64
        s0 = ((xx >> 1) ^ (xx >> 8) ^ (x >> 7)) & _M
        x = w[t - 2]
        xx = x | x << 64
        s1 = ((xx >> 19) ^ (xx >> 61) ^ (x >> 6)) & _M
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) & _M
    a, b, c, d, e, f, g, hh = h
    k = _K
    for t in range(0, 80, 8):
        # Round t: (a..hh); each later round names the same eight values shifted by one.
        ee = e | e << 64
        t1 = hh + (((ee >> 14) ^ (ee >> 18) ^ (ee >> 41)) & _M) + (g ^ (e & (f ^ g))) + k[t] + w[t]
        aa = a | a << 64
        d = (d + t1) & _M
        hh = (t1 + (((aa >> 28) ^ (aa >> 34) ^ (aa >> 39)) & _M) + ((a & b) | (c & (a | b)))) & _M
        ee = d | d << 64
        t1 = g + (((ee >> 14) ^ (ee >> 18) ^ (ee >> 41)) & _M) + (f ^ (d & (e ^ f))) + k[t + 1] + w[t + 1]
        aa = hh | hh << 64
        c = (c + t1) & _M
        g = (t1 + (((aa >> 28) ^ (aa >> 34) ^ (aa >> 39)) & _M) + ((hh & a) | (b & (hh | a)))) & _M
        ee = c | c << 64
        t1 = f + (((ee >> 14) ^ (ee >> 18) ^ (ee >> 41)) & _M) + (e ^ (c & (d ^ e))) + k[t + 2] + w[t + 2]
        aa = g | g << 64
        b = (b + t1) & _M
        f = (t1 + (((aa >> 28) ^ (aa >> 34) ^ (aa >> 39)) & _M) + ((g & hh) | (a & (g | hh)))) & _M
        ee = b | b << 64
        t1 = e + (((ee >> 14) ^ (ee >> 18) ^ (ee >> 41)) & _M) + (d ^ (b & (c ^ d))) + k[t + 3] + w[t + 3]
        aa = f | f << 64
        a = (a + t1) & _M
        e = (t1 + (((aa >> 28) ^ (aa >> 34) ^ (aa >> 39)) & _M) + ((f & g) | (hh & (f | g)))) & _M
        ee = a | a << 64
        t1 = d + (((ee >> 14) ^ (ee >> 18) ^ (ee >> 41)) & _M) + (c ^ (a & (b ^ c))) + k[t + 4] + w[t + 4]
        aa = e | e << 64
        hh = (hh + t1) & _M
        d = (t1 + (((aa >> 28) ^ (aa >> 34) ^ (aa >> 39)) & _M) + ((e & f) | (g & (e | f)))) & _M
        ee = hh | hh << 64
        t1 = c + (((ee >> 14) ^ (ee >> 18) ^ (ee >> 41)) & _M) + (b ^ (hh & (a ^ b))) + k[t + 5] + w[t + 5]
        aa = d | d << 64
        g = (g + t1) & _M
        c = (t1 + (((aa >> 28) ^ (aa >> 34) ^ (aa >> 39)) & _M) + ((d & e) | (f & (d | e)))) & _M
        ee = g | g << 64
        t1 = b + (((ee >> 14) ^ (ee >> 18) ^ (ee >> 41)) & _M) + (a ^ (g & (hh ^ a))) + k[t + 6] + w[t + 6]
        aa = c | c << 64
        f = (f + t1) & _M
        b = (t1 + (((aa >> 28) ^ (aa >> 34) ^ (aa >> 39)) & _M) + ((c & d) | (e & (c | d)))) & _M
        ee = f | f << 64
        t1 = a + (((ee >> 14) ^ (ee >> 18) ^ (ee >> 41)) & _M) + (hh ^ (f & (g ^ hh))) + k[t + 7] + w[t + 7]
        aa = b | b << 64
        e = (e + t1) & _M
        a = (t1 + (((aa >> 28) ^ (aa >> 34) ^ (aa >> 39)) & _M) + ((b & c) | (d & (b | c)))) & _M
    h[0] = (h[0] + a) & _M
    h[1] = (h[1] + b) & _M
    h[2] = (h[2] + c) & _M
    h[3] = (h[3] + d) & _M
    h[4] = (h[4] + e) & _M
    h[5] = (h[5] + f) & _M
    h[6] = (h[6] + g) & _M
    h[7] = (h[7] + hh) & _M
