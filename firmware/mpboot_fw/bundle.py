"""Signed application bundles: device files (an application, its libraries, mpboot itself) under
one manifest signed by a threshold of the root's `targets` keys, the keys that sign images.

A bundle file (.mpbundle; docs/bundles.md has the byte table and every rule's reason):

    0              header, 16 bytes little-endian: magic "MPBN", format_version u16 = 1,
                   flags u16 = 0, manifest_len u32, reserved u32 = 0
    16             the manifest: manifest_len bytes of {"signed": {...}, "signatures": [...]},
                   checked as TUF metadata is (trust.load_envelope, canonical JSON of `signed`)
    16 + manifest_len   every file's bytes, in manifest order, nothing between or after

`signed` holds exactly: _type "bundle", format 1, name, version (SemVer), security_version,
board, chip_id, mpy (the .mpy major version its .mpy files need), min_firmware (SemVer), entry
(module or module:function), files [{path, size, sha256}]; board, chip_id, mpy, min_firmware
and entry may be null. One streaming pass checks it all in this order, so nothing of a file
reaches a sink before the manifest is authenticated and every cap is checked: header, manifest
size, JSON syntax and depth, signatures, fields and paths, caps, the device (name, chip, board,
.mpy version, firmware version, security floor), then each file's size and SHA-256, then the end
of the stream. A file's bytes reach the sink before its own hash is known (nothing is held
whole in RAM): a sink keeps nothing as good until verify_stream returns, and an install verifies
what it wrote where it wrote it (verify_files), trusting nothing because it was written.

Paths are relative to the bundle's own directory, which is never the filesystem's root: printable
ASCII letters, digits, `.`, `_`, `-`, components split by `/`, none empty or ending in `.` (so no
`.` or `..`, and nothing FAT would shorten), unique ignoring case (FAT folds case, LittleFS does
not: a bundle must install alike on both), no x.py beside x.mpy, no file that is also a directory.
At the top, boot.py and the configuration's names are refused (a copy put at the root by hand
must never replace the fixed loader or the configuration), and so is mpboot_fw/ except in the
bundle named "mpboot" (the device package: no application shadows mpboot's own modules).

The functions raise BundleError, whose `reason` is a short stable code for the state log:
bad-magic, bad-format, truncated, manifest-too-large, bad-manifest, duplicate-signature,
signature-threshold, bad-path, reserved-path, duplicate-path, too-many-files, file-too-large,
too-large, wrong-name, wrong-chip, wrong-board, wrong-mpy, needs-firmware, downgrade, file-hash,
trailing-data; verify_files also missing-file, file-size, extra-file, unreadable. OSError from the
stream or the sink passes through: it is the caller's I/O failing, not the bundle.
"""

import hashlib
import os
import struct
from binascii import unhexlify

from mpboot_fw import cjson, config, docbuf, otaconfig, trust, version as versions

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

MAGIC = b"MPBN"
FORMAT_VERSION = const(1)
HEADER_FORMAT = "<4sHHII"
HEADER_SIZE = const(16)
TYPE = "bundle"
DEVICE_PACKAGE = "mpboot"  # the one bundle that may hold mpboot_fw/
BLOCK = const(4096)
# Caps, checked on the signed manifest before anything is written. The manifest is parsed
# whole (json.loads), so it is what a verify holds in RAM: at 8 KiB its bytes and parsed document
# (then the file list, which takes the parse's place) peak at about 21 KiB live on a 32-bit port
# (docs/bundles.md, "Memory"). Its bytes go into one buffer made early and reused
# (manifest_buffer), never a late 8 KiB block.
MAX_MANIFEST = const(8192)
MAX_FILES = const(64)
MAX_FILE_SIZE = const(262144)
MAX_TOTAL = const(524288)
MAX_PATH = const(128)
MAX_COMPONENTS = const(8)
MAX_NAME = const(32)
# Arrays and objects open at once: the document, signed, files, one file's object.
MAX_DEPTH = const(4)
U32 = 0xFFFFFFFF
FIELDS = ("_type", "board", "chip_id", "entry", "files", "format", "min_firmware", "mpy", "name",
          "security_version", "version")
