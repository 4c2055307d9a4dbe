"""`mpboot emulate`: boot a whole-flash image on the emulated board and print what happens."""

import argparse
import json

from mpboot import boards, progress
from mpboot.emulator import console, runtimes
from mpboot.emulator.board import CAUSE_NAMES, Board
from mpboot.emulator.flash import CUT_MODES, CutPlan
from mpboot.emulator.net import NetHandler
from mpboot.errors import MpbootError
from mpboot.fileio import read_input
from mpboot.mpy.runtime import RuntimeMissing

ORDER = 65

EXAMPLES = """\
examples:
  mpboot emulate flash.bin                        # one boot: bootloader decisions, MicroPython output
  mpboot emulate flash.bin --boots 3              # boot again after each reset
  mpboot emulate flash.bin --boots 2 --cut-at 5 --cut-mode torn   # power cut in flash operation 5
  mpboot emulate flash.bin --json
  mpboot emulate flash.bin --runtime wasm         # MicroPython's WebAssembly port instead of the unix port
  mpboot emulate flash.bin --net --boots 3        # the board reaches `mpboot serve` on 127.0.0.1
  mpboot emulate flash.bin --serial               # its serial console on a pty, for mpremote
  mpboot emulate flash.bin --serial --serial-link /tmp/ttyESP32   # ... also at a fixed path
  mpboot emulate new.bin --board esp32-4mb --serial --download    # a new board waiting for esptool

FLASH.bin is the board's flash (as `mpboot flash-image` writes it) and is updated in place, as a
board's flash would be: boot it again to continue where it left off. Flash operations (each
sector erase, each write) are numbered from 0 in this run; --cut-at K cuts the power before,
in the middle of (torn), or after operation K, and the next boot starts from power-on.
The board is recognised from the image's partition table, or given with --board.
With --serial the board runs until interrupted, rebooting as a board does, with its console
(boot output, then MicroPython's REPL) on a pseudo-terminal: `mpremote connect /dev/pts/N ...`
works on it (exec, fs, run, soft reset); docs/serial.md.
The app runs on MicroPython's unix port where it is installed (the vfs partition mounted by its
VfsLfs2, every file operation a flash operation that --cut-at reaches), else on the WebAssembly
port (files copied in and written back around each boot); --runtime or $MPBOOT_BOARD_RUNTIME
picks one, --serial included.
On a terminal a progress bar (boot N of --boots) shows on stderr, not with --quiet or --json.
Exit status 0 when the boots ran, whatever each one's outcome (ok, reset, panic, hang, no_app,
power_cut...: read it in the output or --json); 1 for a file or option that is wrong.
"""


