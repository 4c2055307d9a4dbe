"""ECDSA P-256 verify (mpboot_fw.p256) against the device's Ed25519 verify, in one process.

Both verify a signature of the same 2-byte message (RFC 8032 TEST 3's), so the ratio is the
price of accepting a P-256 signer instead of an Ed25519 one. A textbook P-256 verify (affine
coordinates, double-and-add, an inversion by pow per step) is timed too, as the baseline the
tuning is measured against. On the real MicroPython (the WebAssembly port) it prints:
  time ratio    P-256 / Ed25519 per verify, medians of interleaved samples
  alloc         bytes allocated per verify (garbage, mostly), both verifiers
  module RAM    heap kept by importing mpboot_fw.p256, and the G table's share
  live heap     the most live heap above idle at any step of one P-256 verify
and the same times on CPython. The part above main() runs on both interpreters: main() copies
this file into MicroPython's filesystem and imports it there.
"""

import mpbench
from mpbench import median

MESSAGE = "af82"
P256_KEY = ("04621535196f26137685020bbb6627d18c6729115ccbef01468d3e8cf2118e2491"
            "07d6f09b377da5d3c64538c23b2f51dbca16c91cdf291dc111f5781d2df3ae38")
P256_SIGNATURE = ("3045022100dbaaa412c12b0a68567e2d494481d52a525c098a9a12379f4fc07d54d9c0654b"
                  "022012a979bb413e690b8a14f333ff1ba89e25b1eab9247894a08336f8db54ad379a")
ED25519_KEY = "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025"
ED25519_SIGNATURE = ("6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
                     "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a")

# -- the textbook baseline (affine, double-and-add) -------------------------------------------
p = 2**256 - 2**224 + 2**192 + 2**96 - 1
n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
G = (0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
     0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5)


def point_add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and (a[1] + b[1]) % p == 0:
        return None
    if a == b:
        lam = (3 * a[0] * a[0] - 3) * pow(2 * a[1], p - 2, p) % p
    else:
        lam = (b[1] - a[1]) * pow(b[0] - a[0], p - 2, p) % p
    x = (lam * lam - a[0] - b[0]) % p
    return x, (lam * (a[0] - x) - a[1]) % p


def point_mul(k, point):
    out = None
    while k:
        if k & 1:
            out = point_add(out, point)
        point = point_add(point, point)
        k >>= 1
    return out


def reference_verify(public_key, message, der):
    import hashlib

    from mpboot_fw.p256 import decode_der

    rs = decode_der(der)
    if rs is None:
        return False
    r, s = rs
    q = (int.from_bytes(public_key[1:33], "big"), int.from_bytes(public_key[33:65], "big"))
    e = int.from_bytes(hashlib.sha256(message).digest(), "big")
    w = pow(s, n - 2, n)
    point = point_add(point_mul(e * w % n, G), point_mul(r * w % n, q))
    return point is not None and point[0] % n == r


# -- measuring (both interpreters) ------------------------------------------------------------
def _p256_inputs():
    """(key, message, (r, s)) for p256.verify."""
    from binascii import unhexlify

    from mpboot_fw import p256

    return unhexlify(P256_KEY), unhexlify(MESSAGE), p256.decode_der(unhexlify(P256_SIGNATURE))


def _calls():
    """The three verifies as calls without arguments: mpboot P-256, mpboot Ed25519, textbook P-256."""
    from binascii import unhexlify

    from mpboot_fw import ed25519, p256

    msg = unhexlify(MESSAGE)
    der = unhexlify(P256_SIGNATURE)
    key = unhexlify(P256_KEY)
    ed_key, ed_sig = unhexlify(ED25519_KEY), unhexlify(ED25519_SIGNATURE)
    return ((lambda: p256.verify(key, msg, p256.decode_der(der))),
            (lambda: ed25519.verify(ed_key, msg, ed_sig)),
            (lambda: reference_verify(key, msg, der)))


def time_us(which, repeat):
    """Mean microseconds per verify over `repeat` calls of verifier `which` (see _calls)."""
    return mpbench.time_us(_calls()[which], repeat)


def allocated(which):
    """Bytes allocated by one verify."""
    return mpbench.allocated(_calls()[which])


# -- the benchmark (CPython drives MicroPython) ----------------------------------------------
def _on_micropython(samples):
    import mpboot_fw.p256

    with mpbench.Session(__file__) as mp:
        idle = mp.heap()
        mp.run("import mpboot_fw.p256 as e")
        found = {"module": mp.heap() - idle}
        mp.import_bench()
        mp.run("import mpboot_fw.ed25519")
        found["table"] = mp.ask("len(e._G_TABLE)")
        found["table_points"] = found["table"] // 64
        found["alloc"] = [median([mp.ask("b.allocated(%d)" % w) for _ in range(3)]) for w in (0, 1, 2)]
        times = ([], [], [])
        for i in range(samples):
            times[0].append(mp.ask("b.time_us(0, 3)"))
            times[1].append(mp.ask("b.time_us(1, 3)"))
            if i < 5:  # the textbook verify is slow and only a baseline
                times[2].append(mp.ask("b.time_us(2, 1)"))
        found["time"] = [median(t) for t in times]
        found["peak"] = mp.peak_heap(mpboot_fw.p256, "args = b._p256_inputs()", "steps.verify(*args)")
    return found


def main():
    r = _on_micropython(samples=31)
    t, a = r["time"], r["alloc"]
    print("MicroPython (WebAssembly port), one verify, medians of 31 samples (textbook: of 5):")
    print("  time   P-256 %8.2f ms  Ed25519 %8.2f ms  ratio %.2f   textbook P-256 %8.2f ms (P-256 = %.3f of it)"
          % (t[0] / 1000, t[1] / 1000, t[0] / t[1], t[2] / 1000, t[0] / t[2]))
    print("  alloc  P-256 %8d B   Ed25519 %8d B   ratio %.2f   textbook P-256 %8d B"
          % (a[0], a[1], a[0] / a[1], a[2]))
    print("  RAM kept by importing mpboot_fw.p256: %d B, of which the G table (%d points, bytes) %d B"
          % (r["module"], r["table_points"], r["table"]))
    print("  live heap during a P-256 verify: at most %d B above idle (read at %d steps)" % r["peak"])
    c = ([], [], [])
    for i in range(31):
        c[0].append(time_us(0, 20))
        c[1].append(time_us(1, 20))
        if i < 5:
            c[2].append(time_us(2, 2))
    c = [median(x) for x in c]
    print("CPython, median per verify:")
    print("  time   P-256 %8.3f ms  Ed25519 %8.3f ms  ratio %.2f   textbook P-256 %8.3f ms"
          % (c[0] / 1000, c[1] / 1000, c[0] / c[1], c[2] / 1000))


if __name__ == "__main__":
    main()