FILE_FIELDS = ("path", "sha256", "size")
# Names with a meaning at the filesystem's root: the fixed loader, MicroPython's boot script and
# mpboot's two configuration files.
RESERVED = ("boot.py", "boot.mpy", config.PATH[1:], otaconfig.PATH[1:])
_PACKAGE_DIR = "mpboot_fw"
# 1 for a byte allowed in a path component: A-Z a-z 0-9 . _ -
_PATH_CHARS = bytes(1 if (0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A or c in b"._-") else 0
                    for c in range(256))
_DUPLICATE_KEYID = "duplicate signature keyid"  # trust.collect_signatures' message


class BundleError(Exception):
    """A bundle, manifest or installed copy that must not be used; `reason` is the failed
    check's code."""

    def __init__(self, reason, detail=None):
        super().__init__(reason if detail is None else reason + ": " + detail)
        self.reason = reason


class Bundle:
    """A verified manifest: name, version, security_version, board, chip_id, mpy, min_firmware,
    entry (None where the manifest has null), files (a list of (path, size, sha256 digest) in
    stream order), total (bytes of all files), keyids (of the signatures, sorted), manifest (its
    bytes, for an install to keep beside the copy: in the caller's manifest buffer when it gave
    one, so valid until that buffer's next read) and, from verify_stream, length (the file's)."""


def manifest_buffer():
    """The buffer manifests are read into (a docbuf.DocumentBuffer of MAX_MANIFEST bytes): made
    once, before the heap fragments (the boot stage's bundle code when it starts, an install at
    its start), and passed to every read (verify_stream, read_manifest_file), so no manifest asks
    for an 8 KiB block of its own after the heap has filled with survivors (docbuf.py)."""
    return docbuf.DocumentBuffer(MAX_MANIFEST)


def read_header(stream):
    """The manifest length from the 16-byte header at the start of `stream`."""
    head = _read_exact(stream, HEADER_SIZE, "header")
    magic, fmt, flags, length, reserved = struct.unpack(HEADER_FORMAT, head)
    if magic != MAGIC:
        raise BundleError("bad-magic")
    if fmt != FORMAT_VERSION:
        raise BundleError("bad-format", "version")
    if flags or reserved:
        # Format 1 defines no flags: a bit set here means something this reader cannot honour.
        raise BundleError("bad-format", "flags")
    if length > MAX_MANIFEST:
        raise BundleError("manifest-too-large", "%d bytes, at most %d" % (length, MAX_MANIFEST))
    return length


def verify_stream(stream, root, sink=None, buf=None, documents=None, **device):
    """Verify the bundle read from `stream` (anything with readinto, as install.run takes: a file,
    a download, a serial link; file data in `buf`-sized blocks, 4 KiB by default) and return its
    Bundle, or raise BundleError at the first failed check. documents: the manifest buffer
    (manifest_buffer) the manifest is read into; None: a new block of its size.

    root: a trust.Root (anything with verify(role, message, signatures)). device: what
    load_manifest checks the manifest against. sink: gets start(bundle) once the manifest passed
    every check (an install checks its free space and keeps bundle.manifest there), then per
    file begin(path, size), write(chunk) for each block of its bytes (a memoryview valid during
    the call only) and end(path) once that file's size and SHA-256 matched.
    """
    length = read_header(stream)
    b = load_manifest(_read_manifest(stream, length, documents), root, **device)
    if buf is None:
        buf = bytearray(BLOCK)
    mv = memoryview(buf)
    if sink is not None:
        sink.start(b)
    for path, size, digest in b.files:
        if sink is not None:
            sink.begin(path, size)
        if _hash_stream(stream, size, mv, sink) != digest:
            raise BundleError("file-hash", path)
        if sink is not None:
            sink.end(path)
    if stream.readinto(mv[:1]):
        raise BundleError("trailing-data")
    b.length = HEADER_SIZE + length + b.total
    return b


