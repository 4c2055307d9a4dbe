"""Installed bundles on the filesystem: two copies of each, and the pointer that says which runs.

    /bundles/NAME/a/...    copy a: exactly the bundle's files (verify_files allows nothing else)
    /bundles/NAME/b/...    copy b
    /bundles/NAME/a.mpbm   copy a's signed manifest, the bytes of the .mpbundle (load_manifest)
    /bundles/NAME/b.mpbm
    /bundles/NAME/boot     the pointer: "a", "- a", "a b", "a b try", "a b failed REASON" (below)

The pointer is ASCII words split by single spaces: the confirmed copy (or "-": none), then the
copy on trial, then "try" once its trial has started or "failed REASON" when it failed. It is
only ever replaced whole: written to boot.tmp, then renamed over boot (one atomic commit on
LittleFS), so a power cut leaves the old pointer or the new one, never a mix. Anything else in
it is "bad-pointer", and so is a missing pointer beside a copy: never trusted to turn a check
off (the stage then takes a copy only if it verifies fully).

install() writes the copy the pointer does not name (the inactive one), so whatever a cut
leaves there is never run; each step of it is safe to cut at:
1. refuse while a firmware install is pending or any bundle has a trial ("trial-in-progress":
   a firmware trial and a bundle trial never overlap, and the health check of a trial must not
   replace what it checks);
2. verify_stream authenticates the manifest and checks its fields, paths and caps;
3. start(): the manifest is checked against the device (name, chip, board, .mpy version,
   firmware version, this bundle's floor), no trial may have started meanwhile, the pointer
   must parse; the free space must hold the copy (counting what the old
   inactive copy frees) before anything is written ("no-space"); a first install writes the
   pointer "-" (no copy runs) before its copy exists, so no cut leaves a copy that a boot
   would take up as a normal (untried) boot; then the old inactive copy and its manifest go,
   and the new manifest is written beside the copy;
4. each file streams through the one buffer into the copy; its hash is checked at its end;
5. the manifest is read back and compared, and verify_files checks every file where it now is
   (nothing is trusted because it was written);
6. only then the pointer "X Y": Y's trial starts at the next boot (the stage's job).
A refusal logs "bundle-refused" (the failed check's code; detail: the name and what failed),
removes what it wrote of the inactive copy and raises BundleError; an install logs
"bundle-installed" (detail "NAME VERSION COPY").

Device code: CPython and MicroPython alike, one 4 KiB buffer, no file read whole but a
manifest (at most 8 KiB, parsed whole anyway), which goes into the manifest buffer
(bundle.manifest_buffer) made before the work starts; raises only BundleError and OSError.
"""

import os
import sys

from mpboot_fw import bundle, bundledir, statelog
from mpboot_fw.bundle import BundleError

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

ROOT = bundledir.ROOT
COPIES = ("a", "b")
NONE = "-"  # the pointer's first word when no copy is confirmed
POINTER = "boot"
MANIFEST = ".mpbm"
TRY = "try"
FAILED = "failed"
MAX_POINTER = const(64)  # "a b failed " and a 32-character reason fit with room to spare
MAX_REASON = const(32)
# Blocks kept free beyond the estimate: LittleFS needs free blocks to compact a directory's
# metadata pair and to relocate a worn block while it writes.
RESERVE_BLOCKS = const(4)
# Files this small live in their directory's metadata, not in blocks of their own: LittleFS's
# inline limit is its cache size, 4 x max(readsize, progsize) in MicroPython's VfsLfs2 (128
# bytes with its defaults, which the ESP32 port's vfs uses).
INLINE = const(64)
_DIR = const(0x4000)


