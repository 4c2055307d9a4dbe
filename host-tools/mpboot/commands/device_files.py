"""`mpboot device-files`: the filesystem a device needs for the boot stage, for flash-image --files."""

import argparse
import json
from pathlib import Path

from mpboot import boards, provision
from mpboot.errors import MpbootError
from mpboot.fileio import atomic_write
from mpboot.flashimage import read_files

ORDER = 58

EXAMPLES = """\
examples:
  mpboot device-files --board esp32-4mb --app myapp/ -o device/
  mpboot device-files --board esp32-4mb --app myapp/ --health app_health:check --health-ms 10000 -o device/
  mpboot flash-image --board esp32-4mb --app app-v1.mpb --firmware FIRMWARE.bin --root root.json \\
      --files device/ -o flash.bin

DIR receives boot.py (runs the verified boot stage first), lib/mpboot_fw/ (the device package)
and mpboot.json (the configuration: board, chip, policy, health check, channel), then the
files of --app (your main.py and modules) on top. --health names a function the trial boot of a
new image calls before confirming it; it must return a true value within --health-ms, under a
watchdog. --policy every-boot (default) verifies the running image on every boot; trial-only
only on the first boot after an install (docs/boot-stage.md has the costs).
"""


def register(subparsers):
    p = subparsers.add_parser(
        "device-files", help="write the files a device needs for the boot stage",
        description="Write boot.py, the mpboot_fw package and the device configuration into a "
        "directory, for `mpboot flash-image --files`.", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--board", required=True, metavar="B", help="board from boards/ (%s)" % ", ".join(boards.list_boards()))
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="directory to write (created if missing)")
    add_settings(p)
    p.add_argument("--json", action="store_true", help="print the files written as JSON")
    p.set_defaults(func=run)


def add_settings(p):
    """The options that make up a device's files (also taken by `mpboot provision`)."""
    p.add_argument("--app", metavar="APPDIR", help="your application's files (main.py, modules), copied on top")
    p.add_argument("--policy", choices=("every-boot", "trial-only"), help="normal-boot verification (default every-boot)")
    p.add_argument("--health", metavar="MODULE:FUNCTION", help="health check run on a trial boot")
    p.add_argument("--health-ms", type=int, metavar="MS", help="its time limit (default 10000, at least 1000)")
    p.add_argument("--channel", metavar="NAME", help="update channel (default stable)")


def files_for(args, board):
    """{path: bytes} of the device's files, from the add_settings() options."""
    if args.app and not Path(args.app).is_dir():
        raise MpbootError("--app %s is not a directory: give the directory holding main.py" % args.app)
    app = read_files(args.app) if args.app else None
    return provision.device_files(board, app, policy=args.policy, health=args.health, health_ms=args.health_ms,
                                  channel=args.channel)


def run(args):
    board = boards.load_board(args.board)
    files = files_for(args, board)
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise MpbootError("-o %s is a file: give a directory" % out)
    for path, data in files.items():
        target = out / path.lstrip("/")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise MpbootError("cannot create %s: %s" % (target.parent, e.strerror or e)) from None
        atomic_write(target, data)
    if args.json:
        print(json.dumps(dict(output=str(out), files=sorted(files)), indent=2))
    else:
        print("%s: %d files for %s (boot.py, lib/mpboot_fw/, mpboot.json%s)"
              % (out, len(files), board.name, ", your app" if args.app else ""))
