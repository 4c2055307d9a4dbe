"""`mpboot verify`: check a signed image or bundle exactly as a device would, against a root or one key."""

import argparse
import io
import json

from mpboot import anchor, bundle, keys, secureboot_v2, signing
from mpboot.errors import MpbootError
from mpboot.fileio import read_input
from mpboot_fw import bundle as bundle_format, image
from mpboot_fw.blockdev import BytesDevice

ORDER = 40

EXAMPLES = """\
examples:
  mpboot verify --root root.json app-v1.mpb
  mpboot verify --root root.json --board esp32-4mb --security-floor 2 app-v1.mpb
  mpboot verify --pubkey release.pem.pub app-v1.mpb --json
  mpboot verify --root root.json --board esp32-4mb myapp-1.0.0.mpbundle

Exit status 0 only when the image is valid; otherwise 1 and one line naming the failed check
(the same reason code a device's boot log records: bad-app, truncated, bad-magic, bad-format,
length-mismatch, duplicate-signature, signature-threshold, wrong-chip, wrong-board, downgrade,
payload-hash). With --root, a threshold of the root's targets keys must have signed; with
--pubkey, that one key must have. Without --board the chip and board are not checked.

An ESP-IDF Secure Boot v2 signature in the image's reserved sector is reported, not required
(the bootloader checks it, against the key digests in the chip's eFuse): each block's scheme, key
digest and whether it verifies; `mpboot inspect` shows the details.

A bundle (from `mpboot bundle`, told apart by its magic) is verified by the device's streaming
verifier: manifest, signatures, paths and caps, board/chip, floor, then every file's SHA-256.
"""


def register(subparsers):
    p = subparsers.add_parser(
        "verify", help="verify a signed image or bundle as a device would",
        description="Verify a signed image: manifest structure, signatures (threshold of the root's "
        "targets keys), chip/board, security floor and the app's SHA-256.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", metavar="IMAGE", help="signed image or bundle (.mpbundle) file")
    trust_group = p.add_mutually_exclusive_group(required=True)
    trust_group.add_argument("--root", metavar="ROOT.json", help="trust anchor: TUF root metadata")
    trust_group.add_argument("--pubkey", metavar="KEY.pub|URI",
                             help="trust this one public key (Ed25519 or ECDSA P-256 .pub, or a pkcs11: URI) instead of a root")
    p.add_argument("--board", metavar="B", help="the device: a board from boards/ or a chip name")
    p.add_argument("--security-floor", type=int, default=0, metavar="N",
                   help="refuse images whose security version is below N (default 0)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=run)


def run(args):
    if not 0 <= args.security_floor <= 0xFFFFFFFF:
        raise MpbootError("--security-floor must be from 0 to 4294967295 (a security version)")
    if args.root:
        trusted = anchor.load_root_file(args.root)
    else:
        trusted = signing.KeyAnchor(keys.load_public_key(args.pubkey))
    chip_id, board = signing.resolve_board(args.board) if args.board else (None, None)
    data = read_input(args.image, "image")
    if bundle.is_bundle(data):
        return _verify_bundle(args, data, trusted, chip_id, board)
    try:
        manifest = image.verify_slot(BytesDevice(data), trusted, chip_id=chip_id, board=board or None,
                                     floor=args.security_floor)
    except image.ImageError as e:
        if args.json:
            print(json.dumps({"valid": False, "reason": e.reason, "error": str(e)}))
            return 1
        raise MpbootError("%s: %s" % (args.image, signing.describe_failure(e))) from None
    sbv2 = secureboot_v2.inspect(data, manifest.payload_len)
    if args.json:
        print(json.dumps({
            "valid": True, "version": manifest.version, "security_version": manifest.security_version,
            "chip": signing.chip_name(manifest.chip_id), "board": manifest.board,
            "payload_sha256": manifest.payload_sha256.hex(), "created": manifest.created,
            "keyids": [keyid for keyid, _ in manifest.signatures], "secure_boot_v2": sbv2}))
    else:
        print("%s: valid: version %s, security version %d, %s" % (
            args.image, manifest.version, manifest.security_version,
            "board " + manifest.board if manifest.board else "any %s board" % signing.chip_name(manifest.chip_id)))
        if sbv2["state"] != "empty":
            print("\n".join("  " + line for line in secureboot_v2.format_text(sbv2)))


def _verify_bundle(args, data, trusted, chip_id, board):
    try:
        b = bundle_format.verify_stream(io.BytesIO(data), trusted, chip_id=chip_id, board=board or None,
                                        floor=args.security_floor)
    except bundle_format.BundleError as e:
        if args.json:
            print(json.dumps({"valid": False, "reason": e.reason, "error": str(e)}))
            return 1
        raise MpbootError("%s: invalid bundle: %s" % (args.image, bundle.describe(e))) from None
    if args.json:
        print(json.dumps(dict(bundle.fields(b), valid=True, kind="bundle")))
    else:
        print("%s: valid bundle: %s %s, security version %d, %s, %d files" % (
            args.image, b.name, b.version, b.security_version, bundle.where_it_runs(b.board, b.chip_id),
            len(b.files)))
