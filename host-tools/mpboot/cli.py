"""The `mpboot` command line: thin commands over library functions.

Every module in `mpboot.commands` registers its own subcommand (`register(subparsers)`), so a
new command is one new file. A command raises `MpbootError` for anything the user can fix; this
module prints it as one line and exits non-zero.
"""

import argparse
import importlib
import os
import pkgutil
import sys

from mpboot import __version__, commands
from mpboot.errors import MpbootError

EPILOG = """\
a first round trip:
  mpboot keygen release.pem
  mpboot root init root.json --root-key release.pem --targets-key release.pem.pub
  mpboot sign --key release.pem --version 1.0.0 --security-version 1 --board esp32-4mb firmware.bin -o app-v1.mpb
  mpboot verify --root root.json app-v1.mpb

Run `mpboot COMMAND --help` for each command's options and examples.
"""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="mpboot",
        description="Sign, verify, publish and install MicroPython firmware for ESP32 boards with a "
        "verified boot stage and over-the-air updates.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version="mpboot " + __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = [importlib.import_module("mpboot.commands." + m.name) for m in pkgutil.iter_modules(commands.__path__)]
    for module in sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__)):
        module.register(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if sys.stdout is None:  # started with file descriptor 1 closed (`mpboot ... >&-`)
        print("mpboot: error: standard output is closed: give the command one (>/dev/null to discard "
              "what it prints)", file=sys.stderr)
        return 1
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = args.func(args) or 0
        sys.stdout.flush()  # a reader that went away is seen here, not at interpreter exit
        return code
    except BrokenPipeError:
        # `mpboot inspect --json X | head -1`: the reader has what it wanted. Python's advice:
        # point stdout at devnull so the exit-time flush cannot raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except MpbootError as e:
        print("mpboot: error: %s" % e, file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("mpboot: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