def register(subparsers):
    p = subparsers.add_parser(
        "emulate", help="boot a flash image on the emulated board",
        description="Run a whole-flash image on the emulated ESP32: ESP-IDF's bootloader rules "
        "(slot choice, rollback, image checks), then real MicroPython with the board's esp32 and "
        "machine modules, boot.py and main.py.", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("flash", metavar="FLASH.bin", help="whole-flash image (updated in place)")
    p.add_argument("--board", metavar="B", help="board definition (default: the one whose partition table the image has)")
    p.add_argument("--boots", type=int, default=1, metavar="N", help="number of boots (default 1)")
    p.add_argument("--cut-at", type=int, metavar="K", help="cut the power at flash operation K of this run")
    p.add_argument("--cut-mode", choices=CUT_MODES, default="before",
                   help="before, torn or after the operation (default before)")
    p.add_argument("--timeout", type=float, default=20.0, metavar="S",
                   help="seconds a boot may run before it counts as hung (default 20)")
    p.add_argument("--json", action="store_true", help="print the boot records as JSON")
    p.add_argument("--runtime", choices=runtimes.NAMES,
                   help="the MicroPython that runs the app (default: unix where installed, else wasm)")
    progress.add_option(p)
    p.add_argument("--heap", type=int, metavar="KIB",
                   help="the board's fixed MicroPython heap in KiB (unix runtime): a MemoryError when it is full, as "
                        "on a board. Objects are 64-bit there: an ESP32 without PSRAM is about 146 (docs/emulator.md)")
    p.add_argument("--net", action="store_true",
                   help="give the board a network: real TCP and TLS to this machine's loopback (for the updater)")
    p.add_argument("--serial", action="store_true",
                   help="run until interrupted, with the serial console (REPL) on a pseudo-terminal")
    p.add_argument("--serial-link", metavar="PATH", help="with --serial: also a symlink to the pty at PATH")
    p.add_argument("--stop-after", type=float, metavar="S", help="with --serial: stop after S seconds")
    p.add_argument("--download", action="store_true",
                   help="with --serial: power on in the ROM's serial download mode (GPIO0 held low) for esptool "
                   "(mpboot flash --port); a FLASH.bin that does not exist is a new board's erased flash (give --board)")
    p.set_defaults(func=run)


def run(args):
    if args.boots < 1:
        raise MpbootError("--boots must be at least 1")
    if args.cut_at is not None and args.cut_at < 0:
        raise MpbootError("--cut-at must be an operation number, 0 or more")
    if args.timeout <= 0:
        raise MpbootError("--timeout must be more than 0 seconds")
    if args.heap is not None and args.heap < 64:
        raise MpbootError("--heap must be at least 64 KiB: the interpreter and the emulated board's own modules need that")
    if args.board:
        board = boards.load_board(args.board)
    else:
        board = boards.recognise(read_input(args.flash, "flash image"), args.flash)
    if args.serial or args.serial_link or args.stop_after is not None or args.download:
        if args.heap is not None:
            raise MpbootError("--heap is not taken with the serial console yet: leave it out, or boot without --serial")
        return _serial(args, board)
    echo = None if args.json else print
    try:
        services = {"net": NetHandler()} if args.net else None
        with progress.shown(args) as report, Board(args.flash, board, runtime=args.runtime, echo=echo,
                                                   run_timeout=args.timeout, services=services,
                                                   heap=None if args.heap is None else args.heap * 1024) as emulated:
            emulated.flash.reset_log()
            if args.cut_at is not None:
                emulated.flash.cut = CutPlan(args.cut_at, args.cut_mode)
            records = []
            for _ in range(args.boots):
                report("booting", len(records), args.boots, unit="boots")
                kind, cause = emulated.next_boot
                if echo:
                    print("=== boot %d (%s, reset cause %s) ===" % (len(records), kind, CAUSE_NAMES[cause]))
                record = emulated.boot()
                records.append(record)
                if echo:
                    print("--- %s; flash: %d operations (%d erases, %d writes); %.2f s"
                          % (_outcome(record), record.flash["operations"], record.flash["erases"],
                             record.flash["writes"], record.seconds))
            report("booting", len(records), args.boots, unit="boots")
            totals = emulated.flash.stats()
    except RuntimeMissing as e:
        raise MpbootError(str(e)) from None
    if args.json:
        print(json.dumps(dict(board=board.name, boots=[r.to_dict() for r in records], flash=totals), indent=2))
    else:
        print("flash totals: %(operations)d operations, %(erases)d erases, %(writes)d writes, "
              "%(faults)d faults, at most %(max_erases_per_sector)d erases of one sector" % totals)


def _serial(args, board):
    if not args.serial:
        raise MpbootError("--serial-link, --stop-after and --download go with --serial")
    if args.boots != 1 or args.cut_at is not None or args.json:
        raise MpbootError("--serial runs until interrupted: drop --boots, --cut-at and --json")
    try:
        console.run(args.flash, board, link=args.serial_link, run_timeout=args.timeout, seconds=args.stop_after,
                    download=args.download, runtime=args.runtime)
    except RuntimeMissing as e:
        raise MpbootError(str(e)) from None


def _outcome(record):
    text = "outcome: " + record.outcome
    return text + " (%s)" % record.error if record.error else text
