"""Ed25519 verify: mpboot_fw.ed25519 against a naive RFC 8032 section 6 verify, in one process.

Both verifiers hash with the same SHA-512 (mpboot_fw.sha512.sha512: the pure-Python one on
MicroPython, hashlib's on CPython), so the ratios compare the curve arithmetic and its garbage.
On the real MicroPython (the WebAssembly port) it prints:
  time ratio    mpboot / reference per verify, medians of interleaved samples (target <= 0.25)
  alloc ratio   bytes allocated per verify                                     (target <= 0.35)
  module RAM    heap kept by importing mpboot_fw.ed25519 and sha512, and the B table's share
  live heap     the most live heap above idle at any step of one verify
and the CPython timings. The part above main() runs on both interpreters: main() copies this
file into MicroPython's filesystem and imports it there.
"""

import mpbench
from mpbench import median
from mpboot_fw.sha512 import sha512

# RFC 8032 section 7.1, TEST 3.
PUBLIC_KEY = "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025"
MESSAGE = "af82"
SIGNATURE = (
    "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
    "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"
)


# -- the reference: RFC 8032 section 6, as written there -------------------------------------
p = 2**255 - 19
q = 2**252 + 27742317777372353535851937790883648493


def modp_inv(x):
    return pow(x, p - 2, p)


d = -121665 * modp_inv(121666) % p
modp_sqrt_m1 = pow(2, (p - 1) // 4, p)


def point_add(P, Q):
    A, B = (P[1] - P[0]) * (Q[1] - Q[0]) % p, (P[1] + P[0]) * (Q[1] + Q[0]) % p
    C, D = 2 * P[3] * Q[3] * d % p, 2 * P[2] * Q[2] % p
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F, G * H, F * G, E * H)


def point_mul(s, P):
    Q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            Q = point_add(Q, P)
        P = point_add(P, P)
        s >>= 1
    return Q


def point_equal(P, Q):
    if (P[0] * Q[2] - Q[0] * P[2]) % p != 0:
        return False
    if (P[1] * Q[2] - Q[1] * P[2]) % p != 0:
        return False
    return True


def recover_x(y, sign):
    if y >= p:
        return None
    x2 = (y * y - 1) * modp_inv(d * y * y + 1)
    if x2 == 0:
        if sign:
            return None
        return 0
    x = pow(x2, (p + 3) // 8, p)
    if (x * x - x2) % p != 0:
        x = x * modp_sqrt_m1 % p
    if (x * x - x2) % p != 0:
        return None
    if (x & 1) != sign:
        x = p - x
    return x


g_y = 4 * modp_inv(5) % p
g_x = recover_x(g_y, 0)
G = (g_x, g_y, 1, g_x * g_y % p)


def point_decompress(s):
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % p)


def sha512_modq(s):
    return int.from_bytes(sha512(s).digest(), "little") % q


def reference_verify(public, msg, signature):
    A = point_decompress(public)
    if not A:
        return False
    Rs = signature[:32]
    R = point_decompress(Rs)
    if not R:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= q:
        return False
    h = sha512_modq(Rs + public + msg)
    sB = point_mul(s, G)
    hA = point_mul(h, A)
    return point_equal(sB, point_add(R, hA))


# -- measuring (both interpreters) ------------------------------------------------------------
def _inputs():
    from binascii import unhexlify

    return unhexlify(PUBLIC_KEY), unhexlify(MESSAGE), unhexlify(SIGNATURE)


def _call(which):
    """One verify as a call without arguments; which: 0 = mpboot, 1 = reference."""
    from mpboot_fw.ed25519 import verify

    args = _inputs()
    fn = (verify, reference_verify)[which]
    return lambda: fn(*args)


def time_us(which, repeat):
    """Mean microseconds per verify over `repeat` calls; which: 0 = mpboot, 1 = reference."""
    return mpbench.time_us(_call(which), repeat)


def allocated(which):
    """Bytes allocated by one verify."""
    return mpbench.allocated(_call(which))


# -- the benchmark (CPython drives MicroPython) ----------------------------------------------
def _on_micropython(samples):
    import mpboot_fw.ed25519

    with mpbench.Session(__file__) as mp:
        idle = mp.heap()
        mp.run("import mpboot_fw.ed25519 as e")
        found = {"module": mp.heap() - idle}
        mp.import_bench()
        # The table is a bytes constant of the module: 96 bytes a point.
        found["table"] = mp.ask("len(e._B_TABLE)")
        found["table_points"] = found["table"] // 96
        found["alloc"] = [median([mp.ask("b.allocated(%d)" % w) for _ in range(3)]) for w in (0, 1)]
        times = ([], [])
        for _ in range(samples):
            times[0].append(mp.ask("b.time_us(0, 3)"))
            times[1].append(mp.ask("b.time_us(1, 1)"))
        found["time"] = [median(t) for t in times]
        found["peak"] = mp.peak_heap(mpboot_fw.ed25519, "args = b._inputs()", "steps.verify(*args)")
    return found


def main():
    r = _on_micropython(samples=31)
    t, a = r["time"], r["alloc"]
    print("MicroPython (WebAssembly port), RFC 8032 TEST 3, median of 31 samples:")
    print("  time   mpboot %8.2f ms  reference %8.2f ms  ratio %.3f (target <= 0.25)"
          % (t[0] / 1000, t[1] / 1000, t[0] / t[1]))
    print("  alloc  mpboot %8d B   reference %8d B   ratio %.3f (target <= 0.35)"
          % (a[0], a[1], a[0] / a[1]))
    print("  RAM kept by importing mpboot_fw.ed25519 (+ sha512) from source: %d B, of which the B"
          " table (%d points, bytes) %d B" % (r["module"], r["table_points"], r["table"]))
    print("  live heap during a verify: at most %d B above idle (read at %d steps)" % r["peak"])
    c = ([], [])
    for _ in range(31):
        c[0].append(time_us(0, 20))
        c[1].append(time_us(1, 5))
    c = [median(c[0]), median(c[1])]
    print("CPython, median per verify:")
    print("  time   mpboot %8.3f ms  reference %8.3f ms  ratio %.3f" % (c[0] / 1000, c[1] / 1000, c[0] / c[1]))


if __name__ == "__main__":
    main()