def load_manifest(data, root, name=None, chip_id=None, board=None, mpy=None, firmware=None, floor=0):
    """The Bundle of manifest bytes `data`, authenticated and checked against the device:
    name (the bundle this must be: a file taken from another one is refused), chip_id, board,
    mpy (the device's sys.implementation._mpy), firmware (the running image's version) and floor
    (the lowest security_version allowed). A device argument left None is not checked: the
    stage and installer always give them; the host leaves out what it does not know.
    """
    if len(data) > MAX_MANIFEST:
        raise BundleError("manifest-too-large", "%d bytes, at most %d" % (len(data), MAX_MANIFEST))
    try:
        # Depth first, stricter than metadata's: a manifest has four levels.
        cjson.check_syntax(data, MAX_DEPTH)
        signed, message, signatures = trust.load_envelope(data, TYPE)
    except ValueError as e:
        raise BundleError("bad-manifest", str(e))
    except trust.TrustError as e:
        if str(e) == _DUPLICATE_KEYID:
            raise BundleError("duplicate-signature")
        raise BundleError("bad-manifest", str(e))
    # Authenticate first, so every later decision rests on signed fields only.
    try:
        root.verify("targets", message, signatures)
    except trust.TrustError as e:
        raise BundleError("signature-threshold", str(e).split(": ", 1)[-1])
    del message
    b = check_manifest(signed, True)
    del signed
    b.keyids = sorted(signatures)
    b.manifest = data
    check_device(b, name, chip_id, board, mpy, firmware, floor)
    return b


def check_manifest(signed, consume=False):
    """A Bundle from a manifest's `signed` object, every field, path and cap checked (no
    signatures: load_manifest checks those first). The host runs it before signing. consume:
    each entry of signed["files"] is set to None once its file is in the Bundle, so the parse
    and the file list are not both whole at the peak (for a caller that drops `signed`)."""
    if not isinstance(signed, dict):
        raise BundleError("bad-manifest", "signed is not an object")
    for key in sorted(signed):  # dict order differs between runtimes; the reason logged must not
        if key not in FIELDS:
            raise BundleError("bad-manifest", "unknown field " + _shown(key))
    for key in FIELDS:
        if key not in signed:
            raise BundleError("bad-manifest", "missing field " + key)
    if not _is_int(signed["format"]) or signed["format"] != FORMAT_VERSION:
        raise BundleError("bad-format", "manifest format")
    b = Bundle()
    b.name = signed["name"]
    if not is_name(b.name):
        raise BundleError("bad-manifest", "name must be 1-32 of a-z 0-9 _ -, starting with a letter")
    b.version = _semver(signed, "version")
    b.security_version = _int(signed, "security_version", U32)
    b.board = signed["board"]
    if b.board is not None and not config.printable(b.board, MAX_NAME):
        raise BundleError("bad-manifest", "board must be null or 1-32 printable ASCII characters")
    b.chip_id = _int(signed, "chip_id", 0xFFFF, True)
    b.mpy = _int(signed, "mpy", 0xFF, True)
    b.min_firmware = None if signed["min_firmware"] is None else _semver(signed, "min_firmware")
    b.entry = signed["entry"]
    _check_files(b, signed["files"], consume)
    if b.entry is not None:
        _check_entry(b)
    return b


def check_device(b, name=None, chip_id=None, board=None, mpy=None, firmware=None, floor=0):
    """Raise BundleError unless Bundle `b` fits this device (see load_manifest)."""
    if name is not None and b.name != name:
        raise BundleError("wrong-name", b.name)
    if chip_id is not None and b.chip_id is not None and b.chip_id != chip_id:
        raise BundleError("wrong-chip")
    if board is not None and b.board is not None and b.board != board:
        raise BundleError("wrong-board", b.board)
    # Bytecode-only .mpy files import where the major version matches (MicroPython's loader
    # checks the sub-version for native code only, which bundles do not carry).
    if mpy is not None and b.mpy is not None and b.mpy != mpy & 0xFF:
        raise BundleError("wrong-mpy", "needs .mpy %d, the firmware imports %d" % (b.mpy, mpy & 0xFF))
    if firmware is not None and b.min_firmware is not None:
        try:
            older = versions.compare(firmware, b.min_firmware) < 0
        except ValueError:
            older = True  # a firmware version that cannot be ordered never passes a minimum
        if older:
            raise BundleError("needs-firmware", "firmware %s or newer" % b.min_firmware)
    if b.security_version < floor:
        raise BundleError("downgrade")


