"""The trust anchor on the host: create a TUF root with python-tuf, load one with the device code.

`create_root` builds root metadata with python-tuf's Metadata API and signs it with
securesystemslib's CryptoSigner, so any TUF client reads it. It is written as compact JSON with
sorted keys, without whitespace. With Ed25519 keys only it is ASCII and the `signed` bytes in the
file already are their canonical form; an ECDSA key's PEM holds newlines, which the file escapes
and canonical JSON does not, so the device re-encodes `signed` (it always checks either way).

`load_root_file` reads a root with `mpboot_fw.trust.load_root`, the same check the device runs.
"""

from datetime import datetime, timedelta, timezone

from tuf.api.metadata import Metadata, Root
from tuf.api.serialization.json import JSONSerializer

from mpboot import keys as keymod
from mpboot.errors import MpbootError
from mpboot.fileio import read_input
from mpboot_fw import trust

ROLES = trust.ROLE_NAMES
U32_MAX = 0xFFFFFFFF


def create_root(root_keys, role_public_keys, thresholds=None, expires_days=365, version=1, now=None):
    """Signed root metadata bytes.

    root_keys: private keys of the root role, Ed25519 or P-256, in files or a token (each signs).
    role_public_keys: {"targets": [...], "snapshot": [...], "timestamp": [...]} public keys.
    thresholds: {role: n}, default 1 for every role.
    """
    thresholds = dict(thresholds or {})
    members = dict(role_public_keys)
    members["root"] = [k.public_key() for k in root_keys]
    if version < 1:
        raise MpbootError("--version must be at least 1")
    if version > U32_MAX:  # the device's state log keeps the root's version in 32 bits
        raise MpbootError("--version must be at most %d (a device stores it in 32 bits)" % U32_MAX)
    if expires_days < 1:
        raise MpbootError("--expires must be at least 1 day")
    now = now or datetime.now(timezone.utc)
    root = Root(version=version, expires=(now + timedelta(days=expires_days)).replace(microsecond=0),
                consistent_snapshot=True)
    for role in ROLES:
        public_keys = members.get(role) or []
        if not public_keys:
            raise MpbootError("no keys for the %s role: pass --%s-key" % (role, role))
        threshold = thresholds.get(role, 1)
        if threshold < 1:
            raise MpbootError("--%s-threshold must be at least 1" % role)
        ids = {keymod.tuf_key(k).keyid for k in public_keys}
        if threshold > len(ids):
            raise MpbootError(
                "--%s-threshold %d is more than the %d distinct %s key(s): the role could never sign"
                % (role, threshold, len(ids), role)
            )
        for public_key in public_keys:
            root.add_key(keymod.tuf_key(public_key), role)
        root.roles[role].threshold = threshold
    metadata = Metadata(root)
    for private_key in root_keys:
        keymod.sign_metadata(metadata, keymod.tuf_signer(private_key))
    data = metadata.to_bytes(JSONSerializer(compact=True))
    # The device must accept what we publish: check it with the device's own code.
    trust.load_root(data)
    return data


def load_root_file(path):
    """A root file checked as the device checks it, or one MpbootError line."""
    data = read_input(path, "root file")
    try:
        return trust.load_root(data)
    except trust.TrustError as e:
        raise MpbootError("root %s is not a valid signed root: %s" % (path, e)) from None
