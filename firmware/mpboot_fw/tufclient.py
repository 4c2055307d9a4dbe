"""The TUF refresh workflow (spec 1.0.x, 5.3-5.6) over injected I/O: which metadata file comes
next, from which path, under which byte cap, and what is kept. The device updater and the host's
conformance adapter (mpboot/tufclient_cli.py) share it and differ only in these two:

fetch(path, max_length) -> the bytes of the repository file at `path` (relative to the metadata
    base URL), never more than max_length of them (a fetcher stops reading there and raises);
    None when the repository has no such file (HTTP 404 or 403). Other failures raise. The
    bytes need only last until the next fetch (the device reads every document into one
    buffer, tuf.DocumentBuffer): nothing here holds them past it.
store: load(role) -> the bytes last saved for `role`, or None;
    save(role, data) keeps `data` (exactly as received; a copy, if the fetch reuses its
    buffer) as the trusted copy of `role`.

Each accepted file is saved before the next one is fetched, so an interrupted refresh keeps
what it verified (a device's store must make each save power-safe). Checks are tuf.TrustedSet's.

Delegated targets roles (spec 5.6.7) are loaded on demand by the two searches, through the same
fetch and store (stored copy first, else `V.ROLE.json`, the role name URL-quoted):
target_info(trusted, path, fetch, store) for one exact path, python-tuf's pre-order depth-first
walk; find_targets(trusted, fetch, store, directory) for every target directly in a directory,
which is how a device finds its images and bundles (`<board or chip>/<channel>/`, see
directories()); find_image and find_bundle then choose among them by their custom fields.
"""

from mpboot_fw import delegations, tuf, version as versions


class NotFound(Exception):
    """The repository does not have a file the workflow needs."""


def refresh(trusted, fetch, store):
    """Bring `trusted` (a tuf.TrustedSet made from the stored root) up to date."""
    for step in STEPS:
        step(trusted, fetch, store)


# The chip-wide group of target paths (`mpboot publish`'s name for a chip, by ESP-IDF chip id).
CHIP_GROUPS = {0: "esp32", 5: "esp32c3", 9: "esp32s3"}


def target_info(trusted, path, fetch=None, store=None):
    """The trusted entry for target `path`, or None: python-tuf's pre-order depth-first search
    (ngclient's _preorder_depth_first_walk). From top-level targets, each role's own entry for
    `path` first, then the roles it delegates `path` to, in the order listed; each role once; a
    terminating delegation ends the search after its subtree; at most MAX_DELEGATIONS roles past
    top-level targets. Roles not yet loaded come from `store` or `fetch` (without a fetch, a
    search that needs one raises NotFound); any that fails its checks fails the search."""
    stack = [("targets", "root")]
    visited = []
    while stack and len(visited) <= tuf.MAX_DELEGATIONS:
        role, parent = stack.pop()
        if role in visited:
            continue
        signed = _load_role(trusted, fetch, store, role, parent)
        entry = signed["targets"].get(path)
        if entry is not None:
            return entry
        visited.append(role)
        delegated = trusted.delegations[role]
        if delegated is None:
            continue
        children = []
        for name, terminating in delegated.roles_for(path):
            children.append((name, role))
            if terminating:
                stack = []
                break
        children.reverse()
        stack.extend(children)
    return None


def find_targets(trusted, fetch, store, directory):
    """{path: entry} of the targets directly in `directory` (ends with "/"), each exactly as
    target_info(path) finds it: a target listed by a role counts only if the search for its path
    reaches that role first (a role can list paths outside what it was delegated).

    Visits, pre-order depth first, only the roles whose delegation could hold such a target (a
    `paths` pattern of one more component whose others match the directory; every hashed
    delegation), and stops after a terminating delegation that every search for such a target
    takes (it and every delegation above it hold them all). A role on that way that fails its
    checks fails the search (it could have held the newest image), and so does a way of more
    than MAX_DELEGATIONS roles (TooManyRoles: the answer would be incomplete)."""
    stack = [("targets", "root", True)]  # (role, delegated by, every target of `directory` reaches it)
    visited = []
    candidates = []
    while stack:
        role, parent, every = stack.pop()
        if role in visited:
            continue
        if len(visited) > tuf.MAX_DELEGATIONS:
            raise tuf.TooManyRoles("over %d roles hold %s" % (tuf.MAX_DELEGATIONS, directory[:48]))
        signed = _load_role(trusted, fetch, store, role, parent)
        visited.append(role)
        for path in signed["targets"]:
            if delegations.directly_in(path, directory) and path not in candidates:
                candidates.append(path)
        delegated = trusted.delegations[role]
        if delegated is None:
            continue
        children = []
        for name, terminating, all_held in delegated.roles_for_directory(directory):
            children.append((name, role, every and all_held))
            if terminating and every and all_held:
                stack = []
                break
        children.reverse()
        stack.extend(children)
    found = {}
    for path in candidates:
        entry = target_info(trusted, path, fetch, store)
        if entry is not None:
            found[path] = entry
    return found


def directories(chip_id, board, channel):
    """The directories a device's images are published in (`mpboot publish`): its board's and
    its chip's, for its channel (board first; an unknown chip or no board has none)."""
    out = []
    for group in (board, CHIP_GROUPS.get(chip_id)):
        if group and group + "/" + channel + "/" not in out:
            out.append(group + "/" + channel + "/")
    return out


