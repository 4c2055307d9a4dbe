"""`mpboot provision`: put the boot stage on a board running MicroPython, over its serial port."""

import argparse
import hashlib
import json
import sys
from types import SimpleNamespace

from mpboot import boards, floors, mpycross, progress, serialports
from mpboot.commands.device_files import add_settings, check_app, files_for
from mpboot.errors import MpbootError
from mpboot.fileio import read_input
from mpboot.mpremotelink import DeviceLink
from mpboot_fw import trust

ORDER = 66

EXAMPLES = """\
examples:
  mpboot provision --port /dev/ttyUSB0 --root root.json --app myapp/ --health app:healthy
  mpboot provision -p /dev/ttyUSB0 --app myapp/                  # again: only changed files are sent
  ESPTOOL_PORT=/dev/ttyACM0 mpboot provision --app myapp/         # the port as esptool takes it
  mpboot provision --port /dev/pts/3 --root root.json --reset     # an emulated board (emulate --serial)
  mpboot provision --port /dev/ttyUSB0 --root root.json --app myapp/ \\
      --update-url https://updates.lan:8443/ --tls-dir tls/      # ready for updates from `mpboot serve`
  mpboot provision --port /dev/ttyUSB0 --py                       # the device package as source, not .mpy

The board must run MicroPython with the partition table of a board in boards/ (the one that
`mpboot flash` wrote; --board names it, or it is recognised from the table the device reports).
Through the real mpremote, the command copies lib/mpboot_fw/, your --app files and mpboot.json
(the same files as `mpboot device-files`), then boot.py last, so that a board cut off half way
still boots as before. The package goes as .mpy files compiled for the .mpy version the board
reports (sys.implementation._mpy), or as source with --py; the other kind's files of the package
are removed from the board once the new ones are there (a .py is imported before its .mpy).
Each file is written to a temporary name and renamed, and skipped when the device already holds
the same bytes. The trust anchor goes into the state partition: --root
formats it on the device when it holds no state; a state with another root is kept unless
--replace-root (that also resets both floors: only for a board you own); that check runs once
the package is there, and a refusal leaves boot.py as it was. --reset reboots the board
afterwards, into the boot stage. Without --port the port is $ESPTOOL_PORT, else the one board
found on USB. On a terminal a progress bar shows on stderr (not with --quiet or --json).

""" + floors.OPTIONS_HELP + """ The device verifies the image it runs against --root with its own
code; if it does not verify, the floor starts at 0 (or --security-floor) and the command warns:
the boot stage will not run that image.
"""


