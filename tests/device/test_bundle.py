# Signed application bundles (mpboot_fw.bundle) on both runtimes. The signed bundles in
# data/bundle/ are made by tests/make_bundle_data.py with the host packer and the fixed test keys
# (root.json: targets T1 + T2, threshold 2); every other bad input is made here by changing
# bytes or manifest fields, and each must fail with its own reason code and the same text on
# CPython and MicroPython.
import hashlib
import io
import json
import os
import struct

import devtest
from mpboot_fw import bundle, trust
from mpboot_fw.bundle import BundleError


def _read(name):
    with open(devtest.data_path(name), "rb") as f:
        return f.read()


ROOT = trust.load_root(_read("root.json"))
GOOD = _read("bundle/good.mpbundle")
MANIFEST_LEN = struct.unpack_from("<I", GOOD, 8)[0]
DATA_AT = 16 + MANIFEST_LEN
FILES = (("main.py", b"import lib.util\nprint('app', lib.util.VERSION)\n"),
         ("lib/util.py", b"VERSION = '1.2.0'\n"),
         ("data/blob.bin", b"".join(hashlib.sha256(("%d" % i).encode()).digest() for i in range(160))),
         ("empty.txt", b""))
DEVICE = {"chip_id": 0, "board": "esp32-4mb"}


class Sink:
    """Records what verify_stream hands an install: one (path, bytes, ended) per file."""

    def __init__(self):
        self.files = []
        self.started = None

    def start(self, b):
        assert self.started is None and self.files == []
        self.started = b

    def begin(self, path, size):
        assert self.started is not None
        self.files.append([path, b"", False])

    def write(self, chunk):
        assert not self.files[-1][2]
        self.files[-1][1] += bytes(chunk)

    def end(self, path):
        assert self.files[-1][0] == path and not self.files[-1][2]
        self.files[-1][2] = True


class Trickle:
    """A stream that returns at most 7 bytes per call, as a slow socket may, and has nothing
    but readinto."""

    def __init__(self, data):
        self.s = io.BytesIO(data)

    def readinto(self, buf):
        n = min(len(buf), 7)
        data = self.s.read(n)
        buf[:len(data)] = data
        return len(data)


def _verify(data, sink=None, **kw):
    return bundle.verify_stream(io.BytesIO(data), ROOT, sink=sink, **kw)


def _error(data, **kw):
    return devtest.raises(BundleError, _verify, data, **kw)


def _reason(data, **kw):
    return _error(data, **kw).reason


def _patched(data, offset, new):
    out = bytearray(data)
    out[offset:offset + len(new)] = new
    return bytes(out)


def _flipped(data, offset):
    return _patched(data, offset, bytes([data[offset] ^ 1]))


def _signed():
    """A fresh copy of the good bundle's signed manifest."""
    return json.loads(GOOD[16:DATA_AT])["signed"]


def _check_error(signed):
    return devtest.raises(BundleError, bundle.check_manifest, signed)


def _with_paths(*paths, name="app"):
    s = _signed()
    s["name"] = name
    s["entry"] = None
    s["files"] = [{"path": p, "size": 1, "sha256": "00" * 32} for p in paths]
    return s


# -- the good bundles ---------------------------------------------------------------------------
def test_good_bundle_verifies_and_reports_every_field():
    sink = Sink()
    b = _verify(GOOD, sink, floor=4, name="app", mpy=6, firmware="0.1.0", **DEVICE)
    assert (b.name, b.version, b.security_version) == ("app", "1.2.0", 4)
    assert (b.board, b.chip_id, b.mpy, b.min_firmware, b.entry) == ("esp32-4mb", 0, None, None, "main")
    assert [(p, n) for p, n, _ in b.files] == [(p, len(d)) for p, d in FILES]
    assert [d for _, _, d in b.files] == [hashlib.sha256(d).digest() for _, d in FILES]
    assert b.total == sum(len(d) for _, d in FILES) and b.length == len(GOOD)
    assert b.keyids == sorted(ROOT.roles["targets"][0])
    assert b.manifest == GOOD[16:DATA_AT]
    # The sink got every file whole, in order, each ended once its hash matched.
    assert sink.files == [[p, d, True] for p, d in FILES] and sink.started is b


