"""`mpboot provision`: put the boot stage on a board running MicroPython, over its serial port."""

import argparse
import hashlib
import json
import sys
from types import SimpleNamespace

from mpboot import boards, bundle, floors, mpycross, progress, resources, serialports
from mpboot.commands.device_files import add_settings, check_app, files_for, signed_inputs, signed_sources
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
  mpboot provision -p /dev/ttyUSB0 --root root.json --key release.pem --bundle myapp-1.0.0.mpbundle
      # the package as the signed bundle mpboot, your app as a bundle (docs/bundles.md)

The board must run MicroPython with the partition table of a board in boards/ (the one that
`mpboot flash` wrote; --board names it, or it is recognised from the table the device reports).
Through the real mpremote, the command copies lib/mpboot_fw/, your --app files and mpboot.json
(the same files as `mpboot device-files`), then boot.py last, so that a board cut off half way
still boots as before. The package goes as .mpy files compiled for the .mpy version the board
reports (sys.implementation._mpy), or as source with --py; the other kind's files of the package
are removed from the board once the new ones are there (a .py is imported before its .mpy).
Each file is written to a temporary name and renamed, and skipped when the device already holds
the same bytes. Bundles (--bundle, --package-bundle or --key, as device-files takes them; they
need --root) go into /bundles/NAME/ as device-files lays them out, each copy's files and manifest
first and its pointer last, into the copy the device does not run (copy b when it runs a with
another manifest; a copy the device already holds whole is kept), and files of an earlier
release in that copy are removed first; the package's bundle before the state step, which runs
from it. With the package as a bundle, boot.py is the fixed loader and lib/mpboot_fw/ on the
board is removed once boot.py is there. The trust anchor goes into the state partition: --root
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
PACKAGE_POINTER = "%s/%s/boot" % (bundle.ROOT, bundle.fmt.DEVICE_PACKAGE)  # in the files: the package is a bundle
FORMAT_TIMEOUT = 120  # seconds: the device verifies the root's signatures in pure Python
MPY = """
import sys
print(repr(getattr(sys.implementation, '_mpy', None)))
"""
LIST = """
import os
def _walk(d, files, dirs):
    try:
        names = os.listdir(d)
    except OSError:
        return
    for n in names:
        p = d + '/' + n
        if os.stat(p)[0] & 0x4000:
            dirs.append(p)
            _walk(p, files, dirs)
        else:
            files.append(p)
_r = {}
for _n in %r:
    try:
        with open(%r + '/' + _n + '/boot', 'rb') as _f:
            _p = _f.read(64)
    except OSError:
        _p = None
    _f, _d = [], []
    _walk(%r + '/' + _n, _f, _d)
    _r[_n] = (_p, _f, _d)
print(repr(_r))
del _walk, _r
"""
REMOVE_TREE = """
import os
for _p in %r:
    try:
        os.remove(_p)
    except OSError:
        os.rmdir(_p)
"""
PATH = """
import sys
sys.path.insert(0, %r)
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
    args.signed = signed_sources(args)  # bad bundles, keys or --root refused before the device is touched
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
        signed = signed_inputs(args, mpy, args.signed)
        files = files_for(args, board, mpy, signed)
        names = _bundle_names(files)
        held = dev.eval_printed(LIST % (names, bundle.ROOT, bundle.ROOT)) if names else {}
        copies = _copies(dev, files, held)
        if any(c != "a" for c in copies.values()):
            files = files_for(args, board, mpy, signed, copies)
        report = dict(port=args.port, board=board.name, mpy_version=None if mpy is None else str(mpy), written=[],
                      unchanged=[], removed=[], root="kept", state=None, running_image=None,
                      bundles={n: copies.get(n, "a") for n in names})
        say = print if args.verbose and not args.json else (lambda text: None)
        order = _order(files, names)
        others = sorted(filter(None, (mpycross.counterpart(p) for p in files)))
        legacy = _legacy_package() if PACKAGE_POINTER in files else []
        current = dev.hashes(sorted(files) + others + legacy)
        # What the fixed loader would run instead of the package written now, once boot.py is there.
        if PACKAGE_POINTER in files:
            gone = [p for p in legacy if current[p] is not None]
        else:  # the package's bundle: its pointer first (the loader then takes /lib), then its copies
            where = "%s/%s" % (bundle.ROOT, bundle.fmt.DEVICE_PACKAGE)
            package = dev.eval_printed(LIST % ([bundle.fmt.DEVICE_PACKAGE], bundle.ROOT, bundle.ROOT))
            gone = sorted(_extra(package[bundle.fmt.DEVICE_PACKAGE], {}, where + "/"), key=lambda p: p != PACKAGE_POINTER)
            gone += [where] if gone else []
        dev.makedirs(_dirs(files))
        changed = [p for p in files if current[p] != hashlib.sha256(files[p]).hexdigest()]
        total, done = sum(len(files[p]) for p in changed), 0
        for path in order:
            if isinstance(path, tuple):  # (step, name): before a bundle's files
                extra = _extra(held.get(path[1]), files, "%s/%s/%s/" % (bundle.ROOT, path[1], copies.get(path[1], "a")))
                if extra:
                    say("  removing %s" % ", ".join(extra))
                    dev.exec(REMOVE_TREE % (extra,))
                    report["removed"] += extra
            elif path == "stale":
                stale = [p for p in others if current[p] is not None]
                if stale:
                    say("  removing %s" % ", ".join(stale))
                    dev.exec(REMOVE % (stale,))
                    report["removed"] += stale
            elif path == "state":
                if PACKAGE_POINTER in files:  # the package is the bundle's copy: import it from there
                    dev.exec(PATH % bundle.copy_dir(bundle.fmt.DEVICE_PACKAGE, copies.get(bundle.fmt.DEVICE_PACKAGE, "a")))
                report.update(_anchor(dev, board, root, args, say, report_progress))
            elif path == "superseded":  # the other layout's package, which the fixed loader would run or keep
                if gone:
                    say("  removing %s" % ", ".join(gone))
                    dev.exec(REMOVE_TREE % (gone,))
                    report["removed"] += gone
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


def _bundle_names(files):
    """The bundles in `files`, the package first (its bundle runs the state step), then by name."""
    names = sorted(p.split("/")[2] for p in files if p.startswith(bundle.ROOT + "/") and p.endswith("/boot"))
    return sorted(names, key=lambda n: n != bundle.fmt.DEVICE_PACKAGE)


def _order(files, names):
    """The order of the writes, so that a board cut off half way still boots as before: each
    bundle's files and manifest, then its pointer (a copy is named only once it is all there);
    the package's bundle or lib/mpboot_fw/ before the state step, which imports the package;
    the other kind's package files before that; boot.py last of all, then the other layout's
    package is removed: lib/mpboot_fw/ when the package is a bundle now, else the bundle mpboot
    (its pointer first: the fixed loader would run that copy and not lib/mpboot_fw/)."""
    steps = {n: [("clean", n)] + [p for p in files if p.startswith("%s/%s/" % (bundle.ROOT, n))] for n in names}
    package = steps.pop(bundle.fmt.DEVICE_PACKAGE, [])
    rest = [p for n in names if n in steps for p in steps[n]]
    done = set(p for p in package + rest if isinstance(p, str))
    return (package + sorted(p for p in files if p.startswith("/lib/")) + ["stale", "state"] + rest
            + sorted(p for p in files if not p.startswith("/lib/") and p not in done and p != "/boot.py")
            + ["/boot.py", "superseded"])


def _copies(dev, files, held):
    """{name: copy} to write each bundle into: the copy the device runs when it holds the same
    manifest (only what differs is written again), else the copy it does not run, so that a cut
    leaves the running copy whole (its pointer names it until the new pointer lands)."""
    out = {}
    kept = {n: _active(held[n][0]) for n in held}
    manifests = {"%s/%s/%s.mpbm" % (bundle.ROOT, n, c): n for n, c in kept.items() if c}
    hashes = dev.hashes(sorted(manifests)) if manifests else {}
    for n, c in kept.items():
        ours = hashlib.sha256(files["%s/%s/a.mpbm" % (bundle.ROOT, n)]).hexdigest()
        if c is None:
            out[n] = "a"
        elif hashes["%s/%s/%s.mpbm" % (bundle.ROOT, n, c)] == ours:
            out[n] = c
        else:
            out[n] = "b" if c == "a" else "a"
    return out


def _active(pointer):
    """The copy a pointer's bytes name as confirmed, or None (no pointer, `-`, or one this
    reading cannot trust: then copy a is written, as on a new device)."""
    words = pointer.split(b" ") if pointer is not None else []
    return words[0].decode() if words and words[0] in (b"a", b"b") else None


def _extra(held, files, prefix):
    """What the device holds under `prefix` (a copy's directory) that `files` do not: the
    device refuses a copy holding a file its manifest does not name. Files, then directories
    deepest first, as REMOVE_TREE takes them."""
    if held is None:
        return []
    ours = set(files) | {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}
    _, held_files, held_dirs = held
    return (sorted(p for p in held_files if p.startswith(prefix) and p not in ours)
            + sorted((d for d in held_dirs if d.startswith(prefix) and d not in ours), key=lambda d: -d.count("/")))


def _legacy_package():
    """Where the package's files lie in the legacy layout (either kind)."""
    stems = sorted(p.stem for p in resources.device_package_dir().glob("*.py"))
    return [mpycross.COMPILED_DIR + s + ext for s in stems for ext in (".py", ".mpy")]


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
