"""`mpboot install`: install a signed image manually, through the device's own installer."""

import argparse
import json

from mpboot import boards, bundle as hostbundle, manualinstall, progress, serialinstall, serialports
from mpboot.emulator.board import Board
from mpboot.errors import MpbootError
from mpboot.fileio import read_input
from mpboot.mpy.runtime import RuntimeMissing

ORDER = 67

EXAMPLES = """\
examples:
  mpboot install --flash flash.bin app-v2.mpb          # on the emulated board
  mpboot install --flash flash.bin app-v2.mpb -v       # and show the board's console
  mpboot install --flash flash.bin app-v2.mpb --json
  mpboot install --flash flash.bin myapp-2.0.0.mpbundle  # a bundle (mpboot bundle), its trial, its verdict
  mpboot install -p /dev/ttyUSB0 app-v2.mpb            # a board on USB (provisioned: mpboot provision)
  mpboot install app-v2.mpb                            # the one board on USB, or $ESPTOOL_PORT
  mpboot log flash.bin                                 # what the device recorded

The board boots FLASH.bin (updated in place), and at its REPL the device's installer receives
IMAGE over the (emulated) serial link, writes it into the inactive slot in 4 KiB blocks,
verifies it in flash against the trust anchor in the state partition (signatures, chip, board,
security version not below the floor), and resets into a trial boot; the boot stage verifies it
again, runs the health check and confirms it, or the previous image comes back. Exit status 0
only when the device confirmed the image; otherwise 1 and the device's reason from its log
(refused <check>, trial-failed <check>, rolled-back). With --port the same happens on a board
over its serial port, through mpremote's raw REPL (an emulated one: mpboot emulate --serial);
without --flash or --port, the port is $ESPTOOL_PORT, else the one board found on USB. A board
with native USB (ESP32-S3/C3) re-enumerates when it resets: the command waits up to --timeout
for its port to come back. On a terminal a progress bar shows on stderr (not with --quiet or
--json); docs/serial.md.

A bundle (.mpbundle, mpboot bundle) goes to the device's bundle store instead: it writes the
bundle's inactive copy, verifies every file in place against the signed manifest (signatures,
board, chip, the bundle's security floor), points the next boot at it and resets; the boot
stage verifies it again, imports its entry, runs the health check and confirms it, or the
previous copy comes back (docs/bundles.md). Exit status 0 only when the device confirmed it.
"""


def register(subparsers):
    p = subparsers.add_parser(
        "install", help="install a signed image on a device through its installer",
        description="Manual install: stream a signed image into the device's installer, let it "
        "verify, switch, trial-boot and confirm, and report the device's verdict.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", metavar="IMAGE", help="signed image file (mpboot sign) or bundle (mpboot bundle)")
    p.add_argument("--flash", metavar="FLASH.bin",
                   help="the emulated board's whole-flash image (mpboot flash-image), updated in place")
    serialports.add_options(p, 115200, "with a port: baud rate of its REPL (default 115200)",
                            port_help="a board's serial port (/dev/ttyUSB0, /dev/pts/N): install through mpremote")
    p.add_argument("--board", metavar="B", help="board definition (default: recognised from the image's partition table)")
    p.add_argument("--timeout", type=float, default=20.0, metavar="S",
                   help="seconds a boot may run before it counts as hung; with a port, seconds the "
                   "device may stay silent or its port away after a reset (default 20)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show the board's console: bootloader decisions and MicroPython output")
    p.add_argument("--json", action="store_true", help="print the verdict and the device's events as JSON")
    progress.add_option(p)
    p.set_defaults(func=run)


def run(args):
    if args.timeout <= 0:
        raise MpbootError("--timeout must be more than 0 seconds")
    if args.flash and args.port:
        raise MpbootError("--flash (the emulated board) or --port (a board), not both")
    if args.flash is None:
        args.port = serialports.resolve(args.port, args.baud, "115200 is MicroPython's REPL rate")
    data = read_input(args.image, "image")
    echo = _echo if args.verbose and not args.json else None
    if args.port:
        with progress.shown(args) as report:
            result = serialinstall.install(args.port, data, args.baud, args.timeout, echo, report)
        return _report(args, result, hostbundle.is_bundle(data))
    flash = read_input(args.flash, "flash image")
    board = boards.load_board(args.board) if args.board else boards.recognise(flash, args.flash)
    run = manualinstall.install_bundle if hostbundle.is_bundle(data) else manualinstall.install
    try:
        with progress.shown(args) as report, Board(args.flash, board, echo=echo, run_timeout=args.timeout) as emulated:
            result = run(emulated, data, progress=report)
    except RuntimeMissing as e:
        raise MpbootError(str(e)) from None
    return _report(args, result, hostbundle.is_bundle(data))


def _report(args, result, is_bundle=False):
    if args.json:
        print(json.dumps(dict(accepted=result.accepted, reason=result.reason, running=result.running,
                              floor=result.floor, events=result.events,
                              boots=[dict(slot=r.slot, outcome=r.outcome) for r in result.boots]), indent=2))
        return 0 if result.accepted else 1
    if not result.accepted:
        raise MpbootError("the device did not accept %s: %s (see %s)" % (
            args.image, result.reason, "`mpboot log %s`" % args.flash if args.flash else "the device's log"))
    where = "copy %s" % result.running if is_bundle else result.running
    print("%s: installed and %s; running from %s, security floor %d"
          % (args.image, result.reason, where, result.floor))


def _echo(line):
    print("  | " + line)
