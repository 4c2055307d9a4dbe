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
"""

import re
from functools import cmp_to_key

from tuf.api.metadata import TargetFile

from mpboot import boards, signing
from mpboot.errors import MpbootError
from mpboot.fileio import read_input
from mpboot.repo import layout
from mpboot_fw import trust, version as versions

SUFFIX = ".mpb"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")


def check_channel(channel):
    """Raise MpbootError unless `channel` is a name a repository publishes on (a device's
    configuration names one of these: any other it would follow for ever without an update)."""
    if not _NAME.match(channel):
        raise MpbootError("channel %r: use 1-32 lower-case letters, digits, '.', '_' or '-' (e.g. stable, beta)" % channel)


def publish(repo, keyring, image_path, channel, force=False, keep=None, now=None):
    """Add the image at `image_path` to `channel`; with `keep`, drop all but the newest `keep`
    versions of its board and channel in the same change. Returns a report dict."""
    _check_keep(keep)
    check_channel(channel)
    data = read_input(image_path, "image")
    manifest = _authorized_manifest(repo, data, image_path)
    boards.check_fits(len(data), manifest.board, manifest.chip_id, str(image_path))
    group = manifest.board or _chip_name(manifest.chip_id)
    path = "%s/%s/%s%s" % (group, channel, manifest.version, SUFFIX)
    target = TargetFile.from_data(path, data, ["sha256"])
    target.unrecognized_fields["custom"] = custom_fields(manifest, channel)
    report = {"target": path, "channel": channel, "version": manifest.version,
              "security_version": manifest.security_version, "sha256": target.hashes["sha256"], "length": target.length}
    existing = repo.targets.targets.get(path)
    if existing is not None:
        if existing.hashes == target.hashes and existing.length == target.length:
            return dict(report, changed=False, note="already published (identical image); nothing to do")
        raise MpbootError("%s is already published with different content: give the new build a new version" % path)
    warnings = _check_channel(repo, group, channel, manifest, force)
    change = repo.change(keyring, now)
    targets = change.edit("targets").targets
    targets[path] = target
    removed = _drop_old(targets, keep, path.rsplit("/", 1)[0]) if keep else []
    change.add_file(layout.target_file(repo.dir, path, target.hashes["sha256"]), data)
    versions_written = change.commit()
    return dict(report, changed=True, warnings=warnings, versions=versions_written, removed=removed,
                file=str(layout.target_file(repo.dir, path, target.hashes["sha256"])))


def prune(repo, keyring, keep, now=None):
    """Keep only the newest `keep` versions on every board/channel. Target files stay on disk
    (a device may be in the middle of downloading one); only the metadata stops listing them."""
    _check_keep(keep)
    groups = sorted({p.rsplit("/", 1)[0] for p in repo.targets.targets})
    trial = dict(repo.targets.targets)
    if not [p for g in groups for p in _drop_old(trial, keep, g)]:
        return {"changed": False, "removed": []}
    change = repo.change(keyring, now)
    targets = change.edit("targets").targets
    removed = [p for g in groups for p in _drop_old(targets, keep, g)]
    return {"changed": True, "removed": removed, "versions": change.commit()}


def _drop_old(targets, keep, group):
    """Remove from `targets` all but the newest `keep` orderable versions of `group`
    ("board/channel"); return the removed paths. Entries whose version does not order stay."""
    entries = [(p, t.custom.get("version")) for p, t in targets.items()
               if p.rsplit("/", 1)[0] == group and isinstance(t.custom, dict) and _orders(t.custom.get("version"))]
    entries.sort(key=cmp_to_key(lambda a, b: versions.compare(b[1], a[1])))
    removed = [p for p, _ in entries[keep:]]
    for p in removed:
        del targets[p]
    return removed


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


def _check_channel(repo, group, channel, manifest, force):
    prefix = "%s/%s/" % (group, channel)
    published = [t.custom for p, t in repo.targets.targets.items() if p.startswith(prefix) and isinstance(t.custom, dict)]
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
