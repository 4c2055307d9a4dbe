# The bundle store (mpboot_fw.bundlestore) on both runtimes: installs into the two copies, every
# refusal leaving the pointer and the running copy as they were (and logged), a leftover copy
# cleaned, and the pointer's grammar. The filesystem is the runtime's own (CPython's, the
# WebAssembly port's), and on the unix port a real LittleFS (VfsLfs2) on a RAM flash
# partition, as on a board (its VfsPosix at / renames wrongly under a root directory).
# Power cuts inside LittleFS are tests/test_bundlestore_powercut.py's.
import os
import sys

import devtest
from mpboot_fw import bundle, bundlestore as store, config, context, statelog
from mpboot_fw.bundle import BundleError
from nor_ram import NorRam


def _read(name):
    with open(devtest.data_path(name), "rb") as f:
        return f.read()


ROOT_JSON = _read("root.json")
GOOD = _read("bundle/good.mpbundle")  # app 1.2.0 sv4: main.py lib/util.py data/blob.bin empty.txt
V2 = _read("bundle/good_v2.mpbundle")  # app 1.3.0 sv5: util changed, extra.py added, empty.txt gone
_serial = [0]


class Stream:
    """A stream with nothing but readinto, returning at most `step` bytes per call."""

    def __init__(self, data, step=1000):
        self.data = data
        self.pos = 0
        self.step = step
        self.reads = 0

    def readinto(self, buf):
        self.reads += 1
        n = min(len(buf), self.step, len(self.data) - self.pos)
        buf[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


class Fs:
    """A fresh directory for store.ROOT: LittleFS on a RAM partition where the runtime has
    VfsLfs2 (the unix port), else a new directory under /tmp."""

    def __init__(self, blocks=128):
        _serial[0] += 1
        self.mount = None
        try:
            import vfs
            lfs = getattr(vfs, "VfsLfs2", None)
        except ImportError:
            lfs = None
        if lfs is not None:
            dev = NorRam(blocks)
            lfs.mkfs(dev)
            self.mount = "/lfs%d" % _serial[0]
            vfs.mount(lfs(dev), self.mount)
            base = self.mount
        else:
            base = "/tmp/bstore-%d-%d" % (_serial[0], _pid())
            store._remove_tree(base)  # the store's own removal, tested by the leftover-copy test
            os.mkdir(base)
        self.base = base
        store.ROOT = base + "/bundles"

    def close(self):
        if self.mount is not None:
            import vfs

            vfs.umount(self.mount)
        else:
            store._remove_tree(self.base)


def _pid():
    return os.getpid() if hasattr(os, "getpid") else 0


def _ctx():
    ctx = context.Context()
    ctx.cfg = config.check({"board": "esp32-4mb", "chip_id": 0})
    ctx.config_error = None
    ctx.state = statelog.format_partition(NorRam(4), ROOT_JSON)
    ctx.root = context.anchor(ctx.state)
    ctx.firmware = "1.0.0"
    return ctx


def _pointer(name="app"):
    return store.read_pointer(name).text()


def _tree(path):
    """{relative path: bytes} of every file under `path`, and "dir/" for each directory."""
    out = {}

    def walk(prefix):
        for n in sorted(os.listdir(path + "/" + prefix if prefix else path)):
            rel = prefix + n
            if os.stat(path + "/" + rel)[0] & 0x4000:
                out[rel + "/"] = None
                walk(rel + "/")
            else:
                with open(path + "/" + rel, "rb") as f:
                    out[rel] = f.read()
    walk("")
    return out


def _last_event(ctx):
    return list(ctx.state.events())[-1][1:]


def _run(test, blocks=128):
    fs = Fs(blocks)
    try:
        test(_ctx())
    finally:
        fs.close()


def _installed_a(ctx):
    """The app installed into a and confirmed there (pointer "a"), as a trial boot would leave it."""
    store.install(Stream(GOOD), ctx)
    store.write_pointer("app", "a")
    return _tree(store.copy_dir("app", "a"))


def test_first_install_writes_copy_a_and_points_its_trial_at_it():
    def t(ctx):
        assert store.installed() == [] and _pointer() == "-"
        s = Stream(GOOD)
        seen = []
        b = store.install(s, ctx, progress=lambda done, total: seen.append((done, total)))
        assert (b.name, b.version, b.security_version) == ("app", "1.2.0", 4)
        assert _pointer() == "- a" and store.installed() == ["app"]
        p = store.read_pointer("app")
        assert (p.active, p.trial, p.mark, p.reason) == (None, "a", None, None)
        tree = _tree(store.copy_dir("app", "a"))
        assert sorted(tree) == ["data/", "data/blob.bin", "empty.txt", "lib/", "lib/util.py", "main.py"], tree
        assert tree["lib/util.py"] == b"VERSION = '1.2.0'\n"
        with open(store.copy_dir("app", "a") + ".mpbm", "rb") as f:
            assert f.read() == b.manifest
        assert not store._exists(store.copy_dir("app", "b")) and not store._exists(store.ROOT + "/app/boot.tmp")
        # The kept copy loads as the stage loads it (manifest authenticated, files verified).
        again = store.load_copy(ctx, "app", "a")
        assert (again.version, again.files) == (b.version, b.files)
        assert _last_event(ctx) == ("bundle-installed", "", "app 1.2.0 a")
        assert seen[-1] == (b.total, b.total) and len(seen) >= 3
        assert s.pos == len(GOOD)
    _run(t)


def test_the_next_install_goes_into_the_other_copy_and_leaves_the_running_one():
    def t(ctx):
        a = _installed_a(ctx)
        b = store.install(Stream(V2), ctx)
        assert _pointer() == "a b" and _tree(store.copy_dir("app", "a")) == a
        assert _tree(store.copy_dir("app", "b"))["lib/extra.py"] == b"EXTRA = 1\n"
        assert store.load_copy(ctx, "app", "b").version == "1.3.0" == b.version
        assert _last_event(ctx) == ("bundle-installed", "", "app 1.3.0 b")
        # b confirmed: the next install replaces a, whose old files (empty.txt) all go.
        store.write_pointer("app", "b")
        store.install(Stream(V2), ctx)
        assert _pointer() == "b a" and "empty.txt" not in _tree(store.copy_dir("app", "a"))
        store.load_copy(ctx, "app", "a")
        store.load_copy(ctx, "app", "b")
    _run(t)


def _refused(ctx, data, reason, name=None, who="app"):
    """Install `data`, which must be refused with `reason`: the pointer and copy a as they
    were, nothing left of copy b, the reason logged, its detail starting with `who` (the name
    asked for, else the manifest's; "?" when refused before the name was authenticated)."""
    a = _tree(store.copy_dir("app", "a"))
    pointer = _pointer()
    e = devtest.raises(BundleError, store.install, Stream(data), ctx, name)
    assert e.reason == reason, (reason, str(e))
    assert _pointer() == pointer and _tree(store.copy_dir("app", "a")) == a
    if pointer == "a":
        assert not store._exists(store.copy_dir("app", "b")) and not store._exists(store.copy_dir("app", "b") + ".mpbm")
    code, why, detail = _last_event(ctx)
    assert (code, why) == ("bundle-refused", reason), (code, why, detail)
    assert detail.split(" ")[0] == (name or who), detail
    return e


def test_refusals_leave_the_pointer_and_the_running_copy():
    def t(ctx):
        _installed_a(ctx)
        # A tampered file: the last byte of the last file, so the earlier ones were written.
        tampered = V2[:-1] + bytes([V2[-1] ^ 1])
        _refused(ctx, tampered, "file-hash")
        _refused(ctx, V2, "wrong-name", name="other")
        _refused(ctx, _read("bundle/wrong_board.mpbundle"), "wrong-board")
        _refused(ctx, _read("bundle/file_too_large.mpbundle"), "file-too-large", who="?")
        _refused(ctx, V2[:-100], "truncated")
        _refused(ctx, V2 + b"x", "trailing-data")
        _refused(ctx, _read("bundle/one_signature.mpbundle"), "signature-threshold", who="?")
        _refused(ctx, _read("bundle/file_too_large.mpbundle"), "file-too-large", name="app")
        ctx.state.raise_bundle_floor("app", 6)
        _refused(ctx, V2, "downgrade")  # sv5 below the floor 6, name given or not
        _refused(ctx, V2, "downgrade", name="app")
        # The running copy itself is below the floor now: the store says so as the stage would.
        assert devtest.raises(BundleError, store.load_copy, ctx, "app", "a").reason == "downgrade"
    _run(t)


def test_no_install_during_a_trial_or_a_pending_firmware_install():
    def t(ctx):
        _installed_a(ctx)
        store.install(Stream(V2), ctx)  # "a b": b's trial is next
        b = _tree(store.copy_dir("app", "b"))
        for pointer in (("a", "b"), ("a", "b", "try"), ("a", "b", "failed", "import-error")):
            store.write_pointer("app", *pointer)
            s = Stream(GOOD)
            # Named: refused before the stream is read; unnamed, once its manifest says which.
            e = devtest.raises(BundleError, store.install, s, ctx, "app")
            assert e.reason == "trial-in-progress" and s.reads == 0, str(e)
            e = devtest.raises(BundleError, store.install, s, ctx)
            assert e.reason == "trial-in-progress" and s.reads > 0, str(e)
            assert _pointer() == " ".join(pointer) and _tree(store.copy_dir("app", "b")) == b
            assert _last_event(ctx) == ("bundle-refused", "trial-in-progress", "app app")
        # Another bundle's trial refuses this one too (one trial at a time).
        store.write_pointer("app", "a")
        store.write_pointer("other", None, "a")
        assert devtest.raises(BundleError, store.install, Stream(V2), ctx).reason == "trial-in-progress"
        store.write_pointer("other", None)
        ctx.state.set_pending("ota_1", "2.0.0", 3, b"\x00" * 32)
        e = devtest.raises(BundleError, store.install, Stream(V2), ctx)
        assert e.reason == "trial-in-progress" and "firmware" in str(e)
        assert _pointer() == "a"
        ctx.state.clear_pending()
        store.install(Stream(V2), ctx)
        assert _pointer() == "a b"
    _run(t)


def test_no_space_is_refused_before_anything_is_written():
    if sys.implementation.name == "micropython":
        try:
            import vfs
        except ImportError:
            vfs = None
        if not hasattr(vfs, "VfsLfs2"):
            return  # the WebAssembly port's statvfs reports a fixed size: CPython and unix test it

        def t(ctx):
            # 24 blocks of LittleFS: copy a fits, a second copy beside it does not.
            _installed_a(ctx)
            used = os.statvfs(store.ROOT)
            _refused(ctx, V2, "no-space")
            assert os.statvfs(store.ROOT)[3] == used[3]
        _run(t, blocks=24)
        return

    def t(ctx):
        _installed_a(ctx)
        real = os.statvfs
        free = {"n": 0}

        def statvfs(path):
            st = list(real(path))
            st[0], st[3], st[4] = 4096, free["n"], free["n"]
            return st
        os.statvfs = statvfs  # CPython: a filesystem nearly full, as far as the store can tell
        try:
            _refused(ctx, V2, "no-space")
            free["n"] = 40
            store.install(Stream(V2), ctx)
        finally:
            os.statvfs = real
        assert _pointer() == "a b"
    _run(t)


def test_a_leftover_inactive_copy_is_replaced_whole():
    def t(ctx):
        a = _installed_a(ctx)
        # What a cut amid an earlier install could leave in b: a half file, an extra one, a
        # nested directory, a manifest of other bytes, and a pointer's temporary file.
        b = store.copy_dir("app", "b")
        for d in (b, b + "/lib", b + "/deep", b + "/deep/er"):
            os.mkdir(d)
        for path, data in (("/lib/util.py", b"VERS"), ("/junk.py", b"import evil\n"), ("/deep/er/x", b"x" * 5000)):
            with open(b + path, "wb") as f:
                f.write(data)
        with open(b + ".mpbm", "wb") as f:
            f.write(b"{not a manifest")
        with open(store.ROOT + "/app/boot.tmp", "wb") as f:
            f.write(b"b")
        assert _pointer() == "a"
        store.install(Stream(V2), ctx)
        assert _pointer() == "a b" and _tree(store.copy_dir("app", "a")) == a
        assert sorted(_tree(b)) == ["data/", "data/blob.bin", "lib/", "lib/extra.py", "lib/util.py", "main.py"]
        store.load_copy(ctx, "app", "b")
        # remove_inactive drops the copy no pointer word names.
        store.write_pointer("app", "b")
        assert store.remove_inactive("app") == "a" and not store._exists(store.copy_dir("app", "a"))
        assert not store._exists(store.copy_dir("app", "a") + ".mpbm") and store.installed() == ["app"]
    _run(t)


def test_a_first_install_cut_short_is_written_again():
    def t(ctx):
        # A first install writes "-" before its copy: a cut then leaves a copy nothing runs.
        e = devtest.raises(BundleError, store.install, Stream(GOOD[:-10]), ctx)
        assert e.reason == "truncated" and _pointer() == "-" and store.installed() == ["app"]
        a = store.copy_dir("app", "a")
        os.mkdir(a)
        with open(a + "/main.py", "wb") as f:
            f.write(b"half")
        store.install(Stream(GOOD), ctx)
        assert _pointer() == "- a"
        store.load_copy(ctx, "app", "a")
        # A missing pointer beside a copy is bad-pointer: never taken as "nothing installed".
        os.remove(store.ROOT + "/app/boot")
        assert devtest.raises(BundleError, store.read_pointer, "app").reason == "bad-pointer"
        a_files = _tree(a)
        assert devtest.raises(BundleError, store.install, Stream(V2), ctx).reason == "bad-pointer"
        assert _tree(a) == a_files and not store._exists(store.ROOT + "/app/boot") and not store._exists(store.copy_dir("app", "b"))
        assert _last_event(ctx) == ("bundle-refused", "bad-pointer", "app missing")
    _run(t)


def _model(raw):
    """What a pointer's bytes mean, by the grammar in docs/bundles.md, written apart from
    parse_pointer: (active, trial, mark, reason) or None for bad-pointer."""
    if not raw or len(raw) > 64 or any(c > 0x7E for c in raw):
        return None
    words = bytes(raw).decode().split(" ")
    if words[0] not in ("-", "a", "b") or len(words) > 4:
        return None
    active = None if words[0] == "-" else words[0]
    if len(words) == 1:
        return (active, None, None, None)
    if words[1] not in ("a", "b") or words[1] == words[0]:
        return None
    if len(words) == 2:
        return (active, words[1], None, None)
    if len(words) == 3:
        return (active, words[1], "try", None) if words[2] == "try" else None
    reason = words[3]
    ok = words[2] == "failed" and 0 < len(reason) <= 32 and all(c in "abcdefghijklmnopqrstuvwxyz0123456789-" for c in reason)
    return (active, words[1], "failed", reason) if ok else None


def _parsed(raw):
    try:
        p = store.parse_pointer(raw)
    except BundleError as e:
        assert e.reason == "bad-pointer", str(e)
        return None
    return (p.active, p.trial, p.mark, p.reason)


VALID = (b"a", b"b", b"-", b"a b", b"b a", b"- a", b"- b", b"a b try", b"- b try",
         b"b a failed import-error", b"- a failed not-confirmed", b"a b failed " + b"x" * 32)
BAD = (b"", b" ", b"a ", b" a", b"a  b", b"a a", b"b b try", b"c", b"A", b"a b c", b"a b try x",
       b"a b failed", b"a b failed Bad", b"a b failed x y", b"- -", b"a -", b"-- a", b"a\n", b"a\x00",
       b"a\tb", b"a b try\n", b"a b failed " + b"x" * 33, b"\xff", b"a\xc3\xa9", b"a b TRY", b"a b tried",
       b"- a try " + b"x" * 60, b"a b failed -x y", b"ab", b"a b failed _")


def test_pointer_grammar_is_exactly_the_documented_one():
    for raw in VALID:
        assert _parsed(raw) is not None and _parsed(raw) == _model(raw), raw
    for raw in BAD:
        assert _parsed(raw) is None and _model(raw) is None, raw
    # Fuzz-like: every byte of each valid pointer replaced by a sample of values, a byte
    # inserted or dropped at each place; the parser and the model agree on each.
    subst = (0x00, 0x09, 0x0A, 0x20, 0x2D, 0x41, 0x61, 0x62, 0x63, 0x7A, 0x7F, 0x80, 0xC3, 0xFF)
    n = 0
    for raw in VALID:
        for i in range(len(raw) + 1):
            for c in subst:
                for m in (raw[:i] + bytes([c]) + raw[i + 1:], raw[:i] + bytes([c]) + raw[i:]):
                    assert _parsed(m) == _model(m), m
                    n += 1
            m = raw[:i] + raw[i + 1:]
            assert _parsed(m) == _model(m), m
    assert n > 2000


def test_pointers_round_trip_through_the_filesystem():
    def t(ctx):
        for active in (None, "a", "b"):
            for trial in (None, "a", "b"):
                if trial is not None and trial == active:
                    continue
                for mark, reason in ((None, None), ("try", None), ("failed", "not-confirmed")):
                    if trial is None and mark is not None:
                        continue
                    store.write_pointer("app", active, trial, mark, reason)
                    p = store.read_pointer("app")
                    assert (p.active, p.trial, p.mark, p.reason) == (active, trial, mark, reason)
                    assert not store._exists(store.ROOT + "/app/boot.tmp")
        # Nothing read_pointer refuses is ever written; the pointer stays.
        for args in (("a", "a"), ("c",), (None, None, "try"), ("a", "b", "failed", "Bad"), ("a", "b", "failed"),
                     ("a", "b", "try", "x"), ("a", "b", "done")):
            assert devtest.raises(BundleError, store.write_pointer, "app", *args).reason == "bad-pointer"
            assert _pointer() == "b a failed not-confirmed"
        # The pointer file holds exactly the words (no newline): what the fixed loader reads.
        with open(store.ROOT + "/app/boot", "rb") as f:
            assert f.read() == b"b a failed not-confirmed"
        with open(store.ROOT + "/app/boot", "wb") as f:
            f.write(b"a" * 65)
        assert devtest.raises(BundleError, store.read_pointer, "app").reason == "bad-pointer"
        assert store.installed() == ["app"]
    _run(t)


def test_device_args_are_the_devices():
    ctx = _ctx()
    d = store.device_args(ctx)
    assert d == {"chip_id": 0, "board": "esp32-4mb", "mpy": getattr(sys.implementation, "_mpy", None),
                 "firmware": "1.0.0"}
    # A bundle that needs a newer firmware than the running one is refused as the stage would.
    ctx.firmware = "1.1.0"
    any_board = _read("bundle/any_board.mpbundle")  # min_firmware 1.2.0, mpy 6
    e = devtest.raises(BundleError, bundle.verify_stream, Stream(any_board), ctx.root, **dict(store.device_args(ctx), mpy=6))
    assert e.reason == "needs-firmware"