def test_block_size_and_short_reads_do_not_change_the_result():
    for buf in (bytearray(64), bytearray(4096), bytearray(5000)):
        sink = Sink()
        b = _verify(GOOD, sink, buf=buf)
        assert sink.files == [[p, d, True] for p, d in FILES] and b.length == len(GOOD)
    sink = Sink()
    bundle.verify_stream(Trickle(GOOD), ROOT, sink=sink)
    assert sink.files == [[p, d, True] for p, d in FILES]


def test_a_file_on_disk_verifies_like_a_stream():
    with open(devtest.data_path("bundle/good.mpbundle"), "rb") as f:
        assert bundle.verify_stream(f, ROOT, **DEVICE).length == len(GOOD)


def test_the_manifest_goes_into_the_callers_buffer_and_it_is_reused():
    import sys

    docs = bundle.manifest_buffer()
    first = _verify(GOOD, documents=docs, **DEVICE)
    assert first.manifest == GOOD[16:DATA_AT] and first.length == len(GOOD)
    # A refusal reads into it too, and leaves it as good as before.
    assert _reason(_flipped(GOOD, 40), documents=docs) == "bad-manifest"
    second = _verify(GOOD, documents=docs, **DEVICE)
    assert second.manifest == GOOD[16:DATA_AT] and second.files == first.files
    # On MicroPython the buffer is the block made first: every manifest goes into it (CPython
    # has the memory, and makes a fresh one per read: docbuf).
    assert (second.manifest is first.manifest) == (sys.implementation.name == "micropython")
    # and a short stream is "truncated" as without it
    assert _reason(GOOD[:DATA_AT - 3], documents=docs) == "truncated"


def test_check_manifest_consumes_the_parsed_files_only_when_asked():
    # The host checks its own manifest before signing it: untouched. load_manifest drops its
    # parse as the file list grows (consume): the same Bundle.
    signed = _signed()
    kept = bundle.check_manifest(signed)
    assert signed == _signed()
    used = bundle.check_manifest(signed, True)
    assert signed["files"] == [None] * len(FILES)
    assert used.files == kept.files and used.total == kept.total and used.entry == kept.entry


def test_a_kept_manifest_is_read_into_the_buffer_capped_before_a_byte_is_read():
    path = "/tmp/bundle-kept.mpbm"
    docs = bundle.manifest_buffer()
    try:
        with open(path, "wb") as f:
            f.write(GOOD[16:DATA_AT])
        assert bundle.read_manifest_file(path, docs) == GOOD[16:DATA_AT]
        assert bundle.read_manifest_file(path) == GOOD[16:DATA_AT]
        with open(path, "wb") as f:
            f.write(b" " * (bundle.MAX_MANIFEST + 1))
        e = devtest.raises(BundleError, bundle.read_manifest_file, path, docs, "a.mpbm")
        assert str(e) == "manifest-too-large: %d bytes, at most %d" % (bundle.MAX_MANIFEST + 1, bundle.MAX_MANIFEST)
    finally:
        os.remove(path)
    e = devtest.raises(BundleError, bundle.read_manifest_file, path, docs, "a.mpbm")
    assert str(e) == "missing-file: a.mpbm"


def test_bundle_for_any_board_with_mpy_and_minimum_firmware():
    data = _read("bundle/any_board.mpbundle")
    b = _verify(data, chip_id=9, board="other", mpy=6 | 3 << 8 | 10 << 10, firmware="1.2.0")
    assert (b.board, b.chip_id, b.mpy, b.min_firmware, b.version) == (None, None, 6, "1.2.0", "2.0.0-rc.1")
    assert str(_error(data, mpy=5)) == "wrong-mpy: needs .mpy 6, the firmware imports 5"
    assert str(_error(data, firmware="1.1.9")) == "needs-firmware: firmware 1.2.0 or newer"
    assert _reason(data, firmware="1.2.0-rc.1") == "needs-firmware"  # a pre-release comes before
    # A running version that cannot be ordered never meets a minimum.
    assert _reason(data, firmware="not a version") == "needs-firmware"
    _verify(data, firmware="1.10.0")


def test_bundle_for_one_chip_fits_every_board_of_it():
    data = _read("bundle/chip_only.mpbundle")
    _verify(data, chip_id=5, board="esp32c3-4mb")
    assert _reason(data, chip_id=0) == "wrong-chip"


