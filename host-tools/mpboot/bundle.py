"""Make, check and describe signed application bundles on the host, with the device's own
format and checks (mpboot_fw.bundle): a bundle the device would refuse is never written.

`build` reads an application directory, optionally compiles its .py files to .mpy (mpycross),
checks the manifest with the device's check_manifest, signs the canonical JSON of `signed` with
every key given (as TUF metadata is signed) and verifies the result with the device's streaming
verifier before returning it.
"""

import hashlib
import io
import json
import os
import struct
from pathlib import Path

from mpboot import keys as keymod, mpycross, signing
from mpboot.errors import MpbootError
from mpboot_fw import bundle as fmt, cjson
from mpboot_fw.bundle import BundleError

# Left out of APPDIR besides hidden names (.git, editor files): CPython's byproducts.
SKIPPED = ("__pycache__",)


def is_bundle(data):
    return data[:len(fmt.MAGIC)] == fmt.MAGIC


def collect(appdir):
    """{relative path: bytes} of the regular files under `appdir`, sorted by path; hidden names and
    __pycache__ are left out, a symbolic link is refused (a bundle holds files, not links)."""
    root = Path(appdir)
    if not root.is_dir():
        raise MpbootError("APPDIR %s is not a directory: give the directory holding main.py and your modules" % appdir)
    files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIPPED)
        for name in dirnames + sorted(n for n in filenames if not n.startswith(".")):
            path = Path(dirpath, name)
            if path.is_symlink():  # os.walk would skip a linked directory without a word
                raise MpbootError("%s is a symbolic link: a bundle holds regular files (copy it in)" % path)
            if name in dirnames:
                continue
            if not path.is_file():
                raise MpbootError("%s is not a regular file: a bundle holds regular files only" % path)
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    if not files:
        raise MpbootError("APPDIR %s holds no files: put main.py and your modules in it" % appdir)
    return dict(sorted(files.items()))


def compile_files(files, version):
    """`files` with every .py compiled to .mpy for .mpy `version` (a mpycross.Version)."""
    out = {}
    for path, data in files.items():
        if path.endswith(".py"):
            out[path[:-3] + ".mpy"] = mpycross.compile_source(data, path, version)
        else:
            out[path] = data
    return out


def mpy_major(files, compiled=None):
    """The .mpy major version the .mpy files in `files` need (they must agree, and hold bytecode
    only), `compiled` (what --mpy compiled for) when given, or None without .mpy files."""
    found = {}
    for path, data in sorted(files.items()):
        if not path.endswith(".mpy"):
            continue
        if len(data) < 4 or data[:1] != b"M":
            raise MpbootError("%s is not a .mpy file (no 'M' header)" % path)
        if data[2] >> 2:
            raise MpbootError("%s holds native code (architecture %d): a bundle carries bytecode .mpy only, which "
                              "every board of its .mpy version imports" % (path, data[2] >> 2))
        found.setdefault(data[1], path)
    want = compiled.major if compiled is not None else None
    for major, path in sorted(found.items()):
        if want is None:
            want = major
        elif major != want:
            raise MpbootError("%s is .mpy version %d, not %d like the bundle's other .mpy files: compile them all "
                              "for the board's .mpy version" % (path, major, want))
    return want


def default_entry(files):
    """"main" when the bundle holds main.py or main.mpy (as a board runs /main.py), else None."""
    return "main" if "main.py" in files or "main.mpy" in files else None


