"""`mpboot bundle`: an application directory -> a signed bundle (.mpbundle)."""

import argparse
import json

from mpboot import __version__, anchor, boards, bundle, keys, mpycross, signing
from mpboot.errors import MpbootError
from mpboot.fileio import add_force_option, atomic_write, read_input, refuse_existing

ORDER = 32

EXAMPLES = """\
examples:
  mpboot bundle myapp/ --name myapp --version 1.0.0 --security-version 1 --key release.pem \\
      --board esp32-4mb -o myapp-1.0.0.mpbundle
  mpboot bundle myapp/ --name myapp --version 1.1.0 --security-version 1 --key t1.pem --key t2.pem \\
      --chip esp32 --mpy --root root.json -o myapp-1.1.0.mpbundle
  mpboot bundle libs/ --name sensors --version 0.3.0 --security-version 0 --key release.pem \\
      --min-firmware 1.2.0 -o sensors.mpbundle        # no main.py: a library, no entry point
  mpboot bundle --device-package --key release.pem --mpy -o mpboot.mpbundle   # mpboot's own package
  mpboot device-files --board esp32-4mb --root root.json --package-bundle mpboot.mpbundle \\
      --bundle myapp-1.0.0.mpbundle -o device/          # both on a device's filesystem

Every regular file under APPDIR goes in, by its path relative to APPDIR (hidden names and
__pycache__ are left out; a symbolic link is refused). The manifest lists each file's path,
size and SHA-256 and is signed like TUF metadata by every --key: a device takes the bundle only
when a threshold of its root's targets keys signed it. The manifest is checked by the device's
own code before signing, and the whole bundle verified after (against --root when given), so a
bundle the device would refuse is never written: paths must be relative ASCII (A-Z a-z 0-9 . _ -
and /), unique ignoring case, and not boot.py, the configuration or mpboot_fw/; at most 64 files,
256 KiB each, 512 KiB in all (docs/bundles.md has every rule).

--board B: only that board takes it; --chip C (esp32, esp32s3, esp32c3): any board with that
chip; neither: any board. --entry: the module the device starts (main when APPDIR has main.py).
--mpy compiles every .py to bytecode .mpy with mpy-cross for --mpy-version (default """ + str(mpycross.DEFAULT) + """),
or for the MicroPython in --firmware FILE, and records the .mpy version, which the device then
checks; .mpy files already in APPDIR must be bytecode of that version. --min-firmware: the oldest firmware version that may run the bundle.
An OUT that exists is refused unless --force, which replaces it whole.

--device-package (instead of APPDIR) bundles mpboot's device package itself: the bundle named
mpboot, holding mpboot_fw/*.py (or *.mpy with --mpy), version mpboot's own (""" + __version__ + """) unless
--version, security version 0 unless --security-version. The fixed loader /boot.py runs it from
/bundles/mpboot/ (mpboot device-files --package-bundle, or --key to build it on the fly).
"""


def register(subparsers):
    p = subparsers.add_parser(
        "bundle", help="build and sign an application bundle",
        description="Build a signed bundle of an application directory: a manifest (name, version, "
        "security version, board or chip, files with their SHA-256) signed like TUF metadata, then the files.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("appdir", metavar="APPDIR", nargs="?", help="directory holding the application's files")
    p.add_argument("--device-package", action="store_true",
                   help="instead of APPDIR: mpboot's device package, as the bundle named mpboot")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="bundle file to write (.mpbundle)")
    p.add_argument("--name", metavar="NAME", help="the bundle's name: 1-32 of a-z 0-9 _ -, starting with a letter "
                   "(its directory on the device; required with APPDIR)")
    p.add_argument("--version", metavar="V", help="release version, Semantic Versioning (1.0.0; required with APPDIR, "
                   "default %s with --device-package)" % __version__)
    p.add_argument("--security-version", type=int, metavar="N",
                   help="anti-rollback counter: devices refuse a bundle below the highest they confirmed "
                   "(required with APPDIR, default 0 with --device-package)")
    p.add_argument("--key", action="append", required=True, metavar="KEYFILE",
                   help="private signing key or pkcs11: URI (repeatable: one signature per key)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--board", metavar="B", help="only this board (from boards/) takes the bundle")
    where.add_argument("--chip", choices=sorted(boards.CHIPS), help="any board with this chip takes it")
    p.add_argument("--entry", metavar="MODULE[:FUNCTION]", help="what the device starts (default: main, if present)")
    p.add_argument("--mpy", action="store_true", help="compile .py files to .mpy with mpy-cross")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--mpy-version", metavar="V.S", help="with --mpy: the board's .mpy version (default %s)"
                        % mpycross.DEFAULT)
    target.add_argument("--firmware", metavar="FILE", help="with --mpy: or the MicroPython firmware it runs (.bin)")
    p.add_argument("--min-firmware", metavar="V", help="the oldest firmware version the bundle runs on")
    p.add_argument("--root", metavar="ROOT.json", help="verify the bundle against this root before writing")
    p.add_argument("--passphrase-env", metavar="VAR", help="environment variable holding the keys' passphrase")
    add_force_option(p, "replace OUT if it exists (by default it is refused)")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.set_defaults(func=run)


