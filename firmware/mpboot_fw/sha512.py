"""SHA-512 with hashlib's interface: the runtime's own if it has one, else pure Python."""

# MicroPython's hashlib has only sha256 (the WebAssembly port and ESP32 builds alike), so there
# PureSha512 is used. update() streams any bytes-like input: whole blocks are read in place from
# the caller's buffer, the rest through one reused 128-byte buffer; digest() leaves the state
# usable. Docstrings stay short here: MicroPython keeps them in RAM.
#
# On MicroPython every 64-bit word is a heap-allocated big int, so _compress is written for the
# fewest operations and bytecodes (0.74 -> 0.5 ms per block on the WebAssembly port): the 16
# message words and 16 round constants are locals (struct unpacks them; the next 16 words
# replace them in place), 16 rounds are unrolled so the working variables rotate by name, a
# 64-bit right rotation is one shift of x * (2**64 + 1), sums are masked only where a value is
# stored (bits above 64 never reach the low 64), and Maj(a, b, c) = b ^ ((a ^ b) & (b ^ c))
# reuses the previous round's a ^ b. Constants are bytes, unpacked when used: a long int
# literal would over-allocate and, like every module constant, stay in RAM.

from struct import pack, pack_into, unpack, unpack_from

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


_M = const(0xFFFFFFFFFFFFFFFF)
_R = const(0x10000000000000001)  # x * _R == x | x << 64
_IV = (
    b"\x6a\x09\xe6\x67\xf3\xbc\xc9\x08\xbb\x67\xae\x85\x84\xca\xa7\x3b"
    b"\x3c\x6e\xf3\x72\xfe\x94\xf8\x2b\xa5\x4f\xf5\x3a\x5f\x1d\x36\xf1"
    b"\x51\x0e\x52\x7f\xad\xe6\x82\xd1\x9b\x05\x68\x8c\x2b\x3e\x6c\x1f"
    b"\x1f\x83\xd9\xab\xfb\x41\xbd\x6b\x5b\xe0\xcd\x19\x13\x7e\x21\x79"
)
# The 80 round constants, unpacked 16 at a time as the rounds need them.
_K = (
    b"\x42\x8a\x2f\x98\xd7\x28\xae\x22\x71\x37\x44\x91\x23\xef\x65\xcd"
    b"\xb5\xc0\xfb\xcf\xec\x4d\x3b\x2f\xe9\xb5\xdb\xa5\x81\x89\xdb\xbc"
    b"\x39\x56\xc2\x5b\xf3\x48\xb5\x38\x59\xf1\x11\xf1\xb6\x05\xd0\x19"
    b"\x92\x3f\x82\xa4\xaf\x19\x4f\x9b\xab\x1c\x5e\xd5\xda\x6d\x81\x18"
    b"\xd8\x07\xaa\x98\xa3\x03\x02\x42\x12\x83\x5b\x01\x45\x70\x6f\xbe"
    b"\x24\x31\x85\xbe\x4e\xe4\xb2\x8c\x55\x0c\x7d\xc3\xd5\xff\xb4\xe2"
    b"\x72\xbe\x5d\x74\xf2\x7b\x89\x6f\x80\xde\xb1\xfe\x3b\x16\x96\xb1"
    b"\x9b\xdc\x06\xa7\x25\xc7\x12\x35\xc1\x9b\xf1\x74\xcf\x69\x26\x94"
    b"\xe4\x9b\x69\xc1\x9e\xf1\x4a\xd2\xef\xbe\x47\x86\x38\x4f\x25\xe3"
    b"\x0f\xc1\x9d\xc6\x8b\x8c\xd5\xb5\x24\x0c\xa1\xcc\x77\xac\x9c\x65"
    b"\x2d\xe9\x2c\x6f\x59\x2b\x02\x75\x4a\x74\x84\xaa\x6e\xa6\xe4\x83"
    b"\x5c\xb0\xa9\xdc\xbd\x41\xfb\xd4\x76\xf9\x88\xda\x83\x11\x53\xb5"
    b"\x98\x3e\x51\x52\xee\x66\xdf\xab\xa8\x31\xc6\x6d\x2d\xb4\x32\x10"
    b"\xb0\x03\x27\xc8\x98\xfb\x21\x3f\xbf\x59\x7f\xc7\xbe\xef\x0e\xe4"
    b"\xc6\xe0\x0b\xf3\x3d\xa8\x8f\xc2\xd5\xa7\x91\x47\x93\x0a\xa7\x25"
    b"\x06\xca\x63\x51\xe0\x03\x82\x6f\x14\x29\x29\x67\x0a\x0e\x6e\x70"
    b"\x27\xb7\x0a\x85\x46\xd2\x2f\xfc\x2e\x1b\x21\x38\x5c\x26\xc9\x26"
    b"\x4d\x2c\x6d\xfc\x5a\xc4\x2a\xed\x53\x38\x0d\x13\x9d\x95\xb3\xdf"
    b"\x65\x0a\x73\x54\x8b\xaf\x63\xde\x76\x6a\x0a\xbb\x3c\x77\xb2\xa8"
    b"\x81\xc2\xc9\x2e\x47\xed\xae\xe6\x92\x72\x2c\x85\x14\x82\x35\x3b"
    b"\xa2\xbf\xe8\xa1\x4c\xf1\x03\x64\xa8\x1a\x66\x4b\xbc\x42\x30\x01"
    b"\xc2\x4b\x8b\x70\xd0\xf8\x97\x91\xc7\x6c\x51\xa3\x06\x54\xbe\x30"
    b"\xd1\x92\xe8\x19\xd6\xef\x52\x18\xd6\x99\x06\x24\x55\x65\xa9\x10"
    b"\xf4\x0e\x35\x85\x57\x71\x20\x2a\x10\x6a\xa0\x70\x32\xbb\xd1\xb8"
    b"\x19\xa4\xc1\x16\xb8\xd2\xd0\xc8\x1e\x37\x6c\x08\x51\x41\xab\x53"
    b"\x27\x48\x77\x4c\xdf\x8e\xeb\x99\x34\xb0\xbc\xb5\xe1\x9b\x48\xa8"
    b"\x39\x1c\x0c\xb3\xc5\xc9\x5a\x63\x4e\xd8\xaa\x4a\xe3\x41\x8a\xcb"
    b"\x5b\x9c\xca\x4f\x77\x63\xe3\x73\x68\x2e\x6f\xf3\xd6\xb2\xb8\xa3"
    b"\x74\x8f\x82\xee\x5d\xef\xb2\xfc\x78\xa5\x63\x6f\x43\x17\x2f\x60"
    b"\x84\xc8\x78\x14\xa1\xf0\xab\x72\x8c\xc7\x02\x08\x1a\x64\x39\xec"
    b"\x90\xbe\xff\xfa\x23\x63\x1e\x28\xa4\x50\x6c\xeb\xde\x82\xbd\xe9"
    b"\xbe\xf9\xa3\xf7\xb2\xc6\x79\x15\xc6\x71\x78\xf2\xe3\x72\x53\x2b"
    b"\xca\x27\x3e\xce\xea\x26\x61\x9c\xd1\x86\xb8\xc7\x21\xc0\xc2\x07"
    b"\xea\xda\x7d\xd6\xcd\xe0\xeb\x1e\xf5\x7d\x4f\x7f\xee\x6e\xd1\x78"
    b"\x06\xf0\x67\xaa\x72\x17\x6f\xba\x0a\x63\x7d\xc5\xa2\xc8\x98\xa6"
    b"\x11\x3f\x98\x04\xbe\xf9\x0d\xae\x1b\x71\x0b\x35\x13\x1c\x47\x1b"
    b"\x28\xdb\x77\xf5\x23\x04\x7d\x84\x32\xca\xab\x7b\x40\xc7\x24\x93"
    b"\x3c\x9e\xbe\x0a\x15\xc9\xbe\xbc\x43\x1d\x67\xc4\x9c\x10\x0d\x4c"
    b"\x4c\xc5\xd4\xbe\xcb\x3e\x42\xb6\x59\x7f\x29\x9c\xfc\x65\x7e\x2a"
    b"\x5f\xcb\x6f\xab\x3a\xd6\xfa\xec\x6c\x44\x19\x8c\x4a\x47\x58\x17"
)


class PureSha512:
    def __init__(self, data=b""):
        self._h = list(unpack(">8Q", _IV))
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
        (k0, k1, k2, k3, k4, k5, k6, k7, k8, k9, k10, k11, k12, k13, k14, k15) = unpack_from(">16Q", _K, r)
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
        r += 128
        if r == 640:
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
