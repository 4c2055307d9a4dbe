"""The device's trusted TUF metadata in the state log: tufclient's store, power-safe, exact bytes.

- root: every root a refresh accepts is written at once (statelog set_root, one atomic step),
  as the spec asks (5.3.8): a refresh cut after a rotation starts from the new root. Just
  before, the stored set is cut to the part the new root still verifies (5.3.11: rotated
  timestamp or snapshot keys void what the old keys signed), so the state never holds a set
  its own root does not verify.
- timestamp, snapshot, targets: one state-log blob, "tuf", so that a power cut leaves the set
  from before the refresh or the one after it, never a mix. During a refresh `save` only keeps
  what tufclient accepted; `commit` then writes the longest chain the trusted set vouches for:
  the trusted timestamp, the snapshot of the version it names, the targets of the version that
  snapshot names. Stored copies still current are carried over; nothing is written when the
  chain is what flash already holds (no write for a check that found nothing new).

A chain that does not fit the state log's metadata budget (statelog.MAX_BLOBS) is cut from the
end: without stored targets the next refresh fetches them again (the snapshot's version and
hashes still pin them), and rollback protection rests on the timestamp and snapshot versions.

Blob layout: a head, then the documents' bytes back to back.

    0   2  magic b"TF"
    2   1  format (1)
    3   1  reserved 0
    4   8  expires: the earliest expiry (Unix seconds) of the stored documents and the root, u64
    12  24 (version u32, length u32) for timestamp, snapshot, targets; length 0 = not stored
"""

import struct

from mpboot_fw import statelog, trust
from mpboot_fw.trust import TrustError

try:
    from micropython import const
except ImportError:
    const = lambda x: x  # noqa: E731

BLOB = "tuf"
ROLES = ("timestamp", "snapshot", "targets")
_FORMAT = "<2sBxQ6I"
_HEAD = const(36)
_MAGIC = b"TF"
_NEXT = {"timestamp": "snapshot.json", "snapshot": "targets.json"}


class Stored:
    """What the "tuf" blob holds: versions[i], lengths[i] per role of ROLES, and `expires`."""

    def __init__(self, head=None):
        if head is None or len(head) < _HEAD or head[:2] != _MAGIC or head[2] != 1:
            self.expires = None
            self.versions = [0, 0, 0]
            self.lengths = [0, 0, 0]
            return
        fields = struct.unpack_from(_FORMAT, head, 0)
        self.expires = fields[2]
        self.versions = [fields[3], fields[5], fields[7]]
        self.lengths = [fields[4], fields[6], fields[8]]

    def offset(self, i):
        return _HEAD + sum(self.lengths[:i])


def stored(state):
    """The Stored description of `state`'s metadata set (reads the blob's head only once)."""
    return Stored(state.blob(BLOB))


class Store:
    """tufclient's store over `state` (a statelog.State) for one refresh of `trusted`."""

    def __init__(self, state, trusted):
        self.state = state
        self.trusted = trusted
        self.stored = stored(state)
        self._staged = {}  # role -> (version, bytes) accepted in this refresh

    def load(self, role):
        if role == "root":
            return self.state.root()
        i = ROLES.index(role)
        n = self.stored.lengths[i]
        if not n:
            return None
        start = self.stored.offset(i)
        return self.state.blob(BLOB)[start:start + n]

    def save(self, role, data):
        if role == "root":
            self._prune()
            self.state.set_root(data, self.trusted.root.version)
        else:
            # Bytes that could never fit the state's metadata budget are not kept (the heap
            # matters most right here: targets at its cap is 12 KiB, parsed as well).
            fits = len(data) + _HEAD <= statelog.MAX_BLOBS
            self._staged[role] = (self._signed(role)["version"], data if fits else None)

    def _prune(self):
        """Before a new root is stored: keep only the stored chain's prefix that verifies under
        it (a rotation of timestamp, snapshot or targets keys voids what the old keys signed,
        spec 5.3.11). Written first, so that every cut leaves a set its root verifies."""
        chain = []
        expires = self.trusted.root.expires_at
        blob = self.state.blob(BLOB)
        for i, role in enumerate(ROLES):
            n = self.stored.lengths[i]
            if not n:
                break
            start = self.stored.offset(i)
            data = blob[start:start + n]
            try:
                signed, message, signatures = trust.load_envelope(data, role)
                self.trusted.root.verify(role, message, signatures)
            except TrustError:
                break
            chain.append((self.stored.versions[i], data))
            expires = min(expires, trust.parse_time(signed["expires"]))
        if len(chain) < sum(1 for n in self.stored.lengths if n):
            self._write(chain, expires)

    def commit(self):
        """Write the trusted chain (see the module docstring); True when flash changed.
        Raises statelog.StateError when the state partition cannot take it."""
        if not self._staged:
            return False
        chain = self._chain()
        versions = [version for version, _ in chain] + [0] * (3 - len(chain))
        lengths = [len(data) for _, data in chain] + [0] * (3 - len(chain))
        if not chain or (versions == self.stored.versions and lengths == self.stored.lengths):
            return False
        while chain:
            expires = self.trusted.root.expires_at
            for i in range(len(chain)):
                expires = min(expires, trust.parse_time(self._signed(ROLES[i])["expires"]))
            try:
                self._write(chain, expires)
                self._staged = {}
                return True
            except ValueError:  # over the state log's metadata budget: store a shorter chain
                chain.pop()
        return False

    def _chain(self):
        """[(version, bytes)] for timestamp, snapshot, targets: each the version its
        predecessor names (the timestamp: the trusted one), as long as the trusted set holds
        that version and its bytes were accepted now or are stored."""
        chain = []
        blob = None
        want = None
        for i, role in enumerate(ROLES):
            signed = self._signed(role)
            if signed is None or (want is not None and signed["version"] != want):
                break
            want = signed["version"]
            version, data = self._staged.get(role, (None, None))
            if version == want and data is None:
                break  # accepted, but too large to store
            if version != want:
                if self.stored.versions[i] != want or not self.stored.lengths[i]:
                    break
                if blob is None:
                    blob = self.state.blob(BLOB)
                start = self.stored.offset(i)
                data = blob[start:start + self.stored.lengths[i]]
            chain.append((want, data))
            if role in _NEXT:
                want = signed["meta"][_NEXT[role]]["version"]
        return chain

    def _signed(self, role):
        return self.trusted.targets if role == "targets" else getattr(self.trusted, role)

    def _write(self, chain, expires):
        """Store `chain` ([(version, bytes)] from the timestamp on; may be empty) as the set."""
        fields = []
        for i in range(3):
            fields += [chain[i][0], len(chain[i][1])] if i < len(chain) else [0, 0]
        out = bytearray(_HEAD + sum(len(data) for _, data in chain))
        struct.pack_into(_FORMAT, out, 0, _MAGIC, 1, expires, *fields)
        pos = _HEAD
        for _, data in chain:
            out[pos:pos + len(data)] = data
            pos += len(data)
        self.state.set_blob(BLOB, out)
        self.stored = Stored(out)