def test_wrong_board_name_and_floor():
    assert str(_error(GOOD, board="esp32s3-8mb")) == "wrong-board: esp32-4mb"
    assert str(_error(GOOD, name="other")) == "wrong-name: app"
    assert _reason(GOOD, floor=5) == "downgrade"
    _verify(GOOD, floor=4)


def test_device_package_may_hold_mpboot_fw():
    b = _verify(_read("bundle/device_package.mpbundle"))
    assert b.name == "mpboot" and b.files[0][0] == "mpboot_fw/__init__.py"
    for path in ("mpboot_fw/x.py", "MPBOOT_FW/x.py", "mpboot_fw.py", "mpboot_fw.mpy"):
        assert bundle.check_path(path, "mpboot") is None
        assert bundle.check_path(path, "app") == ("reserved-path", "mpboot_fw (only the mpboot bundle holds it)")


# -- signatures ---------------------------------------------------------------------------------
def test_below_threshold_wrong_key_and_duplicate_signature():
    e = _error(_read("bundle/one_signature.mpbundle"))
    assert str(e) == "signature-threshold: 1 of 2 targets signatures"
    assert _reason(_read("bundle/wrong_key.mpbundle")) == "signature-threshold"
    assert _reason(_read("bundle/duplicate_signature.mpbundle")) == "duplicate-signature"


def test_an_ecdsa_p256_signature_counts_like_an_ed25519_one():
    # root_p256.json: targets T1, T2 and a P-256 key, threshold 2; the bundle carries
    # T1's Ed25519 signature and the P-256 key's (DER, as TUF writes ECDSA signatures).
    data = _read("bundle/ecdsa.mpbundle")
    b = bundle.verify_stream(io.BytesIO(data), trust.load_root(_read("root_p256.json")))
    assert len(b.keyids) == 2 and b.name == "app"
    # Under root.json the P-256 key is no targets key: T1 alone is below the threshold.
    assert str(_error(data)) == "signature-threshold: 1 of 2 targets signatures"


def test_signed_bad_paths_are_refused_before_any_file_reaches_the_sink():
    for name, want in (("escaping", "bad-path: files[0]: component . or .. or ending in ."),
                       ("reserved", "reserved-path: files[0]: boot.py or the configuration")):
        sink = Sink()
        assert str(_error(_read("bundle/%s.mpbundle" % name), sink=sink)) == want
        assert sink.files == [] and sink.started is None


def test_caps_are_checked_before_any_file_is_read():
    # The manifest is genuine and lists a file over the cap; no file bytes follow, and none are
    # asked for (a read past the manifest would be "truncated").
    sink = Sink()
    e = _error(_read("bundle/file_too_large.mpbundle"), sink=sink)
    assert str(e) == "file-too-large: files[0]: 262145 bytes, at most 262144"
    assert sink.files == [] and sink.started is None


# -- every region damaged ------------------------------------------------------------------------
def test_header_damage():
    assert _reason(b"") == "truncated" and _reason(GOOD[:15]) == "truncated"
    assert _reason(_flipped(GOOD, 0)) == "bad-magic"
    assert str(_error(_flipped(GOOD, 4))) == "bad-format: version"
    assert str(_error(_flipped(GOOD, 6))) == "bad-format: flags"
    assert str(_error(_flipped(GOOD, 12))) == "bad-format: flags"  # reserved
    assert str(_error(_patched(GOOD, 8, struct.pack("<I", 8193)))) == \
        "manifest-too-large: 8193 bytes, at most 8192"
    # A length off by one: the manifest read is not JSON, or leaves a byte of it behind.
    assert _reason(_patched(GOOD, 8, struct.pack("<I", MANIFEST_LEN - 1))) == "bad-manifest"
    assert _reason(_patched(GOOD, 8, struct.pack("<I", MANIFEST_LEN + 1))) == "bad-manifest"


def test_flipped_byte_anywhere_in_the_manifest_is_refused():
    allowed = ("bad-manifest", "signature-threshold", "duplicate-signature")
    for offset in range(16, DATA_AT, 23):
        e = _error(_flipped(GOOD, offset))
        assert e.reason in allowed, (offset, str(e))


def test_flipped_byte_in_each_file_names_that_file():
    at = DATA_AT
    for path, data in FILES:
        for k in (0, len(data) - 1) if data else ():
            sink = Sink()
            assert str(_error(_flipped(GOOD, at + k), sink=sink)) == "file-hash: " + path
            # The sink saw the damaged file begin but never end.
            assert sink.files[-1][0] == path and not sink.files[-1][2]
        at += len(data)


