# boot.py: mpboot's fixed loader, written once and never updated (docs/loader.md says what it does
# and trusts). It picks the copy of mpboot's own device package (the bundle "mpboot") to run,
# gives a new copy its trial, and checks every file against the copy's kept manifest; signatures
# are the package's own check (its stage). Without /bundles/mpboot/boot it runs mpboot_fw from
# /lib, as before bundles. stage.main() returns when the application may start, resets, or
# raises: then (MicroPython 1.22+) main.py does not start and the REPL stays for a manual install.
import sys

D = "/bundles/mpboot/"


def _pointer():
    """(active, trial, mark) from D/boot ("-": None), () with no pointer, None when it is not
    one. The one repetition of bundlestore.read_pointer's format (docs/loader.md)."""
    try:
        f = open(D + "boot", "rb")
    except OSError as e:
        if e.errno in (2, 44):  # ENOENT; 44 on the WebAssembly port (Emscripten's numbers)
            return ()
        raise
    with f:
        t = f.read(65)
    w = t.split(b" ")
    n, x, y = len(w), w[0], w[1] if len(w) > 1 else b""
    if len(t) > 64 or x not in (b"a", b"b", b"-") or n > 1 and (y not in (b"a", b"b") or y == x):
        return None
    r = n == 4 and w[2] == b"failed" and 0 < len(w[3]) <= 32  # REASON: [a-z0-9-]{1,32}
    r = r and all(c == 45 or 48 <= c <= 57 or 97 <= c <= 122 for c in w[3])
    if n > 2 and w[2:] != [b"try"] and not r:  # after the copies: "try" or "failed REASON"
        return None
    return x != b"-" and x.decode() or None, y.decode() or None, n > 2 and w[2].decode() or None


def _write(text):
    with open(D + "boot.tmp", "w") as f:  # a new file renamed over the pointer: atomic on LittleFS
        f.write(text)
    __import__("os").rename(D + "boot.tmp", D + "boot")


def _intact(c, where=None):
    """Does copy `c` (or the directory `where`) hold every file c's kept manifest names, of its
    size and SHA-256?"""
    import hashlib, json
    from binascii import hexlify
    buf = bytearray(4096)
    try:
        with open(D + c + ".mpbm", "rb") as f:
            files = json.load(f)["signed"]["files"]
        for e in files:
            h, n = hashlib.sha256(), 0
            with open((where or D + c + "/") + e["path"], "rb") as f:
                k = f.readinto(buf)
                while k:
                    h.update(memoryview(buf)[:k])
                    n, k = n + k, f.readinto(buf)
            if n != e["size"] or hexlify(h.digest()).decode() != e["sha256"]:
                return False
        return where is None or _count(where) == len(files)  # nothing more: a .py would shadow
    except Exception:  # a file or the manifest missing, unreadable, not of the format
        return False


def _count(d):
    n = 0
    for e in __import__("os").ilistdir(d):
        n += _count(d + e[0] + "/") if e[1] == 0x4000 else 1
    return n


def _stage(c):
    # First on sys.path, mpboot_fw comes whole from there: the ROMFS partition (mounted at /rom by
    # a firmware built with it) when it holds exactly copy c's files, its code then run from
    # flash instead of the heap (docs/romfs.md); else the copy, or /lib with no copy.
    rom = c and "/rom" in sys.path and _intact(c, "/rom/")
    sys.path.insert(0, "/rom" if rom else D + c if c else "/lib")
    from mpboot_fw import stage
    if rom:
        sys.modules["mpboot_fw"].rom_copy = c  # which copy that is (bundleboot.running_copy)
    return stage


def _boot():
    p = _pointer()
    if p is None:  # not a pointer: the first intact copy, as a normal boot (the stage logs it)
        return _stage("a" if _intact("a") else "b" if _intact("b") else None).main()
    x, y, m = p or (None, None, None)
    if y and not m:  # copy y's trial, marked before anything of it runs
        _write("%s %s try" % (x or "-", y))
        why, err, app = "bad-copy", None, None
        try:
            if _intact(y):
                why = "import-error"
                s = _stage(y)
                why = "stage-error"
                app = s.main()
                why = "not-confirmed"
        except Exception as e:
            err = e
        if _pointer() == (x, y, "try"):  # the stage did not confirm it: x runs from the next boot
            if err is not None:
                sys.print_exception(err)
            _write("%s %s failed %s" % (x or "-", y, why))
            __import__("machine").reset()
        if err is not None:
            raise err  # the copy was confirmed before: as from any confirmed copy
        return app
    elif x and not _intact(x):  # the other copy, unless its trial failed (the stage logs it)
        o = "b" if x == "a" else "a"
        if m == "failed" or not _intact(o):
            raise OSError("mpboot: copy %s of the device package is damaged, no other intact" % x)
        return _stage(o).main()
    else:
        return _stage(x).main()


# The entry point of the application bundle the stage chose (None: none), for main.py: MicroPython
# runs boot.py and main.py in the same globals. Then the stage is done and its modules go, so the
# application starts with the heap they held (the updater imports what it needs again). Not
# after a raise: the REPL keeps them for a manual install.
mpboot_app = _boot()
[sys.modules.pop(m) for m in list(sys.modules) if m == "mpboot_fw" or m[:10] == "mpboot_fw."]
del _pointer, _write, _intact, _count, _stage, _boot, D, sys
__import__("gc").collect()