def register(subparsers):
    p = subparsers.add_parser(
        "provision", help="copy the boot stage, config and trust anchor to a board (mpremote)",
        description="Provision a MicroPython board over its serial port: boot.py, the mpboot_fw "
        "package, the device configuration, your app, and the trust anchor in its state partition.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    serialports.add_options(p, 115200, "baud rate of its REPL (default 115200)")
    p.add_argument("--board", metavar="B", help="board from boards/ (default: recognised from the device's partitions)")
    add_settings(p)
    p.add_argument("--root", metavar="ROOT.json", help="trust anchor (root metadata) for a board without one")
    p.add_argument("--replace-root", action="store_true", help="reformat a state that holds another root")
    floors.add_options(p)
    p.add_argument("--reset", action="store_true", help="reset the board when done: the boot stage runs")
    p.add_argument("-v", "--verbose", action="store_true", help="name each file as it is written")
    p.add_argument("--json", action="store_true", help="print what was done as JSON")
    progress.add_option(p)
    p.set_defaults(func=run)


PARTITIONS = """
import esp32
print(repr([p.info()[:5] for t in (0, 1) for p in esp32.Partition.find(t)]))
"""
ROOT_HASH = """
import binascii, hashlib
from mpboot_fw import slots, statelog
try:
    _r = statelog.load(slots.state_partition(%r)).root()
    print(repr(binascii.hexlify(hashlib.sha256(_r).digest()).decode() if _r else ''))
except statelog.StateError:
    print(repr(None))
"""
RUNNING = """
from mpboot_fw import image, slots, trust
try:
    _m = image.verify_slot(slots.running(), trust.load_root(%r), %d, %r)
    print(repr({'security_version': _m.security_version, 'created': _m.created}))
except image.ImageError as _e:
    print(repr({'refused': str(_e)}))
"""
FORMAT = """
from mpboot_fw import slots, statelog
statelog.format_partition(slots.state_partition(%r), %r, floor=%d, time_floor=%d)
"""
FORMAT_TIMEOUT = 120  # seconds: the device verifies the root's signatures in pure Python
MPY = """
import sys
print(repr(getattr(sys.implementation, '_mpy', None)))
"""
REMOVE = """
import os
for _p in %r:
    os.remove(_p)
"""


def run(args):
    root = read_input(args.root, "root metadata") if args.root else None
    if root is not None:
        try:
            trust.load_root(root)  # the device checks it again before storing it
        except (trust.TrustError, ValueError) as e:
            raise MpbootError("--root cannot be the trust anchor: %s" % e) from None
        floors.choose(None, args.security_floor, args.time_floor)  # bad values refused before the device is touched
    elif args.security_floor is not None or args.time_floor is not None:
        raise MpbootError("--security-floor and --time-floor set up a state formatted with --root: they need --root")
    check_app(args)
    args.port = serialports.resolve(args.port, args.baud, "115200 is MicroPython's REPL rate")
    with progress.shown(args) as report_progress:
        report = _provision(args, root, report_progress)
    if report["running_image"] is not None:
        print("mpboot: warning: the image the board runs does not verify against --root (%s): the boot stage "
              "will not run it; install a signed image (mpboot install --port)" % report["running_image"],
              file=sys.stderr)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("%s: %s provisioned: %d files written, %d unchanged%s, package as %s, trust anchor %s%s"
              % (args.port, report["board"], len(report["written"]), len(report["unchanged"]),
                 ", %d removed" % len(report["removed"]) if report["removed"] else "",
                 "source" if report["mpy_version"] is None else ".mpy " + report["mpy_version"], report["root"],
                 "; resetting" if args.reset else ""))
        if report["state"] is not None:
            print("  the state starts with: %s" % floors.Start(**report["state"]).describe())


def _provision(args, root, report_progress):
    """The work on the device; returns the report."""
    report_progress("connecting to %s" % args.port)
    with DeviceLink(args.port, args.baud) as dev:
        report_progress("reading the device's partitions and files")
        board = _board(dev, args.board)
        mpy = None if args.source else _mpy_version(dev)
        files = files_for(args, board, mpy)
        report = dict(port=args.port, board=board.name, mpy_version=None if mpy is None else str(mpy), written=[],
                      unchanged=[], removed=[], root="kept", state=None, running_image=None)
        say = print if args.verbose and not args.json else (lambda text: None)
        # boot.py last: until it lands the board boots as before, whatever else was copied. The
        # other kind's package files go before the state step, which imports the new package.
        order = sorted(p for p in files if p.startswith("/lib/")) + ["stale", "state"] + \
            sorted(p for p in files if not p.startswith("/lib/") and p != "/boot.py") + ["/boot.py"]
        others = sorted(filter(None, (mpycross.counterpart(p) for p in files)))
        current = dev.hashes(sorted(files) + others)
        dev.makedirs(_dirs(files))
        changed = [p for p in files if current[p] != hashlib.sha256(files[p]).hexdigest()]
        total, done = sum(len(files[p]) for p in changed), 0
        for path in order:
            if path == "stale":
                report["removed"] = [p for p in others if current[p] is not None]
                if report["removed"]:
                    say("  removing %s" % ", ".join(report["removed"]))
                    dev.exec(REMOVE % (report["removed"],))
            elif path == "state":
                report.update(_anchor(dev, board, root, args, say, report_progress))
            elif path not in changed:
                report["unchanged"].append(path)
            else:
                say("  %s (%d bytes)" % (path, len(files[path])))
                dev.write_file(path, files[path],
                               lambda written, _, done=done: report_progress("writing files", done + written, total))
                done += len(files[path])
                report["written"].append(path)
        if args.reset:
            dev.reset()
    return report


def _mpy_version(dev):
    """The .mpy version the board's MicroPython imports, refused when mpy-cross cannot write it."""
    value = dev.eval_printed(MPY)
    if not isinstance(value, int):
        raise MpbootError("the board's MicroPython cannot import .mpy files (it has no sys.implementation._mpy): "
                          "pass --py to install the device code as source")
    version = mpycross.from_sys(value)
    mpycross.compiler(version)
    return version


def _board(dev, name):
    """The board definition whose partition table the device has."""
    table = {tuple(row) for row in dev.eval_printed(PARTITIONS)}
    candidates = [boards.load_board(name)] if name else [boards.load_board(n) for n in boards.list_boards()]
    for board in candidates:
        if table == {(p.type, p.subtype, p.offset, p.size, p.name) for p in board.partitions}:
            return board
    found = ", ".join("%s@0x%x" % (row[4], row[2]) for row in sorted(table, key=lambda r: r[2]))
    if name:
        raise MpbootError("the device's partition table (%s) is not board %s's: flash the board first "
                          "(mpboot flash-image, then mpboot flash)" % (found, name))
    raise MpbootError("the device's partition table (%s) matches no board in boards/: flash a board "
                      "layout first (mpboot flash-image, then mpboot flash), or pass --board" % found)


def _anchor(dev, board, root, args, say, progress):
    """Make sure the state partition holds a trust anchor. Returns what the report says about it:
    root (what was done), state (the floors.Start as a dict when the state was formatted now, else
    None), running_image (why the running image did not verify against the root, else None)."""
    held = dev.eval_printed(ROOT_HASH % boards.STATE_PARTITION)
    done = dict(state=None, running_image=None)
    if root is None:
        if not held:
            raise MpbootError("the device's state partition holds no trust anchor: pass --root ROOT.json")
        return dict(done, root="kept")
    if held == hashlib.sha256(root).hexdigest():
        return dict(done, root="kept (the same root)")
    if held and not args.replace_root:
        raise MpbootError("the device already trusts another root: keep it (drop --root), or pass "
                          "--replace-root to reformat its state (the floors start again)")
    say("  state partition: verifying the running image against the root of --root")
    progress("the device verifies its running image against the root")
    running = dev.eval_printed(RUNNING % (root, board.chip_id, board.name), timeout=FORMAT_TIMEOUT)
    refused = running.get("refused")
    start = floors.choose(None if refused else SimpleNamespace(**running), args.security_floor, args.time_floor)
    say("  state partition: formatting with the root of --root; %s" % start.describe())
    progress("the device checks the root and formats its state")
    dev.exec(FORMAT % (boards.STATE_PARTITION, root, start.security_floor, start.time_floor), timeout=FORMAT_TIMEOUT)
    return dict(root="replaced" if held else "stored", state=start.as_dict(), running_image=refused)


def _dirs(files):
    dirs = set()
    for path in files:
        parts = path.split("/")[1:-1]
        dirs.update("/" + "/".join(parts[:i + 1]) for i in range(len(parts)))
    return sorted(dirs, key=lambda d: d.count("/"))
