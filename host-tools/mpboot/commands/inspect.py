"""`mpboot inspect`: every field of an image and whether its hashes check out."""

import argparse
import json

from mpboot import anchor, imageinfo, keys, signing
from mpboot.fileio import read_input

ORDER = 50

EXAMPLES = """\
examples:
  mpboot inspect app-v1.mpb
  mpboot inspect app-v1.mpb --root root.json     # also: which signatures count, and the verdict
  mpboot inspect firmware.bin --json             # bare app images and merged downloads too

Shows the ESP-IDF app header, app descriptor (esp_app_desc_t) and segments, the bootloader's
checks (checksum, appended SHA-256), the mpboot manifest (version, security version, chip/board,
payload length and SHA-256 with whether they match), the layout offsets, and each signature's
keyid. Nothing is refused: use `mpboot verify` for a yes/no answer.
"""


def register(subparsers):
    p = subparsers.add_parser(
        "inspect", help="show everything about an image",
        description="Show every field of a signed image, app image or merged firmware download.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", metavar="IMAGE", help="signed image, ESP-IDF app image or merged firmware .bin")
    trust_group = p.add_mutually_exclusive_group()
    trust_group.add_argument("--root", metavar="ROOT.json", help="check the signatures against this root")
    trust_group.add_argument("--pubkey", metavar="KEY.pub", help="check the signatures against this public key")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=run)


def run(args):
    trusted = None
    if args.root:
        trusted = anchor.load_root_file(args.root)
    elif args.pubkey:
        trusted = signing.KeyAnchor(keys.load_public_key(args.pubkey))
    info = imageinfo.inspect_bytes(read_input(args.image, "image"), trusted, args.image)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(imageinfo.format_text(args.image, info))
