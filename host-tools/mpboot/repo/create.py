"""`mpboot repo init`: a new repository, with a new root or adopting one from `mpboot root init`.

Every role's keys come from key files named on the command line, else from `KEYDIR/ROLE.pem`
(`ROLE-2.pem`... for thresholds above one); with a new root, the ones missing there are
generated. Version 1 of every role is signed and checked in memory, written into a staging
directory, and renamed into place as `DIR/metadata` in one step: an interrupted init leaves no
half repository behind.
"""

import os
import shutil
import tempfile
from pathlib import Path

from tuf.api.metadata import Metadata, MetaFile, Snapshot, Targets, Timestamp

from mpboot import anchor, keys as keymod
from mpboot.errors import MpbootError
from mpboot.repo import layout, settings as settings_mod
from mpboot.repo.keyring import KeyRing
from mpboot.repo.store import Change, utcnow

ONLINE = ("snapshot", "timestamp")
OFFLINE = ("root", "targets")


def default_key_dir(repo_dir):
    resolved = Path(repo_dir).resolve()
    return resolved.parent / (resolved.name + "-keys")


def init_repository(repo_dir, key_dir=None, given=None, thresholds=None, lifetimes=None, root_file=None,
                    passphrase=None, now=None):
    """Create the repository; returns a report dict (what was generated, where, what to do next)."""
    repo_dir = Path(repo_dir)
    given = {role: [Path(p) for p in paths] for role, paths in (given or {}).items() if paths}
    thresholds = {role: n for role, n in (thresholds or {}).items() if n is not None}
    key_dir = Path(key_dir) if key_dir else default_key_dir(repo_dir)
    now = now or utcnow()
    if layout.metadata_dir(repo_dir).exists():
        raise MpbootError("%s is already a repository (it has metadata/): choose a new directory" % repo_dir)
    conf = settings_mod.Settings()
    conf.lifetimes.update(lifetimes or {})
    for role, n in thresholds.items():
        if n < 1:
            raise MpbootError("--%s-threshold must be at least 1" % role)
    generated = []
    made_key_dir = not key_dir.exists()
    try:
        if root_file is not None:
            if thresholds:
                raise MpbootError("thresholds come from the adopted root: drop the --*-threshold options")
            root_md = _adopt_root(root_file)
            files = _files_for_adopted_root(root_md.signed, given, key_dir, passphrase)
        else:
            files = {}
            for role in layout.ROLES:
                files[role] = (given.get(role) or _existing(key_dir, role)
                               or _generate(key_dir, role, thresholds.get(role, 1), passphrase, generated))
            root_md = _new_root(files, thresholds, conf.lifetimes["root"], passphrase, now)
        keyring = KeyRing(repo_dir, conf, {role: files[role] for role in layout.ROLES if role != "root"}, passphrase)
        _commit_version_one(repo_dir, conf, keyring, root_md, now)
    except BaseException:
        # Keys made for a repository that was not created would be secrets with no use, left
        # on disk (unencrypted without a passphrase): nothing of a failed init stays behind.
        _remove_generated(generated, key_dir if made_key_dir else None)
        raise
    for role in layout.ROLES:
        for path in files[role]:
            keyid = keymod.tuf_key(keymod.load_public_key(path, passphrase)).keyid
            if keyid in root_md.signed.roles[role].keyids:
                conf.remember_key(repo_dir, role, keyid, path)
    settings_mod.save(repo_dir, conf)
    return _report(repo_dir, root_md, files, generated, conf)


def _existing(key_dir, role):
    paths = [key_dir / ("%s.pem" % role)]
    n = 2
    while (key_dir / ("%s-%d.pem" % (role, n))).exists():
        paths.append(key_dir / ("%s-%d.pem" % (role, n)))
        n += 1
    return paths if paths[0].exists() else []


