"""The device's trust anchor: TUF root metadata (spec 1.0), checked without I/O.

`load_root(data)` takes the bytes of a `root.json` and returns a `Root` only if the document is
well formed, every keyid is the SHA-256 of its key object's canonical JSON, and a threshold of
the root role's own keys signed it. With `trusted=` (the root the device already holds) it is
one step of root rotation (spec 5.3): the new root must also carry a threshold of the trusted
root's root-role signatures, and its version must be exactly one more. Every key of an accepted
root is a point of prime order (check_keys), so no two keys share a secret.

Every signature decision goes through `verify_role(keys, role, message, signatures, name)`,
which the update client uses for timestamp, snapshot and targets metadata and the image check
uses for firmware manifests. Ed25519 keys and ECDSA P-256 keys (`ecdsa-sha2-nistp256`, under
the keytypes python-tuf accepts for it: `ecdsa` and the legacy `ecdsa-sha2-nistp256`) count, in
any mix; other key types may appear in a root (its structure is still checked) but never satisfy
a threshold. An ECDSA signature is DER in metadata and r || s in an image manifest's 64-byte slot
(a SlotSignature): the source says which, never the signature's length. Each authorized public
key counts once, whatever keyids it is listed under, and metadata carrying two signatures with
the same keyid is rejected outright.

Expiry is not checked here: a root's own expiry does not matter while it is the anchor (spec
5.2), and the clock belongs to the caller. `Root.expires_at` is the expiry in integer Unix
seconds for that comparison (metadata is expired when now >= expires_at).
"""

import hashlib
import json
from binascii import hexlify, unhexlify

from mpboot_fw import cjson, loading
from mpboot_fw.ed25519 import in_prime_subgroup
from mpboot_fw.ed25519 import verify as _ed25519_verify

