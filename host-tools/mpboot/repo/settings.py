"""A repository's own settings: how long each role's metadata lives, and where its key files are.

Kept in `DIR/mpboot-repo.json`, outside what is served. Key file paths are remembered so routine
commands (publish, the timestamp cron job) find the online keys without options; an offline key
is simply absent from its remembered path, and the command asks for it (`--root-key FILE`...).
Paths are stored relative to the repository, so a repository moved together with its key
directory keeps working; a key in a PKCS#11 token is remembered by its `pkcs11:` URI (never a PIN:
keys.load_private_key takes that from the environment). Delegated roles have key paths too, under their role name, and live as
long as the targets role (`lifetime`).
"""

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from mpboot import hsm, keys as keymod
from mpboot.errors import MpbootError
from mpboot.fileio import atomic_write
from mpboot.repo.layout import ROLES, SETTINGS

DAY = 86400
DEFAULT_LIFETIMES = {"root": 365 * DAY, "targets": 90 * DAY, "snapshot": 30 * DAY, "timestamp": 1 * DAY}
_UNITS = {"d": DAY, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"^([1-9][0-9]{0,6})([dhms]?)$")


def parse_duration(text):
    """'90d', '12h', '30m', '45s' or a bare number of days -> seconds."""
    m = _DURATION.match(str(text).strip())
    if not m:
        raise MpbootError("not a duration: %r (write e.g. 365d, 12h, 30m; a bare number means days)" % text)
    return int(m.group(1)) * _UNITS[m.group(2) or "d"]


def format_duration(seconds):
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return "%d%s" % (seconds // _UNITS[unit], unit)
    return "%ds" % seconds


@dataclass
class Settings:
    lifetimes: dict = field(default_factory=lambda: dict(DEFAULT_LIFETIMES))
    keys: dict = field(default_factory=lambda: {role: {} for role in ROLES})

    def key_paths(self, repo_dir, role):
        """{keyid: Path, or the pkcs11: URI of a key in a token} remembered for `role`."""
        return {keyid: path if keymod.is_uri(path) else Path(os.path.normpath(Path(repo_dir) / path))
                for keyid, path in self.keys.get(role, {}).items()}

    def remember_key(self, repo_dir, role, keyid, path):
        """Remember a key file (relative to the repository) or a token key's URI, without a PIN."""
        if keymod.is_uri(path):
            where = hsm.TokenURI(path).shareable()
        else:
            where = os.path.relpath(Path(path).resolve(), Path(repo_dir).resolve())
        self.keys.setdefault(role, {})[keyid] = where

    def forget_key(self, role, keyid):
        self.keys.get(role, {}).pop(keyid, None)

    def lifetime(self, role):
        """Seconds each version of `role` is valid: a delegated role is a targets role."""
        return self.lifetimes.get(role, self.lifetimes["targets"])


def load(repo_dir):
    path = Path(repo_dir) / SETTINGS
    try:
        doc = json.loads(path.read_text())
        lifetimes = {role: int(doc["lifetimes"][role]) for role in ROLES}
        keys = {role: {} for role in ROLES}
        keys.update({str(role): {str(k): str(v) for k, v in ids.items()} for role, ids in doc["keys"].items()})
    except (FileNotFoundError, NotADirectoryError):
        raise MpbootError("not a repository: %s is missing (create one with `mpboot repo init %s`)" % (path, repo_dir)) from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise MpbootError("unreadable repository settings %s: %s (restore it from a backup)" % (path, e)) from None
    return Settings(lifetimes, keys)


def save(repo_dir, settings):
    doc = {"format": 1, "lifetimes": settings.lifetimes, "keys": settings.keys}
    atomic_write(Path(repo_dir) / SETTINGS, json.dumps(doc, indent=2, sort_keys=True) + "\n")
