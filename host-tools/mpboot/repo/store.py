"""A repository's current metadata, and changes to it signed in memory and written in order.

`Repository(dir)` loads the current state: the newest `N.root.json`, then `timestamp.json` and
the snapshot version it leads to, and every targets role that snapshot lists (top-level targets
and the delegated roles, `N.ROLE.json`). `repo.change(keyring)` starts a `Change`: edit
roles (each edited role gets the next version and a fresh expiry), add target files, then
`commit()`. Commit cascades (new targets or delegated role -> new snapshot -> new timestamp),
signs everything, checks every signature against the root (or, for a delegated role, the
delegating role) that will be current, and only then writes: target files, root, the targets
roles, snapshot, timestamp. Any refusal happens before the first write.
"""

import copy
import hashlib
import re
from datetime import datetime, timedelta, timezone

from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, Targets, Timestamp

from mpboot import keys as keymod
from mpboot.errors import MpbootError
from mpboot.fileio import atomic_write
from mpboot.repo import layout, settings as settings_mod
from mpboot_fw import tuf as device_tuf

# A device refuses metadata above these sizes before parsing it (mpboot_fw.tuf): publishing
# anything bigger would cut every device off, so it is refused here, before any write.
DEVICE_CAPS = {"root": device_tuf.ROOT_MAX, "targets": device_tuf.TARGETS_MAX, "snapshot": device_tuf.SNAPSHOT_MAX,
               "timestamp": device_tuf.TIMESTAMP_MAX}
_CAP_FIX = {
    "targets": ": drop old versions with `mpboot repo prune DIR --keep N` or `mpboot publish ... --keep N`, or give "
               "boards roles of their own (`mpboot repo delegate`, docs/repository.md)",
    "snapshot": ": it lists every delegated role, so use fewer roles (fewer --hashed-bins)",
}
_DELEGATED_FIX = (": give its boards or channels roles of their own (`mpboot repo delegate DIR ROLE --paths BOARD/*/*`) "
                  "or drop old versions (`mpboot publish ... --keep N`, `mpboot repo prune DIR --keep N`)")
_TOP_LEVEL = ("root", "snapshot", "timestamp")
_ROOT_FILE = re.compile(r"^([1-9][0-9]*)\.root\.json$")
_TYPES = {"root": Root, "targets": Targets, "snapshot": Snapshot, "timestamp": Timestamp}


def utcnow():
    return datetime.now(timezone.utc).replace(microsecond=0)


class Repository:
    """The current, signed state of a repository directory (metadata objects and their bytes)."""

    def __init__(self, repo_dir):
        self.dir = repo_dir
        self.settings = settings_mod.load(repo_dir)
        versions = root_versions(repo_dir)
        if not versions:
            raise MpbootError("no root metadata in %s (not a repository made by `mpboot repo init`?)" % layout.metadata_dir(repo_dir))
        self.root_versions = versions
        self.metadata = {}
        self.raw = {}
        self._load("root", versions[-1])
        self._load("timestamp", None)
        self._load("snapshot", self.timestamp.snapshot_meta.version)
        targets_meta = self.snapshot.meta.get("targets.json")
        if targets_meta is None:
            raise MpbootError("snapshot %d lists no targets.json (the repository is damaged)" % self.snapshot.version)
        self._load("targets", targets_meta.version)
        for name, meta in sorted(self.snapshot.meta.items()):
            role = name[: -len(".json")]
            if role != "targets":
                if not name.endswith(".json") or not layout.ROLE_NAME.match(role):
                    raise MpbootError("snapshot %d lists %r, not a role this repository makes (it is damaged)" % (self.snapshot.version, name))
                self._load(role, meta.version)

    def _load(self, role, version):
        path = layout.metadata_file(self.dir, role, version)
        try:
            data = path.read_bytes()
            md = Metadata.from_bytes(data)
        except FileNotFoundError:
            raise MpbootError("%s is missing (the repository is damaged: restore it from a backup)" % path) from None
        except Exception as e:  # python-tuf reports malformed metadata with several exception types
            raise MpbootError("%s is not valid TUF metadata: %s" % (path, e)) from None
        if not isinstance(md.signed, _TYPES.get(role, Targets)):
            raise MpbootError("%s holds %s metadata, not %s" % (path, md.signed.type, role))
        self.metadata[role] = md
        self.raw[role] = data

    def advance(self, metadata, encoded):
        """Take on the versions a commit just wrote, so the object stays current."""
        self.metadata.update(metadata)
        self.raw.update(encoded)
        if "root" in metadata:
            self.root_versions.append(metadata["root"].signed.version)

    @property
    def root(self):
        return self.metadata["root"].signed

    @property
    def targets(self):
        return self.metadata["targets"].signed

    @property
    def targets_roles(self):
        """Every targets role's name, top-level targets first, then the delegated ones by name."""
        return ["targets"] + sorted(r for r in self.metadata if r not in layout.ROLES)

    def listed_targets(self):
        """{target path: (role listing it, TargetFile)} over every targets role."""
        listed = {}
        for role in self.targets_roles:
            for path, target in self.metadata[role].signed.targets.items():
                listed.setdefault(path, (role, target))
        return listed

    @property
    def snapshot(self):
        return self.metadata["snapshot"].signed

    @property
    def timestamp(self):
        return self.metadata["timestamp"].signed

    def change(self, keyring, now=None):
        return Change(self.dir, self.settings, keyring, now or utcnow(), current=self)


def root_versions(repo_dir):
    try:
        names = [p.name for p in layout.metadata_dir(repo_dir).iterdir()]
    except FileNotFoundError:
        return []
    return sorted(int(m.group(1)) for m in map(_ROOT_FILE.match, names) if m)