def read_manifest_file(path, documents=None, shown="manifest"):
    """The bytes of the manifest file at `path` (a copy's kept .mpbm), at most MAX_MANIFEST, in
    `documents` (manifest_buffer: valid until its next read) or, None, a new block. BundleError
    missing-file, manifest-too-large (before a byte is read) or unreadable, naming `shown`."""
    try:
        size = os.stat(path)[6]
        f = open(path, "rb")
    except OSError:
        raise BundleError("missing-file", shown)
    try:
        if size > MAX_MANIFEST:
            raise BundleError("manifest-too-large", "%d bytes, at most %d" % (size, MAX_MANIFEST))
        try:
            return _read_manifest(f, size, documents)
        except OSError:
            raise BundleError("unreadable", shown)
    finally:
        f.close()


def verify_files(b, directory, buf=None):
    """Raise BundleError unless `directory` holds exactly the files of Bundle `b`, each of its
    size and SHA-256, and nothing else (a file added to a copy would be importable)."""
    if buf is None:
        buf = bytearray(BLOCK)
    mv = memoryview(buf)
    for path, size, digest in b.files:
        full = directory + "/" + path
        try:
            st = os.stat(full)
        except OSError:
            raise BundleError("missing-file", path)
        if st[0] & 0x4000:
            raise BundleError("missing-file", path + " is a directory")
        if st[6] != size:
            raise BundleError("file-size", path)
        try:
            f = open(full, "rb")
            try:
                got = _hash_stream(f, size, mv, None)
            finally:
                f.close()
        except OSError:
            raise BundleError("unreadable", path)
        if got != digest:
            raise BundleError("file-hash", path)
    _no_extra(directory, "", b.files)


def check_path(path, name=None):
    """None when `path` is a file path the bundle called `name` may hold (the rules in the
    module docstring), else why not, as (reason, what)."""
    if not isinstance(path, str):
        return "bad-path", "not text"
    try:
        raw = path.encode()
    except UnicodeError:  # a lone surrogate, on CPython (MicroPython encodes it in 3 bytes)
        return "bad-path", _BAD_CHARS  # what MicroPython says of those bytes: the same log on both
    if not 0 < len(raw) <= MAX_PATH:
        return "bad-path", "empty or over %d bytes" % MAX_PATH
    if raw[0] == 0x2F:
        return "bad-path", "absolute"
    for c in raw:
        if c != 0x2F and not _PATH_CHARS[c]:
            return "bad-path", _BAD_CHARS
    parts = path.split("/")
    if len(parts) > MAX_COMPONENTS:
        return "bad-path", "more than %d components" % MAX_COMPONENTS
    for part in parts:
        if not part:
            return "bad-path", "empty component"
        if part[-1] == ".":
            return "bad-path", "component . or .. or ending in ."
    top = parts[0].lower()
    if len(parts) == 1 and top in RESERVED:
        return "reserved-path", "boot.py or the configuration"
    # As a package directory or a module, mpboot_fw on sys.path ahead of /lib would replace
    # mpboot's own code.
    stem = top[:-3] if top.endswith(".py") else top[:-4] if top.endswith(".mpy") else top
    if stem == _PACKAGE_DIR and name != DEVICE_PACKAGE:
        return "reserved-path", "mpboot_fw (only the mpboot bundle holds it)"
    return None


_BAD_CHARS = "characters other than A-Z a-z 0-9 . _ - /"


def is_name(text):
    """Is `text` a bundle name: 1-32 of a-z 0-9 _ -, starting with a letter (a directory name
    alike on every filesystem)?"""
    if not isinstance(text, str) or not 0 < len(text) <= MAX_NAME or not "a" <= text[0] <= "z":
        return False
    for c in text:
        if not ("a" <= c <= "z" or "0" <= c <= "9" or c == "_" or c == "-"):
            return False
    return True


