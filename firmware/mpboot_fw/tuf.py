"""The device's trusted TUF metadata: every check of the spec's client workflow (1.0.x section 5)
that needs no I/O, in the shape of python-tuf's TrustedMetadataSet, smaller.

Callers hand it bytes; it verifies them against what it already trusts and keeps them, or raises
a RepositoryError whose class names the failed check (the log records that name). Rules:
 * Load order is root -> timestamp -> snapshot -> targets (-> delegated targets); nothing can be
   loaded once something later in that order is (RuntimeError: a caller bug, not an attack).
 * Metadata may load although expired, or (snapshot) although its version is not the one the
   timestamp names: it is "intermediate". The call still raises, but what it loaded protects the
   next load against rollback. Intermediate metadata only lets newer versions of the same role
   load; the next role loads only over a final (valid) predecessor.
 * Every expiry is judged against one reference time, `now` (integer Unix seconds), fixed when
   the set is made: the start of the update.
 * Lengths and hashes named by the timestamp (for the snapshot) or the snapshot (for targets) are
   checked on the raw bytes before they are parsed; every document is size-capped before that.
Signatures are checked on the canonical JSON of `signed` (the received bytes in place when they
are canonical, else re-encoded: see trust.load_envelope), so what is verified is exactly what is
used; a scoped set's targets are parsed a member at a time and cut as they are (_selector).
Fetching, storage and the clock are the caller's; tufclient.py is the workflow that drives this
set, shared by the device and the host adapter.
"""

import hashlib
from binascii import hexlify

from mpboot_fw import cjson
from mpboot_fw import delegations as delegations_mod
from mpboot_fw import docbuf
from mpboot_fw import trust
from mpboot_fw.sha512 import sha512
from mpboot_fw.trust import TrustError

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# Byte caps: a document larger than this is refused before it is parsed (endless data), and
# they bound the heap a refresh needs. python-tuf allows far more (512 kB root, 2 MB snapshot);
# a repository for devices keeps few keys and few targets (see docs/ota.md). Targets is the one
# that matters: its bytes and parsed form are alive together, about 2.5x its size on MicroPython
# parsed whole (tests/tufmem.py), about 2x for a scoped set (the updater's, which keeps only the
# fields a device reads); at 12 KiB (some 30 images) a whole update stays under 48 KiB of heap
# (tests/test_ota_memory.py).
ROOT_MAX = const(8192)
TIMESTAMP_MAX = const(4096)
SNAPSHOT_MAX = const(8192)
TARGETS_MAX = const(12288)
# The fields of a target entry's `custom` a scoped set keeps (TrustedSet's `scope`): what the
# device reads to choose and check a release (tufclient.find_image, find_bundle, _better; the
# updater's manifest comparison). The rest (`mpboot publish` also writes payload_len,
# payload_sha256 and created, which the image's own manifest carries) is signed but not kept:
# about 150 bytes an entry on MicroPython, a quarter of a parsed image entry.
DEVICE_CUSTOM = ("board", "bundle", "channel", "chip_id", "min_firmware", "mpy", "security_version", "version")
# Delegated roles one search visits past top-level targets (spec 5.6.7; python-tuf's
# max_delegations, counted as it counts them: top-level targets and 32 more).
MAX_DELEGATIONS = const(32)
# Root rotations fetched in one refresh (python-tuf: 256). Each accepted root is persisted, so a
# device that missed more rotations catches up over several refreshes.
MAX_ROOT_ROTATIONS = const(32)

# The device stores every version in 32 bits (the state log, tufstore's head): a larger one is
# refused when it is verified, not found unstorable later (or wrapped, on MicroPython).
VERSION_MAX = trust.VERSION_MAX

_HASHES = {"sha256": hashlib.sha256, "sha512": sha512}


class RepositoryError(TrustError):
    """Metadata or a target that must not be trusted; the subclass names the check."""


class BadMetadata(RepositoryError):
    """Not well-formed TUF metadata of the expected type."""


class TooLarge(RepositoryError):
    """Longer than the cap for its role (endless data)."""


class BadSignature(RepositoryError):
    """Not signed by a threshold of the role's keys (arbitrary metadata, compromised keys
    below threshold, revoked keys)."""


class BadVersion(RepositoryError):
    """A version that is not the one the workflow requires (a root that skips a version)."""