class Pointer:
    """A parsed pointer: active (the confirmed copy, or None), trial (the copy on trial, or
    None), mark (None, "try" or "failed") and reason (why the trial failed, else None)."""

    def __init__(self, active=None, trial=None, mark=None, reason=None):
        self.active = active
        self.trial = trial
        self.mark = mark
        self.reason = reason

    def text(self):
        words = [self.active or NONE]
        if self.trial is not None:
            words.append(self.trial)
            if self.mark is not None:
                words.append(self.mark)
                if self.reason is not None:
                    words.append(self.reason)
        return " ".join(words)


def bundle_dir(name):
    return ROOT + "/" + name


def copy_dir(name, copy):
    """The directory of copy `copy` ("a" or "b") of bundle `name`: /bundles/NAME/a."""
    return ROOT + "/" + name + "/" + copy


def other(copy):
    return "b" if copy == "a" else "a"


def parse_pointer(raw):
    """The Pointer in the bytes `raw`, or BundleError("bad-pointer")."""
    if not 0 < len(raw) <= MAX_POINTER:
        raise BundleError("bad-pointer")
    for c in raw:
        # Checked byte by byte: MicroPython's decode need not refuse bad UTF-8.
        if not (0x61 <= c <= 0x7A or 0x30 <= c <= 0x39 or c == 0x2D or c == 0x20):
            raise BundleError("bad-pointer")
    words = bytes(raw).decode().split(" ")
    n = len(words)
    p = Pointer()
    if n > 4 or words[0] not in (NONE, "a", "b"):
        raise BundleError("bad-pointer")
    p.active = None if words[0] == NONE else words[0]
    if n >= 2:
        if words[1] not in COPIES or words[1] == p.active:
            raise BundleError("bad-pointer")
        p.trial = words[1]
    if n == 3:
        if words[2] != TRY:
            raise BundleError("bad-pointer")
        p.mark = TRY
    elif n == 4:
        if words[2] != FAILED or not _is_reason(words[3]):
            raise BundleError("bad-pointer")
        p.mark, p.reason = FAILED, words[3]
    return p


def read_pointer(name):
    """The Pointer of bundle `name`. A bundle with no pointer and no copy (not installed, or
    nothing of a first install reached the filesystem yet) reads as "-"; a missing pointer
    beside a copy, or any content but a pointer, is BundleError("bad-pointer")."""
    try:
        f = open(bundle_dir(name) + "/" + POINTER, "rb")
    except OSError:
        for copy in COPIES:
            if _exists(copy_dir(name, copy)) or _exists(copy_dir(name, copy) + MANIFEST):
                raise BundleError("bad-pointer", "missing")
        return Pointer()
    try:
        raw = f.read(MAX_POINTER + 1)  # one byte more than a pointer holds: too long shows
    finally:
        f.close()
    return parse_pointer(raw)


def write_pointer(name, active, trial=None, mark=None, reason=None):
    """Replace bundle `name`'s pointer (boot.tmp, then renamed over boot: atomic on LittleFS).
    A pointer read_pointer would refuse is never written (BundleError "bad-pointer")."""
    text = Pointer(active, trial, mark, reason).text()
    p = parse_pointer(text.encode())
    if (p.active, p.trial, p.mark, p.reason) != (active, trial, mark, reason):
        raise BundleError("bad-pointer", "not written")
    _mkdirs(bundle_dir(name))
    path = bundle_dir(name) + "/" + POINTER
    f = open(path + ".tmp", "wb")
    try:
        f.write(text.encode())
    finally:
        f.close()
    os.rename(path + ".tmp", path)


def installed():
    """Sorted names of the bundles that have a pointer or a copy (or a copy's manifest)."""
    try:
        names = os.listdir(ROOT)
    except OSError:
        return []
    out = []
    for n in names:
        if not bundle.is_name(n):
            continue  # never a bundle's directory: install only makes names load_manifest took
        if _exists(bundle_dir(n) + "/" + POINTER):
            out.append(n)
            continue
        for copy in COPIES:
            if _exists(copy_dir(n, copy)) or _exists(copy_dir(n, copy) + MANIFEST):
                out.append(n)
                break
    out.sort()
    return out


