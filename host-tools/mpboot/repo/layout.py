"""Where a repository keeps each file, and the exact bytes metadata is written as."""

import re
from pathlib import Path

from tuf.api.serialization.json import JSONSerializer

from mpboot.errors import MpbootError
from mpboot_fw import cjson

METADATA = "metadata"
TARGETS = "targets"
# Every file of a published bundle, by its SHA-256, outside TUF (the signed manifest, a target,
# names each file's size and hash): FILES/sha256/<64 lowercase hex>.
FILES = "files"
SETTINGS = "mpboot-repo.json"
ROLES = ("root", "targets", "snapshot", "timestamp")
# A delegated role's name is part of a file name (N.ROLE.json) here, in a URL and on a device's
# file system: lower-case letters, digits, '-' and '_' need no quoting anywhere.
ROLE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")


def metadata_dir(repo_dir):
    return Path(repo_dir) / METADATA


def metadata_file(repo_dir, role, version=None):
    """timestamp.json is never versioned (clients fetch it by that name); with consistent
    snapshots everything else is `VERSION.ROLE.json` (delegated roles too), and `root.json` is
    the newest root's copy."""
    name = "%s.json" % role if version is None else "%d.%s.json" % (version, role)
    return metadata_dir(repo_dir) / name


def target_file(repo_dir, target_path, sha256):
    """Consistent-snapshot location of a target: python-tuf's `DIR/HASH.NAME` scheme."""
    parent, _, name = target_path.rpartition("/")
    return Path(repo_dir, TARGETS, *([p for p in parent.split("/") if p] + ["%s.%s" % (sha256, name)]))


def content_dir(repo_dir):
    return Path(repo_dir, FILES, "sha256")


def content_file(repo_dir, sha256_hex):
    """Where a bundle file with this SHA-256 (64 lowercase hex digits) is stored and served."""
    return content_dir(repo_dir) / sha256_hex


def encode(metadata):
    """Compact, ASCII-only JSON with sorted keys.

    Written this way, the raw bytes of `signed` in the file are already its canonical JSON (the
    bytes the signatures cover), which spares a device the re-encoding. That only holds while
    every string is printable ASCII; the check makes sure it does instead of hoping. The one
    exception is an ECDSA key, whose public value is PEM text with newlines: JSON escapes them
    and canonical JSON does not, so metadata holding one is written escaped (as every TUF
    repository writes it) and a device re-encodes it to check the signatures (trust.py).
    """
    data = metadata.to_bytes(JSONSerializer(compact=True))
    signed = metadata.signed.to_dict()
    canonical = cjson.encode(signed)
    if not data.endswith(b',"signed":' + canonical + b"}"):
        pems = _key_pems(signed)
        if not (data.endswith(b',"signed":' + canonical.replace(b"\n", b"\\n") + b"}")
                and all(text in pems for text in _strings(signed) if "\n" in text)):
            raise MpbootError(
                "%s metadata would not be canonical JSON as written (a name or field holds a non-ASCII or "
                "control character): use printable ASCII in names, channels and versions" % metadata.signed.type
            )
    return data


def _key_pems(signed):
    keys = dict(signed.get("keys") or {})
    keys.update((signed.get("delegations") or {}).get("keys") or {})
    return {key.get("keyval", {}).get("public") for key in keys.values()}


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield key
            yield from _strings(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _strings(value)
