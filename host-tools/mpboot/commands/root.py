"""`mpboot root init|show`: the TUF root metadata that is every device's trust anchor."""

import argparse
import json

from mpboot import anchor, keys
from mpboot.errors import MpbootError
from mpboot.fileio import add_force_option, atomic_write, refuse_existing
from mpboot.repo import settings

ORDER = 20

EXAMPLES = """\
examples:
  mpboot keygen root.pem && mpboot keygen release.pem
  mpboot root init root.json --root-key root.pem --targets-key release.pem.pub
  mpboot root init root.json --root-key a.pem --root-key b.pem --root-threshold 2 \\
      --targets-key r1.pem.pub --targets-key r2.pem.pub --targets-threshold 2 \\
      --timestamp-key online.pem.pub --expires 730d
  mpboot root init root.json --root-key 'pkcs11:token=offline;object=root' \\
      --targets-key 'pkcs11:token=offline;object=targets' --targets-key release-p256.pem.pub
  mpboot root show root.json

Every key is a key file or a pkcs11: URI naming a key inside a token (docs/keys.md); a role may
mix Ed25519 and ECDSA P-256 keys.

Roles: `root` keys sign root.json itself (and its successors); `targets` keys sign firmware
images and targets metadata; `snapshot` and `timestamp` sign the update repository's freshness
metadata (they default to the targets keys, which suits one release machine; give online keys
of their own for a server that re-signs timestamps). Every threshold defaults to 1.
The file is python-tuf root metadata (spec 1.0), written as compact JSON with sorted keys
(canonical JSON, but for the escaped newlines of an ECDSA key's PEM). A ROOT.json
that exists is refused unless --force, which replaces it whole.
"""


SHOW_EXAMPLES = """\
examples:
  mpboot root show root.json                 # version, expiry, each role's threshold and keyids
  mpboot root show repo/metadata/2.root.json --json

The root is checked with the device's own code (mpboot_fw.trust): its own root keys must have
signed it to their threshold. Exit status 1, with the reason, when it does not verify.
"""


def register(subparsers):
    p = subparsers.add_parser(
        "root", help="create or show the root of trust (TUF root.json)",
        description="Create or show TUF root metadata: the keys and thresholds devices trust.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="root_command", metavar="SUBCOMMAND", required=True)

    init = sub.add_parser(
        "init", help="create and sign a new root.json",
        description="Create root metadata and sign it with every --root-key.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    init.add_argument("output", metavar="ROOT.json", help="file to write (refuses to overwrite without --force)")
    init.add_argument("--root-key", action="append", required=True, metavar="KEYFILE|URI",
                      help="private key of the root role, file or pkcs11: URI; each one signs (repeatable)")
    init.add_argument("--targets-key", action="append", required=True, metavar="KEY.pub|URI",
                      help="public key allowed to sign images and targets metadata (repeatable)")
    init.add_argument("--snapshot-key", action="append", metavar="KEY.pub|URI",
                      help="snapshot role key (repeatable; default: the targets keys)")
    init.add_argument("--timestamp-key", action="append", metavar="KEY.pub|URI",
                      help="timestamp role key (repeatable; default: the targets keys)")
    for role in anchor.ROLES:
        init.add_argument("--%s-threshold" % role, type=int, default=1, metavar="N",
                          help="signatures the %s role needs (default 1)" % role)
    init.add_argument("--expires", default="365d", metavar="DURATION",
                      help="lifetime of the root in whole days, as the repo commands write it: 365d, or a bare "
                      "number of days (default 365d)")
    init.add_argument("--version", type=int, default=1, metavar="N", help="root version (default 1)")
    init.add_argument("--passphrase-env", metavar="VAR",
                      help="environment variable holding the passphrase of encrypted root keys")
    add_force_option(init, "replace ROOT.json if it exists (by default it is refused)")
    init.add_argument("--json", action="store_true", help="print a summary as JSON")
    init.set_defaults(func=run_init)

    show = sub.add_parser("show", help="check a root.json as a device does and print it",
                          description="Verify ROOT.json as a device would and print its roles and keys.",
                          epilog=SHOW_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    show.add_argument("root", metavar="ROOT.json", help="root metadata (mpboot root init, or a repository's N.root.json)")
    show.add_argument("--json", action="store_true", help="print as JSON")
    show.set_defaults(func=run_show)


def _whole_days(text):
    seconds = settings.parse_duration(text)
    if seconds % settings.DAY:
        raise MpbootError("--expires must be whole days (e.g. 365d): a root's expiry is a date")
    return seconds // settings.DAY


def run_init(args):
    if not args.force:
        refuse_existing(args.output, "root file")
    passphrase = keys.passphrase_from_env(args.passphrase_env)
    root_keys = [keys.load_private_key(path, passphrase) for path in args.root_key]

    def public(paths):
        return [keys.load_public_key(path, passphrase) for path in paths]

    targets = public(args.targets_key)
    data = anchor.create_root(
        root_keys,
        {"targets": targets,
         "snapshot": public(args.snapshot_key) if args.snapshot_key else targets,
         "timestamp": public(args.timestamp_key) if args.timestamp_key else targets},
        thresholds={role: getattr(args, role + "_threshold") for role in anchor.ROLES},
        expires_days=_whole_days(args.expires),
        version=args.version,
    )
    atomic_write(args.output, data, overwrite=args.force, what="root file")
    report(args, anchor.load_root_file(args.output), "wrote %s" % args.output)


def run_show(args):
    report(args, anchor.load_root_file(args.root), "%s: valid root" % args.root)


def report(args, root, headline):
    if args.json:
        print(json.dumps(summary(root), indent=2))
        return
    print("%s: version %d, expires %s" % (headline, root.version, root.expires))
    for name, (keyids, threshold) in root.roles.items():
        print("  %-9s threshold %d of %d: %s" % (name, threshold, len(keyids), ", ".join(k[:16] for k in keyids)))


def summary(root):
    return {
        "version": root.version,
        "expires": root.expires,
        "consistent_snapshot": root.consistent_snapshot,
        "roles": {name: {"keyids": list(keyids), "threshold": threshold}
                  for name, (keyids, threshold) in root.roles.items()},
        "keys": {keyid: public.hex() for keyid, public in root.keys.items()},
    }