ROLE_NAMES = ("root", "snapshot", "targets", "timestamp")
VERSION_MAX = 0xFFFFFFFF  # versions are stored in 32 bits on the device (statelog, tufstore)
# Arrays and objects open at once in metadata. TUF's own structure needs 6 (delegations: the
# document, signed, delegations, roles [], a role, paths []); the rest is room for the custom
# fields of targets. It also bounds the recursion of cjson.encode over what was parsed.
MAX_DEPTH = 16
_TIME_PATTERN = "0000-00-00T00:00:00Z"
ED25519_KEY_SIZE = 32
# (keytype, scheme) pairs read as P-256 keys: python-tuf's (securesystemslib's) for the scheme.
_ECDSA_TYPES = (("ecdsa", "ecdsa-sha2-nistp256"), ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256"))


class TrustError(Exception):
    """Metadata that must not be trusted; the message names the failed check."""


class SlotSignature:
    """A signature read from a fixed 64-byte slot (an image manifest): for a P-256 key r || s
    (IEEE P1363), where metadata carries DER. An Ed25519 signature is R || S in both."""

    def __init__(self, data):
        self.data = data


class Root:
    """A verified root: its version, expiry, usable keys and the four top-level roles.

    keys: keyid (hex str) -> public key, for the usable keys only: 32 bytes for Ed25519, 65
    bytes (0x04 || x || y) for P-256.
    roles: role name -> (keyids tuple, threshold).
    """

    def __init__(self, version, expires, keys, roles, consistent_snapshot=False, spec_version="1.0.31"):
        self.version = version
        self.expires = expires
        self.expires_at = parse_time(expires)
        self.keys = keys
        self.roles = roles
        self.consistent_snapshot = consistent_snapshot
        self.spec_version = spec_version

    def verify(self, role_name, message, signatures):
        """Raise TrustError unless a threshold of `role_name`'s keys signed `message`."""
        verify_role(self.keys, self.roles[role_name], message, signatures, role_name)

    def expired(self, now):
        return now >= self.expires_at


def load_root(data, trusted=None):
    """Parse and verify root metadata bytes; with `trusted`, also check it as its successor."""
    signed, message, signatures = load_envelope(data, "root")
    root = parse_root(signed)
    if trusted is not None:
        # Spec 5.3.4: signed by a threshold of the trusted root's root keys, then of its own.
        trusted.verify("root", message, signatures)
    root.verify("root", message, signatures)
    if trusted is not None and root.version != trusted.version + 1:
        # Spec 5.3.5: rotation goes one version at a time, so none can be skipped or replayed.
        raise TrustError("root version %d after %d" % (root.version, trusted.version))
    check_keys(root)
    return root


def check_keys(root):
    """Raise TrustError unless every key of `root` is a point of prime order.

    A key A + T (T of small order) is a second valid encoding that A's secret signs for (with a
    nonce that makes h a multiple of T's order), so {A, A + T} would meet a threshold of 2 with
    one signer: verify_role can only tell encodings apart. Callers run this once a root's
    signatures verified (one scalar multiplication per Ed25519 key, not for unsigned input); a
    root stored after this check is not checked again at boot (context.anchor). P-256 has
    cofactor 1: every point on the curve has prime order, which parse_keys already checked.
    """
    check_key_points(root.keys, "root")


def check_key_points(keys, where):
    """check_keys for any keyid -> public key dict (a delegating role's keys too)."""
    for keyid in sorted(keys):
        key = keys[keyid]
        if len(key) == ED25519_KEY_SIZE:
            if not in_prime_subgroup(key):
                raise TrustError("%s: key %s is not an Ed25519 point of prime order" % (where, keyid[:16]))
        elif not _p256().point_valid(key):
            raise TrustError("%s: key %s is not a P-256 point" % (where, keyid[:16]))


def load_envelope(data, type_name, select=None):
    """Split metadata bytes into (signed dict, canonical bytes of signed, signatures dict).

    The signed bytes are canonical (signed_bytes), so pretty-printed metadata verifies too.

    `select` (targets metadata): select(path, entry) -> the entry to keep, or cjson.DROP; the
    returned `signed["targets"]` (when it is an object) holds only what it kept, and the signed
    bytes still cover every entry. An envelope written as a compact canonical publisher writes
    it (`{"signatures":[...],"signed":{...}}`, `signed` canonical) is then parsed a member at a
    time (cjson.load_object), so the whole parsed document never exists beside the bytes;
    anything else is parsed whole, as without `select`, and cut after.
    """
    try:
        # Syntax and depth first: json.loads alone accepts on MicroPython what CPython refuses,
        # and nesting it cannot handle ends in a different error on each runtime.
        cjson.check_syntax(data, MAX_DEPTH)
        loaded = None if select is None or isinstance(data, str) else _load_selected(data, select)
        doc = json.loads(data) if loaded is None else None
    except ValueError as e:
        raise TrustError(type_name + ": not JSON (" + str(e) + ")")
    if loaded is not None:
        signed, entries, message = loaded
    else:
        if not isinstance(doc, dict):
            raise TrustError(type_name + ": not an object")
        signed = doc.get("signed")
        entries = doc.get("signatures")
        doc = None
        message = None
    if not isinstance(signed, dict) or not isinstance(entries, list):
        raise TrustError(type_name + ": no signed/signatures")
    if signed.get("_type") != type_name:
        raise TrustError(type_name + ": wrong _type")
    pairs = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise TrustError(type_name + ": bad signature entry")
        keyid = entry.get("keyid")
        sig = entry.get("sig")
        if not isinstance(keyid, str) or not isinstance(sig, str):
            raise TrustError(type_name + ": bad signature entry")
        # A signature that is not hex cannot verify; it counts as absent, as in python-tuf.
        try:
            sig = unhexlify(sig)
        except ValueError:
            sig = b""
        pairs.append((keyid, sig))
    entries = None
    if message is None:
        try:
            message = signed_bytes(data, signed)
        except ValueError:
            raise TrustError(type_name + ": not canonical JSON")
        # Cut only now: the signed bytes are those of everything that was signed.
        targets = signed.get("targets")
        if select is not None and isinstance(targets, dict):
            kept = {}
            for path in targets:
                entry = select(path, targets[path])
                if entry is not cjson.DROP:
                    kept[path] = entry
            signed["targets"] = kept
    return signed, message, collect_signatures(pairs)


_SIGNATURES = b'{"signatures":'
_SIGNED = b',"signed":'


def _load_selected(data, select):
    """(signed, signature entries, signed bytes) of an envelope that is exactly
    `{"signatures":S,"signed":V}` (nothing but whitespace after it) with V canonical, parsed a
    member at a time (load_envelope's `select`); else None. `data` passed check_syntax, so S and
    V are whole JSON values and these are the document's only two members."""
    if data[:len(_SIGNATURES)] != _SIGNATURES:
        return None
    mv = memoryview(data)
    n = len(mv)
    start = cjson.value_end(mv, len(_SIGNATURES), n) + len(_SIGNED)
    if data[start - len(_SIGNED):start] != _SIGNED:
        return None
    loaded = cjson.load_object(data, start, "targets", select)
    if loaded is None:
        return None
    signed, end = loaded
    if end >= n or mv[end] != 0x7D:  # }
        return None
    entries = cjson.loads_at(mv, len(_SIGNATURES), start - len(_SIGNED))
    return signed, entries, mv[start:end]


def signed_bytes(data, signed):
    """The canonical JSON of `signed`: a view into `data` where it already holds exactly those
    bytes (after the first `"signed":`, as a compact, sorted, ASCII publisher writes them), else
    a fresh encoding. Either way the signature is checked over canonical(signed), the object that
    is then used; the view only saves a copy the size of the document."""
    start = -1 if isinstance(data, str) else data.find(b'"signed":')
    end = cjson.encoded_at(signed, data, start + 9) if start >= 0 else -1
    return memoryview(data)[start + 9:end] if end >= 0 else cjson.encode(signed)


def collect_signatures(pairs):
    """(keyid, signature) pairs -> dict; two signatures with one keyid reject the metadata."""
    signatures = {}
    for keyid, sig in pairs:
        if keyid in signatures:
            raise TrustError("duplicate signature keyid")
        signatures[keyid] = sig
    return signatures


def verify_role(keys, role, message, signatures, name):
    """Raise TrustError unless `threshold` distinct keys of `role` = (keyids, threshold) signed.

    keys: keyid -> public key (see Root); signatures: keyid -> signature (see
    collect_signatures): bytes as metadata carries them, or a SlotSignature from an image.
    """
    keyids, threshold = role
    counted = []  # public keys, not keyids: a key listed under two keyids counts once
    for keyid in keyids:
        key = keys.get(keyid)
        sig = signatures.get(keyid)
        # Two keyids name one key when their key objects differ only in an extra field (go-tuf
        # GHSA-3633-5h82-39pq); a keyid the role lists twice is the same case.
        if key is not None and sig is not None and key not in counted and _verifies(key, message, sig):
            counted.append(key)
            if len(counted) >= threshold:
                return
    raise TrustError("threshold: %d of %d %s signatures" % (len(counted), threshold, name))


def _verifies(key, message, sig):
    slot = isinstance(sig, SlotSignature)
    if slot:
        sig = sig.data
    if len(key) == ED25519_KEY_SIZE:
        return _ed25519_verify(key, message, sig)
    p256 = _p256()
    return p256.verify(key, message, p256.decode_raw(sig) if slot else p256.decode_der(sig))


def _p256():
    # Imported when a P-256 key is first met: the module and its table of G multiples keep about
    # 9 KB of RAM (docs/p256.md) that a device whose roots hold only Ed25519 keys never needs.
    with loading():
        from mpboot_fw import p256

    return p256


def keyid_of(key_object):
    """TUF keyid: SHA-256 hex of the canonical JSON of the key object exactly as published."""
    return hexlify(hashlib.sha256(cjson.encode(key_object)).digest()).decode()


def ed25519_key_object(public_key):
    """The key object a TUF repository publishes for a 32-byte Ed25519 public key."""
    return {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": hexlify(public_key).decode()}}


def parse_time(text):
    """'YYYY-MM-DDTHH:MM:SSZ' -> integer Unix seconds (no floats, no time zone but Z)."""
    if not isinstance(text, str) or len(text) != len(_TIME_PATTERN):
        raise TrustError("bad time")
    for p, c in zip(_TIME_PATTERN, text):
        if not ("0" <= c <= "9") if p == "0" else c != p:
            raise TrustError("bad time")
    y, mo, d = int(text[0:4]), int(text[5:7]), int(text[8:10])
    h, mi, s = int(text[11:13]), int(text[14:16]), int(text[17:19])
    if not (1 <= mo <= 12 and 1 <= d <= _days_in_month(y, mo) and h < 24 and mi < 60 and s < 60):
        raise TrustError("bad time")
    return _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s


def _days_in_month(y, m):
    if m == 2:
        return 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28
    return 30 if m in (4, 6, 9, 11) else 31


def _days_from_civil(y, m, d):
    # Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's algorithm).
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def parse_root(signed):
    """A Root from the `signed` dict of root metadata, structure checked, signatures NOT: for a
    caller that orders the rotation checks itself (tuf.TrustedSet.update_root)."""
    version = signed.get("version")
    if not _is_int(version) or not 1 <= version <= VERSION_MAX:
        raise TrustError("root: bad version")
    spec = signed.get("spec_version")
    if not spec_supported(spec):
        raise TrustError("root: unsupported spec_version")
    consistent = signed.get("consistent_snapshot", False)
    if not isinstance(consistent, bool):
        raise TrustError("root: bad consistent_snapshot")
    key_objects = signed.get("keys")
    role_objects = signed.get("roles")
    if not isinstance(key_objects, dict) or not isinstance(role_objects, dict):
        raise TrustError("root: no keys/roles")
    keys = parse_keys(key_objects, "root")
    if sorted(role_objects) != list(ROLE_NAMES):
        raise TrustError("root: roles must be root/snapshot/targets/timestamp")
    roles = {}
    for name in ROLE_NAMES:
        roles[name] = parse_role(name, role_objects[name], "root")
    return Root(version, signed.get("expires"), keys, roles, consistent, spec)


def parse_keys(key_objects, where):
    """keyid -> public key for the usable keys of a `keys` object (a root's, or a delegating
    targets role's `delegations.keys`); raise TrustError naming `where` for a malformed one."""
    if not isinstance(key_objects, dict):
        raise TrustError(where + ": bad keys")
    keys = {}
    for keyid in sorted(key_objects):  # dict order differs between runtimes; the reason logged must not
        public = _check_key(keyid, key_objects[keyid], where)
        if public is not None:
            keys[keyid] = public
    return keys


def spec_supported(spec):
    """True for a spec_version this client reads (python-tuf's rule: X.Y or X.Y.Z, major 1)."""
    if not isinstance(spec, str):
        return False
    parts = spec.split(".")
    if len(parts) not in (2, 3):
        return False
    for part in parts:
        if not part or not all("0" <= c <= "9" for c in part):
            return False
    return parts[0] == "1"


def _check_key(keyid, obj, where):
    """Check one key entry; return its Ed25519 or P-256 public key, or None for another type."""
    if not isinstance(obj, dict):
        raise TrustError(where + ": bad key")
    keytype = obj.get("keytype")
    scheme = obj.get("scheme")
    keyval = obj.get("keyval")
    if not isinstance(keytype, str) or not isinstance(scheme, str) or not isinstance(keyval, dict):
        raise TrustError(where + ": bad key")
    try:
        computed = keyid_of(obj)
    except ValueError:
        raise TrustError(where + ": bad key")
    if computed != keyid:
        # Named only when it is hex: other text may parse differently on the two runtimes
        # (MicroPython splits an escaped surrogate pair), and the logged reason must not.
        shown = keyid[:16] if all(c in "0123456789abcdef" for c in keyid[:16]) else "(not hex)"
        raise TrustError(where + ": keyid mismatch " + shown)
    public = keyval.get("public")
    if (keytype, scheme) in _ECDSA_TYPES:
        # Refused, not skipped: a key the root names but the device cannot read fails closed,
        # as a malformed Ed25519 key does (python-tuf would only fail its signatures).
        key = _p256().public_key_from_pem(public)
        if key is None:
            raise TrustError(where + ": bad ecdsa key")
        return key
    if keytype != "ed25519" or scheme != "ed25519":
        return None
    if not isinstance(public, str) or len(public) != 64:
        raise TrustError(where + ": bad ed25519 key")
    try:
        return unhexlify(public)
    except ValueError:
        raise TrustError(where + ": bad ed25519 key")


def parse_role(name, obj, where):
    """(keyids tuple, threshold) of a role object: a root's role or a delegation entry."""
    if not isinstance(obj, dict):
        raise TrustError("%s: bad role %s" % (where, name))
    keyids = obj.get("keyids")
    threshold = obj.get("threshold")
    if not isinstance(keyids, list) or not _is_int(threshold) or threshold < 1:
        raise TrustError("%s: bad role %s" % (where, name))
    for keyid in keyids:
        if not isinstance(keyid, str):
            raise TrustError("%s: bad role %s" % (where, name))
    if len(set(keyids)) != len(keyids):
        # A repeated keyid would let one key count twice towards the threshold.
        raise TrustError("%s: duplicate keyid in %s" % (where, name))
    return (tuple(keyids), threshold)