def _files_for_adopted_root(root, given, key_dir, passphrase):
    """Key files per role for a root that is already signed: those named for the role, else any
    named or found file whose key the root gives that role (`mpboot root init` lets one key
    serve targets, snapshot and timestamp), else KEYDIR/ROLE.pem. Root keys only when named."""
    files = {role: list(given.get(role, [])) for role in layout.ROLES}
    pool = list(dict.fromkeys([p for paths in given.values() for p in paths] +
                              [p for role in layout.ROLES if role != "root" for p in _existing(key_dir, role)]))
    keyids = {p: keymod.tuf_key(keymod.load_public_key(p, passphrase)).keyid for p in pool}
    for role in layout.ROLES:
        if role != "root" and not files[role]:
            files[role] = [p for p in pool if keyids[p] in root.roles[role].keyids] or _existing(key_dir, role)
    return files


def _generate(key_dir, role, count, passphrase, generated):
    try:
        key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise MpbootError("cannot create key directory %s: %s" % (key_dir, e.strerror or e)) from None
    paths = [key_dir / ("%s.pem" % role if i == 1 else "%s-%d.pem" % (role, i)) for i in range(1, count + 1)]
    for path in paths:
        if keymod.public_path(path).exists():  # a key is reused, never replaced: this one has no private half
            raise MpbootError("%s exists without its private key %s: give the %s key with --%s-key, or move the "
                              ".pub away to generate a new pair" % (keymod.public_path(path), path, role, role))
        keymod.generate_keypair(path, passphrase)
        generated.append(path)
    return paths


def _remove_generated(paths, key_dir):
    for path in paths:
        for name in (path, keymod.public_path(path)):
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass
    if key_dir is not None:
        try:
            key_dir.rmdir()  # only when empty: it held nothing but what this init made
        except OSError:
            pass


def _new_root(files, thresholds, lifetime, passphrase, now):
    if lifetime % settings_mod.DAY:
        raise MpbootError("--root-expires must be whole days (e.g. 365d)")
    root_keys = [keymod.load_private_key(p, passphrase) for p in files["root"]]
    public = {role: [keymod.load_public_key(p, passphrase) for p in files[role]] for role in layout.ROLES if role != "root"}
    data = anchor.create_root(root_keys, public, thresholds, expires_days=lifetime // settings_mod.DAY, now=now)
    return Metadata.from_bytes(data)


def _adopt_root(root_file):
    anchor.load_root_file(root_file)  # the device's own check: signed by a threshold of its keys
    md = Metadata.from_bytes(Path(root_file).read_bytes())
    if not md.signed.consistent_snapshot:
        raise MpbootError("%s has consistent_snapshot false; this repository layout needs it true (make the root with `mpboot root init`)" % root_file)
    return md


def _commit_version_one(repo_dir, conf, keyring, root_md, now):
    made = not repo_dir.exists()
    try:
        repo_dir.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=".init-", dir=repo_dir))
    except OSError as e:
        raise MpbootError("cannot create repository directory %s: %s" % (repo_dir, e.strerror or e)) from None
    try:
        change = Change(stage, conf, keyring, now)
        change.new["root"] = root_md  # already signed; commit checks it
        change.start(Metadata(Targets(version=1)))
        change.start(Metadata(Snapshot(version=1, meta={"targets.json": MetaFile(1)})))
        change.start(Metadata(Timestamp(version=1, snapshot_meta=MetaFile(1))))
        change.commit()
        (repo_dir / layout.TARGETS).mkdir(exist_ok=True)
        os.rename(layout.metadata_dir(stage), layout.metadata_dir(repo_dir))
    except BaseException:
        if made:  # a failed init leaves no half repository for the next one to refuse
            shutil.rmtree(repo_dir, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _report(repo_dir, root_md, files, generated, conf):
    root = root_md.signed
    roles = {}
    for role in layout.ROLES:
        roles[role] = {
            "keyids": list(root.roles[role].keyids),
            "threshold": root.roles[role].threshold,
            "key_files": [keymod.shown(p) for p in files[role]],
            "lifetime": settings_mod.format_duration(conf.lifetimes[role]),
            "online": role in ONLINE,
        }
    return {
        "repository": str(repo_dir),
        "root": str(layout.metadata_file(repo_dir, "root")),
        "root_version": root.version,
        "generated": [str(p) for p in generated],
        "roles": roles,
    }
