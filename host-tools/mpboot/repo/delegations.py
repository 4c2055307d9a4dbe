"""Delegated targets roles: `mpboot repo delegate`, `repo rotate-delegation`, and the search a
device makes through them.

A delegated role is a targets role of its own (`N.ROLE.json`, listed in the snapshot) with its own
keys and threshold, trusted by the role that delegates to it (top-level targets, or another
delegated role) for the target paths its `paths` patterns match. Target paths are
`<board>/<channel>/<version>.mpb`, so the easy layout is a role per board (paths
`["esp32-4mb/*/*"]`) or per board and channel: a device searching for its board's targets then
fetches only the roles on its path, and each role stays under the device's 12 KiB cap.

Hashed bins (`--hashed-bins N`) split one role's targets over N bin roles by the SHA-256 of the
target path (`path_hash_prefixes`), the spec's layout for very large flat sets looked up by exact
name. A device looking for "the newest image of my board" searches by prefix, not by name, so it
must fetch every bin: bins suit exact-name lookups, a role per board suits mpboot's updater.

The search is TUF's (spec 5.6.7) as python-tuf's ngclient makes it: pre-order depth first from
top-level targets, delegations in the order listed, each role visited once, a terminating
delegation ends the search after its subtree, at most MAX_DELEGATIONS roles after top-level
targets. `publish` uses it to put a target where a device will look for it, and `repo status` to
check every target is found.

The device's byte caps bound the tree: the snapshot (8 KiB) lists every role in about 130 bytes,
so some 60 roles in all, and a delegating role (12 KiB) spends about 170 bytes per delegation;
that keeps every role below the 64 delegations and 64 keys a device reads in one role.

Policy: a delegated role's keys are its own. A key of a top-level role is refused: a targets key
would let one compromise give both roles, and root, snapshot or timestamp keys are either kept
for root ceremonies or online. Keys may be shared between delegated roles (the bins of a role
share its keys). Delegations are only ever added: devices refuse a snapshot that stops listing
a role they know (spec 5.5.5), so a role that is no longer wanted keeps its (empty) metadata.
"""

import fnmatch

from tuf.api.metadata import DelegatedRole, Delegations, Metadata, Targets

from mpboot import keys as keymod
from mpboot.errors import MpbootError
from mpboot.repo import layout, settings as settings_mod
from mpboot.repo.maintain import private_file, resolve_keyid

# Delegated roles a device visits at most in one search besides top-level targets (spec 5.6.7's
# maximum number of delegations; ngclient's max_delegations, and the device's tufclient).
MAX_DELEGATIONS = 32
BIN_COUNTS = tuple(2 ** n for n in range(1, 11))  # 2 .. 1024
# Every target path mpboot publishes: BOARD/CHANNEL/VERSION.mpb. A pattern with another number of
# components never matches one (python-tuf compares component by component).
PATH_COMPONENTS = 3


def delegators(metadata):
    """{delegated role: the role that delegates it} over `metadata` ({role: Metadata})."""
    parents = {}
    for name, md in metadata.items():
        signed = md.signed
        if isinstance(signed, Targets) and signed.delegations is not None:
            for child in signed.delegations.roles or {}:
                parents[child] = name
    return parents


def visits(metadata, path):
    """The roles a device visits, in order, looking for `path`, up to the one that lists it. A
    role without metadata (a damaged repository) is a dead end, as a failed download is."""
    stack = ["targets"]
    visited = set()
    while stack and len(visited) <= MAX_DELEGATIONS:
        role = stack.pop()
        if role in visited:
            continue
        visited.add(role)
        md = metadata.get(role)
        if md is None:
            continue
        yield role
        if path in md.signed.targets:
            return
        if md.signed.delegations is None:
            continue
        children = []
        for child, terminating in md.signed.delegations.get_roles_for_target(path):
            children.append(child)
            if terminating:
                stack = []
                break
        stack.extend(reversed(children))