class Rollback(BadVersion):
    """Older than metadata already trusted, or drops a file it listed."""


class MixAndMatch(BadVersion):
    """A version other than the one the trusted timestamp or snapshot names."""


class EqualVersion(RepositoryError):
    """The same timestamp version as the trusted one: nothing new (not an attack)."""


class Expired(RepositoryError):
    """Expired at the reference time (freeze)."""


class LengthOrHashMismatch(RepositoryError):
    """Bytes whose length or hashes differ from what trusted metadata lists."""


class TooManyRoles(RepositoryError):
    """A directory search that would visit more than MAX_DELEGATIONS delegated roles."""


class TrustedSet:
    """The metadata trusted so far in one update, starting from a trusted root."""

    def __init__(self, root_data, now, scope=None, parsed=None):
        """`root_data`: the trusted root bytes (checked only against itself, its expiry does not
        matter yet); `now`: the update's reference time in integer Unix seconds. `scope`: None,
        or the directories (`esp32-4mb/stable/`) the caller will look in: each targets role
        then keeps only the entries and delegations that can matter for targets directly in
        them, and of each entry's `custom` only the fields in DEVICE_CUSTOM (the device's heap:
        the entries are dropped and cut while the document is parsed, see _selector); answers
        for other paths are not the repository's. `parsed`: the trust.Root the caller already
        holds for these bytes (context.load's), or None: kept instead of a second parse of the
        same version (2 KB of a device's heap through the refresh); its signatures and keys
        are checked here all the same."""
        self.now = now
        self.scope = scope
        self._select = None if scope is None else _selector(scope)
        signed, message, signatures = _envelope(root_data, "root", ROOT_MAX)
        root = parsed if parsed is not None and parsed.version == signed.get("version") else _parse_root(signed)
        _verify(root.keys, root.roles["root"], message, signatures, "root")
        _check_keys(root)
        self.root = root
        self.timestamp = None
        self.snapshot = None
        # Targets roles by name ("targets", then delegated roles): role -> signed dict, without
        # its `delegations`, which are kept parsed: role -> delegations.Delegations or None.
        self.targets_roles = {}
        self.delegations = {}
        self._verified_by = []  # (delegating role, role) pairs loaded (python-tuf's `contains`)
        self._expires = {}

    @property
    def targets(self):
        return self.targets_roles.get("targets")

    def update_root(self, data):
        """Verify `data` as root version N+1 and trust it; an expired one is fine (5.3.6)."""
        if self.timestamp is not None:
            raise RuntimeError("root after timestamp")
        signed, message, signatures = _envelope(data, "root", ROOT_MAX)
        new_root = _parse_root(signed)
        # 5.3.4: a threshold of the trusted root's root keys, then of the new root's own.
        _verify(self.root.keys, self.root.roles["root"], message, signatures, "root")
        # 5.3.5: exactly N+1, so no version is skipped or replayed.
        if new_root.version != self.root.version + 1:
            error = Rollback if new_root.version <= self.root.version else BadVersion
            raise error("root v%d after v%d" % (new_root.version, self.root.version))
        _verify(new_root.keys, new_root.roles["root"], message, signatures, "root")
        _check_keys(new_root)
        self.root = new_root
        return new_root

    def update_timestamp(self, data):
        """Verify and trust `data` as timestamp; raises Expired after loading an expired one
        (kept as intermediate) and EqualVersion when it is the version already trusted."""
        if self.snapshot is not None:
            raise RuntimeError("timestamp after snapshot")
        # 5.3.10: the final root must not be expired. (5.3.11: a timestamp or snapshot signed
        # by rotated-out keys no longer verifies, so stale local copies simply fail to load.)
        if self.root.expired(self.now):
            raise Expired("root")
        signed, message, signatures = _envelope(data, "timestamp", TIMESTAMP_MAX)
        self._verify_top_level("timestamp", message, signatures)
        version = _version(signed)
        expires = _expires_at(signed)
        meta = signed.get("meta")
        if not isinstance(meta, dict):
            raise BadMetadata("timestamp: no meta")
        snapshot_meta = _metafile(meta.get("snapshot.json"))
        old = self.timestamp
        if old is not None:
            # 5.4.3: lower is a rollback; equal means nothing new.
            if version < old["version"]:
                raise Rollback("timestamp v%d after v%d" % (version, old["version"]))
            if version == old["version"]:
                raise EqualVersion("timestamp v%d" % version)
            old_snapshot_version = old["meta"]["snapshot.json"]["version"]
            if snapshot_meta["version"] < old_snapshot_version:
                raise Rollback("snapshot v%d after v%d" % (snapshot_meta["version"], old_snapshot_version))
        self.timestamp = signed
        self._expires["timestamp"] = expires
        # 5.4.4: loaded either way (rollback protection for the next one), final only if fresh.
        self.check_final_timestamp()
        return signed

    def update_snapshot(self, data, trusted=False):
        """Verify and trust `data` as snapshot. `trusted=True` is for bytes this set accepted in
        an earlier update (the local copy): the timestamp's hashes may have moved on since."""
        if self.timestamp is None:
            raise RuntimeError("snapshot before timestamp")
        if self.targets_roles:
            raise RuntimeError("snapshot after targets")
        self.check_final_timestamp()
        if not trusted:
            # 5.5.2: hashes and length from the timestamp, before anything else.
            check_length_and_hashes(data, self.timestamp["meta"]["snapshot.json"])
        signed, message, signatures = _envelope(data, "snapshot", SNAPSHOT_MAX)
        self._verify_top_level("snapshot", message, signatures)
        _version(signed)
        expires = _expires_at(signed)
        meta = signed.get("meta")
        if not isinstance(meta, dict):
            raise BadMetadata("snapshot: no meta")
        for entry in meta.values():
            _metafile(entry)
        if self.snapshot is not None:
            # 5.5.5: no targets metadata may disappear or go back in version.
            for name, old_entry in self.snapshot["meta"].items():
                entry = meta.get(name)
                if entry is None:
                    raise Rollback("snapshot drops " + name)
                if entry["version"] < old_entry["version"]:
                    raise Rollback("%s v%d after v%d" % (name, entry["version"], old_entry["version"]))
        self.snapshot = signed
        self._expires["snapshot"] = expires
        # 5.5.4 and 5.5.6 are checked on the final snapshot: intermediate ones still protect.
        self._check_final_snapshot()
        return signed

    def update_targets(self, data):
        """Verify and trust `data` as the top-level targets metadata."""
        return self.update_delegated_targets(data, "targets", "root")

    def update_delegated_targets(self, data, role, parent):
        """Verify and trust `data` as targets metadata for `role`, delegated by `parent` (a
        loaded targets role; "root" for top-level targets). A role loaded again (reached from
        another delegating role) replaces the copy loaded before, as in python-tuf."""
        if self.snapshot is None:
            raise RuntimeError("targets before snapshot")
        self._check_final_snapshot()
        keys, role_keys = self._delegation(role, parent)
        meta = self.snapshot["meta"].get(role + ".json")  # unquoted: only paths quote
        if meta is None:
            raise BadMetadata("snapshot lacks " + _shown(role))
        # 5.6.2: hashes and length from the snapshot, before anything else.
        check_length_and_hashes(data, meta)
        signed, message, signatures = _envelope(data, "targets", TARGETS_MAX, self._select)
        if not isinstance(signed.get("targets"), dict):
            raise BadMetadata(_shown(role) + ": no targets")
        # Structure before signatures, as python-tuf (it deserializes everything first).
        try:
            delegations = delegations_mod.parse(signed.get("delegations"), _shown(role))
        except TrustError as e:
            raise BadMetadata(str(e))
        _verify(keys, role_keys, message, signatures, _shown(role))
        version = _version(signed)
        if version != meta["version"]:
            raise MixAndMatch("%s v%d, snapshot says v%d" % (_shown(role), version, meta["version"]))
        if self.now >= _expires_at(signed):
            raise Expired(_shown(role))
        if "delegations" in signed:
            del signed["delegations"]
        if self.scope is not None and delegations is not None:
            delegations = delegations.narrowed(self.scope)
        self.targets_roles[role] = signed
        self.delegations[role] = delegations
        if (parent, role) not in self._verified_by:
            self._verified_by.append((parent, role))
        return signed

    def release_delegated_targets(self):
        """Let the parsed entries of the delegated roles go, for a caller that has taken what it
        needs from them; versions, expiries and delegations stay (the store needs them), and
        searches no longer find those roles' targets."""
        for role in self.targets_roles:
            if role != "targets":
                self.targets_roles[role]["targets"] = {}

    def delegated_roles(self):
        """The delegated roles loaded, each once, in the order first loaded."""
        out = []
        for _, role in self._verified_by:
            if role != "targets" and role not in out:
                out.append(role)
        return out

    def loaded(self, role, parent):
        """Is `role` trusted in this set as delegated by `parent`?"""
        return (parent, role) in self._verified_by

    def safe_time_floor(self):
        """The reference time once every top-level role verified as final, else None.

        This is the only value safe to raise a device's stored time floor to: the clock read
        that a full set of fresh metadata agreed with, so it is below every expiry the set has.
        Metadata itself carries no signing time, and (expires - lifetime) guesses would let a
        holder of the online timestamp key push the floor, and so every expiry, into the past.
        """
        return self.now if self.targets is not None else None

    def _delegation(self, role, parent):
        """(keys, (keyids, threshold)) that must sign `role`: the root's for top-level targets,
        else the trusted `parent`'s delegation to it (its keys checked as a root's are)."""
        if parent == "root" or role == "targets":
            if parent != "root" or role != "targets":
                raise BadMetadata("only root delegates targets")
            return self.root.keys, self.root.roles["targets"]
        if parent not in self.targets_roles:
            raise RuntimeError("targets role before its delegator")
        delegations = self.delegations[parent]
        role_keys = None if delegations is None else delegations.role(role)
        if role_keys is None:
            raise BadMetadata("%s does not delegate %s" % (_shown(parent), _shown(role)))
        keys = {}
        for keyid in role_keys[0]:
            if keyid in delegations.keys:
                keys[keyid] = delegations.keys[keyid]
        try:
            trust.check_key_points(keys, _shown(role))
        except TrustError as e:
            raise BadMetadata(str(e))
        return keys, role_keys

    def _verify_top_level(self, role, message, signatures):
        _verify(self.root.keys, self.root.roles[role], message, signatures, role)

    def check_final_timestamp(self):
        """Raise Expired unless the trusted timestamp is fresh at the reference time."""
        if self.now >= self._expires["timestamp"]:
            raise Expired("timestamp")

    def _check_final_snapshot(self):
        if self.now >= self._expires["snapshot"]:
            raise Expired("snapshot")
        wanted = self.timestamp["meta"]["snapshot.json"]["version"]
        if self.snapshot["version"] != wanted:
            raise MixAndMatch("snapshot v%d, timestamp says v%d" % (self.snapshot["version"], wanted))