def find_image(targets, chip_id, board, channel, floor, current=None, room=None, failed=()):
    """The image to install from trusted `targets` metadata: (path, entry) or None.

    Candidates are entries whose `custom` fields (written by `mpboot publish`, docs/ota.md) say:
    this `channel`; this `chip_id`; this `board`, or "" (any board of the chip); a
    `security_version` not below the device's `floor`; a `version` newer than `current` (SemVer
    precedence, mpboot_fw.version; None when nothing comparable runs); a `length` that fits in
    `room` bytes (the inactive slot; None: any), so that one release too large for this device
    never hides the installable one below it; a `version` not in `failed` (releases whose trial
    this device rolled back: offered again, each would fail again, an install and two resets per
    check). The newest wins, a board-specific build before a chip-wide one of the same version,
    then the smaller path. Entries with fields of the wrong type are skipped, and so are bundles
    (custom "bundle": find_bundle's). These fields only pre-select: install checks the signed
    manifest.
    """
    best = None
    for path, entry in targets["targets"].items():
        custom = entry.get("custom") if isinstance(entry, dict) else None
        if not isinstance(custom, dict) or custom.get("channel") != channel or custom.get("chip_id") != chip_id:
            continue
        if "bundle" in custom:  # a bundle's manifest shares the directory, never a firmware image
            continue
        length = entry.get("length")
        if room is not None and (not tuf.is_count(length) or length > room):
            continue
        best = _better(best, path, entry, custom, board, floor, current, failed)
    return None if best is None else best[:2]


def find_bundle(targets, name, channel, board, chip_id, floor, current=None, mpy=None, firmware=None, failed=()):
    """The bundle `name` to install from trusted `targets` metadata: (path, entry) or None.

    Candidates are entries whose `custom` fields (written by `mpboot publish` for a bundle,
    docs/repository.md "Bundles") say: bundle `name`; this `channel`; this `board`, or "" (any
    board); this `chip_id`, or null (any chip); a `security_version` not below `floor` (the
    bundle's own, statelog.bundle_floor); a `version` newer than `current` (the active copy's;
    None: any); `mpy` null or equal to the device's .mpy major version (`mpy`, as
    sys.implementation._mpy; None: not checked); `min_firmware` null or not newer than
    `firmware`, the running image's version (one that cannot be ordered meets no minimum; None:
    not checked), as bundle.check_device judges them, so a release this firmware cannot run
    never hides the one below it that it can; a `version` not in `failed` (as for find_image).
    The newest wins, a board-specific build before a generic one of the same version, then the smaller path; entries with fields of the wrong
    type are skipped. These fields only pre-select: the install checks the signed manifest.
    """
    best = None
    for path, entry in targets["targets"].items():
        custom = entry.get("custom") if isinstance(entry, dict) else None
        if not isinstance(custom, dict) or custom.get("bundle") != name or custom.get("channel") != channel:
            continue
        target_chip = custom.get("chip_id")
        if not (target_chip is None or (tuf.is_count(target_chip) and target_chip == chip_id)):
            continue
        need = custom.get("mpy")
        if need is not None and (not tuf.is_count(need) or (mpy is not None and need != mpy & 0xFF)):
            continue
        minimum = custom.get("min_firmware")
        if minimum is not None:
            try:
                versions.parse(minimum)
                # compare raises for a firmware version that cannot be ordered: it meets no minimum
                fits = firmware is None or versions.compare(firmware, minimum) >= 0
            except ValueError:
                fits = False
            if not fits:
                continue
        best = _better(best, path, entry, custom, board, floor, current, failed)
    return None if best is None else best[:2]


def _better(best, path, entry, custom, board, floor, current, failed):
    """`best` or (path, entry, version, board) of this entry, whichever the device takes: the
    rules find_image and find_bundle share (board, security floor, newer version, ties)."""
    target_board = custom.get("board")
    security = custom.get("security_version")
    version = custom.get("version")
    if target_board not in (board, "") or not tuf.is_count(security) or security < floor or version in failed:
        return best
    try:
        versions.parse(version)
        if current is not None and versions.compare(version, current) <= 0:
            return best
        order = 1 if best is None else versions.compare(version, best[2])
    except ValueError:
        return best
    if order == 0 and bool(target_board) == bool(best[3]):
        order = 1 if path < best[0] else -1  # a tie: not by dict order, which the runtimes differ in
    if order > 0 or (order == 0 and target_board and not best[3]):
        return (path, entry, version, target_board)
    return best


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


def _load_role(trusted, fetch, store, role, parent):
    """The trusted signed dict of targets role `role` as delegated by `parent`: already loaded,
    else the stored copy if it still verifies, else fetched and saved (python-tuf's
    _load_targets)."""
    if trusted.loaded(role, parent):
        return trusted.targets_roles[role]
    if store is not None:
        if _load_local(lambda data: trusted.update_delegated_targets(data, role, parent), store.load(role)):
            return trusted.targets_roles[role]
    meta = trusted.snapshot["meta"].get(role + ".json")
    if meta is None:
        raise tuf.BadMetadata("snapshot lacks " + delegations.shown(role))
    if fetch is None:
        raise NotFound(tuf.metadata_path(role))
    data = _fetch_listed(trusted, fetch, role, meta, tuf.TARGETS_MAX)
    signed = trusted.update_delegated_targets(data, role, parent)
    if store is not None:
        store.save(role, data)
    return signed


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