def found_in(metadata, path):
    """The role a device takes `path` from (the first visited that lists it), or None."""
    for role in visits(metadata, path):
        if path in metadata[role].signed.targets:
            return role
    return None


def role_for(metadata, path, role=None):
    """The role a new target `path` goes into: `role` if a device's search reaches it, else (no
    `role`) the first role the search reaches that delegates the path no further."""
    visited = list(visits(metadata, path))
    if role is not None:
        if role not in metadata or metadata[role].signed.type != "targets":
            raise MpbootError("--role %s: no such targets role (the repository has %s)"
                              % (role, ", ".join(r for r in metadata if metadata[r].signed.type == "targets")))
        if role not in visited:
            raise MpbootError("%s is not delegated %s: a device looking for it visits %s and never %s; publish without "
                              "--role, or delegate the path to it" % (role, path, ", ".join(visited), role))
        return role
    for role in visited:
        delegations = metadata[role].signed.delegations
        if delegations is None or not list(delegations.get_roles_for_target(path)):
            return role
    raise MpbootError("%s: a device's search visits %d roles (%s) without reaching one that holds it: make the "
                      "delegation tree shallower" % (path, len(visited), ", ".join(visited)))


def check_role_name(role, existing):
    if not layout.ROLE_NAME.match(role or ""):
        raise MpbootError("role name %r: use 1-48 lower-case letters, digits, '-' or '_', starting with a letter or "
                          "digit (it names the file N.ROLE.json)" % role)
    if role in layout.ROLES:
        raise MpbootError("%s is a top-level role: a delegated role needs a name of its own (e.g. the board's)" % role)
    if role in existing:
        raise MpbootError("the repository already has a role %s: choose another name (`mpboot repo status` lists "
                          "the delegations)" % role)


def check_patterns(patterns):
    """The `paths` patterns, refused unless each matches target paths BOARD/CHANNEL/VERSION.mpb."""
    if not patterns:
        raise MpbootError("give the paths the role is trusted for: --paths PATTERN... (e.g. esp32-4mb/*/*)")
    for pattern in patterns:
        parts = pattern.split("/")
        if not pattern or pattern.startswith("/") or "" in parts or ".." in parts or "." in parts:
            raise MpbootError("--paths %r: a pattern is relative, with no empty, '.' or '..' parts (e.g. esp32-4mb/*/*)"
                              % pattern)
        if not all(" " < c < "\x7f" for c in pattern) or "\\" in pattern:
            raise MpbootError("--paths %r: use printable ASCII without spaces or backslashes" % pattern)
        if len(parts) != PATH_COMPONENTS:
            raise MpbootError("--paths %r has %d part(s): target paths are BOARD/CHANNEL/VERSION.mpb and '*' does not "
                              "match '/', so it would match nothing (write e.g. %s/*/*)"
                              % (pattern, len(parts), parts[0] if fnmatch.fnmatch(parts[0], "*?*") else "esp32-4mb"))
    if len(set(patterns)) != len(patterns):
        raise MpbootError("--paths names a pattern twice")
    return list(patterns)


def hashed_bins(role, count):
    """[(bin role name, [hash prefixes])] for `count` bins under `role`, named as python-tuf's
    hashed-bin example names them (`00-07`, or the prefix alone for one-prefix bins), after the
    role they serve so that two sets never collide."""
    if count not in BIN_COUNTS:
        raise MpbootError("--hashed-bins %d: use a power of 2 from 2 to 1024" % count)
    width = len("%x" % (count - 1))
    size = 16 ** width // count
    bins = []
    for low in range(0, 16 ** width, size):
        prefixes = ["%0*x" % (width, p) for p in range(low, low + size)]
        suffix = prefixes[0] if size == 1 else "%s-%s" % (prefixes[0], prefixes[-1])
        bins.append(("%s-%s" % (role, suffix), prefixes))
    return bins


