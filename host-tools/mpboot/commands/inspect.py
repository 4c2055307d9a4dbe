"""`mpboot inspect`: every field of an image or bundle and whether its hashes check out."""

import argparse
import json

from mpboot import anchor, bundle, imageinfo, keys, signing
from mpboot.errors import MpbootError
from mpboot.fileio import add_force_option, atomic_write, read_input, refuse_existing

ORDER = 50

EXAMPLES = """\
examples:
  mpboot inspect app-v1.mpb
  mpboot inspect app-v1.mpb --root root.json     # also: which signatures count, and the verdict
  mpboot inspect firmware.bin --json             # bare app images and merged downloads too
  mpboot inspect app-v1.mpb --extract-app sb.bin # what the bootloader checks, for espsecure:
  espsecure verify-signature --version 2 --keyfile secure_boot_key.pem sb.bin
  mpboot inspect myapp-1.0.0.mpbundle --root root.json   # a bundle: its manifest and every file

Shows the ESP-IDF app header, app descriptor (esp_app_desc_t) and segments, the bootloader's
checks (checksum, appended SHA-256), the mpboot manifest (version, security version, chip/board,
payload length and SHA-256 with whether they match), the layout offsets, each signature's
keyid, and the Secure Boot v2 sector: each signature block's scheme, the key digest the chip's
eFuse must hold for it, and whether its CRC, image digest and signature (checked by espsecure
with the block's own key) are valid. Nothing is refused: use `mpboot verify` for a yes/no answer.
A bundle (from `mpboot bundle`, told apart by its magic) shows its header, every manifest field,
each file's offset, size, SHA-256 and whether its bytes match, the signatures' keyids and, with
--root or --pubkey, the device's verdict.

espsecure verify-signature reads the last 4 KiB of its input as the signature sector, and a
signed image has its manifest after that sector: give espsecure the --extract-app file. An OUT
that exists is refused unless --force, which replaces it whole.
"""


def register(subparsers):
    p = subparsers.add_parser(
        "inspect", help="show everything about an image or bundle",
        description="Show every field of a signed image, app image, merged firmware download or bundle.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", metavar="IMAGE", help="signed image, ESP-IDF app image, merged firmware .bin or .mpbundle")
    trust_group = p.add_mutually_exclusive_group()
    trust_group.add_argument("--root", metavar="ROOT.json", help="check the signatures against this root")
    trust_group.add_argument("--pubkey", metavar="KEY.pub", help="check the signatures against this public key")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.add_argument("--extract-app", metavar="OUT",
                   help="write the part the ESP-IDF bootloader checks under Secure Boot v2 (the app, its "
                   "padding and the signature sector, without the manifest) to OUT, for espsecure "
                   "verify-signature; refused when the sector holds no signature")
    add_force_option(p, "with --extract-app: replace OUT if it exists (by default it is refused)")
    p.set_defaults(func=run)


def run(args):
    if args.extract_app and not args.force:
        refuse_existing(args.extract_app, "output file")
    trusted = None
    if args.root:
        trusted = anchor.load_root_file(args.root)
    elif args.pubkey:
        trusted = signing.KeyAnchor(keys.load_public_key(args.pubkey))
    data = read_input(args.image, "image")
    if bundle.is_bundle(data):
        if args.extract_app:
            raise MpbootError("--extract-app takes a signed image: %s is a bundle, it holds no app" % args.image)
        info = bundle.inspect_bytes(data, trusted)
        print(json.dumps(info, indent=2) if args.json else bundle.format_text(args.image, info))
        return None
    info = imageinfo.inspect_bytes(data, trusted, args.image)
    if args.extract_app:
        part = imageinfo.secure_boot_part(data, info, args.image)
        atomic_write(args.extract_app, part, overwrite=args.force)
        info["extracted"] = {"path": args.extract_app, "length": len(part)}
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(imageinfo.format_text(args.image, info))
        if args.extract_app:
            print("wrote %s: the first %d bytes (app, padding, Secure Boot v2 sector)" % (
                args.extract_app, info["extracted"]["length"]))
