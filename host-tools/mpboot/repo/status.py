"""`mpboot repo status`: versions, expiries, keys and targets, and a full consistency check.

Problems are things a client would refuse (a broken root chain, a signature short of its
threshold, a length or hash that does not match, a missing target file, a bundle's file missing
or damaged in files/, expired metadata), and targets a device would never find (listed by a role
its search for the path does not reach). Bundles are listed per channel with their versions.
The delegation tree is shown in search order, each role with its paths, keys, version, expiry and
number of targets.
Warnings are things about to go wrong: a role with less than a quarter of its lifetime left,
a root key file sitting on this machine.
"""

import hashlib
from datetime import timedelta

from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import Metadata

from mpboot import keys as keymod
from mpboot.repo import bundles, delegations, layout
from mpboot.repo.maintain import describe_left
from mpboot.repo.store import DEVICE_CAPS, utcnow

_FIX = {
    "timestamp": "run `mpboot repo timestamp {dir}` (put it in cron)",
    "snapshot": "run `mpboot repo timestamp {dir}` or `mpboot repo renew {dir} --role snapshot`",
    "targets": "run `mpboot repo renew {dir} --role targets` where the targets keys are",
    "root": "run `mpboot repo renew {dir} --role root` with the root keys",
}


def status(repo, now=None):
    now = now or utcnow()
    problems, warnings = [], []
    roles = {}
    for role in layout.ROLES:
        signed = repo.metadata[role].signed
        left = signed.expires - now
        role_def = repo.root.roles[role]
        available = [k for k, p in repo.settings.key_paths(repo.dir, role).items() if _on_disk(p) and k in role_def.keyids]
        roles[role] = {
            "version": signed.version,
            "expires": signed.expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "expires_in": describe_left(left),
            "keyids": list(role_def.keyids),
            "threshold": role_def.threshold,
            "key_files_here": len(available),
        }
        fix = _FIX[role].format(dir=repo.dir)
        if left <= timedelta(0):
            problems.append("%s expired at %s: %s" % (role, roles[role]["expires"], fix))
        elif left < timedelta(seconds=repo.settings.lifetimes[role] // 4):
            warnings.append("%s expires in %s: %s" % (role, describe_left(left), fix))
    if roles["root"]["key_files_here"]:
        warnings.append("root key file(s) are on this machine (%s): keep them offline (docs/repository.md)"
                        % ", ".join(str(p) for p in repo.settings.key_paths(repo.dir, "root").values() if _on_disk(p)))
    tree = delegations.tree(repo)
    for row in tree:
        row["key_files_here"] = len([k for k, p in repo.settings.key_paths(repo.dir, row["role"]).items()
                                     if _on_disk(p) and k in row["keyids"]])
        left = repo.metadata[row["role"]].signed.expires - now
        row["expires_in"] = describe_left(left)
        fix = "run `mpboot repo renew %s --role %s` where its keys are" % (repo.dir, row["role"])
        if left <= timedelta(0):
            problems.append("%s expired at %s: %s" % (row["role"], row["expires"], fix))
        elif left < timedelta(seconds=repo.settings.lifetime(row["role"]) // 4):
            warnings.append("%s expires in %s: %s" % (row["role"], describe_left(left), fix))
    for role, data in sorted(repo.raw.items()):
        cap = DEVICE_CAPS.get(role, DEVICE_CAPS["targets"])
        fix = ": prune old versions (`mpboot repo prune`) or delegate (`mpboot repo delegate`)" if role not in DEVICE_CAPS or role == "targets" else ""
        if len(data) > cap:
            problems.append("%s metadata is %d bytes, over the %d devices accept%s" % (role, len(data), cap, fix))
        elif len(data) > cap * 3 // 4:
            warnings.append("%s metadata is %d bytes of the %d devices accept%s" % (role, len(data), cap, fix))
    problems += _check_chain(repo)
    targets = []
    checked = {}
    for path, (role, target) in sorted(repo.listed_targets().items()):
        targets.append({"path": path, "role": role, "length": target.length, "sha256": target.hashes.get("sha256"),
                        "custom": target.custom})
        problems += _check_target_file(repo, path, target)
        if bundles.bundle_name(target.custom) is not None:
            problems += bundles.check_files(repo, path, target, checked)
        found = delegations.found_in(repo.metadata, path)
        if found != role:
            problems.append("target %s: listed by %s, but a device's search %s, so no device installs it from there "
                            "(publish it again without --role)" % (path, role, "takes it from %s" % found if found else "never reaches it"))
    return {"repository": str(repo.dir), "roles": roles, "delegations": tree, "targets": targets,
            "bundles": bundles.by_channel(repo), "unreferenced_files": bundles.unreferenced(repo), "warnings": warnings,
            "problems": problems}


def _check_chain(repo):
    """Everything a TUF client verifies on the way from root 1 to the targets."""
    problems = []
    previous = None
    for version in range(repo.root_versions[0], repo.root_versions[-1] + 1):
        path = layout.metadata_file(repo.dir, "root", version)
        try:
            md = Metadata.from_bytes(path.read_bytes())
            result = md.signed.get_root_verification_result(previous, md.signed_bytes, md.signatures)
            if md.signed.version != version or not result.verified:
                problems.append("%s does not verify: it needs a threshold of the previous root's root keys and of its own" % path.name)
            previous = md.signed
        except FileNotFoundError:
            problems.append("%s is missing: clients cannot rotate past version %d" % (path.name, version - 1))
            previous = None
        except Exception as e:  # malformed metadata has several exception types in python-tuf
            problems.append("%s is unreadable: %s" % (path.name, e))
            previous = None
    anchor_copy = layout.metadata_file(repo.dir, "root")
    if not anchor_copy.exists() or anchor_copy.read_bytes() != repo.raw["root"]:
        problems.append("root.json is not a copy of %d.root.json (the trust anchor for new devices is stale)" % repo.root.version)
    for role in ("timestamp", "snapshot", "targets"):
        md = repo.metadata[role]
        try:
            repo.root.verify_delegate(role, md.signed_bytes, md.signatures)
        except UnsignedMetadataError:
            problems.append("%s version %d is not signed by a threshold of the current %s keys: %s"
                            % (role, md.signed.version, role, _FIX[role].format(dir=repo.dir) if role != "targets"
                               else "run `mpboot repo renew %s --role targets`" % repo.dir))
    parents = delegations.delegators(repo.metadata)
    for role in repo.targets_roles[1:]:
        md = repo.metadata[role]
        parent = parents.get(role)
        if parent is None:
            problems.append("%s is listed in the snapshot but no role delegates it: devices never read it" % role)
            continue
        try:
            repo.metadata[parent].signed.verify_delegate(role, md.signed_bytes, md.signatures)
        except UnsignedMetadataError:
            problems.append("%s version %d is not signed by a threshold of the keys %s gives it: run `mpboot repo renew "
                            "%s --role %s` with its keys" % (role, md.signed.version, parent, repo.dir, role))
    for role in sorted(set(parents) - set(repo.metadata)):
        problems.append("%s delegates %s, which the snapshot does not list: a device searching through it stops there"
                        % (parents[role], role))
    checks = [("snapshot", "timestamp", repo.timestamp.snapshot_meta)]
    checks += [(role, "snapshot", repo.snapshot.meta["%s.json" % role]) for role in repo.targets_roles]
    for role, lister, meta in checks:
        try:
            meta.verify_length_and_hashes(repo.raw[role])
        except Exception as e:  # LengthOrHashMismatchError
            problems.append("%s does not match what %s lists for it: %s" % (role, lister, e))
    return problems


def _check_target_file(repo, path, target):
    sha256 = target.hashes.get("sha256")
    location = layout.target_file(repo.dir, path, sha256)
    try:
        data = location.read_bytes()
    except FileNotFoundError:
        return ["target %s: file %s is missing" % (path, location)]
    if len(data) != target.length or hashlib.sha256(data).hexdigest() != sha256:
        return ["target %s: %s does not match its length and hash" % (path, location)]
    return []


def _on_disk(key):
    """A remembered key file that exists; a token key's URI is never a file to look for."""
    return not keymod.is_uri(key) and key.exists()
