"""A TUF repository in memory, made with python-tuf's Metadata API, for tests of the device client.

Like tuf-conformance's RepositorySimulator (written anew, smaller): the current metadata of each
role can be changed freely, `publish(role)` signs it and records the bytes, and `fetch(path)`
serves `metadata/...` and `targets/...` as a static repository would. `delegate()` adds a
delegated targets role (python-tuf's DelegatedRole, or SuccinctRoles for hashed bins); the
snapshot lists every published targets role. Keys are Ed25519 from fixed
seeds and Ed25519 signatures are deterministic, so the same calls always give the same bytes.
"""

import hashlib
from datetime import datetime, timedelta, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from urllib.parse import unquote

from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    SuccinctRoles,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from mpboot import keys

TOP_LEVEL = ("root", "timestamp", "snapshot", "targets")
NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


def fixed_key(name):
    """A fixed Ed25519 private key named `name`."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"mpboot tuf test " + name.encode()).digest())


def unix(moment):
    return int(moment.timestamp())


class Repo:
    def __init__(self, consistent_snapshot=True, compact=True, hashes=True, now=NOW):
        self.now = now
        self.serializer = JSONSerializer(compact=compact)
        # Whether snapshot/timestamp list length and hashes of what they name.
        self.hashes = hashes
        self.expiry = now + timedelta(days=30)
        self.signers = {}  # role -> list of private keys that sign it
        self.md = {
            "root": Metadata(Root(expires=self.expiry, consistent_snapshot=consistent_snapshot)),
            "timestamp": Metadata(Timestamp(expires=self.expiry)),
            "snapshot": Metadata(Snapshot(expires=self.expiry)),
            "targets": Metadata(Targets(expires=self.expiry)),
        }
        self.published = {role: [] for role in TOP_LEVEL}  # role -> bytes of each version
        self.artifacts = {}  # target path -> bytes served
        self.requests = []  # paths fetched, in order
        for role in TOP_LEVEL:
            self.add_key(role, fixed_key(role + "-1"))
        self.publish_all()

    # -- keys ----------------------------------------------------------------------------------
    def add_key(self, role, private_key, sign=True):
        self.root.add_key(keys.tuf_key(private_key.public_key()), role)
        if sign:
            self.signers.setdefault(role, []).append(private_key)

    def delegate(self, parent, name, paths=None, prefixes=None, terminating=False, signers=None, threshold=1):
        """Delegate `paths` (or hash `prefixes`) from targets role `parent` to a new role `name`
        signed by `signers` (default: one fixed key named after it). Publish both afterwards."""
        signers = [fixed_key("delegated " + name)] if signers is None else signers
        delegations = self._delegations(parent)
        keyids = []
        for private_key in signers:
            key = keys.tuf_key(private_key.public_key())
            delegations.keys[key.keyid] = key
            keyids.append(key.keyid)
        delegations.roles[name] = DelegatedRole(name, keyids, threshold, terminating, paths, prefixes)
        self._new_role(name, signers)

    def delegate_existing(self, parent, name, paths, terminating=False, signers=None):
        """Delegate `paths` from `parent` to the existing role `name` as well (a role reached
        twice, or a cycle), trusting `signers` for it (default: its own)."""
        delegations = self._delegations(parent)
        keyids = []
        for private_key in self.signers[name] if signers is None else signers:
            key = keys.tuf_key(private_key.public_key())
            delegations.keys[key.keyid] = key
            keyids.append(key.keyid)
        delegations.roles[name] = DelegatedRole(name, keyids, 1, terminating, paths)

    def delegate_bins(self, parent, name_prefix, bit_length, signers=None):
        """Hashed bins as TAP 15 succinct roles: 2**bit_length roles NAME_PREFIX-HEX."""
        signers = [fixed_key("bins " + name_prefix)] if signers is None else signers
        md = self.md[parent].signed
        succinct = SuccinctRoles([], 1, bit_length, name_prefix)
        md.delegations = Delegations({}, succinct_roles=succinct)
        for private_key in signers:
            key = keys.tuf_key(private_key.public_key())
            md.delegations.keys[key.keyid] = key
            succinct.keyids.append(key.keyid)
        for bin_name in succinct.get_roles():
            self._new_role(bin_name, signers)
        return succinct

    def _delegations(self, parent):
        md = self.md[parent].signed
        if md.delegations is None:
            md.delegations = Delegations({}, roles={})
        return md.delegations

    def _new_role(self, name, signers):
        self.md[name] = Metadata(Targets(expires=self.expiry))
        self.signers[name] = list(signers)
        self.published[name] = []

    def targets_roles(self):
        return [role for role in self.md if isinstance(self.md[role].signed, Targets)]

    def remove_key(self, role, private_key):
        self.root.revoke_key(keys.tuf_key(private_key.public_key()).keyid, role)
        self.signers[role] = [k for k in self.signers[role] if k is not private_key]

    # -- roles ---------------------------------------------------------------------------------
    @property
    def root(self):
        return self.md["root"].signed

    @property
    def timestamp(self):
        return self.md["timestamp"].signed

    @property
    def snapshot(self):
        return self.md["snapshot"].signed

    @property
    def targets(self):
        return self.md["targets"].signed

    def sign(self, role, signers=None):
        """Bytes of `role`'s current metadata signed by `signers` (default: its own)."""
        md = self.md[role]
        md.signatures.clear()
        for private_key in self.signers[role] if signers is None else signers:
            md.sign(keys.tuf_signer(private_key), append=True)
        return md.to_bytes(self.serializer)

    def publish(self, role, signers=None, bump=True):
        """Sign `role` (bumping its version unless it is the first) and serve those bytes."""
        if bump and self.published[role]:
            self.md[role].signed.version += 1
        data = self.sign(role, signers)
        self.published[role].append(data)
        return data

    def publish_all(self):
        self.publish("root")
        self.publish("targets")
        self.update_snapshot()

    def update_snapshot(self):
        """Publish snapshot naming every published targets role, then timestamp naming it."""
        for role in self.targets_roles():
            if self.published[role]:
                self.snapshot.meta[role + ".json"] = self._metafile(role)
        self.publish("snapshot")
        self.update_timestamp()

    def update_timestamp(self):
        self.timestamp.snapshot_meta = self._metafile("snapshot")
        return self.publish("timestamp")

    def _metafile(self, role):
        return self.metafile(role, self.md[role].signed.version, self.published[role][-1])

    def metafile(self, role, version, data=None):
        """The snapshot/timestamp entry for `role` at `version` (its published bytes)."""
        data = self.published[role][version - 1] if data is None else data
        if not self.hashes:
            return MetaFile(version)
        return MetaFile(version, len(data), {"sha256": hashlib.sha256(data).hexdigest()})

    def add_target(self, path, data, custom=None, role="targets"):
        targets = self.md[role].signed.targets
        targets[path] = TargetFile.from_data(path, data, ["sha256"])
        if custom is not None:
            targets[path].unrecognized_fields["custom"] = custom
        self.artifacts[path] = data

    def publish_targets(self):
        self.publish("targets")
        self.update_snapshot()

    # -- serving -------------------------------------------------------------------------------
    def fetch(self, path):
        """The repository's file at `path` ("metadata/..." or "targets/..."), or None."""
        self.requests.append(path)
        if path.startswith("metadata/") and path.endswith(".json"):
            name = path[len("metadata/"):-len(".json")]
            head, _, rest = name.partition(".")
            if head.isdigit() and rest:
                versions = self.published.get(unquote(rest))
                version = int(head)
                return versions[version - 1] if versions and 0 < version <= len(versions) else None
            name = unquote(name)
            if name == "root" or name not in self.published or not self.published[name]:
                return None
            return self.published[name][-1]
        if path.startswith("targets/"):
            name = path[len("targets/"):]
            if self.root.consistent_snapshot:
                head, sep, base = name.rpartition("/")
                digest, _, base = base.partition(".")
                name = head + sep + base
                if not any(digest in info.hashes.values() for info in self._listed(name)):
                    return None
            return self.artifacts.get(name)
        return None

    def _listed(self, path):
        for role in self.targets_roles():
            info = self.md[role].signed.targets.get(path)
            if info is not None:
                yield info