def meta_file(md_bytes, version):
    """Snapshot/timestamp entry for a metadata file: version, length and SHA-256, so a client
    can cap the download and check the bytes before it parses them."""
    return MetaFile(version=version, length=len(md_bytes), hashes={"sha256": hashlib.sha256(md_bytes).hexdigest()})


class Change:
    """New versions of some roles plus target files, committed together (see module doc)."""

    def __init__(self, repo_dir, settings, keyring, now, current=None):
        self.dir = repo_dir
        self.settings = settings
        self.keyring = keyring
        self.now = now
        self.current = current
        self.new = {}
        self.files = []

    def edit(self, role):
        """The signed part of `role`'s next version (created on first use), to modify in place."""
        if role not in self.new:
            md = copy.deepcopy(self.current.metadata[role])
            md.signatures.clear()
            md.signed.version += 1
            self.new[role] = md
            self.renew_expiry(role)
        return self.new[role].signed

    def start(self, md, role=None):
        """Use `md` (unsigned, version already set) as the next version of `role` (default: the
        top-level role of its type; a new delegated role is named)."""
        role = role or md.signed.type
        self.new[role] = md
        self.renew_expiry(role)

    def renew_expiry(self, role, lifetime=None):
        seconds = lifetime or self.settings.lifetime(role)
        self.new[role].signed.expires = self.now + timedelta(seconds=seconds)

    def add_file(self, path, data):
        self.files.append((path, data))

    def commit(self, root_signers=None):
        """Sign, check and write; returns {role: new version}. `root_signers` sign a new root."""
        targets_roles = sorted(r for r in self.new if r not in _TOP_LEVEL)
        if targets_roles:
            self.edit("snapshot")
        if "snapshot" in self.new:
            self.edit("timestamp")
        root = self.current.root if self.current and "root" not in self.new else self.new["root"].signed
        encoded = {}
        if "root" in self.new:
            encoded["root"] = self._sign_root(root_signers or [])
        for role in targets_roles:
            encoded[role] = self._sign(root if role == "targets" else self._delegator(role), role)
            self.new["snapshot"].signed.meta["%s.json" % role] = meta_file(encoded[role], self.new[role].signed.version)
        if "snapshot" in self.new:
            encoded["snapshot"] = self._sign(root, "snapshot")
            self.new["timestamp"].signed.snapshot_meta = meta_file(encoded["snapshot"], self.new["snapshot"].signed.version)
        if "timestamp" in self.new:
            encoded["timestamp"] = self._sign(root, "timestamp")
        for role, data in encoded.items():
            cap = DEVICE_CAPS.get(role, device_tuf.TARGETS_MAX)
            if len(data) > cap:
                if role in DEVICE_CAPS:
                    fix = _CAP_FIX.get(role, ": use fewer keys")
                elif self.new[role].signed.delegations and len(self.new[role].signed.delegations.roles or ()) > 1:
                    fix = ": it delegates to too many roles (use fewer --hashed-bins)"
                else:
                    fix = _DELEGATED_FIX
                raise MpbootError("%s metadata would be %d bytes, more than the %d devices accept%s" % (role, len(data), cap, fix))
        self._write(encoded)
        if self.current is not None:
            self.current.advance(self.new, encoded)
        return {role: md.signed.version for role, md in self.new.items()}

    def _delegator(self, role):
        """The signed part of the role that delegates `role`, as it will be after this change."""
        for name, md in list(self.new.items()) + list(self.current.metadata.items() if self.current else []):
            if name not in _TOP_LEVEL and md.signed.delegations and role in (md.signed.delegations.roles or {}):
                return md.signed
        raise MpbootError("no role delegates %s (the repository is damaged)" % role)

    def _sign(self, delegator, role):
        """Sign `role` with the keys `delegator` (the root, or a delegating targets role) gives it."""
        md = self.new[role]
        role_def = delegator.get_delegated_role(role)
        for signer in self.keyring.signers(role, role_def.keyids, role_def.threshold):
            keymod.sign_metadata(md, signer)
        try:
            delegator.verify_delegate(role, md.signed_bytes, md.signatures)
        except UnsignedMetadataError as e:
            raise MpbootError("new %s metadata does not verify: %s" % (role, e)) from None
        return layout.encode(md)

    def _sign_root(self, signers):
        md = self.new["root"]
        for signer in signers:
            keymod.sign_metadata(md, signer)
        previous = self.current.root if self.current else None
        result = md.signed.get_root_verification_result(previous, md.signed_bytes, md.signatures)
        for name, part in (("current", result.first), ("new", result.second)):
            if not part.verified:
                raise MpbootError(
                    "the new root needs %d more signature(s) from the %s root keys: pass --root-key FILE "
                    "for them (keyids %s)" % (part.missing, name, ", ".join(k[:16] for k in part.unsigned) or "-")
                )
        return layout.encode(md)

    def _write(self, encoded):
        writes = list(self.files)
        if "root" in encoded:
            writes.append((layout.metadata_file(self.dir, "root", self.new["root"].signed.version), encoded["root"]))
            writes.append((layout.metadata_file(self.dir, "root"), encoded["root"]))
        for role in sorted(r for r in encoded if r not in _TOP_LEVEL) + ["snapshot"]:
            if role in encoded:
                writes.append((layout.metadata_file(self.dir, role, self.new[role].signed.version), encoded[role]))
        if "timestamp" in encoded:
            writes.append((layout.metadata_file(self.dir, "timestamp"), encoded["timestamp"]))
        for path, data in writes:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, data)