def manifest(name, version, security_version, files, board=None, chip_id=None, mpy=None, min_firmware=None,
             entry=None):
    """The `signed` object of a bundle's manifest for `files` ({path: bytes}, in stream order)."""
    return {
        "_type": fmt.TYPE, "format": fmt.FORMAT_VERSION, "name": name, "version": version,
        "security_version": security_version, "board": board, "chip_id": chip_id, "mpy": mpy,
        "min_firmware": min_firmware, "entry": entry,
        "files": [{"path": p, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for p, d in files.items()],
    }


def pack(signed, private_keys, files):
    """The bundle bytes: header, `signed` signed by every key (no checks; see build)."""
    message = cjson.encode(signed)
    # Signed as TUF metadata is (keys.tuf_signer: file or token keys, every key type a root holds).
    made = [keymod.tuf_signer(k).sign(message) for k in private_keys]
    signatures = [{"keyid": s.keyid, "sig": s.signature} for s in made]
    # The signed part is written canonically, so a device verifies the signature over the
    # received bytes in place (trust.signed_bytes) instead of encoding a second copy.
    doc = (b'{"signatures":' + json.dumps(signatures, separators=(",", ":"), sort_keys=True).encode()
           + b',"signed":' + message + b"}")
    header = struct.pack(fmt.HEADER_FORMAT, fmt.MAGIC, fmt.FORMAT_VERSION, 0, len(doc), 0)
    return header + doc + b"".join(files.values())


def build(files, private_keys, anchor, **fields):
    """(bundle bytes, Bundle) for `files`, checked by the device's own code at every step:
    the manifest (check_manifest) before signing, the whole result (verify_stream against
    `anchor`, a trust.Root or signing.KeyAnchor) after."""
    if not private_keys:
        raise MpbootError("no signing key: pass --key KEYFILE")
    ids = [keymod.tuf_key(k.public_key()).keyid for k in private_keys]
    if len(set(ids)) != len(ids):
        raise MpbootError("the same key is given twice: each --key must be a different key")
    signed = manifest(files=files, **fields)
    paths = list(files)
    try:
        fmt.check_manifest(signed)
    except BundleError as e:
        raise MpbootError("not written: the device would refuse this bundle: %s" % named(e, paths)) from None
    data = pack(signed, private_keys, files)
    if len(data) - fmt.HEADER_SIZE - sum(len(d) for d in files.values()) > fmt.MAX_MANIFEST:
        raise MpbootError("not written: its manifest is over %d bytes (fewer files, or shorter paths)" % fmt.MAX_MANIFEST)
    return data, verify(data, anchor, "not written: the new bundle would not verify", paths)


def verify(data, anchor, name="bundle", paths=None, **device):
    """The Bundle in `data`, verified as the device verifies it; else one MpbootError line."""
    try:
        return fmt.verify_stream(io.BytesIO(data), anchor, **device)
    except BundleError as e:
        raise MpbootError("%s: invalid bundle: %s" % (name, describe(e, paths))) from None


HINTS = {
    "bad-magic": "not an mpboot bundle: make one with `mpboot bundle`",
    "bad-format": "from a newer mpboot, or damaged",
    "truncated": "the file is cut short",
    "manifest-too-large": "the manifest is over the device's limit",
    "bad-manifest": "the manifest is malformed",
    "duplicate-signature": "two signatures by one key",
    "signature-threshold": "not signed by enough trusted keys: a wrong key, or fewer signatures than the threshold",
    "bad-path": "a file path a device refuses",
    "reserved-path": "a path reserved for the device (boot.py, its configuration, mpboot_fw)",
    "duplicate-path": "two files would be one on a device's filesystem",
    "too-many-files": "more files than a bundle may hold",
    "file-too-large": "a file over the device's limit",
    "too-large": "more bytes than a bundle may hold",
    "wrong-name": "a different bundle than expected",
    "wrong-chip": "made for another chip",
    "wrong-board": "made for another board",
    "wrong-mpy": ".mpy files for another MicroPython",
    "needs-firmware": "needs a newer firmware",
    "downgrade": "security version below the floor",
    "file-hash": "a file does not match the signed hash: tampered or corrupted",
    "trailing-data": "bytes after the last file",
}


def describe(error, paths=None):
    """One line for a BundleError: its reason and detail, and what it means."""
    return "%s (%s)" % (named(error, paths), HINTS.get(error.reason, error.reason))


def named(error, paths=None):
    """The BundleError's text with files[i] named by its path, when the paths are known."""
    text = str(error)
    if paths is not None and "files[" in text:
        start = text.index("files[") + 6
        end = text.index("]", start)
        i = int(text[start:end])
        if i < len(paths):
            text = text[:start - 6] + repr(paths[i]) + text[end + 1:]
    return text


def where_it_runs(board, chip_id):
    """"board B", "any esp32 board" or "any board", for a manifest's board and chip_id."""
    if board:
        return "board " + board
    return "any board" if chip_id is None else "any %s board" % signing.chip_name(chip_id)


def fields(b):
    """A JSON-ready dict of a Bundle's manifest."""
    return {
        "name": b.name, "version": b.version, "security_version": b.security_version, "board": b.board,
        "chip_id": b.chip_id, "mpy": b.mpy, "min_firmware": b.min_firmware, "entry": b.entry,
        "files": [{"path": p, "size": n, "sha256": d.hex()} for p, n, d in b.files],
        "total": b.total, "keyids": b.keyids,
    }


def inspect_bytes(data, anchor=None):
    """Everything about bundle bytes, for `mpboot inspect`: the header, the manifest (read with
    the device's checks but no signature check), each file's place and whether its hash matches,
    and with `anchor` the device's verdict. Nothing is refused that can be shown."""
    info = {"kind": "bundle", "size": len(data)}
    stream = io.BytesIO(data)
    try:
        length = fmt.read_header(stream)
    except BundleError as e:
        info["error"] = describe(e)
        return info
    info["header"] = {"format_version": fmt.FORMAT_VERSION, "manifest_len": length}
    doc = data[fmt.HEADER_SIZE:fmt.HEADER_SIZE + length]
    try:
        cjson.check_syntax(doc, fmt.MAX_DEPTH)
        envelope = json.loads(doc)
        b = fmt.check_manifest(envelope["signed"])
        b.keyids = sorted(str(s["keyid"]) for s in envelope["signatures"])
    except (ValueError, KeyError, TypeError, AttributeError, BundleError) as e:
        info["error"] = "manifest: %s" % (describe(e) if isinstance(e, BundleError) else "not a bundle manifest (%s)" % e)
        return info
    info["manifest"] = fields(b)
    at = fmt.HEADER_SIZE + length
    for entry, (path, size, digest) in zip(info["manifest"]["files"], b.files):
        piece = data[at:at + size]
        entry["offset"] = at
        entry["sha256_matches"] = len(piece) == size and hashlib.sha256(piece).digest() == digest
        at += size
    info["trailing_bytes"] = len(data) - at
    if anchor is not None:
        try:
            fmt.verify_stream(io.BytesIO(data), anchor)
            info["verdict"] = {"valid": True}
        except BundleError as e:
            info["verdict"] = {"valid": False, "reason": e.reason, "error": str(e)}
    return info


def format_text(path, info):
    """The dict from inspect_bytes as lines for a person."""
    lines = ["%s: %s, %d bytes" % (path, info["kind"], info["size"])]
    if "header" in info:
        lines.append("header: format %d, manifest %d bytes" % (info["header"]["format_version"],
                                                               info["header"]["manifest_len"]))
    if "error" in info:
        lines.append("DAMAGED: %s" % info["error"])
        return "\n".join(lines)
    m = info["manifest"]
    where = where_it_runs(m["board"], m["chip_id"])
    lines += [
        "bundle %s version %s, security version %d, %s" % (m["name"], m["version"], m["security_version"], where),
        "  entry %s, .mpy %s, firmware %s" % (m["entry"] or "none (a library)", m["mpy"] if m["mpy"] is not None
                                              else "none (source only)", (m["min_firmware"] + " or newer")
                                              if m["min_firmware"] else "any"),
        "files: %d, %d bytes" % (len(m["files"]), m["total"]),
    ]
    for f in m["files"]:
        lines.append("  %-40s %7d  %s%s" % (f["path"], f["size"], f["sha256"][:16],
                                             "" if f["sha256_matches"] else "  MISMATCH"))
    if info["trailing_bytes"]:
        lines.append("then %d unexpected bytes" % info["trailing_bytes"])
    lines.append("signatures: %d" % len(m["keyids"]))
    for k in m["keyids"]:
        lines.append("  keyid %s" % k)
    if "verdict" in info:
        v = info["verdict"]
        lines.append("verdict: %s" % ("valid" if v["valid"] else "INVALID: " + v["error"]))
    return "\n".join(lines)


# The device's layout of installed bundles (bundlestore.ROOT and its files; docs/bundles.md).
ROOT = "/bundles"
COPIES = ("a", "b")


def package_files():
    """{"mpboot_fw/NAME.py": source} of the device package, as its bundle holds it."""
    from mpboot import resources

    package = resources.device_package_dir()
    return {package.name + "/" + p.name: p.read_bytes() for p in sorted(package.glob("*.py"))}


def build_package(private_keys, anchor, version=None, security_version=0, compiled=None, board=None, chip_id=None,
                  min_firmware=None):
    """(bundle bytes, Bundle) of the device package as the bundle "mpboot": mpboot_fw/*.py, or
    *.mpy compiled for `compiled` (a mpycross.Version); `version` defaults to mpboot's own. No
    entry: the fixed loader starts mpboot_fw.stage itself, and the stage starts applications."""
    from mpboot import __version__

    files = package_files()
    if compiled is not None:
        files = compile_files(files, compiled)
    return build(files, private_keys, anchor, name=fmt.DEVICE_PACKAGE, version=version or __version__,
                 security_version=security_version, board=board, chip_id=chip_id, mpy=mpy_major(files, compiled),
                 min_firmware=min_firmware, entry=None)


def copy_dir(name, copy):
    return "%s/%s/%s" % (ROOT, name, copy)


def layout(data, root, board, mpy=None, firmware=None, copy="a", what="bundle"):
    """(Bundle, {"/bundles/NAME/COPY/PATH": bytes, "/bundles/NAME/COPY.mpbm": manifest,
    "/bundles/NAME/boot": pointer}) for bundle bytes `data`, as a bundle provisioned by hand
    lies on the device: confirmed in `copy`, nothing on trial. In that order: a writer that
    keeps it (the pointer last) leaves a copy the pointer names only once it is all there.
    Refused (one MpbootError line) when the device would refuse it: verified against `root`
    (a trust.Root) and `board` (a boards.Board), `mpy` (sys.implementation._mpy, when known)
    and `firmware` (the running image's version, when known)."""
    b = verify(data, root, what, chip_id=board.chip_id, board=board.name, mpy=mpy, firmware=firmware)
    return b, _place(b, data, copy)


def _place(b, data, copy):
    """The files of layout() for verified Bundle `b` of bundle bytes `data`."""
    if copy not in COPIES:
        raise ValueError(copy)
    base = "%s/%s/" % (ROOT, b.name)
    out = {}
    at = fmt.HEADER_SIZE + len(b.manifest)
    for path, size, _ in b.files:  # verify_stream checked each piece's size and hash
        out[base + copy + "/" + path] = data[at:at + size]
        at += size
    out[base + copy + ".mpbm"] = b.manifest
    out[base + "boot"] = copy.encode()
    return out


def layouts(bundles, root, board, mpy=None, firmware=None, copies=None):
    """([Bundle], {path: bytes}) for several bundles ([(what, bytes)], `what` naming each in an
    error, e.g. its file): each as layout() gives it, in the order given; two bundles of one
    name are refused (one directory holds one bundle). `copies`: {name: copy} where not "a"."""
    found, out = {}, {}
    for what, data in bundles:
        b = verify(data, root, what, chip_id=board.chip_id, board=board.name, mpy=mpy, firmware=firmware)
        if b.name in found:
            raise MpbootError("%s and %s are both the bundle %s: a device holds one bundle of a name; give one of "
                              "them" % (found[b.name][0], what, b.name))
        found[b.name] = (what, b)
        out.update(_place(b, data, (copies or {}).get(b.name, "a")))
    return [b for _, b in found.values()], out