class FileCheck:
    """Streams a file through the length and hashes trusted metadata lists for it.

    update() refuses a byte past `length` (so a download can stop there), verify() raises
    LengthOrHashMismatch unless the length and every listed hash match. An unknown hash
    algorithm is refused up front, as python-tuf does: it could not be checked.
    """

    def __init__(self, length, hashes):
        self.length = length
        self.seen = 0
        self._hashers = []
        for name in hashes or ():
            factory = _HASHES.get(name)
            if factory is None:
                raise LengthOrHashMismatch("unsupported hash " + name)
            self._hashers.append((name, factory(), hashes[name]))

    def update(self, chunk):
        self.seen += len(chunk)
        if self.length is not None and self.seen > self.length:
            raise LengthOrHashMismatch("longer than %d" % self.length)
        for _, hasher, _ in self._hashers:
            hasher.update(chunk)

    def verify(self):
        if self.length is not None and self.seen != self.length:
            raise LengthOrHashMismatch("length %d, expected %d" % (self.seen, self.length))
        for name, hasher, expected in self._hashers:
            if hexlify(hasher.digest()).decode() != expected:
                raise LengthOrHashMismatch(name)


class DocumentBuffer(docbuf.DocumentBuffer):
    """The one buffer a refresh reads every metadata document into: TARGETS_MAX bytes, made
    once, before the first document is parsed, and kept until the last one is fetched. Why, and
    what read(fill, max_length) does: docbuf.py (the bundle code shares it, without this module)."""

    def __init__(self):
        super().__init__(TARGETS_MAX)