def test_truncated_anywhere():
    ends = [16 + 1, DATA_AT - 1, DATA_AT, DATA_AT + 10]
    at = DATA_AT
    for _, data in FILES[:-1]:
        at += len(data)
        ends.append(at - 1)
    for end in ends:
        e = _error(GOOD[:end])
        assert e.reason in ("truncated", "bad-manifest"), (end, str(e))
    assert str(_error(GOOD[:-1])) == "truncated: file data"
    assert str(_error(GOOD[:20])) == "truncated: manifest"


def test_trailing_bytes_are_refused():
    assert _reason(GOOD + b"\x00") == "trailing-data"
    assert _reason(GOOD + GOOD) == "trailing-data"


def test_manifest_too_deep_too_large_or_not_a_bundle():
    deep = b'{"signatures":[],"signed":{"_type":"bundle","files":[{"x":[1]}]}}'
    e = _error(struct.pack("<4sHHII", b"MPBN", 1, 0, len(deep), 0) + deep)
    assert str(e) == "bad-manifest: json: nested deeper than 4"
    big = b" " * (bundle.MAX_MANIFEST + 1)
    assert str(devtest.raises(BundleError, bundle.load_manifest, big, ROOT)) == \
        "manifest-too-large: 8193 bytes, at most 8192"
    # TUF metadata signed by the same keys is not a bundle manifest.
    targets = _read("tuf/1.targets.json")
    assert str(devtest.raises(BundleError, bundle.load_manifest, targets, ROOT)) == \
        "bad-manifest: bundle: wrong _type"


def test_pretty_printed_manifest_verifies():
    doc = json.loads(GOOD[16:DATA_AT])
    pretty = json.dumps(doc).encode()  # spaces after separators: not the canonical bytes
    assert pretty != GOOD[16:DATA_AT]
    b = bundle.load_manifest(pretty, ROOT)
    assert b.name == "app" and len(b.files) == 4


# -- the manifest's rules -------------------------------------------------------------------------
def test_every_path_rule():
    bad = {
        "": "empty or over 128 bytes", "a" * 129: "empty or over 128 bytes",
        "/main.py": "absolute", "a//b.py": "empty component", "a/": "empty component",
        "./a.py": "component . or .. or ending in .", "a/./b": "component . or .. or ending in .",
        "a/../b": "component . or .. or ending in .", "..": "component . or .. or ending in .",
        "lib/x.": "component . or .. or ending in .",
        "a\\b.py": "characters other than A-Z a-z 0-9 . _ - /",
        "a\x00b": "characters other than A-Z a-z 0-9 . _ - /",
        "a\nb": "characters other than A-Z a-z 0-9 . _ - /",
        "a b": "characters other than A-Z a-z 0-9 . _ - /",
        "C:x": "characters other than A-Z a-z 0-9 . _ - /",
        "caf\u00e9.py": "characters other than A-Z a-z 0-9 . _ - /",
        "a/b/c/d/e/f/g/h/i": "more than 8 components",
    }
    for path in sorted(bad):
        assert bundle.check_path(path) == ("bad-path", bad[path]), path
    for path in ("boot.py", "BOOT.PY", "boot.mpy", "mpboot.json", "mpboot-ota.json", "Mpboot.JSON"):
        assert bundle.check_path(path) == ("reserved-path", "boot.py or the configuration"), path
    for path in ("main.py", "lib/boot.py", "x/mpboot.json", "a.b-c_d/E.F", "a/b/c/d/e/f/g/h", "a" * 128):
        assert bundle.check_path(path) is None, path
    assert bundle.check_path(5) == ("bad-path", "not text")
    # A lone surrogate (a JSON escape) is refused alike on both runtimes, though only CPython
    # refuses to encode it (found by the fuzzer, target kept, on MicroPython).
    assert bundle.check_path("a\ud800.py") == ("bad-path", "characters other than A-Z a-z 0-9 . _ - /")
    # Each rule as the manifest check reports it, naming the file by its index.
    assert str(_check_error(_with_paths("main.py", "../x"))) == \
        "bad-path: files[1]: component . or .. or ending in ."


