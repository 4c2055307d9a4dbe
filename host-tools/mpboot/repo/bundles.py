"""Bundles on the update server (docs/repository.md, "Bundles"): their targets, their files.

A published bundle is a TUF target holding exactly its signed manifest (the envelope, byte for
byte as in the .mpbundle file): `<board or chip>/<channel>/NAME-VERSION.mpbm`, with the custom
fields `custom_fields` lists, which the device chooses by (tufclient.find_bundle). Its files are
not targets: each is stored once, by its SHA-256, at `files/sha256/<hex>`. The manifest, which
TUF authenticates as a target and the device checks again by its own signatures, names every
file's size and hash, so a file needs no metadata of its own; a device downloads only the files
whose hash its active copy does not have. Identical content is one file, shared between
versions and bundles. `mpboot publish` writes them (repo/publish.py); this module holds what
publish, `repo status` and a targets-key rotation share about them.
"""

import hashlib
import json
from functools import cmp_to_key

from mpboot.repo import layout
from mpboot_fw import bundle as fmt, cjson, version as versions

SUFFIX = ".mpbm"


def bundle_name(custom):
    """The bundle a target's custom fields name, or None for a firmware image (no "bundle")."""
    return custom.get("bundle") if isinstance(custom, dict) else None


def custom_fields(b, channel, board, chip_id):
    """The custom entry of bundle `b`'s target (a Bundle from the device's verifier), published
    on `channel` for `board` ("" for any) and `chip_id` (None for any)."""
    return {
        "bundle": b.name,
        "channel": channel,
        "board": board,
        "chip_id": chip_id,
        "version": b.version,
        "security_version": b.security_version,
        "mpy": b.mpy,
        "min_firmware": b.min_firmware,
        "files": len(b.files),
        "total": b.total,
    }


def contents(data, b):
    """{sha256 hex: bytes} of the files in verified bundle bytes `data` (Bundle `b`): what goes
    into files/sha256/; two files with the same content are one entry."""
    out = {}
    at = fmt.HEADER_SIZE + len(b.manifest)
    for _, size, digest in b.files:
        out[digest.hex()] = data[at:at + size]
        at += size
    return out


def writes(repo_dir, stored):
    """[(path, bytes)] of the files in `stored` ({hex: bytes}) that files/ lacks or holds damaged:
    one already there intact is shared, never rewritten."""
    out = []
    for digest, data in sorted(stored.items()):
        path = layout.content_file(repo_dir, digest)
        if not intact(path, len(data), digest):
            out.append((path, data))
    return out


def intact(path, size, digest):
    try:
        with open(path, "rb") as f:
            data = f.read(size + 1)
    except OSError:
        return False
    return len(data) == size and hashlib.sha256(data).hexdigest() == digest


def read_manifest(repo, path, target):
    """The Bundle of the manifest listed as target `path` (its fields and files checked, not its
    signatures: TUF's hashes authenticate the target, and a device checks them again), or None
    when its file is missing or does not match the listed hash (status reports that)."""
    sha256 = target.hashes.get("sha256")
    try:
        data = layout.target_file(repo.dir, path, sha256).read_bytes()
    except OSError:
        return None
    if len(data) != target.length or hashlib.sha256(data).hexdigest() != sha256:
        return None
    try:
        cjson.check_syntax(data, fmt.MAX_DEPTH)
        b = fmt.check_manifest(json.loads(data)["signed"])
    except (ValueError, KeyError, TypeError, fmt.BundleError):
        return None
    b.manifest = data
    return b


def listed(repo):
    """[(path, role, TargetFile)] of every listed bundle target, by path."""
    return [(path, role, t) for path, (role, t) in sorted(repo.listed_targets().items())
            if bundle_name(t.custom) is not None]


def referenced(repo):
    """{sha256 hex: size} of every file a listed bundle's manifest names: what files/ must keep."""
    out = {}
    for path, _, target in listed(repo):
        b = read_manifest(repo, path, target)
        for _, size, digest in (b.files if b is not None else ()):
            out[digest.hex()] = size
    return out


def unreferenced(repo):
    """Sorted names in files/sha256/ that no listed bundle's manifest names: what `repo prune`
    left behind (it deletes nothing), safe to delete once no device still installs an old
    version. Temporary files of an interrupted write (dotfiles) are not counted."""
    try:
        names = [p.name for p in layout.content_dir(repo.dir).iterdir() if not p.name.startswith(".")]
    except FileNotFoundError:
        return []
    named = referenced(repo)
    return sorted(n for n in names if n not in named)


def check_files(repo, path, target, checked=None):
    """Problems with the files/ copies of the files listed bundle `path` names. `checked`: a dict
    kept over calls, so a file shared by many versions is read and hashed once."""
    checked = {} if checked is None else checked
    b = read_manifest(repo, path, target)
    if b is None:
        if path.endswith(SUFFIX) and layout.target_file(repo.dir, path, target.hashes.get("sha256")).exists():
            return ["bundle %s: its target is not a bundle manifest devices read" % path]
        return []  # a missing or damaged target file is reported as such
    problems = []
    for file_path, size, digest in b.files:
        location = layout.content_file(repo.dir, digest.hex())
        if (digest, size) not in checked:
            checked[digest, size] = intact(location, size, digest.hex())
        if not checked[digest, size]:
            problems.append("bundle %s: file %s (%s) is %s: publish the bundle again to restore it"
                            % (path, file_path, location, "missing" if not location.exists() else "damaged"))
    return problems


def by_channel(repo):
    """{channel: [{"bundle", "directory", "versions": [{"version", "security_version", "path",
    "role", "files", "total", "board", "chip_id", "mpy", "min_firmware"}] oldest first}]}."""
    groups = {}
    for path, role, target in listed(repo):
        custom = target.custom
        row = {k: custom.get(k) for k in ("version", "security_version", "files", "total", "board", "chip_id", "mpy",
                                          "min_firmware")}
        row.update(path=path, role=role)
        key = (str(custom.get("channel")), str(custom.get("bundle")), path.rsplit("/", 1)[0])
        groups.setdefault(key, []).append(row)

    def order(a, b):
        try:
            return versions.compare(a["version"], b["version"])
        except ValueError:
            return (a["path"] > b["path"]) - (a["path"] < b["path"])

    out = {}
    for (channel, name, directory), rows in sorted(groups.items()):
        rows.sort(key=cmp_to_key(order))
        out.setdefault(channel, []).append({"bundle": name, "directory": directory, "versions": rows})
    return out
