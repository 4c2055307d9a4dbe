"""`mpboot publish`: add a signed image or bundle to a repository channel."""

import argparse

from mpboot.commands.repo import add_key_options, emit, open_repository
from mpboot.repo import publish as publish_mod

ORDER = 51

EXAMPLES = """\
examples:
  mpboot publish repo app-v2.mpb --channel stable
  mpboot publish repo app-v2.mpb --channel beta --targets-key /media/offline/targets.pem
  mpboot publish repo app-v1.9.mpb --channel stable --force   # older than what is there: devices skip it
  mpboot publish repo app-v3.mpb --channel stable --keep 5    # and list only the newest 5 there
  mpboot publish repo app-v3.mpb --channel stable --role esp32-4mb --delegated-key esp32-4mb=/media/usb/esp32-4mb.pem
  mpboot publish repo myapp-1.1.0.mpbundle --channel stable                  # a bundle made for one board
  mpboot publish repo lib-2.0.0.mpbundle --channel stable --board esp32-4mb  # a bundle for any board and chip

The image must be signed by a threshold of the repository's targets keys (checked exactly as a
device checks it). Target path: BOARD/CHANNEL/VERSION.mpb (the chip name stands in for BOARD
when the image fits any board of its chip). Publishing the same image again is a no-op.
A bundle (`mpboot bundle`) is checked the same way; its target is BOARD/CHANNEL/NAME-VERSION.mpbm
holding its signed manifest, and its files are stored once each as files/sha256/HEX (serve
files/ too). A bundle for any board and any chip needs --board or --chip: the directory that
board's or chip's devices look in.
With delegations (`mpboot repo delegate`), the target goes into the role a device's search finds
its path in, or into --role ROLE if the device's search reaches that role; the role's own keys
sign it (the image itself is still signed by the targets keys).
"""


def register(subparsers):
    p = subparsers.add_parser(
        "publish", help="add a signed image or bundle to a repository channel",
        description="Add a signed image or bundle to the repository as a target with its manifest's fields, and "
        "sign new targets, snapshot and timestamp metadata. Refuses what the repository's targets keys did not "
        "sign, and versions that are not newer on the channel (unless --force).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("repo", metavar="DIR", help="repository directory")
    p.add_argument("image", metavar="FILE", help="signed image (from `mpboot sign`) or bundle (from `mpboot bundle`)")
    p.add_argument("--channel", required=True, help="channel devices follow, e.g. stable or beta")
    p.add_argument("--force", action="store_true",
                   help="publish even when the version is not newer, or the security version is lower, than the channel's")
    p.add_argument("--keep", type=int, metavar="N",
                   help="keep only the newest N versions of this board and channel (of a bundle: of that bundle "
                   "there); older ones leave the metadata")
    p.add_argument("--board", metavar="BOARD",
                   help="a bundle made for any board: publish it for this board's devices (BOARD/CHANNEL/)")
    p.add_argument("--chip", metavar="CHIP",
                   help="a bundle made for any chip: publish it for this chip's devices (CHIP/CHANNEL/: esp32, "
                   "esp32s3, esp32c3)")
    p.add_argument("--role", metavar="ROLE",
                   help="the targets role to list it in (default: the one a device's search finds the path in)")
    add_key_options(p, ("targets", "snapshot", "timestamp"), delegated=True)
    p.set_defaults(func=run)


def run(args):
    repo, keyring = open_repository(args)
    report = publish_mod.publish(repo, keyring, args.image, args.channel, force=args.force, keep=args.keep, role=args.role,
                                 board=args.board, chip=args.chip)
    if not report["changed"]:
        lines = ["%s: %s" % (report["target"], report["note"])]
    else:
        lines = ["published %s in %s (%d bytes, security version %d)" % (report["target"], report["role"], report["length"],
                                                                         report["security_version"]),
                 "  file %s" % report["file"]]
        if report["kind"] == "bundle":
            lines.append("  bundle %s: %d files, %d bytes; %d new in files/sha256/" % (
                report["bundle"], report["files"], report["total"], len(report["stored"])))
        lines += ["  %s version %d" % (r, v) for r, v in sorted(report["versions"].items())]
        lines += ["  no longer listed: %s" % p for p in report["removed"]]
        lines += ["  WARNING (--force): %s" % w for w in report["warnings"]]
    emit(args, report, lines)
