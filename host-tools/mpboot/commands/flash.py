"""`mpboot flash`: write a whole-flash image to a board with the real esptool."""

import argparse
import json
import os
import shlex
import subprocess
import sys

from mpboot import boards, progress, serialports
from mpboot.errors import MpbootError
from mpboot.fileio import read_input

ORDER = 64
# A pseudo-terminal has no DTR/RTS lines, so esptool cannot reset what is behind it into the ROM
# loader (it would warn and carry on): that board waits in download mode already, as the emulated
# one started with `mpboot emulate --serial --download` does. Its ROM loader runs the flash when
# told to (soft-reset: FLASH_END, run user code) and cannot run esptool's stub, which is machine
# code; compressed blocks keep the transfer as short as the stub's would be.
PTY_OPTIONS = ["--before", "no-reset", "--after", "soft-reset", "--no-stub"]

EXAMPLES = """\
examples:
  mpboot flash --port /dev/ttyUSB0 flash.bin                 # the board is recognised from the image
  mpboot flash --port /dev/ttyUSB0 flash.bin --dry-run       # print the esptool command only
  mpboot flash --port COM3 flash.bin --board esp32s3-8mb --baud 921600

FLASH.bin is a whole-flash image from `mpboot flash-image` (bootloader, partition table,
otadata, the app in ota_0, the filesystem, the state partition with the trust anchor). It is
written at offset 0 by `esptool --chip CHIP -p PORT -b BAUD write-flash 0x0 FLASH.bin`, which
keeps the image's flash mode, frequency and size (esptool's default), so the board ends up
with exactly these bytes. On a pseudo-terminal (/dev/pts/N: the emulated board of
`mpboot emulate FLASH.bin --serial --download`) esptool also gets `--before no-reset
--after soft-reset --no-stub` and `write-flash --compress`: no modem lines to reset with, and
the chip's ROM loader does the writing and then runs the flash. This replaces everything on the board, the boot stage's state (its
security floor and log) included: it is for a new board. Updates of a running board go through
`mpboot install --port` or OTA.
"""


def register(subparsers):
    p = subparsers.add_parser(
        "flash", help="write a whole-flash image to a board (esptool)",
        description="Flash a whole-flash image (mpboot flash-image) to a board over its serial "
        "port with esptool, at offset 0.", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", metavar="FLASH.bin", help="whole-flash image (mpboot flash-image)")
    serialports.add_options(p, 460800, "baud rate while flashing (default 460800)")
    p.add_argument("--board", metavar="B", help="board from boards/ (default: the one whose partition table the image has)")
    p.add_argument("--chip", choices=sorted(boards.CHIPS),
                   help="the chip, as esptool's --chip: checked against the image's board (default: the board's)")
    p.add_argument("--connect-attempts", type=int, metavar="N", help="esptool's connection attempts (its default: 7)")
    p.add_argument("--dry-run", action="store_true", help="print the esptool command instead of running it")
    p.add_argument("--json", action="store_true", help="with --dry-run: the command as a JSON list")
    progress.add_option(p)
    p.set_defaults(func=run)


def esptool_args(board, port, baud, image_path, connect_attempts=None, quiet=False):
    """esptool's arguments (after the program name) to write `image_path` at offset 0."""
    pty = is_pty(port)
    args = ["--chip", board.chip, "-p", port, "-b", str(baud)] + (PTY_OPTIONS if pty else [])
    if quiet:
        args.insert(0, "--silent")  # esptool draws its own progress: --quiet silences it too
    if connect_attempts is not None:
        args += ["--connect-attempts", str(connect_attempts)]
    return args + ["write-flash"] + (["--compress"] if pty else []) + ["0x0", str(image_path)]


def is_pty(port):
    """Whether `port` (or what a symlink there points to) is a Linux pseudo-terminal."""
    return os.path.realpath(port).startswith("/dev/pts/")


def run(args):
    image = read_input(args.image, "flash image")
    board = _board(args.board, image, args.image)
    if args.chip is not None and args.chip != board.chip:
        raise MpbootError("--chip %s, but %s is for board %s, an %s: flash it to an %s board, or make an image for "
                          "this chip (mpboot flash-image --board ...)" % (args.chip, args.image, board.name, board.chip,
                                                                         board.chip))
    if args.json and not args.dry_run:
        raise MpbootError("--json goes with --dry-run (esptool prints its own progress)")
    args.port = serialports.resolve(args.port, args.baud, "460800 suits most boards")
    esptool = esptool_args(board, args.port, args.baud, args.image, args.connect_attempts, args.quiet)
    if args.dry_run:
        print(json.dumps(["esptool"] + esptool) if args.json else shlex.join(["esptool"] + esptool))
        return 0
    serialports.check_serial(args.port)
    code = subprocess.call([sys.executable, "-m", "esptool"] + esptool)
    if code and is_pty(args.port):
        raise MpbootError("esptool failed (exit %d, its message is above): a pseudo-terminal cannot reset the board "
                          "into its ROM loader, so it must wait there already (mpboot emulate FLASH.bin --serial "
                          "--download)" % code)
    if code:
        raise MpbootError("esptool failed (exit %d, its message is above): check --port, and hold the board's "
                          "BOOT button while connecting if it does not enter its bootloader by itself" % code)
    print("%s written to the %s on %s" % (args.image, board.name, args.port))


def _board(name, image, path):
    if name is None:
        return boards.recognise(image, path)
    board = boards.load_board(name)
    if len(image) != board.flash_size:
        raise MpbootError("%s is %d bytes but board %s has %d bytes of flash: make the image for this board "
                          "(mpboot flash-image --board %s)" % (path, len(image), board.name, board.flash_size, board.name))
    matched = boards.match_image(image)
    if matched is None or matched.name != board.name:
        raise MpbootError("%s does not hold board %s's partition table: make the image for this board "
                          "(mpboot flash-image --board %s)" % (path, board.name, board.name))
    return board
