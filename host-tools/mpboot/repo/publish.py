"""`mpboot publish`: add a signed image, or a signed bundle, to the repository as a target.

Image target path: `<board>/<channel>/<version>.mpb`, where board is the manifest's board, or the
chip name (esp32, esp32s3...) for an image made for any board of its chip. Its custom fields,
copied from the signed manifest, are what a device chooses by (docs/repository.md lists them).

A bundle (.mpbundle, docs/bundles.md) becomes the target `<board or chip>/<channel>/NAME-VERSION.mpbm`
holding exactly its signed manifest, and its files go to files/sha256/<hex> (repo/bundles.py). A
bundle made for any board and any chip names its directory with --board or --chip.

Refusals, all before anything is written:
- the image or bundle does not verify against the repository's root exactly as a device would
  check it (a threshold of the targets role's keys, payload hash or file hashes, structure):
  mpboot_fw.image, mpboot_fw.bundle;
- the same path already holds different bytes (a version names one build, for ever);
- on its board and channel (for a bundle: that bundle name on its directory), a version that is
  not newer than every published one, or a security version below the highest published one:
  devices would never take it (`--force` publishes it anyway, for fresh devices or a channel
  being reset).
Publishing the identical image or bundle again changes nothing and succeeds, so a retried CI job
is safe (a bundle's files missing from files/ are written again).

With delegations the target goes into the role a device's search reaches for its path (the first
that delegates it no further, `delegations.role_for`), or into `role` if the search reaches that
one; the checks above look at every role, since a device compares what all of them list.
"""

import io
import re
from functools import cmp_to_key

from tuf.api.metadata import TargetFile

from mpboot import boards, bundle as hostbundle, signing
from mpboot.errors import MpbootError
from mpboot.fileio import atomic_write, read_input
from mpboot.repo import bundles, delegations, layout
from mpboot_fw import bundle as fmt, trust, version as versions

SUFFIX = ".mpb"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")


def check_channel(channel):
    """Raise MpbootError unless `channel` is a name a repository publishes on (a device's
    configuration names one of these: any other it would follow for ever without an update)."""
    if not _NAME.match(channel):
        raise MpbootError("channel %r: use 1-32 lower-case letters, digits, '.', '_' or '-' (e.g. stable, beta)" % channel)


def publish(repo, keyring, image_path, channel, force=False, keep=None, now=None, role=None, board=None, chip=None):
    """Add the image or bundle at `image_path` to `channel` (into targets role `role`, default:
    where a device looks for it); with `keep`, drop all but the newest `keep` versions of its
    board and channel (a bundle: of that bundle there) in the same change. `board`/`chip`: the
    directory of a bundle made for any board and chip. Returns a report dict."""
    _check_keep(keep)
    check_channel(channel)
    data = read_input(image_path, "image or bundle")
    if hostbundle.is_bundle(data):
        item = _bundle_item(repo, data, image_path, channel, board, chip)
    elif board is not None or chip is not None:
        raise MpbootError("--board and --chip are for a bundle made for any board: an image's own manifest names its "
                          "board and chip")
    else:
        item = _image_item(repo, data, image_path, channel)
    path = item["path"]
    target = TargetFile.from_data(path, item["data"], ["sha256"])
    target.unrecognized_fields["custom"] = item["custom"]
    listed = repo.listed_targets()
    report = dict(item["report"], target=path, channel=channel, sha256=target.hashes["sha256"], length=target.length)
    files = item.get("files", [])
    if path in listed:
        holder, existing = listed[path]
        if existing.hashes == target.hashes and existing.length == target.length:
            for location, content in files:  # a retried publish restores what files/ lost since
                location.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(location, content)
            note = "already published in %s (identical %s); nothing to do" % (holder, item["kind"])
            if files:
                note = "already published in %s; wrote %d missing file(s) to files/" % (holder, len(files))
            return dict(report, role=holder, changed=False, note=note, stored=[str(p) for p, _ in files])
        raise MpbootError("%s is already published with different content: give the new build a new version" % path)
    role = report["role"] = delegations.role_for(repo.metadata, path, role)
    warnings = _check_channel(listed, group_of(path, item["custom"]), item["where"], item["version"],
                              item["security_version"], force)
    change = repo.change(keyring, now)
    change.edit(role).targets[path] = target
    listed[path] = (role, target)
    removed = _remove(change, _drop_old(listed, keep, group_of(path, item["custom"]))) if keep else []
    for location, content in files:  # before any metadata names them (Change writes in order)
        change.add_file(location, content)
    change.add_file(layout.target_file(repo.dir, path, target.hashes["sha256"]), item["data"])
    versions_written = change.commit()
    return dict(report, changed=True, warnings=warnings, versions=versions_written, removed=removed,
                file=str(layout.target_file(repo.dir, path, target.hashes["sha256"])),
                stored=[str(p) for p, _ in files])


def _image_item(repo, data, image_path, channel):
    manifest = _authorized_manifest(repo, data, image_path)
    boards.check_fits(len(data), manifest.board, manifest.chip_id, str(image_path))
    group = manifest.board or _chip_name(manifest.chip_id)
    return {"kind": "image", "path": "%s/%s/%s%s" % (group, channel, manifest.version, SUFFIX), "data": data,
            "custom": custom_fields(manifest, channel), "version": manifest.version,
            "security_version": manifest.security_version, "where": "%s/%s" % (group, channel),
            "report": {"kind": "image", "version": manifest.version, "security_version": manifest.security_version}}