def _check_files(b, files, consume):
    if not isinstance(files, list) or not files:
        raise BundleError("bad-manifest", "files must be a non-empty list")
    if len(files) > MAX_FILES:
        raise BundleError("too-many-files", "%d files, at most %d" % (len(files), MAX_FILES))
    # Every list made at its final size, no set or dict: after the parse has filled the heap
    # with survivors, a container grown an entry at a time needs its old and its new block at
    # once, each in one piece (two dicts of 60 paths failed so on the unix port's fixed heap,
    # at free sizes far above the verify's need).
    n = len(files)
    b.files = [None] * n
    b.total = 0
    keys = [None] * n  # lowercased paths, x.mpy as x.py: the duplicate check (at most 64 x 63 / 2 compares)
    lows = [None] * n  # lowercased paths, sorted for the file-and-directory check
    has_mpy = False
    for i in range(n):
        entry = files[i]
        where = "files[%d]" % i
        if not isinstance(entry, dict) or sorted(entry) != list(FILE_FIELDS):
            raise BundleError("bad-manifest", where + " must hold exactly path, sha256, size")
        path = entry["path"]
        why = check_path(path, b.name)
        if why is not None:
            raise BundleError(why[0], where + ": " + why[1])
        size = entry["size"]
        if not _is_int(size) or size < 0:
            raise BundleError("bad-manifest", where + ": size must be an integer >= 0")
        if size > MAX_FILE_SIZE:
            raise BundleError("file-too-large", "%s: %d bytes, at most %d" % (where, size, MAX_FILE_SIZE))
        digest = _sha256(entry["sha256"], where)
        low = path.lower()
        key = low[:-4] + ".py" if low.endswith(".mpy") else low
        if key in keys:
            raise BundleError("duplicate-path", where + ": the same file as an earlier one (case ignored, "
                              "x.mpy the same module as x.py)")
        keys[i] = key
        lows[i] = low
        has_mpy = has_mpy or low.endswith(".mpy")
        b.total += size
        if b.total > MAX_TOTAL:
            raise BundleError("too-large", "files over %d bytes" % MAX_TOTAL)
        b.files[i] = (path, size, digest)
        if consume:
            files[i] = entry = None
    del keys
    lows.sort()  # in place
    for i in range(n):
        low = b.files[i][0].lower()
        j = low.rfind("/")
        while j > 0:
            if _in_sorted(lows, low[:j]):
                raise BundleError("duplicate-path", "files[%d]: a directory of it is another file" % i)
            j = low.rfind("/", 0, j)
    if has_mpy and b.mpy is None:
        raise BundleError("bad-manifest", "mpy must say the .mpy version of its .mpy files")


