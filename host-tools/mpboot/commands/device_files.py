"""`mpboot device-files`: the filesystem a device needs for the boot stage, for flash-image --files."""

import argparse
import json
import os
import sys
from pathlib import Path

from mpboot import boards, mpycross, otaprovision, provision, tls
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
  mpboot flash-image --board esp32-4mb --app app-v1.mpb --firmware FIRMWARE.bin --root root.json \\
      --files device/ -o flash.bin

DIR receives boot.py (runs the verified boot stage first), lib/mpboot_fw/ (the device package)
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


def files_for(args, board, mpy):
    """{path: bytes} of the device's files, from the add_settings() options; the package
    compiled for .mpy version `mpy` (a mpycross.Version), or its source when `mpy` is None."""
    check_app(args)
    app = dict(update_files(args))
    app.update(read_files(args.app) if args.app else {})
    return provision.device_files(board, app, mpy=mpy, policy=args.policy, health=args.health, health_ms=args.health_ms,
                                  channel=args.channel)


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
    held = [path for path in sorted(files) if (out / path.lstrip("/")).exists()]
    if held and not args.force:
        raise MpbootError("%s already holds %s%s: refusing to overwrite; give --force to replace them, or a new "
                          "directory" % (out, held[0].lstrip("/"), " and %d more" % (len(held) - 1) if held[1:] else ""))
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
    if args.json:
        print(json.dumps(dict(output=str(out), files=sorted(files), update_url=args.update_url,
                              mpy_version=None if mpy is None else str(mpy)), indent=2))
    else:
        print("%s: %d files for %s (boot.py, lib/mpboot_fw/%s, mpboot.json%s%s)"
              % (out, len(files), board.name, " as source" if mpy is None else " as .mpy %s" % mpy,
                 ", updates from %s" % args.update_url if args.update_url else "", ", your app" if args.app else ""))
