"""`mpboot log`: the boot stage's state and event log, read from a whole-flash image.

The state partition (label `mpboot`) is found through the image's partition table at 0x8000, or
through a board definition with --board, and read with the device's own reader
(mpboot_fw.statelog), so the host shows exactly what the device would load. Nothing is written.
"""

import argparse
import hashlib
import json

from mpboot.boards import STATE_PARTITION, load_board
from mpboot.errors import MpbootError
from mpboot.espidf import partition_table as pt
from mpboot.fileio import read_input
from mpboot.floors import describe_time
from mpboot_fw import statelog
from mpboot_fw.blockdev import BytesDevice

ORDER = 70

# The bundle events (docs/bundles.md): their detail is the bundle's name, then these words.
BUNDLE_EVENTS = {
    "bundle-installed": ("version", "copy"),
    "bundle-refused": (),
    "bundle-verified": ("version", "copy"),
    "bundle-confirmed": ("version", "copy"),
    "bundle-trial-failed": ("version", "copy"),
    "bundle-rolled-back": ("copy",),
    "bundle-switched": ("copy",),
    "bundle-held": ("version",),
}

EXAMPLES = """\
examples:
  mpboot log flash.bin                      # state summary and events, oldest first
  mpboot log flash.bin --json               # the same for scripts
  mpboot log flash.bin --board esp32-4mb    # locate the partition from the board, not the table

FLASH.bin is a whole-flash image (flash address 0 at file offset 0), as `mpboot flash-image`
writes it or `esptool -p PORT read-flash 0 ALL flash.bin` reads it from a board.
"""


def register(subparsers):
    p = subparsers.add_parser(
        "log", help="show the device's boot-stage state and event log from a flash image",
        description="Show the security version floor, the bundles' floors, trusted metadata, pending "
        "install and the event log that the boot stage keeps in its state partition.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("flash", metavar="FLASH.bin", help="whole-flash image")
    p.add_argument("--board", metavar="BOARD", help="take the partition layout from this board definition")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=run)


def run(args):
    image = read_input(args.flash, "flash image")
    report = read_report(image, args.board, args.flash)
    print(json.dumps(report, indent=2) if args.json else format_text(report))


def find_partition(image, board=None, name="flash image"):
    """(offset, size) of the state partition, from `board` or from the image's table."""
    if board is not None:
        part = load_board(board).partition(STATE_PARTITION)
    else:
        table = image[pt.TABLE_OFFSET:pt.TABLE_OFFSET + pt.TABLE_MAX_LEN]
        if len(table) < pt.TABLE_MAX_LEN:
            raise MpbootError("%s is too short to hold a partition table at 0x%x: give a whole-flash image"
                              % (name, pt.TABLE_OFFSET))
        try:
            partitions = pt.from_binary(table)
        except pt.PartitionTableError as e:
            raise MpbootError("%s has no valid partition table at 0x%x (%s): pass --board BOARD"
                              % (name, pt.TABLE_OFFSET, e)) from None
        matches = [p for p in partitions if p.name == STATE_PARTITION]
        if not matches:
            raise MpbootError("%s has no %r partition (it has: %s): flash an mpboot image"
                              % (name, STATE_PARTITION, ", ".join(p.name for p in partitions)))
        part = matches[0]
    if part.offset + part.size > len(image):
        raise MpbootError("%s ends at 0x%x, before the %s partition ends (0x%x): give a whole-flash image"
                          % (name, len(image), STATE_PARTITION, part.offset + part.size))
    return part.offset, part.size


def read_report(image, board=None, name="flash image"):
    """Everything the state partition holds, as plain data (bytes as hex)."""
    offset, size = find_partition(image, board, name)
    try:
        st = statelog.load(BytesDevice(memoryview(image)[offset:offset + size]))
    except statelog.StateError as e:
        raise MpbootError("%s: %s partition at 0x%x holds no readable state (%s): it is written by "
                          "`mpboot flash-image`" % (name, STATE_PARTITION, offset, e)) from None
    pending = st.pending
    if pending is not None:
        pending["sha256"] = pending["sha256"].hex()
    root = st.root()
    return {
        "partition": {"label": STATE_PARTITION, "offset": offset, "size": size},
        "floor": st.floor,
        "bundle_floors": dict(st.bundle_floors()),
        "time_floor": st.time_floor,
        "boot_count": st.boot_count,
        "root": {"version": st.root_version, "length": len(root), "sha256": hashlib.sha256(root).hexdigest()},
        "metadata": {n: {"version": st.blob_version(n), "length": len(st.blob(n))}
                     for n in st.blob_names() if n != statelog.ROOT},
        "pending": pending,
        "log": st.wear(),
        "events": [event(b, c, r, d) for b, c, r, d in st.events()],
    }


def event(boot, code, reason, detail):
    """One event as plain data; a bundle event also gets its detail's words by name (`bundle`:
    name, version, copy as the code has them, and `more` for any words past those)."""
    e = {"boot": boot, "code": code, "reason": reason, "detail": detail}
    if code in BUNDLE_EVENTS:
        words = (detail or "").split()
        fields = ("name",) + BUNDLE_EVENTS[code]
        bundle = {f: (words[i] if i < len(words) else None) for i, f in enumerate(fields)}
        bundle["more"] = " ".join(words[len(fields):]) or None
        e["bundle"] = bundle
    return e


def describe_event(e):
    """The text after an event's code: a bundle event as "NAME VERSION, copy X: REASON"."""
    b = e.get("bundle")
    if b is None or b["name"] is None:
        return "%s%s" % (e["reason"], "  [%s]" % e["detail"] if e["detail"] else "")
    text = b["name"]
    if b.get("version"):
        text += " " + b["version"]
    if b.get("copy"):
        text += ", copy " + b["copy"]
    if b["more"]:
        text += " " + b["more"]
    return text + (": " + e["reason"] if e["reason"] else "")


def format_text(report):
    part = report["partition"]
    log = report["log"]
    lines = [
        "state partition %s at 0x%x (%d KiB)" % (part["label"], part["offset"], part["size"] // 1024),
        "  security version floor  %d" % report["floor"],
    ]
    floors = ["%s %d" % item for item in report["bundle_floors"].items()] or ["none"]
    lines.append("  bundle floors           " + floors[0])
    lines += ["                          " + f for f in floors[1:]]
    lines += [
        "  trusted time floor      %s" % describe_time(report["time_floor"]),
        "  boot count              %d" % report["boot_count"],
        "  root metadata           version %d, %d bytes, sha256 %s" % (
            report["root"]["version"], report["root"]["length"], report["root"]["sha256"][:16]),
    ]
    for name, blob in sorted(report["metadata"].items()):
        lines.append("  %-23s version %d, %d bytes" % (name, blob["version"], blob["length"]))
    p = report["pending"]
    lines.append("  pending install         " + (
        "none" if p is None else "%s %s (security version %d, sha256 %s, installed at boot %d)"
        % (p["slot"], p["version"], p["secver"], p["sha256"][:16], p["boot"])))
    lines.append("  log                     generation %d, %d of %d sectors live%s" % (
        log["generation"], log["live_sectors"], log["sectors"],
        ", a write was cut off (the next change repairs it)" if log["needs_compaction"] else ""))
    events = report["events"]
    lines.append("events (%d, oldest first; the last %d are kept):" % (len(events), statelog.EVENT_RING))
    for e in events:
        lines.append(("  boot %-5d %-19s %s" % (e["boot"], e["code"], describe_event(e))).rstrip())
    if not events:
        lines.append("  (none)")
    return "\n".join(lines)
