"""Keeping a repository alive: the timestamp cron job, renewing a role, rotating keys.

`refresh_timestamp` re-signs timestamp.json every run; it also re-signs the snapshot once less
than half of the snapshot's lifetime is left, so a cron job alone keeps both online roles fresh.
The offline roles (root, targets, the delegated roles) it only warns about: renewing them is a
signing ceremony.

`rotate` changes a role's keys or threshold in a new root (N+1.root.json, signed by a threshold
of the current root keys and of the new root's keys, as clients require), then re-signs the
rotated role with its new keys so that nothing current is signed by a removed key. The targets
keys also sign the images, and a device checks its running image against the newest root it
stored: a targets rotation that leaves a listed image below the new threshold would leave devices
running it unable to boot it, so `rotate` refuses it unless forced (docs/repository.md).
"""

import os
from datetime import timedelta

from mpboot import keys as keymod
from mpboot.errors import MpbootError
from mpboot.repo import bundles, layout
from mpboot.repo import settings as settings_mod
from mpboot_fw import bundle, image, trust
from mpboot_fw.blockdev import BytesDevice


def refresh_timestamp(repo, keyring, lifetime=None, now=None):
    change = repo.change(keyring, now)
    notes = []
    change.edit("timestamp")
    if lifetime:
        change.renew_expiry("timestamp", lifetime)
    snapshot_left = repo.snapshot.expires - change.now
    if snapshot_left < timedelta(seconds=repo.settings.lifetimes["snapshot"] // 2):
        role = repo.root.roles["snapshot"]
        try:
            keyring.signers("snapshot", role.keyids, role.threshold)
            change.edit("snapshot")
            notes.append("snapshot re-signed (it had %s left)" % describe_left(snapshot_left))
        except MpbootError as e:
            notes.append("WARNING: snapshot expires in %s and cannot be re-signed here: %s" % (describe_left(snapshot_left), e))
    for role in repo.targets_roles + ["root"]:
        left = repo.metadata[role].signed.expires - change.now
        if left < timedelta(seconds=repo.settings.lifetime(role) // 4):
            notes.append("WARNING: %s expires in %s: renew it with `mpboot repo renew %s --role %s` where its keys are"
                         % (role, describe_left(left), repo.dir, role))
    written = change.commit()
    return {"versions": written, "expires": {r: change.new[r].signed.expires.strftime("%Y-%m-%dT%H:%M:%SZ") for r in written},
            "notes": notes}


def renew(repo, keyring, role, lifetime=None, now=None):
    """A new version of `role` (top-level or delegated) with a fresh expiry (and whatever that
    cascades to)."""
    if role not in repo.metadata:
        raise MpbootError("--role %s: no such role (the repository has %s)" % (role, ", ".join(list(layout.ROLES) + repo.targets_roles[1:])))
    change = repo.change(keyring, now)
    change.edit(role)
    if lifetime:
        change.renew_expiry(role, lifetime)
    written = change.commit(root_signers=_root_signers(repo, keyring) if role == "root" else None)
    return {"versions": written, "expires": change.new[role].signed.expires.strftime("%Y-%m-%dT%H:%M:%SZ")}


def rotate(repo, keyring, role, add=(), remove=(), threshold=None, now=None, force=False):
    """Add keys (files: private or .pub), remove keys (keyid, unique keyid prefix, or key file),
    and/or set the threshold of `role`, in a new root version. Refuses a targets rotation under
    which a listed image no longer verifies, unless `force` (then the report lists them)."""
    if not (add or remove or threshold is not None):
        raise MpbootError("nothing to rotate: give --add-key, --remove-key and/or --threshold")
    if threshold is not None and threshold < 1:
        raise MpbootError("--threshold must be at least 1")
    before = set(repo.root.roles["root"].keyids)
    change = repo.change(keyring, now)
    root = change.edit("root")
    added = []
    for path in add:
        public = keymod.load_public_key(path, keyring.passphrase)
        key = keymod.tuf_key(public)
        if key.keyid in root.roles[role].keyids:
            raise MpbootError("%s is already a %s key (keyid %s)" % (path, role, key.keyid[:16]))
        root.add_key(key, role)
        added.append((key.keyid, private_file(path)))
    removed = []
    for ref in remove:
        keyid = resolve_keyid(ref, root.roles[role].keyids, role, keyring)
        root.revoke_key(keyid, role)
        removed.append(keyid)
    if threshold is not None:
        root.roles[role].threshold = threshold
    n = len(root.roles[role].keyids)
    if root.roles[role].threshold > n:
        raise MpbootError("%s would have threshold %d with %d key(s): it could never sign (add keys or lower --threshold)"
                          % (role, root.roles[role].threshold, n))
    stranded = stranded_targets(repo, root) if role == "targets" else []
    if stranded and not force:
        raise MpbootError(
            "devices would be stranded: %s %s signed by fewer than %d of the new targets keys, so a device that "
            "takes this root can no longer boot it; add the new key first (--add-key alone), publish images "
            "signed by it, then remove the old key once no listed image needs it (mpboot repo prune), or --force "
            "(a compromised key)" % (_some(stranded), "is" if len(stranded) == 1 else "are", root.roles[role].threshold))
    # Signers know the new keys from here on: the ones added with their private file, or
    # named on the command line.
    for keyid, private in added:
        if private is not None:
            repo.settings.remember_key(repo.dir, role, keyid, private)
            if role in keyring.given:
                keyring.given[role].append(private)
    if role != "root":
        change.edit(role)  # re-signed by the new key set now, not at the next publish
    root_keyids = before | set(root.roles["root"].keyids)
    written = change.commit(root_signers=keyring.signers("root", root_keyids))
    for keyid in removed:  # only now: a removed root key still had to sign the new root
        repo.settings.forget_key(role, keyid)
    settings_mod.save(repo.dir, repo.settings)
    return {
        "role": role,
        "versions": written,
        "keyids": list(root.roles[role].keyids),
        "threshold": root.roles[role].threshold,
        "added": [k for k, _ in added],
        "removed": removed,
        "stranded": stranded,
        "root": str(layout.metadata_file(repo.dir, "root", root.version)),
    }


def stranded_targets(repo, root):
    """The listed targets whose image (or bundle manifest) a threshold of `root`'s targets keys did not sign (`root`:
    the signed part of a new root), checked with the device's own code: the boot stage verifies
    its running image against the newest root it stored, so devices running them could not boot
    them once they take that root. Target files that are missing or damaged are `repo status`'s
    business, not counted here."""
    anchor = trust.parse_root(root.to_dict())
    stranded = []
    for path, (_, target) in sorted(repo.listed_targets().items()):
        try:
            data = layout.target_file(repo.dir, path, target.hashes.get("sha256")).read_bytes()
            if bundles.bundle_name(target.custom) is not None:
                # A bundle's kept manifest is checked against the stored root on every boot
                # (policy every-boot) and at each trial: the same stranding as an image.
                bundle.load_manifest(data, anchor)
            else:
                image.verify_slot(BytesDevice(data), anchor)
        except OSError:
            continue
        except (image.ImageError, bundle.BundleError) as e:
            if e.reason == "signature-threshold":
                stranded.append(path)
    return stranded


def _some(paths, shown=3):
    return ", ".join(paths[:shown]) + (" and %d more" % (len(paths) - shown) if len(paths) > shown else "")


def _root_signers(repo, keyring):
    return keyring.signers("root", repo.root.roles["root"].keyids)


def private_file(path):
    """The private key file for a key given as KEYFILE or KEYFILE.pub, if it is at hand."""
    text = str(path)
    if text.endswith(keymod.PUBLIC_SUFFIX):
        candidate = text[: -len(keymod.PUBLIC_SUFFIX)]
        try:
            with open(candidate, "rb") as f:
                return candidate if b"PRIVATE KEY-----" in f.read() else None
        except OSError:
            return None
    return text


def resolve_keyid(ref, keyids, role, keyring):
    if keymod.is_uri(ref) or os.path.exists(ref):
        keyid = keymod.tuf_key(keymod.load_public_key(ref, keyring.passphrase)).keyid
        matches = [keyid] if keyid in keyids else []
    else:
        text = str(ref).lower()
        matches = [k for k in keyids if k.startswith(text)] if len(text) >= 8 else []
    if len(matches) != 1:
        raise MpbootError("--remove-key %s: not a %s key, by key file or unique keyid prefix of 8+ hex digits (the role has %s)"
                          % (ref, role, ", ".join(k[:16] for k in keyids)))
    return matches[0]


def describe_left(delta):
    """'3d04h', '5h20m', or 'expired' for the time until an expiry."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "expired"
    if seconds >= 86400:
        return "%dd%02dh" % (seconds // 86400, seconds % 86400 // 3600)
    return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)
