"""`mpboot repo`: create and maintain an update repository (TUF metadata as static files)."""

import argparse
import json
import sys

from mpboot import keys as keymod
from mpboot.errors import MpbootError
from mpboot.repo import (create, delegations, layout, maintain, publish as publish_mod, settings as settings_mod,
                         status as status_mod)
from mpboot.repo.keyring import KeyRing
from mpboot.repo.store import Repository

ORDER = 50

EXAMPLES = """\
examples:
  mpboot repo init repo                      # development repository; keys generated in repo-keys/
  mpboot repo init repo --root root.json --targets-key release.pem \\
      --snapshot-key snapshot.pem --timestamp-key timestamp.pem
  mpboot publish repo app-v2.mpb --channel stable
  mpboot repo timestamp repo                 # cron, daily: keeps timestamp (and snapshot) fresh
  mpboot repo status repo                    # versions, expiries, targets; exit 1 on problems
  mpboot repo rotate repo --role targets --add-key new.pem --root-key root.pem   # publish with new.pem, prune, then:
  mpboot repo rotate repo --role targets --remove-key OLDKEYID --root-key root.pem
  mpboot repo renew repo --role targets --targets-key /media/offline/targets.pem
  mpboot repo prune repo --keep 5            # targets metadata must stay under the devices' cap
  mpboot repo delegate repo esp32-4mb --paths 'esp32-4mb/*/*' --key esp32-4mb.pem   # a role per board
  mpboot repo rotate-delegation repo esp32-4mb --add-key new.pem --remove-key esp32-4mb.pem

See docs/repository.md for keeping the root and targets keys offline and for hosting.
"""


