"""`mpboot sign`: an app image (or merged firmware download) -> a signed image."""

import argparse
import json

from mpboot import anchor, boards, keys, signing
from mpboot.errors import MpbootError
from mpboot.fileio import add_force_option, atomic_write, read_input, refuse_existing
from mpboot_fw import image, version as versions
from mpboot_fw.blockdev import BytesDevice

ORDER = 30

EXAMPLES = """\
examples:
  mpboot sign --key release.pem --version 1.0.0 --security-version 1 --board esp32-4mb \\
      ESP32_GENERIC-OTA-20240602-v1.23.0.bin -o app-v1.mpb
  mpboot sign --key r1.pem --key r2.pem --version 1.0.1 --security-version 1 --board esp32s3 \\
      build/micropython.bin -o app.mpb --root root.json
  MPBOOT_PKCS11_PIN=1234 mpboot sign --key 'pkcs11:token=release;object=targets' \\
      --version 1.0.2 --security-version 1 --board esp32-4mb micropython.bin -o app.mpb

IN is an ESP-IDF app image (micropython.bin from a build), the same signed for Secure Boot v2
by `espsecure sign-data --version 2` (its signature sector is kept), or a merged firmware
download (bootloader + partition table + app, as on micropython.org): the app is cut out by its
partition table. Before signing, the app is checked as the ESP-IDF bootloader checks it (magic, segments,
checksum, appended SHA-256) and its chip against --board.
--board is a board from boards/ (recorded in the image: only that board accepts it) or a bare
chip name esp32, esp32s3, esp32c3 (any board with that chip accepts it).
--security-version is the anti-rollback counter: devices refuse images below the highest one
they have confirmed. With --root, the result is verified against that root before it is written.
An OUT that exists is refused unless --force, which replaces it whole.
A key is a key file (Ed25519 or ECDSA P-256) or a pkcs11: URI naming a key inside a token, whose
PIN is read from MPBOOT_PKCS11_PIN (docs/keys.md).
"""


def register(subparsers):
    p = subparsers.add_parser(
        "sign", help="sign an app image or merged firmware download",
        description="Make a signed image: the ESP-IDF app image unchanged, then a signed manifest "
        "(version, security version, chip/board, payload SHA-256, Ed25519 or ECDSA P-256 signatures).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="IN", help="app image or merged firmware .bin")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="signed image to write")
    p.add_argument("--key", action="append", required=True, metavar="KEYFILE|URI",
                   help="private signing key: a key file or a pkcs11: URI (repeatable: one signature per key)")
    p.add_argument("--version", required=True, metavar="V",
                   help="release version, Semantic Versioning, up to 32 bytes (1.0.0, 1.1.0-rc.1): devices and "
                   "the repository order releases by it")
    p.add_argument("--security-version", required=True, type=int, metavar="N",
                   help="monotonic security version for anti-rollback (0..4294967295)")
    p.add_argument("--board", required=True, metavar="B", help="board name from boards/, or esp32/esp32s3/esp32c3")
    p.add_argument("--root", metavar="ROOT.json", help="verify the signed image against this root before writing")
    p.add_argument("--passphrase-env", metavar="VAR", help="environment variable holding the keys' passphrase")
    add_force_option(p, "replace OUT if it exists (by default it is refused)")
    p.add_argument("--json", action="store_true", help="print a summary as JSON")
    p.set_defaults(func=run)


def run(args):
    if not args.force:  # before the keys' passphrases and the signing, not after
        refuse_existing(args.output, "output file")
    try:
        versions.parse(args.version)
    except ValueError:
        # Checked here, not first at publish: a device orders releases by this field, and an
        # image it cannot order would be refused by every repository and never offered.
        raise MpbootError("--version %r is not a release version: use Semantic Versioning, up to 32 bytes "
                          "(for example 1.0.0 or 1.1.0-rc.1)" % args.version) from None
    chip_id, board = signing.resolve_board(args.board)
    passphrase = keys.passphrase_from_env(args.passphrase_env)
    private_keys = [keys.load_private_key(path, passphrase) for path in args.key]
    root = anchor.load_root_file(args.root) if args.root else None
    source = signing.load_app(read_input(args.input), chip_id=chip_id, what=args.input)
    data = signing.sign_app(source.app, private_keys, args.version, args.security_version, chip_id, board,
                            secure_boot_sector=source.secure_boot_sector)
    boards.check_fits(len(data), board, chip_id, "the signed image")
    if root is not None:
        try:
            signing.verify_image(data, root, chip_id=chip_id, board=board or None)
        except MpbootError as e:
            keyids, threshold = root.roles["targets"]
            fix = ("; sign with %d of its targets keys (keyids %s)" % (threshold, ", ".join(k[:16] for k in keyids))
                   if "signature-threshold" in str(e) else "")
            raise MpbootError("not written: the signed image would not verify against %s: %s%s"
                              % (args.root, e, fix)) from None
    atomic_write(args.output, data, overwrite=args.force)
    manifest = image.read_manifest(BytesDevice(data))
    result = {
        "output": str(args.output),
        "source": source.description,
        "app_version": source.info.version,
        "project_name": source.info.project_name,
        "version": manifest.version,
        "security_version": manifest.security_version,
        "chip_id": manifest.chip_id,
        "board": manifest.board,
        "payload_len": manifest.payload_len,
        "payload_sha256": manifest.payload_sha256.hex(),
        "manifest_offset": manifest.offset,
        "length": manifest.length,
        "keyids": [keyid for keyid, _ in manifest.signatures],
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        app_name = " ".join(t for t in (source.info.project_name, source.info.version) if t)
        print("signed %s (%s%s) -> %s" % (args.input, source.description, ", " + app_name if app_name else "",
                                         args.output))
        print("  version %s, security version %d, %s, %d bytes, %d signature(s)" % (
            manifest.version, manifest.security_version,
            "board " + manifest.board if manifest.board else "any %s board" % args.board,
            manifest.length, len(manifest.signatures)))