def delegate(repo, keyring, role, patterns, key_files, threshold=1, terminating=False, parent="targets",
             bins=None, now=None):
    """Delegate `patterns` from `parent` to a new role `role` with the keys in `key_files`
    (private files, or .pub with the private keys given as --delegated-key), version 1 signed by
    a threshold of them; with `bins`, that many hashed bins under it with the same keys. One
    change: nothing is written unless all of it signs and fits. Returns a report dict."""
    check_role_name(role, repo.metadata)
    if parent not in repo.metadata or repo.metadata[parent].signed.type != "targets":
        raise MpbootError("--from %s: no such targets role (the repository has %s)" % (parent, ", ".join(repo.targets_roles)))
    patterns = check_patterns(patterns)
    bin_roles = hashed_bins(role, bins) if bins else []
    for name, _ in bin_roles:
        check_role_name(name, repo.metadata)
    keys = delegated_keys(repo, keyring, key_files)
    if threshold < 1 or threshold > len(keys):
        raise MpbootError("--threshold %d with %d key(s): it must be from 1 to the number of --key files" % (threshold, len(keys)))
    delegations = repo.metadata[parent].signed.delegations
    if delegations is not None and delegations.succinct_roles is not None:
        raise MpbootError("%s delegates with succinct_roles (TAP 15), which devices do not read" % parent)
    change = repo.change(keyring, now)
    parent_signed = change.edit(parent)
    if parent_signed.delegations is None:
        parent_signed.delegations = Delegations(keys={}, roles={})
    _add_delegation(parent_signed.delegations, DelegatedRole(role, [], threshold, terminating, paths=patterns), keys)
    md = Metadata(Targets(version=1))
    if bin_roles:
        md.signed.delegations = Delegations(keys={}, roles={})
        for name, prefixes in bin_roles:
            _add_delegation(md.signed.delegations, DelegatedRole(name, [], threshold, False, path_hash_prefixes=prefixes), keys)
            change.start(Metadata(Targets(version=1)), name)
    change.start(md, role)
    # The new roles sign with the key files named for the role, else the private --key files.
    signing = keyring.given.get(role) or [private for _, private in keys.values() if private is not None]
    names = [role] + [name for name, _ in bin_roles]
    for name in names:
        keyring.given[name] = list(signing)
    written = change.commit()
    remember(repo, keyring, names, signing)
    return {"role": role, "parent": parent, "paths": patterns, "keyids": sorted(keys), "threshold": threshold,
            "terminating": terminating, "bins": names[1:], "versions": written}


