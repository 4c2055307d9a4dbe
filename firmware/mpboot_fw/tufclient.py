"""The TUF refresh workflow (spec 1.0.x, 5.3-5.6) over injected I/O: which metadata file comes
next, from which path, under which byte cap, and what is kept. The device updater and the host's
conformance adapter (mpboot/tufclient_cli.py) share it and differ only in these two:

fetch(path, max_length) -> the bytes of the repository file at `path` (relative to the metadata
    base URL), never more than max_length of them (a fetcher stops reading there and raises);
    None when the repository has no such file (HTTP 404 or 403). Other failures raise.
store: load(role) -> the bytes last saved for `role`, or None;
    save(role, data) keeps `data` (exactly as received) as the trusted copy of `role`.

Each accepted file is saved before the next one is fetched, so an interrupted refresh keeps
what it verified (a device's store must make each save power-safe). Checks are tuf.TrustedSet's.
"""

from mpboot_fw import tuf, version as versions


class NotFound(Exception):
    """The repository does not have a file the workflow needs."""


def refresh(trusted, fetch, store):
    """Bring `trusted` (a tuf.TrustedSet made from the stored root) up to date."""
    for step in STEPS:
        step(trusted, fetch, store)


def target_info(trusted, path):
    """The trusted entry for target `path`, or None. Top-level targets only: a delegation walk
    (pre-order depth-first, spec 5.6.7) would load roles via trusted.update_delegated_targets."""
    return trusted.targets["targets"].get(path)


def find_image(targets, chip_id, board, channel, floor, current=None, room=None):
    """The image to install from trusted `targets` metadata: (path, entry) or None.

    Candidates are entries whose `custom` fields (written by `mpboot publish`, docs/ota.md) say:
    this `channel`; this `chip_id`; this `board`, or "" (any board of the chip); a
    `security_version` not below the device's `floor`; a `version` newer than `current` (SemVer
    precedence, mpboot_fw.version; None when nothing comparable runs); a `length` that fits in
    `room` bytes (the inactive slot; None: any), so that one release too large for this device
    never hides the installable one below it. The newest wins, a board-specific build before a
    chip-wide one of the same version, then the smaller path. Entries with fields of the wrong
    type are skipped. These fields only pre-select: install checks the signed manifest.
    """
    best = None
    for path, entry in targets["targets"].items():
        custom = entry.get("custom") if isinstance(entry, dict) else None
        if not isinstance(custom, dict) or custom.get("channel") != channel or custom.get("chip_id") != chip_id:
            continue
        length = entry.get("length")
        if room is not None and (not tuf.is_count(length) or length > room):
            continue
        target_board = custom.get("board")
        security = custom.get("security_version")
        version = custom.get("version")
        if target_board not in (board, "") or not tuf.is_count(security) or security < floor:
            continue
        try:
            versions.parse(version)
            if current is not None and versions.compare(version, current) <= 0:
                continue
            order = 1 if best is None else versions.compare(version, best[2])
        except ValueError:
            continue
        if order == 0 and bool(target_board) == bool(best[3]):
            order = 1 if path < best[0] else -1  # a tie: not by dict order, which the runtimes differ in
        if order > 0 or (order == 0 and target_board and not best[3]):
            best = (path, entry, version, target_board)
    return None if best is None else best[:2]


def _update_root(trusted, fetch, store):
    # 5.3.2-5.3.9: one version at a time until the repository has no N+1.
    for _ in range(tuf.MAX_ROOT_ROTATIONS):
        data = fetch(tuf.metadata_path("root", trusted.root.version + 1), tuf.ROOT_MAX)
        if data is None:
            return
        trusted.update_root(data)
        store.save("root", data)


def _update_timestamp(trusted, fetch, store):
    _load_local(trusted.update_timestamp, store.load("timestamp"))
    data = _fetch(fetch, tuf.metadata_path("timestamp"), tuf.TIMESTAMP_MAX)
    try:
        trusted.update_timestamp(data)
    except tuf.EqualVersion:
        return  # nothing new: keep the stored copy
    store.save("timestamp", data)


def _update_snapshot(trusted, fetch, store):
    if _load_local(lambda data: trusted.update_snapshot(data, trusted=True), store.load("snapshot")):
        return
    # The same verdict as the remote snapshot's check would give, without downloading it: an
    # unchanged timestamp that has expired (a freeze) fails every check until it is renewed.
    trusted.check_final_timestamp()
    meta = trusted.timestamp["meta"]["snapshot.json"]
    data = _fetch_listed(trusted, fetch, "snapshot", meta, tuf.SNAPSHOT_MAX)
    trusted.update_snapshot(data)
    store.save("snapshot", data)


def _update_targets(trusted, fetch, store):
    if _load_local(trusted.update_targets, store.load("targets")):
        return
    meta = trusted.snapshot["meta"].get("targets.json")
    if meta is None:
        raise tuf.BadMetadata("snapshot lacks targets")
    data = _fetch_listed(trusted, fetch, "targets", meta, tuf.TARGETS_MAX)
    trusted.update_targets(data)
    store.save("targets", data)


# refresh() one role at a time (root, timestamp, snapshot, targets), for a caller that pauses
# between them: the updater runs as a generator, so its heap can be read at each step.
STEPS = (_update_root, _update_timestamp, _update_snapshot, _update_targets)


def _load_local(update, data):
    """Try the stored copy; True if it loaded as final. A stored copy that fails (expired, or
    signed by keys a new root rotated out) is only skipped: the remote one must then pass."""
    if data is None:
        return False
    try:
        update(data)
        return True
    except tuf.RepositoryError:
        return False


def _fetch_listed(trusted, fetch, role, meta, cap):
    # 5.5.1/5.6.1: at most the listed length (or the cap), version-prefixed when consistent.
    length = meta.get("length")
    if length is not None and length > cap:
        raise tuf.TooLarge("%s lists %d bytes" % (role, length))
    version = meta["version"] if trusted.root.consistent_snapshot else None
    return _fetch(fetch, tuf.metadata_path(role, version), length or cap)


def _fetch(fetch, path, max_length):
    data = fetch(path, max_length)
    if data is None:
        raise NotFound(path)
    return data