def test_paths_must_differ_ignoring_case_and_mpy():
    for paths in (("a.py", "A.py"), ("x.py", "x.mpy"), ("lib/X.MPY", "lib/x.py")):
        e = _check_error(_with_paths(*paths))
        assert str(e) == ("duplicate-path: files[1]: the same file as an earlier one (case ignored, "
                          "x.mpy the same module as x.py)"), paths
    for paths in (("lib", "lib/x.py"), ("lib/x.py", "LIB")):
        e = _check_error(_with_paths(*paths))
        assert e.reason == "duplicate-path" and "a directory of it is another file" in str(e), paths
    bundle.check_manifest(_with_paths("a.py", "b.py", "a/b.py", "x.py.bin"))
    # The first file, in manifest order, whose directory is another file, wherever that one sorts.
    paths = ("z.py", "lib", "a.py", "lib-x/y.py", "lib.x", "LIB.X/q.py", "lib/q/r.py")
    assert str(_check_error(_with_paths(*paths))) == "duplicate-path: files[5]: a directory of it is another file"
    assert str(_check_error(_with_paths(*(paths[:5] + paths[6:])))) == \
        "duplicate-path: files[5]: a directory of it is another file"
    bundle.check_manifest(_with_paths(*(paths[:1] + paths[2:5])))
    # 64 files, the cap: every path compared with every earlier one
    many = ["lib/m%02d.py" % i for i in range(63)]
    assert str(_check_error(_with_paths(*(many + ["LIB/M05.MPY"])))).startswith("duplicate-path: files[63]: the same")
    assert len(bundle.check_manifest(_with_paths(*(many + ["lib/m63.py"]))).files) == 64


def test_caps():
    e = _check_error(_with_paths(*["f%d" % i for i in range(65)]))
    assert str(e) == "too-many-files: 65 files, at most 64"
    bundle.check_manifest(_with_paths(*["f%d" % i for i in range(64)]))
    s = _with_paths("a", "b", "c")
    for f in s["files"]:
        f["size"] = bundle.MAX_FILE_SIZE
    assert str(_check_error(s)) == "too-large: files over 524288 bytes"
    s["files"][2]["size"] = 0
    bundle.check_manifest(s)
    s["files"][0]["size"] = bundle.MAX_FILE_SIZE + 1
    assert _check_error(s).reason == "file-too-large"
    for size in (-1, True, "1", 1.5, None):
        s["files"][0]["size"] = size
        assert str(_check_error(s)) == "bad-manifest: files[0]: size must be an integer >= 0"


def _field_error(key, value):
    s = _signed()
    s[key] = value
    return str(_check_error(s))


def test_every_field_is_checked():
    for value in ("App", "1app", "", "a" * 33, "a/b", "a.b", None, 5):
        assert _field_error("name", value).startswith("bad-manifest: name must be"), value
    for value in ("1.2.3.4.5", "v1", "", None, 1, "1.2.3-"):
        assert _field_error("version", value) == \
            "bad-manifest: version must be a SemVer version of up to 32 characters", value
    for value in (-1, 2 ** 32, True, "1", None):
        assert _field_error("security_version", value) == \
            "bad-manifest: security_version must be an integer from 0 to 4294967295", value
    for value in ("", "a b", "x" * 33, 5):
        assert _field_error("board", value).startswith("bad-manifest: board must be"), value
    assert _field_error("chip_id", 65536) == "bad-manifest: chip_id must be an integer from 0 to 65535"
    assert _field_error("mpy", 256) == "bad-manifest: mpy must be an integer from 0 to 255"
    assert _field_error("min_firmware", "x").startswith("bad-manifest: min_firmware must be")
    assert _field_error("format", 2) == "bad-format: manifest format"
    assert _field_error("format", True) == "bad-format: manifest format"
    for value in ("", "1x", "a..b", "main:", "main:f:g", "ma in", 5):
        assert _field_error("entry", value) == "bad-manifest: entry must be null or module[:function]", value
    assert _field_error("entry", "missing") == "bad-manifest: entry module missing is not in the bundle"
    assert _field_error("files", []) == "bad-manifest: files must be a non-empty list"
    assert _field_error("files", {}) == "bad-manifest: files must be a non-empty list"
    s = _signed()
    s["extra"] = 1
    s["zz\u00e9"] = 1
    assert str(_check_error(s)) == "bad-manifest: unknown field extra"
    s = _signed()
    del s["board"]
    assert str(_check_error(s)) == "bad-manifest: missing field board"
    assert str(_check_error([])) == "bad-manifest: signed is not an object"