def device_args(ctx):
    """The device keywords of bundle.load_manifest / verify_stream for this device: chip_id and
    board (the configuration's, or the running image's), mpy (sys.implementation._mpy; None on
    CPython, which imports no .mpy) and firmware (the running image's version: ctx.firmware
    when the caller set it, else read from the running slot once and kept there; "" when it
    cannot be read, which passes no min_firmware)."""
    fw = getattr(ctx, "firmware", None)
    if fw is None:
        fw = _running_version()
        ctx.firmware = fw
    return {"chip_id": ctx.cfg.chip_id, "board": ctx.cfg.board,
            "mpy": getattr(sys.implementation, "_mpy", None), "firmware": fw}


def load_copy(ctx, name, copy, files=True, buf=None, documents=None):
    """The Bundle of copy `copy` of bundle `name`: its kept manifest authenticated and checked
    against this device (device_args, name, the bundle's floor), then, with files=True, every
    file of the copy checked in place (verify_files). documents: the manifest buffer the kept
    manifest is read into (bundle.manifest_buffer; its bytes, b.manifest, are valid until its
    next read). Raises BundleError."""
    data = bundle.read_manifest_file(copy_dir(name, copy) + MANIFEST, documents, copy + MANIFEST)
    b = bundle.load_manifest(data, ctx.root, name=name, floor=_floor(ctx, name), **device_args(ctx))
    del data
    if files:
        bundle.verify_files(b, copy_dir(name, copy), buf)
    return b


def install(stream, ctx=None, name=None, buf=None, progress=None, documents=None):
    """Install the bundle read from `stream` (readinto: a file, a download, a serial link) into
    its inactive copy and point its next boot at it (see the module docstring). name: the
    bundle it must be (None: any). progress: called as progress(bytes written, total) after
    each block. documents: the manifest buffer (bundle.manifest_buffer), best made by the caller
    before its own work fragments the heap; None: made here first, before the context is loaded
    (the returned Bundle's manifest is in it). Returns the Bundle; raises BundleError (logged) or
    OSError (logged as io-error, then raised: the stream or the filesystem failed)."""
    if documents is None:
        documents = bundle.manifest_buffer()
    if ctx is None:
        from mpboot_fw import context

        ctx = context.load()
    if buf is None:
        buf = bytearray(bundle.BLOCK)
    sink = _Sink(ctx, buf, progress, name)
    try:
        if name is not None:
            _refuse_during_trial(ctx)  # before the stream is read (start() checks again)
        # The device checks are start()'s, on the authenticated manifest: a refusal then names
        # the bundle it refused.
        b = bundle.verify_stream(stream, ctx.root, sink, buf, documents)
        where = copy_dir(b.name, sink.copy)
        _same_file(where + MANIFEST, b.manifest, buf)
        bundle.verify_files(b, where, buf)
        write_pointer(b.name, sink.pointer.active, sink.copy)
    except BundleError as e:
        _refused(ctx, sink, name, e.reason, str(e)[len(e.reason) + 2:])
        raise
    except OSError as e:
        _refused(ctx, sink, name, "io-error", repr(e))
        raise
    ctx.state.log_event("bundle-installed", "", "%s %s %s" % (b.name, b.version, sink.copy))
    return b


def remove_inactive(name):
    """Remove the copy of bundle `name` its pointer names neither as confirmed nor on trial, and
    its manifest (nothing of it could run). Returns that copy's letter, or None when both are
    named. Raises BundleError("bad-pointer") when the pointer does not parse: then no copy is
    known to be unused."""
    p = read_pointer(name)
    for copy in COPIES:
        if copy != p.active and copy != p.trial:
            _remove_copy(name, copy)
            return copy
    return None