def rotate_delegation(repo, keyring, role, add=(), remove=(), threshold=None, now=None):
    """Add keys (files: private or .pub), remove keys (keyid, unique keyid prefix of 8+ hex digits,
    or key file) and/or set the threshold of delegated `role` (and of its hashed bins, which share
    its keys), in a new version of the delegating role; `role` and its bins are re-signed by the
    new key set in the same change, so nothing current is signed by a removed key."""
    if not (add or remove or threshold is not None):
        raise MpbootError("nothing to rotate: give --add-key, --remove-key and/or --threshold")
    parents = delegators(repo.metadata)
    if role not in parents:
        raise MpbootError("%s is not a delegated role (the repository delegates %s)" % (role, ", ".join(sorted(parents)) or "none"))
    added = delegated_keys(repo, keyring, add) if add else {}
    change = repo.change(keyring, now)
    holders = [(change.edit(parents[role]), role)]
    bins = [name for name, d in (repo.metadata[role].signed.delegations.roles.items()
                                 if repo.metadata[role].signed.delegations else ()) if d.path_hash_prefixes is not None]
    if bins:
        holders += [(change.edit(role), name) for name in bins]
    current = holders[0][0].delegations.roles[role]
    removed = [resolve_keyid(ref, current.keyids, role, keyring) for ref in remove]
    for keyid in added:
        if keyid in current.keyids:
            raise MpbootError("key %s is already a %s key" % (keyid[:16], role))
    for signed, name in holders:
        delegated = signed.delegations.roles[name]
        for keyid, (key, _) in added.items():
            signed.add_key(key, name)
        for keyid in removed:
            signed.revoke_key(keyid, name)
        if threshold is not None:
            delegated.threshold = threshold
        if delegated.threshold < 1 or delegated.threshold > len(delegated.keyids):
            raise MpbootError("%s would have threshold %d with %d key(s): it could never sign (add keys or lower --threshold)"
                              % (name, delegated.threshold, len(delegated.keyids)))
    # The re-signed roles sign with the key files named for them (a bin: for its role) but the
    # removed ones, plus the added private files; else with the files remembered for them, the
    # added ones included.
    names = [role] + bins
    signing = [private for _, private in added.values() if private is not None]
    for name in names:
        change.edit(name)
        if role in keyring.given and name not in keyring.given:
            keyring.given[name] = list(keyring.given[role])
        if name in keyring.given:
            keyring.given[name] = [p for p in keyring.given[name] if keyring.load(p)[0] not in removed] + signing
        else:
            for path in signing:
                repo.settings.remember_key(repo.dir, name, keyring.load(path)[0], path)
    written = change.commit()
    for name in names:
        for keyid in removed:
            repo.settings.forget_key(name, keyid)
    remember(repo, keyring, names, signing)
    return {"role": role, "parent": parents[role], "bins": bins, "versions": written, "keyids": list(current.keyids),
            "threshold": current.threshold, "added": list(added), "removed": removed}


def delegated_keys(repo, keyring, key_files):
    """{keyid: (tuf Key, private key file or None)} of `key_files`; refuses top-level keys and repeats."""
    if not key_files:
        raise MpbootError("give the role's keys: --key KEYFILE... (private key files, or .pub files)")
    top_level = {k: r for r in layout.ROLES for k in repo.root.roles[r].keyids}
    keys = {}
    for path in key_files:
        key = keymod.tuf_key(keymod.load_public_key(path, keyring.passphrase))
        if key.keyid in top_level:
            raise MpbootError("%s is a %s key: a delegated role needs keys of its own (make one with `mpboot keygen`)"
                              % (path, top_level[key.keyid]))
        if key.keyid in keys:
            raise MpbootError("%s names key %s a second time" % (path, key.keyid[:16]))
        keys[key.keyid] = (key, private_file(path))
    return keys


def remember(repo, keyring, names, paths):
    """Remember `paths` as the key files of every role in `names`, as `repo init` does for the
    top-level roles (publish then finds them without options, until they are moved offline)."""
    for path in paths:
        keyid = keyring.load(path)[0]
        for name in names:
            repo.settings.remember_key(repo.dir, name, keyid, path)
    settings_mod.save(repo.dir, repo.settings)


def _add_delegation(delegations, delegated_role, keys):
    delegations.roles[delegated_role.name] = delegated_role
    for keyid, (key, _) in keys.items():
        delegated_role.keyids.append(keyid)
        delegations.keys[keyid] = key


def tree(repo):
    """The delegations in search order (pre-order from targets), one dict per delegated role."""
    rows = []

    def walk(parent, depth):
        delegations = repo.metadata[parent].signed.delegations
        for name, d in (delegations.roles.items() if delegations else ()):
            if name not in repo.metadata:
                continue  # status names it as a problem
            signed = repo.metadata[name].signed
            rows.append({
                "role": name, "parent": parent, "depth": depth,
                "paths": d.paths, "path_hash_prefixes": d.path_hash_prefixes, "terminating": d.terminating,
                "keyids": list(d.keyids), "threshold": d.threshold, "version": signed.version,
                "expires": signed.expires.strftime("%Y-%m-%dT%H:%M:%SZ"), "targets": len(signed.targets),
                "bytes": len(repo.raw[name]),
            })
            walk(name, depth + 1)

    walk("targets", 1)
    return rows
