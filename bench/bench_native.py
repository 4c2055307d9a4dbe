"""Does MicroPython's `native` emitter pay for the Ed25519 and SHA-512 inner loops?

On the unix port (x86-64; the ESP32 is Xtensa, where the emitter exists too but the ratio may
differ), in one process: mpboot_fw.ed25519 and mpboot_fw.sha512 as they are, against copies
whose hot functions carry `@micropython.native` (NATIVE lists them; the decorator is inserted
into the source text, firmware/ is not edited), imported as ed25519_native / sha512_native.
Samples interleave the variants; it prints medians, the ratio native / pure, the bytes
allocated per call and the heap kept by importing each variant. viper is not tried: the hot
functions work on 255-bit and 64-bit ints (heap objects, which viper cannot type as machine
words), and _wnaf, the one small-int loop, is a small share of a verify (docs/ed25519.md).

The part above main() runs on MicroPython: main() copies this file there and imports it.
"""

import gc

# module -> the functions (top-level defs or methods) that get @micropython.native.
NATIVE = {
    "ed25519": ("verify", "_decode_negated", "_wnaf", "_odd_multiples", "_s_b_plus_h_a",
                "_pow_2_250_1", "_invert", "_pow_p58"),
    "sha512": ("update", "digest", "_compress"),
}

# RFC 8032 section 7.1, TEST 3 (as bench_ed25519).
PUBLIC_KEY = "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025"
MESSAGE = "af82"
SIGNATURE = (
    "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
    "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"
)


# ed25519's window widths (_WB, _WA): main() sets them (on MicroPython a const() name that
# starts with "_" is no module attribute).
WINDOWS = None


# -- on MicroPython ---------------------------------------------------------------------------
def calls(ed, sha):
    """The benchmarked operations of one variant (modules ed, sha) as calls without arguments."""
    from binascii import unhexlify

    key, msg, sig = unhexlify(PUBLIC_KEY), unhexlify(MESSAGE), unhexlify(SIGNATURE)
    small, large = bytes(range(128)), bytes(i & 255 for i in range(4096))
    scalar = int.from_bytes(sig[32:], "little")

    def recode():  # the two signed-digit recodings of a verify (both of S here: h is as long)
        plan = [0] * 254
        ed._wnaf(scalar, WINDOWS[0], plan, 0)
        ed._wnaf(scalar, WINDOWS[1], plan, 8)
        return plan

    return (
        lambda: ed.verify(key, msg, sig),
        lambda: sha.PureSha512(small).digest(),
        lambda: sha.PureSha512(large).digest(),
        recode,
    )


# mpbench's time_us and allocated are not reused: mpbench does not import on the unix port
# (its clock is the WebAssembly port's js.process or CPython's time.perf_counter; this port has
# neither), and ticks_us has microsecond resolution here.
def time_us(fn, repeat):
    """Mean microseconds per fn() over `repeat` calls."""
    from time import ticks_diff, ticks_us

    start = ticks_us()
    for _ in range(repeat):
        fn()
    return ticks_diff(ticks_us(), start) / repeat


def allocated(fn):
    """Bytes allocated by one fn() (gc off, so nothing is freed meanwhile)."""
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    fn()
    used = gc.mem_alloc() - before
    gc.enable()
    return used


# -- on CPython -------------------------------------------------------------------------------
def native_source(source, names):
    """`source` with `@micropython.native` on each `def` in `names` (top level or method, by
    the def's own indentation) and `import micropython` at the top."""
    out = ["import micropython"]
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith("def ") and stripped[4:].split("(")[0] in names:
            out.append(line[: len(line) - len(stripped)] + "@micropython.native")
        out.append(line)
    assert sum(1 for line in out if line.endswith("@micropython.native")) == len(names), names
    return "\n".join(out) + "\n"