class _Sink:
    """verify_stream's sink: in start() the checks that need the authenticated manifest and the
    filesystem, then the files written into the inactive copy."""

    def __init__(self, ctx, buf, progress, name):
        self.ctx = ctx
        self.progress = progress
        self.wanted = name
        self.name = self.copy = self.pointer = self.f = None
        self.written = self.total = 0

    def start(self, b):
        name = self.name = b.name
        bundle.check_device(b, name=self.wanted, floor=_floor(self.ctx, name), **device_args(self.ctx))
        _refuse_during_trial(self.ctx)
        p = read_pointer(name)
        names = installed()
        if name not in names and len(names) >= statelog.MAX_BUNDLES:
            # The state log keeps a floor for this many names only.
            raise BundleError("too-many-bundles", "at most %d" % statelog.MAX_BUNDLES)
        del names
        copy = "a" if p.active is None else other(p.active)
        _check_space(b, name, copy)
        self.pointer, self.copy, self.total = p, copy, b.total
        if not _exists(bundle_dir(name) + "/" + POINTER):
            write_pointer(name, None)  # "-": whatever a cut leaves of this copy is never run
        _remove_copy(name, copy)
        f = open(copy_dir(name, copy) + MANIFEST, "wb")
        try:
            f.write(b.manifest)
        finally:
            f.close()
        os.mkdir(copy_dir(name, copy))

    def begin(self, path, size):
        base = copy_dir(self.name, self.copy)
        i = path.rfind("/")
        if i > 0:
            _mkdirs(base + "/" + path[:i], len(base) + 1)
        self.f = open(base + "/" + path, "wb")

    def write(self, chunk):
        self.f.write(chunk)
        self.written += len(chunk)
        if self.progress is not None:
            self.progress(self.written, self.total)

    def end(self, path):
        f, self.f = self.f, None
        f.close()

    def close(self):
        if self.f is not None:
            f, self.f = self.f, None
            try:
                f.close()
            except OSError:
                pass


def _refuse_during_trial(ctx):
    pending = ctx.state.pending
    if pending is not None:
        raise BundleError("trial-in-progress", "firmware " + pending["slot"] + " " + pending["version"])
    name = on_trial()
    if name is not None:
        raise BundleError("trial-in-progress", name)


def on_trial(running=False):
    """The name of a bundle whose pointer has a trial, or None; with `running`, only a trial
    that has started ("try": this boot runs it, and its health check may be what calls an
    install). A firmware install is refused then (install.claim): the next boot would be the
    image's trial with the bundle's still unconfirmed. An install waiting for its trial is no
    obstacle to an image: the stage starts bundle trials only on a normal firmware boot."""
    for n in installed():
        try:
            p = read_pointer(n)
        except BundleError:
            continue  # a bad pointer is no trial: the stage boots it as a normal boot, or not at all
        if p.trial is not None and (p.mark == "try" or not running):
            return n
    return None


def _refused(ctx, sink, name, reason, detail):
    sink.close()
    if sink.copy is not None:
        # What was written of the inactive copy: never run (the pointer does not name it), but
        # space the next install needs. A failure here leaves it for that install to remove.
        try:
            _remove_copy(sink.name, sink.copy)
        except OSError:
            pass
    who = name or sink.name or "?"
    ctx.state.log_event("bundle-refused", reason, who + " " + detail if detail else who)