def run(args):
    if args.device_package:
        if args.appdir is not None or args.name is not None:
            raise MpbootError("--device-package bundles mpboot's own package as the bundle mpboot: drop %s"
                              % ("APPDIR" if args.appdir is not None else "--name"))
    else:
        missing = [o for o, v in (("APPDIR", args.appdir), ("--name", args.name), ("--version", args.version),
                                  ("--security-version", args.security_version)) if v is None]
        if missing:
            raise MpbootError("give %s (or --device-package for mpboot's own package)" % ", ".join(missing))
    if not args.force:  # before the keys' passphrases and the signing, not after
        refuse_existing(args.output, "output file")
    if (args.mpy_version or args.firmware) and not args.mpy:
        raise MpbootError("--%s chooses what --mpy compiles for: add --mpy"
                          % ("mpy-version" if args.mpy_version else "firmware"))
    board, chip_id = None, None
    if args.board:
        chip_id, board = signing.resolve_board(args.board)
        board = board or None  # a chip name given to --board: any board of that chip
    elif args.chip:
        chip_id = boards.CHIPS[args.chip].chip_id
    files = None if args.device_package else bundle.collect(args.appdir)
    compiled = None
    if args.mpy:
        if args.firmware:
            compiled = mpycross.of_firmware(read_input(args.firmware, "firmware"), args.firmware)
        else:
            compiled = mpycross.parse(args.mpy_version) if args.mpy_version else mpycross.DEFAULT
        if files is not None:
            files = bundle.compile_files(files, compiled)
    if args.device_package and args.entry is not None:
        raise MpbootError("--entry: the device package has none (the fixed loader starts mpboot_fw.stage): drop it")
    private_keys = signing_keys(args.key, args.passphrase_env)
    trusted = anchor.load_root_file(args.root) if args.root else signing.KeyAnchor(private_keys[0].public_key())
    if args.device_package:
        data, b = bundle.build_package(private_keys, trusted, version=args.version,
                                       security_version=args.security_version or 0, compiled=compiled, board=board,
                                       chip_id=chip_id, min_firmware=args.min_firmware)
    else:
        data, b = bundle.build(
            files, private_keys, trusted, name=args.name, version=args.version,
            security_version=args.security_version, board=board, chip_id=chip_id, mpy=bundle.mpy_major(files, compiled),
            min_firmware=args.min_firmware, entry=args.entry if args.entry is not None else bundle.default_entry(files))
    atomic_write(args.output, data, overwrite=args.force)
    if args.json:
        print(json.dumps(dict(bundle.fields(b), output=str(args.output), length=len(data)), indent=2))
    else:
        print("bundled %s -> %s: %s %s, security version %d, %d files, %d bytes, %d signature(s)" % (
            args.appdir or "the device package", args.output, b.name, b.version, b.security_version, len(b.files), len(data), len(b.keyids)))


def signing_keys(specs, passphrase_env=None):
    """The private keys of `specs` (key files or pkcs11: URIs), the passphrase from `passphrase_env`."""
    passphrase = keys.passphrase_from_env(passphrase_env)
    return [keys.load_private_key(path, passphrase) for path in specs]