def register(subparsers):
    p = subparsers.add_parser(
        "repo", help="create and maintain an update repository (TUF)",
        description="Create and maintain an update repository: TUF metadata (python-tuf) and signed "
        "images as static files any web server or object store can host.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="repo_command", metavar="ACTION", required=True)

    q = _action(sub, "init", help="create a repository",
                description="Create a repository. Without options: a working development repository "
                "whose missing keys are generated into KEYDIR (default DIR-keys next to DIR). With --root: "
                "adopt a root made by `mpboot root init`; then give the targets, snapshot and timestamp "
                "private keys that root names.")
    q.add_argument("--root", dest="root_file", metavar="ROOT.json", help="adopt this signed root (from `mpboot root init`)")
    q.add_argument("--key-dir", metavar="KEYDIR", help="where keys are looked for and generated (default: DIR-keys)")
    for role in layout.ROLES:
        q.add_argument("--%s-threshold" % role, type=int, metavar="N", help="signatures needed for %s (default 1)" % role)
        q.add_argument("--%s-expires" % role, type=duration, metavar="DURATION",
                       help="lifetime of each %s version (default %s)" % (role, settings_mod.format_duration(settings_mod.DEFAULT_LIFETIMES[role])))
    add_key_options(q, layout.ROLES)
    q.set_defaults(func=run_init)

    q = _action(sub, "timestamp", help="re-sign the timestamp (for cron)",
                description="Re-sign timestamp.json with a fresh expiry; also re-signs the snapshot when less than "
                "half its lifetime is left. Needs only the online keys.")
    q.add_argument("--expires", type=duration, metavar="DURATION",
                   help="lifetime of this timestamp (default: the repository's setting)")
    add_key_options(q, ("timestamp", "snapshot"))
    q.set_defaults(func=run_timestamp)

    q = _action(sub, "renew", help="re-sign a role with a fresh expiry",
                description="Sign a new version of ROLE with a fresh expiry (and the snapshot/timestamp that "
                "follow from it). For root this is a new root version, signed by the root keys.")
    q.add_argument("--role", required=True, metavar="ROLE",
                   help="the role to renew: root, targets, snapshot, timestamp or a delegated role")
    q.add_argument("--expires", type=duration, metavar="DURATION", help="lifetime of this version")
    add_key_options(q, layout.ROLES, delegated=True)
    q.set_defaults(func=run_renew)

    q = _action(sub, "rotate", help="add or remove keys of a role, or change its threshold",
                description="Change ROLE's keys or threshold in a new root version (signed by a threshold of "
                "the current and of the new root keys), then re-sign ROLE with its new keys.")
    q.add_argument("--role", required=True, choices=layout.ROLES, help="the TUF role to change")
    q.add_argument("--add-key", action="append", default=[], metavar="KEYFILE",
                   help="key to add (private key file, or KEYFILE.pub); repeatable")
    q.add_argument("--remove-key", action="append", default=[], metavar="KEYID|KEYFILE",
                   help="key to remove: keyid (or a unique prefix of 8+ hex digits) or key file; repeatable")
    q.add_argument("--threshold", type=int, metavar="N", help="new threshold for ROLE")
    q.add_argument("--force", action="store_true",
                   help="rotate targets keys even if listed images then no longer verify (a compromised key): "
                   "devices running them cannot boot them once they take the new root")
    add_key_options(q, layout.ROLES)
    q.set_defaults(func=run_rotate)

    q = _action(sub, "prune", help="stop listing all but the newest versions of each board/channel",
                description="Keep only the newest N versions of every board/channel in the targets metadata, "
                "which devices cap in size. Target files stay on disk.")
    q.add_argument("--keep", type=int, required=True, metavar="N", help="versions to keep per board/channel")
    add_key_options(q, ("targets", "snapshot", "timestamp"), delegated=True)
    q.set_defaults(func=run_prune)

    q = _action(sub, "delegate", help="delegate target paths to a new role with keys of its own",
                description="Create delegated targets role ROLE, trusted for the target paths matching --paths "
                "(BOARD/CHANNEL/VERSION.mpb; '*' does not match '/'), signed by --threshold of its --key keys. The "
                "delegating role (top-level targets, or --from ROLE) gets a new version, ROLE's version 1 is signed, "
                "and the snapshot lists it: one change, nothing written if any part fails. A device fetches only the "
                "roles whose paths can hold its board's targets, so a role per board (or board and channel) is the "
                "layout to use. Keys of top-level roles are refused: a delegated role's keys are its own.")
    q.add_argument("role", metavar="ROLE", help="new role name (e.g. the board's: esp32-4mb)")
    q.add_argument("--paths", nargs="+", action="extend", required=True, metavar="PATTERN",
                   help="target path patterns, e.g. 'esp32-4mb/*/*' or 'esp32-4mb/beta/*' (quote them for the shell)")
    q.add_argument("--key", nargs="+", action="extend", required=True, metavar="KEYFILE",
                   help="the role's keys: private key files (they sign version 1 and are remembered, like "
                   "`repo init` remembers the targets key: move them offline after), or KEYFILE.pub with the private "
                   "keys given as --delegated-key ROLE=FILE")
    q.add_argument("--threshold", type=int, default=1, metavar="N", help="signatures the role needs (default 1)")
    q.add_argument("--terminating", action="store_true",
                   help="a device whose search for a path matches ROLE looks in no role after ROLE's subtree")
    q.add_argument("--from", dest="parent", default="targets", metavar="PARENT",
                   help="the role that delegates (default: top-level targets; its keys sign its new version)")
    q.add_argument("--hashed-bins", type=int, metavar="N",
                   help="also split ROLE into N hashed bins (a power of 2 from 2 to 1024; ROLE-00-07 style names) "
                   "by the SHA-256 of the target path, for very large sets of targets looked up by exact name. A "
                   "device searching for its board's images by prefix must fetch every bin, and each bin is an "
                   "entry in the snapshot (which devices cap at 8 KiB): prefer a role per board")
    add_key_options(q, ("targets", "snapshot", "timestamp"), delegated=True)
    q.set_defaults(func=run_delegate)

    q = _action(sub, "rotate-delegation", help="add, remove (revoke) keys of a delegated role, or change its threshold",
                description="Change delegated ROLE's keys or threshold in a new version of the role that delegates it, "
                "and re-sign ROLE (and its hashed bins, which share its keys) with the new key set in the same "
                "change. Removing a compromised key revokes it: nothing current stays signed by it.")
    q.add_argument("role", metavar="ROLE", help="the delegated role")
    q.add_argument("--add-key", action="append", default=[], metavar="KEYFILE",
                   help="key to add (private key file, or KEYFILE.pub); repeatable")
    q.add_argument("--remove-key", action="append", default=[], metavar="KEYID|KEYFILE",
                   help="key to remove: keyid (or a unique prefix of 8+ hex digits) or key file; repeatable")
    q.add_argument("--threshold", type=int, metavar="N", help="new threshold for ROLE")
    add_key_options(q, ("targets", "snapshot", "timestamp"), delegated=True)
    q.set_defaults(func=run_rotate_delegation)

    q = _action(sub, "status", help="versions, expiries, keys, targets, bundles; checks the whole repository",
                description="Show every role's version, expiry and keys, the targets, and the bundles per channel "
                "with their versions; verify the root chain, signatures, hashes, target files and bundle files as a "
                "client would. Exit status 1 when there are problems.")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(func=run_status)


def _action(sub, name, **kwargs):
    """A `repo` action: the shared examples, and the repository directory it works on."""
    q = sub.add_parser(name, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)
    q.add_argument("repo", metavar="DIR", help="the repository directory (metadata/, targets/ and files/ inside)")
    return q


def duration(text):
    try:
        return settings_mod.parse_duration(text)
    except MpbootError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_key_options(parser, roles, delegated=False):
    for role in roles:
        parser.add_argument("--%s-key" % role, action="append", default=[], metavar="KEYFILE",
                            help="%s private key file (repeatable; default: the files the repository remembers)" % role)
    if delegated:
        parser.add_argument("--delegated-key", action="append", default=[], type=role_key, metavar="ROLE=KEYFILE",
                            help="private key file of delegated role ROLE (repeatable; default: the files the "
                            "repository remembers for it)")
    parser.add_argument("--passphrase-env", metavar="VAR", help="environment variable holding the passphrase of encrypted keys")
    if not any(a.dest == "json" for a in parser._actions):
        parser.add_argument("--json", action="store_true", help="machine-readable output")


def role_key(text):
    role, sep, path = text.partition("=")
    if not sep or not role or not path:
        raise argparse.ArgumentTypeError("%r: write ROLE=KEYFILE, e.g. esp32-4mb=/media/usb/esp32-4mb.pem" % text)
    return role, path


def given_keys(args):
    given = {role: getattr(args, "%s_key" % role, None) or [] for role in layout.ROLES}
    for role, path in getattr(args, "delegated_key", None) or []:
        given.setdefault(role, []).append(path)
    return given


def open_repository(args):
    repo = Repository(args.repo)
    keyring = KeyRing(repo.dir, repo.settings, given_keys(args), keymod.passphrase_from_env(args.passphrase_env))
    return repo, keyring


def emit(args, report, text_lines):
    if args.json:
        json.dump(report, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        print("\n".join(text_lines))


def run_init(args):
    thresholds = {role: getattr(args, "%s_threshold" % role) for role in layout.ROLES}
    lifetimes = {role: getattr(args, "%s_expires" % role) for role in layout.ROLES if getattr(args, "%s_expires" % role)}
    report = create.init_repository(
        args.repo, key_dir=args.key_dir, given=given_keys(args), thresholds=thresholds, lifetimes=lifetimes,
        root_file=args.root_file, passphrase=keymod.passphrase_from_env(args.passphrase_env),
    )
    lines = ["created repository %s (root version %d, consistent snapshots)" % (report["repository"], report["root_version"]),
             "  trust anchor for devices: %s (give it to `mpboot flash-image --root`)" % report["root"]]
    for path in report["generated"]:
        lines.append("  generated %s (+ .pub)%s" % (path, "" if args.passphrase_env else ", NOT encrypted"))
    lines.append("  %-10s %-9s %-8s %s" % ("role", "threshold", "lifetime", "key files"))
    for role, info in report["roles"].items():
        lines.append("  %-10s %-9s %-8s %s" % (role, "%d of %d" % (info["threshold"], len(info["keyids"])),
                                               info["lifetime"], ", ".join(info["key_files"]) or "(none here)"))
    offline = [p for role in create.OFFLINE for p in report["roles"][role]["key_files"]]
    lines += [
        "Keys to take OFFLINE now: root and targets (%s)." % (", ".join(offline) or "not on this machine"),
        "  Move them to an encrypted USB stick or an offline machine; pass them back only when needed:",
        "  `mpboot publish ... --targets-key FILE` and `mpboot repo rotate/renew ... --root-key FILE`.",
        "ONLINE keys (snapshot, timestamp) stay with the repository for `mpboot repo timestamp %s` (cron, daily)." % args.repo,
    ]
    if report["generated"] and not args.passphrase_env:
        lines.append("  The generated keys have no passphrase: for real use, create them with --passphrase-env VAR.")
    emit(args, report, lines)


def run_timestamp(args):
    repo, keyring = open_repository(args)
    report = maintain.refresh_timestamp(repo, keyring, lifetime=args.expires)
    lines = ["%s version %d, expires %s" % (role, version, report["expires"][role]) for role, version in sorted(report["versions"].items())]
    emit(args, report, lines + report["notes"])
    for note in report["notes"]:
        if note.startswith("WARNING"):
            print(note, file=sys.stderr)


def run_renew(args):
    repo, keyring = open_repository(args)
    report = maintain.renew(repo, keyring, args.role, lifetime=args.expires)
    lines = ["%s renewed: version %d, expires %s" % (args.role, report["versions"][args.role], report["expires"])]
    lines += ["  %s version %d" % (r, v) for r, v in sorted(report["versions"].items()) if r != args.role]
    emit(args, report, lines)


def run_rotate(args):
    repo, keyring = open_repository(args)
    report = maintain.rotate(repo, keyring, args.role, add=args.add_key, remove=args.remove_key, threshold=args.threshold,
                             force=args.force)
    lines = ["%s role now: threshold %d, keys %s" % (args.role, report["threshold"], ", ".join(k[:16] for k in report["keyids"])),
             "new root: %s" % report["root"]]
    lines += ["  added %s" % k[:16] for k in report["added"]] + ["  removed %s" % k[:16] for k in report["removed"]]
    lines += ["  %s version %d" % (r, v) for r, v in sorted(report["versions"].items())]
    if args.role in ("root", "targets"):
        lines.append("Devices pick up the new root on their next update check (root rotation).")
    emit(args, report, lines)
    for path in report["stranded"]:
        print("WARNING: %s no longer verifies: a device running it that takes the new root without a newer image "
              "signed by the new keys cannot boot it again; publish one now" % path, file=sys.stderr)


def run_prune(args):
    repo, keyring = open_repository(args)
    report = publish_mod.prune(repo, keyring, args.keep)
    lines = ["no longer listed: %s" % p for p in report["removed"]] or ["nothing to prune"]
    lines += ["  %s version %d" % (r, v) for r, v in sorted(report.get("versions", {}).items())]
    emit(args, report, lines)


def run_delegate(args):
    repo, keyring = open_repository(args)
    report = delegations.delegate(repo, keyring, args.role, args.paths, args.key, threshold=args.threshold,
                                  terminating=args.terminating, parent=args.parent, bins=args.hashed_bins)
    lines = ["delegated %s from %s to %s (threshold %d of %d keys%s)" % (
        " ".join(report["paths"]), report["parent"], report["role"], report["threshold"], len(report["keyids"]),
        ", terminating" if report["terminating"] else "")]
    if report["bins"]:
        lines.append("  %d hashed bins: %s ... %s, version 1" % (len(report["bins"]), report["bins"][0], report["bins"][-1]))
    lines += ["  %s version %d" % (r, v) for r, v in sorted(report["versions"].items()) if r not in report["bins"]]
    lines.append("Publish into it with `mpboot publish %s IMAGE --channel C` (the role is found from the path)." % args.repo)
    emit(args, report, lines)


def run_rotate_delegation(args):
    repo, keyring = open_repository(args)
    report = delegations.rotate_delegation(repo, keyring, args.role, add=args.add_key, remove=args.remove_key,
                                           threshold=args.threshold)
    lines = ["%s now: threshold %d, keys %s (delegated by %s%s)" % (
        args.role, report["threshold"], ", ".join(k[:16] for k in report["keyids"]), report["parent"],
        "; its %d bins too" % len(report["bins"]) if report["bins"] else "")]
    lines += ["  added %s" % k[:16] for k in report["added"]] + ["  removed %s" % k[:16] for k in report["removed"]]
    lines += ["  %s version %d" % (r, v) for r, v in sorted(report["versions"].items())]
    emit(args, report, lines)


def run_status(args):
    repo = Repository(args.repo)
    report = status_mod.status(repo)
    lines = ["repository %s" % report["repository"],
             "  %-10s %-8s %-21s %-10s %s" % ("role", "version", "expires", "left", "keys")]
    for role, info in report["roles"].items():
        lines.append("  %-10s %-8d %-21s %-10s %d of %d" % (role, info["version"], info["expires"], info["expires_in"],
                                                            info["threshold"], len(info["keyids"])))
    if report["delegations"]:
        lines.append("delegations (search order):")
        lines.append("  %-26s %-8s %-21s %-10s %-8s %-7s %s" % ("role", "version", "expires", "left", "keys", "targets", "paths"))
    for d in report["delegations"]:
        paths = " ".join(d["paths"]) if d["paths"] is not None else "hash prefixes %s" % ",".join(d["path_hash_prefixes"])
        lines.append("  %-26s %-8d %-21s %-10s %-8s %-7d %s%s" % (
            "  " * (d["depth"] - 1) + d["role"], d["version"], d["expires"], d["expires_in"],
            "%d of %d" % (d["threshold"], len(d["keyids"])), d["targets"], paths, " (terminating)" if d["terminating"] else ""))
    lines.append("targets (%d):" % len(report["targets"]))
    for t in report["targets"]:
        custom = t["custom"] or {}
        lines.append("  %-40s security %-4s %9d bytes  sha256 %s%s" % (
            t["path"], custom.get("security_version", "-"), t["length"], t["sha256"][:16],
            "" if t["role"] == "targets" else "  in %s" % t["role"]))
    for channel, rows in sorted(report["bundles"].items()):
        lines.append("bundles on %s:" % channel)
        for row in rows:
            lines.append("  %-20s %-24s %s" % (row["bundle"], row["directory"], ", ".join(
                "%s (security %s)" % (v["version"], v["security_version"]) for v in row["versions"])))
    if report["unreferenced_files"]:
        lines.append("files/sha256/: %d file(s) no listed bundle names (left by prune; --json lists them)"
                     % len(report["unreferenced_files"]))
    lines += ["WARNING: " + w for w in report["warnings"]] + ["PROBLEM: " + p for p in report["problems"]]
    if not report["problems"]:
        lines.append("ok: everything verifies as a client would check it")
    emit(args, report, lines)
    return 1 if report["problems"] else 0