def _in_sorted(items, x):
    """Is `x` in the sorted list `items` (a binary search: nothing allocated)?"""
    lo, hi = 0, len(items)
    while lo < hi:
        mid = (lo + hi) // 2
        if items[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo < len(items) and items[lo] == x


def _check_entry(b):
    text = b.entry
    if not isinstance(text, str):
        raise BundleError("bad-manifest", "entry must be null or module[:function]")
    module, colon, function = text.partition(":")
    names = module.split(".")
    if colon:
        names.append(function)
    for n in names:
        if not _is_identifier(n):
            raise BundleError("bad-manifest", "entry must be null or module[:function]")
    stem = module.replace(".", "/")
    for path, _, _ in b.files:
        if path in (stem + ".py", stem + ".mpy", stem + "/__init__.py", stem + "/__init__.mpy"):
            return
    raise BundleError("bad-manifest", "entry module " + module + " is not in the bundle")


def _is_identifier(text):
    if not 0 < len(text) <= MAX_NAME:
        return False
    for k in range(len(text)):
        c = text[k]
        if not ("a" <= c <= "z" or "A" <= c <= "Z" or c == "_" or (k and "0" <= c <= "9")):
            return False
    return True


def _hash_stream(stream, size, mv, sink):
    """SHA-256 of the next `size` bytes of `stream`, read through `mv`, each block to `sink`."""
    sha = hashlib.sha256()
    block = len(mv)
    left = size
    while left:
        n = left if left < block else block
        chunk = mv if n == block else mv[:n]  # a slice only for a short block
        got = stream.readinto(chunk)
        if not got:
            raise BundleError("truncated", "file data")
        if got < n:
            chunk = mv[:got]
        sha.update(chunk)
        if sink is not None:
            sink.write(chunk)
        left -= got
    return sha.digest()


def _read_manifest(stream, n, documents):
    """The next `n` bytes of `stream`, the manifest: in `documents` (a docbuf.DocumentBuffer),
    or a new bytearray when None."""
    if documents is None:
        return _read_exact(stream, n, "manifest")
    return documents.read(lambda buf: _fill(stream, buf, "manifest"), n)


def _read_exact(stream, n, what):
    """The next `n` bytes of `stream` in a new bytearray (json.loads takes one on both runtimes)."""
    data = bytearray(n)
    _fill(stream, data, what)
    return data


def _fill(stream, data, what):
    """Fill bytearray `data` from `stream`; its length."""
    mv = memoryview(data)
    n = len(data)
    have = 0
    while have < n:
        # A stream may return less than asked before its end (a socket): read on until it ends.
        got = stream.readinto(mv[have:])
        if not got:
            raise BundleError("truncated", what)
        have += got
    return n


def _no_extra(directory, prefix, files):
    """Raise extra-file for the first name (sorted, depth first) under directory/prefix that
    is neither a file of `files` (Bundle.files) nor a directory of one."""
    path = _first_extra(directory, prefix, files)
    if path is not None:
        raise BundleError("extra-file", path if config.printable(path, 255) else "(a name not printable ASCII)")


def _first_extra(directory, prefix, files):
    """The first such path under directory/prefix, or None. The names are walked as the
    directory gives them, keeping the least offending one: a sorted list of them was one block
    of pointers that a boot stage near its floor could not find in one piece."""
    where = directory + "/" + prefix[:-1] if prefix else directory
    first = found = None
    try:
        for n in _names(where):
            if first is not None and n >= first:
                continue
            path = prefix + n
            if not _expected(files, path):
                first, found = n, path
            elif os.stat(where + "/" + n)[0] & 0x4000:
                inner = _first_extra(directory, path + "/", files)
                if inner is not None:
                    first, found = n, inner
    except OSError:
        raise BundleError("unreadable", prefix or "the bundle's directory")
    return found


def _names(where):
    """The names in directory `where`, one at a time on MicroPython (os.ilistdir)."""
    if hasattr(os, "ilistdir"):
        for entry in os.ilistdir(where):
            yield entry[0]
    else:
        yield from os.listdir(where)


def _expected(files, path):
    """Is `path` a file of `files` or a directory of one? Searched in the list itself, at most
    64 compares a name: a set of the names and their directories, grown an entry at a time,
    needed its old and its new table at once, each in one piece, after the files were written
    had filled the heap (an install at the manifest cap failed so on the unix port's fixed heap)."""
    n = len(path)
    for p, _, _ in files:
        if p == path or (len(p) > n and p[n] == "/" and p.startswith(path)):
            return True
    return False


def _semver(signed, key):
    value = signed[key]
    try:
        versions.parse(value)
    except ValueError:
        raise BundleError("bad-manifest", key + " must be a SemVer version of up to 32 characters")
    return value


def _int(signed, key, most, nullable=False):
    value = signed[key]
    if value is None and nullable:
        return None
    if not _is_int(value) or not 0 <= value <= most:
        raise BundleError("bad-manifest", "%s must be an integer from 0 to %d" % (key, most))
    return value


def _sha256(text, where):
    if isinstance(text, str) and len(text) == 64:
        for c in text:
            if not ("0" <= c <= "9" or "a" <= c <= "f"):
                break
        else:
            return unhexlify(text)
    raise BundleError("bad-manifest", where + ": sha256 must be 64 lowercase hex digits")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _shown(key):
    return key if config.printable(key, MAX_NAME) else "(not printable ASCII)"