def check_length_and_hashes(data, meta):
    """Raise LengthOrHashMismatch unless `data` matches a meta entry's length and hashes."""
    check = FileCheck(meta.get("length"), meta.get("hashes"))
    check.update(data)
    check.verify()


def target_check(info):
    """A FileCheck for a target entry of targets metadata (length and hashes required)."""
    length = info.get("length") if isinstance(info, dict) else None
    hashes = info.get("hashes") if isinstance(info, dict) else None
    if not is_count(length) or not _is_hashes(hashes):
        raise BadMetadata("bad target entry")
    return FileCheck(length, hashes)


def metadata_path(role, version=None):
    """Repository path of a role's metadata: `V.ROLE.json` with consistent snapshots (and
    always for root), `ROLE.json` otherwise (always for timestamp)."""
    name = _quote(role) + ".json"
    return name if version is None else "%d.%s" % (version, name)


def target_path(path, info, consistent_snapshot):
    """Repository path of a target: `DIR/HASH.NAME` with consistent snapshots, else `path`."""
    if not consistent_snapshot:
        return path
    hashes = info["hashes"]
    # Any listed hash names the file; prefer sha256 so the choice never depends on dict order.
    digest = hashes["sha256"] if "sha256" in hashes else hashes[sorted(hashes)[0]]
    cut = path.rfind("/") + 1
    return path[:cut] + digest + "." + path[cut:]


