"""The device's trusted TUF metadata in the state log: tufclient's store, power-safe, exact bytes.

- root: every root a refresh accepts is written at once (statelog set_root, one atomic step),
  as the spec asks (5.3.8): a refresh cut after a rotation starts from the new root. Just
  before, the stored set is cut to what the new root still verifies, with 5.3.11's rule: a
  rotation of the timestamp or the snapshot keys drops both stored copies (so the repository
  can recover from a fast-forward attack), and targets go with the snapshot that named them or
  with their own keys. The state never holds a set its own root does not verify.
- timestamp, snapshot, targets: one state-log blob, "tuf", so that a power cut leaves the set
  from before the refresh or the one after it, never a mix. During a refresh `save` only keeps
  what tufclient accepted; `commit` then writes, per role, the newest copy that verified as
  final: accepted now, else the stored one. A refresh that accepts a timestamp but not the
  snapshot it names (a 404, a dropped connection, a bad hash) therefore keeps the last verified
  snapshot: the next refresh loads it as intermediate and checks the repository's snapshot
  against it (5.5.5: no targets version goes down, no targets file disappears), as python-tuf
  does. Targets are kept only beside the snapshot that names their version (a copy that spares
  the next refresh a download; rollback protection rests on the snapshot). Nothing is written
  when that is what flash already holds (no write for a check that found nothing new).

- delegated targets roles (tufclient's searches) are kept in the same blob, after targets, in
  the order the check loaded them: those this check verified (fetched, or the stored copy that
  still verified), each only beside a snapshot that names its version. So a role is dropped when
  a newer snapshot no longer lists it or lists another version, and when the delegating role's
  keys for it rotate (the stored copy no longer verifies, so the check fetched a new one or
  failed); a check that never reached the search keeps the stored ones its kept snapshot names.
  A root rotation that drops targets drops them too.

A set that does not fit the state log's metadata budget (statelog.MAX_BLOBS) is cut from the
end (the last delegated role first): a role not stored is fetched again by the next check (the
snapshot's version and hashes still pin it), and rollback protection rests on the timestamp and
snapshot versions, which go last.

Blob layout: a head, the top-level documents' bytes back to back, then (format 3) the delegated
roles: a count u8, per role (name length u8, name UTF-8, version u32, length u32, expires u64),
then their bytes back to back.

    0   2  magic b"TF"
    2   1  format: 3, or 2 (written when no delegated role is stored: no delegated section)
    3   1  reserved 0
    4   8  expires: the earliest expiry (Unix seconds) of the stored documents and the root, u64
    12  48 (version u32, length u32, expires u64) for timestamp, snapshot, targets; length 0 =
           not stored
Format 1 (written before 2; 36 bytes: no per-document expires) is still read, each of its
documents taken to expire at the head's `expires`, never later than it really does.
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
HEAD = const(60)
_FORMAT = "<2sBxQIIQIIQIIQ"
_FORMAT1 = "<2sBxQ6I"
_HEAD1 = const(36)
_MAGIC = b"TF"
_ENTRY = "<IIQ"  # a delegated role's version, length, expires, after its name
_ENTRY_LEN = const(16)


class Stored:
    """What the "tuf" blob holds: versions[i], lengths[i] and expiries[i] per role of ROLES,
    `expires`, the earliest of them and the root's (None: nothing was ever stored), and
    `delegated`: [(name, version, offset, length, expires)] of the delegated roles.

    From `head`, the blob's bytes; or (stored()) its first HEAD bytes, with `size` the blob's
    length and `rest(offset)` its bytes from `offset` on, read only for the delegated roles."""

    def __init__(self, head=None, size=None, rest=None):
        self.expires = None
        self.versions = [0, 0, 0]
        self.lengths = [0, 0, 0]
        self.expiries = [0, 0, 0]
        self.delegated = []
        self.start = HEAD
        if head is None or len(head) < 3 or head[:2] != _MAGIC:
            return
        if head[2] in (2, 3) and len(head) >= HEAD:
            fields = struct.unpack_from(_FORMAT, head, 0)
            step = 3
        elif head[2] == 1 and len(head) >= _HEAD1:
            fields = struct.unpack_from(_FORMAT1, head, 0)
            step = 2
        else:
            return
        start = HEAD if step == 3 else _HEAD1
        if start + fields[4] + fields[4 + step] + fields[4 + 2 * step] > (len(head) if size is None else size):
            # Documents past the blob's end (slicing there overflows a 32-bit MicroPython's
            # machine word): read as nothing stored, which costs downloads, not trust.
            return
        self.start = start
        self.expires = fields[2]
        for i in range(3):
            self.versions[i] = fields[3 + step * i]
            self.lengths[i] = fields[4 + step * i]
            self.expiries[i] = fields[5 + step * i] if step == 3 else self.expires
        if head[2] == 3:
            pos = self.offset(3)
            if rest is None:
                self._read_delegated(head, pos)
            else:
                self._read_delegated(rest(pos), 0, pos)

    def _read_delegated(self, blob, pos, base=0):
        # Only this module writes the blob (and the state log checks its CRC); a section that
        # does not add up is read as no delegated role stored, which costs downloads, not trust.
        entries = []
        count = blob[pos] if pos < len(blob) else 0
        pos += 1
        for _ in range(count):
            n = blob[pos] if pos < len(blob) else 0
            if not n or pos + 1 + n + _ENTRY_LEN > len(blob):
                return
            try:
                name = bytes(blob[pos + 1:pos + 1 + n]).decode()
            except ValueError:  # UnicodeError on both runtimes
                return
            version, length, expires = struct.unpack_from(_ENTRY, blob, pos + 1 + n)
            entries.append((name, version, length, expires))
            pos += 1 + n + _ENTRY_LEN
        delegated = []
        for name, version, length, expires in entries:
            delegated.append((name, version, base + pos, length, expires))
            pos += length
        if pos == len(blob):  # all or nothing: the roles' bytes end the blob exactly
            self.delegated = delegated

    def offset(self, i):
        return self.start + sum(self.lengths[:i])


def stored(state):
    """The Stored description of `state`'s metadata set. Its head and the delegated roles'
    section are read, not the three documents between them (the whole blob, read twice, was
    the largest block asked for as a check starts)."""
    size = state.blob_length(BLOB)
    if size is None:
        return Stored()
    return Stored(state.blob(BLOB, 0, HEAD), size, lambda offset: state.blob(BLOB, offset))


class Store:
    """tufclient's store over `state` (a statelog.State) for one refresh of `trusted`."""

    def __init__(self, state, trusted):
        self.state = state
        self.trusted = trusted
        self.stored = stored(state)
        self._staged = {}  # role -> (version, bytes or None: too large to store) accepted now

    def load(self, role):
        if role == "root":
            return self.state.root()
        # Only the role's bytes are read, not the whole blob they are cut from (the refresh's
        # peak: 1.7 KB read twice for a 0.5 KB snapshot, up to MAX_BLOBS for a large set).
        if role not in ROLES:
            entry = self._stored_delegated(role)
            return None if entry is None else self.state.blob(BLOB, entry[2], entry[3])
        i = ROLES.index(role)
        n = self.stored.lengths[i]
        return self.state.blob(BLOB, self.stored.offset(i), n) if n else None

    def save(self, role, data):
        if role == "root":
            self._prune()
            self.state.set_root(data, self.trusted.root.version)
        else:
            # Bytes that could not fit the state's metadata budget beside what this check
            # already keeps are not kept (the heap matters most right here: a targets role at
            # its cap is 12 KiB, parsed as well); roles are saved in the order the set keeps them.
            # What is kept is copied: the updater reads every document into one buffer
            # (tuf.DocumentBuffer), which the next fetch overwrites.
            need = HEAD + len(data) + (0 if role in ROLES else _ENTRY_LEN + 2 + len(role.encode()))
            for other in self._staged:
                kept = self._staged[other][1]
                if other != role and kept is not None:
                    need += len(kept) + (0 if other in ROLES else _ENTRY_LEN + 2 + len(other.encode()))
            self._staged[role] = (self._signed(role)["version"], bytes(data) if need <= statelog.MAX_BLOBS else None)

    def _prune(self):
        """Before a new root is stored: drop what it no longer verifies (module docstring).
        Written first, so that every cut leaves a set its root verifies."""
        blob = self.state.blob(BLOB)
        docs = []
        rotated = []
        for i, role in enumerate(ROLES):
            doc = self._stored_doc(i, blob)
            if doc is not None:
                try:
                    _, message, signatures = trust.load_envelope(doc[1], role)
                    self.trusted.root.verify(role, message, signatures)
                except TrustError:
                    doc = None
                    rotated.append(role)
            docs.append(doc)
        if not rotated:
            return
        if "timestamp" in rotated or "snapshot" in rotated:
            docs[0] = docs[1] = None
        if docs[1] is None:
            docs[2] = None
        self._write(docs, [] if docs[2] is None else self._stored_delegated_docs(blob))

    def commit(self):
        """Write the newest verified copy of each role (module docstring); True when flash
        changed. Raises statelog.StateError when the state partition cannot take it."""
        if not self._staged:
            return False
        blob = None
        docs = []
        for i, role in enumerate(ROLES):
            version, data = self._staged.get(role, (0, None))
            if data is None:
                if blob is None and self.stored.lengths[i]:
                    blob = self.state.blob(BLOB)  # only when a stored copy is kept
                docs.append(self._stored_doc(i, blob))
            else:
                docs.append((version, data, trust.parse_time(self._signed(role)["expires"])))
        if docs[2] is not None and not self._names(docs[1], "targets", docs[2][0]):
            docs[2] = None
        delegated = self._delegated_docs(docs[1], blob)
        self._fit(docs, delegated)
        if [0 if d is None else d[0] for d in docs] == self.stored.versions \
                and [0 if d is None else len(d[1]) for d in docs] == self.stored.lengths \
                and [(d[0], d[1], len(d[2])) for d in delegated] == [(e[0], e[1], e[3]) for e in self.stored.delegated]:
            return False
        while delegated or any(docs):
            try:
                self._write(docs, delegated)
                self._staged = {}
                return True
            except ValueError:  # over the state log's metadata budget: store less, from the end
                if delegated:
                    delegated.pop()
                else:
                    docs[max(i for i in range(3) if docs[i] is not None)] = None
        return False

    def _fit(self, docs, delegated):
        """Cut `docs` and `delegated` to the room the state log leaves: each in order (timestamp,
        snapshot, targets, the roles as loaded) if it still fits, so that one large document
        does not keep the smaller ones after it out."""
        room = statelog.MAX_BLOBS
        for name in self.state.blob_names():
            if name not in (statelog.ROOT, BLOB):
                room -= len(self.state.blob(name))  # none on a device: tufstore is the only user
        used = HEAD
        for i in range(3):
            if docs[i] is not None:
                if used + len(docs[i][1]) <= room:
                    used += len(docs[i][1])
                else:
                    docs[i] = None
        used += 1
        kept = []
        for entry in delegated:
            size = 1 + len(entry[0].encode()) + _ENTRY_LEN + len(entry[2])
            if used + size <= room:
                used += size
                kept.append(entry)
        delegated[:] = kept

    def _delegated_docs(self, snapshot, blob):
        """[(name, version, bytes, expires)] of the delegated roles to keep (module docstring)."""
        names = self.trusted.delegated_roles()
        verified = bool(names)
        if not verified:
            names = [e[0] for e in self.stored.delegated]
        out = []
        for name in names:
            version, data = self._staged.get(name, (0, None))
            entry = self._stored_delegated(name)
            if data is None and entry is not None and (not verified or self.trusted.targets_roles[name]["version"] == entry[1]):
                if blob is None:
                    blob = self.state.blob(BLOB)
                version, data = entry[1], blob[entry[2]:entry[2] + entry[3]]
            if data is not None and self._names(snapshot, name, version):
                signed = self.trusted.targets_roles.get(name)
                expires = entry[4] if signed is None else trust.parse_time(signed["expires"])
                out.append((name, version, data, expires))
        return out

    def _names(self, snapshot, role, version):
        """Does the kept `snapshot` (version, bytes, expires) name `role` at `version`? The
        trusted set's snapshot, if it is that one, says; otherwise the kept snapshot is the
        stored one, which names the stored copies only."""
        if snapshot is None:
            return False
        signed = self.trusted.snapshot
        if signed is not None and signed["version"] == snapshot[0]:
            meta = signed["meta"].get(role + ".json")
            return meta is not None and meta["version"] == version
        return self._staged.get(role, (0, None))[1] is None

    def _stored_delegated(self, name):
        for entry in self.stored.delegated:
            if entry[0] == name:
                return entry
        return None

    def _stored_delegated_docs(self, blob):
        return [(e[0], e[1], blob[e[2]:e[2] + e[3]], e[4]) for e in self.stored.delegated]

    def _stored_bytes(self, i, blob):
        n = self.stored.lengths[i]
        if not n:
            return None
        start = self.stored.offset(i)
        return blob[start:start + n]

    def _stored_doc(self, i, blob):
        """(version, bytes, expires) of the stored copy of ROLES[i] in `blob`, or None."""
        data = self._stored_bytes(i, blob)
        return None if data is None else (self.stored.versions[i], data, self.stored.expiries[i])

    def _signed(self, role):
        if role in ("timestamp", "snapshot"):
            return getattr(self.trusted, role)
        return self.trusted.targets_roles[role]

    def _write(self, docs, delegated):
        """Store `docs` ((version, bytes, expires) or None per role of ROLES) and `delegated`
        ([(name, version, bytes, expires)]) as the set."""
        expires = self.trusted.root.expires_at
        fields = []
        size = HEAD + (1 if delegated else 0)  # without delegated roles: format 2, as before
        for doc in docs:
            if doc is None:
                fields += [0, 0, 0]
            else:
                fields += [doc[0], len(doc[1]), doc[2]]
                size += len(doc[1])
                expires = min(expires, doc[2])
        for name, _, data, doc_expires in delegated:
            size += 1 + len(name.encode()) + _ENTRY_LEN + len(data)
            expires = min(expires, doc_expires)
        out = bytearray(size)
        struct.pack_into(_FORMAT, out, 0, _MAGIC, 3 if delegated else 2, expires, *fields)
        pos = HEAD
        for doc in docs:
            if doc is not None:
                out[pos:pos + len(doc[1])] = doc[1]
                pos += len(doc[1])
        if delegated:
            out[pos] = len(delegated)
            pos += 1
        for name, version, data, doc_expires in delegated:
            encoded = name.encode()
            out[pos] = len(encoded)
            out[pos + 1:pos + 1 + len(encoded)] = encoded
            struct.pack_into(_ENTRY, out, pos + 1 + len(encoded), version, len(data), doc_expires)
            pos += 1 + len(encoded) + _ENTRY_LEN
        for entry in delegated:
            out[pos:pos + len(entry[2])] = entry[2]
            pos += len(entry[2])
        self.state.set_blob(BLOB, out)
        self.stored = Stored(out)