def test_entry_points_and_file_entries():
    s = _with_paths("app/__init__.py", "app/run.mpy", "tool.py")
    s["mpy"] = 6
    for entry in ("app", "app.run", "app.run:main", "tool:start", "tool"):
        s["entry"] = entry
        assert bundle.check_manifest(s).entry == entry
    s["mpy"] = None
    assert str(_check_error(s)) == "bad-manifest: mpy must say the .mpy version of its .mpy files"
    s = _with_paths("a.py")
    for digest in ("AB" * 32, "ab" * 31, "zz" * 32, None):
        s["files"][0]["sha256"] = digest
        assert str(_check_error(s)) == "bad-manifest: files[0]: sha256 must be 64 lowercase hex digits"
    s = _with_paths("a.py")
    s["files"][0]["mode"] = 1
    assert str(_check_error(s)) == "bad-manifest: files[0] must hold exactly path, sha256, size"
    s["files"] = ["a.py"]
    assert str(_check_error(s)) == "bad-manifest: files[0] must hold exactly path, sha256, size"


# -- an installed copy on the filesystem -----------------------------------------------------------
def _rmtree(path):
    try:
        mode = os.stat(path)[0]
    except OSError:
        return
    if mode & 0x4000:
        for n in os.listdir(path):
            _rmtree(path + "/" + n)
        os.rmdir(path)
    else:
        os.remove(path)


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _copy():
    """The good bundle's files written into a fresh directory; returns (Bundle, directory)."""
    if devtest.ON_MICROPYTHON:
        base = "/bundle-copy"
    else:
        import tempfile

        base = tempfile.mkdtemp() + "/copy"
    _rmtree(base)
    os.mkdir(base)
    for d in ("lib", "data"):
        os.mkdir(base + "/" + d)
    for path, data in FILES:
        _write(base + "/" + path, data)
    return _verify(GOOD), base


def test_installed_copy_verifies_and_every_change_is_found():
    b, base = _copy()
    bundle.verify_files(b, base)
    bundle.verify_files(b, base, bytearray(100))
    _write(base + "/lib/util.py", b"VERSION = '6.6.6'\n")  # same size, other bytes
    assert str(devtest.raises(BundleError, bundle.verify_files, b, base)) == "file-hash: lib/util.py"
    b, base = _copy()
    _write(base + "/main.py", b"print('short')\n")
    assert str(devtest.raises(BundleError, bundle.verify_files, b, base)) == "file-size: main.py"
    b, base = _copy()
    os.remove(base + "/empty.txt")
    assert str(devtest.raises(BundleError, bundle.verify_files, b, base)) == "missing-file: empty.txt"
    b, base = _copy()
    _write(base + "/lib/evil.py", b"")
    assert str(devtest.raises(BundleError, bundle.verify_files, b, base)) == "extra-file: lib/evil.py"
    b, base = _copy()
    os.mkdir(base + "/pkg")
    assert str(devtest.raises(BundleError, bundle.verify_files, b, base)) == "extra-file: pkg"
    # Several extra names: the first in sorted order, depth first, whatever order the
    # directory lists them in.
    b, base = _copy()
    for path in ("zz.py", "lib/b.py", "lib/a/x.py", "data/q", "m.py"):
        if path == "lib/a/x.py":
            os.mkdir(base + "/lib/a")
        _write(base + "/" + path, b"")
    assert str(devtest.raises(BundleError, bundle.verify_files, b, base)) == "extra-file: data/q"
    os.remove(base + "/data/q")
    assert str(devtest.raises(BundleError, bundle.verify_files, b, base)) == "extra-file: lib/a"
    os.remove(base + "/lib/a/x.py")
    os.rmdir(base + "/lib/a")
    assert str(devtest.raises(BundleError, bundle.verify_files, b, base)) == "extra-file: lib/b.py"
    os.remove(base + "/lib/b.py")
    assert str(devtest.raises(BundleError, bundle.verify_files, b, base)) == "extra-file: m.py"
    b, base = _copy()
    os.remove(base + "/empty.txt")
    os.mkdir(base + "/empty.txt")
    assert str(devtest.raises(BundleError, bundle.verify_files, b, base)) == \
        "missing-file: empty.txt is a directory"
    _rmtree(base)
    assert str(devtest.raises(BundleError, bundle.verify_files, b, base)) == "missing-file: main.py"