def main(samples=31):
    from pathlib import Path

    import mpboot_fw
    import mpboot_fw.ed25519
    from mpbench import median
    from mpboot.mpy.unixport import UnixMicroPython

    fw = Path(mpboot_fw.__file__).parent
    ed_src = native_source((fw / "ed25519.py").read_text(), NATIVE["ed25519"])
    ed_src = ed_src.replace("from mpboot_fw.sha512 import sha512", "from sha512_native import sha512")
    assert "sha512_native" in ed_src
    with UnixMicroPython() as mp:
        mp.boot()
        mp.put_firmware()
        mp.put_file("/lib/ed25519_native.py", ed_src)
        mp.put_file("/lib/sha512_native.py", native_source((fw / "sha512.py").read_text(), NATIVE["sha512"]))
        mp.put_file("/lib/bench_native.py", Path(__file__).read_bytes())

        def ask(expr):
            return float(mp.run("print(%s)" % expr).check().split()[-1])

        def heap():
            return float(mp.run("gc.collect()\nprint(gc.mem_alloc())").check().split()[-1])

        mp.run("import gc\nimport sys\nimport mpboot_fw\nimport bench_native as b\nb.WINDOWS = (%d, %d)"
               % (mpboot_fw.ed25519._WB, mpboot_fw.ed25519._WA)).check()
        kept = []
        for stmt in ("import mpboot_fw.sha512 as ps", "import mpboot_fw.ed25519 as pe",
                     "import sha512_native as ns", "import ed25519_native as ne"):
            before = heap()
            mp.run(stmt).check()
            kept.append(heap() - before)
        # Same answers first: a fast wrong verify would be no result.
        mp.run(
            "pc = b.calls(pe, ps)\nnc = b.calls(ne, ns)\n"
            "assert [f() for f in pc] == [f() for f in nc] == [True, ps.PureSha512(bytes(range(128))).digest(),"
            " ps.PureSha512(bytes(i & 255 for i in range(4096))).digest(), pc[3]()]\n"
            "from binascii import unhexlify\n"
            "bad = bytearray(unhexlify(b.SIGNATURE))\nbad[5] ^= 1\n"
            "assert not ne.verify(unhexlify(b.PUBLIC_KEY), unhexlify(b.MESSAGE), bytes(bad))\n"
            "assert not pe.verify(unhexlify(b.PUBLIC_KEY), unhexlify(b.MESSAGE), bytes(bad))"
        ).check()
        names = ("ed25519.verify (TEST 3)", "sha512 of 128 B", "sha512 of 4 KiB", "ed25519._wnaf x2")
        repeat = (5, 20, 2, 50)
        times = [([], []) for _ in names]
        for i in range(samples):
            for k in range(len(names)):
                for v in (0, 1) if i % 2 else (1, 0):  # alternate who goes first
                    times[k][v].append(ask("b.time_us(%s[%d], %d)" % (("pc", "nc")[v], k, repeat[k])))
        alloc = [[ask("b.allocated(%s[%d])" % (var, k)) for var in ("pc", "nc")] for k in range(len(names))]
        version = mp.run("print('%d.%d.%d-%s' % sys.implementation.version)").check()

    print("MicroPython unix port %s, x86-64 (not the ESP32's Xtensa), one process, interleaved,"
          " median of %d samples (wall clock, ticks_us)" % (version.strip(), samples))
    print("  @micropython.native on ed25519: %s" % ", ".join(NATIVE["ed25519"]))
    print("  @micropython.native on sha512:  %s" % ", ".join(NATIVE["sha512"]))
    print("  ratio: median of the paired samples' native / pure, with their quartiles (the noise)")
    print("  %-24s %9s %9s %6s %13s %12s %12s" % ("", "pure", "native", "ratio", "quartiles", "alloc pure", "alloc native"))
    for k, name in enumerate(names):
        p, n = median(times[k][0]), median(times[k][1])
        paired = sorted(b / a for a, b in zip(*times[k]))
        print("  %-24s %6.3f ms %6.3f ms %6.3f   %.2f-%.2f %10d B %10d B"
              % (name, p / 1000, n / 1000, median(paired), paired[len(paired) // 4], paired[3 * len(paired) // 4],
                 alloc[k][0], alloc[k][1]))
    print("  heap kept by importing (gc.mem_alloc after gc.collect, before/after):")
    print("    sha512 pure %d B, native %d B; ed25519 pure %d B, native %d B"
          % (kept[0], kept[2], kept[1], kept[3]))


if __name__ == "__main__":
    main()