def _bundle_item(repo, data, source, channel, board, chip):
    try:
        b = fmt.verify_stream(io.BytesIO(data), device_root(repo))
    except fmt.BundleError as e:
        hint = ""
        if e.reason == "signature-threshold":
            role = repo.root.roles["targets"]
            hint = "; sign it with %d of the targets keys (keyids %s)" % (role.threshold, ", ".join(k[:16] for k in role.keyids))
        raise MpbootError("%s is not a bundle this repository can publish: %s%s" % (source, hostbundle.describe(e), hint)) from None
    group, target_board, chip_id = _bundle_place(b, board, chip, source)
    stored = bundles.contents(data, b)
    return {"kind": "bundle", "path": "%s/%s/%s-%s%s" % (group, channel, b.name, b.version, bundles.SUFFIX),
            "data": bytes(b.manifest), "custom": bundles.custom_fields(b, channel, target_board, chip_id),
            "version": b.version, "security_version": b.security_version,
            "where": "%s/%s for bundle %s" % (group, channel, b.name), "files": bundles.writes(repo.dir, stored),
            "report": {"kind": "bundle", "bundle": b.name, "version": b.version, "security_version": b.security_version,
                       "files": len(b.files), "total": b.total, "board": target_board, "chip_id": chip_id,
                       "distinct_files": len(stored)}}


def _bundle_place(b, board, chip, source):
    """(directory group, custom board, custom chip_id) of bundle `b`: its manifest's board (else
    --board), its chip (else --chip, else the board's); --board/--chip only narrow a bundle made
    for any board or chip, never contradict it."""
    if b.board is not None and board not in (None, b.board):
        raise MpbootError("%s is made for board %s: publish it without --board" % (source, b.board))
    board = b.board or board
    chip_id = None
    if chip is not None:
        if chip not in boards.CHIPS:
            raise MpbootError("--chip %s: use one of %s" % (chip, ", ".join(boards.CHIPS)))
        chip_id = boards.CHIPS[chip].chip_id
    if board is not None and not _NAME.match(board):
        raise MpbootError("%s: board %r cannot name a target path (1-32 of a-z 0-9 . _ -)" % (source, board))
    board_chip = boards.load_board(board).chip_id if board in boards.list_boards() else None
    for given, what in ((chip_id, "--chip %s" % chip), (board_chip, "board %s" % board)):
        if given is not None and b.chip_id is not None and given != b.chip_id:
            raise MpbootError("%s is made for %s, not %s" % (source, signing.chip_name(b.chip_id), what))
    if chip_id is not None and board_chip is not None and chip_id != board_chip:
        raise MpbootError("board %s is an %s board, not --chip %s" % (board, signing.chip_name(board_chip), chip))
    chip_id = next((c for c in (b.chip_id, chip_id, board_chip) if c is not None), None)
    if board is None and chip_id is None:
        raise MpbootError("%s is made for any board and any chip: give --board BOARD or --chip CHIP, the directory "
                          "devices of that board or chip look in (publish it once for each)" % source)
    return board or _chip_name(chip_id), board or "", chip_id


def group_of(path, custom):
    """What publish's checks and --keep compare a target with: (its directory, its bundle name, or
    None for a firmware image). Images and each bundle on a board and channel order separately."""
    return path.rsplit("/", 1)[0], bundles.bundle_name(custom)


def prune(repo, keyring, keep, now=None):
    """Keep only the newest `keep` versions on every board/channel, over all roles. Target files
    stay on disk (a device may be in the middle of downloading one); only the metadata stops
    listing them."""
    _check_keep(keep)
    listed = repo.listed_targets()
    groups = sorted({group_of(p, t.custom) for p, (_, t) in listed.items()}, key=repr)
    old = [entry for g in groups for entry in _drop_old(listed, keep, g)]
    if not old:
        return {"changed": False, "removed": []}
    change = repo.change(keyring, now)
    removed = _remove(change, old)
    return {"changed": True, "removed": removed, "versions": change.commit()}


def _drop_old(listed, keep, group):
    """[(path, role)] of all but the newest `keep` orderable versions of `group` (group_of) in
    `listed` ({path: (role, TargetFile)}). Entries whose version does not order stay."""
    entries = [(p, role, t.custom.get("version")) for p, (role, t) in listed.items()
               if group_of(p, t.custom) == group and isinstance(t.custom, dict) and _orders(t.custom.get("version"))]
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


def device_root(repo):
    """The repository's current root as a device loads it (mpboot_fw.trust)."""
    try:
        return trust.load_root(repo.raw["root"])
    except trust.TrustError as e:
        raise MpbootError("the repository's root does not load as a device would load it: %s" % e) from None


def _authorized_manifest(repo, data, image_path):
    # The device's own checks against the repository's current root: one implementation.
    root = device_root(repo)
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


def _check_channel(listed, group, where, version, security_version, force):
    """The --force checks against the targets of `group` (group_of) already listed."""
    published = [t.custom for p, (_, t) in listed.items() if group_of(p, t.custom) == group and isinstance(t.custom, dict)]
    problems = []
    newest = None
    for custom in published:
        v = custom.get("version")
        if isinstance(v, str) and _orders(v) and (newest is None or versions.compare(v, newest) > 0):
            newest = v
    if newest is not None and versions.compare(version, newest) <= 0:
        problems.append("version %s is not newer than %s, already on %s" % (version, newest, where))
    floor = max([c.get("security_version", 0) for c in published if isinstance(c.get("security_version"), int)] or [0])
    if security_version < floor:
        problems.append("security version %d is below %d, already on %s" % (security_version, floor, where))
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
    raise MpbootError("it is made for chip id %d, which mpboot has no board for" % chip_id)
