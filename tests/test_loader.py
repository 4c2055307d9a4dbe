"""The fixed loader's pointer parser (firmware/boot.py `_pointer`) against bundlestore's
(`parse_pointer`): the one deliberate repetition of a format in the device code
(docs/loader.md). Both must take the same pointers and refuse the same others, on CPython and
on MicroPython. The loader's functions run from its own source, its last two lines (the boot
itself) left out, with its directory pointed at a scratch one."""

import json
from binascii import hexlify
from pathlib import Path

import pytest

from mpboot_fw import bundlestore
from mpboot_fw.bundle import BundleError

LOADER = (Path(__file__).resolve().parents[1] / "firmware" / "boot.py").read_text()
DEFS = LOADER.split("\nmpboot_app = _boot()\n")[0]


def _pointers():
    good = []
    for x in ("a", "b", "-"):
        good.append(x)
        for y in ("a", "b"):
            if y == x:
                continue
            good += ["%s %s" % (x, y), "%s %s try" % (x, y)]
            good += ["%s %s failed %s" % (x, y, r) for r in ("import-error", "not-confirmed", "bad-copy", "x", "0",
                                                            "-", "a" * 32, "stage-error-2")]
    bad = ["", " ", "a ", " a", "a  b", "a\n", "a b\n", "a\r", "A", "B", "c", "ab", "a a", "b b", "- -", "-a", "a -",
           "a b try x", "a b failed", "a b failed ", "a b tried", "a b Try", "a b failed x y", "a b failed X",
           "a b failed bad_copy", "a b failed " + "a" * 33, "a b try try", "a b c", "a\tb", "a\x00", "\xff",
           "a b failed \xe9", "a b failed é", "a" + " b" * 40, "- b try " + "x" * 60, "try", "failed x", "a try",
           "a failed x", "- - try", "a b fail x", "a\x0bb"]
    raw = [t.encode("latin-1") if all(ord(c) < 256 for c in t) else t.encode() for t in good + bad]
    raw += [b"a b failed \xc3\xa9", b"a\xc2\xa0b", b"a b failed x\x00", b"a" * 65, b"a b failed " + b"y" * 54]
    return good, raw


GOOD, RAW = _pointers()


def store_verdict(raw):
    try:
        p = bundlestore.parse_pointer(raw)
    except BundleError as e:
        assert e.reason == "bad-pointer"
        return None
    return [p.active, p.trial, p.mark]


def loader_on_cpython(tmp_path):
    g = {"__name__": "loader"}
    exec(compile(DEFS, "boot.py", "exec"), g)
    g["D"] = str(tmp_path) + "/"
    out = []
    for raw in RAW:
        (tmp_path / "boot").write_bytes(raw)
        got = g["_pointer"]()
        out.append(None if got is None else list(got))
    (tmp_path / "boot").unlink()
    return out, g["_pointer"]()


def test_every_good_pointer_parses_alike_and_every_bad_one_is_refused_by_both_on_cpython(tmp_path):
    loader, absent = loader_on_cpython(tmp_path)
    store = [store_verdict(raw) for raw in RAW]
    assert loader == store
    assert absent == ()  # no pointer: /lib, as before bundles
    assert sum(v is not None for v in store) == len(GOOD)  # each good one taken, and only those
    assert store[GOOD.index("- a failed x")] == [None, "a", "failed"]


MP_CODE = """
import json, os
from binascii import unhexlify
from mpboot_fw import bundlestore
from mpboot_fw.bundle import BundleError
g = {"__name__": "loader"}
exec(open("/loader_defs.py").read(), g)
os.mkdir("/t")
g["D"] = "/t/"
out = []
for hx in json.loads(open("/cases.json").read()):
    raw = unhexlify(hx)
    with open("/t/boot", "wb") as f:
        f.write(raw)
    got = g["_pointer"]()
    try:
        p = bundlestore.parse_pointer(raw)
        want = [p.active, p.trial, p.mark]
    except BundleError:
        want = None
    out.append([None if got is None else list(got), want])
print("RESULT", json.dumps(out))
"""


def test_both_parsers_agree_on_micropython(micropython_unix, tmp_path):
    cases = json.dumps([hexlify(raw).decode() for raw in RAW]).encode()
    result = micropython_unix.run_fresh(MP_CODE, files={"/loader_defs.py": DEFS.encode(), "/cases.json": cases})
    line = [ln for ln in result.check().splitlines() if ln.startswith("RESULT ")][0]
    pairs = json.loads(line[len("RESULT "):])
    cpython, _ = loader_on_cpython(tmp_path)
    assert [p[0] for p in pairs] == [p[1] for p in pairs] == cpython


@pytest.mark.parametrize("text", ["a b try", "- a failed bad-copy", "b"])
def test_what_the_loader_writes_the_store_reads(tmp_path, text):
    g = {"__name__": "loader"}
    exec(compile(DEFS, "boot.py", "exec"), g)
    g["D"] = str(tmp_path) + "/"
    g["_write"](text)
    assert (tmp_path / "boot").read_bytes() == text.encode() and not (tmp_path / "boot.tmp").exists()
    assert store_verdict(text.encode()) == list(g["_pointer"]())
