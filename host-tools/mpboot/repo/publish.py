"""`mpboot publish`: add a signed image to the repository as a target.

Target path: `<board>/<channel>/<version>.mpb`, where board is the manifest's board, or the chip
name (esp32, esp32s3...) for an image made for any board of its chip. Its custom fields, copied
from the signed manifest, are what a device chooses by (docs/repository.md lists them).

Refusals, all before anything is written:
- the image does not verify against the repository's root exactly as a device would check it
  (a threshold of the targets role's keys, payload hash, structure): mpboot_fw.image;
- the same path already holds different bytes (a version names one build, for ever);
- on its board and channel, a version that is not newer than every published one, or a security
  version below the highest published one: devices would never take it (`--force` publishes it
  anyway, for fresh devices or a channel being reset).
Publishing the identical image again changes nothing and succeeds, so a retried CI job is safe.

With delegations the target goes into the role a device's search reaches for its path (the first
that delegates it no further, `delegations.role_for`), or into `role` if the search reaches that
one; the checks above look at every role, since a device compares what all of them list.
"""

import re
from functools import cmp_to_key

from tuf.api.metadata import TargetFile

from mpboot import boards, signing
from mpboot.errors import MpbootError
from mpboot.fileio import read_input
from mpboot.repo import delegations, layout
from mpboot_fw import trust, version as versions

SUFFIX = ".mpb"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")


def check_channel(channel):
    """Raise MpbootError unless `channel` is a name a repository publishes on (a device's
    configuration names one of these: any other it would follow for ever without an update)."""
    if not _NAME.match(channel):
        raise MpbootError("channel %r: use 1-32 lower-case letters, digits, '.', '_' or '-' (e.g. stable, beta)" % channel)


def publish(repo, keyring, image_path, channel, force=False, keep=None, now=None, role=None):
    """Add the image at `image_path` to `channel` (into targets role `role`, default: where a
    device looks for it); with `keep`, drop all but the newest `keep` versions of its board and
    channel in the same change. Returns a report dict."""
    _check_keep(keep)
    check_channel(channel)
    data = read_input(image_path, "image")
    manifest = _authorized_manifest(repo, data, image_path)
    boards.check_fits(len(data), manifest.board, manifest.chip_id, str(image_path))
    group = manifest.board or _chip_name(manifest.chip_id)
    path = "%s/%s/%s%s" % (group, channel, manifest.version, SUFFIX)
    target = TargetFile.from_data(path, data, ["sha256"])
    target.unrecognized_fields["custom"] = custom_fields(manifest, channel)
    listed = repo.listed_targets()
    report = {"target": path, "channel": channel, "version": manifest.version,
              "security_version": manifest.security_version, "sha256": target.hashes["sha256"], "length": target.length}
    if path in listed:
        holder, existing = listed[path]
        if existing.hashes == target.hashes and existing.length == target.length:
            return dict(report, role=holder, changed=False, note="already published in %s (identical image); nothing to do" % holder)
        raise MpbootError("%s is already published with different content: give the new build a new version" % path)
    role = report["role"] = delegations.role_for(repo.metadata, path, role)
    warnings = _check_channel(listed, group, channel, manifest, force)
    change = repo.change(keyring, now)
    change.edit(role).targets[path] = target
    listed[path] = (role, target)
    removed = _remove(change, _drop_old(listed, keep, path.rsplit("/", 1)[0])) if keep else []
    change.add_file(layout.target_file(repo.dir, path, target.hashes["sha256"]), data)
    versions_written = change.commit()
    return dict(report, changed=True, warnings=warnings, versions=versions_written, removed=removed,
                file=str(layout.target_file(repo.dir, path, target.hashes["sha256"])))


def prune(repo, keyring, keep, now=None):
    """Keep only the newest `keep` versions on every board/channel, over all roles. Target files
    stay on disk (a device may be in the middle of downloading one); only the metadata stops
    listing them."""
    _check_keep(keep)
    listed = repo.listed_targets()
    groups = sorted({p.rsplit("/", 1)[0] for p in listed})
    old = [entry for g in groups for entry in _drop_old(listed, keep, g)]
    if not old:
        return {"changed": False, "removed": []}
    change = repo.change(keyring, now)
    removed = _remove(change, old)
    return {"changed": True, "removed": removed, "versions": change.commit()}