def _selector(directories):
    """trust.load_envelope's `select` for a set scoped to `directories`: an entry directly in
    one of them is kept, its `custom` cut to DEVICE_CUSTOM; any other is dropped. The board and
    channel names, the same in most entries, are kept once (each parse makes its own copy)."""
    names = {}

    def select(path, entry):
        for directory in directories:
            if delegations_mod.directly_in(path, directory):
                custom = entry.get("custom") if isinstance(entry, dict) else None
                if isinstance(custom, dict):
                    kept = {}
                    for name in DEVICE_CUSTOM:
                        if name in custom:
                            value = custom[name]
                            if (name == "board" or name == "channel") and isinstance(value, str):
                                value = names.setdefault(value, value)
                            kept[name] = value
                    entry["custom"] = kept
                return entry
        return cjson.DROP

    return select


def _shown(role):
    return delegations_mod.shown(role)


def _envelope(data, type_name, cap, select=None):
    if len(data) > cap:
        raise TooLarge("%s over %d bytes" % (type_name, cap))
    try:
        return trust.load_envelope(data, type_name, select)
    except TrustError as e:
        raise BadMetadata(str(e))


def _parse_root(signed):
    try:
        return trust.parse_root(signed)
    except TrustError as e:
        raise BadMetadata(str(e))


def _check_keys(root):
    try:
        trust.check_keys(root)
    except TrustError as e:
        raise BadMetadata(str(e))


def _verify(keys, role_keys, message, signatures, name):
    try:
        trust.verify_role(keys, role_keys, message, signatures, name)
    except TrustError as e:
        raise BadSignature(str(e))


def _version(signed):
    version = signed.get("version")
    if not is_count(version) or not 1 <= version <= VERSION_MAX:
        raise BadMetadata(signed["_type"] + ": bad version")
    if not trust.spec_supported(signed.get("spec_version")):
        raise BadMetadata(signed["_type"] + ": unsupported spec_version")
    return version


def _expires_at(signed):
    try:
        return trust.parse_time(signed.get("expires"))
    except TrustError:
        raise BadMetadata(signed["_type"] + ": bad expires")


def _metafile(entry):
    """Check one METAFILE entry ({version, length?, hashes?}) and return it."""
    if not isinstance(entry, dict):
        raise BadMetadata("bad meta entry")
    version = entry.get("version")
    length = entry.get("length")
    hashes = entry.get("hashes")
    if not is_count(version) or not 1 <= version <= VERSION_MAX:
        raise BadMetadata("bad meta version")
    if length is not None and (not is_count(length) or length < 1):
        raise BadMetadata("bad meta length")
    if hashes is not None and not _is_hashes(hashes):
        raise BadMetadata("bad meta hashes")
    return entry


def is_count(v):
    """A non-negative int that is not a bool (JSON true is not a version)."""
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_hashes(hashes):
    if not isinstance(hashes, dict) or not hashes:
        return False
    for name in hashes:
        if not isinstance(hashes[name], str):
            return False
    return True


def _quote(name):
    # urllib.parse.quote(name, safe=""): role names become one path segment.
    out = []
    for b in name.encode():
        c = chr(b)
        if ("a" <= c <= "z") or ("A" <= c <= "Z") or ("0" <= c <= "9") or c in "_.-~":
            out.append(c)
        else:
            out.append("%%%02X" % b)
    return "".join(out)
