"""A TUF repository in memory, made with python-tuf's Metadata API, for tests of the device client.

Like tuf-conformance's RepositorySimulator (written anew, smaller): the current metadata of each
role can be changed freely, `publish(role)` signs it and records the bytes, and `fetch(path)`
serves `metadata/...` and `targets/...` as a static repository would. Keys are Ed25519 from fixed
seeds and Ed25519 signatures are deterministic, so the same calls always give the same bytes.
"""

import hashlib
from datetime import datetime, timedelta, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp
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
        """Publish snapshot naming the current targets, then timestamp naming the snapshot."""
        self.snapshot.meta["targets.json"] = self._metafile("targets")
        self.publish("snapshot")
        self.update_timestamp()

    def update_timestamp(self):
        self.timestamp.snapshot_meta = self._metafile("snapshot")
        return self.publish("timestamp")

    def _metafile(self, role):
        data = self.published[role][-1]
        version = self.md[role].signed.version
        if not self.hashes:
            return MetaFile(version)
        return MetaFile(version, len(data), {"sha256": hashlib.sha256(data).hexdigest()})

    def add_target(self, path, data, custom=None):
        self.targets.targets[path] = TargetFile.from_data(path, data, ["sha256"])
        if custom is not None:
            self.targets.targets[path].unrecognized_fields["custom"] = custom
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
            if head.isdigit():
                versions = self.published.get(rest)
                version = int(head)
                return versions[version - 1] if versions and 0 < version <= len(versions) else None
            if name == "root" or name not in self.published or not self.published[name]:
                return None
            return self.published[name][-1]
        if path.startswith("targets/"):
            name = path[len("targets/"):]
            if self.root.consistent_snapshot:
                head, sep, base = name.rpartition("/")
                digest, _, base = base.partition(".")
                name = head + sep + base
                info = self.targets.targets.get(name)
                if info is None or digest not in info.hashes.values():
                    return None
            return self.artifacts.get(name)
        return None