def _drop_old(listed, keep, group):
    """[(path, role)] of all but the newest `keep` orderable versions of `group` ("board/channel")
    in `listed` ({path: (role, TargetFile)}). Entries whose version does not order stay."""
    entries = [(p, role, t.custom.get("version")) for p, (role, t) in listed.items()
               if p.rsplit("/", 1)[0] == group and isinstance(t.custom, dict) and _orders(t.custom.get("version"))]
    entries.sort(key=cmp_to_key(lambda a, b: versions.compare(b[2], a[2])))
    return [(p, role) for p, role, _ in entries[keep:]]


def _remove(change, entries):
    """Stop listing each (path, role) in `change`; returns the paths."""
    for path, role in entries:
        del change.edit(role).targets[path]
    return [path for path, _ in entries]


def custom_fields(manifest, channel):
    """The signed manifest's fields a device decides by, for the target's `custom` entry."""
    return {
        "board": manifest.board,
        "chip_id": manifest.chip_id,
        "channel": channel,
        "version": manifest.version,
        "security_version": manifest.security_version,
        "payload_len": manifest.payload_len,
        "payload_sha256": manifest.payload_sha256.hex(),
        "created": manifest.created,
    }


def _authorized_manifest(repo, data, image_path):
    # The device's own checks against the repository's current root: one implementation.
    try:
        root = trust.load_root(repo.raw["root"])
    except trust.TrustError as e:
        raise MpbootError("the repository's root does not load as a device would load it: %s" % e) from None
    try:
        manifest = signing.verify_image(data, root)
    except MpbootError as e:
        role = repo.root.roles["targets"]
        raise MpbootError(
            "%s is not authorized by this repository: %s; sign it with %d of the targets keys (keyids %s)"
            % (image_path, str(e).replace("invalid image: ", ""), role.threshold, ", ".join(k[:16] for k in role.keyids))
        ) from None
    if len(data) != manifest.length:
        raise MpbootError("%s has %d bytes after its signatures: publish the file `mpboot sign` wrote" % (image_path, len(data) - manifest.length))
    try:
        versions.parse(manifest.version)
    except ValueError:
        raise MpbootError(
            "%s has version %r: publishing needs versions that order, like 1.2.3 or 1.2.3-rc.1 (re-sign with such a --version)"
            % (image_path, manifest.version)
        ) from None
    if not _NAME.match(manifest.board or "x"):
        raise MpbootError("%s has board %r, which cannot name a target path" % (image_path, manifest.board))
    return manifest


def _check_channel(listed, group, channel, manifest, force):
    prefix = "%s/%s/" % (group, channel)
    published = [t.custom for p, (_, t) in listed.items() if p.startswith(prefix) and isinstance(t.custom, dict)]
    problems = []
    newest = None
    for custom in published:
        v = custom.get("version")
        if isinstance(v, str) and _orders(v) and (newest is None or versions.compare(v, newest) > 0):
            newest = v
    if newest is not None and versions.compare(manifest.version, newest) <= 0:
        problems.append("version %s is not newer than %s, already on %s" % (manifest.version, newest, prefix.rstrip("/")))
    floor = max([c.get("security_version", 0) for c in published if isinstance(c.get("security_version"), int)] or [0])
    if manifest.security_version < floor:
        problems.append("security version %d is below %d, already on %s" % (manifest.security_version, floor, prefix.rstrip("/")))
    if problems and not force:
        raise MpbootError("%s: devices on this channel would never install it (publish with --force to add it anyway)" % "; ".join(problems))
    return problems


def _check_keep(keep):
    if keep is not None and keep < 1:
        raise MpbootError("--keep must be at least 1 (the version just published stays)")


def _orders(text):
    try:
        versions.parse(text)
        return True
    except ValueError:
        return False


def _chip_name(chip_id):
    for chip in boards.CHIPS.values():
        if chip.chip_id == chip_id:
            return chip.name
    raise MpbootError("the image is for chip id %d, which mpboot has no board for" % chip_id)