def _check_space(b, name, copy):
    """BundleError("no-space") unless the filesystem holds the new copy once the old one at
    `copy` is gone: counted in blocks, each file rounded up (with LittleFS's block pointers),
    but a file of at most INLINE bytes, which LittleFS keeps in its directory's metadata: those
    count their bytes, name and tag there, two blocks (a metadata pair) per half block of it;
    two blocks per directory, and RESERVE_BLOCKS for LittleFS itself. What the old copy frees
    is counted the same way, its small files as nothing (erring towards no-space)."""
    where = ROOT
    while not _exists(where) and "/" in where[1:]:
        where = where[:where.rfind("/")]
    st = os.statvfs(where if _exists(where) else "/")
    bs, free = st[0], st[4]
    if free > st[2]:
        # MicroPython's VfsLfs2 reports blocks - lfs_fs_size, and LittleFS may count more blocks
        # in use than the filesystem has when it is nearly full: the u32 wraps round.
        free = 0
    dirs = {}
    need = _blocks(len(b.manifest), bs) + RESERVE_BLOCKS
    meta = 0
    for path, size, _ in b.files:
        need += _blocks(size, bs)
        if size <= INLINE:
            meta += size + len(path) + 32
        i = path.rfind("/")
        while i > 0:
            dirs[path[:i]] = None
            i = path.rfind("/", 0, i)
    need += 2 * (len(dirs) + 1) + 2 * ((meta + bs // 2 - 1) // (bs // 2))
    if not _exists(bundle_dir(name)):
        need += 2
    have = free + _used_blocks(copy_dir(name, copy), bs) + _used_blocks(copy_dir(name, copy) + MANIFEST, bs)
    if need > have:
        raise BundleError("no-space", "%d blocks of %d bytes needed, %d free" % (need, bs, have))


def _blocks(size, bs):
    # A LittleFS file block also holds its skip-list pointers (8 bytes on average, 16 is safe).
    return (size + bs - 17) // (bs - 16) if size > INLINE else 0


def _used_blocks(path, bs):
    """Blocks the files under `path` (a file or a directory) take, as _blocks counts them."""
    try:
        st = os.stat(path)
    except OSError:
        return 0
    if not st[0] & _DIR:
        return _blocks(st[6], bs)
    n = 0
    for entry in os.listdir(path):
        n += _used_blocks(path + "/" + entry, bs)
    return n


def _remove_copy(name, copy):
    """Remove copy `copy` of `name` and its manifest, the manifest first: a copy without its
    manifest is never taken for one (load_copy needs it)."""
    _remove_tree(copy_dir(name, copy) + MANIFEST)
    _remove_tree(copy_dir(name, copy))


def _remove_tree(path):
    try:
        st = os.stat(path)
    except OSError:
        return
    if st[0] & _DIR:
        for entry in os.listdir(path):
            _remove_tree(path + "/" + entry)
        os.rmdir(path)
    else:
        os.remove(path)


def _mkdirs(path, i=1):
    """Make directory `path` and those above it from offset `i` on (those before it exist)."""
    while True:
        j = path.find("/", i)
        part = path if j < 0 else path[:j]
        if not _exists(part):
            os.mkdir(part)
        if j < 0:
            return
        i = j + 1


def _same_file(path, data, buf):
    """BundleError("file-hash") unless the file at `path` holds exactly `data` (read back in
    blocks: the kept manifest is what the stage will trust, so it is checked like a file)."""
    mv = memoryview(buf)
    try:
        if os.stat(path)[6] != len(data):
            raise BundleError("file-size", path[path.rfind("/") + 1:])
        f = open(path, "rb")
    except OSError:
        raise BundleError("missing-file", path[path.rfind("/") + 1:])
    try:
        # Compared as views: a copy of each side would be two 4 KiB blocks a read, which a
        # full heap after the files were written need not have in one piece.
        want = memoryview(data)
        pos = 0
        while pos < len(data):
            n = f.readinto(mv)
            if not n or mv[:n] != want[pos:pos + n]:
                raise BundleError("file-hash", path[path.rfind("/") + 1:])
            pos += n
    finally:
        f.close()


def _floor(ctx, name):
    return ctx.state.bundle_floor(name)


def _running_version():
    from mpboot_fw import image, slots

    try:
        return image.read_manifest(slots.running()).version
    except (ImportError, OSError, image.ImageError):
        return ""


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _is_reason(text):
    if not 0 < len(text) <= MAX_REASON:
        return False
    for c in text:
        if not ("a" <= c <= "z" or "0" <= c <= "9" or c == "-"):
            return False
    return True
